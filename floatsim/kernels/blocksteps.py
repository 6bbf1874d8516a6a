"""Block-format (microscaling) steps: a block's amax, its scale by each rule,
and the cast of its elements, as scalar routines that the CPU loops
(:mod:`floatsim.cpu.blocks`) and the CUDA kernels (:mod:`floatsim.gpu.blocks`,
:mod:`floatsim.gpu.blocks_warp`) call, so the algorithm exists once.

A block is ``bs`` consecutive elements of a row ``(R, n)`` (the last block of
a row may be shorter: nothing is padded or dropped); tiles and blocks along
other axes are gathered into such rows by :mod:`floatsim.blocks` first.

The element cast is never re-implemented here.  A block scale ``2**k`` is
applied by shifting the element format's exponent range by ``k`` (exact:
rounding ``x`` in the shifted format is rounding ``x / 2**k`` in the element
format, then multiplying by ``2**k``), which lets the float32 fast path
(:func:`.fast32.quantize_f32_bits`) and the general routine
(:func:`.scalar.encode_bits`) run unchanged with per-block constants.  Any
other scale ``T`` divides first: ``q = x / T`` is computed in float64 with
round-to-odd (the float64 quotient, moved one ulp towards the exact quotient
when inexact and even), and rounding ``q`` to a format of at most 51
significand bits, in any mode, gives the same result as rounding the exact
quotient (docs/blocks.md, "Arithmetic").

Rule codes, element kinds and the layout of the ``bp`` (int64) and ``fp``
(float64) parameter vectors are :mod:`.abi`'s.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .abi import (
    B_EMAX_E,
    B_IBITS,
    B_IM,
    B_KIND,
    B_KMAX,
    B_KMIN,
    B_MBITS_E,
    B_NANMAX,
    B_QNEG,
    B_QPOS,
    B_RULE,
    B_SCALE_NAN_CODE,
    B_SOV,
    F_MAX_E,
    F_POW2MAX_E,
    F_QRANGE,
    F_SCALE_MAX,
    F_TSCALE,
    K_ASYM,
    K_FLOAT,
    K_INT,
    P_BIAS,
    P_EMAX,
    P_EMIN,
    P_MAX_MAG,
    R_CEIL,
    R_EVEN,
    R_MINMAX,
    R_NEAREST,
    R_RCEIL,
    SOV_NAN,
    SOV_RAISE,
    ST_OK,
    ST_SCALE_OVERFLOW,
)
from .fast32 import (
    C_EMIN_B,
    C_INF_IN,
    C_MAX_BITS,
    C_MIN_BITS,
    C_OVF_NEAR,
    C_RND,
    C_SUB_SCALE,
    C_TRUNC_CODE_OFF,
    C_ZERO_IN,
    quantize_f32_bits,
)
from .intrinsics import f32_bits, f32_from_bits, f64_bits, is_gpu_target, scalar_jit
from .intrinsics import f64_from_bits as bits_f64
from .philox import random_words
from .scalar import decode_code, encode_bits

#: An ordinary compiled call.  The shared scalar routines are inline="always"
#: (Numba IR inlining); inlined at every call site of these kernels they made
#: one compile take minutes, so the block-level helpers are called instead.
_call = numba.njit(cache=True, nogil=True)

_ABS = 0x7FFFFFFFFFFFFFFF
_INF = 0x7FF0000000000000
_FRAC = (1 << 52) - 1
_SQRT2_UP = 1.4142135623730951  # the smallest float64 above sqrt(2)
_HUGE = 2.0**600  # beyond twice the largest value of every format blocks accept
_TINY = 2.0**-1070  # nonzero, below half the smallest value of every such format
_DEKKER_MIN, _DEKKER_MAX = 2.0**-900, 2.0**900  # where Dekker's product is exact
NORMAL = 2.0**-1022

if (P_BIAS, P_EMIN, P_EMAX) != (3, 4, 5):  # pragma: no cover - shift_params spells them out
    raise ImportError("blocksteps.shift_params assumes P_BIAS, P_EMIN, P_EMAX == 3, 4, 5")


# ---- scalar helpers -------------------------------------------------------------------
# These helpers also run in the CUDA kernels of gpu.blocks.  Hence bit casts are
# the intrinsics (f64_bits, bits_f64), not ``.view``, which numba-cuda compiles
# for the GPU present (PTX must build without one); and products that feed a sum
# go through mul_rn, because NVVM contracts a * b + c into one FMA by default.


@intrinsic
def mul_rn(typingctx, a, b):  # noqa: ANN001, ANN201, ARG001
    """``a * b`` in float64, rounded on its own: a plain multiply on the CPU (the
    same machine code as ``*``); on the GPU ``mul.rn.f64``, which NVVM never
    fuses with a following add.  Dekker's product and the 4-over-6 sums of
    squares rely on the separate rounding."""
    sig = types.float64(types.float64, types.float64)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        if is_gpu_target(context):
            dbl = ir.DoubleType()
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(dbl, [dbl, dbl]), "llvm.nvvm.mul.rn.d")
            return builder.call(fn, args)
        return builder.fmul(args[0], args[1])

    return sig, codegen


@scalar_jit
def pow2(k):  # noqa: ANN001, ANN201
    """2.0**k for -1074 <= k <= 1023, from its bit pattern."""
    if k >= -1022:
        return bits_f64(np.int64((k + 1023) << 52))
    return bits_f64(np.int64(np.int64(1) << (k + 1074)))


@scalar_jit
def exp_frac(b):  # noqa: ANN001, ANN201
    """(E, F) with value (1 + F / 2**52) * 2**E for the bits ``b`` of a positive
    finite nonzero float64 (subnormals normalised)."""
    ef = b >> 52
    if ef != 0:
        return ef - 1023, b & _FRAC
    f = b & _FRAC
    top = (f64_bits(np.float64(f)) >> 52) - 1023  # exact: f < 2**52
    return top - 1074, (f << (52 - top)) & _FRAC


@scalar_jit
def is_pow2(v):  # noqa: ANN001, ANN201
    """Whether the positive float64 ``v`` is a normal power of two."""
    b = f64_bits(v)
    return (b & _FRAC) == 0 and (b >> 52) > 0 and (b >> 52) < 2047


@scalar_jit
def _split(a):  # noqa: ANN001, ANN201
    c = mul_rn(134217729.0, a)  # Veltkamp: 2**27 + 1
    hi = c - (c - a)
    return hi, a - hi


@_call
def div_odd(a, b):  # noqa: ANN001, ANN201
    """Round-to-odd float64 quotient of positive finite ``a`` and ``b``.

    Exactly a / b when that is a float64; otherwise a float64 with an odd last
    bit lying strictly between the two float64 neighbours of a / b.  Rounding
    it to any format of at most 51 significand bits, in any mode (stochastic
    included), gives the result of rounding a / b itself.  Quotients beyond
    2**600 or below 2**-600 come back as _HUGE / _TINY, which every format the
    block kernels accept rounds the same way.
    """
    if a == 0.0:
        return 0.0
    ea, fa = exp_frac(f64_bits(a))
    eb, fb = exp_frac(f64_bits(b))
    ma = bits_f64((np.int64(1023) << 52) | fa)  # in [1, 2)
    mb = bits_f64((np.int64(1023) << 52) | fb)
    q = ma / mb  # in (1/2, 2): no overflow or underflow below
    # exact residual ma - q * mb (Dekker's product, no FMA needed)
    p = mul_rn(q, mb)
    qh, ql = _split(q)
    bh, bl = _split(mb)
    e = ((mul_rn(qh, bh) - p) + mul_rn(qh, bl) + mul_rn(ql, bh)) + mul_rn(ql, bl)
    r = (ma - p) - e
    qb = f64_bits(q)
    if r != 0.0 and (qb & 1) == 0:
        qb += 1 if r > 0.0 else -1
    ex = ea - eb + ((qb >> 52) - 1023)
    if ex > 600:
        return _HUGE
    if ex < -600:
        return _TINY
    return bits_f64(((ex + 1023) << 52) | (qb & _FRAC))


@_call
def div_bits(u, t):  # noqa: ANN001, ANN201
    """Bits of x / t rounded to odd (x the float64 with bits ``u``); NaN, +-inf
    and +-0 pass through unchanged."""
    a = u & _ABS
    if a >= _INF or a == 0:
        return u
    q = f64_bits(div_odd(bits_f64(a), t))
    if u < 0:
        q |= np.int64(1) << 63
    return q


@_call
def add_odd(a, b):  # noqa: ANN001, ANN201
    """Round-to-odd float64 sum of nonnegative finite ``a`` and ``b`` (TwoSum)."""
    s = a + b
    if s == np.inf:
        return s
    bb = s - a
    err = (a - (s - bb)) + (b - bb)
    sb = f64_bits(s)
    if err != 0.0 and (sb & 1) == 0:
        sb += 1 if err > 0.0 else -1
    return bits_f64(sb)


@scalar_jit
def shift_params(p, k):  # noqa: ANN001, ANN201
    """Params of the element format with its exponent range shifted by k."""
    return (
        p[0], p[1], p[2], p[3] - k, p[4] + k, p[5] + k, p[6], p[7], p[8], p[9], p[10],
        p[11], p[12], p[13], p[14], p[15], p[16], p[17], p[18], p[19], p[20],
    )


@scalar_jit
def shift_consts(c, k):  # noqa: ANN001, ANN201
    """Fast-path constants of the element format shifted by 2**k.

    Valid while the shifted format's normal range stays within float32's
    (the caller checks emin + k >= -126 and emax + k <= 127): then max and
    min_normal move by k in their float32 exponent fields.
    """
    d = np.int64(k) << 23
    mx = c[C_MAX_BITS] + d
    near = c[C_OVF_NEAR]
    if near == c[C_MAX_BITS]:
        near = mx
    inf_in = c[C_INF_IN]
    if inf_in == c[C_MAX_BITS]:
        inf_in = mx
    mn = c[C_MIN_BITS] + d
    zero_in = c[C_ZERO_IN]
    if zero_in == c[C_MIN_BITS]:
        zero_in = mn
    return (
        c[0], c[C_EMIN_B] + k, mx, near, mx, inf_in, c[6], c[7], c[8], mn, c[10], c[11],
        zero_in, c[13], c[14], c[C_TRUNC_CODE_OFF] + k, c[C_SUB_SCALE] * pow2(k),
    )


@scalar_jit
def rule_exponent(E, F, rule, emax_e, mbits_e, fmax):  # noqa: ANN001, ANN201
    """Scale exponent k of a power-of-two rule for amax = (1 + F/2**52) 2**E.

    ``fmax`` is the 52-bit fraction of the element's largest value (RCEIL).
    """
    bump = 0
    if rule == R_CEIL:
        bump = F != 0
    elif rule == R_EVEN:
        # amax rounded to mbits_e + 1 significant bits (ties away) reaches 2**(E+1)
        if mbits_e < 52:
            bump = F >= (np.int64(1) << 52) - (np.int64(1) << (51 - mbits_e))
    elif rule == R_NEAREST:
        bump = bits_f64((np.int64(1023) << 52) | F) >= _SQRT2_UP
    elif rule == R_RCEIL:
        bump = F > fmax
    return E - emax_e + bump


@_call
def enc(u, p, r_hi, r_lo):  # noqa: ANN001, ANN201
    """scalar.encode_bits, compiled once."""
    return encode_bits(u, p, r_hi, r_lo)


@_call
def dec(code, p):  # noqa: ANN001, ANN201
    """scalar.decode_code, compiled once."""
    return decode_code(code, p)


# ---- block scale ------------------------------------------------------------------------
@_call
def pow2_scale(a, bp, fp, sp):  # noqa: ANN001, ANN201
    """(scale code, scale value, status) of a power-of-two rule for amax ``a``
    (finite >= 0 or +inf; NaN is handled by the caller)."""
    kmin = bp[B_KMIN]
    kmax = bp[B_KMAX]
    over = False
    k = kmin
    if a == np.inf:
        over = True
    elif a > 0.0:
        t = fp[F_TSCALE]
        v = a if t == 1.0 else div_odd(a, t)
        E, F = exp_frac(f64_bits(v))
        fmax = exp_frac(f64_bits(fp[F_MAX_E]))[1]
        k = max(rule_exponent(E, F, bp[B_RULE], bp[B_EMAX_E], bp[B_MBITS_E], fmax), kmin)
        if k > kmax:
            over = True
    status = ST_OK
    if over:
        k = kmax
        if bp[B_SOV] == SOV_NAN:
            return bp[B_SCALE_NAN_CODE], np.nan, status
        if bp[B_SOV] == SOV_RAISE:
            status = ST_SCALE_OVERFLOW
    sv = pow2(k)
    return enc(f64_bits(sv), sp, 0, 0), sv, status


@_call
def value_scale(a, den, bp, fp, sp):  # noqa: ANN001, ANN201
    """(code, value, status) of a / den rounded into the scale format (its rounding
    and overflow policy are in ``sp``); a = 0 gives code 0 (zero, or the smallest
    value of a format without zero)."""
    # One call each of enc and dec: the CUDA kernels inline them at every call site.
    status = ST_OK
    if a == 0.0:
        code = np.int64(0)
    elif a == np.inf:  # an inf in the block: the scale overflows, whatever the rounding
        if bp[B_SOV] == SOV_NAN:
            return bp[B_SCALE_NAN_CODE], np.nan, status
        if bp[B_SOV] == SOV_RAISE:
            status = ST_SCALE_OVERFLOW
        code = sp[P_MAX_MAG]
    else:
        ratio = div_odd(a, den)
        if bp[B_SOV] == SOV_RAISE and ratio > fp[F_SCALE_MAX]:
            status = ST_SCALE_OVERFLOW
        code = enc(f64_bits(ratio), sp, 0, 0)
    return code, dec(code, sp), status


# ---- one element ----------------------------------------------------------------------
@_call
def elem_code(u, ep, div, t, r_hi, r_lo, bp):  # noqa: ANN001, ANN201
    """The element's code (clamped, for integers) for x (bits ``u``): ``ep`` is
    the shifted format when div == 0, else x is divided by ``t`` first."""
    if div != 0:
        u = div_bits(u, t)
    code = enc(u, ep, r_hi, r_lo)
    kind = bp[B_KIND]
    if kind == K_INT and code >= 0:
        m = bp[B_IM]
        mag = code & ((np.int64(1) << m) - 1)
        neg = (code >> m) & 1
        mag = min(mag, bp[B_QNEG]) if neg != 0 else min(mag, bp[B_QPOS])
        if mag == 0:
            neg = 0
        code = (neg << m) | mag
    return code


@_call
def int_value(code, bp):  # noqa: ANN001, ANN201
    """The signed integer of a sign-magnitude cast code."""
    m = bp[B_IM]
    mag = code & ((np.int64(1) << m) - 1)
    return -mag if (code >> m) & 1 else mag


@_call
def elem_value(code, ep, div, t, zp, bp):  # noqa: ANN001, ANN201
    """The float64 value of an element code from elem_code."""
    if bp[B_KIND] == K_ASYM:
        if code < 0:
            return np.nan
        q = min(max(int_value(code, bp) + zp, 0), bp[B_QPOS])
        return np.float64(q - zp) * t
    v = dec(code, ep)
    return v * t if div != 0 else v


@_call
def out_code(code, zp, bp):  # noqa: ANN001, ANN201
    """The code encode() stores: float codes as is, two's complement for signed
    integers, q = clamp(round(x / s) + zero point) for asymmetric integers.
    NaN without a NaN code (NO_CODE, -1: only on the GPU path, the CPU's
    encode() raises first) stays -1, stored as all ones."""
    kind = bp[B_KIND]
    if kind == K_FLOAT or code < 0:
        return code
    if kind == K_INT:
        return int_value(code, bp) & ((np.int64(1) << bp[B_IBITS]) - 1)
    return min(max(int_value(code, bp) + zp, 0), bp[B_QPOS])


@scalar_jit
def element_words(rmode, seed_lo, seed_hi, index, stream, wide):  # noqa: ANN001, ANN201
    if rmode == 1:
        return random_words(seed_lo, seed_hi, index, stream, wide)
    return np.int64(0), np.int64(0)


# ---- one block, in steps shared by block_cast and the CUDA kernels ----------------------
# (The loops over a block's elements belong to each kernel; what is decided per
# block and per element is here, once.)
@scalar_jit
def amax_step(xv, am, has_nan, hi, lo):  # noqa: ANN001, ANN201
    """A block's statistics after one more element ``xv``: amax as float64 bits
    (NaNs left out and flagged), max(x, 0) and min(x, 0) (for MINMAX)."""
    ab = f64_bits(xv) & _ABS
    if ab > _INF:
        return am, True, hi, lo
    return max(am, ab), has_nan, max(hi, xv), min(lo, xv)


@scalar_jit
def block_scale(a, has_nan, hi, lo, bp, fp, sp):  # noqa: ANN001, ANN201
    """(scale code, scale value, status, zero point) of a block from its
    statistics (``a``: amax, or the caller's amax=).  For FOUR_OVER_SIX this is
    the ``max`` candidate; four_over_six_alt gives the other."""
    zp = np.int64(0)
    if has_nan and bp[B_NANMAX] == 0:  # a NaN scale: the whole block is NaN
        return bp[B_SCALE_NAN_CODE], np.nan, ST_OK, zp
    rule = bp[B_RULE]
    if rule <= R_NEAREST:
        sc, sv, st = pow2_scale(a, bp, fp, sp)
        return sc, sv, st, zp
    tsc = fp[F_TSCALE]
    num = a  # RCEIL, AMAX, FOUR_OVER_SIX: amax / (max * T)
    den = fp[F_MAX_E] * tsc
    if rule == R_MINMAX:  # (max(x, 0) - min(x, 0)) / ((2**bits - 1) * T)
        num = add_odd(hi, -lo)
        den = fp[F_QRANGE] * tsc
    sc, sv, st = value_scale(num, den, bp, fp, sp)
    if rule == R_MINMAX:
        if sv > 0.0 and -lo == np.inf:
            zp = bp[B_QPOS]
        elif sv > 0.0 and -lo > 0.0:
            # round() is rint (ties to even) on both targets; np.rint has no CUDA lowering
            zp = np.int64(round(min(div_odd(-lo, sv * tsc), 2.0**62)))
            zp = min(max(zp, np.int64(0)), bp[B_QPOS])
    return sc, sv, st, zp


@scalar_jit
def four_over_six_alt(a, sv, bp, fp, sp):  # noqa: ANN001, ANN201
    """4-over-6's second candidate (amax / (2**emax T)) as (code, value, status),
    and whether the block must compare the two candidates' errors (both
    finite, nonzero and different)."""
    sc4, sv4, st4 = value_scale(a, fp[F_POW2MAX_E] * fp[F_TSCALE], bp, fp, sp)
    compare = sv4 > 0.0 and sv4 == sv4 and sv > 0.0 and sv == sv and sv4 != sv
    return sc4, sv4, st4, compare


@scalar_jit
def elem_params(sv, tsc, ep0, kind):  # noqa: ANN001, ANN201
    """(t, div, ep) for the elements of a block of scale value ``sv``: the
    element format shifted by k where t = sv * T is 2**k (div = 0), else the
    elements are divided by t first (div = 1)."""
    t = sv * tsc
    if sv == sv and sv > 0.0 and kind != K_ASYM and is_pow2(t):
        return t, 0, shift_params(ep0, exp_frac(f64_bits(t))[0])
    return t, 1, ep0


@scalar_jit
def sq_err(u, ep, div, t, r_hi, r_lo, bp):  # noqa: ANN001, ANN201
    """Squared error of one dequantized element (x has the float64 bits ``u``)."""
    d = elem_value(elem_code(u, ep, div, t, r_hi, r_lo, bp), ep, div, t, 0, bp) - bits_f64(u)
    return mul_rn(d, d)


@scalar_jit
def elem_out(u, sv, t, div, ep, ep0, zp, r_hi, r_lo, bp, want_codes):  # noqa: ANN001, ANN201, PLR0913
    """(code, value) of the element with float64 bits ``u`` in a block of scale
    value ``sv`` and elem_params (t, div, ep): the code encode() stores when
    want_codes, else the float64 value.  Random words matter only where
    ``sv`` is finite and nonzero."""
    kind = bp[B_KIND]
    if sv != sv:
        if want_codes != 0:
            return (ep0[10] if (kind == K_FLOAT and ep0[10] >= 0) else np.int64(0)), 0.0
        return np.int64(0), np.nan
    if sv == 0.0:
        # A zero scale (a zero block, or amax below the scale's range): signed
        # zeros, and NaN stays NaN (scale types without NaN).
        if (u & _ABS) <= _INF:
            u &= np.int64(1) << 63
        t = 1.0
        div = 0
        ep = ep0
        r_hi = np.int64(0)
        r_lo = np.int64(0)
    code = elem_code(u, ep, div, t, r_hi, r_lo, bp)
    if want_codes != 0:
        return out_code(code, zp, bp), 0.0
    return np.int64(0), elem_value(code, ep, div, t, zp, bp)


@scalar_jit
def f32_block_k(m, bp, fmax):  # noqa: ANN001, ANN201
    """(k, state) of a float32 block whose largest magnitude has the bits ``m``
    (uint32; a NaN's bits exceed every other): state 0 to quantize with 2**k,
    1 for a NaN block (NaN in it, or a scale overflow under the 'nan' policy),
    2 for a scale overflow under 'raise' (quantized with the largest scale)."""
    if m > np.uint32(0x7F800000):
        return np.int64(0), 1
    kmin = bp[B_KMIN]
    over = m == np.uint32(0x7F800000)
    k = kmin
    if m != 0 and not over:
        E, F = exp_frac(f64_bits(np.float64(f32_from_bits(m))))
        k = max(rule_exponent(E, F, bp[B_RULE], bp[B_EMAX_E], bp[B_MBITS_E], fmax), kmin)
        over = k > bp[B_KMAX]
    if over:
        if bp[B_SOV] == SOV_NAN:
            return k, 1
        return bp[B_KMAX], 2 if bp[B_SOV] == SOV_RAISE else 0
    return k, 0


@scalar_jit
def f32_value_bits(v):  # noqa: ANN001, ANN201
    """float32 bits of the float64 ``v`` rounded to nearest even, NaN as numpy
    stores it (0x7FC00000; the GPU's conversion gives 0x7FFFFFFF)."""
    if v != v:
        return np.int64(0x7FC00000)
    return np.int64(f32_bits(np.float32(v)))


@scalar_jit
def rto_f32_bits(q):  # noqa: ANN001, ANN201
    """Bits of the positive float64 ``q`` rounded to odd into float32: its
    truncation, with the last bit set when inexact (past float32's range, the
    largest finite value; below it, the smallest subnormal)."""
    f = np.float32(q)
    fq = np.float64(f)
    b = np.uint32(f32_bits(f))
    if fq > q:
        b = np.uint32(b - np.uint32(1))
    if fq != q:
        b = np.uint32(b | np.uint32(1))
    return b


@scalar_jit
def exact_divisor(t):  # noqa: ANN001, ANN201
    """Whether a / t is exact in float64 for every finite float32 ``a``: a
    power of two that keeps the quotients inside float64's normal range
    (2**-149 / t >= 2**-1022 and 2**128 / t < 2**1024)."""
    return is_pow2(t) and t >= 2.0**-895 and t <= 2.0**873


@scalar_jit
def quotient_rto_bits(a, t, t_pow2):  # noqa: ANN001, ANN201
    """(bits, exact_needed): a / t rounded to odd into float32 from the
    correctly rounded float64 quotient, for positive finite ``a`` and normal
    ``t`` (``t_pow2``: :func:`exact_divisor` of it); ``exact_needed`` where
    that quotient lands on float32's grid and the bits must come from
    :func:`exact_quotient_rto_bits` instead.

    Off the grid, the float64 quotient truncates to the same float32 as the
    exact one.  On it, the quotient may be exact (common: a third of all
    float32 values divide exactly by 1.5) or within half a float64 step of
    a float32, and only the residual tells.  An exact divisor never needs it."""
    q = a / t
    return rto_f32_bits(q), (not t_pow2) and np.float64(np.float32(q)) == q


@scalar_jit
def exact_quotient_rto_bits(a, t):  # noqa: ANN001, ANN201
    """Bits of a / t rounded to odd into float32 by the exact residual of the
    float64 quotient (:func:`residual_rto_bits`), where that quotient lies
    on float32's grid."""
    return residual_rto_bits(a, t, a / t)


@scalar_jit
def residual_rto_bits(a, t, q):  # noqa: ANN001, ANN201
    """Bits of a / t rounded to odd into float32, from a float64 ``q`` on
    float32's grid within a float32 step of a / t: the exact residual
    a - q t (Dekker's product, as in :func:`div_odd`), when nonzero, moves q
    a float64 step towards the exact quotient, strictly between the two
    float32 values around it.  (Off the grid, that step could land on it.)
    Where Dekker's splits would overflow or its products underflow,
    :func:`div_odd` itself."""
    if q >= _DEKKER_MIN and q <= _DEKKER_MAX and t <= _DEKKER_MAX:
        return nudged_rto_bits(a, t, q)
    return rto_f32_bits(div_odd(a, t))


@scalar_jit
def nudged_rto_bits(a, t, q):  # noqa: ANN001, ANN201
    """:func:`residual_rto_bits` where Dekker's product is exact (q and t
    within 2**+-900)."""
    p = mul_rn(q, t)
    qh, ql = _split(q)
    th, tl = _split(t)
    e = ((mul_rn(qh, th) - p) + mul_rn(qh, tl) + mul_rn(ql, th)) + mul_rn(ql, tl)
    r = (a - p) - e  # exact: a - p by Sterbenz, and the remainder is a float64
    if r != 0.0:
        q = bits_f64(f64_bits(q) + (1 if r > 0.0 else -1))
    return rto_f32_bits(q)


@scalar_jit
def div_rto_f32_bits(a, t, t_pow2):  # noqa: ANN001, ANN201
    """Bits of a / t rounded to odd into float32 (positive finite ``a``,
    normal ``t``): one hardware float64 division for most quotients, the
    exact residual for the rest."""
    b, exact_needed = quotient_rto_bits(a, t, t_pow2)
    if exact_needed:
        b = exact_quotient_rto_bits(a, t)
    return b


@scalar_jit
def signed_quotient_bits(u, t, t_pow2):  # noqa: ANN001, ANN201
    """(bits, exact_needed) of :func:`quotient_rto_bits` for the float32 with
    bits ``u``, signed; zeros, infinities and NaN pass through unchanged."""
    u = np.uint32(u)
    a = np.uint32(u & np.uint32(0x7FFFFFFF))
    b, need = quotient_rto_bits(np.float64(f32_from_bits(a)), t, t_pow2)
    special = a == 0 or a >= np.uint32(0x7F800000)
    return (u if special else np.uint32(np.uint32(u ^ a) | b)), need and not special


@scalar_jit
def exact_signed_quotient_bits(u, t):  # noqa: ANN001, ANN201
    """:func:`exact_quotient_rto_bits` for the finite nonzero float32 with bits ``u``, signed."""
    u = np.uint32(u)
    a = np.uint32(u & np.uint32(0x7FFFFFFF))
    return np.uint32(np.uint32(u ^ a) | exact_quotient_rto_bits(np.float64(f32_from_bits(a)), t))


@scalar_jit
def scaled_value_bits(r, t):  # noqa: ANN001, ANN201
    """Float32 bits of the float32 with bits ``r`` times ``t``, rounded once."""
    return f32_value_bits(np.float64(f32_from_bits(r)) * t)


@scalar_jit
def value_scale_f32(a, den, cs):  # noqa: ANN001, ANN201
    """The value of :func:`value_scale`'s scale for finite ``a > 0`` and a
    normal ``den``, where the scale format fits_div32 (``cs``: its fast-path
    constants with the scale's rounding and overflow policy): a / den rounded
    to odd into float32, then the float32 fast path.  A float64 (NaN for an
    overflow under the 'nan' policy)."""
    return _scale_f32_value(div_rto_f32_bits(a, den, False), cs)


@scalar_jit
def value_scale_rcp(m, den, rden, cs):  # noqa: ANN001, ANN201
    """:func:`value_scale_f32` of the float32 amax with bits ``m`` (finite,
    nonzero) by the reciprocal route: ``rden`` is 1 / den rounded, and
    :func:`reciprocal_ok` holds for ``den``."""
    q, need = rcp_quotient_bits(m, rden)
    if need:
        q = rcp_exact_bits(m, den, rden)
    return _scale_f32_value(q, cs)


@scalar_jit
def _scale_f32_value(q, cs):  # noqa: ANN001, ANN201
    r = quantize_f32_bits(q, cs, cs[C_RND], np.uint32(0), False, True)
    return np.float64(f32_from_bits(r))


@scalar_jit
def div_f32_value_bits(u, t, t_pow2, c, rnd, branch, gpu):  # noqa: ANN001, ANN201
    """Float32 bits of the element with float32 bits ``u`` in a block whose
    elements are divided by ``t`` (finite, normal, > 0; ``t_pow2``:
    :func:`exact_divisor` of it), quantized with the
    element's fast-path constants ``c`` in mode ``rnd`` (any but SR) and
    multiplied back: what elem_value(elem_code(...)) gives, as float32.

    The quotient is rounded to odd into float32 (:func:`signed_quotient_bits`);
    rounding that to a format of at most 21 significand bits
    whose steps are at least 2**-147 (:func:`.fast32.fits_div32`) gives the
    result of rounding the exact quotient, in every mode but SR (whose 32
    random bits need the quotient's bits beyond float32's).  A power-of-two
    ``t`` is the shifted format of the CPU path, the same values."""
    q, need = signed_quotient_bits(u, t, t_pow2)
    if need:
        q = exact_signed_quotient_bits(u, t)
    return cast_scaled_bits(q, t, c, rnd, branch, gpu)


@scalar_jit
def cast_scaled_bits(q, t, c, rnd, branch, gpu):  # noqa: ANN001, ANN201
    """Float32 bits of the quotient bits ``q`` (rounded to odd into float32)
    cast with the element's constants ``c`` in mode ``rnd`` (not SR) and
    multiplied back by ``t``."""
    return scaled_value_bits(quantize_f32_bits(q, c, rnd, np.uint32(0), branch, gpu), t)


# The reciprocal route of the GPU's value kernel.  ``r = 1 / t`` rounded
# carries one float64 rounding and ``a * r`` another, so the product is within
# 2**-51.9 of a / t (relative); it truncates to the same float32 as the exact
# quotient unless it lies within _NEAR (relative) of a float32, subnormals
# included, and then the residual decides.  The range keeps r, the products
# and Dekker's splits normal.
_RCP_MIN, _RCP_MAX = 2.0**-800, 2.0**800
_NEAR = 2.0**-50


@scalar_jit
def reciprocal_ok(t):  # noqa: ANN001, ANN201
    """Whether quotients by ``t`` may go by :func:`rcp_quotient_bits`."""
    return t >= _RCP_MIN and t <= _RCP_MAX


@scalar_jit
def rcp_quotient_bits(u, r):  # noqa: ANN001, ANN201
    """(bits, need) of :func:`signed_quotient_bits` by the product with ``r``,
    1 / t rounded to float64 (:func:`reciprocal_ok` of t): a multiply where
    the division's machine code is a dozen dependent steps and a branch.
    ``need`` where the product lies within _NEAR of float32's grid;
    :func:`rcp_exact_bits` then gives the bits."""
    u = np.uint32(u)
    a = np.uint32(u & np.uint32(0x7FFFFFFF))
    q = np.float64(f32_from_bits(a)) * r
    b = rto_f32_bits(q)
    fq = np.float64(np.float32(q))
    need = abs(q - fq) <= q * _NEAR
    special = a == 0 or a >= np.uint32(0x7F800000)
    return (u if special else np.uint32(np.uint32(u ^ a) | b)), need and not special


@scalar_jit
def rcp_exact_bits(u, t, r):  # noqa: ANN001, ANN201
    """The bits :func:`rcp_quotient_bits` could not settle: the residual of
    the float32 nearest the product (:func:`nudged_rto_bits`: that float32
    and t lie in Dekker's range, or the float32 is zero where the product is
    below float32's range and needs no residual); zeros, infinities and NaN
    pass through."""
    u = np.uint32(u)
    a = np.uint32(u & np.uint32(0x7FFFFFFF))
    if a == 0 or a >= np.uint32(0x7F800000):
        return u
    af = np.float64(f32_from_bits(a))
    fq = np.float64(np.float32(af * r))
    return np.uint32(np.uint32(u ^ a) | nudged_rto_bits(af, t, fq))


@scalar_jit
def rcp_quotients4(u0, u1, u2, u3, t, t_pow2):  # noqa: ANN001, ANN201
    """:func:`signed_quotient_bits` of four elements by ``t`` (normal, > 0,
    :func:`reciprocal_ok`; ``t_pow2``: :func:`exact_divisor` of it) by the
    reciprocal route: one division, four products, and the residuals only
    where some product needs one (exact quotients, common with one level),
    computed for all four so the warp does not split four ways."""
    r = 1.0 / t
    q0, n0 = rcp_quotient_bits(u0, r)
    q1, n1 = rcp_quotient_bits(u1, r)
    q2, n2 = rcp_quotient_bits(u2, r)
    q3, n3 = rcp_quotient_bits(u3, r)
    if not t_pow2 and (n0 or n1 or n2 or n3):  # a power of two's products are exact
        e0, e1 = rcp_exact_bits(u0, t, r), rcp_exact_bits(u1, t, r)
        e2, e3 = rcp_exact_bits(u2, t, r), rcp_exact_bits(u3, t, r)
        q0, q1 = (e0 if n0 else q0), (e1 if n1 else q1)
        q2, q3 = (e2 if n2 else q2), (e3 if n3 else q3)
    return q0, q1, q2, q3


@scalar_jit
def amax_bits(m, b, keep_nan):  # noqa: ANN001, ANN201
    """The running block maximum ``m`` (float32 magnitude bits; a NaN's exceed
    every other) after the element with bits ``b``.  Without ``keep_nan`` (a
    scale format with no NaN) a NaN element does not count: the block keeps a
    finite scale and the NaN goes through the element cast, as in block_cast."""
    a = np.uint32(b) & np.uint32(0x7FFFFFFF)
    if a > np.uint32(0x7F800000) and not keep_nan:
        a = np.uint32(0)
    return max(np.uint32(m), a)
