"""Parallel CPU loops of the block formats (microscaling): per-block amax and
scale fused with the element cast, parallel over blocks.

Each loop runs the per-block steps of :mod:`floatsim.kernels.blocksteps` (the
same routines the CUDA kernels run) over rows ``(R, n)`` of blocks of ``bs``
consecutive elements, gathered by :mod:`floatsim.blocks`.  ``block_cast`` is
the general kernel (every rule, element kind and mode, float64 values);
``mx_f32_*`` the float32 fast path for power-of-two scales, one kernel per
rounding mode; ``value_f32`` the float32 route for value scales (NVFP4).
"""

from __future__ import annotations

import numba
import numpy as np

from ..kernels.abi import (
    B_EMAX_E,
    B_FAST_EMIN,
    B_KIND,
    B_NANMAX,
    B_RULE,
    F_MAX_E,
    F_TSCALE,
    K_FLOAT,
    ODD,
    R_4OVER6,
    RDN,
    RNA,
    RNE,
    RTZ,
    RUP,
    SR,
    ST_OK,
    ST_SCALE_OVERFLOW,
)
from ..kernels.blocksteps import (
    NORMAL,
    amax_bits,
    amax_step,
    block_scale,
    cast_scaled_bits,
    dec,
    elem_out,
    elem_params,
    element_words,
    enc,
    exact_divisor,
    exact_signed_quotient_bits,
    exp_frac,
    f32_block_k,
    f32_value_bits,
    four_over_six_alt,
    shift_consts,
    shift_params,
    signed_quotient_bits,
    sq_err,
    value_scale_f32,
)
from ..kernels.fast32 import quantize_f32_bits
from ..kernels.intrinsics import f32_from_bits, f64_bits
from ..kernels.intrinsics import f64_from_bits as bits_f64
from ..kernels.philox import random_words
from ..kernels.scalar import as_tuple

__all__ = ["MX_F32_KERNELS", "block_cast", "value_f32"]

#: An ordinary compiled call (not inlined into every caller: see blocksteps).
_call = numba.njit(cache=True, nogil=True)


@numba.njit(parallel=True, cache=True, nogil=True)
def block_cast(x, vals, codes, scodes, zps, status, want_codes, bs, idx, use_idx,  # noqa: ANN001, ANN201, PLR0913
               epv, spv, bpv, fpv, amax_in, use_amax, rmode, seed_lo, seed_hi, stream, wide):
    """Quantize (want_codes == 0: values into ``vals``) or encode (codes, scale
    codes and zero points) every block of the rows of ``x`` (float32 or
    float64).  ``idx`` (when use_idx) holds each element's flat index in the
    caller's array, for the random words; otherwise it is row * n + column.
    """
    ep0 = as_tuple(epv)
    sp = as_tuple(spv)
    bp = (bpv[0], bpv[1], bpv[2], bpv[3], bpv[4], bpv[5], bpv[6], bpv[7], bpv[8], bpv[9],
          bpv[10], bpv[11], bpv[12], bpv[13])
    fp = (fpv[0], fpv[1], fpv[2], fpv[3], fpv[4])
    R, n = x.shape
    nb = (n + bs - 1) // bs
    rule = bp[B_RULE]
    kind = bp[B_KIND]
    tsc = fp[F_TSCALE]
    for blk in numba.prange(R * nb):
        r = blk // nb
        b = blk - r * nb
        j0 = b * bs
        j1 = min(j0 + bs, n)
        am = np.int64(0)
        has_nan = False
        hi = 0.0
        lo = 0.0
        for j in range(j0, j1):
            am, has_nan, hi, lo = amax_step(np.float64(x[r, j]), am, has_nan, hi, lo)
        a = bits_f64(am)
        if use_amax != 0:
            a = amax_in[r, b]
        sc, sv, st, zp = block_scale(a, has_nan, hi, lo, bp, fp, sp)
        if rule == R_4OVER6:
            sc4, sv4, st4, compare = four_over_six_alt(a, sv, bp, fp, sp)
            if compare:
                t6, div6, ep6 = elem_params(sv, tsc, ep0, kind)
                t4, div4, ep4 = elem_params(sv4, tsc, ep0, kind)
                err6 = 0.0
                err4 = 0.0
                for j in range(j0, j1):
                    ix = idx[r, j] if use_idx != 0 else r * n + j
                    r_hi, r_lo = element_words(rmode, seed_lo, seed_hi, ix, stream, wide)
                    u = f64_bits(np.float64(x[r, j]))
                    err6 += sq_err(u, ep6, div6, t6, r_hi, r_lo, bp)
                    err4 += sq_err(u, ep4, div4, t4, r_hi, r_lo, bp)
                if err4 < err6:
                    sc, sv, st = sc4, sv4, st4
        if st != ST_OK:
            status[r, b] = st
        if want_codes != 0:
            scodes[r, b] = sc
            zps[r, b] = zp
        t, div, ep = elem_params(sv, tsc, ep0, kind)
        scaled = sv == sv and sv != 0.0
        for j in range(j0, j1):
            r_hi = np.int64(0)
            r_lo = np.int64(0)
            if scaled:
                ix = idx[r, j] if use_idx != 0 else r * n + j
                r_hi, r_lo = element_words(rmode, seed_lo, seed_hi, ix, stream, wide)
            code, v = elem_out(f64_bits(np.float64(x[r, j])), sv, t, div, ep, ep0, zp, r_hi,
                               r_lo, bp, want_codes)
            if want_codes != 0:
                codes[r, j] = code
            else:
                vals[r, j] = v


