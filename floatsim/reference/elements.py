"""The exact oracle: rounding to any format with rational arithmetic.

Every cast path of floatsim (Numba CPU and CUDA kernels, the C++ header) is
checked bit for bit against this module.  It is written from
``docs/semantics.md`` alone, in pure Python with :class:`fractions.Fraction`,
and never imports the fast kernels: slow, obvious, exact.  Ties are found by
exact comparison, never by a tolerance, and formats far outside float64's
range (``ebits`` up to 15, ``mbits`` up to 52) work: results are Fractions.

Values are returned as a :class:`~fractions.Fraction` for finite nonzero
results and as Python floats for NaN, +-inf and the signed zeros (a Fraction
has no -0).

Example:
    >>> from floatsim import reference as ref
    >>> ref.round_value(464.0, "float8_e4m3fn")        # tie to the even code 448
    Fraction(448, 1)
    >>> ref.round_value(465.0, "float8_e4m3fn")        # overflow: NaN (default policy)
    nan
    >>> hex(ref.encode_value(-1.5, "e2m1"))
    '0xb'
"""

from __future__ import annotations

import math
import numbers
from fractions import Fraction

import numpy as np

from ..formats import Format, Overflow, Specials
from ..registry import format as _lookup
from ..rounding import Rounding

__all__ = ["decode_code", "encode_value", "neighbours", "round_value"]

Value = Fraction | float
Number = float | int | Fraction | np.floating | np.integer


# ---- inputs -------------------------------------------------------------------------------
def _to_exact(x: object) -> tuple[Fraction | None, float | None, bool, str | None]:
    """Split an input into (exact value or None, special float or None, sign bit, dtype name).

    The special float is nan or +-inf (the exact value is None then).  The sign
    bit is the input's, also for -0.0 and NaN.  The dtype name is the input's
    float dtype ("float64" for Python floats), None for ints and Fractions.
    """
    if isinstance(x, bool | np.bool_):
        raise TypeError(f"x must be a float, int or Fraction, got a bool ({x!r})")
    if isinstance(x, Fraction):
        return x, None, x < 0, None
    if isinstance(x, int | np.integer):
        return Fraction(int(x)), None, bool(x < 0), None
    if isinstance(x, float):  # Python float and np.float64
        dtype = "float64"
    elif isinstance(x, np.floating):
        if x.dtype.itemsize > 8:
            raise TypeError(f"x of dtype {x.dtype} is wider than float64; pass a Fraction")
        dtype = x.dtype.name
    elif isinstance(x, np.generic) and hasattr(x, "__float__"):  # ml_dtypes scalars
        dtype = type(x).__name__
    elif isinstance(x, numbers.Rational):
        return Fraction(x), None, x < 0, None
    else:
        raise TypeError(
            f"x must be a float, int, Fraction or numpy float scalar, got {type(x).__name__}"
        )
    f = float(x)  # exact: every supported float dtype widens to float64 without rounding
    sign = math.copysign(1.0, f) < 0
    if math.isnan(f) or math.isinf(f):
        return None, f, sign, dtype
    return Fraction(f), None, sign, dtype


def _floor_log2(q: Fraction) -> int:
    """floor(log2(q)) of a positive Fraction, exactly."""
    n, d = q.numerator, q.denominator
    e = n.bit_length() - d.bit_length()  # floor(log2 q) is e or e - 1
    return e if Fraction(2) ** e <= q else e - 1


def _pow2(e: int) -> Fraction:
    return Fraction(2) ** e


# ---- the format's grid ------------------------------------------------------------------
def _spacing(a: Fraction, fmt: Format) -> tuple[int, Fraction]:
    """(exponent of the binade, spacing q) of the format at the magnitude ``a > 0``.

    Below ``2**emin`` the spacing stays that of the lowest binade (subnormals);
    above ``max`` the binades continue as if the format had more of them.
    """
    e = max(_floor_log2(a), fmt.emin)
    return e, _pow2(e - fmt.mbits)


def _code_is_odd(lo: int, e: int, fmt: Format) -> bool:
    """Parity of the magnitude code of ``lo * 2**(e - mbits)`` (codes continued past max).

    With ``mbits >= 1`` the code's last bit is the last bit of ``lo``.  With
    ``mbits == 0`` every code is a whole binade and the code is the exponent
    field ``e + bias`` (zero's code, 0, when ``lo == 0``): ties then go to
    the even *code*, as P3109 and gfloat define it.
    """
    if fmt.mbits >= 1:
        return lo % 2 == 1
    return lo != 0 and (e + fmt.bias) % 2 == 1


