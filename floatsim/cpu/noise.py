"""The parallel CPU loop of pseudo-quantization noise: the scalar routine of
:mod:`floatsim.kernels.noise` over segments of a flat array.

A call covers one or more *segments* (``starts[s] .. starts[s+1]``), each with
its own scale exponent (given, or from its amax by the RCEIL rule): one
segment for an array, one per parameter for a model's flat weight buffer.
Segment starts are multiples of 4, so every group of four elements shares one
Philox call per word kind.  ``offset`` (a multiple of 4) is the flat index of
element 0 in the Philox counter.

Inputs are float32 bits (uint32: bfloat16 and float16 are widened to float32
first) or float64; outputs are float32 bits (uint32), which the front door
narrows to the output dtype (exact: they are values of the storage format).
Two compiled specialisations in all.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload

from ..kernels.abi import RNE
from ..kernels.blocksteps import pow2
from ..kernels.intrinsics import f32_from_bits, f64_bits
from ..kernels.noise import (
    C3_ANNEAL,
    C3_NOISE,
    Q_EMAX,
    Q_EMIN,
    Q_G,
    Q_KIND,
    Q_KMAX,
    Q_KMIN,
    Q_MAXFRAC,
    Q_MBITS,
    Q_SUB,
    anneal_count,
    element_bits,
    group_draws,
    group_words,
    level,
    step_exponent,
    tensor_exponent,
)

__all__ = ["draw_flat", "in_value", "lane", "noise_any", "noise_rne", "spacing_flat"]


def in_value(raw):  # noqa: ANN001, ANN201 - typed by the overload below
    """The float64 value of an input element: float32 bits (uint32) or a float64."""


@overload(in_value)
def _in_value_impl(raw):  # noqa: ANN001, ANN202
    if isinstance(raw, types.Integer):
        return lambda raw: np.float64(f32_from_bits(np.uint32(raw)))
    return lambda raw: np.float64(raw)


@numba.njit(cache=True, nogil=True, inline="always")
def lane(lo, hi, t):  # noqa: ANN001, ANN201
    """Word ``t`` (0..3) of a Philox result held as two 64-bit pairs (by shifts:
    one inlined copy of the element's code serves the four lanes)."""
    pair = hi if t >= 2 else lo
    return (pair >> ((t & 1) << 5)) & 0xFFFFFFFF


@numba.njit(cache=True, nogil=True, inline="always")
def _segments(xr, outr, starts, seg_amax, seg_k, from_amax, q, tab, athr, c, rnd, draw_sr,  # noqa: ANN001, ANN201, PLR0913
              seed_lo, seed_hi, stream, offset):
    nseg = starts.size - 1
    ks = np.empty(nseg, np.int64)
    for s in range(nseg):
        if from_amax:
            ks[s] = tensor_exponent(seg_amax[s], q[Q_EMAX], q[Q_MAXFRAC], q[Q_KMIN], q[Q_KMAX])
        else:
            ks[s] = seg_k[s]
    annealed = athr.size > 0
    kind, g = q[Q_KIND], q[Q_G]
    for s in range(nseg):
        k = ks[s]
        lo, hi = starts[s], starts[s + 1]
        for gi in numba.prange((hi - lo + 3) // 4):
            i0 = lo + 4 * gi
            gidx = (i0 + offset) >> 2
            nlo, nhi, alo, ahi, rlo, rhi = group_draws(seed_lo, seed_hi, gidx, stream, annealed,
                                                       draw_sr)
            for t in range(min(4, hi - i0)):
                n = level(lane(nlo, nhi, t), kind, g, tab)
                j = anneal_count(lane(alo, ahi, t), athr) if annealed else 0
                outr[i0 + t] = element_bits(in_value(xr[i0 + t]), n, j, lane(rlo, rhi, t), k, q,
                                            c, rnd)
    return ks


# Two kernels: nearest-even storage casts (the default) with the mode a
# constant, so that only its rule is compiled in (half the compile time of
# the other); and every mode, the rounding code a runtime argument.
@numba.njit(parallel=True, cache=True, nogil=True)
def noise_rne(xr, outr, starts, seg_amax, seg_k, from_amax, q, tab, athr, c,  # noqa: ANN001, ANN201
              seed_lo, seed_hi, stream, offset):
    """outr[i] = float32 bits of the pseudo-quantized xr[i] (float32 bits as
    uint32, or float64), segment by segment, the storage cast nearest-even;
    ``seg_amax`` holds each segment's amax as float64 bits (int64), read when
    ``from_amax``, else ``seg_k`` its exponent; returns each segment's scale
    exponent (int64 array)."""
    return _segments(xr, outr, starts, seg_amax, seg_k, from_amax, q, tab, athr, c, RNE, False,
                     seed_lo, seed_hi, stream, offset)


@numba.njit(parallel=True, cache=True, nogil=True)
def noise_any(xr, outr, starts, seg_amax, seg_k, from_amax, q, tab, athr, c, rnd, draw_sr,  # noqa: ANN001, ANN201, PLR0913
              seed_lo, seed_hi, stream, offset):
    """:func:`noise_rne` with the storage cast in mode ``rnd`` (``draw_sr``: SR words)."""
    return _segments(xr, outr, starts, seg_amax, seg_k, from_amax, q, tab, athr, c, rnd, draw_sr,
                     seed_lo, seed_hi, stream, offset)


@numba.njit(cache=True, nogil=True)
def spacing_flat(x, k, q, out):  # noqa: ANN001, ANN201
    """out[i] = the target's spacing at x[i] (float64), the target scaled by 2**k."""
    for i in range(x.size):
        ew = ((f64_bits(x[i]) & 0x7FFFFFFFFFFFFFFF) >> 52) - 1023
        out[i] = pow2(step_exponent(ew, k, q[Q_EMIN], q[Q_EMAX], q[Q_MBITS], q[Q_SUB]))


@numba.njit(cache=True, nogil=True)
def draw_flat(out, kind, g, f, tab, athr, seed_lo, seed_hi, stream, offset):  # noqa: ANN001, ANN201
    """out[i] = the noise value of element offset + i, z * 2**-j (units of the spacing)."""
    for i in range(out.size):
        gidx = (i + offset) >> 2
        t = (i + offset) & 3
        w0, w1, w2, w3 = group_words(seed_lo, seed_hi, gidx, stream, C3_NOISE)
        u = lane((w1 << 32) | w0, (w3 << 32) | w2, t)
        j = 0
        if athr.size > 0:
            w0, w1, w2, w3 = group_words(seed_lo, seed_hi, gidx, stream, C3_ANNEAL)
            j = anneal_count(lane((w1 << 32) | w0, (w3 << 32) | w2, t), athr)
        out[i] = np.float64(level(u, kind, g, tab)) * pow2(-f - j)
