"""Tests of the exact oracle, floatsim.reference.

Three independent checks: ml_dtypes' casts (nearest-even, the formats it has),
gfloat's round_float (five rounding modes, saturating or not), and property
tests over random formats against the rules of docs/semantics.md, including a
brute-force nearest search over every code.  Golden examples close the file.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from functools import lru_cache

import ml_dtypes
import numpy as np
import pytest
from gfloat import RoundMode, round_float
from gfloat.formats import sample_formats
from gfloat.types import FormatInfo
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from ml_support import E8M0_SUBNORMALS_ROUND_UP, ML_NAMES, ml_type

import floatsim as fs
from floatsim import reference as ref
from floatsim.formats import Format, Specials
from floatsim.rounding import Rounding

# ---- helpers ------------------------------------------------------------------------------

DETERMINISTIC = [m for m in Rounding if m is not Rounding.STOCHASTIC]


def exact(v: Fraction | float) -> Fraction:
    """A finite result as a Fraction (zeros of either sign become 0)."""
    assert not (isinstance(v, float) and (math.isnan(v) or math.isinf(v))), v
    return Fraction(v)


def is_nan(v: Fraction | float) -> bool:
    return isinstance(v, float) and math.isnan(v)


def half_ulp_at_max(fmt: Format) -> Fraction:
    return Fraction(2) ** (fmt.emax - fmt.mbits - 1)


def neighbour_probes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(finite values, midpoints of adjacent finite values) of a values() table, float64."""
    finite = np.unique(values[np.isfinite(values)])  # sorted; -0 and +0 merge
    return finite, (finite[1:] + finite[:-1]) / 2  # exact: one more bit than the format


def assert_same(ours: np.ndarray, theirs: np.ndarray, xs: np.ndarray, what: str) -> None:
    """Equal element by element: NaN where NaN, equal values, equal signs of zeros."""
    bad = ~((np.isnan(ours) & np.isnan(theirs)) | (ours == theirs))
    bad |= (ours == 0) & (np.signbit(ours) != np.signbit(theirs))
    if bad.any():
        i = np.flatnonzero(bad)[:8]
        pairs = list(zip(xs[i].tolist(), ours[i].tolist(), theirs[i].tolist(), strict=True))
        pytest.fail(f"{what}: {bad.sum()} mismatches (x, ours, theirs): {pairs}")


# ---- against ml_dtypes (nearest-even) --------------------------------------------------
def ml_probes(fmt: Format, stride: int) -> np.ndarray:
    """float32 inputs: values, midpoints +- one float32 ulp, the overflow region, specials."""
    finite, mids = neighbour_probes(fmt.values())
    idx = np.arange(0, len(mids), stride)
    f32 = np.float32
    mids32 = mids[idx].astype(f32)
    assert (mids32 == mids[idx]).all(), "midpoints must be float32 numbers"
    top, half = float(fmt.max), float(half_ulp_at_max(fmt))
    edge64 = np.array(
        [top, top + half, 2 * top, 1e30, np.finfo(f32).max, np.inf, 0.0, 1e-45, 1e-40, 2.0**-130,
         2.0**-128, 1.5 * 2.0**-128, 1.2 * 2.0**-127, 1.2 * 2.0**-126, np.nan],
        dtype=np.float64,
    )
    with np.errstate(over="ignore"):
        edge = edge64.astype(f32)  # 2 * top overflows float32 for bfloat16: inf
    edge = np.concatenate([edge, np.nextafter(edge[:3], f32(np.inf)),
                           np.nextafter(edge[:3], f32(-np.inf))])
    up, down = np.nextafter(mids32, f32(np.inf)), np.nextafter(mids32, f32(-np.inf))
    # finite and mids hold both signs already (unsigned formats: no negatives to test)
    return np.concatenate([finite[idx].astype(f32), mids32, up, down, edge, -edge])


