"""Block formats (floatsim.blocks): OCP MX examples, the exact oracle, peers, errors.

The oracle is floatsim.reference.blocks, written from docs/blocks.md alone:
it walks the blocks with its own index arithmetic, computes each block's
scale with Fractions, and rounds every element with
floatsim.reference.round_value.
"""

from __future__ import annotations

import math
import sys
import warnings
from fractions import Fraction
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ml_support import ML_VERSION

import floatsim as fs
import floatsim.blocks as B
from floatsim.blocks import BlockFormat, IntFormat, ScaleRule
from floatsim.kernels.blocksteps import (
    div_f32_value_bits,
    elem_code,
    elem_value,
    exact_divisor,
    exact_signed_quotient_bits,
    f32_value_bits,
    rcp_quotients4,
    reciprocal_ok,
    signed_quotient_bits,
)
from floatsim.kernels.intrinsics import f32_from_bits, f64_bits
from floatsim.reference.blocks import quantize as oracle

REPO = Path(__file__).resolve().parent.parent
MODES = ["nearest_even", "nearest_away", "toward_zero", "up", "down", "odd", "stochastic"]


def assert_exact(got: np.ndarray, want: np.ndarray, x=None) -> None:
    """Bit-exact comparison of float64 results with the oracle (NaN == NaN, signed zeros)."""
    g = got.reshape(-1)
    w = want.reshape(-1)
    for i, (a, b) in enumerate(zip(g.tolist(), w.tolist())):
        if isinstance(b, float) and math.isnan(b):
            ok = math.isnan(a)
        else:
            ok = a == b and math.copysign(1, a) == math.copysign(1, float(b))
        if not ok:
            xi = None if x is None else np.asarray(x).reshape(-1)[i]
            raise AssertionError(f"flat index {i}: x={xi!r} got {a!r}, oracle {b!r} ({float(b)!r})")


# ---- OCP MX v1.0 hand-worked examples ---------------------------------------------------------
# Each: the block, X = 2**(floor(log2(amax)) - emax_elem) (section 6.3), the
# element cast with round-to-nearest-even and clamping to the largest normal
# (section 6.3), element values from section 5.3 (FP8 per OFP8, FP6, FP4,
# INT8 with an implicit scale of 2**-6) and E8M0 code k + 127 (section 5.4.1).
OCP_EXAMPLES = [
    # MXFP8 E4M3 (emax 8): amax 300 -> X = 2**0; 300 in [256, 512) has spacing 32:
    # 300/32 = 9.375 -> 9 -> 288; -0.013 is below 2**-6 (E4M3's smallest normal), where
    # the subnormal spacing is 2**-9: 0.013 * 512 = 6.656 -> 7 -> 7/512.
    ("mxfp8_e4m3", [1.0, 300.0, -0.013, 0.0], 127, [1.0, 288.0, -7 / 512, 0.0]),
    # MXFP8 E5M2 (emax 15): amax 1000 -> floor(log2) 9 -> X = 2**-6; 1000 * 64 = 64000
    # rounds to 65536 > 57344 and clamps: 57344 * 2**-6 = 896 (FLOOR's clipping).
    ("mxfp8_e5m2", [1000.0, 1.0, -3.0], 121, [896.0, 1.0, -3.0]),
    # MXFP6 E3M2 (emax 4): amax 5 -> X = 2**(2-4); 5/X = 20 exact; 0.3/X = 1.2 -> 1.25.
    ("mxfp6_e3m2", [5.0, 0.3], 125, [5.0, 0.3125]),
    # MXFP6 E2M3 (emax 2, max 7.5): amax 7.9 -> X = 1; 7.9 rounds to 8 > 7.5: clamps.
    # 0.3 is a subnormal multiple of 1/8: 2.4 eighths -> 2/8.
    ("mxfp6_e2m3", [7.9, 0.3], 127, [7.5, 0.25]),
    # MXFP4 E2M1 (emax 2, max 6): amax 100 -> X = 2**(6-2) = 16: 100/16 = 6.25 -> 6;
    # 7/16 = 0.4375 -> 0.5; -3/16 = -0.1875 -> -0 (ties and below 0.25 to 0).
    ("mxfp4_e2m1", [0.5, -3.0, 100.0, 7.0], 131, [0.0, -0.0, 96.0, 8.0]),
    # MXINT8 (emax 0): amax 3 -> X = 2**1; 3/2 = 1.5 = 96/64; 0.1/2 = 0.05 = 3.2/64 -> 3/64.
    ("mxint8", [3.0, 0.1, -1.0], 128, [3.0, 0.09375, -1.0]),
]


@pytest.mark.parametrize("name,block,scale_code,want", OCP_EXAMPLES)
def test_ocp_mx_examples(name, block, scale_code, want):
    x = np.array([block], dtype=np.float32)
    y = B.quantize(x, name)
    assert y[0].tolist() == want
    assert [math.copysign(1, v) for v in y[0].tolist()] == [math.copysign(1, v) for v in want]
    elems, scales, _, _ = B.encode(x, name)
    assert scales.tolist() == [[scale_code]]
    assert B.decode(elems, scales, name).tolist() == y.tolist()


def test_mxint8_codes_are_twos_complement():
    e, s, _, _ = B.encode(np.array([[3.0, 0.1, -1.0, -2.0]]), "mxint8")
    # X = 2: 1.5 -> 96, 0.05 -> 3, -0.5 -> -32 (0xE0), -1 -> -64 (0xC0)
    assert e.tolist() == [[96, 3, 0xE0, 0xC0]] and s.tolist() == [[128]]
    # -2 (0x80) is an INT8 value: a block max of -1.995 * X rounds to it
    e2, _, _, _ = B.encode(np.array([[-1.999, 0.5]]), "mxint8")
    assert e2.tolist() == [[0x80, 32]]


# ---- special blocks ----------------------------------------------------------------------------
def test_special_blocks_mx():
    x = np.full((5, 32), 0.75, dtype=np.float32)
    x[0] = 0.0
    x[1, 3] = np.inf
    x[2, 5] = np.nan
    x[3] = 2.0**-140  # all subnormal in float32: scale clamps at E8M0's 2**-127
    x[4, 0] = -0.0
    y = B.quantize(x, "mxfp8_e4m3")
    e, s, _, _ = B.encode(x, "mxfp8_e4m3")
    # zero block: 2**-127 (code 0); inf, NaN: NaN; amax 0.75: 2**(-1 - 8) (code 118)
    assert s[:, 0].tolist() == [0, 255, 255, 0, 118]
    assert (y[0] == 0).all() and np.isnan(y[1]).all() and np.isnan(y[2]).all()
    # 2**-140 / 2**-127 = 2**-13 is below e4m3's smallest subnormal 2**-9: 0
    assert (y[3] == 0).all()
    assert math.copysign(1, y[4, 0]) == -1 and y[4, 1] == 0.75
    assert np.isnan(B.decode(e, s, "mxfp8_e4m3")[1:3]).all()