# ---- the float32 fast path ------------------------------------------------------------------
@numba.njit(cache=True, nogil=True, inline="always")
def _f32_block_k(xs, bpv, fmax):  # noqa: ANN001, ANN201
    """f32_block_k of the float32 block ``xs`` (uint32 bits)."""
    m = np.uint32(0)
    keep_nan = bpv[B_NANMAX] == 0
    for j in range(xs.size):
        m = amax_bits(m, xs[j], keep_nan)
    return f32_block_k(m, bpv, fmax)


@_call
def _f32_block_general(xs, os, ep0, k, idx, use_idx, r, n, j0, rmode, seed_lo, seed_hi, stream):  # noqa: ANN001, ANN201, PLR0913
    """A block whose shifted format leaves float32's normal range: the float64
    routine, the same random words."""
    ep = shift_params(ep0, k)
    for j in range(xs.size):
        ix = idx[r, j0 + j] if use_idx != 0 else r * n + j0 + j
        r_hi, r_lo = element_words(rmode, seed_lo, seed_hi, ix, stream, 0)
        u = f64_bits(np.float64(np.uint32(xs[j]).view(np.float32)))
        os[j] = np.float32(dec(enc(u, ep, r_hi, r_lo), ep)).view(np.uint32)


@numba.njit(cache=True, nogil=True, inline="always")
def _f32_blocks(xu, ou, bs, c, rnd, epv, bpv, fpv, status, idx, use_idx,  # noqa: ANN001, ANN201
                rmode, seed_lo, seed_hi, stream):
    """Fake-quantize float32 rows (uint32 views) with a power-of-two scale rule
    (FLOOR, CEIL, EVEN, NEAREST, or RCEIL with a power-of-two-only scale type),
    float element formats, no tensor scale.  ``c`` are the element's fast-path
    constants; ``rnd`` is a constant in each of the kernels below (the
    deterministic ones never draw random words).

    Blocks whose shifted format leaves float32's normal range (tiny or huge
    amax) take the general float64 routine, with the same random words.
    """
    ep0 = as_tuple(epv)
    fast_emin = bpv[B_FAST_EMIN]
    fast_kmax = 127 - bpv[B_EMAX_E]
    fmax = exp_frac(f64_bits(fpv[F_MAX_E]))[1]
    R, n = xu.shape
    nb = (n + bs - 1) // bs
    for blk in numba.prange(R * nb):
        r = blk // nb
        b = blk - r * nb
        j0 = b * bs
        # 1-D views of the block: loops from 0 over a slice vectorise, loops
        # over a 2-D row from j0 do not (2.5x slower, measured).
        xs = xu[r, j0:min(j0 + bs, n)]
        os = ou[r, j0:min(j0 + bs, n)]
        k, state = _f32_block_k(xs, bpv, fmax)
        if state == 1:
            os[:] = np.uint32(0x7FC00000)
            continue
        if state == 2:
            status[r, b] = ST_SCALE_OVERFLOW
        if k < fast_emin or k > fast_kmax:
            _f32_block_general(xs, os, ep0, k, idx, use_idx, r, n, j0, rmode, seed_lo, seed_hi,
                               stream)
            continue
        ck = shift_consts(c, k)
        if rnd == SR:
            for j in range(xs.size):
                ix = idx[r, j0 + j] if use_idx != 0 else r * n + j0 + j
                _hi, r_lo = random_words(seed_lo, seed_hi, ix, stream, 0)
                os[j] = quantize_f32_bits(xs[j], ck, SR, r_lo)
        else:
            for j in range(xs.size):
                os[j] = quantize_f32_bits(xs[j], ck, rnd, 0)