@pytest.mark.parametrize("name", ML_NAMES)
def test_nearest_even_matches_ml_dtypes(name: str) -> None:
    fmt = fs.format(name)
    xs = ml_probes(fmt, stride=5 if fmt.bits == 16 else 1)
    if not fmt.has_nan:
        # (a) NaN into a format without NaN: ml_dtypes returns an arbitrary code (e2m1: -0),
        # floatsim's quantize returns NaN and encode raises (semantics.md rule 1).
        xs = xs[~np.isnan(xs)]
    with np.errstate(invalid="ignore", over="ignore"):
        theirs = xs.astype(ml_type(name)).astype(np.float64)
    ours = np.array([float(ref.round_value(x, fmt)) for x in xs])
    if name == "float8_e8m0fnu":
        # (b) ml_dtypes rounds E8M0 ties up: 3.0 -> 4.0 and 1.5 * 2**127 -> NaN.  floatsim
        # follows P3109 / gfloat: a tie goes to the even *code* (semantics.md rule 6), so
        # 3.0 (between codes 128 = 2.0 and 129 = 4.0) gives 2.0.  Ties whose lower code is
        # odd (1.5 between 127 = 1.0 and 128 = 2.0) agree.
        mant, exp = np.frexp(np.abs(xs.astype(np.float64)))  # |x| = mant * 2**exp
        lower_code = exp - 1 + fmt.bias
        even_tie = (mant == 0.75) & (lower_code % 2 == 0) & (xs > 0)
        assert even_tie.sum() >= 60
        lower = np.ldexp(1.0, exp - 1)
        np.testing.assert_array_equal(ours[even_tie], lower[even_tie])
        upper = np.where(exp[even_tie] - 1 < fmt.emax, 2 * lower[even_tie], np.nan)
        np.testing.assert_array_equal(theirs[even_tie], upper)
        assert float(ml_dtypes.float8_e8m0fnu(3.0)) == 4.0
        assert ref.round_value(3.0, fmt) == 2
        # (c) ml_dtypes before 0.7 rounds every float32 *subnormal* input above 2**-127 up
        # to 2**-126 (1.2 * 2**-127 -> 2**-126), though it is nearer 2**-127; normal inputs
        # round to nearest (1.2 * 2**-126 -> 2**-126).  floatsim, and ml_dtypes 0.7, round
        # to nearest.
        low = (xs > 2.0**-127) & (xs < 1.5 * 2.0**-127)
        assert low.sum() >= 2
        np.testing.assert_array_equal(ours[low], 2.0**-127)
        np.testing.assert_array_equal(theirs[low], 2.0**-126 if E8M0_SUBNORMALS_ROUND_UP else 2.0**-127)
        keep = ~(even_tie | low)
        xs, ours, theirs = xs[keep], ours[keep], theirs[keep]
    assert_same(ours, theirs, xs, name)


# ---- against gfloat (five modes, saturating or not) ---------------------------------------
GFLOAT_SMALL = [fi for fi in sample_formats if not fi.is_twos_complement and fi.k <= 16]
GFLOAT_MODES = {
    RoundMode.TiesToEven: Rounding.NEAREST_EVEN,
    RoundMode.TiesToAway: Rounding.NEAREST_AWAY,
    RoundMode.TowardZero: Rounding.TOWARD_ZERO,
    RoundMode.TowardPositive: Rounding.UP,
    RoundMode.TowardNegative: Rounding.DOWN,
}


def gfloat_probes(fmt: Format, stride: int) -> list[float]:
    """float64 inputs: values, midpoints, just off the midpoints, the overflow region."""
    finite, mids = neighbour_probes(fmt.values())
    idx = np.arange(0, len(mids), stride)
    nudge = 2.0**-30  # exact: the format's values have at most 11 significant bits
    top, half = fmt.max, float(half_ulp_at_max(fmt))
    edge = np.array([top, top + half, 2 * top, 1e300, 1e-300])
    edge = np.concatenate([edge, edge * (1 + nudge), edge * (1 - nudge)])
    mids = mids[idx]
    # finite and mids hold both signs already (unsigned formats: no negatives to test)
    xs = np.concatenate([finite[idx], mids, mids * (1 + nudge), mids * (1 - nudge), edge, -edge])
    return [*xs.tolist(), math.inf, -math.inf, 0.0, -0.0] + ([math.nan] if fmt.has_nan else [])


def gfloat_excluded(fmt: Format, x: float) -> bool:
    """Inputs where gfloat's round_float departs from semantics.md (tested on their own)."""
    if not fmt.signed and math.copysign(1.0, x) < 0:
        # Unsigned formats: gfloat ignores the sign only when extracting it, then rounds the
        # negative value as if signed (-1.0 -> -1.0, -inf -> inf).  semantics.md rule 3:
        # NaN (or 0 without NaN); -0 -> +0.
        return True
    # Without zero (E8M0): gfloat returns 0.0 for 0 and leaves values below 2**-127 in
    # their own binade (2**-130 -> 2**-130, not a value of E8M0).  Rule 4: 0 -> NaN; rule 6:
    # below the smallest value -> the smallest value.
    return not fmt.has_zero and abs(x) < fmt.min_normal