def test_inf_block_with_saturating_scale():
    bf = B.format("mxfp8_e5m2").with_(scale_overflow="saturate")
    y = B.quantize(np.array([[np.inf, 1.0, -np.inf]]), bf)
    # the scale saturates at 2**127; MX elements saturate too, so inf becomes E5M2's max
    assert y.tolist() == [[57344.0 * 2.0**127, 0.0, -57344.0 * 2.0**127]]


def test_scale_overflow_policies():
    x = np.array([[1e300, 1.0]])  # needs 2**(996 - 8): beyond E8M0's 2**127
    assert np.isnan(B.quantize(x, "mxfp8_e4m3")).all()
    sat = B.quantize(x, B.format("mxfp8_e4m3").with_(scale_overflow="saturate"))
    assert sat.tolist() == [[448.0 * 2.0**127, 0.0]]
    with pytest.raises(ValueError, match=r"amax 1e\+300.*exceeds the scale format.*scale_overflow='raise'"):
        B.quantize(x, B.format("mxfp8_e4m3").with_(scale_overflow="raise"))


def test_float32_output_overflow_is_inf():
    # CEIL on E2M1 near float32's max puts the block at 2**126 * 4 = 2**128
    x = np.array([[3.0e38, 1.0]], dtype=np.float32)
    bf = B.format("mxfp4_e2m1").with_(rule="ceil")
    assert np.isinf(B.quantize(x, bf)[0, 0])
    assert B.quantize(x, bf, out_dtype=np.float64)[0, 0] == 2.0**128


# ---- the exact oracle, with hypothesis -------------------------------------------------------
# the widest scales a block format takes (2**-512 .. 2**512), at both levels
WIDE = fs.Format(ebits=10, mbits=2)
WIDE_TWO_LEVEL = BlockFormat(element="e2m1", scale=WIDE, block=4, rule="amax", tensor_format=WIDE)


def _formats():
    return [
        *(B.format(n) for n in B.names()[:14]),
        BlockFormat(element="e4m3", scale="e8m0", block=8, rule="ceil"),
        BlockFormat(element="e4m3", scale="e8m0", block=8, rule="even"),
        BlockFormat(element="e2m1", scale="e8m0", block=8, rule="nearest"),
        BlockFormat(element="e3m2", scale="e8m0", block=8, rule="rceil"),
        BlockFormat(element="e2m1", scale="ue4m3", block=4, rule="rceil"),
        BlockFormat(element="e2m1", scale="ue5m3", block=4, rule="amax"),
        BlockFormat(element="e5m2", scale="ue5m3", block=(2, 3), rule="floor"),
        BlockFormat(element="e2m3", scale="e8m0", block=(2, 2, 2), rule="floor"),
        BlockFormat(element="e2m1", scale="ue4m3", block=(4, 4), rule="4over6",
                    tensor_format="float32", scale_bound=256.0),
        BlockFormat(element="bf16", scale="e8m0", block=5),
        B.bfp(6, block=(3, None)),
        B.scaled("e4m3"),
        B.scaled("e5m2", "bf16"),
        B.int_block(3, block=5, symmetric=False, scale="fp16"),
        WIDE_TWO_LEVEL,
    ]


FORMATS = _formats()


@st.composite
def _case(draw):
    bf = draw(st.sampled_from(FORMATS))
    k = 1 if bf.block is None else len(bf.block)
    nd = draw(st.integers(k, 3))
    shape = tuple(draw(st.lists(st.integers(1, 9), min_size=nd, max_size=nd)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n = math.prod(shape)
    # one magnitude regime per example (float32 subnormals to near its max), spread +-2**10
    base = draw(st.sampled_from([0, 0, 0, -140, -120, -60, 60, 118]))
    exps = draw(st.lists(st.integers(-40, 40), min_size=n, max_size=n))
    mant = draw(st.lists(st.floats(-2, 2, allow_nan=False, width=32), min_size=n, max_size=n))
    with np.errstate(over="ignore"):  # float32 may overflow to inf near its max: a case too
        x = (np.array(mant) * np.exp2(np.array(exps) / 4 + base)).astype(dtype).reshape(shape)
    special = draw(st.sampled_from(["none", "none", "zero", "nan", "inf", "tiny"]))
    if special != "none":
        i = draw(st.integers(0, n - 1))
        x.reshape(-1)[i] = {"zero": 0.0, "nan": np.nan, "inf": -np.inf, "tiny": 1e-42}[special]
    if bf.block is None:
        axis = draw(st.sampled_from([None, -1, 0, tuple(range(nd))[-2:]]))
    elif k == 1:
        axis = draw(st.integers(-nd, nd - 1))
    else:
        axis = tuple(draw(st.permutations(range(nd)))[:k])
    rounding = draw(st.sampled_from(MODES))
    sr_bits = draw(st.sampled_from([None, 3])) if rounding == "stochastic" else None
    return bf, x, axis, rounding, sr_bits


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_case())
def test_matches_exact_oracle(case):
    bf, x, axis, rounding, sr_bits = case
    seed = 12345 if rounding == "stochastic" else None
    kw = dict(seed=seed, sr_bits=sr_bits) if seed is not None else {}
    got = B.quantize(x, bf, rounding, axis=axis, out_dtype=np.float64, **kw)
    assert_exact(got, oracle(x, bf, rounding, axis, seed=seed, sr_bits=sr_bits), x)
    if not (np.isnan(x).any() and not bf.scale.has_nan):  # encode raises there (tested below)
        enc = B.encode(x, bf, rounding, axis=axis, **kw)
        assert (enc.tensor_scale is None) == (bf.tensor_format is None)
        assert (enc.zero_points is None) == (bf.rule is not ScaleRule.MINMAX)
        back = B.decode(enc, bf, axis=axis, dtype=np.float64)
        assert np.array_equal(back, got, equal_nan=True)
        back = B.decode(enc.elements, enc.scales, bf, axis=axis, dtype=np.float64,
                        tensor_scale=enc.tensor_scale, zero_points=enc.zero_points)
        assert np.array_equal(back, got, equal_nan=True)


def test_scales_wider_than_float32_cast_quietly():
    # make_consts once warned of float32 overflow for such scales (constants
    # the fast path never reads); the results must still be the oracle's
    x = np.random.default_rng(5).standard_normal((3, 8)).astype(np.float32) * 2.0**-140
    for tensor_scale in (None, 2.0**-500, 2.0**500):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = B.quantize(x, WIDE_TWO_LEVEL, out_dtype=np.float64, tensor_scale=tensor_scale)
            assert B.quantize(x, WIDE_TWO_LEVEL, tensor_scale=tensor_scale).dtype == np.float32
        assert_exact(got, oracle(x, WIDE_TWO_LEVEL, "nearest_even", -1, tensor_scale=tensor_scale), x)


@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3",
                                  "mxfp4_e2m1"])
