"""floatsim.mac specs and the exact reference (no compiled code).

The reference is checked here against hand-computed results: each case
states the arithmetic in its comment, so the oracle that the models are
tested against is itself pinned to worked examples.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

import floatsim as fs
import floatsim.mac as mac
from floatsim.mac import reference as ref
from floatsim.mac.spec import AccumulatorSpec, FixedPoint


def test_presets_are_named_and_valid() -> None:
    assert mac.names() == ["fp32", "hopper_fp8", "hopper_fp8_promote128", "blackwell_fp8",
                           "v100_fp16", "a100_fp16", "bf16", "fp16"]
    for name in mac.names():
        s = mac.spec(name)
        assert s.name == name and mac.spec(s) is s
    assert mac.spec("hopper_fp8_promote128").promote_every == 128
    assert mac.spec("blackwell_fp8").kept_bits == 24
    assert (mac.spec("v100_fp16").group, mac.spec("a100_fp16").group) == (4, 8)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown accumulator spec 'hoper_fp8'; known: fp32, "
                       r"hopper_fp8, .*fp16 \(did you mean 'hopper_fp8'\?\)"):
        mac.spec("hoper_fp8")
    with pytest.raises(TypeError, match="spec must be a name or an AccumulatorSpec"):
        mac.spec(3)


def test_is_fp32() -> None:
    assert mac.spec("fp32").is_fp32()
    assert mac.spec("fp32").replace(promote_every=64).is_fp32()
    assert AccumulatorSpec(product="float32").is_fp32()
    for name in ("hopper_fp8", "bf16", "v100_fp16"):
        assert not mac.spec(name).is_fp32()
    assert not AccumulatorSpec(kahan=True).is_fp32()
    assert not AccumulatorSpec(output="bfloat16").is_fp32()
    assert not AccumulatorSpec(acc_rounding="toward_zero").is_fp32()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"group": 4}, r"kept_bits=None: a spec with group=4 needs kept_bits"),
    ({"kept_bits": 3}, r"need group="),
    ({"group": 0, "kept_bits": 3}, r"group=0 is out of range; allowed: 1..4096"),
    ({"group": 1024, "kept_bits": 48}, r"kept_bits=48 is out of range for group=1024; allowed: 0..47"),
    ({"group": 32, "kept_bits": 13, "promote_every": 100}, r"promote_every=100 must be a multiple of group=32"),
    ({"promote_every": 0}, r"promote_every=0 must be a positive int"),
    ({"acc_rounding": "sr"}, r"sr_bits=None: acc_rounding='stochastic' needs sr_bits in 1..32"),
    ({"sr_bits": 4}, r"sr_bits=4 needs acc_rounding='stochastic'"),
    ({"output_rounding": "sr"}, r"output_rounding='stochastic' is not modelled"),
    ({"align_rounding": "stochastic", "group": 2, "kept_bits": 3}, r"align_rounding='stochastic'"),
    ({"accumulator": "float64"}, r"accumulator=float64 has mbits=52 > 50"),
    ({"accumulator": "float32", "acc_rounding": "sr", "sr_bits": 30}, r"mbits=23 \+ sr_bits=30 > 50"),
    ({"output": "float64"}, r"output=float64 has mbits=52"),
    ({"output": "tf32"}, None),
    ({"output": fs.Format(ebits=8, mbits=23, bias=100)}, r"wider than float32"),
    ({"accumulator": "float8_e8m0fnu"}, r"must be a signed format with a zero"),
    ({"accumulator": 3}, r"accumulator=3 must be a Format"),
    ({"kahan": True, "acc_rounding": "sr", "sr_bits": 3}, r"kahan=True does not combine"),
    ({"kahan": True, "accumulator": FixedPoint(bits=32)}, r"need a floating accumulator"),
    ({"seed": -1}, r"seed=-1 is out of range"),
    ({"stream": 2**32}, r"stream=4294967296 is out of range"),
    ({"product": "nope"}, r"nope"),
])
def test_bad_specs_are_refused(kwargs: dict, match: str | None) -> None:
    if match is None:
        AccumulatorSpec(**kwargs)
        return
    with pytest.raises((ValueError, TypeError), match=match):
        AccumulatorSpec(**kwargs)


def test_fixed_point_validation() -> None:
    with pytest.raises(ValueError, match=r"FixedPoint bits=60 is out of range; allowed: 2..59"):
        FixedPoint(bits=60)
    with pytest.raises(ValueError, match=r"FixedPoint overflow='clamp' is not valid"):
        FixedPoint(bits=8, overflow="clamp")
    assert FixedPoint(bits=8, frac_bits=2).max == 31.75


def test_specs_are_hashable_values() -> None:
    a = AccumulatorSpec(group=32, kept_bits=13, accumulator="float32")
    b = AccumulatorSpec(group=32, kept_bits=13, accumulator=fs.format("float32"), name="other")
    assert a == b and hash(a) == hash(b)
    assert "group=32" in str(a) and "kept_bits=13" in str(a)


# ---- the reference on worked examples -----------------------------------------------------
def test_reference_fma_rounds_once() -> None:
    # 3*5 + 0.5 = 15.5, a tie between the e4m3 values 15 and 16: even code 16;
    # rounding the product first would give 15 + 0.5 -> 16 too, but 15 + 0.4375 -> 15
    assert ref.fma(3.0, 5.0, 0.5, "e4m3") == 16
    assert ref.fma(3.0, 5.0, 0.4375, "e4m3") == 15
    # 1.0625 * 1.0625 = 1.12890625 (exact); bf16 has 8 bits: 1.125 (below) is nearest
    assert ref.fma(1.0625, 1.0625, 0.0, "bfloat16") == Fraction(9, 8)
    assert ref.fma(1.0625, 1.0625, 0.0, "bfloat16", "up") == Fraction(145, 128)
    assert math.isnan(ref.fma(math.inf, 0.0, 1.0, "float16"))
    assert math.isnan(ref.fma(math.inf, 1.0, -math.inf, "float16"))
    assert ref.fma(1e4, 1e4, 0.0, "float16") == math.inf  # overflow, IEEE: inf
    assert ref.fma(1.0, 1.0, -1.0, "float16") == 0.0 and math.copysign(1, ref.fma(1.0, 1.0, -1.0, "float16")) > 0
    # k-bit SR: 1 + 2**-9 in bf16 (ulp 2**-7) is a quarter ulp: up iff 0b01 + r%4 >= 4
    assert ref.fma(1.0, 1.0, 2.0**-9, "bfloat16", "sr", random_bits=3, sr_bits=2) == 1 + Fraction(1, 128)
    assert ref.fma(1.0, 1.0, 2.0**-9, "bfloat16", "sr", random_bits=2, sr_bits=2) == 1


def test_reference_alignment_truncates_below_the_group_max() -> None:
    h = mac.spec("hopper_fp8")  # group 32, B = 13, truncation, accumulator aligned too
    # 1 + 2**-13 keeps its last bit; 2**-14 is cut: the grid is 2**-13
    assert ref.dot([1.0, 2.0**-13], [1.0, 1.0], h) == 1 + Fraction(1, 2**13)
    assert ref.dot([1.0, 2.0**-14], [1.0, 1.0], h) == 1
    # 31 terms of 2**-14 below 1.0 are each cut to 0: the sum is exactly 1
    assert ref.dot([1.0] + [2.0**-14] * 31, [1.0] * 32, h) == 1
    # ... but alone in their group (the 33rd product starts a new one) they count:
    # group 2 = {2**-14} with the accumulator 1.0 aligned in: cut again
    assert ref.dot([1.0] + [0.0] * 31 + [2.0**-14], [1.0] * 33, h) == 1
    # truncation toward zero of a negative term: -(2**-13 + 2**-14) -> -2**-13
    assert ref.dot([1.0, -(2.0**-13 + 2.0**-14)], [1.0, 1.0], h) == 1 - Fraction(1, 2**13)
    down = h.replace(align_rounding="down")  # two's-complement truncation: floor
    assert ref.dot([1.0, -(2.0**-13 + 2.0**-14)], [1.0, 1.0], down) == 1 - Fraction(2, 2**13)
    # ties at the cut: 2**-14 is half a unit of 2**-13
    rne = h.replace(align_rounding="nearest_even", align_accumulator=False, acc_rounding="nearest_even")
    assert ref.dot([1.0, 2.0**-14], [1.0, 1.0], rne) == 1  # tie to even (0 units)
    assert ref.dot([1.0, 3 * 2.0**-14], [1.0, 1.0], rne) == 1 + Fraction(2, 2**13)  # 1.5 -> 2 units
    rna = rne.replace(align_rounding="nearest_away")
    assert ref.dot([1.0, 2.0**-14], [1.0, 1.0], rna) == 1 + Fraction(1, 2**13)


def test_reference_accumulator_in_alignment() -> None:
    # V100 (Fasi et al.): 4 products and c aligned to the largest, 24 bits kept,
    # truncated, then normalised to binary32 by truncation.  The first group
    # makes c = 2**24; in the second, c's exponent 24 sets the grid 2**(24-23)
    # = 2, on which each product 1 is cut to 0.
    v = mac.spec("v100_fp16")
    a = [2.0**12, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
    b = [2.0**12, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
    assert ref.dot(a, b, v) == 2**24
    # not aligned with the accumulator, the group 1 + 1 = 2 is added exactly
    assert ref.dot(a, b, v.replace(align_accumulator=False)) == 2**24 + 2


def test_reference_promotion_chunks() -> None:
    # bf16 accumulator (8 bits): 256 + 1 + 1 ... each 1 is lost at 256 (ulp 2);
    # promoting every 2 products adds pairs (256+1 -> 256, then 1+1 = 2) into FP32
    s = mac.spec("bf16")
    a = [256.0, 1.0, 1.0, 1.0]
    assert ref.dot(a, [1.0] * 4, s) == 256
    assert ref.dot(a, [1.0] * 4, s.replace(promote_every=2)) == 258


def test_reference_kahan_recovers_lost_bits() -> None:
    s = mac.spec("bf16")
    a = [256.0] + [1.0] * 8
    assert ref.dot(a, [1.0] * 9, s) == 256
    assert ref.dot(a, [1.0] * 9, s.replace(kahan=True)) == 264


def test_reference_fixed_point() -> None:
    fx = AccumulatorSpec(accumulator=FixedPoint(bits=8, frac_bits=1), acc_rounding="toward_zero")
    assert ref.dot([1.25, 2.0], [1.0, 1.0], fx) == Fraction(3)  # 1.25 -> 1.0 on the 0.5 grid
    assert ref.dot([60.0, 10.0], [1.0, 1.0], fx) == Fraction(127, 2)  # saturates at 63.5
    wrap = fx.replace(accumulator=FixedPoint(bits=8, frac_bits=1, overflow="wrap"))
    assert ref.dot([60.0, 10.0], [1.0, 1.0], wrap) == -58  # 140 - 256 = -116 halves
    assert math.isnan(ref.dot([math.inf], [1.0], fx))


def test_reference_mx_dot_scales_blocks() -> None:
    # blocks of 2: (1*3 + 2*1) * 2**-3 * 4 = 5 * 2**-1
    assert ref.mx_dot([1.0, 2.0], [2.0**-3], [3.0, 1.0], [4.0], "fp32", block=2) == Fraction(5, 2)
    assert math.isnan(ref.mx_dot([1.0, 2.0], [math.nan], [3.0, 1.0], [4.0], "fp32", block=2))
    with pytest.raises(ValueError, match="need 1 scales each"):
        ref.mx_dot([1.0, 2.0], [1.0, 1.0], [3.0, 1.0], [4.0], "fp32", block=2)
