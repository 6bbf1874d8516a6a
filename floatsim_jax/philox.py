"""Philox-4x32-10 in ``lax`` unsigned-integer ops: the same words as
:mod:`floatsim.kernels.philox` for the same (seed, element index, stream).

The 32x32 -> 64-bit products of a Philox round are one uint64 multiply when
``jax_enable_x64`` is on, else four 16-bit partial products (XLA has no
32-bit multiply-high).  Which word an element takes is docs/semantics.md's
rule ("Random bits"); tests check it against numpy's words.

Example:
    >>> import numpy as np
    >>> from floatsim_jax.philox import philox4x32
    >>> z = np.uint32(0)
    >>> [hex(int(w)) for w in philox4x32(z, z, z, z, z, z)]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["philox4x32", "words32", "words64"]

_M0, _M1 = np.uint32(0xD2511F53), np.uint32(0xCD9E8D57)
_W0, _W1 = np.uint32(0x9E3779B9), np.uint32(0xBB67AE85)
_LO16 = np.uint32(0xFFFF)


def _mulhilo(a: Any, m: np.uint32) -> tuple[Any, Any]:
    """(high, low) 32-bit halves of the 64-bit product a * m (uint32 in and out)."""
    if jax.config.jax_enable_x64:
        p = a.astype(jnp.uint64) * np.uint64(m)
        return (p >> np.uint64(32)).astype(jnp.uint32), p.astype(jnp.uint32)
    a_lo, a_hi = a & _LO16, a >> np.uint32(16)
    m_lo, m_hi = np.uint32(int(m) & 0xFFFF), np.uint32(int(m) >> 16)
    ll, lh, hl, hh = a_lo * m_lo, a_lo * m_hi, a_hi * m_lo, a_hi * m_hi
    mid = (ll >> np.uint32(16)) + (lh & _LO16) + (hl & _LO16)
    hi = hh + (lh >> np.uint32(16)) + (hl >> np.uint32(16)) + (mid >> np.uint32(16))
    return hi, a * m


def _round(_: Any, c: tuple) -> tuple:
    x0, x1, x2, x3, y0, y1 = c
    h0, l0 = _mulhilo(x0, _M0)
    h1, l1 = _mulhilo(x2, _M1)
    return h1 ^ x1 ^ y0, l1, h0 ^ x3 ^ y1, l0, y0 + _W0, y1 + _W1


def philox4x32(c0: Any, c1: Any, c2: Any, c3: Any, k0: Any, k1: Any) -> tuple[Any, Any, Any, Any]:
    """Ten Philox rounds on the counter (c0..c3) and key (k0, k1), uint32 arrays
    (broadcast against each other).

    The rounds run as a loop of one round per step, so that XLA keeps each
    round's four words in memory: traced as one expression, its fusions
    recomputed the earlier rounds once per use, exponentially (1.5 Melem/s
    for the words of 2**20 elements on the CPU, against about 100 as a loop).
    """
    xs = jnp.broadcast_arrays(*(jnp.asarray(c, jnp.uint32) for c in (c0, c1, c2, c3)))
    ys = jnp.broadcast_arrays(jnp.asarray(k0, jnp.uint32), jnp.asarray(k1, jnp.uint32))
    out = lax.fori_loop(0, 10, _round, (*xs, *ys))
    return out[0], out[1], out[2], out[3]


def words32(n: int, seed_lo: Any, seed_hi: Any, stream: Any) -> Any:
    """The 32-bit words of elements 0..n-1 (uint32, shape (n,)): word i % 4 of
    the block of counter i // 4 (one Philox call per four elements)."""
    groups = -(-n // 4)
    j = jnp.arange(groups, dtype=jnp.uint32)
    z = jnp.zeros((), jnp.uint32)
    w = philox4x32(j, z, stream, z, seed_lo, seed_hi)
    return jnp.stack(w, axis=-1).reshape(-1)[:n]


def words64(n: int, seed_lo: Any, seed_hi: Any, stream: Any) -> tuple[Any, Any]:
    """(hi, lo) halves of the 64-bit words of elements 0..n-1 (exact SR of
    float64 input): words 1, 0 (even i) or 3, 2 (odd i) of counter
    (i // 2, 0, stream, 1)."""
    pairs = -(-n // 2)
    j = jnp.arange(pairs, dtype=jnp.uint32)
    z = jnp.zeros((), jnp.uint32)
    w0, w1, w2, w3 = philox4x32(j, z, stream, jnp.ones((), jnp.uint32), seed_lo, seed_hi)
    hi = jnp.stack([w1, w3], axis=-1).reshape(-1)[:n]
    lo = jnp.stack([w0, w2], axis=-1).reshape(-1)[:n]
    return hi, lo