@pytest.mark.parametrize("rounding", MODES[:6])
def test_fast_path_equals_general_path(name, rounding):
    """float32 in/out takes the vectorised per-block path; float64 in the general one."""
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((16, 96)) * np.exp2(rng.integers(-150, 125, (16, 1)))).astype(np.float32)
    x[0, :7] = [0.0, -0.0, np.float32(1e-45), 3.4e38, -3.4e38, 1.0, 2.0**-149]
    x[1, 40] = np.nan
    for rule in ("floor", "ceil", "even", "nearest", "rceil"):
        bf = B.format(name).with_(rule=rule)
        fast = B.quantize(x, bf, rounding)
        general = B.quantize(x.astype(np.float64), bf, rounding, out_dtype=np.float32)
        assert np.array_equal(fast.view(np.uint32), general.view(np.uint32)), rule


def test_stochastic_equals_elementwise_sr_of_scaled_values():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((6, 64)) * 3).astype(np.float32)
    for sr_bits in (None, 5):
        y = B.quantize(x, "mxfp4_e2m1", "stochastic", seed=99, stream=2, sr_bits=sr_bits)
        _, s, _, _ = B.encode(x, "mxfp4_e2m1")
        X = np.repeat(np.exp2(s.astype(np.float64) - 127), 32, axis=1).astype(np.float32)
        scaled = x / X  # exact: power-of-two scales, no underflow here
        want = fs.quantize(scaled, "e2m1", "stochastic", seed=99, stream=2, sr_bits=sr_bits,
                           overflow="saturate") * X
        assert np.array_equal(y, want)


def test_padding_never_changes_unpadded_values():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((7, 45)).astype(np.float32)
    for bf, axis in ((B.format("mxfp8_e4m3"), -1), (B.format("mxfp8_e4m3"), 0),
                     (B.format("nvfp4_16x16"), (0, 1))):
        full = B.quantize(x, bf, axis=axis)
        # the same values with explicit zero padding to whole blocks
        pad = np.zeros((16, 64), np.float32)
        pad[:7, :45] = x
        if bf.tensor_format is None:
            assert np.array_equal(B.quantize(pad, bf, axis=axis)[:7, :45], full)
        else:
            t = B.encode(x, bf, axis=axis).tensor_scale
            assert np.array_equal(B.quantize(pad, bf, axis=axis, tensor_scale=t)[:7, :45], full)
    # a short last block is a block of its own: the values before it are unchanged
    a = B.quantize(x[:, :32], "mxfp8_e4m3")
    assert np.array_equal(B.quantize(x, "mxfp8_e4m3")[:, :32], a)


def test_axes_and_layouts():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 40, 5)).astype(np.float32)
    y1 = B.quantize(x, "mxfp8_e4m3", axis=1)
    y2 = np.moveaxis(B.quantize(np.ascontiguousarray(np.moveaxis(x, 1, -1)), "mxfp8_e4m3"), -1, 1)
    assert np.array_equal(y1, y2)
    _, s, _, _ = B.encode(x, "mxfp8_e4m3", axis=1)
    assert s.shape == (3, 2, 5)
    e, s, t, _ = B.encode(x, "nvfp4_16x16", axis=(1, 2))
    assert s.shape == (3, 3, 1) and e.shape == x.shape and t > 0
    # non-contiguous input, out=
    xt = x.transpose(2, 1, 0)
    out = np.empty(xt.shape, np.float32)
    B.quantize(xt, "mxfp6_e2m3", axis=1, out=out)
    assert np.array_equal(out, B.quantize(np.ascontiguousarray(xt), "mxfp6_e2m3", axis=1))
    # float16 / bfloat16 in and out; 0-d and empty arrays
    h = x.astype(np.float16)
    assert B.quantize(h, "mxfp8_e4m3").dtype == np.float16
    assert B.quantize(np.float32(3.0), "mxfp8_e4m3").shape == ()
    assert B.quantize(np.zeros((0, 7), np.float32), "mxfp8_e4m3").shape == (0, 7)


def test_per_tensor_channel_token_and_delayed():
    w = np.array([[1.0, -2.0, 0.5], [0.01, 0.03, -0.02]])
    bf = B.scaled("e4m3")
    per_row = B.quantize(w, bf, axis=1)
    e, s, _, _ = B.encode(w, bf, axis=1)
    assert s.shape == (2, 1) and s.dtype == np.uint32  # FP32 scales: their bit patterns
    assert np.array_equal(B.decode(e, s, bf, axis=1, dtype=np.float64), per_row)
    _, st_, _, _ = B.encode(w, bf, axis=None)
    assert st_.shape == (1, 1)
    _, sc, _, _ = B.encode(w, bf, axis=0)
    assert sc.shape == (1, 3)
    ds = B.DelayedScaling("e4m3", axis=1, history_len=2)
    first = ds.quantize(w)
    assert np.array_equal(first, per_row)
    ds.quantize(w * 4)  # scaled from the history (amax of w): 4x values saturate
    assert ds.history.amax.tolist() == [[8.0], [0.12]]
    h = B.AmaxHistory(3, algo="most_recent")
    h.update(np.array([1.0, np.inf]))
    assert h.amax.tolist() == [1.0, 0.0]


def test_delayed_amax_argument():
    x = np.array([[1.0, 2.0, 3.0, 4.0]], dtype=np.float32)
    bf = B.format("mxfp8_e4m3").with_(block=4)
    y = B.quantize(x, bf, amax=1.0)  # X = 2**(0 - 8): values above 448 * X = 1.75 clamp
    assert y.tolist() == [[1.0, 1.75, 1.75, 1.75]]
    assert np.array_equal(B.quantize(x, bf, amax=B.block_amax(x, bf)), B.quantize(x, bf))


