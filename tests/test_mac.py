"""The Numba models of floatsim.mac against the exact reference, bit for bit.

* ``dot_model`` (the scalar golden model) against ``mac.reference.dot`` for
  every preset and for custom specs covering each field (alignment modes,
  accumulator not aligned, Kahan, k-bit SR with Philox words, fixed point
  saturating and wrapping, product rounding, promotion), on random inputs of
  several operand formats and on boundary cases: cancellation, overflow into
  inf, subnormal products, ties at the alignment cut, NaN and inf inputs.
* With an accumulator wide enough, the dot product equals the exact sum
  rounded once (checked against the core oracle, not the mac reference).
* ``fma`` and ``mx_dot`` against the reference; ``matmul`` and ``dot`` element
  by element against the scalar model.
"""

from __future__ import annotations

import math
import zlib
from fractions import Fraction

import numpy as np
import pytest

import floatsim as fs
import floatsim.mac as mac
from floatsim import reference as core_ref
from floatsim.kernels.philox import random_word32
from floatsim.mac import reference as ref
from floatsim.mac.abi import pack
from floatsim.mac.scalar import dot_model
from floatsim.mac.spec import AccumulatorSpec, FixedPoint

ZERO = np.zeros(1, dtype=np.int64)
SPECS = {name: mac.spec(name) for name in mac.names()}
SPECS.update({
    "align_rne_noacc": AccumulatorSpec(group=8, kept_bits=6, align_rounding="rne", accumulator="bfloat16"),
    "align_rna": AccumulatorSpec(group=3, kept_bits=4, align_rounding="rna", align_accumulator=True,
                                 accumulator="float16"),
    "align_down_up_odd": AccumulatorSpec(group=5, kept_bits=9, align_rounding="down",
                                         accumulator="float32", acc_rounding="up"),
    "align_odd": AccumulatorSpec(group=16, kept_bits=11, align_rounding="odd", accumulator="float32",
                                 acc_rounding="down", promote_every=32),
    "kahan_bf16": AccumulatorSpec(accumulator="bfloat16", kahan=True),
    "kahan_group": AccumulatorSpec(group=4, kept_bits=20, accumulator="float16", kahan=True,
                                   acc_rounding="rtz"),
    "sr_bf16": AccumulatorSpec(accumulator="bfloat16", acc_rounding="sr", sr_bits=8, seed=5, stream=3),
    "sr_group": AccumulatorSpec(group=4, kept_bits=10, accumulator="float16", acc_rounding="sr",
                                sr_bits=13, seed=2**40 + 7, align_accumulator=True),
    "fixed_sat": AccumulatorSpec(accumulator=FixedPoint(bits=20, frac_bits=6), acc_rounding="rne"),
    "fixed_wrap_sr": AccumulatorSpec(group=4, kept_bits=12, accumulator=FixedPoint(
        bits=16, frac_bits=3, overflow="wrap"), acc_rounding="sr", sr_bits=5, seed=9),
    "fixed_promote": AccumulatorSpec(accumulator=FixedPoint(bits=59, frac_bits=39), promote_every=7),
    "product_e4m3": AccumulatorSpec(product="e4m3", product_rounding="rtz", accumulator="float16",
                                    output="bfloat16", output_rounding="rna"),
    "product_bf16_group": AccumulatorSpec(product="bfloat16", group=2, kept_bits=30,
                                          accumulator="float32", output="e5m2", output_rounding="odd"),
})
SMALL = ["fp32", "bf16", "fp16", "hopper_fp8", "v100_fp16", "align_rna", "align_odd", "kahan_bf16",
         "sr_bf16", "fixed_sat", "fixed_wrap_sr", "product_e4m3"]


def model(a: np.ndarray, b: np.ndarray, spec: AccumulatorSpec, elem: int = 0) -> float:
    a = np.ascontiguousarray(a, np.float32)
    b = np.ascontiguousarray(b, np.float32)
    buf = np.empty(spec.group or 1, np.float64)
    return dot_model(a, 0, b, 0, a.size, ZERO, a.size + 1, *pack(spec), elem, buf)


