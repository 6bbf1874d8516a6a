"""Tests of Format and the registry: decoding, derived properties, validation.

Every registered format is decoded code by code and compared with two
independent decoders, ml_dtypes (for the types it has) and gfloat.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest
from gfloat import decode_float
from gfloat.formats import sample_formats
from gfloat.types import Domain, FormatInfo
from ml_support import ADDED_IN, ML_NAMES, ML_VERSION, ml_type

import floatsim as fs
from floatsim.formats import Format, Overflow, Specials
from floatsim.registry import ALIASES, CANONICAL, ML_DTYPES_NAMES

#: gfloat's sample formats that floatsim expresses (gfloat's ocp_int8 is two's
#: complement, which is not a floating-point format here).
GFLOAT_FORMATS = [fi for fi in sample_formats if not fi.is_twos_complement]
GFLOAT_SMALL = [fi for fi in GFLOAT_FORMATS if fi.k <= 16]

SMALL_REGISTERED = sorted(
    {n for n, f in CANONICAL.items() if f.bits <= 16} | {fi.name for fi in GFLOAT_SMALL}
)


def to_gfloat(fmt: Format) -> FormatInfo:
    """gfloat's description of a floatsim format, written from the conventions table."""
    high_nans = {
        Specials.IEEE: (1 << fmt.mbits) - 1,  # all-ones exponent, mantissa != 0
        Specials.FN: 1,  # the all-ones magnitude code
        Specials.FNUZ: 0,  # NaN is the negative-zero code (has_nz=False)
        Specials.FINITE: 0,
        Specials.P3109: 0 if fmt.signed else 1,
    }[fmt.specials]
    return FormatInfo(
        name=str(fmt),
        k=fmt.bits,
        precision=fmt.mbits + 1,
        bias=fmt.bias,
        has_nz=fmt.specials in (Specials.IEEE, Specials.FN, Specials.FINITE) and fmt.signed,
        domain=Domain.Extended if fmt.specials in (Specials.IEEE, Specials.P3109) else Domain.Finite,
        num_high_nans=high_nans,
        has_subnormals=fmt.has_zero,
        is_signed=fmt.signed,
        is_twos_complement=False,
    )


def assert_same_values(ours: np.ndarray, theirs: np.ndarray, what: str) -> None:
    """Equal code by code: NaN at the same codes, equal values, equal signs of zeros."""
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs), err_msg=f"{what}: NaN codes")
    ok = ~np.isnan(ours)
    np.testing.assert_array_equal(ours[ok], theirs[ok], err_msg=f"{what}: values")
    np.testing.assert_array_equal(
        np.signbit(ours[ok]), np.signbit(theirs[ok]), err_msg=f"{what}: signs"
    )


# ---- decoding, code by code ------------------------------------------------------------
@pytest.mark.parametrize("name", ML_NAMES)
def test_values_match_ml_dtypes(name: str) -> None:
    fmt = fs.format(name)
    codes = np.arange(fmt.num_codes, dtype=np.uint8 if fmt.bits <= 8 else np.uint16)
    with np.errstate(invalid="ignore"):  # NaN codes
        theirs = codes.view(ml_type(name)).astype(np.float64)  # 4/6-bit types sit in one byte
    assert_same_values(fmt.values(), theirs, name)


@pytest.mark.parametrize("name", SMALL_REGISTERED)
def test_values_match_gfloat(name: str) -> None:
    fmt = fs.format(name)
    by_name = {fi.name: fi for fi in GFLOAT_SMALL}
    fi = by_name.get(name, to_gfloat(fmt))
    theirs = np.array([decode_float(fi, c).fval for c in range(fmt.num_codes)], dtype=np.float64)
    assert_same_values(fmt.values(), theirs, name)