def test_div_odd_is_round_to_odd():
    """The quotient behind non-power-of-two scales: exact, or odd and strictly
    between the float64 neighbours of the exact quotient."""
    from floatsim.kernels.blocksteps import div_odd

    rng = np.random.default_rng(11)
    a = rng.standard_normal(3000) ** 2 * np.exp2(rng.integers(-300, 300, 3000))
    b = rng.standard_normal(3000) ** 2 * np.exp2(rng.integers(-300, 300, 3000))
    a[:4] = [6.0, 1.0, 3.0, 2.0**-1074]
    b[:4] = [3.0, 3.0, 0.375, 1.0]
    for ai, bi in zip(a.tolist(), b.tolist()):
        q = div_odd(ai, bi)
        exact = Fraction(ai) / Fraction(bi)
        if not Fraction(2) ** -600 <= exact <= Fraction(2) ** 600:  # documented stand-ins
            assert q == (2.0**600 if exact > 1 else 2.0**-1070)
            continue
        if Fraction(q) == exact:
            continue
        qb = int(np.float64(q).view(np.int64))
        assert qb & 1, (ai, bi)
        lo, hi = np.nextafter(q, 0.0), np.nextafter(q, np.inf)
        assert Fraction(float(lo)) < exact < Fraction(float(hi)), (ai, bi)


def _division_route(us, t, c, rnd, branch, gpu, ep0, bp, fast, ref):  # noqa: ANN001, ANN202
    p2 = exact_divisor(t)
    for i in range(us.size):
        fast[i] = div_f32_value_bits(us[i], t, p2, c, rnd, branch, gpu)
        u = f64_bits(np.float64(f32_from_bits(us[i])))
        ref[i] = f32_value_bits(elem_value(elem_code(u, ep0, 1, t, 0, 0, bp), ep0, 1, t, 0, bp))


def _quotient_routes(us, ts, rcp, div):  # noqa: ANN001, ANN202
    """rcp[i, k]: element i + k's quotient bits by ts[i] in lane k of the
    GPU's reciprocal route (the others hold its neighbours); div[i, k]: the
    division route's (blocksteps.div_f32_value_bits's)."""
    n = us.size
    for i in range(n):
        t = ts[i]
        p2 = exact_divisor(t)
        rcp[i] = rcp_quotients4(us[i], us[(i + 1) % n], us[(i + 2) % n], us[(i + 3) % n], t, p2)
        for k in range(4):
            u = us[(i + k) % n]
            q, need = signed_quotient_bits(u, t, p2)
            div[i, k] = exact_signed_quotient_bits(u, t) if need else q


_QUOTIENT_ROUTES = None


