"""The scalar cast: one float64 bit pattern to one code, and back.

Written once on int64 bit patterns and compiled for the CPU (``njit``) and
for CUDA (the CUDA kernels call these same functions).  Rules are those of
docs/semantics.md; the comments name which rule a step implements.

Example:
    >>> import numpy as np, floatsim as fs
    >>> from floatsim.kernels.abi import make_params
    >>> from floatsim.kernels.scalar import encode_bits, decode_code
    >>> p = make_params(fs.format("e4m3"))
    >>> code = encode_bits(np.float64(460.0).view(np.int64), p, 0, 0)
    >>> hex(code), decode_code(code, p)
    ('0x7e', 448.0)
"""

from __future__ import annotations

import numpy as np

from .abi import (
    ODD,
    P_BIAS,
    P_DAZ,
    P_DAZ_EMIN,
    P_EMAX,
    P_EMIN,
    P_HAS_NEGZERO,
    P_HAS_ZERO,
    P_HIGH_NAN_START,
    P_INF_MAG,
    P_MAG_BITS,
    P_MAX_MAG,
    P_MBITS,
    P_NAN_AT_NEGZERO,
    P_NAN_CODE,
    P_NAN_SIGNED,
    P_OVERFLOW,
    P_ROUNDING,
    P_SIGNED,
    P_SR_BITS,
    P_SUBNORMALS,
    P_WIDE_RANDOM,
    RDN,
    RNA,
    RNE,
    RTZ,
    RUP,
    SR,
)
from .intrinsics import f64_bits, f64_from_bits, scalar_jit

_ABS = 0x7FFFFFFFFFFFFFFF
_INF_BITS = 0x7FF0000000000000
_FRAC52 = (1 << 52) - 1
_IMPLICIT = 1 << 52

__all__ = ["NO_CODE", "as_tuple", "decode_code", "encode_bits", "quantize_bits"]

#: encode_bits' result for NaN into a format that has no NaN code.
NO_CODE = -1


@scalar_jit
def _frac_bits(rem, sh, k):  # noqa: ANN001, ANN201
    """floor(rem * 2**(k - sh)) and whether bits were dropped (rem < 2**54)."""
    if sh <= k:
        return rem << (k - sh), False
    d = min(sh - k, 62)
    return rem >> d, (rem & ((np.int64(1) << d) - 1)) != 0


@scalar_jit
def _nan_result(neg, p):  # noqa: ANN001, ANN201
    code = p[P_NAN_CODE]
    if code < 0:
        return np.int64(NO_CODE)
    if neg and p[P_NAN_SIGNED] != 0:
        code |= np.int64(1) << p[P_MAG_BITS]
    return code