def _max_value(fmt: Format) -> Fraction:
    v = fmt.value_exact(fmt.max_mag_code)
    assert isinstance(v, Fraction)
    return v


def _smallest_value(fmt: Format) -> Fraction:
    """The smallest positive value: min_subnormal (codes exist even when flushed)."""
    return _pow2(fmt.emin - fmt.mbits) if fmt.has_zero else _pow2(fmt.emin)


def _round_up(mode: Rounding, frac: Fraction, odd: bool, neg: bool,
              random_bits: int | None, width: int | None, sr_bits: int | None) -> bool:
    """Whether to round the magnitude away from zero: the per-mode table of semantics.md."""
    if frac == 0:
        return False
    half = Fraction(1, 2)
    if mode is Rounding.NEAREST_EVEN:
        return frac > half or (frac == half and odd)
    if mode is Rounding.NEAREST_AWAY:
        return frac >= half
    if mode is Rounding.TOWARD_ZERO:
        return False
    if mode is Rounding.UP:
        return not neg
    if mode is Rounding.DOWN:
        return neg
    if mode is Rounding.ODD:
        return not odd
    assert mode is Rounding.STOCHASTIC and random_bits is not None
    if sr_bits is None:  # exact SR: P(up) = ceil(frac * 2**W) / 2**W
        assert width is not None
        return random_bits < frac * (1 << width)
    # k-bit SR: keep the top k discarded bits, add k random bits, carry into the kept bits
    k = sr_bits
    return math.floor(frac * (1 << k)) + (random_bits % (1 << k)) >= (1 << k)


def _setup(fmt: Format, rounding: Rounding | str, overflow: Overflow | str | None,
           subnormals: bool | None, random_bits: int | None, random_width: int | None,
           sr_bits: int | None) -> tuple[Rounding, Overflow, bool, int | None, int | None,
                                         int | None]:
    """Validate the keyword arguments once: (mode, policy, flush, r, W, k)."""
    mode = Rounding.parse(rounding)
    policy = fmt.overflow if overflow is None else fmt.check_overflow(overflow)
    flush = not (fmt.subnormals if subnormals is None else bool(subnormals))
    if mode is not Rounding.STOCHASTIC:  # the random arguments only matter to SR
        return mode, policy, flush, None, None, None
    _check_sr(random_bits, random_width, sr_bits)
    assert random_bits is not None
    return (mode, policy, flush, int(random_bits),
            None if random_width is None else int(random_width),
            None if sr_bits is None else int(sr_bits))


def _check_sr(random_bits: int | None, random_width: int | None, sr_bits: int | None) -> None:
    if random_bits is None:
        raise ValueError("rounding='stochastic' needs random_bits= (the random integer r)")
    if isinstance(random_bits, bool) or not isinstance(random_bits, int | np.integer):
        raise TypeError(f"random_bits must be an int, got {random_bits!r}")
    if random_width is not None and random_width not in (32, 64):
        raise ValueError(f"random_width={random_width!r} is not valid; allowed: 32, 64")
    limit = 1 << (random_width if random_width is not None else 64)
    if not 0 <= int(random_bits) < limit:
        raise ValueError(f"random_bits={random_bits} is out of range; allowed: 0..{limit - 1}")
    if sr_bits is None:
        if random_width is None:
            raise ValueError(
                "exact stochastic rounding needs random_width= (32 or 64), the width W of r"
            )
    elif isinstance(sr_bits, bool) or not isinstance(sr_bits, int | np.integer) or not (
        1 <= sr_bits <= 32
    ):
        raise ValueError(f"sr_bits={sr_bits!r} is out of range; allowed: 1..32 or None")