def _assert_quotient_routes_agree(us, ts):  # noqa: ANN001, ANN202
    """The GPU's reciprocal route gives the division route's quotients (the
    cast that follows is the same function) where it takes t."""
    global _QUOTIENT_ROUTES
    if _QUOTIENT_ROUTES is None:
        import numba

        _QUOTIENT_ROUTES = numba.njit(_quotient_routes)
    ok = (ts >= 2.0**-800) & (ts <= 2.0**800)
    assert all(reciprocal_ok(t) == k for t, k in zip(ts[:: max(1, ts.size // 50)], ok[:: max(1, ts.size // 50)]))
    us, ts = us[ok], ts[ok]
    rcp, div = np.zeros((us.size, 4), np.uint32), np.zeros((us.size, 4), np.uint32)
    _QUOTIENT_ROUTES(us, ts, rcp, div)
    bad = np.argwhere(rcp != div)
    assert bad.size == 0, [(us[(i + k) % us.size], ts[i], rcp[i, k], div[i, k]) for i, k in bad[:4]]
    return us.size


@pytest.mark.parametrize("spec", ["e2m1", "e4m3", "e4m3:nan", "e5m2", "e3m2", "e2m3", "bfloat16", "ue4m3"])
def test_division_route_matches_general_element_path(spec):
    """The GPU value-scale kernel's element route (x / t rounded to odd into
    float32, then the float32 fast path, times t) against the general one
    (x / t rounded to odd in float64, the float64 routine), in every mode but
    SR and each GPU form: on float32 neighbours of every midpoint and value
    times t (quotients a hair from a tie), random values and specials, for
    scales t that are and are not powers of two, tiny and huge; and on
    quotients that are inexact but round to a float32 in float64."""
    import numba

    from floatsim.formats import Overflow
    from floatsim.kernels.abi import B_KIND, K_FLOAT, N_BP, make_params
    from floatsim.kernels.fast32 import make_consts
    from floatsim.kernels.forms import fits_div32

    name, _, ov = spec.partition(":")
    fmt = fs.format(name)
    assert fits_div32(fmt)
    overflow = Overflow.NAN if ov == "nan" else Overflow.SATURATE
    bp = np.zeros(N_BP, np.int64)
    bp[B_KIND] = K_FLOAT
    bp = tuple(int(v) for v in bp)
    run = numba.njit(_division_route)
    rng = np.random.default_rng(17)
    vals = np.unique(np.abs(fmt.values()[np.isfinite(fmt.values())]))
    if vals.size > 600:
        vals = np.sort(rng.choice(vals, 600, replace=False))
    grid = np.concatenate([vals, (vals[1:] + vals[:-1]) / 2])
    ts = [3 * 0.0123, 1.5, 0.75 * 2.0**-130, 448 * 2.0**100, 2.0**-3, 2.0**-1000, 2.0**900, 7.0 / 3.0,
          2.0**-895, 2.0**873, 2.0**-896, 2.0**874, 2.0**-800, 2.0**800, 1.75 * 2.0**-800, 0.75 * 2.0**800]
    ts += (rng.choice([0.5, 0.75, 1.25, 1.75, 3.5, 6.5, 448.0], 6)
           * np.exp2(rng.integers(-60, 60, 6))).tolist()
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 3.4e38, -1e-45, 2.0**-126],
                        np.float32)
    cases = []
    for t in ts:
        with np.errstate(over="ignore", under="ignore"):
            centre = (grid * t).astype(np.float32)
            near, up, down = [centre], centre, centre
            for _ in (1, 2):  # one and two float32 steps either side
                up, down = np.nextafter(up, np.float32(np.inf)), np.nextafter(down, np.float32(0))
                near += [up, down]
            x = np.concatenate(near + [rng.standard_normal(500).astype(np.float32)
                                       * np.float32(min(t * fmt.max, 1e38)), specials])
        cases.append((t, np.concatenate([x, -x])))
    # t = x / g rounded to float64: the quotient is inexact but within 2**-53 of
    # the grid value g, so its float64 rounding lands on float32's grid
    for xv in (1.0, 1.1, 0.7, 3.3):
        x = np.array([xv, -xv], np.float32)
        cases += [(float(np.float64(x[0]) / g), x) for g in grid[grid > 0]]
    for t, x in cases:
        us = x.view(np.uint32)
        _assert_quotient_routes_agree(us, np.full(us.size, t))
        for rnd in list(fs.Rounding)[:6]:
            c = make_consts(fmt, rnd, overflow, None)
            ep0 = tuple(int(v) for v in make_params(fmt, rnd, overflow=overflow))
            for branch, gpu in ((False, False), (False, True), (True, True)):
                fast = np.zeros(us.size, np.int64)
                ref = np.zeros(us.size, np.int64)
                run(us, t, c, rnd.value, branch, gpu, ep0, bp, fast, ref)
                bad = np.flatnonzero(fast != ref)
                assert bad.size == 0, (spec, t, rnd, branch, gpu, x[bad[:4]], fast[bad[:4]], ref[bad[:4]])


def test_reciprocal_quotients_match_division():
    """The GPU's quotients by the product with 1 / t (blocksteps.rcp_quotients4)
    against the correctly rounded division's, rounded to odd into float32:
    divisors with full 53-bit significands across the route's range and at
    its ends, and dividends t times float32 values and midpoints and their
    float32 neighbours, subnormal quotients, random ones and specials; and
    divisors a / g rounded (and a few float64 steps off), whose quotients
    are float32 values g or a hair from them, where the product's two
    roundings can cross g; each in every lane."""
    rng = np.random.default_rng(21)
    ts = rng.uniform(1, 2, 400) * np.exp2(rng.integers(-140, 140, 400))
    ts = np.concatenate([ts, [2.0**-800, 2.0**800, 1.5, 0.0123 * 6, 2.0**-800 * 1.999, 2.0**799 * 1.999,
                              1.0, 2.0**-149, 3.0 * 2.0**-130]])
    g = rng.integers(1, 2**24, ts.size).astype(np.float64) * np.exp2(rng.integers(-150, 100, ts.size))
    us, tt = [], []
    for half in (0.0, 0.5):  # float32 values, and midpoints, times t
        with np.errstate(over="ignore", under="ignore"):
            c = ((g + half * np.exp2(np.floor(np.log2(g)) - 23)) * ts).astype(np.float32)
        for step in (-2, -1, 0, 1, 2):
            x = c
            for _ in range(abs(step)):
                x = np.nextafter(x, np.float32(np.inf if step > 0 else 0))
            us.append(x.view(np.uint32))
            tt.append(ts)
    x = (rng.standard_normal(ts.size * 4) * np.exp2(rng.integers(-149, 127, ts.size * 4))).astype(np.float32)
    x[:9] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 3.4e38, -1e-45, 2.0**-126]
    us.append(x.view(np.uint32))
    tt.append(np.repeat(ts, 4))
    # t = a / g rounded, and a few float64 steps off it: a / t is exactly g or
    # within a few float64 steps of it, on either side
    a = (rng.uniform(1, 2, 24000) * np.exp2(rng.integers(-120, 120, 24000))).astype(np.float32)
    gq = (rng.uniform(1, 2, a.size) * np.exp2(rng.integers(-120, 120, a.size))).astype(np.float32)
    gq[:4000] = (rng.integers(1, 2**23, 4000) * 2.0**-149).astype(np.float32)  # subnormal g
    td = a.astype(np.float64) / gq
    td = np.concatenate([td, td * 1.5 / 1.5, np.nextafter(td, 0), np.nextafter(td, np.inf),
                         td * (1 + 3 * 2.0**-52), td * (1 - 3 * 2.0**-52)])
    us.append(np.tile(a, 6).view(np.uint32))
    tt.append(td)
    us.append((np.float32(1.5) * gq).view(np.uint32))  # exact quotients by 1.5
    tt.append(np.full(gq.size, 1.5))
    us = np.concatenate(us)
    us = np.concatenate([us, us | np.uint32(0x80000000)])
    tt = np.concatenate(tt * 2)
    assert _assert_quotient_routes_agree(us, tt) > 10000


@pytest.mark.parametrize("rounding", MODES[:6])
def test_value_route_equals_general_path(rounding, monkeypatch):
    """float32 in and out with a value scale (NVFP4 and kin) takes
    cpu.blocks.value_f32 outside SR; float64 in takes block_cast: the same
    bits, on blocks of every kind (zeros, NaN, inf, subnormals, huge, tiny)."""
    import floatsim.cpu.launch as L

    taken = []
    orig = L.launch
    monkeypatch.setattr(L, "launch", lambda k, *a: (taken.append(k.__name__), orig(k, *a)))
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((16, 64)) * np.exp2(rng.integers(-140, 120, (16, 1)))).astype(np.float32)
    x[0, :7] = [0.0, -0.0, np.float32(1e-45), 3.4e38, -3.4e38, 1.5, 2.0**-149]
    x[1, 40] = np.nan
    x[2, 3] = np.inf
    x[3] = 0.0
    x[4, :16] = np.float32(1.5) * np.arange(16)  # exact quotients (the residual branch)
    nv = B.format("nvfp4")
    cases = [("nvfp4", {}), (nv.with_(tensor_format=None), {}), ("nvfp4", {"tensor_scale": 0.0123}),
             (BlockFormat(element="e2m1", scale="e4m3", block=8, rule="amax"), {}),
             (BlockFormat(element="e4m3", scale="ue5m3", block=32, rule="rceil"), {}),
             (BlockFormat(element="bfloat16", scale="ue4m3", block=16, rule="amax"), {}),
             (nv.with_(scale_overflow="nan"), {})]
    for bf, kw in cases:
        taken.clear()
        fast = B.quantize(x, bf, rounding, **kw)
        assert taken == ["value_f32"], (bf, taken)
        general = B.quantize(x.astype(np.float64), bf, rounding, out_dtype=np.float32, **kw)
        assert np.array_equal(fast.view(np.uint32), general.view(np.uint32)), (bf, kw)


@pytest.mark.parametrize("bf", ["nvfp4", BlockFormat(element="e4m3", scale="ue5m3", block=32, rule="rceil")],
                         ids=["nvfp4", "e4m3-ue5m3-rceil"])
