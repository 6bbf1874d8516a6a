"""``floatsim_jax.noise.pseudo_quantize``: pseudo-quantization noise for jax arrays.

The core's :func:`floatsim.noise.pseudo_quantize` (docs/pqt.md), **by a host
callback** (``jax.pure_callback``) into its Numba CPU loop: bit for bit the
numpy result for the same seed and stream, under ``jit`` and ``grad``, on
any backend, but the array travels to the host and back (a device-side
version in ``lax`` bit operations is future work).  ``stream`` may be a
traced integer (a training step's counter under ``jit``: no recompile per
step).  Under ``vmap`` each slice is its own tensor (its own amax, element
indices from 0).  The gradient passes straight through to ``w``, in its dtype.

Example:
    >>> import jax.numpy as jnp, numpy as np, floatsim as fs
    >>> from floatsim_jax.noise import pseudo_quantize
    >>> w = jnp.linspace(-0.05, 0.05, 6)
    >>> y = pseudo_quantize(w, "e3m2", "r", seed=3, stream=1)
    >>> want = fs.noise.pseudo_quantize(np.asarray(w), "e3m2", "r", seed=3, stream=1)
    >>> bool(np.array_equal(np.asarray(y), want))
    True
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import floatsim as fs
from floatsim.noise import Noise, PQTConfig

__all__ = ["pseudo_quantize"]


def _host(cfg: PQTConfig, scale: Any, seed: int, odt: Any, w: Any, stream: Any) -> np.ndarray:
    return fs.noise.pseudo_quantize(np.asarray(w), cfg, seed=seed, stream=int(stream), scale=scale,
                                    out_dtype=odt)


def _call(cfg: PQTConfig, scale: Any, seed: int, odt: Any, w: jax.Array,
          stream: jax.Array) -> jax.Array:
    out = jax.ShapeDtypeStruct(w.shape, w.dtype if odt is None else odt)
    return jax.pure_callback(partial(_host, cfg, scale, seed, odt), out, w, stream,
                             vmap_method="sequential")


@partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2, 3))
def _noisy(cfg: PQTConfig, scale: Any, seed: int, odt: Any, w: jax.Array,
           stream: jax.Array) -> jax.Array:
    return _call(cfg, scale, seed, odt, w, stream)


def _fwd(cfg: PQTConfig, scale: Any, seed: int, odt: Any, w: jax.Array, stream: jax.Array) -> tuple:
    return _call(cfg, scale, seed, odt, w, stream), jnp.zeros((0,), w.dtype)


def _bwd(cfg: PQTConfig, scale: Any, seed: int, odt: Any, res: jax.Array, g: jax.Array) -> tuple:
    # straight through: d(w + noise)/dw = 1; the stream is an integer (no cotangent)
    return g.astype(res.dtype), None


_noisy.defvjp(_fwd, _bwd)


def pseudo_quantize(w: jax.Array, fmt: fs.Format | str | PQTConfig, noise: Noise | str = "gaussian",
                    *, seed: int = 0, stream: int | jax.Array = 0,
                    storage: fs.Format | str = "bfloat16",
                    rounding: fs.Rounding | str = "nearest_even",
                    scale: str | int | None = "tensor", clip: bool = True, anneal: float = 0.0,
                    out_dtype: Any = None) -> jax.Array:
    """``w`` plus noise shaped like ``fmt``'s rounding error, cast once to ``storage``.

    Arguments as :func:`floatsim.noise.pseudo_quantize` (``seed`` a Python
    int; ``stream`` an int or an integer array, traced or not); the result has
    w's shape and ``out_dtype`` (default w's).  The gradient passes straight
    through to ``w``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from floatsim_jax.noise import pseudo_quantize
        >>> w = jnp.full((4,), 0.3)
        >>> pseudo_quantize(w, "e4m3", "r", seed=0, scale="none").tolist()
        [0.302734375, 0.310546875, 0.3046875, 0.302734375]
        >>> jax.grad(lambda v: pseudo_quantize(v, "e4m3", seed=1).sum())(w).tolist()
        [1.0, 1.0, 1.0, 1.0]
    """
    if not isinstance(w, jax.Array) and not isinstance(w, np.ndarray):
        raise TypeError(f"w must be a jax array, got {type(w).__name__}")
    if not jnp.issubdtype(w.dtype, jnp.floating):
        raise TypeError(f"w has dtype {w.dtype}; pseudo_quantize takes float arrays")
    cfg, fixed = fs.noise.resolve(fmt, noise, storage, rounding, scale, clip, anneal)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 1 << 64:
        raise ValueError(f"seed={seed!r} must be an int in 0..2**64-1")
    if isinstance(stream, int) and not 0 <= stream < 1 << 32:
        raise ValueError(f"stream={stream!r} must be an int in 0..2**32-1")
    odt = None if out_dtype is None else np.dtype(out_dtype)
    st = jnp.asarray(stream, jnp.uint32)
    return _noisy(cfg, fixed if fixed is not None else cfg.scale, seed, odt, jnp.asarray(w), st)
