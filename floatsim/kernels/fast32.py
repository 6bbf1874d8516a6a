"""The float32 fast path: the same rules as :mod:`.scalar`, specialised to
float32 inputs and outputs and formats whose values are all float32 values.

The general routine works on float64 bit patterns and produces a code; this
one rounds the float32 bit pattern in place (the result's float32 bits are
the output), which keeps every step in one short, branch-free integer
sequence that LLVM vectorises.  It is checked against ``scalar.encode_bits``
on all 2**32 float32 inputs (tests/test_fast32.py, slow) and on a large
strided sample in CI.

Example:
    >>> import numpy as np, floatsim as fs
    >>> from floatsim.kernels.fast32 import make_consts, quantize_f32_bits
    >>> c = make_consts(fs.format("e4m3"), fs.Rounding.NEAREST_EVEN, None, None)
    >>> int(quantize_f32_bits(np.float32(460.0).view(np.uint32), c, 0, 0)) == int(
    ...     np.float32(448.0).view(np.uint32))
    True
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..formats import Format, Overflow
from ..rounding import Rounding
from ._jit import f32_bits, scalar_jit
from .scalar import ODD, RDN, RNA, RNE, RUP, SR

_NAN32 = 0x7FC00000
_INF32 = 0x7F800000

# Tuple layout of make_consts (the fast path's ABI).
C_M, C_EMIN_B, C_MAX_BITS, C_OVF_NEAR, C_OVF_TRUNC, C_INF_IN, C_ZERO_SIGNED = range(7)
C_FTZ, C_HAS_ZERO, C_MIN_BITS, C_SIGNED, C_NEG_RESULT, C_ZERO_IN, C_RND, C_SR_BITS = range(7, 15)
C_TRUNC_CODE_OFF, C_SUB_SCALE = 15, 16


def _f32_bits(v: float) -> int:
    return int(np.float32(v).view(np.uint32))


@lru_cache(maxsize=1024)
def fits_fast32(fmt: Format) -> bool:
    """Whether the fast path applies: every value of ``fmt`` is a float32 value
    and its normal range starts no lower than float32's (below 2**-126 the
    spacing would depend on the leading bit of a float32 subnormal input)."""
    return fmt.mbits <= 23 and fmt.emax <= 127 and fmt.emin >= -126 and (
        fmt.emin - fmt.mbits >= -149)


@lru_cache(maxsize=1024)
def make_consts(
    fmt: Format, rounding: Rounding, overflow: Overflow | None, subnormals: bool | None, sr_bits: int = 0
) -> tuple[int, ...]:
    """Precompute the fast path's constants for one call (ints, as a tuple)."""
    ov = fmt.overflow if overflow is None else overflow
    max_bits = _f32_bits(fmt.max)
    nan_or = _NAN32 if fmt.has_nan else max_bits  # NaN-less formats only saturate
    near = {Overflow.SATURATE: max_bits, Overflow.INF: _INF32, Overflow.NAN: nan_or}[ov]
    if fmt.has_inf and ov is not Overflow.SATURATE:
        inf_in = _INF32
    elif ov is Overflow.NAN:
        inf_in = _NAN32
    else:
        inf_in = max_bits
    ftz = not (fmt.subnormals if subnormals is None else subnormals)
    if not fmt.signed:
        neg_result = _NAN32 if fmt.has_nan else 0
    else:
        neg_result = -1
    zero_in = 0 if fmt.has_zero else (_NAN32 if fmt.has_nan else _f32_bits(fmt.min_normal))
    # Parity of the truncated code: for M == 0 it is the exponent field's parity.
    code_off = (fmt.emin + 127) - (0 if fmt.has_zero else 1)
    return (
        fmt.mbits,
        fmt.emin + 127,
        max_bits,
        near,
        max_bits,
        inf_in,
        int(fmt.has_negzero),
        int(ftz and fmt.has_zero),
        int(fmt.has_zero),
        _f32_bits(fmt.min_normal),
        int(fmt.signed),
        neg_result,
        zero_in,
        rounding.value,
        sr_bits,
        code_off,
        float(2.0 ** (fmt.emin - fmt.mbits)),
    )


@scalar_jit
def quantize_f32_bits(u, c, rnd, r_lo):  # noqa: ANN001, ANN201
    """Float32 bits of the float32 with bits ``u`` rounded per the consts ``c``
    in mode ``rnd`` (a compile-time constant in the kernels, so each mode's
    loop carries only its own rule)."""
    u = np.int64(u) & 0xFFFFFFFF
    s = u & 0x80000000
    neg = s != 0
    a = u & 0x7FFFFFFF
    e = a >> 23
    M = c[C_M]
    eb = max(e, 1)
    sig = (a & 0x7FFFFF) | (np.int64(e != 0) << 23)
    drop = min(23 - M + max(c[C_EMIN_B] - eb, 0), 62)  # exact for every mode up to 62
    lo = sig >> drop
    rem = sig & ((np.int64(1) << drop) - 1)
    half = (np.int64(1) << drop) >> 1
    inexact = rem != 0
    gt_half = rem > half
    eq_half = drop > 0 and rem == half
    # code parity of the truncated value: lo's last bit, or the exponent's when M == 0
    tc = lo + (0 if M > 0 else max(eb - c[C_TRUNC_CODE_OFF], 0))
    odd = (tc & 1) != 0
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
        k = c[C_SR_BITS]
        if k > 0:
            t = (rem << k) >> drop
            up = t + (r_lo & ((np.int64(1) << k) - 1)) >= (np.int64(1) << k)
        else:
            # exact SR, W = 32: up iff r < ceil(frac * 2**32)
            hi = (rem << 32) >> drop
            up = r_lo < hi + ((hi << drop) != (rem << 32))
    else:
        up = False
    m = lo + up
    if e < c[C_EMIN_B]:
        # below the format's smallest normal the result leaves x's binade: m ulps of 2**(emin-M)
        r = np.int64(f32_bits(np.float32(np.float64(m) * c[C_SUB_SCALE])))
    else:
        r = ((eb - 1) << 23) + (m << drop)
    if r > c[C_MAX_BITS]:
        toward = rnd == 2 or rnd == ODD or (rnd == RDN and not neg) or (rnd == RUP and neg)
        r = c[C_OVF_TRUNC] if toward else c[C_OVF_NEAR]
    if c[C_FTZ] != 0 and r < c[C_MIN_BITS]:
        r = np.int64(0)
    if c[C_HAS_ZERO] == 0 and (r < c[C_MIN_BITS] or e + 0 < c[C_EMIN_B]):
        r = c[C_MIN_BITS]
    if a == 0:
        r = c[C_ZERO_IN]
    elif a == _INF32:
        r = c[C_INF_IN]
    if r == 0 and c[C_ZERO_SIGNED] == 0:
        s = np.int64(0)
    if r == _NAN32:
        s = np.int64(0)
    if neg and c[C_SIGNED] == 0 and a != 0:
        r = c[C_NEG_RESULT]
        s = np.int64(0)
    if a > _INF32:
        r = np.int64(_NAN32)
    return np.uint32(r | s)