@pytest.mark.parametrize("fi", GFLOAT_SMALL, ids=lambda fi: fi.name)
def test_rounding_matches_gfloat(fi: FormatInfo) -> None:
    fmt = fs.format(fi.name)
    xs = [x for x in gfloat_probes(fmt, 97 if fi.k == 16 else 1) if not gfloat_excluded(fmt, x)]
    failures = []
    for gmode, mode in GFLOAT_MODES.items():
        for sat in (False, True):
            for x in xs:
                ours = float(ref.round_value(x, fmt, mode, overflow="saturate" if sat else None))
                try:
                    theirs = round_float(fi, x, gmode, sat)
                except ValueError:
                    # gfloat refuses an overflow with sat=False in a format without inf and
                    # NaN; floatsim's default policy there is 'saturate' (the OCP rule).
                    assert not fmt.has_inf and not fmt.has_nan and fmt.overflow.value == "saturate"
                    theirs = round_float(fi, x, gmode, True)
                same = (math.isnan(ours) and math.isnan(theirs)) or (
                    ours == theirs and math.copysign(1, ours) == math.copysign(1, theirs)
                )
                if not same:
                    failures.append((x, mode.name, sat, ours, theirs))
    assert not failures, failures[:10]


def test_gfloat_exclusions_are_our_rules() -> None:
    u = fs.format("p3109_k8p3ue")
    assert math.isnan(ref.round_value(-1.0, u)) and math.isnan(ref.round_value(-math.inf, u))
    assert ref.round_value(-0.0, u) == 0 and math.copysign(1, ref.round_value(-0.0, u)) == 1
    e8m0 = fs.format("e8m0")
    assert math.isnan(ref.round_value(0.0, e8m0)) and math.isnan(ref.round_value(-0.0, e8m0))
    for mode in Rounding:
        if mode is not Rounding.STOCHASTIC:
            assert ref.round_value(2.0**-130, e8m0, mode) == Fraction(1, 2**127)


# ---- property tests over random formats ----------------------------------------------
@st.composite
def formats(draw: st.DrawFn) -> Format:
    ebits = draw(st.integers(0, 8))
    kwargs = dict(
        ebits=ebits,
        mbits=draw(st.integers(0, 10)),
        signed=draw(st.booleans()),
        specials=draw(st.sampled_from(list(Specials))),
        has_zero=draw(st.integers(0, 3)) > 0,  # mostly with zero
        subnormals=draw(st.booleans()),
        bias=draw(st.none() | st.integers(-8, (1 << ebits) + 4)),
    )
    try:
        return Format(**kwargs)
    except ValueError:  # invalid combination: empty format, unsigned fnuz, ieee with m=0, ...
        assume(False)
        raise


def inputs(fmt: Format) -> st.SearchStrategy[float | Fraction]:
    """Finite inputs near the format's range: any floats, random reals, grid half-steps."""
    lo_e, hi_e = fmt.emin - fmt.mbits - 3, fmt.emax + 2
    sign = st.sampled_from([1, -1])
    near = st.builds(
        lambda s, m, e: s * Fraction(m, 1 << 24) * Fraction(2) ** e,
        sign, st.integers(1 << 24, (1 << 25) - 1), st.integers(lo_e, hi_e),
    )
    # Multiples of half the spacing: representable values, ties, and neighbours of both.
    steps = st.builds(
        lambda s, j, e, d: s * (Fraction(j, 1 << (fmt.mbits + 1)) * Fraction(2) ** e + d),
        sign, st.integers(1 << (fmt.mbits + 1), (1 << (fmt.mbits + 2)) - 1),
        st.integers(lo_e, hi_e), st.sampled_from([0, 0, 0, Fraction(1, 1 << 60), -Fraction(1, 1 << 60)]),
    )
    floats = st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=True)
    return st.one_of(near, steps, steps, floats)


SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])


def in_range(fmt: Format, x: Fraction | float) -> bool:
    """Inputs whose result is a neighbour on the grid: no overflow, no sign or zero rule."""
    a = abs(Fraction(x))
    if not fmt.signed and x < 0:
        return False
    if not fmt.has_zero and a < fmt.min_normal:
        return False
    return a <= Fraction(fmt.max)


def keep_subnormals(fmt: Format) -> Format:
    """``fmt`` with subnormal results kept, as ``subnormals=True`` in a call."""
    return dataclasses.replace(fmt, subnormals=True)


@SETTINGS
@given(st.data())
def test_monotonic(data: st.DataObject) -> None:
    fmt = data.draw(formats())
    x, y = sorted([Fraction(data.draw(inputs(fmt))), Fraction(data.draw(inputs(fmt)))])
    mode = data.draw(st.sampled_from(DETERMINISTIC))
    rx, ry = ref.round_value(x, fmt, mode), ref.round_value(y, fmt, mode)
    assume(not is_nan(rx) and not is_nan(ry))
    assert rx <= ry, (x, y, rx, ry)