@numba.njit(parallel=True, cache=True, nogil=True)
def value_f32(xu, ou, bs, c, cs, scale32, rnd, epv, spv, bpv, fpv):  # noqa: ANN001, ANN201
    """Fake-quantize float32 rows (uint32 views) with a value scale (AMAX, or
    RCEIL into a scale type with a significand: NVFP4), a float element that
    fits_div32, in any mode but SR (``rnd``, at run time: one compile serves
    them all) and a scale overflow policy other than 'raise'.

    Per block: the scale by :func:`value_scale_f32` (``cs``: the scale's
    fast-path constants, when ``scale32``), each element by
    :func:`div_f32_value_bits` (``c``: the element's); zero and NaN scales,
    and scales whose product with the tensor scale leaves float64's normal
    range, by block_scale and elem_out, as block_cast does.  About 8x
    block_cast's speed for NVFP4 (docs/blocks.md).
    """
    ep0 = as_tuple(epv)
    sp = as_tuple(spv)
    bp = (bpv[0], bpv[1], bpv[2], bpv[3], bpv[4], bpv[5], bpv[6], bpv[7], bpv[8], bpv[9],
          bpv[10], bpv[11], bpv[12], bpv[13])
    fp = (fpv[0], fpv[1], fpv[2], fpv[3], fpv[4])
    keep_nan = bp[B_NANMAX] == 0
    tscale = fp[F_TSCALE]
    den = fp[F_MAX_E] * tscale  # block_scale's denominator, the same product
    scale_fast = scale32 != 0 and den >= NORMAL and den < np.inf
    R, n = xu.shape
    nb = (n + bs - 1) // bs
    for blk in numba.prange(R * nb):
        r = blk // nb
        j0 = (blk - r * nb) * bs
        xs = xu[r, j0:min(j0 + bs, n)]
        os = ou[r, j0:min(j0 + bs, n)]
        m = np.uint32(0)
        for j in range(xs.size):
            m = amax_bits(m, xs[j], keep_nan)
        has_nan = m > np.uint32(0x7F800000)  # only where NaN blocks are kept
        a = 0.0 if has_nan else np.float64(f32_from_bits(m))
        if scale_fast and a > 0.0 and a < np.inf:
            sv = value_scale_f32(a, den, cs)
        else:
            sv = block_scale(a, has_nan, 0.0, 0.0, bp, fp, sp)[1]
        ts = sv * tscale
        if sv > 0.0 and ts >= NORMAL and ts < np.inf:
            # div_f32_value_bits in three loops: the rare exact residual in its
            # own keeps the other two vectorised (a call of 2**22 values: 14 ms,
            # 47 ms as one loop)
            p2 = exact_divisor(ts)
            need = False
            for j in range(xs.size):
                q, nd = signed_quotient_bits(xs[j], ts, p2)
                os[j] = q
                need |= nd
            if need:
                for j in range(xs.size):
                    if signed_quotient_bits(xs[j], ts, p2)[1]:
                        os[j] = exact_signed_quotient_bits(xs[j], ts)
            for j in range(xs.size):
                os[j] = np.uint32(cast_scaled_bits(os[j], ts, c, rnd, False, False))
        else:
            t, div, ep = elem_params(sv, tscale, ep0, K_FLOAT)
            for j in range(xs.size):
                u = f64_bits(np.float64(f32_from_bits(xs[j])))
                os[j] = np.uint32(f32_value_bits(elem_out(u, sv, t, div, ep, ep0, 0, 0, 0, bp, 0)[1]))


