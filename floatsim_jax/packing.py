"""pack / unpack of sub-byte codes for jax arrays, in the core's bit order
(``floatsim.pack``: code i occupies bits [b*i, b*i + b) of the byte stream
read as one little-endian integer).

Example:
    >>> import jax.numpy as jnp, floatsim_jax as fj
    >>> fj.pack(jnp.array([1, 2, 3], jnp.uint8), "e2m1").tolist()
    [33, 3]
    >>> fj.unpack(fj.pack(jnp.array([1, 2, 3], jnp.uint8), "e2m1"), "e2m1", 3).tolist()
    [1, 2, 3]
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

import floatsim as fs

__all__ = ["pack", "unpack"]


def _width(fmt: Any) -> int:
    if isinstance(fmt, (int, np.integer)) and not isinstance(fmt, bool):
        bits = int(fmt)
    else:
        bits = fs.format(fmt).bits
    if not 1 <= bits <= 8:
        raise ValueError(f"pack/unpack store codes of 1..8 bits; {fmt} has {bits} bits")
    return bits


def pack(codes: Any, fmt: Any) -> Any:
    """Pack the codes (flattened in C order) into ``fs.packed_size`` uint8 bytes,
    padding bits zero.  Codes are cut to their low ``bits`` bits (a jitted
    function cannot check them; the core raises)."""
    b = _width(fmt)
    c = jnp.asarray(codes)
    if not jnp.issubdtype(c.dtype, jnp.unsignedinteger):
        raise TypeError(f"codes has dtype {c.dtype}; pack needs unsigned integer codes")
    flat = c.reshape(-1).astype(jnp.uint8)
    if b == 8:
        return flat
    n = flat.size
    nbytes = -(-n * b // 8)
    bits = (flat[:, None] >> jnp.arange(b, dtype=jnp.uint8)) & jnp.uint8(1)
    bits = jnp.pad(bits.reshape(-1), (0, nbytes * 8 - n * b)).reshape(nbytes, 8)
    return jnp.sum(bits << jnp.arange(8, dtype=jnp.uint8), axis=1, dtype=jnp.uint8)


def unpack(packed: Any, fmt: Any, count: int) -> Any:
    """``count`` codes (uint8) from bytes written by :func:`pack`."""
    b = _width(fmt)
    p = jnp.asarray(packed)
    if p.dtype != jnp.uint8:
        raise TypeError(f"packed has dtype {p.dtype}; unpack reads uint8 bytes")
    if not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"count={count!r} must be a non-negative int")
    need = -(-int(count) * b // 8)
    if p.size < need:
        raise ValueError(f"{count} codes of {b} bits need {need} bytes; got {p.size}")
    flat = p.reshape(-1)[:need]
    if b == 8:
        return flat[:count]
    bits = ((flat[:, None] >> jnp.arange(8, dtype=jnp.uint8)) & jnp.uint8(1)).reshape(-1)
    bits = bits[: count * b].reshape(count, b)
    return jnp.sum(bits << jnp.arange(b, dtype=jnp.uint8), axis=1, dtype=jnp.uint8)