def words(spec: AccumulatorSpec, k: int, elem: int = 0) -> list[int] | None:
    """The Philox words the models draw (docs/mac.md): word elem*steps + s."""
    if spec.acc_rounding is not fs.Rounding.STOCHASTIC:
        return None
    n = ref.steps(k, spec)
    return [int(random_word32(spec.seed & 0xFFFFFFFF, spec.seed >> 32, elem * n + s, spec.stream))
            for s in range(n)]


def same(got: float, want: Fraction | float) -> bool:
    """Equal values, zeros of equal sign, NaN to NaN."""
    w = float(want)
    if math.isnan(w):
        return math.isnan(got)
    return got == w and math.copysign(1, got) == math.copysign(1, w)


def check(a: np.ndarray, b: np.ndarray, spec: AccumulatorSpec, what: str, elem: int = 0) -> None:
    got = model(a, b, spec, elem)
    want = ref.dot(list(np.float32(a)), list(np.float32(b)), spec,
                   random_bits=words(spec, len(a), elem))
    assert same(got, want), f"{what}: model {got!r}, reference {want!r} ({float(want)!r})"


def operands(rng: np.random.Generator, k: int, fmt: str, spread: int = 12) -> np.ndarray:
    x = rng.standard_normal(k) * np.exp2(rng.integers(-spread, spread, k))
    return fs.quantize(x.astype(np.float32), fmt, overflow="saturate")


