"""floatsim_jax: the JAX adapter of floatsim (a skeleton for now).

Later issues fill it with ``quantize`` / ``encode`` / ``decode`` / ``blocks``
for jax arrays (jit/vmap/grad-safe ops, custom_vjp, Flax and Optax helpers).
Importing this package never imports jax; using any name from it does, and
without jax it raises an ImportError that says how to install it.
"""

from __future__ import annotations

__all__: list[str] = []

_INSTALL_HINT = "floatsim_jax needs jax: pip install 'floatsim[jax]'"


def __getattr__(name: str) -> object:
    if name.startswith("__"):  # keep introspection (copy, pickle, pytest) working
        raise AttributeError(name)
    try:
        import jax  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"{_INSTALL_HINT} (needed for floatsim_jax.{name})") from exc
    raise AttributeError(
        f"floatsim_jax.{name} does not exist yet: the JAX adapter is filled by a later issue"
    )