# ---- public API -----------------------------------------------------------------------
def round_value(
    x: Number,
    fmt: Format | str,
    rounding: Rounding | str = "nearest_even",
    *,
    overflow: Overflow | str | None = None,
    subnormals: bool | None = None,
    random_bits: int | None = None,
    random_width: int | None = None,
    sr_bits: int | None = None,
    daz: bool = False,
) -> Value:
    """Round ``x`` to ``fmt`` exactly, following docs/semantics.md rule by rule.

    Args:
        x: a Python float, int or Fraction, or a numpy / ml_dtypes float scalar
            (float16, bfloat16, float32, float64: converted exactly).
        fmt: a :class:`Format` or a name for :func:`floatsim.format`.
        rounding: a :class:`Rounding` member or its name.
        overflow: overrides ``fmt.overflow`` ('saturate', 'inf', 'nan').
        subnormals: overrides ``fmt.subnormals``; False flushes results below
            ``min_normal`` to zero *after* rounding.
        random_bits: the random integer ``r`` of stochastic rounding (required
            for it, ignored by the other modes).
        random_width: ``W``, the width of ``r`` (32 or 64): exact SR rounds
            away iff ``r < frac * 2**W``.  Required for exact SR.
        sr_bits: ``k`` (1..32) for k-bit SR: away iff
            ``floor(frac * 2**k) + (r mod 2**k) >= 2**k``.  None: exact SR.
        daz: denormals-are-zero: an input subnormal *in its own dtype*
            (float64 for Python floats) becomes a zero of its sign.

    Returns:
        The exact result: a Fraction when finite and nonzero, otherwise one of
        the floats nan, inf, -inf, 0.0, -0.0.

    The rules, in the order they apply:

    1. NaN gives NaN (also for formats without NaN: see :func:`encode_value`).
    2. ``daz=True``: inputs subnormal in their dtype become signed zeros.
    3. Unsigned formats: ``x < 0`` (with ``-inf``) gives NaN where the format
       has NaN, else 0; ``-0`` gives ``+0``.
    4. Zero keeps its sign where the format has -0, else +0; a format without
       zero (E8M0) maps +-0 to NaN.
    5. +-inf stays +-inf where the format has infinities and the policy is
       not saturate; otherwise saturate gives +-max and nan gives NaN.
    6. Finite nonzero ``x``: with ``q`` the spacing at ``x`` (``2**(max(e,
       emin) - mbits)``), ``lo = floor(|x|/q)``, ``frac = |x|/q - lo``, the
       magnitude is ``(lo + up) * q`` with ``up`` from the per-mode table.
       Ties to even look at the parity of the *code* of ``lo*q``: for
       ``mbits == 0`` that is the parity of the exponent field.  Formats
       without zero give their smallest value for ``|x|`` below it.
    7. Overflow (magnitude above max): toward_zero, odd, down for ``x > 0``
       and up for ``x < 0`` give +-max whatever the policy (IEEE 754's
       direction rule); otherwise saturate gives +-max, inf +-inf, nan NaN.
    8. Flush to zero (``subnormals=False``): a nonzero result below
       ``min_normal`` after rounding becomes a zero of ``x``'s sign.
    9. A zero result from nonzero ``x`` keeps ``x``'s sign where the format
       has -0.

    Where a rule asks for a value the format lacks (0 in an unsigned format
    without zero or NaN), the result is NaN and :func:`encode_value` raises.

    Example:
        >>> round_value(5.0, "e2m1")                    # tie between 4 and 6: even code 4
        Fraction(4, 1)
        >>> round_value(1e6, "e4m3fn", "toward_zero")   # direction rule: max, not NaN
        Fraction(448, 1)
        >>> round_value(Fraction(1, 3), "e5m2", "up")
        Fraction(3, 8)
        >>> round_value(-1e-9, "e4m3fn"), round_value(-1e-9, "e4m3fnuz")
        (-0.0, 0.0)
        >>> round_value(3.0, "e8m0")                    # tie: even exponent code, 2 not 4
        Fraction(2, 1)
        >>> round_value(1.25, "e2m1", "sr", random_bits=2**30, random_width=32)
        Fraction(3, 2)
    """
    fmt = _lookup(fmt)
    setup = _setup(fmt, rounding, overflow, subnormals, random_bits, random_width, sr_bits)
    return _round(x, fmt, *setup, daz)[0]