@SETTINGS
@given(st.data())
def test_idempotent_and_codes_round_trip(data: st.DataObject) -> None:
    fmt = data.draw(formats())
    code = data.draw(st.integers(0, fmt.num_codes - 1))
    v = fmt.value_exact(code)
    mode = data.draw(st.sampled_from(list(Rounding)))
    kw = dict(random_bits=data.draw(st.integers(0, 2**32 - 1)), random_width=32)
    r = ref.round_value(v, fmt, mode, subnormals=True, **kw)
    if is_nan(v):
        assert is_nan(r)
        assert math.isnan(fmt.value_exact(ref.encode_value(v, fmt)))
        return
    assert r == v and math.copysign(1, r) == math.copysign(1, v)
    assert ref.encode_value(v, fmt, mode, subnormals=True, **kw) == code
    assert ref.decode_code(code, fmt) == v


@SETTINGS
@given(st.data())
def test_directed_modes_bracket_the_input(data: st.DataObject) -> None:
    fmt = data.draw(formats())
    x = data.draw(inputs(fmt))
    assume(in_range(fmt, x))
    down = exact(ref.round_value(x, fmt, "down", subnormals=True))
    up = exact(ref.round_value(x, fmt, "up", subnormals=True))
    assert down <= Fraction(x) <= up
    assert keep_subnormals(fmt).is_representable(down)
    assert keep_subnormals(fmt).is_representable(up)
    assert (down, up) == ref.neighbours(x, fmt)
    tz = exact(ref.round_value(x, fmt, "toward_zero", subnormals=True))
    assert tz == (down if x >= 0 else up)


@SETTINGS
@given(st.data())
def test_nearest_modes_pick_a_closest_neighbour(data: st.DataObject) -> None:
    fmt = data.draw(formats())
    x = Fraction(data.draw(inputs(fmt)))
    assume(in_range(fmt, x))
    down, up = ref.neighbours(x, fmt)
    assert down is not None and up is not None
    ne = exact(ref.round_value(x, fmt, "nearest_even", subnormals=True))
    na = exact(ref.round_value(x, fmt, "nearest_away", subnormals=True))
    for r in (ne, na):
        assert r in (down, up)
        assert abs(r - x) == min(x - down, up - x)
    if down != up and x - down == up - x:  # a tie: even code, or away from zero
        assert ref.encode_value(ne, fmt, subnormals=True) % 2 == 0
        assert abs(na) == max(abs(down), abs(up))


@lru_cache(maxsize=64)
def grid(fmt: Format) -> list[tuple[Fraction, int]]:
    """Every finite value with its code, by brute force over all codes."""
    out = []
    for c in range(fmt.num_codes):
        v = fmt.value_exact(c)
        if not (isinstance(v, float) and (math.isnan(v) or math.isinf(v))):
            out.append((Fraction(v), c))
    return out


@SETTINGS
@given(st.data())
def test_nearest_even_matches_brute_force(data: st.DataObject) -> None:
    fmt = data.draw(formats().filter(lambda f: f.bits <= 10))
    x = Fraction(data.draw(inputs(fmt)))
    assume(in_range(fmt, x))
    best = min(abs(v - x) for v, _ in grid(fmt))
    closest = {(v, c) for v, c in grid(fmt) if abs(v - x) == best and (v != 0 or c == 0)}
    if len({v for v, _ in closest}) > 1:  # a tie: the candidate with the even code
        closest = {(v, c) for v, c in closest if c % 2 == 0}
    (expected,) = {v for v, _ in closest}
    assert exact(ref.round_value(x, fmt, subnormals=True)) == expected


@SETTINGS
@given(st.data())
def test_toward_zero_never_grows(data: st.DataObject) -> None:
    fmt = data.draw(formats())
    x = Fraction(data.draw(inputs(fmt)))
    assume(fmt.has_zero or abs(x) >= fmt.min_normal)  # without zero, tiny x grows to 2**emin
    r = ref.round_value(x, fmt, "toward_zero")
    assume(not is_nan(r))  # unsigned negatives
    assert abs(exact(r)) <= abs(x)


@SETTINGS
@given(st.data())
def test_odd_gives_odd_codes_when_inexact(data: st.DataObject) -> None:
    fmt = data.draw(formats())
    x = Fraction(data.draw(inputs(fmt)))
    assume(in_range(fmt, x) and abs(x) < Fraction(fmt.max))
    code = ref.encode_value(x, fmt, "odd", subnormals=True)
    if keep_subnormals(fmt).is_representable(x):
        assert ref.decode_code(code, fmt) == x
    else:
        assert code % 2 == 1  # the magnitude's last bit (mbits == 0: the exponent field's)


