"""floatsim_jax: floatsim's casts for jax arrays, inside jit, vmap, grad
and sharding, bit-exact with the core (docs/jax.md).

The casts are the core's algorithms written in ``lax`` integer operations
(XLA fuses them into the surrounding computation; no host callback), with
the constants the core's kernels read.

Example:
    >>> import jax.numpy as jnp, floatsim_jax as fj
    >>> fj.quantize(jnp.array([0.3, 460.0]), "e4m3").tolist()
    [0.3125, 448.0]
"""

from __future__ import annotations

try:
    import jax  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without jax
    raise ImportError("floatsim_jax needs jax: pip install 'floatsim[jax]'") from exc

from . import blocks
from .cast import code_dtype, decode, encode, quantize, seed_words
from .packing import pack, unpack

try:  # the Optax wrapper, where optax is installed
    from . import optax
except ImportError:  # pragma: no cover
    optax = None  # type: ignore[assignment]

#: submodules imported on first use (``fj.flax`` needs flax, whose import is slow)
_LAZY = ("flax", "mac", "noise", "ste")


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'floatsim_jax' has no attribute {name!r}")


__all__ = ["blocks", "code_dtype", "decode", "encode", "optax", "pack", "quantize", "seed_words",
           "unpack"]