@pytest.mark.parametrize("name", SMALL_REGISTERED)
def test_value_exact_agrees_with_values(name: str) -> None:
    fmt = fs.format(name)
    table = fmt.values()
    for code in range(0, fmt.num_codes, max(1, fmt.num_codes // 512)):
        v = fmt.value_exact(code)
        assert (math.isnan(table[code]) and math.isnan(v)) or float(v) == table[code]


# ---- derived properties against gfloat and ml_dtypes ------------------------------------
@pytest.mark.parametrize("fi", GFLOAT_FORMATS, ids=lambda fi: fi.name)
def test_properties_match_gfloat(fi: FormatInfo) -> None:
    fmt = fs.format(fi.name)
    assert fmt.bits == fi.k
    assert fmt.signed == fi.is_signed
    assert fmt.mbits == fi.precision - 1
    assert fmt.bias == fi.bias
    assert fmt.max == fi.max
    # gfloat's emax is floor(math.log2(max)), which rounds log2 of binary64's max up to
    # 1024.0; frexp gives the exact exponent (1023), which is also gfloat's value elsewhere.
    assert fmt.emax == (fi.emax if fi.k < 64 else math.frexp(fi.max)[1] - 1)
    assert fmt.min_normal == fi.smallest_normal
    assert fmt.min_subnormal == fi.smallest
    assert fmt.eps == fi.eps
    assert fmt.has_zero == fi.has_zero
    assert fmt.has_negzero == fi.has_nz
    assert fmt.has_inf == (fi.num_infs > 0)
    assert fmt.has_nan == (fi.num_nans > 0)
    if fi.k <= 16:
        values = fmt.values()
        assert np.isnan(values).sum() == fi.num_nans
        assert np.isinf(values).sum() == fi.num_infs


@pytest.mark.parametrize("name", ML_NAMES)
def test_properties_match_ml_dtypes_finfo(name: str) -> None:
    fmt, fi = fs.format(name), ml_dtypes.finfo(ml_type(name))
    assert fmt.max == float(fi.max)
    assert fmt.min_normal == float(fi.smallest_normal)
    assert fmt.min_subnormal == float(fi.smallest_subnormal)
    assert fmt.eps == float(fi.eps)
    assert fmt.bits == fi.bits


# ---- known values from the standards ----------------------------------------------------
KNOWN = [
    # OCP 8-bit Floating Point Specification (OFP8) Rev 1.0, Table 1: E4M3 (bias 7) has max
    # normal S.1111.110 = 448, min normal 2^-6, min subnormal 2^-9, no infinities.
    ("float8_e4m3fn", "max", 448.0),
    ("float8_e4m3fn", "min_normal", 2.0**-6),
    ("float8_e4m3fn", "min_subnormal", 2.0**-9),
    ("float8_e4m3fn", "eps", 0.125),
    ("float8_e4m3fn", "has_inf", False),
    # OFP8 Rev 1.0, Table 1: E5M2 (bias 15) has max S.11110.11 = 57344, min normal
    # 2^-14, min subnormal 2^-16, and IEEE infinities and NaNs.
    ("float8_e5m2", "max", 57344.0),
    ("float8_e5m2", "min_normal", 2.0**-14),
    ("float8_e5m2", "min_subnormal", 2.0**-16),
    ("float8_e5m2", "has_inf", True),
    # OCP MX v1.0, Table 4: FP6 E2M3 (bias 1) max 7.5, min normal 1, min subnormal 0.125;
    # E3M2 (bias 3) max 28, min normal 0.25, min subnormal 0.0625; no inf, no NaN.
    ("float6_e2m3fn", "max", 7.5),
    ("float6_e2m3fn", "min_subnormal", 0.125),
    ("float6_e3m2fn", "max", 28.0),
    ("float6_e3m2fn", "min_normal", 0.25),
    ("float6_e3m2fn", "min_subnormal", 0.0625),
    ("float6_e3m2fn", "has_nan", False),
    # OCP MX v1.0, Table 5: FP4 E2M1 (bias 1) max 6, min normal 1, min subnormal 0.5.
    ("float4_e2m1fn", "max", 6.0),
    ("float4_e2m1fn", "min_normal", 1.0),
    ("float4_e2m1fn", "min_subnormal", 0.5),
    ("float4_e2m1fn", "has_nan", False),
    # OCP MX v1.0, Table 7: E8M0 (bias 127) spans 2^-127 .. 2^127, NaN 0xFF, no zero.
    ("float8_e8m0fnu", "max", 2.0**127),
    ("float8_e8m0fnu", "min_normal", 2.0**-127),
    ("float8_e8m0fnu", "has_zero", False),
    ("float8_e8m0fnu", "signed", False),
    # IEEE 754-2019 binary16: max 65504, min normal 2^-14, min subnormal 2^-24.
    ("float16", "max", 65504.0),
    ("float16", "min_subnormal", 2.0**-24),
    ("bfloat16", "max", float.fromhex("0x1.fep127")),
    # IEEE-style E4M3 (ml_dtypes float8_e4m3): the all-ones exponent is inf/NaN, max 240.
    ("float8_e4m3", "max", 240.0),
    ("float8_e3m4", "max", 15.5),
    # FNUZ types (ml_dtypes, after Graphcore's proposal): bias + 1, max 240 / 57344.
    ("float8_e4m3fnuz", "max", 240.0),
    ("float8_e5m2fnuz", "max", 57344.0),
    ("float8_e4m3b11fnuz", "max", 30.0),
    # P3109 interim report (as gfloat): binary8p3 has bias 16 and max 49152.
    ("p3109_k8p3se", "max", 49152.0),
    ("ue4m3", "max", 448.0),
]


@pytest.mark.parametrize(("name", "attr", "expected"), KNOWN)
def test_known_values(name: str, attr: str, expected: object) -> None:
    assert getattr(fs.format(name), attr) == expected


def test_known_codes() -> None:
    e4m3, e5m2, e8m0 = fs.format("e4m3"), fs.format("e5m2"), fs.format("e8m0")
    assert e4m3.value_exact(0x7E) == 448 and math.isnan(e4m3.value_exact(0x7F))
    assert math.isnan(e4m3.value_exact(0xFF)) and e4m3.value_exact(0x80) == 0
    assert math.copysign(1.0, e4m3.value_exact(0x80)) == -1.0  # -0
    assert e5m2.value_exact(0x7C) == math.inf and e5m2.value_exact(0xFC) == -math.inf
    assert all(math.isnan(e5m2.value_exact(c)) for c in (0x7D, 0x7E, 0x7F))
    # E8M0 has no zero: code 0 is 2^-127 and code 127 is 1.
    assert e8m0.value_exact(0) == Fraction(1, 2**127)
    assert e8m0.value_exact(127) == 1 and e8m0.value_exact(254) == 2**127
    assert math.isnan(e8m0.value_exact(255))
    fnuz = fs.format("float8_e4m3fnuz")
    assert math.isnan(fnuz.value_exact(0x80)) and fnuz.has_negzero is False


def test_far_outside_float64() -> None:
    f = Format(ebits=15, mbits=52)
    assert f.bias == 16383 and f.emax == 16383 and f.emin == -16382
    assert f.value_exact(1) == Fraction(1, 2 ** (16382 + 52))
    assert f.value_exact(f.max_mag_code) == (2 - Fraction(1, 2**52)) * Fraction(2) ** 16383


# ---- validation ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(ebits=16, mbits=3), ValueError, r"ebits=16 is out of range; allowed: 0\.\.15"),
        (dict(ebits=4, mbits=-1), ValueError, r"mbits=-1 is out of range; allowed: 0\.\.52"),
        (dict(ebits=4, mbits=53), ValueError, r"mbits=53 is out of range; allowed: 0\.\.52"),
        (dict(ebits=4, mbits=3, bias=70000), ValueError, r"bias=70000 is out of range"),
        (dict(ebits=4, mbits=3, bias=-65537), ValueError, r"bias=-65537 is out of range"),
        (dict(ebits=1, mbits=0, specials="fn"), ValueError, r"the format is empty"),
        (dict(ebits=4, mbits=3, signed=False, specials="fnuz"), ValueError,
         r"specials='fnuz' needs a signed format"),
        (dict(ebits=5, mbits=0), ValueError, r"specials='ieee' needs ebits >= 1 and mbits >= 1"),
        (dict(ebits=0, mbits=3), ValueError, r"specials='ieee' needs ebits >= 1 and mbits >= 1"),
        (dict(ebits=4, mbits=3, specials="fn", overflow="inf"), ValueError,
         r"overflow='inf' is not possible: .* has no infinity"),
        (dict(ebits=2, mbits=1, specials="finite", overflow="nan"), ValueError,
         r"overflow='nan' is not possible: .* has no NaN"),
        (dict(ebits=4, mbits=3, overflow="clamp"), ValueError,
         r"overflow='clamp' is not valid; allowed: 'saturate', 'inf', 'nan'"),
        (dict(ebits=4, mbits=3, specials="weird"), ValueError, r"specials='weird' is not valid"),
        (dict(ebits=0, mbits=3, has_zero=False, specials="fn"), ValueError,
         r"has_zero=False needs ebits >= 1"),
        (dict(ebits=4, mbits=3, has_zero=False, specials="fnuz"), ValueError,
         r"has_zero=False does not combine with a signed specials='fnuz'"),
        (dict(ebits=4.0, mbits=3), TypeError, r"ebits must be an int, got 4\.0"),
        (dict(ebits=4, mbits=True), TypeError, r"mbits must be an int, got True"),
        (dict(ebits=4, mbits=3, bias=1.5), TypeError, r"bias must be an int or None"),
    ],
)
def test_bad_specs(kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        Format(**kwargs)


def test_unknown_names() -> None:
    with pytest.raises(ValueError, match=r"unknown format 'float8_e4m3fm'; did you mean .*"
                       r"float8_e4m3fn"):
        fs.format("float8_e4m3fm")
    with pytest.raises(ValueError, match=r"unknown format 'nonsense' \(floatsim.names\(\)"):
        fs.format("nonsense")
    with pytest.raises(TypeError, match=r"a format is a floatsim.Format or a name"):
        fs.format(8)
    with pytest.raises(ValueError, match=r"cannot parse format spec 'x4m3'"):
        Format.parse("x4m3")
    with pytest.raises(ValueError, match=r"P3109 width k=1 is out of range; allowed: 2\.\.16"):
        fs.p3109(1, 1)
    with pytest.raises(ValueError, match=r"a signed P3109 format needs p < k"):
        fs.p3109(8, 8)


def test_bad_overflow_for_format() -> None:
    with pytest.raises(ValueError, match=r"overflow='inf' is not possible: format "
                       r"float8_e4m3fn has no infinity"):
        fs.format("float8_e4m3fn").check_overflow("inf")
    assert fs.format("e5m2").check_overflow("NAN") is Overflow.NAN


def test_size_limits() -> None:
    with pytest.raises(ValueError, match=r"values\(\) lists 2\*\*bits codes; .* 19 bits"):
        fs.format("tf32").values()
    with pytest.raises(ValueError, match=r"table\(\) lists formats up to 8 bits; .* 16"):
        fs.format("float16").table()
    with pytest.raises(ValueError, match=r"code 256 is out of range .* allowed: 0\.\.255"):
        fs.format("e4m3").value_exact(256)


# ---- the value object ----------------------------------------------------------------
def test_frozen_and_hashable() -> None:
    a = Format(ebits=4, mbits=3, specials="fn", name="a")
    b = Format(ebits=4, mbits=3, bias=7, specials=Specials.FN, overflow="nan", name="b")
    assert a == b and hash(a) == hash(b)  # the name is not part of equality
    assert a == fs.format("float8_e4m3fn")
    assert len({a, b, fs.format("e4m3")}) == 1
    assert a != Format(ebits=4, mbits=3, specials="fn", overflow="saturate")
    assert a != Format(ebits=4, mbits=3, specials="fn", subnormals=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.ebits = 5  # type: ignore[misc]
    assert isinstance(a.specials, Specials) and isinstance(a.overflow, Overflow)


def test_defaults_follow_the_standards() -> None:
    assert fs.format("e5m2").overflow is Overflow.INF
    assert fs.format("e4m3").overflow is Overflow.NAN
    assert fs.format("e4m3fnuz").overflow is Overflow.NAN
    assert fs.format("e2m1").overflow is Overflow.SATURATE
    assert fs.format("p3109_k8p3se").overflow is Overflow.INF
    # Without zero, nothing is subnormal: the exponent-0 binade is normal.
    assert fs.format("e8m0").subnormals is False


@pytest.mark.parametrize(
    "name",
    [n for n, f in CANONICAL.items() if f.has_zero]
    + ["p3109_k8p3se", "p3109_k8p4uf", "p3109_k8p1ue", "p3109_k6p3sf"],
)
def test_parse_spec_round_trip(name: str) -> None:
    fmt = fs.format(name)
    assert Format.parse(fmt.spec()) == fmt


def test_parse_examples() -> None:
    assert Format.parse("e3m4") == Format(ebits=3, mbits=4)
    assert Format.parse("e5m2fnuz").bias == 16
    assert Format.parse("e4m3b11fnuz") == fs.format("float8_e4m3b11fnuz")
    assert Format.parse("ue8m0") == Format(ebits=8, mbits=0, signed=False, specials="fn")
    # Registered names win over parse: "e4m3" is OCP E4M3FN, parse gives IEEE-style E4M3.
    assert fs.format("e4m3").max == 448 and Format.parse("e4m3").max == 240


def test_spec_cannot_express_has_zero() -> None:
    # spec() has no field for has_zero, so E8M0 does not round trip through parse;
    # parse("ue8m0fn") is the unsigned E8M0 *with* zero at code 0.
    e8m0 = fs.format("e8m0")
    assert Format.parse(e8m0.spec()) != e8m0
    assert Format.parse(e8m0.spec()).value_exact(0) == 0


def test_every_name_resolves() -> None:
    for name in fs.names():
        assert isinstance(fs.format(name), Format)
    for alias, target in ALIASES.items():
        assert fs.format(alias) is CANONICAL[target]
    assert fs.format("  Float8_E4M3FN ") is CANONICAL["float8_e4m3fn"]
    assert fs.format("binary8p3") == fs.p3109(8, 3)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("e4m3", 448.0, True),
        ("e4m3", 449.0, False),
        ("e4m3", 480.0, False),  # the NaN code's place, beyond max
        ("e4m3", 2.0**-9, True),
        ("e4m3", 2.0**-10, False),
        ("e4m3", -0.0, True),
        ("e4m3", math.nan, True),
        ("e4m3", math.inf, False),
        ("e4m3", Fraction(1, 3), False),
        ("e4m3fnuz", -0.0, False),  # the -0 code is NaN
        ("e4m3fnuz", 0.0, True),
        ("e5m2", -math.inf, True),
        ("e2m1", math.nan, False),
        ("e2m1", 5.0, False),
        ("e2m1", -6.0, True),
        ("e8m0", 0.0, False),
        ("e8m0", 2.0**-127, True),
        ("e8m0", 3.0, False),
        ("e8m0", -1.0, False),
        ("ue4m3", -1.0, False),
        ("ue4m3", 448.0, True),
    ],
)
def test_is_representable(name: str, value: float | Fraction, expected: bool) -> None:
    assert fs.format(name).is_representable(value) is expected