@SETTINGS
@given(st.data())
def test_stochastic_extremes(data: st.DataObject) -> None:
    fmt = data.draw(formats())
    x = Fraction(data.draw(inputs(fmt)))
    assume(in_range(fmt, x))
    k = data.draw(st.integers(1, 32))

    def rnd(mode: str, **kw: int) -> Fraction:
        return exact(ref.round_value(x, fmt, mode, subnormals=True, **kw))

    tz = rnd("toward_zero")
    away = rnd("up" if x > 0 else "down")
    frac = 0 if tz == away else (abs(x) - abs(tz)) / (abs(away) - abs(tz))
    # k-bit SR: r = 0 truncates; all ones rounds away iff the top k discarded bits are not 0.
    assert rnd("stochastic", random_bits=0, sr_bits=k) == tz
    ones = rnd("stochastic", random_bits=2**32 - 1, sr_bits=k)
    assert ones == (away if frac >= Fraction(1, 1 << k) else tz)
    # Exact SR: r = 0 rounds away whenever inexact; r = 2**W - 1 only when frac > 1 - 2**-W.
    for w in (32, 64):
        assert rnd("stochastic", random_bits=0, random_width=w) == (away if frac else tz)
        top = rnd("stochastic", random_bits=2**w - 1, random_width=w)
        assert top == (away if frac > 1 - Fraction(1, 1 << w) else tz)


@SETTINGS
@given(st.data())
def test_flush_to_zero_after_rounding(data: st.DataObject) -> None:
    fmt = data.draw(formats().filter(lambda f: f.has_zero))
    x = data.draw(inputs(fmt))
    mode = data.draw(st.sampled_from(DETERMINISTIC))
    kept = ref.round_value(x, fmt, mode, subnormals=True)
    flushed = ref.round_value(x, fmt, mode, subnormals=False)
    if is_nan(kept) or (isinstance(kept, float) and math.isinf(kept)):
        assert flushed == kept or (is_nan(kept) and is_nan(flushed))
    elif 0 < abs(exact(kept)) < Fraction(fmt.min_normal):
        assert flushed == 0
        negative_zero = math.copysign(1, flushed) < 0
        assert negative_zero == (x < 0 and fmt.has_negzero)
    else:
        assert flushed == kept


# ---- golden examples ----------------------------------------------------------------
F32_ULP_464 = 2.0**-15  # float32's spacing in [256, 512)


@pytest.mark.parametrize(
    ("x", "name", "kwargs", "expected"),
    [
        # e4m3fn: 464 is halfway between 448 (code 0x7E, even) and 480 (the NaN code's place):
        # ties to even keep 448; anything above is an overflow: NaN, or 448 when saturating.
        (464.0, "e4m3fn", {}, 448),
        (464.0 + F32_ULP_464, "e4m3fn", {}, math.nan),
        (464.0 + F32_ULP_464, "e4m3fn", {"overflow": "saturate"}, 448),
        (-1e6, "e4m3fn", {}, math.nan),
        # e5m2: 61440 is halfway between 57344 (code 0x7B, odd) and 65536: even -> inf.
        (61440.0, "e5m2", {}, math.inf),
        (61439.0, "e5m2", {}, 57344),
        (-61440.0, "e5m2", {"overflow": "saturate"}, -57344),
        # e2m1: 5 is halfway between 4 (code 6) and 6 (code 7): tie to even gives 4.
        (5.0, "e2m1", {}, 4),
        (3.5, "e2m1", {}, 4),  # halfway between 3 (code 5) and 4 (code 6)
        # 0.25 is halfway between 0 (code 0) and 0.5 (code 1): tie to even at the subnormal
        # boundary gives 0, with the input's sign; just above it rounds to 0.5.
        (0.25, "e2m1", {}, 0.0),
        (-0.25, "e2m1", {}, -0.0),
        (0.25 + 2.0**-54, "e2m1", {}, Fraction(1, 2)),
        (0.25, "e2m1", {"rounding": "nearest_away"}, Fraction(1, 2)),
        (100.0, "e2m1", {}, 6),  # finite format: saturates by default
        (-math.inf, "e2m1", {}, -6),
        # Direction rule: toward zero never overflows to NaN/inf, whatever the policy.
        (1e6, "e4m3fn", {"rounding": "toward_zero", "overflow": "nan"}, 448),
        (1e6, "e5m2", {"rounding": "toward_zero"}, 57344),
        (1e6, "e5m2", {"rounding": "down"}, 57344),
        (-1e6, "e5m2", {"rounding": "up"}, -57344),
        (1e6, "e5m2", {"rounding": "up"}, math.inf),
        (-1e6, "e5m2", {"rounding": "down"}, -math.inf),
        (1e6, "e5m2", {"rounding": "odd"}, 57344),
        # Infinity inputs follow the policy, not the direction rule.
        (math.inf, "e5m2", {"rounding": "toward_zero"}, math.inf),
        (math.inf, "e4m3fn", {"rounding": "toward_zero"}, math.nan),
        (math.inf, "e5m2", {"overflow": "saturate"}, 57344),
        # E8M0 (M == 0): ties go to the even exponent code; ml_dtypes rounds up instead.
        (3.0, "e8m0", {}, 2),
        (1.5, "e8m0", {}, 2),
        (6.0, "e8m0", {}, 8),  # between 4 (code 129, odd) and 8 (code 130)
        (1.5 * 2.0**127, "e8m0", {}, 2**127),  # code 254 even: no overflow
        (2.0**-140, "e8m0", {"rounding": "toward_zero"}, Fraction(1, 2**127)),
        # Round to odd: 1.1 in e2m1 truncates to 1 (code 2, even), so it becomes 1.5.
        (1.1, "e2m1", {"rounding": "odd"}, Fraction(3, 2)),
        (2.5, "e2m1", {"rounding": "odd"}, 3),
        # Signs of zero: FNUZ formats have no -0.
        (-1e-9, "e4m3fn", {}, -0.0),
        (-1e-9, "e4m3fnuz", {}, 0.0),
        (-0.0, "e4m3fnuz", {}, 0.0),
        (-0.0, "e5m2", {}, -0.0),
        # Unsigned formats: negatives are NaN where there is NaN, else 0.
        (-1.0, "ue4m3", {}, math.nan),
        (-0.0, "ue4m3", {}, 0.0),
        # Flush to zero after rounding: just below min_normal rounds up to it and stays.
        (2.0**-9, "e4m3fn", {"subnormals": False}, 0.0),
        (-(2.0**-9), "e4m3fn", {"subnormals": False}, -0.0),
        (2.0**-6 - 2.0**-11, "e4m3fn", {"subnormals": False}, Fraction(1, 64)),
    ],
)
def test_golden(x: float, name: str, kwargs: dict, expected: Fraction | float) -> None:
    r = ref.round_value(x, name, **kwargs)
    if isinstance(expected, float) and math.isnan(expected):
        assert is_nan(r)
        return
    assert r == expected
    assert math.copysign(1, r) == math.copysign(1, expected)  # signed zeros
    assert type(r) is (float if expected == 0 or math.isinf(expected) else Fraction)