@pytest.mark.parametrize("rounding", MODES[:6])
def test_value_route_matches_exact_oracle(bf, rounding):
    """The float32 value route (cpu.blocks.value_f32) against the exact
    oracle's values, rounded once to float32 (they are float64 numbers)."""
    rng = np.random.default_rng(12)
    x = (rng.standard_normal((4, 64)) * np.exp2(rng.integers(-20, 20, (4, 1)))).astype(np.float32)
    x[0, :6] = [0.0, -0.0, 1.5, -2.25, np.float32(1e-45), 7.0]
    x[1, 33] = np.inf
    x[2, :16] = np.float32(1.5) * np.arange(16)  # exact quotients
    x[3, 20] = np.nan
    got = B.quantize(x, bf, rounding)
    assert got.dtype == np.float32
    want = np.array([np.float32(float(w)) for w in oracle(x, bf, rounding).reshape(-1).tolist()])
    assert_exact(got.astype(np.float64), want.astype(np.float64), x)


@pytest.mark.parametrize("spec", ["ue4m3", "e4m3", "ue5m3", "e4m3:nan", "ue4m3:up"])
def test_float32_scale_route_matches_value_scale(spec):
    """The float32 routes of the block scale (amax / den rounded to odd into
    float32, then the float32 fast path: the CPU's by division, the GPU's by
    the reciprocal) against blocksteps.value_scale, on amax a hair from every
    scale value and midpoint times den, and random."""
    from floatsim.formats import Overflow
    from floatsim.kernels.abi import N_BP, N_FP, make_params
    from floatsim.kernels.blocksteps import (
        value_scale,
        value_scale_f32,
        value_scale_rcp,
    )
    from floatsim.kernels.fast32 import make_consts
    from floatsim.kernels.forms import fits_div32

    name, _, opt = spec.partition(":")
    sc = fs.format(name)
    assert fits_div32(sc)
    rnd = fs.Rounding.UP if opt == "up" else fs.Rounding.NEAREST_EVEN
    ov = Overflow.NAN if opt == "nan" else Overflow.SATURATE
    sp = tuple(int(v) for v in make_params(sc, rnd, overflow=ov))
    cs = make_consts(sc, rnd, ov, None)
    bp, fp = (0,) * N_BP, (0.0,) * N_FP
    rng = np.random.default_rng(5)
    vals = np.unique(np.abs(sc.values()[np.isfinite(sc.values())]))
    grid = np.concatenate([vals, (vals[1:] + vals[:-1]) / 2, [vals[-1] * 1.5, vals[-1] * 4]])
    for den in (6.0, 6.0 * 0.0123, 448.0 * 6 * 2.0**-149 * 7, 6.0 * 2.0**100, 2.0**-1000):
        a = np.concatenate([grid * den, rng.random(300) * sc.max * den * 2])
        a = np.concatenate([a, np.nextafter(a, np.inf), np.nextafter(a, 0), [5e-324, 1.7e308]])
        for ai in a[(a > 0) & np.isfinite(a)].tolist():
            want = value_scale(ai, den, bp, fp, sp)[1]
            got = value_scale_f32(ai, den, cs)
            assert np.float64(got).view(np.int64) == np.float64(want).view(np.int64) or (
                np.isnan(got) and np.isnan(want)), (spec, den, ai, got, want)
        if not reciprocal_ok(den):
            continue
        with np.errstate(over="ignore"):
            a32 = a.astype(np.float32)
        for m in np.unique(a32[(a32 > 0) & np.isfinite(a32)]).view(np.uint32).tolist():
            ai = float(np.uint32(m).view(np.float32))
            want = value_scale(ai, den, bp, fp, sp)[1]
            got = value_scale_rcp(np.uint32(m), den, 1.0 / den, cs)
            assert np.float64(got).view(np.int64) == np.float64(want).view(np.int64) or (
                np.isnan(got) and np.isnan(want)), ("reciprocal", spec, den, ai, got, want)


# ---- peers ---------------------------------------------------------------------------------------
def _torchao():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import torch
            from torchao.prototype.mx_formats import nvfp4_tensor
            from torchao.prototype.mx_formats.config import ScaleCalculationMode
            from torchao.prototype.mx_formats.mx_tensor import to_dtype, to_mx
    except Exception as e:  # noqa: BLE001 - any import failure means: no torchao here
        pytest.skip(f"torchao.prototype.mx_formats does not import on the CPU: {e}")
    return torch, to_mx, to_dtype, ScaleCalculationMode, nvfp4_tensor


def _tao_mx(x, name, mode):
    torch, to_mx, to_dtype, _, _ = _torchao()
    from torchao.prototype.mx_formats.constants import DTYPE_FP6_E2M3, DTYPE_FP6_E3M2

    el = {"mxfp8_e4m3": torch.float8_e4m3fn, "mxfp8_e5m2": torch.float8_e5m2,
          "mxfp6_e3m2": DTYPE_FP6_E3M2, "mxfp6_e2m3": DTYPE_FP6_E2M3,
          "mxfp4_e2m1": torch.float4_e2m1fn_x2}[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s, d = to_mx(torch.from_numpy(x), el, 32, scaling_mode=mode)
        y = to_dtype(d, s, el, 32, torch.float32).numpy()
    return y, s.view(torch.uint8).numpy()


@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3",
                                  "mxfp4_e2m1"])
def test_torchao_mx_agrees(name):
    _, _, _, M, _ = _torchao()
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((32, 128)) * np.exp2(rng.integers(-60, 60, (32, 1)))).astype(np.float32)
    x[0, 1:32:3] = 2.0 * (1 - 2.0**-24)  # significands just below the next binade (EVEN, CEIL)
    for mode, rule in ((M.FLOOR, "floor"), (M.CEIL, "ceil"), (M.EVEN, "even"), (M.RCEIL, "rceil")):
        ty, ts = _tao_mx(x, name, mode)
        bf = B.format(name).with_(rule=rule)
        assert np.array_equal(B.encode(x, bf)[1], ts), rule
        assert np.array_equal(B.quantize(x, bf).view(np.uint32), ty.view(np.uint32)), rule


