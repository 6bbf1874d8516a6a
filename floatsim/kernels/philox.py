"""Philox-4x32-10 counter-based random numbers (Salmon et al., SC'11).

One source for every backend: these functions are plain integer arithmetic,
compiled by ``numba.njit`` for the CPU and by ``numba.cuda.jit(device=True)``
for the GPU (see :mod:`floatsim.gpu.elementwise`).  The mapping from (seed,
element index, stream) to words is documented in docs/semantics.md.

Example:
    >>> from floatsim.kernels.philox import philox4x32
    >>> [hex(w) for w in philox4x32(0, 0, 0, 0, 0, 0)]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
"""

from __future__ import annotations

import numpy as np

from .intrinsics import mul_wide_u32, scalar_jit

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_LO = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


@scalar_jit
def philox4x32(c0, c1, c2, c3, k0, k1):  # noqa: ANN001, ANN201 - numba scalars
    """Ten Philox rounds on a 128-bit counter and 64-bit key (uint32 words)."""
    x0 = np.uint64(c0) & _LO
    x1 = np.uint64(c1) & _LO
    x2 = np.uint64(c2) & _LO
    x3 = np.uint64(c3) & _LO
    y0 = np.uint64(k0) & _LO
    y1 = np.uint64(k1) & _LO
    for _ in range(10):
        p0 = mul_wide_u32(_M0, x0)
        p1 = mul_wide_u32(_M1, x2)
        x0, x1, x2, x3 = ((p1 >> _S32) ^ x1 ^ y0) & _LO, p1 & _LO, ((p0 >> _S32) ^ x3 ^ y1) & _LO, p0 & _LO
        y0 = (y0 + _W0) & _LO
        y1 = (y1 + _W1) & _LO
    return np.int64(x0), np.int64(x1), np.int64(x2), np.int64(x3)


@scalar_jit
def random_word32(seed_lo, seed_hi, index, stream):  # noqa: ANN001, ANN201
    """The 32-bit random word of element ``index`` (W = 32; docs/semantics.md).

    Branch-free (the lane is picked by shifts, not a switch) so that loops
    calling it vectorise.
    """
    j = index >> 2
    w0, w1, w2, w3 = philox4x32(j & 0xFFFFFFFF, j >> 32, stream, 0, seed_lo, seed_hi)
    lane = index & 3
    pair = (w3 << 32) | w2 if lane >= 2 else (w1 << 32) | w0
    return (pair >> ((lane & 1) << 5)) & 0xFFFFFFFF


@scalar_jit
def random_words(seed_lo, seed_hi, index, stream, wide):  # noqa: ANN001, ANN201
    """The (hi, lo) random words of element ``index``: 32-bit in lo (wide=0),
    or a 64-bit word split in two (wide=1)."""
    if wide == 0:
        return np.int64(0), random_word32(seed_lo, seed_hi, index, stream)
    j = index >> 1
    w0, w1, w2, w3 = philox4x32(j & 0xFFFFFFFF, j >> 32, stream, 1, seed_lo, seed_hi)
    if index & 1:
        return w3, w2
    return w1, w0


@scalar_jit
def group_words(seed_lo, seed_hi, group, stream, wide):  # noqa: ANN001, ANN201
    """``random_words`` of the four elements ``4*group .. 4*group+3`` at once,
    as (hi0, lo0, hi1, lo1, hi2, lo2, hi3, lo3): one Philox call for 32-bit
    words, two for 64-bit ones.  The CUDA kernels use it (one thread per group
    of four); tests check it against ``random_words``.

    Example:
        >>> from floatsim.kernels.philox import group_words, random_words
        >>> w = group_words(7, 0, 5, 0, 0)
        >>> [w[2 * k + 1] for k in range(4)] == [random_words(7, 0, 20 + k, 0, 0)[1] for k in range(4)]
        True
    """
    if wide == 0:
        w0, w1, w2, w3 = philox4x32(group & 0xFFFFFFFF, group >> 32, stream, 0, seed_lo, seed_hi)
        z = np.int64(0)
        return z, w0, z, w1, z, w2, z, w3
    j = group << 1
    a0, a1, a2, a3 = philox4x32(j & 0xFFFFFFFF, j >> 32, stream, 1, seed_lo, seed_hi)
    j += 1
    b0, b1, b2, b3 = philox4x32(j & 0xFFFFFFFF, j >> 32, stream, 1, seed_lo, seed_hi)
    return a1, a0, a3, a2, b1, b0, b3, b2