@pytest.mark.parametrize("name", list(SPECS))
def test_dot_model_matches_reference_on_random_inputs(name: str) -> None:
    spec = SPECS[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    lengths = [1, 2, 5, 31, 32, 33, 70] + ([129, 300] if name in SMALL[:5] else [])
    for k in lengths:
        for fmt in ("e4m3", "bfloat16", "float16"):
            a, b = operands(rng, k, fmt), operands(rng, k, fmt)
            check(a, b, spec, f"{name} k={k} {fmt}", elem=int(rng.integers(0, 1000)))


@pytest.mark.parametrize("name", ["hopper_fp8", "hopper_fp8_promote128", "v100_fp16", "sr_group",
                                  "kahan_group", "fixed_promote"])
def test_dot_model_matches_reference_long(name: str) -> None:
    spec = SPECS[name]
    rng = np.random.default_rng(1)
    for k in (512, 1000, 1024):
        check(operands(rng, k, "e4m3"), operands(rng, k, "e5m2"), spec, f"{name} k={k}")


def _boundary_cases() -> list[tuple[str, list[float], list[float]]]:
    t = 2.0**-14
    return [
        ("cancellation", [3.0, -3.0, 2.0**-20, 5.0, -5.0], [7.0, 7.0, 1.0, 3.0, 3.0]),
        ("cancellation to zero", [1.5, -1.5, 2.0, -2.0], [1.0, 1.0, 2.0, 2.0]),
        ("big then small", [2.0**20, 1.0, -(2.0**20), 2.0**-10], [1.0, 1.0, 1.0, 1.0]),
        ("overflow into inf", [60000.0, 60000.0, 60000.0, -1.0], [60000.0, 60000.0, 1.0, 1.0]),
        ("overflow fp32", [3e38, 3e38, -3e38], [1.0, 1.0, 1.0]),
        ("subnormal products", [2.0**-70, 2.0**-75, -(2.0**-71)], [2.0**-80, 2.0**-75, 2.0**-79]),
        ("tiny + normal", [2.0**-100, 1.0, 2.0**-100], [2.0**-49, 2.0**-30, 2.0**-49]),
        ("tie at the cut", [1.0, t, 3 * t, t / 2, -t], [1.0, 1.0, 1.0, 1.0, 1.0]),
        ("tie fp16", [2048.0, 1.0, 1.0, 3.0], [1.0, 1.0, 1.0, 1.0]),
        ("nan", [1.0, float("nan"), 2.0], [1.0, 1.0, 1.0]),
        ("inf", [1.0, float("inf"), 2.0], [1.0, 1.0, 1.0]),
        ("inf - inf", [float("inf"), 1.0, float("-inf")], [1.0, 1.0, 1.0]),
        ("0 * inf", [0.0, 1.0], [float("inf"), 1.0]),
        ("negative zeros", [-0.0, 0.0, -0.0], [1.0, -1.0, -1.0]),
        ("all zero", [0.0, 0.0], [5.0, -5.0]),
    ]


@pytest.mark.parametrize("case", _boundary_cases(), ids=lambda c: c[0])
def test_dot_model_matches_reference_on_boundary_cases(case: tuple) -> None:
    _, a, b = case
    for name, spec in SPECS.items():
        for rep in (1, 9):  # a group of its own, and spread across groups and chunks
            check(np.array(a * rep, np.float32), np.array(b * rep, np.float32), spec, f"{name} x{rep}")


def test_specials_behave_as_ieee() -> None:
    s = mac.spec("fp32")
    assert math.isnan(model(np.float32([np.inf, 1]), np.float32([0, 1]), s))
    assert model(np.float32([np.inf, 1]), np.float32([1, 1]), s) == math.inf
    assert model(np.float32([6e4, 6e4]), np.float32([6e4, 6e4]), mac.spec("fp16")) == math.inf
    assert math.isnan(model(np.float32([np.inf]), np.float32([1]), SPECS["fixed_sat"]))


@pytest.mark.parametrize("kept", [8, 13, 20, 28, 40])
def test_ties_at_the_alignment_cut_in_every_mode(kept: int) -> None:
    # 1 + m * 2**-(kept+2) for m = -7..7: the quarter units give ties and
    # near-ties at the cut 2**-kept
    q = 2.0**-(kept + 2)
    for mode in ("rne", "rna", "rtz", "ru", "rd", "odd"):
        spec = AccumulatorSpec(group=4, kept_bits=kept, align_rounding=mode, accumulator="float32",
                               acc_rounding="rtz")
        for m in range(-7, 8):
            check(np.float32([1.0, m * q, 0.0]), np.float32([1.0, 1.0, 1.0]), spec, f"{mode} m={m}")


@pytest.mark.parametrize(("fmt", "spec"), [
    ("e4m3", AccumulatorSpec(accumulator=FixedPoint(bits=59, frac_bits=20))),
    ("e5m2", AccumulatorSpec(accumulator=FixedPoint(bits=59, frac_bits=30))),
    ("e4m3", AccumulatorSpec(group=64, kept_bits=44, align_rounding="rne",
                             accumulator=fs.Format(ebits=10, mbits=50))),
    ("e4m3", AccumulatorSpec(accumulator=fs.Format(ebits=10, mbits=50))),
])
def test_wide_accumulator_gives_the_exactly_rounded_sum(fmt: str, spec: AccumulatorSpec) -> None:
    """Independent of the mac reference: the core oracle rounds the exact sum once."""
    rng = np.random.default_rng(3)
    for k in (1, 7, 64, 1000):
        a = operands(rng, k, fmt, spread=4)
        b = operands(rng, k, fmt, spread=4)
        exact = sum((Fraction(float(x)) * Fraction(float(y)) for x, y in zip(a, b)), Fraction(0))
        for out, mode in (("float32", "rne"), ("bfloat16", "rtz"), ("e4m3", "rna")):
            s = spec.replace(output=out, output_rounding=mode)
            want = core_ref.round_value(exact, out, mode)
            assert same(model(a, b, s), want), (k, out, mode)
    # and the 3-term case where naive FP32 summation loses everything
    a = np.float32([2.0**24, 1.0, -(2.0**24)])
    assert model(a, np.ones(3, np.float32), spec) == 1.0
    assert model(a, np.ones(3, np.float32), mac.spec("fp32")) == 0.0


# ---- arrays: dot, matmul, mx_dot, fma ------------------------------------------------------
@pytest.mark.parametrize("name", ["hopper_fp8", "sr_bf16", "fixed_wrap_sr", "a100_fp16"])
def test_matmul_equals_the_scalar_model_element_by_element(name: str) -> None:
    spec = SPECS[name]
    rng = np.random.default_rng(4)
    M, K, N = 7, 45, 5
    A = operands(rng, M * K, "e4m3").reshape(M, K)
    B = operands(rng, K * N, "e5m2").reshape(K, N)
    A[0, 3], B[4, 1] = np.inf, np.nan
    C = mac.matmul(A, B, spec)
    assert C.dtype == np.float32 and C.shape == (M, N)
    for i in range(M):
        for j in range(N):
            want = model(A[i], B[:, j], spec, elem=i * N + j)
            assert same(float(C[i, j]), want), (i, j)
    # dot: rows of a batch, element index = row
    D = mac.dot(A[:, :5].copy(), A[:, 5:10].copy(), spec)
    for i in range(M):
        assert same(float(D[i]), model(A[i, :5], A[i, 5:10], spec, elem=i))


def test_matmul_shapes_and_errors() -> None:
    assert mac.matmul(np.zeros((0, 3), np.float32), np.zeros((3, 2), np.float32)).shape == (0, 2)
    z = mac.matmul(np.zeros((2, 0), np.float32), np.zeros((0, 2), np.float32), "bf16")
    assert np.array_equal(z, np.zeros((2, 2))) and not np.signbit(z).any()
    with pytest.raises(ValueError, match=r"a of shape \(M, K\) and b of shape \(K, N\); got \(2, 3\) and \(2, 3\)"):
        mac.matmul(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(TypeError, match="a has dtype int64"):
        mac.matmul(np.zeros((2, 3), np.int64), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"b holds values that are not float32 values \(first: 0.1 at index \(0, 1\)\)"):
        mac.matmul(np.zeros((2, 3)), np.array([[0, 0.1], [0, 0], [0, 0]]))
    with pytest.raises(ValueError, match="dot needs a and b of the same shape"):
        mac.dot(np.zeros(3, np.float32), np.zeros(4, np.float32))
    x = np.ones((2, 2), np.float32)
    x.flags.writeable = False
    assert mac.matmul(x, x, "fp16")[0, 0] == 2.0  # read-only inputs are fine and left alone


def test_mx_dot_matches_reference() -> None:
    rng = np.random.default_rng(5)
    for name in ("fp32", "hopper_fp8", "sr_group", "fixed_sat", "product_e4m3"):
        spec = SPECS[name]
        for n, blk in ((64, 32), (50, 16), (7, 3)):
            a, b = operands(rng, n, "e2m1", 2), operands(rng, n, "e4m3", 3)
            nb = -(-n // blk)
            sa = np.exp2(rng.integers(-20, 20, nb)).tolist()
            sb = np.exp2(rng.integers(-127, 127, nb)).tolist()
            if n == 50:
                sb[1] = math.nan
            got = mac.mx_dot(a, sa, b, sb, spec, block=blk)
            want = ref.mx_dot(list(a), sa, list(b), sb, spec, block=blk,
                              random_bits=words(spec, n))
            assert same(got, want), (name, n, blk)
    with pytest.raises(ValueError, match=r"a_scales\[0\]=3.0 is not a power of two"):
        mac.mx_dot(np.ones(2), [3.0], np.ones(2), [1.0], block=2)
    with pytest.raises(ValueError, match="b_scales has 2 scales; 1 blocks need 1"):
        mac.mx_dot(np.ones(2), [1.0], np.ones(2), [1.0, 1.0], block=2)


def test_fma_matches_reference() -> None:
    vals = np.unique(np.abs(fs.decode(np.arange(0, 127, 5, dtype=np.uint8), "e4m3", np.float32)))
    a = np.concatenate([vals, -vals[::5], [0.0, -0.0, np.inf, np.nan]]).astype(np.float32)
    rng = np.random.default_rng(6)
    c = np.concatenate([rng.standard_normal(5) * 10.0**rng.integers(-8, 8, 5), [0.0, -0.0, -np.inf]])
    A, C = np.meshgrid(a, c)
    B = np.roll(A, 3, axis=1)
    every = ("rne", "rna", "rtz", "ru", "rd", "odd")
    for fmt, modes in (("e4m3", every), ("bfloat16", every), ("e2m1", ("rne", "rd")),
                       ("float16", ("rna", "ru")), ("float32", ("rne", "odd"))):
        for mode in modes:
            got = mac.fma(A, B, C, fmt, mode)
            for x, y, z, g in zip(A.flat, B.flat, C.flat, got.flat):
                assert same(float(g), ref.fma(float(x), float(y), float(z), fmt, mode)), (fmt, mode, x, y, z)
    bits = rng.integers(0, 2**32, A.shape, dtype=np.uint32)
    got = mac.fma(A, B, C, "bfloat16", "sr", sr_bits=7, random_bits=bits)
    for x, y, z, r, g in zip(A.flat, B.flat, C.flat, bits.flat, got.flat):
        assert same(float(g), ref.fma(float(x), float(y), float(z), "bfloat16", "sr",
                                      random_bits=int(r), sr_bits=7))
    seeded = mac.fma(A, B, C, "bfloat16", "sr", sr_bits=7, seed=11)
    words32 = [int(random_word32(11, 0, i, 0)) for i in range(A.size)]
    explicit = mac.fma(A, B, C, "bfloat16", "sr", sr_bits=7,
                       random_bits=np.array(words32, np.uint32).reshape(A.shape))
    assert np.array_equal(seeded, explicit, equal_nan=True)
    with pytest.raises(ValueError, match="needs sr_bits= and exactly one of seed= and random_bits="):
        mac.fma(1.0, 1.0, 1.0, "bfloat16", "sr", sr_bits=3)
    with pytest.raises(ValueError, match="fmt=float64 has mbits=52 > 50"):
        mac.fma(1.0, 1.0, 1.0, "float64")


def test_import_does_not_load_gpu_libraries() -> None:
    from cuda_support import assert_imports_no_gpu_library

    assert_imports_no_gpu_library(
        "import numpy as np, floatsim.mac as mac\n"
        "mac.matmul(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32), 'hopper_fp8')\n"
    )


def test_float32_rounding_route_equals_the_core_cast() -> None:
    """The models round into float32 (nearest even) by the float64 -> float32
    conversion, elsewhere by the core's cast: the two must agree on every
    binade, the subnormals, ties and the overflow threshold (``fma(0, 0, c)``
    is the route's rounding of c)."""
    rng = np.random.default_rng(8)
    n = 4000
    x = (1 + rng.random(n)) * np.exp2(rng.integers(-160, 127, n)) * rng.choice([-1, 1], n)
    v = fs.quantize(x.astype(np.float32), "float32").astype(np.float64)
    ulp = np.spacing(np.abs(v).astype(np.float32)).astype(np.float64)
    ties = v + np.sign(v) * ulp / 2  # exactly halfway: ties to even
    near = ties + np.sign(v) * ulp * 2.0**-20
    top = float(np.finfo(np.float32).max)
    edge = np.array([top + 2.0**103, top + 2.0**103 - 2.0**60, 2.0**-150, 2.0**-150 + 2.0**-200,
                     3 * 2.0**-151, -(2.0**-150)])
    xs = np.concatenate([x, ties, near, edge])
    with np.errstate(over="ignore"):
        got = mac.fma(np.zeros_like(xs), 0.0, xs, "float32")
        want = fs.quantize(xs, "float32")
    assert np.array_equal(got.view(np.int64), want.view(np.int64))