def test_is_representable_without_subnormals() -> None:
    ftz = Format(ebits=4, mbits=3, specials="fn", subnormals=False)
    assert not ftz.is_representable(2.0**-9) and ftz.is_representable(2.0**-6)
    assert ftz.min_subnormal == ftz.min_normal == 2.0**-6


def test_is_representable_agrees_with_values() -> None:
    for name in ("e2m1", "e3m2", "e4m3", "e8m0", "p3109_k8p1se", "ue5m3"):
        fmt = fs.format(name)
        values = fmt.values()
        finite = values[np.isfinite(values)]
        assert all(fmt.is_representable(float(v)) for v in finite)
        mids = (np.unique(finite)[1:] + np.unique(finite)[:-1]) / 2
        assert not any(fmt.is_representable(float(m)) for m in mids)


def test_table_of_a_4_bit_format() -> None:
    lines = fs.format("e2m1").table().splitlines()
    assert len(lines) == 1 + 16
    assert lines[0].split() == ["code", "s", "e", "m", "value"]
    assert lines[1].split() == ["0x00", "0", "00", "0", "0"]
    assert lines[8].split() == ["0x07", "0", "11", "1", "6"]
    assert lines[9].split() == ["0x08", "1", "00", "0", "-0.0"]
    assert lines[16].split() == ["0x0F", "1", "11", "1", "-6"]


def test_describe() -> None:
    d = fs.format("e4m3").describe()
    assert d["max"] == "448" and d["bits"] == 8 and d["has_nan"] is True
    assert d["overflow (default)"] == "nan" and d["specials"] == "fn"


def test_registry_has_every_ml_dtypes_float_type() -> None:
    """Every float type the installed ml_dtypes exports is registered under
    its name, and a registered ml_dtypes name it lacks is one a later
    release added."""
    exported = {n for n in dir(ml_dtypes) if n.startswith(("float8_", "float6_", "float4_"))}
    newer = {n for n, v in ADDED_IN.items() if ML_VERSION < v}
    assert exported | {"float16", "bfloat16"} == set(ML_DTYPES_NAMES) - newer
    assert set(ML_NAMES) == set(ML_DTYPES_NAMES) - newer
