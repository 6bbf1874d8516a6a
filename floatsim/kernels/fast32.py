"""The float32 fast path: the same rules as :mod:`.scalar`, specialised to
float32 inputs and outputs and formats whose values are all float32 values.

The general routine works on float64 bit patterns and produces a code; this
one rounds the float32 bit pattern in place (the result's float32 bits are
the output), which keeps every step in one short, branch-free integer
sequence that LLVM vectorises.  It is checked against ``scalar.encode_bits``
on all 2**32 float32 inputs (tests/test_cast.py, slow) and on a large
strided sample in CI.  The CUDA kernels call a GPU form of it (``gpu=True``,
:func:`quantize_f32_bits`), checked against this one the same way.

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
from .abi import ODD, RDN, RNA, RNE, ROUNDING_CODE, RTZ, RUP, SR
from .forms import FLOAT
from .intrinsics import (
    f32_bits,
    f32_ceil,
    f32_ceil_u32,
    f32_from_bits,
    f32_mul_up,
    f32_rint,
    f32_rna,
    f32_trunc,
    scalar_jit,
)

U32 = np.uint32

_NAN32 = 0x7FC00000
_INF32 = 0x7F800000
_TWO_M126 = 2.0**-126
_TWO_126 = 2.0**126

# Tuple layout of make_consts (the fast path's ABI).
C_M, C_EMIN_B, C_MAX_BITS, C_OVF_NEAR, C_OVF_TRUNC, C_INF_IN, C_ZERO_SIGNED = range(7)
C_FTZ, C_HAS_ZERO, C_MIN_BITS, C_SIGNED, C_NEG_RESULT, C_ZERO_IN, C_RND, C_SR_BITS = range(7, 15)
C_TRUNC_CODE_OFF, C_SUB_SCALE = 15, 16


def _f32_bits(v: float) -> int:
    # formats wider than float32 (block scales, tensor formats) get constants
    # too, which only the fast path reads and it never takes them: no warning
    with np.errstate(over="ignore", under="ignore"):
        return int(np.float32(v).view(np.uint32))


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
        ROUNDING_CODE[rounding],
        sr_bits,
        code_off,
        float(2.0 ** (fmt.emin - fmt.mbits)),
    )


@scalar_jit
def _round_up(rnd, c, neg, rem, d, odd, r_lo, narrow):  # noqa: ANN001, ANN201
    """Whether the magnitude rounds up, dropping ``d`` bits whose value is
    ``rem`` (``rem < 2**d``; ``d`` may exceed 31 only below the normal range,
    where ``rem`` is the whole significand).  ``narrow`` (a compile-time
    constant) promises ``d <= 31``: SR then takes a shorter form."""
    inexact = rem != 0
    if rnd == RNE or rnd == RNA:
        # 2 * rem against 2**d; past d = 31 the step only has to exceed 2 * rem < 2**25
        two_rem = U32(rem << 1)
        step = U32(U32(1) << min(d, U32(31)))
        if rnd == RNE:
            # above half, or a tie of an odd code (two_rem + 1 cannot wrap: two_rem is even)
            return U32(two_rem + U32(odd)) > step
        return two_rem >= step
    if rnd == RUP:
        return inexact and not neg
    if rnd == RDN:
        return inexact and neg
    if rnd == ODD:
        return inexact and not odd
    if rnd == SR:
        # Up iff the random word, aligned so its top bit sits under the
        # dropped field's, carries out of the field when added to it: for k
        # bits that is r_k + the field's top k bits >= 2**k; exact SR (W = 32,
        # up iff r < the field as a 32-bit fraction, rounded up past d = 32)
        # is the same carry with ~r.
        k = U32(c[C_SR_BITS])
        r = U32(r_lo)
        if narrow:
            # the field as an exact 32-bit fraction (d == 0 has rem == 0),
            # r's bits added to it from the top: fewer operations than the
            # general form below (MXFP8 SR 4% faster, e4m3 SR 2%)
            big = U32(r << U32(32 - k)) if k > 0 else U32(~r)
            frac = U32(rem << U32(min(U32(U32(32) - d), U32(31))))
            return big > U32(~frac)
        # any d: one variable shift moves the random word under the field
        # instead; past d = 32, rem is the whole significand: its top 32 bits
        # of fraction
        d32 = U32(min(U32(max(d, U32(32)) - U32(32)), U32(24)))
        if k > 0:
            big = U32(r << U32(32 - k))
            cadd = U32(0)
        else:
            big = U32(~r)
            cadd = U32(U32(U32(1) << d32) - U32(1))
        frac = U32(U32(rem + cadd) >> d32)
        s = U32(min(U32(U32(32) - min(d, U32(32))), U32(31)))
        return U32(big >> s) > U32(U32(U32(0xFFFFFFFF) >> s) - frac)
    return False


@scalar_jit
def quantize_f32_bits(u, c, rnd, r_lo, branch=False, gpu=False):  # noqa: ANN001, ANN201
    """Float32 bits of the float32 with bits ``u`` rounded per the consts ``c``
    in mode ``rnd`` (a compile-time constant in the kernels, so each mode's
    loop carries only its own rule).

    ``branch`` and ``gpu`` are compile-time constants too; the CPU kernels
    leave both off (SIMD code computes both sides of a branch: one
    branch-free sequence is fastest there).  ``gpu`` is the CUDA kernels'
    form (docs/gpu.md says which kernel takes which): an element inside the
    format's range with no special case (the common one) leaves after one
    range test instead of :func:`_finish`'s dozen selects, and below the
    normal range the result is built from integer bits rather than a float
    product.  ``branch`` (:func:`gpu_branch`) gives the format's normal range
    a branch of its own, where the dropped bits are a fixed field of ``u``
    and the directed and nearest modes round by one add and one mask; a
    warp whose inputs are all normal skips the variable shift.

    Every intermediate fits in 32 bits and every shift count is below 32, so
    the compiler keeps the arithmetic 32 bits wide (Numba types integer
    arithmetic as 64-bit; the ``U32`` truncations let LLVM narrow it back):
    about twice the speed on one CPU core, and single instructions on the GPU,
    whose 64-bit shifts and compares take two or more.  In the format's
    normal range the dropped bits are a fixed field of ``u`` (one constant
    shift, rounding carries into the exponent on its own); below it the
    shift grows and the result is rebuilt from its step count.
    """
    u = U32(u)
    a = U32(u & 0x7FFFFFFF)
    s = U32(u ^ a)
    neg = s != 0
    e = U32(a >> 23)
    M = U32(c[C_M])
    emin_b = U32(c[C_EMIN_B])
    d0 = U32(min(U32(23 - M), U32(31)))  # the bound lets the shifts stay 32-bit
    off = U32(c[C_TRUNC_CODE_OFF])
    if branch == FLOAT:
        r = _float_route(a, e, M, emin_b, rnd, neg, r_lo)
    elif branch and e >= emin_b:
        r = _round_normal(a, d0, M, off, c, rnd, neg, r_lo)
    else:
        r = _general_f32(a, e, M, emin_b, d0, off, c, rnd, neg, r_lo, gpu)
    if gpu:
        # inside [lo, max] and a finite nonzero input of an allowed sign:
        # nothing of _finish applies (lo excludes 0 where zero is unsigned,
        # flushed or absent; for an unsigned format the sign bit makes the
        # key too large)
        lo = _low_limit(c)
        if c[C_ZERO_SIGNED] == 0:
            lo = max(lo, U32(1))
        key = U32(u & U32(0x7FFFFFFF if c[C_SIGNED] != 0 else 0xFFFFFFFF))
        if U32(key - U32(1)) < U32(_INF32 - 1) and U32(r - lo) <= U32(U32(c[C_MAX_BITS]) - lo):
            return U32(r | s)
    return _finish(r, a, s, c, rnd, neg)


@scalar_jit
def _float_route(a, e, M, emin_b, rnd, neg, r_lo):  # noqa: ANN001, ANN201
    """Rounded magnitude bits of ``a`` by float arithmetic, for formats where
    :func:`fits_float_route` holds (kernels pick it by :func:`gpu_form`).

    q = |x| * 2**(M - E), E = max(x's exponent, emin), is exact and below
    2**(M + 1); its integer part is the kept significand (with the leading
    bit in the normal range), its fraction the dropped bits.  Rounding q to
    an integer in the mode's direction and scaling back is the cast.  Most of
    this runs on the GPU's FMA pipe, which has twice the integer pipe's rate:
    the integer sequence spends most of its instructions on the variable
    shift that a narrow format's lanes, split between its normal and
    subnormal ranges, cannot branch around.  SR is exact: up iff the 32-bit
    word is below ceil(frac * 2**32), the frac as a 32-bit fraction rounded
    up, as in :func:`_round_up`.  Inf and NaN give some NaN or Inf here;
    :func:`_finish` replaces them.
    """
    eb = U32(max(e, emin_b))
    s1 = f32_from_bits(U32(U32(M + U32(254) - eb) << 23))  # 2**(M - E)
    s2 = f32_from_bits(U32(U32(eb - M) << 23))  # 2**(E - M)
    # rounded up, so that an input far below the format's smallest step
    # (possible once a block's scale shifts emin up) stays nonzero: every q
    # under 2**-32 rounds alike, by its being nonzero
    q = f32_mul_up(f32_from_bits(a), s1)
    if rnd == RNE:
        t = f32_rint(q)
    elif rnd == RNA:
        t = f32_rna(q)
    elif rnd == RTZ:
        t = f32_trunc(q)
    elif rnd == RUP:
        t = f32_trunc(q) if neg else f32_ceil(q)
    elif rnd == RDN:
        t = f32_ceil(q) if neg else f32_trunc(q)
    else:
        fl = f32_trunc(q)
        up = U32(r_lo) < f32_ceil_u32((q - fl) * np.float32(4294967296.0))
        t = fl + np.float32(1.0) if up else fl
    return U32(f32_bits(t * s2))


@scalar_jit
def _round_normal(a, d0, M, off, c, rnd, neg, r_lo):  # noqa: ANN001, ANN201
    """Rounded magnitude bits of ``a`` in the format's normal range, where
    the ``d0`` dropped bits are a fixed field and a carry out of them moves
    into the exponent on its own: the modes without random bits add a bias
    and clear the field."""
    mask = U32(U32(U32(1) << d0) - U32(1))
    # parity of the truncated code: the last kept bit; for M == 0 the
    # exponent field's, less the code offset, plus the implicit bit
    odd_xor = U32(U32(off + 1) & 1) if M == 0 else U32(0)
    odd = U32(U32(U32(a >> d0) ^ odd_xor) & 1)
    if rnd == RNE or rnd == RNA or rnd == RTZ or rnd == RUP or rnd == RDN:
        if rnd == RNE:
            bias = U32(U32(U32(mask >> 1) + odd) & mask)  # half - 1 + odd; 0 when d0 == 0
        elif rnd == RNA:
            bias = U32(U32(mask + U32(1)) >> 1)
        elif rnd == RTZ:
            bias = U32(0)
        elif rnd == RUP:
            bias = U32(0) if neg else mask
        else:
            bias = mask if neg else U32(0)
        return U32(U32(a + bias) & U32(~mask))
    rem = U32(a & mask)
    up = _round_up(rnd, c, neg, rem, d0, odd != 0, r_lo, True)
    return U32(U32(a - rem) + U32(U32(up) << d0))


@scalar_jit
def _general_f32(a, e, M, emin_b, d0, off, c, rnd, neg, r_lo, gpu):  # noqa: ANN001, ANN201
    """Rounded magnitude bits for any exponent: the dropped-bit count grows
    below the normal range, where the result is rebuilt from its step count."""
    eb = U32(max(e, U32(1)))
    sig = U32(a - U32(U32(eb - U32(1)) << 23))  # the fraction and the leading bit
    # bits dropped: 23 - M in the normal range, more below it; past 31 the
    # value is under half the smallest step and only its sticky bit and (for
    # SR) the ceiling of its fraction matter
    d = U32(min(U32(d0 + U32(max(emin_b, eb) - eb)), U32(56)))
    dc = U32(min(d, U32(31)))
    lo = U32(sig >> dc)
    rem = U32(sig - U32(lo << dc))
    tc = U32(lo + (0 if M > 0 else U32(max(eb, off) - off)))
    up = _round_up(rnd, c, neg, rem, d, U32(tc & 1) != 0, r_lo, False)
    if gpu:
        if d <= 23:
            # the result keeps a's leading bit: clear the dropped field and
            # add the carry, which moves into the exponent on its own (float32
            # bit patterns are linear in the value through the subnormals)
            return U32(U32(a - rem) + U32(U32(up) << dc))
        # below half a step the significand is all dropped: 0 or one step
        return U32(f32_bits(np.float32(c[C_SUB_SCALE]))) if up else U32(0)
    if e >= emin_b:
        # in the normal range the dropped bits are a field of a: rounding up
        # carries into the exponent on its own
        return U32(U32(a - rem) + U32(U32(up) << dc))
    # below it the result leaves x's binade: m steps of 2**(emin - M),
    # m <= 2**23, so 2**23 + m is exact as a float32.  The step is applied
    # as two normal factors (a subnormal operand costs x86 a microcode
    # assist per SIMD lane).  This is the CPU's form: vectorised, it runs
    # 1.3x faster than the integer form above, which the GPU prefers.
    m = U32(lo + up)
    mf = f32_from_bits(U32(0x4B000000 + m)) - np.float32(8388608.0)
    step = c[C_SUB_SCALE]
    step_b = step * _TWO_126 if step < _TWO_M126 else 1.0
    step_a = step if step >= _TWO_M126 else _TWO_M126
    return U32(f32_bits((mf * np.float32(step_a)) * np.float32(step_b)))


@scalar_jit
def _low_limit(c):  # noqa: ANN001, ANN201
    """The smallest rounded magnitude kept as it is: min_normal where results
    below it are flushed (FTZ) or raised (no zero), else 0."""
    return U32(c[C_MIN_BITS]) if c[C_FTZ] != 0 or c[C_HAS_ZERO] == 0 else U32(0)


@scalar_jit
def _finish(r, a, s, c, rnd, neg):  # noqa: ANN001, ANN201
    """Overflow, flushing, specials and sign of the rounded magnitude bits ``r``."""
    if r > U32(c[C_MAX_BITS]):
        toward = rnd == RTZ or rnd == ODD or (rnd == RDN and not neg) or (rnd == RUP and neg)
        r = U32(c[C_OVF_TRUNC]) if toward else U32(c[C_OVF_NEAR])
    # below min_normal: flushed to zero (FTZ) or raised to it (no zero)
    low_limit = _low_limit(c)
    if r < low_limit:
        r = U32(0) if c[C_FTZ] != 0 else U32(c[C_MIN_BITS])
    if a == 0:
        r = U32(c[C_ZERO_IN])
    elif a == _INF32:
        r = U32(c[C_INF_IN])
    if (r == 0 and c[C_ZERO_SIGNED] == 0) or r == _NAN32:
        s = U32(0)
    if neg and c[C_SIGNED] == 0 and a != 0:
        r = U32(c[C_NEG_RESULT])
        s = U32(0)
    if a > _INF32:
        r = U32(_NAN32)
    return U32(r | s)