def test_unsigned_without_nan_gives_zero() -> None:
    u = Format(ebits=2, mbits=1, signed=False, specials="finite")
    assert ref.round_value(-1.0, u) == 0 and ref.round_value(-math.inf, u) == 0
    # Without zero and without NaN, rule 3's "0" would not exist: Format refuses
    # such a format rather than invent a value for zero and negative inputs.
    with pytest.raises(ValueError, match=r"has_zero=False needs a NaN code"):
        Format(ebits=3, mbits=0, signed=False, has_zero=False, specials="finite")


def test_p3109_mbits0_ties() -> None:
    # p3109_k8p1se: ebits 7, mbits 0, bias 64, subnormal binade = {0}.  Ties go to the
    # even exponent field, as in gfloat's code_is_odd for precision 1.
    f = fs.format("p3109_k8p1se")
    tiny = Fraction(2) ** f.emin
    assert ref.round_value(tiny / 2, f) == 0.0  # tie between 0 (code 0) and 2**emin (code 1)
    assert ref.round_value(tiny * 3 / 4, f) == tiny
    assert ref.round_value(tiny * 3, f) == tiny * 2  # between codes 2 (2*tiny) and 3 (4*tiny)
    assert ref.round_value(tiny * 6, f) == tiny * 8  # between codes 3 (4*tiny) and 4 (8*tiny)


def test_stochastic_examples() -> None:
    # 1.25 in e2m1 lies halfway between 1 and 1.5: frac = 1/2.
    kw = dict(random_width=32)
    assert ref.round_value(1.25, "e2m1", "sr", random_bits=2**31 - 1, **kw) == Fraction(3, 2)
    assert ref.round_value(1.25, "e2m1", "sr", random_bits=2**31, **kw) == 1
    # k = 1: floor(frac * 2) = 1, so r's low bit decides.
    assert ref.round_value(1.25, "e2m1", "sr", random_bits=3, sr_bits=1) == Fraction(3, 2)
    assert ref.round_value(1.25, "e2m1", "sr", random_bits=2, sr_bits=1) == 1
    # 1.1: frac = 0.2 (float64: a little more); k = 2 keeps floor(0.8) = 0: never away with
    # r < 3, and with r = 3 (0 + 3 < 4) still not: k-bit SR's P(up) is floor(frac*4)/4 = 0.
    assert all(
        ref.round_value(1.1, "e2m1", "sr", random_bits=r, sr_bits=2) == 1 for r in range(4)
    )
    # Overflow under SR follows the policy (SR is not a truncating direction).
    assert is_nan(ref.round_value(470.0, "e4m3fn", "sr", random_bits=0, random_width=32))
    assert ref.round_value(470.0, "e4m3fn", "sr", random_bits=2**32 - 1, random_width=32) == 448


