"""Bit-pattern conversions between the float dtypes, in integer operations.

XLA on the CPU runs with subnormals flushed (FTZ/DAZ): ``x.astype(f32)`` of
a float64 subnormal-in-float32 gives 0, and so does a float32 product below
2**-126.  The casts therefore never let a value pass through float
arithmetic: inputs are widened and results narrowed here, exactly, on their
bits.  Only exact conversions are done (widening, and narrowing of values
the target holds).

Example:
    >>> import numpy as np, jax.numpy as jnp
    >>> from floatsim_jax.bits import to_bits32, from_bits32
    >>> h = jnp.asarray(np.float16([2**-24, -1.5]))
    >>> np.asarray(from_bits32(to_bits32(h), np.float16)).tolist()
    [5.960464477539063e-08, -1.5]
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import lax

from .general import FLOAT_LAYOUT, compose_bits

__all__ = ["FLOATS", "float_kind", "uint_of", "split_bits", "to_bits32", "to_bits64",
           "from_bits32", "daz_bits", "materialize"]

#: The float dtypes the casts take and write.
FLOATS = tuple(FLOAT_LAYOUT)


def float_kind(dtype: Any) -> np.dtype | None:
    """``dtype`` as one of FLOATS, or None."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        return None
    return dt if dt in FLOAT_LAYOUT else None


def uint_of(dtype: Any) -> Any:
    """The unsigned integer dtype of ``dtype``'s width."""
    return {8: jnp.uint64, 4: jnp.uint32, 2: jnp.uint16}[np.dtype(dtype).itemsize]


def split_bits(b: Any, dtype: Any) -> tuple[Any, Any, Any, Any, Any]:
    """(nan, inf, neg, sig, ex) of float bits ``b`` of ``dtype``: the value
    is (-1)**neg * sig * 2**ex (sig in ``b``'s width, widened to 32 bits)."""
    E, M = FLOAT_LAYOUT[np.dtype(dtype)]
    width = np.dtype(dtype).itemsize * 8
    it = jnp.uint64 if width == 64 else jnp.uint32
    ei = jnp.int64 if width == 64 else jnp.int32
    b = b.astype(it)
    neg = (b >> (width - 1)) != 0
    e = ((b >> M) & ((1 << E) - 1)).astype(ei)
    m = b & ((1 << M) - 1)
    bias = (1 << (E - 1)) - 1
    top = e == (1 << E) - 1
    sig = jnp.where(e > 0, m | (1 << M), m)
    ex = jnp.maximum(e, 1) - bias - M
    return top & (m != 0), top & (m == 0), neg, sig, ex


def to_bits32(x: Any) -> Any:
    """float32 bits (uint32) of a float32, float16 or bfloat16 array (exact)."""
    dt = np.dtype(x.dtype)
    if dt == np.float32:
        return lax.bitcast_convert_type(x, jnp.uint32)
    raw = lax.bitcast_convert_type(x, jnp.uint16).astype(jnp.uint32)
    if dt == jnp.bfloat16:
        return raw << np.uint32(16)
    nan, inf, neg, sig, ex = split_bits(raw, np.float16)
    return compose_bits(nan, inf, neg, sig, ex, np.float32)


def to_bits64(x: Any) -> Any:
    """float64 bits (int64) of any float array (exact; needs x64)."""
    dt = np.dtype(x.dtype)
    if dt == np.float64:
        return lax.bitcast_convert_type(x, jnp.int64)
    raw = lax.bitcast_convert_type(x, uint_of(dt))
    nan, inf, neg, sig, ex = split_bits(raw, dt)
    b = compose_bits(nan, inf, neg, sig.astype(jnp.uint64), ex.astype(jnp.int64), np.float64)
    return lax.bitcast_convert_type(b, jnp.int64)


def from_bits32(r: Any, dtype: Any) -> Any:
    """The float ``dtype`` array of float32 bits ``r`` whose values ``dtype``
    holds exactly (NaN stays NaN)."""
    dt = np.dtype(dtype)
    if dt == np.float32:
        return lax.bitcast_convert_type(r, jnp.float32)
    if dt == jnp.bfloat16:
        return lax.bitcast_convert_type((r >> np.uint32(16)).astype(jnp.uint16), jnp.bfloat16)
    nan, inf, neg, sig, ex = split_bits(r, np.float32)
    if dt == np.float64:
        sig, ex = sig.astype(jnp.uint64), ex.astype(jnp.int64)
    return lax.bitcast_convert_type(compose_bits(nan, inf, neg, sig, ex, dt), dt)


def daz_bits(b: Any, dtype: Any) -> Any:
    """Bits ``b`` of ``dtype`` with its subnormals replaced by zeros of their
    sign (denormals-are-zero on the input's own dtype, docs/semantics.md rule 2)."""
    E, M = FLOAT_LAYOUT[np.dtype(dtype)]
    width = np.dtype(dtype).itemsize * 8
    one = b.dtype.type(1)
    exp_zero = (b & (((one << E) - one) << M)) == 0
    return jnp.where(exp_zero, b & (one << (width - 1)), b)


def materialize(tree: Any, witness: Any) -> Any:
    """``tree`` (per-block values) kept in memory before element-wise use.

    XLA fuses cheap producers through broadcasts into their consumers, so a
    block's scale computation (a few hundred operations for value scales)
    would run once per element instead of once per block.  The result of a
    conditional is a fusion boundary; the predicate, ``witness >= 0`` for a
    nonnegative integer array, is data that XLA cannot fold (its
    optimization_barrier is removed before fusion on the CPU).
    """
    return lax.cond(jnp.all(witness >= 0), lambda t: t,
                    lambda t: __import__("jax").tree_util.tree_map(jnp.zeros_like, t), tree)