def test_torchao_mx_documented_differences():
    _, _, _, M, _ = _torchao()
    # 1. scale 2**-127 (E8M0 code 0): torchao divides by 2**-126 (its smallest normal),
    #    so elements come back halved; floatsim divides by 2**-127 exactly.
    x = np.full((1, 32), np.float32(-3.21632e-40))
    x[0, 0] = np.float32(3.419793e-39)
    ty, ts = _tao_mx(x, "mxfp8_e4m3", M.FLOOR)
    fy = B.quantize(x, "mxfp8_e4m3")
    assert ts[0, 0] == 0 and B.encode(x, "mxfp8_e4m3")[1][0, 0] == 0
    assert fy[0, 1] == np.float32(-3.21424e-40) and ty[0, 1] == np.float32(-1.60712e-40)
    #    RCEIL: torchao multiplies by 1 instead of 2**127 for code 0: tiny blocks become 0.
    ty, _ = _tao_mx(x, "mxfp8_e4m3", M.RCEIL)
    assert ty[0, 1] == 0 and B.quantize(x, B.format("mxfp8_e4m3").with_(rule="rceil"))[0, 1] != 0
    # 2. inf in a block: floatsim (like microxcaling) makes the scale NaN; torchao
    #    keeps a finite scale, the inf element and zeros elsewhere.
    x = np.full((1, 32), 0.75, np.float32)
    x[0, 3] = np.inf
    ty, ts = _tao_mx(x, "mxfp8_e4m3", M.FLOOR)
    assert ts[0, 0] == 247 and ty[0, 0] == 0 and np.isinf(ty[0, 3])
    assert np.isnan(B.quantize(x, "mxfp8_e4m3")).all()


def _tao_nvfp4(x, two_level):
    torch, _, _, _, nv = _torchao()
    xt = torch.from_numpy(x)
    pts = nv.per_tensor_amax_to_scale(xt.abs().max()) if two_level else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = nv.NVFP4Tensor.to_nvfp4(xt, per_tensor_scale=pts)
        codes = t.qdata.view(torch.uint8).numpy()
        codes = np.stack([codes & 15, codes >> 4], axis=-1).reshape(x.shape)
        return t.dequantize(torch.float32).numpy(), t.scale.view(torch.uint8).numpy(), codes


def test_torchao_nvfp4():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((16, 64)) * 4).astype(np.float32)
    one = B.format("nvfp4").with_(tensor_format=None)
    ty, ts, tc = _tao_nvfp4(x, False)
    e, s, _, _ = B.encode(x, one)
    assert np.array_equal(s, ts) and np.array_equal(e, tc)
    assert np.array_equal(B.quantize(x, one), ty)
    ty, ts, tc = _tao_nvfp4(x, True)
    e, s, t, _ = B.encode(x, "nvfp4")
    assert np.array_equal(s, ts) and np.array_equal(e, tc)  # same codes
    # Values: floatsim rounds e * s * T once; torchao rounds s * T to float32 first.
    fy = B.quantize(x, "nvfp4")
    assert np.abs(fy - ty).max() <= 2.0**-22 * np.abs(ty).max()
    # Documented difference: torchao clamps block scales to >= 2**-6 (E4M3's smallest
    # normal); floatsim keeps UE4M3's subnormal scales. amax 0.0335 -> amax/6 = 2**-7.5.
    b = np.zeros((1, 16), np.float32)
    b[0, 0] = np.float32(0.033495676)
    b[0, 1] = np.float32(0.006155255)
    ty, ts, _ = _tao_nvfp4(b, False)
    e, s, _, _ = B.encode(b, one)
    assert ts[0, 0] == 8 and s[0, 0] == 3  # 2**-6 vs 3 * 2**-9 (amax / 6 = 0.00558)
    assert ty[0, 1] == np.float32(0.0078125) and B.quantize(b, one)[0, 1] == np.float32(0.005859375)
    # Documented difference: torchao forms x * fl(1/s) in float32, which moves exact ties.
    # s = 0.17578125 / 6 = 0.029296875 (an E4M3 value); x = 1.25 s is a tie between
    # E2M1's 1 and 1.5: floatsim rounds it to even (1), torchao's product lands above it.
    b = np.zeros((1, 16), np.float32)
    b[0, :2] = [0.17578125, 1.25 * 0.029296875]
    ty, ts, _ = _tao_nvfp4(b, False)
    assert B.quantize(b, one)[0, 1] == np.float32(0.029296875)
    assert ty[0, 1] == np.float32(0.0439453125)
    # Documented difference: an all-zero tensor gives torchao a tensor scale of 0 and NaN
    # values; floatsim uses T = 1 and returns zeros.
    z = np.zeros((2, 16), np.float32)
    assert np.isnan(_tao_nvfp4(z, True)[0]).all() and (B.quantize(z, "nvfp4") == 0).all()


def test_microxcaling_agrees():
    root = REPO / ".peers" / "microxcaling"
    if not (root / "mx").is_dir():
        pytest.skip("no microxcaling checkout at .peers/microxcaling")
    torch = pytest.importorskip("torch")
    sys.path.insert(0, str(root))
    try:
        from mx.formats import ElemFormat
        from mx.mx_ops import _quantize_mx
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"microxcaling does not import: {e}")
    finally:
        sys.path.remove(str(root))
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((16, 128)) * np.exp2(rng.integers(-60, 60, (16, 1)))).astype(np.float32)
    for name, ef in (("mxfp8_e4m3", "fp8_e4m3"), ("mxfp8_e5m2", "fp8_e5m2"),
                     ("mxfp6_e3m2", "fp6_e3m2"), ("mxfp6_e2m3", "fp6_e2m3"),
                     ("mxfp4_e2m1", "fp4_e2m1"), ("mxint8", "int8")):
        for mround, mode in (("even", "nearest_even"), ("nearest", "nearest_away")):
            m = _quantize_mx(torch.from_numpy(x), 8, ElemFormat.from_str(ef), axes=[-1],
                             block_size=32, round=mround, custom_cuda=False).numpy()
            assert np.array_equal(m, B.quantize(x, name, mode)), (name, mode)  # == ignores 0's sign
    # Documented difference: microxcaling clamps INT8 to +-127/64; OCP INT8 (and gfloat,
    # floatsim) also has -2 (0x80).
    b = np.full((1, 32), 0.5, np.float32)
    b[0, 0] = -1.995
    m = _quantize_mx(torch.from_numpy(b), 8, ElemFormat.int8, axes=[-1], block_size=32,
                     round="even", custom_cuda=False).numpy()
    assert m[0, 0] == -1.984375 and B.quantize(b, "mxint8")[0, 0] == -2.0


def test_gfloat_agrees():
    gfloat = pytest.importorskip("gfloat")
    import gfloat.formats as gf

    rng = np.random.default_rng(4)
    x = (rng.standard_normal((8, 64)) * 10).astype(np.float32)
    for name in ("mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1", "mxint8"):
        fi = getattr(gf, f"format_info_{name}")
        want = np.stack([gfloat.quantize_block(fi, b, gfloat.compute_scale_amax)
                         for b in x.reshape(-1, 32)]).reshape(x.shape)
        assert np.array_equal(B.quantize(x, name), want.astype(np.float32)), name


