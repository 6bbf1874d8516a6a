"""``matmul`` for jax arrays with an emulated accumulator (floatsim.mac).

``matmul(a, b, accumulator=...)`` computes ``a @ b`` with every output
element as the unit ``accumulator`` computes it, bit for bit with
:func:`floatsim.mac.matmul`, **by a host callback** (``jax.pure_callback``)
into the CPU GEMM: it works under ``jit``, ``vmap`` (sequentially) and
``grad``, on any backend, but the operands travel to the host and back, and
XLA cannot fuse or shard through it.  A device-side version is future work.

Operands hold values of the operand formats (float32, float16 or bfloat16
arrays); ``a`` may be batched (..., M, K), ``b`` is (K, N); the result is
float32.  **Gradients are computed in FP32** (``jnp.matmul`` of the float32
operands), or by the model with ``grad_accumulator``.

Example:
    >>> import jax.numpy as jnp
    >>> from floatsim_jax.mac import matmul
    >>> a = jnp.array([[1.0, 2.0**-9, 2.0**-9]]); b = jnp.ones((3, 1))
    >>> float(matmul(a, b, "bf16")[0, 0]), float(matmul(a, b, "fp32")[0, 0])
    (1.0, 1.00390625)
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import floatsim.mac as fmac
from floatsim.mac.spec import AccumulatorSpec

__all__ = ["matmul"]


def _host_mm(spec: AccumulatorSpec, a: Any, b: Any) -> np.ndarray:
    return fmac.matmul(np.asarray(a, np.float32), np.asarray(b, np.float32), spec)


def _mm(spec: AccumulatorSpec, a: jax.Array, b: jax.Array) -> jax.Array:
    out = jax.ShapeDtypeStruct((a.shape[0], b.shape[1]), jnp.float32)
    return jax.pure_callback(partial(_host_mm, spec), out, a.astype(jnp.float32),
                             b.astype(jnp.float32), vmap_method="sequential")


@partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _matmul2d(spec: AccumulatorSpec, grad_spec: AccumulatorSpec | None, a: jax.Array,
              b: jax.Array) -> jax.Array:
    return _mm(spec, a, b)


def _fwd(spec: AccumulatorSpec, grad_spec: AccumulatorSpec | None, a: jax.Array,
         b: jax.Array) -> tuple:
    return _mm(spec, a, b), (a, b)


def _bwd(spec: AccumulatorSpec, grad_spec: AccumulatorSpec | None, res: tuple, g: jax.Array) -> tuple:
    a, b = res
    a32, b32, g32 = a.astype(jnp.float32), b.astype(jnp.float32), g.astype(jnp.float32)
    if grad_spec is None:
        ga, gb = g32 @ b32.T, a32.T @ g32
    else:
        ga, gb = _mm(grad_spec, g32, b32.T), _mm(grad_spec, a32.T, g32)
    return ga.astype(a.dtype), gb.astype(b.dtype)


_matmul2d.defvjp(_fwd, _bwd)


def matmul(a: jax.Array, b: jax.Array, accumulator: AccumulatorSpec | str = "fp32", *,
           grad_accumulator: AccumulatorSpec | str | None = None) -> jax.Array:
    """``a @ b`` with the accumulator ``accumulator`` (see the module
    docstring): ``a`` (..., M, K), ``b`` (K, N); float32 (..., M, N).

    Example:
        >>> import jax.numpy as jnp
        >>> matmul(jnp.ones((2, 3, 4)), jnp.ones((4, 5)), "hopper_fp8").shape
        (2, 3, 5)
    """
    a, b = jnp.asarray(a), jnp.asarray(b)
    for name, x in (("a", a), ("b", b)):
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(f"{name} has dtype {x.dtype}; matmul takes float arrays")
    if b.ndim != 2 or a.ndim < 1 or a.shape[-1] != b.shape[0]:
        raise ValueError(f"matmul needs a of shape (..., M, K) and b of shape (K, N); got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    spec = fmac.spec(accumulator)
    grad_spec = None if grad_accumulator is None else fmac.spec(grad_accumulator)
    y = _matmul2d(spec, grad_spec, a.reshape(-1, a.shape[-1]), b)
    return y.reshape(*a.shape[:-1], b.shape[1])