def _round(x: object, fmt: Format, mode: Rounding, policy: Overflow, flush: bool,
           r: int | None, w: int | None, k: int | None, daz: bool) -> tuple[Value, bool]:
    """The rounding itself; returns (result, sign bit for a NaN or zero result)."""
    nan = math.nan
    exact, special, neg, dtype = _to_exact(x)

    # 1. NaN
    if special is not None and math.isnan(special):
        return nan, neg
    # 2. denormals-are-zero, judged in the input's own dtype
    if daz and exact is not None and exact != 0:
        if dtype is None:
            raise ValueError("daz=True needs a float input (its dtype decides what is subnormal)")
        if abs(exact) < _pow2(_lookup(dtype).emin):  # the dtype's own smallest normal
            exact = Fraction(0)
    # 3. unsigned formats: negatives are NaN (or 0), -0 is +0
    if not fmt.signed and neg:
        if exact is not None and exact == 0:
            neg = False
        else:
            return (nan if fmt.has_nan else (0.0 if fmt.has_zero else nan)), False
    # 4. zero
    if exact is not None and exact == 0:
        if not fmt.has_zero:
            return nan, neg
        return (-0.0 if neg and fmt.has_negzero else 0.0), neg

    top = _max_value(fmt)
    if special is not None:
        # 5. infinities: kept where the format has them, unless saturating
        if fmt.has_inf and policy is not Overflow.SATURATE:
            return special, neg
        mag = top + 1  # beyond max: the policy decides below (no direction rule for inf)
    else:
        # 6. finite nonzero x
        assert exact is not None
        a = abs(exact)
        if not fmt.has_zero and a < _pow2(fmt.emin):
            mag = _pow2(fmt.emin)  # below the smallest value: the smallest value, in every mode
        else:
            e, q = _spacing(a, fmt)
            scaled = a / q
            lo = math.floor(scaled)
            frac = scaled - lo
            up = _round_up(mode, frac, _code_is_odd(lo, e, fmt), neg, r, w, k)
            mag = (lo + up) * q
        # 7. overflow: IEEE 754's direction rule for the truncating directions
        truncating = mode in (Rounding.TOWARD_ZERO, Rounding.ODD) or (
            mode is Rounding.DOWN and not neg) or (mode is Rounding.UP and neg)
        if mag > top and truncating:
            mag = top
    # 7. overflow: the policy
    if mag > top:
        if policy is Overflow.INF:
            return (-math.inf if neg else math.inf), neg
        if policy is Overflow.NAN:
            return nan, neg
        mag = top
    # 8. flush to zero after rounding (also a saturated max below min_normal: ebits == 0)
    if flush and fmt.has_zero and 0 < mag < _pow2(fmt.emin):
        mag = Fraction(0)
    # 9. zero results keep x's sign where -0 exists
    if mag == 0:
        return (-0.0 if neg and fmt.has_negzero else 0.0), neg
    return (-mag if neg else mag), neg


def encode_value(
    x: Number,
    fmt: Format | str,
    rounding: Rounding | str = "nearest_even",
    *,
    overflow: Overflow | str | None = None,
    subnormals: bool | None = None,
    random_bits: int | None = None,
    random_width: int | None = None,
    sr_bits: int | None = None,
    daz: bool = False,
) -> int:
    """Round ``x`` like :func:`round_value` and return the result's code.

    Codes are ``sign << (ebits+mbits) | magnitude`` (no sign bit when
    unsigned).  A NaN result gets the canonical NaN code: IEEE ``exponent all
    ones, mantissa 2**(mbits-1)`` and FN ``magnitude all ones``, both with the
    input's sign bit in signed formats; FNUZ / signed P3109 the negative-zero
    code; unsigned formats their NaN code.  A NaN result in a format without
    NaN raises ValueError (:func:`round_value` returns NaN there).

    Example:
        >>> encode_value(448.0, "e4m3fn"), encode_value(-1e9, "e4m3fn")
        (126, 255)
        >>> encode_value(float("nan"), "e4m3fnuz"), encode_value(-0.0, "e5m2")
        (128, 128)
        >>> encode_value(float("nan"), "e2m1")
        Traceback (most recent call last):
        ...
        ValueError: NaN cannot be encoded in float4_e2m1fn: the format has no NaN
    """
    fmt = _lookup(fmt)
    setup = _setup(fmt, rounding, overflow, subnormals, random_bits, random_width, sr_bits)
    v, neg = _round(x, fmt, *setup, daz)
    return _code_of(v, neg, fmt)