@scalar_jit
def encode_bits(u, p, r_hi, r_lo):  # noqa: ANN001, ANN201
    """Round the float64 with bit pattern ``u`` (int64) to a code of the format
    in ``p``.  ``r_hi``/``r_lo`` are the random words for stochastic rounding."""
    M = p[P_MBITS]
    mag_bits = p[P_MAG_BITS]
    emin = p[P_EMIN]
    neg = u < 0
    a = u & _ABS
    ef = a >> 52
    if p[P_DAZ] != 0 and ef - 1023 < p[P_DAZ_EMIN]:
        a = np.int64(0)  # denormals-are-zero on the input's own dtype
        ef = np.int64(0)
    f52 = a & _FRAC52

    # floor(log2|x|) and the significand: value = sig * 2**(e0 - 52).
    if ef == 0:
        # float64 subnormal: its leading bit comes from an exact int->float.
        e = (f64_bits(np.float64(f52)) >> 52) - 1023 - 1074
        sig = f52
        e0 = np.int64(-1022)
    else:
        e = ef - 1023
        sig = f52 | _IMPLICIT
        e0 = ef - 1023

    # Rule 6: spacing exponent of the format at x; x beyond max+1 binade overflows.
    big = e > p[P_EMAX] + 1
    ee = max(min(e, p[P_EMAX] + 1), emin)  # ebits=0 formats have emin > emax + 1
    sh = ee - M - e0 + 52  # bits of sig below the format's last place
    rsh = min(max(sh, 0), 62)
    lsh = min(max(-sh, 0), 62)
    lo = (sig >> rsh) << lsh
    rem = sig & ((np.int64(1) << rsh) - 1)
    half = np.int64(1) << max(min(sh - 1, 61), 0)
    inexact = rem != 0
    gt_half = sh >= 1 and rem > half
    eq_half = sh >= 1 and rem == half
    zoff = np.int64(0) if p[P_HAS_ZERO] != 0 else np.int64(1) << M
    trunc_code = ((ee - emin) << M) + lo - zoff
    odd = (trunc_code & 1) != 0

    rnd = p[P_ROUNDING]
    up = False
    if rnd == RNE:
        up = gt_half or (eq_half and odd)
    elif rnd == RNA:
        up = gt_half or eq_half
    elif rnd == RUP:
        up = inexact and not neg
    elif rnd == RDN:
        up = inexact and neg
    elif rnd == ODD:
        up = inexact and not odd
    elif rnd == SR:
        shc = min(sh, 200)
        k = p[P_SR_BITS]
        if k > 0:
            t, _s = _frac_bits(rem, shc, k)
            up = t + (r_lo & ((np.int64(1) << k) - 1)) >= (np.int64(1) << k)
        else:
            ahi, sa = _frac_bits(rem, shc, 32)
            if p[P_WIDE_RANDOM] == 0:
                up = r_lo < ahi + sa
            else:
                blo = np.int64(0)
                sb = False
                if shc > 32:
                    rem2 = rem & ((np.int64(1) << min(shc - 32, 62)) - 1)
                    blo, sb = _frac_bits(rem2, shc - 32, 32)
                up = r_hi < ahi or (r_hi == ahi and r_lo < blo + sb)

    code = trunc_code + up
    if p[P_HAS_ZERO] == 0 and e < emin:
        code = np.int64(0)  # no zero: everything below the smallest value clamps to it
    if big:
        code = p[P_MAX_MAG] + 1

    # Rule 7: overflow, with IEEE's direction rule for truncating modes.
    nan_out = False
    ov = p[P_OVERFLOW]
    if code > p[P_MAX_MAG]:
        toward = rnd == RTZ or rnd == ODD or (rnd == RDN and not neg) or (rnd == RUP and neg)
        if toward or ov == 0:
            code = p[P_MAX_MAG]
        elif ov == 1:
            code = p[P_INF_MAG]
        else:
            nan_out = True
    # Rule 8: flush results below the smallest normal after rounding.
    if p[P_SUBNORMALS] == 0 and p[P_HAS_ZERO] != 0 and code < (np.int64(1) << M):
        code = np.int64(0)

    # Rules 1, 3, 4, 5: specials.
    if a > _INF_BITS:
        nan_out = True
    elif p[P_SIGNED] == 0 and neg and a != 0:
        nan_out = p[P_NAN_CODE] >= 0
        code = np.int64(0)
    elif a == _INF_BITS:
        nan_out = False
        if p[P_INF_MAG] >= 0 and ov != 0:
            code = p[P_INF_MAG]
        elif ov == 2:
            nan_out = True
        else:
            code = p[P_MAX_MAG]
    elif a == 0:
        nan_out = p[P_HAS_ZERO] == 0 and p[P_NAN_CODE] >= 0
        code = np.int64(0)
    if p[P_SIGNED] == 0:
        neg = False
    if nan_out:
        return _nan_result(neg, p)

    # Rule 9: the sign, where the format has one (no -0 in FNUZ / P3109); without
    # zero, code 0 is the smallest value and keeps its sign.
    if neg and (code != 0 or p[P_HAS_NEGZERO] != 0 or p[P_HAS_ZERO] == 0):
        code |= np.int64(1) << mag_bits
    return code


@scalar_jit
def _pow2(k):  # noqa: ANN001, ANN201
    """2.0**k for -1074 <= k <= 1023, built from its bit pattern."""
    if k >= -1022:
        return f64_from_bits(np.int64((min(k, 1023) + 1023) << 52))
    return f64_from_bits(np.int64(1) << max(k + 1074, 0))


@scalar_jit
def decode_code(code, p):  # noqa: ANN001, ANN201
    """The float64 value of ``code`` (NO_CODE decodes to NaN)."""
    if code < 0:
        return np.nan
    M = p[P_MBITS]
    mag_bits = p[P_MAG_BITS]
    mag = code & ((np.int64(1) << mag_bits) - 1)
    neg = p[P_SIGNED] != 0 and (code >> mag_bits) != 0
    if neg and mag == 0 and p[P_NAN_AT_NEGZERO] != 0:
        return np.nan
    if mag > p[P_HIGH_NAN_START]:
        return np.nan
    if mag == p[P_INF_MAG]:
        return -np.inf if neg else np.inf
    ef = mag >> M
    mf = mag & ((np.int64(1) << M) - 1)
    if ef == 0 and p[P_HAS_ZERO] != 0:
        sig = mf
        ex = p[P_EMIN] - M
    else:
        sig = mf | (np.int64(1) << M)
        ex = ef - p[P_BIAS] - M
    v = np.float64(sig) * _pow2(ex)
    return -v if neg else v


@scalar_jit
def quantize_bits(u, p, r_hi, r_lo):  # noqa: ANN001, ANN201
    """Round-trip: the value of the code ``encode_bits`` gives."""
    return decode_code(encode_bits(u, p, r_hi, r_lo), p)


@scalar_jit
def as_tuple(p):  # noqa: ANN001, ANN201
    """The parameter vector as a tuple: registers, not memory that could alias out."""
    return (
        p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10],
        p[11], p[12], p[13], p[14], p[15], p[16], p[17], p[18], p[19], p[20],
    )