def test_exact_sr_probability_counts() -> None:
    # P(up) = ceil(frac * 2**W) / 2**W: count the r in [0, 2**W) that round up.
    x = Fraction(1) + Fraction(1, 3) / 2  # e2m1: between 1 and 1.5, frac = 1/3
    threshold = [r for r in (0, 1431655765, 1431655766, 2**32 - 1)
                 if ref.round_value(x, "e2m1", "sr", random_bits=r, random_width=32) != 1]
    assert threshold == [0, 1431655765]  # ceil(2**32 / 3) = 1431655766 values round up


def test_encode_nan_codes() -> None:
    nan, neg_nan = math.nan, -math.nan
    assert ref.encode_value(nan, "e5m2") == 0x7E and ref.encode_value(neg_nan, "e5m2") == 0xFE
    assert ref.encode_value(nan, "e4m3fn") == 0x7F and ref.encode_value(neg_nan, "e4m3fn") == 0xFF
    assert ref.encode_value(-1e9, "e4m3fn") == 0xFF  # overflow to NaN keeps x's sign
    assert ref.encode_value(neg_nan, "e4m3fnuz") == 0x80 == ref.encode_value(nan, "e4m3fnuz")
    assert ref.encode_value(nan, "p3109_k8p3se") == 0x80
    assert ref.encode_value(nan, "p3109_k8p3ue") == 0xFF
    assert ref.encode_value(neg_nan, "e8m0") == 0xFF == ref.encode_value(0.0, "e8m0")
    assert ref.encode_value(nan, "bfloat16") == 0x7FC0
    # ml_dtypes agrees for the types it has.
    for name, code in [("float8_e5m2", 0x7E), ("float8_e4m3fn", 0x7F), ("bfloat16", 0x7FC0)]:
        assert int(np.array([nan], np.float32).astype(ml_type(name)).view(
            np.uint8 if code < 256 else np.uint16)[0]) == code
    with pytest.raises(ValueError, match=r"NaN cannot be encoded in float4_e2m1fn"):
        ref.encode_value(nan, "e2m1")


def test_encode_codes() -> None:
    assert ref.encode_value(448.0, "e4m3fn") == 0x7E
    assert ref.encode_value(-0.0, "e4m3fn") == 0x80 and ref.encode_value(-0.0, "e4m3fnuz") == 0
    assert ref.encode_value(math.inf, "e5m2") == 0x7C and ref.encode_value(-math.inf, "e5m2") == 0xFC
    assert ref.encode_value(math.inf, "p3109_k8p3ue") == 0xFE
    assert ref.encode_value(2.0**-9, "e4m3fn") == 0x01
    assert ref.encode_value(2.0**-127, "e8m0") == 0 and ref.encode_value(1.0, "e8m0") == 127
    assert ref.encode_value(-6.0, "e2m1") == 0xF


def test_huge_formats_are_exact() -> None:
    big = Format(ebits=15, mbits=52)  # binary64's precision with a 15-bit exponent
    one = Fraction(1)
    x = (one + Fraction(1, 2**53)) * Fraction(2) ** 16000  # a tie far beyond float64
    assert ref.round_value(x, big) == Fraction(2) ** 16000
    y = (one + Fraction(3, 2**53)) * Fraction(2) ** 16000
    assert ref.round_value(y, big) == (one + Fraction(1, 2**51)) * Fraction(2) ** 16000
    tiny = Fraction(2) ** (big.emin - big.mbits)  # the smallest subnormal
    assert ref.round_value(tiny / 2, big) == 0.0  # tie to the even code 0
    assert ref.round_value(tiny * 3 / 2, big) == 2 * tiny
    assert ref.round_value(Fraction(2) ** 20000, big) == math.inf
    assert ref.round_value(Fraction(2) ** 20000, big, "toward_zero") == big.value_exact(
        big.max_mag_code)
    assert ref.encode_value(Fraction(2) ** -16000, big) == ((-16000 + big.bias) << 52)
    # float64 inputs round once: a float64 just above a binary16 tie is not a tie.
    assert ref.round_value(1 + 2.0**-11 + 2.0**-40, "float16") == 1 + Fraction(1, 2**10)