def _code_of(v: Value, neg: bool, fmt: Format) -> int:
    """The code of a value of ``fmt`` (``neg``: the sign bit for NaN and zeros)."""
    mag_bits = fmt.ebits + fmt.mbits
    sign_bit = 1 << mag_bits if fmt.signed else 0
    if isinstance(v, float) and math.isnan(v):
        if not fmt.has_nan:
            raise ValueError(f"NaN cannot be encoded in {fmt}: the format has no NaN")
        code = fmt.nan_code
        signed_nans = fmt.signed and fmt.specials in (Specials.IEEE, Specials.FN)
        return code | sign_bit if signed_nans and neg else code
    if isinstance(v, float) and math.isinf(v):
        return fmt.inf_mag_code | (sign_bit if v < 0 else 0)
    if v == 0:
        return sign_bit if isinstance(v, float) and math.copysign(1.0, v) < 0 else 0
    a = abs(Fraction(v))
    sign = sign_bit if v < 0 else 0
    if fmt.has_zero and a < _pow2(fmt.emin):
        ef, mf = 0, a / _pow2(fmt.emin - fmt.mbits)
    else:
        e = _floor_log2(a)
        ef = e + fmt.bias  # the exponent field of a normal binade: e = ef - bias
        mf = a / _pow2(e - fmt.mbits) - (1 << fmt.mbits)
    if mf.denominator != 1 or not 0 <= ef < (1 << max(fmt.ebits, 1)):
        raise ValueError(f"{v} is not a value of {fmt}")
    mag = (ef << fmt.mbits) | int(mf)
    if mag > fmt.max_mag_code:
        raise ValueError(f"{v} is not a finite value of {fmt}")
    return sign | mag


def decode_code(code: int, fmt: Format | str) -> Value:
    """The exact value of ``code`` in ``fmt``: a Fraction, or nan / +-inf / +-0.0.

    Example:
        >>> decode_code(0x7E, "e4m3fn"), decode_code(0, "e8m0"), decode_code(0x80, "e5m2")
        (Fraction(448, 1), Fraction(1, 170141183460469231731687303715884105728), -0.0)
    """
    fmt = _lookup(fmt)
    v = fmt.value_exact(code)
    return 0.0 if isinstance(v, Fraction) and v == 0 else v


def neighbours(x: Number, fmt: Format | str) -> tuple[Fraction | None, Fraction | None]:
    """The finite values of ``fmt`` adjacent to finite ``x``: ``(below, above)``.

    ``below`` is the largest finite value ``<= x``, ``above`` the smallest
    finite value ``>= x`` (both ``x`` when it is representable); None where no
    finite value lies on that side.  Every code's value counts, subnormals
    included (the format's flush-to-zero setting is an output rule, not a
    property of the grid).  Zeros are ``Fraction(0)``.

    Example:
        >>> neighbours(5.5, "e2m1")
        (Fraction(4, 1), Fraction(6, 1))
        >>> neighbours(7.0, "e2m1"), neighbours(-0.1, "e8m0")
        ((Fraction(6, 1), None), (None, Fraction(1, 170141183460469231731687303715884105728)))
    """
    fmt = _lookup(fmt)
    exact, special, _, _ = _to_exact(x)
    if exact is None:
        raise ValueError(f"neighbours() needs a finite x, got {special}")
    top = _max_value(fmt)
    small = _smallest_value(fmt)
    zero = Fraction(0)
    lowest = -top if fmt.signed else (zero if fmt.has_zero else small)
    if exact > top:
        return top, None
    if exact < lowest:
        return None, lowest

    def magnitude_pair(a: Fraction) -> tuple[Fraction | None, Fraction]:
        """(largest grid magnitude <= a or None, smallest >= a) for 0 <= a <= top."""
        if a == 0 or (not fmt.has_zero and a < small):
            return (zero if fmt.has_zero else None), (zero if a == 0 and fmt.has_zero else small)
        _, q = _spacing(a, fmt)
        lo = math.floor(a / q) * q
        hi = lo if lo == a else lo + q
        return (lo if lo or fmt.has_zero else None), hi

    if exact >= 0:
        below, above = magnitude_pair(exact)
        if below is None and fmt.signed:
            below = -small
        return below, above
    below_mag, above_mag = magnitude_pair(-exact)
    above = small if below_mag is None else -below_mag
    return -above_mag, above