# One kernel per rounding mode, as in cpu.py: with the mode a constant each
# block loop holds only its own rule (numba.literally would re-type every call).
@numba.njit(parallel=True, cache=True, nogil=True)
def mx_f32_rne(xu, ou, bs, c, epv, bpv, fpv, status, idx, use_idx, rmode, slo, shi, stream):  # noqa: ANN001, ANN201
    _f32_blocks(xu, ou, bs, c, RNE, epv, bpv, fpv, status, idx, use_idx, rmode, slo, shi, stream)


@numba.njit(parallel=True, cache=True, nogil=True)
def mx_f32_rna(xu, ou, bs, c, epv, bpv, fpv, status, idx, use_idx, rmode, slo, shi, stream):  # noqa: ANN001, ANN201
    _f32_blocks(xu, ou, bs, c, RNA, epv, bpv, fpv, status, idx, use_idx, rmode, slo, shi, stream)


@numba.njit(parallel=True, cache=True, nogil=True)
def mx_f32_rtz(xu, ou, bs, c, epv, bpv, fpv, status, idx, use_idx, rmode, slo, shi, stream):  # noqa: ANN001, ANN201
    _f32_blocks(xu, ou, bs, c, RTZ, epv, bpv, fpv, status, idx, use_idx, rmode, slo, shi, stream)


@numba.njit(parallel=True, cache=True, nogil=True)
def mx_f32_rup(xu, ou, bs, c, epv, bpv, fpv, status, idx, use_idx, rmode, slo, shi, stream):  # noqa: ANN001, ANN201
    _f32_blocks(xu, ou, bs, c, RUP, epv, bpv, fpv, status, idx, use_idx, rmode, slo, shi, stream)


@numba.njit(parallel=True, cache=True, nogil=True)
def mx_f32_rdn(xu, ou, bs, c, epv, bpv, fpv, status, idx, use_idx, rmode, slo, shi, stream):  # noqa: ANN001, ANN201
    _f32_blocks(xu, ou, bs, c, RDN, epv, bpv, fpv, status, idx, use_idx, rmode, slo, shi, stream)


@numba.njit(parallel=True, cache=True, nogil=True)
def mx_f32_odd(xu, ou, bs, c, epv, bpv, fpv, status, idx, use_idx, rmode, slo, shi, stream):  # noqa: ANN001, ANN201
    _f32_blocks(xu, ou, bs, c, ODD, epv, bpv, fpv, status, idx, use_idx, rmode, slo, shi, stream)


@numba.njit(parallel=True, cache=True, nogil=True)
def mx_f32_sr(xu, ou, bs, c, epv, bpv, fpv, status, idx, use_idx, rmode, slo, shi, stream):  # noqa: ANN001, ANN201
    _f32_blocks(xu, ou, bs, c, SR, epv, bpv, fpv, status, idx, use_idx, rmode, slo, shi, stream)


#: Fast-path block kernels indexed by rounding code (kernels.abi.ROUNDING_CODE; SR last).
MX_F32_KERNELS = (mx_f32_rne, mx_f32_rna, mx_f32_rtz, mx_f32_rup, mx_f32_rdn, mx_f32_odd,
                  mx_f32_sr)