def test_input_types() -> None:
    assert ref.round_value(np.float32(1.1), "e2m1") == 1
    assert ref.round_value(np.float16(5.0), "e2m1") == 4
    assert ref.round_value(ml_dtypes.bfloat16(3.0), "e8m0") == 2
    assert ref.round_value(5, "e2m1") == 4 and ref.round_value(np.int64(-5), "e2m1") == -4
    assert ref.round_value(Fraction(11, 2), "e2m1") == 6
    assert ref.round_value(0.3, fs.format("e4m3")) == ref.round_value(0.3, "float8_e4m3fn")
    with pytest.raises(TypeError, match=r"x must be a float, int, Fraction"):
        ref.round_value("1.0", "e2m1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"got a bool"):
        ref.round_value(True, "e2m1")


def test_daz() -> None:
    sub32 = np.float32(1e-40)  # subnormal in float32, normal in float64
    assert ref.round_value(sub32, "bfloat16") != 0
    assert ref.round_value(sub32, "bfloat16", daz=True) == 0.0
    assert math.copysign(1, ref.round_value(-sub32, "bfloat16", daz=True)) == -1
    assert ref.round_value(float(sub32), "bfloat16", daz=True) != 0  # float64: normal
    assert ref.round_value(np.float16(2.0**-20), "e5m2", daz=True) == 0.0
    assert ref.round_value(5e-324, "float32", "up", daz=True) == 0.0
    with pytest.raises(ValueError, match=r"daz=True needs a float input"):
        ref.round_value(Fraction(1, 2**2000), "e5m2", daz=True)


def test_argument_errors() -> None:
    with pytest.raises(ValueError, match=r"needs random_bits="):
        ref.round_value(1.0, "e2m1", "sr")
    with pytest.raises(ValueError, match=r"exact stochastic rounding needs random_width="):
        ref.round_value(1.0, "e2m1", "sr", random_bits=0)
    with pytest.raises(ValueError, match=r"random_width=16 is not valid; allowed: 32, 64"):
        ref.round_value(1.0, "e2m1", "sr", random_bits=0, random_width=16)
    with pytest.raises(ValueError, match=r"random_bits=4294967296 is out of range"):
        ref.round_value(1.0, "e2m1", "sr", random_bits=2**32, random_width=32)
    with pytest.raises(ValueError, match=r"sr_bits=0 is out of range; allowed: 1\.\.32"):
        ref.round_value(1.0, "e2m1", "sr", random_bits=0, sr_bits=0)
    with pytest.raises(ValueError, match=r"sr_bits=33 is out of range"):
        ref.round_value(1.0, "e2m1", "sr", random_bits=0, sr_bits=33)
    with pytest.raises(ValueError, match=r"overflow='inf' is not possible"):
        ref.round_value(1.0, "e4m3fn", overflow="inf")
    with pytest.raises(ValueError, match=r"rounding='sideways' is not a rounding mode"):
        ref.round_value(1.0, "e4m3fn", "sideways")
    with pytest.raises(ValueError, match=r"unknown format 'e4m3fx'"):
        ref.encode_value(1.0, "e4m3fx")
    # The random arguments are ignored by the deterministic modes.
    assert ref.round_value(1.25, "e2m1", "rne", random_bits=7, sr_bits=99) == 1


def test_neighbours() -> None:
    assert ref.neighbours(5.5, "e2m1") == (4, 6)
    assert ref.neighbours(-5.5, "e2m1") == (-6, -4)
    assert ref.neighbours(6.0, "e2m1") == (6, 6)
    assert ref.neighbours(0.1, "e2m1") == (0, Fraction(1, 2))
    assert ref.neighbours(-0.1, "e2m1") == (Fraction(-1, 2), 0)
    assert ref.neighbours(7.0, "e2m1") == (6, None)
    assert ref.neighbours(-7.0, "e2m1") == (None, -6)
    assert ref.neighbours(-1.0, "ue4m3") == (None, 0)
    e8m0 = fs.format("e8m0")
    assert ref.neighbours(0.0, e8m0) == (None, Fraction(1, 2**127))
    assert ref.neighbours(3.0, e8m0) == (2, 4)
    signed_no_zero = Format(ebits=3, mbits=1, has_zero=False, specials="fn")
    assert ref.neighbours(0.0, signed_no_zero) == (Fraction(-1, 8), Fraction(1, 8))
    with pytest.raises(ValueError, match=r"needs a finite x"):
        ref.neighbours(math.inf, e8m0)


def test_decode_code() -> None:
    assert ref.decode_code(0x7E, "e4m3fn") == 448
    assert ref.decode_code(0, "e4m3fn") == 0.0 and type(ref.decode_code(0, "e4m3fn")) is float
    assert math.copysign(1, ref.decode_code(0x80, "e4m3fn")) == -1
    assert is_nan(ref.decode_code(0x80, "e4m3fnuz"))
    assert ref.decode_code(0x7C, "e5m2") == math.inf