# ---- formats and errors -----------------------------------------------------------------------
def test_named_formats():
    assert B.names()[:6] == ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3",
                             "mxfp4_e2m1", "mxint8"]
    for n in B.names():
        assert isinstance(B.format(n), BlockFormat)
    mx = B.format("mxfp8")
    assert (mx.block, mx.scale.name, mx.rule, mx.bits_per_element) == ((32,), "float8_e8m0fnu",
                                                                        ScaleRule.FLOOR, 8.25)
    nv = B.format("nvfp4")
    assert (nv.block, nv.scale.name, nv.tensor_format.name, nv.scale_bound) == (
        (16,), "ue4m3", "float32", 448.0)
    assert B.format("nvfp4_4over6").scale_bound == 256.0
    assert hash(mx) == hash(B.format("mxfp8_e4m3").with_(name="x"))


@pytest.mark.parametrize("make,exc,match", [
    (lambda: BlockFormat(element="e4m3", block=0), ValueError, r"block sizes must be >= 1 \(got 0\)"),
    (lambda: BlockFormat(element="e4m3", block=(16, "a")), TypeError, "sizes must be ints or None"),
    (lambda: BlockFormat(element="e4m3", rule="round"), ValueError, r"not a scale rule; allowed: 'floor'"),
    (lambda: BlockFormat(element="e4m3", scale_overflow="inf"), ValueError, "scale_overflow='inf' is not valid"),
    (lambda: BlockFormat(element="e4m3", scale=fs.Format(ebits=2, mbits=0, signed=False, bias=8,
                                                          has_zero=False, specials="fn")),
     ValueError, "cannot hold the needed exponent 0"),
    (lambda: BlockFormat(element="e4m3", scale="ue4m3", scale_overflow="nan", scale_bound=500.0),
     ValueError, r"scale_bound=500.0 is out of range"),
    (lambda: BlockFormat(element=IntFormat(bits=4), rule="minmax"), ValueError, "needs an unsigned IntFormat"),
    (lambda: BlockFormat(element="float64"), ValueError, "block formats take formats within"),
    (lambda: B.format("mxfp9"), ValueError, r"unknown block format 'mxfp9'; did you mean"),
])
def test_format_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


@pytest.mark.parametrize("call,exc,match", [
    (lambda x: B.quantize(x, "mxfp8", axis=2), ValueError,
     r"axis=2 is out of range for an array of 2 dimensions; allowed: -2..1"),
    (lambda x: B.quantize(x, "nvfp4_16x16", axis=0), ValueError,
     r"rank-2 tile but axis=0 names 1 axis; pass 2 axes"),
    (lambda x: B.quantize(x, "mxfp8", axis=None), ValueError, "axis=None .* needs a block format with block=None"),
    (lambda x: B.quantize(x.astype(np.int32), "mxfp8"), TypeError, "x has dtype int32"),
    (lambda x: B.quantize(x, "mxfp8", amax=np.nan), ValueError, "amax= holds nan.*NaN in a scale is not allowed"),
    (lambda x: B.quantize(x, "nvfp4", tensor_scale=float("nan")), ValueError,
     r"tensor_scale=nan must be one finite positive number"),
    (lambda x: B.quantize(x, "mxfp8", tensor_scale=1.0), ValueError, "applies to two-level formats only"),
    (lambda x: B.quantize(x, "mxfp8", "sr"), ValueError, "needs exactly one of seed="),
    (lambda x: B.quantize(x, "mxfp8", amax=np.ones(3)), ValueError, "needs the scales' shape"),
    (lambda x: B.encode(np.array([[np.nan, 1.0]]), BlockFormat(
        element="e2m1", scale=fs.Format(ebits=5, mbits=3, signed=False, specials="finite"))),
     ValueError, "x holds NaN .* neither the element format .* nor the scale format"),
    (lambda x: B.decode(np.zeros((4, 64), np.uint8), np.zeros((4, 3), np.uint8), "mxfp8"),
     ValueError, r"scales has shape \(4, 3\); .* need scales of shape \(4, 2\)"),
    (lambda x: B.decode(np.zeros((4, 64), np.uint8), np.zeros((4, 4), np.uint8), "nvfp4_4over6"),
     ValueError, "pass tensor_scale="),
])
def test_call_errors(call, exc, match):
    x = np.ones((4, 64), np.float32)
    with pytest.raises(exc, match=match):
        call(x)


def test_bfloat16_output_is_rounded_once() -> None:
    """Block values are exact in float64; a bfloat16 result is one rounding
    of them, not two through float32 (as ml_dtypes' float64 -> bfloat16 did
    before 0.7)."""
    bf16 = np.dtype(ml_dtypes.bfloat16)
    x = np.random.default_rng(1).standard_normal((512, 512))[263:264]  # a row with a double-rounding case
    exact = fs.blocks.quantize(x, "int8_sym", out_dtype=np.float64)
    got = fs.blocks.quantize(x, "int8_sym", out_dtype=bf16).view(np.uint16)
    once = fs.quantize(exact, "bfloat16", out_dtype=bf16).view(np.uint16)
    twice = exact.astype(np.float32).astype(bf16).view(np.uint16)
    assert np.array_equal(got, once)
    assert not np.array_equal(got, twice)
    if ML_VERSION >= (0, 7):  # ml_dtypes rounds float64 once from 0.7 on: a second witness
        assert np.array_equal(got, exact.astype(bf16).view(np.uint16))


def test_nan_with_a_scale_format_without_nan() -> None:
    """A scale format without NaN leaves NaNs out of the amax: only the NaN
    element is NaN (docs/blocks.md), on the float32 fast path as on the
    general one.  With E8M0 scales (which have NaN) the whole block is NaN."""
    bf = B.BlockFormat(element="e4m3", scale="e3m2", block=4)
    x = np.array([[1.0, np.nan, 3.0, 0.5], [np.nan, 0.25, -2.0, 448.0]])
    general = fs.blocks.quantize(x, bf)
    fast = fs.blocks.quantize(x.astype(np.float32), bf)
    assert np.array_equal(np.isnan(general), np.isnan(x))
    np.testing.assert_array_equal(fast.astype(np.float64), general)
    assert np.isnan(fs.blocks.quantize(x.astype(np.float32), "mxfp8_e4m3")[:, :4]).all()


def test_unsupported_out_dtype_is_named() -> None:
    x = np.ones((2, 32), np.float32)
    with pytest.raises(TypeError, match=r"out_dtype=int32 is not supported; allowed: float64, float32"):
        fs.blocks.quantize(x, "mxfp8_e4m3", out_dtype=np.int32)
