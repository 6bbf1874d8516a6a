"""floatsim.noise: the distributions, the kernels against the oracle, the statistics.

Statistical tests (see ``_z_check``): each compares a sample statistic with
its exact value (computed from the distribution's rational masses pushed
through the exact pipeline of ``floatsim.reference.noise``) by a z-score with
a two-sided threshold of 4.89, a false-alarm rate of 1e-6 per statistic for a
correct implementation and a random seed; the file makes fewer than 100 such
comparisons, so the chance that any fails by accident is below 1e-4.  Seeds
are fixed, so a run is reproducible.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import floatsim as fs
from floatsim import noise as N
from floatsim.reference import noise as R

Z = 4.89  # two-sided normal quantile at 1e-6
TARGETS = ["e3m2", "e2m3", "e4m3"]
NOISES = [N.Noise.uniform(4), N.Noise.gaussian(), N.Noise.r(9)]


def _z_check(sample: float, exact: float, se: float, what: str) -> None:
    z = (sample - exact) / se if se > 0 else (0.0 if sample == exact else math.inf)
    assert abs(z) < Z, f"{what}: sample {sample:.6g}, exact {exact:.6g}, z = {z:.2f}"


def _same(a: np.ndarray, b: list) -> list:
    """Indices where a (float array) and b (oracle values) differ, signs of zero included."""
    out = []
    for i, e in enumerate(b):
        v, ef = float(a[i]), float(e)
        if not ((v == ef and math.copysign(1, v) == math.copysign(1, ef)) or (v != v and ef != ef)):
            out.append((i, v, ef))
    return out


def _inputs(fmt: str, k: int) -> np.ndarray:
    """Every finite value of the target (times 2**k), the midpoints between
    neighbours, one float32 ulp either side, float32 subnormals, signed zeros,
    values beyond max, specials."""
    f = fs.format(fmt)
    v = np.unique(f.values()[np.isfinite(f.values())]).astype(np.float64)
    mids = (v[:-1] + v[1:]) / 2
    base = np.concatenate([v, mids, [f.max * 1.2, -f.max * 5, f.max * 1.0001]]) * 2.0 ** k
    b32 = base.astype(np.float32)
    up = np.nextafter(b32, np.float32(np.inf))
    dn = np.nextafter(b32, np.float32(-np.inf))
    extra = np.array([0.0, -0.0, 1e-45, -3e-42, 2.0 ** -126, np.inf, -np.inf, np.nan], np.float32)
    return np.concatenate([b32, up, dn, extra]).astype(np.float32)


# ---- the distributions ---------------------------------------------------------------------
@pytest.mark.parametrize("noise", [N.Noise.uniform(3), N.Noise.gaussian(), N.Noise.r(9),
                                   N.Noise.r(4, sigma=0.5), N.Noise.gaussian(1.0, 5),
                                   N.Noise.table([-1, -0.25, 0, 0.5], [1, 2, 3, 0.5])],
                         ids=lambda n: n.name)
def test_alias_table_realises_the_masses_exactly(noise: N.Noise) -> None:
    """Column by column, the words that pick each level add up to its mass."""
    pmf = noise.pmf()
    assert sum(p for _, p in pmf) == 1
    if noise.kind == "uniform":
        return
    g, tab = noise.kernel_tables()
    cap = 1 << (32 - g)
    got: dict[int, int] = {}
    for e in tab.tolist():
        thr, own, alias = e >> 32, (e >> 16) & 0xFFFF, e & 0xFFFF
        own, alias = (own - (1 << 16) if own >= 1 << 15 else own), (alias - (1 << 16) if alias >= 1 << 15 else alias)
        got[own] = got.get(own, 0) + thr
        got[alias] = got.get(alias, 0) + cap - thr
    f = 1 << noise.frac_bits
    want = {int(v * f): int(p * (1 << 32)) for v, p in pmf}
    assert {n: m for n, m in got.items() if m} == want


def test_builtin_distributions_are_symmetric_with_the_stated_moments() -> None:
    assert N.Noise.uniform(16).variance() == Fraction(1 - Fraction(1, 4 ** 16), 12)
    for n in (N.Noise.gaussian(), N.Noise.r(9), N.Noise.r(3, sigma=0.7)):
        pmf = n.pmf()
        assert [v for v, _ in pmf] == [-v for v, _ in reversed(pmf)]
        assert [p for _, p in pmf] == [p for _, p in reversed(pmf)]
        assert n.mean() == 0
    # the Gaussian on a 2**-8 grid: Sheppard's correction, sigma**2 + h**2 / 12
    g = N.Noise.gaussian()
    assert abs(float(g.variance()) - (1 / 12 + 2.0 ** -16 / 12)) < 1e-8
    r = N.Noise.r(9)
    assert r.max_abs == Fraction(255, 256) and r.significant_bits() == 8
    assert all(abs(v) < 1 for v, _ in r.pmf())


@pytest.mark.parametrize("noise", [N.Noise.uniform(4), N.Noise.r(4)], ids=lambda n: n.name)
def test_draw_frequencies_match_the_masses(noise: N.Noise) -> None:
    """Chi-square goodness of fit of 2**16 draws, at a false-alarm rate of 1e-6
    (Wilson-Hilferty's approximation of the chi-square quantile)."""
    n = 1 << 16
    z = N.draw(n, noise, seed=11, stream=3)
    pmf = noise.pmf()
    counts = {v: 0 for v, _ in pmf}
    f = 1 << noise.frac_bits
    for v in np.round(z * f).astype(np.int64).tolist():
        counts[Fraction(v, f)] += 1
    chi2 = sum((counts[v] - n * float(p)) ** 2 / (n * float(p)) for v, p in pmf)
    df = len(pmf) - 1
    crit = df * (1 - 2 / (9 * df) + 4.753 * math.sqrt(2 / (9 * df))) ** 3
    assert chi2 < crit, (chi2, crit)


def test_draw_is_the_noise_the_kernel_adds_and_depends_on_index_seed_stream() -> None:
    a = N.draw(10, "r", seed=3, stream=1)
    assert a.tolist() == N.draw(12, "r", seed=3, stream=1)[:10].tolist()
    assert a[4:].tolist() == N.draw(6, "r", seed=3, stream=1, offset=4).tolist()
    assert a.tolist() != N.draw(10, "r", seed=4, stream=1).tolist()
    assert a.tolist() != N.draw(10, "r", seed=3, stream=2).tolist()
    # the oracle's words and levels give the same values
    r9 = N.Noise.r(9)
    assert a.tolist() == [R.level_of(R.word(3, i, 1), r9) / 256 for i in range(10)]
    # e4m3 at 1.0 (spacing 1/8), stored in float16, holds w + z/8 exactly for r9
    y = N.pseudo_quantize(np.ones(10, np.float32), "e4m3", r9, seed=3, stream=1, scale="none",
                          storage="float16")
    assert (y - 1).tolist() == (a / 8).tolist()


# ---- the kernel against the oracle ---------------------------------------------------------
@pytest.mark.parametrize("fmt", TARGETS)
@pytest.mark.parametrize("noise", NOISES, ids=lambda n: n.name)
def test_pseudo_quantize_equals_the_oracle_nearest_even(fmt: str, noise: N.Noise) -> None:
    for k in (0, -7):
        x = _inputs(fmt, k)
        y = N.pseudo_quantize(x, fmt, noise, seed=2024, stream=5, scale=k)
        exp = [R.element(float(v), i, fmt, noise, seed=2024, stream=5, k=k) for i, v in enumerate(x)]
        assert _same(y, exp) == []


@pytest.mark.parametrize("rounding", ["nearest_away", "toward_zero", "up", "down", "odd",
                                      "stochastic"])
def test_pseudo_quantize_equals_the_oracle_every_rounding(rounding: str) -> None:
    for fmt, storage in (("e3m2", "bfloat16"), ("e4m3", "float16"), ("e2m1", "e4m3")):
        x = _inputs(fmt, -3)
        y = N.pseudo_quantize(x, fmt, "r" if storage != "e4m3" else N.Noise.r(5), seed=9,
                              stream=77, scale=-3, storage=storage, rounding=rounding)
        nz = N.Noise.r(9) if storage != "e4m3" else N.Noise.r(5)
        exp = [R.element(float(v), i, fmt, nz, seed=9, stream=77, k=-3, storage=storage,
                         rounding=rounding) for i, v in enumerate(x)]
        assert _same(y, exp) == [], (fmt, storage)


def test_pseudo_quantize_tensor_scale_clip_and_annealing_equal_the_oracle() -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(3000) * 0.02).astype(np.float32)
    x[:4] = [0.0, 0.0731, -0.0731, 1e-30]
    for fmt, noise in (("e2m3", "gaussian"), ("e3m2", "uniform")):
        nz = N.parse(noise)
        k = R.tensor_k(max(abs(Fraction(float(v))) for v in x), fs.format(fmt), nz)
        assert N.scale_exponent(x, fmt, nz) == k
        for clip in (True, False):
            y = N.pseudo_quantize(x, fmt, nz, seed=5, stream=2**32 - 1, clip=clip, anneal=0.6)
            exp = [R.element(float(v), i, fmt, nz, seed=5, stream=2**32 - 1, k=k, clip=clip,
                             anneal=0.6) for i, v in enumerate(x)]
            assert _same(y, exp) == []
    # clipping keeps every result inside +-max * 2**k; without it noise crosses
    top = fs.format("e2m3").max * 2.0 ** N.scale_exponent(x, "e2m3")
    x[4:20] = top
    assert np.abs(N.pseudo_quantize(x, "e2m3", "uniform", seed=1)).max() == top
    assert np.abs(N.pseudo_quantize(x, "e2m3", "uniform", seed=1, clip=False)).max() > top


def test_bfloat16_float16_inputs_and_out_dtypes() -> None:
    ml = pytest.importorskip("ml_dtypes")
    rng = np.random.default_rng(2)
    x32 = (rng.standard_normal(500) * 3).astype(np.float32)
    xb = x32.astype(ml.bfloat16)
    yb = N.pseudo_quantize(xb, "e3m2", "r", seed=1, scale="none")
    assert yb.dtype == xb.dtype
    y32 = N.pseudo_quantize(xb.astype(np.float32), "e3m2", "r", seed=1, scale="none")
    assert yb.astype(np.float32).tolist() == y32.tolist()
    xh = x32.astype(np.float16)
    yh = N.pseudo_quantize(xh, "e3m2", "r", seed=1, scale="none", storage="float16")
    assert yh.dtype == np.float16
    assert yh.astype(np.float32).tolist() == N.pseudo_quantize(
        xh.astype(np.float32), "e3m2", "r", seed=1, scale="none", storage="float16").tolist()
    out = np.empty(500, np.float64)
    assert N.pseudo_quantize(x32, "e3m2", seed=4, out=out) is out
    assert out.tolist() == N.pseudo_quantize(x32, "e3m2", seed=4).tolist()


@pytest.mark.slow
def test_float64_inputs_round_once() -> None:
    """float64 values are not rounded to float32 first (a second kernel compile)."""
    x = np.array([1 + 2.0 ** -40, 0.3, -2.5e-300, 1e-5 + 2.0 ** -60], np.float64)
    y = N.pseudo_quantize(x, "e3m2", "r", seed=8, scale=0, rounding="up")
    exp = [R.element(float(v), i, "e3m2", N.Noise.r(9), seed=8, k=0, rounding="up")
           for i, v in enumerate(x)]
    assert _same(y, exp) == []


# ---- statistics at chosen magnitudes -------------------------------------------------------
def _exact_moments(w: float, fmt: str, noise: N.Noise, k: int, clip: bool = True) -> tuple:
    """Mean, variance and fourth central moment of (y - w) / Delta, exactly."""
    delta = R.spacing(Fraction(w), fs.format(fmt), k)
    f = 1 << noise.frac_bits
    ys = [((Fraction(R.combine(w, int(v * f), 0, fmt, noise, k=k, clip=clip)) - Fraction(w)) / delta, p)
          for v, p in noise.pmf()]
    m = sum(y * p for y, p in ys)
    var = sum((y - m) ** 2 * p for y, p in ys)
    m4 = sum((y - m) ** 4 * p for y, p in ys)
    return float(m), float(var), float(m4), float(delta)


@pytest.mark.parametrize("fmt", TARGETS)
@pytest.mark.parametrize("noise", NOISES, ids=lambda n: n.name)
def test_noise_statistics_per_magnitude(fmt: str, noise: N.Noise) -> None:
    """Mean and variance of (y - w) / Delta over 2**15 elements at a normal
    magnitude, a subnormal one, zero, a grid point and one step below max
    (where clipping bends the distribution), each against its exact value."""
    f = fs.format(fmt)
    n = 1 << 15
    mags = {"normal": 1.37 * 2.0 ** (f.emax - 1), "subnormal": 1.5 * f.min_subnormal,
            "zero": 0.0, "grid": 1.0, "near max": f.max - f.min_subnormal * 2 ** f.mbits / 3}
    for what, w in mags.items():
        w = float(np.float32(w))
        m, var, m4, delta = _exact_moments(w, fmt, noise, 0)
        y = N.pseudo_quantize(np.full(n, w, np.float32), fmt, noise, seed=99, stream=hash(what) % 1000,
                              scale="none").astype(np.float64)
        d = (y - w) / delta
        _z_check(d.mean(), m, math.sqrt(var / n), f"{fmt} {noise.name} {what} mean")
        _z_check(d.var(), var, math.sqrt(max(m4 - var * var, 1e-30) / n), f"{fmt} {noise.name} {what} var")
        # the definition: zero mean unless the noise rounds or clips asymmetrically
        if what == "zero":
            assert m == 0


# ---- errors --------------------------------------------------------------------------------
def test_bad_arguments_are_refused() -> None:
    x = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match=r"noise='laplace' is not valid"):
        N.pseudo_quantize(x, "e3m2", "laplace")
    with pytest.raises(ValueError, match=r"signed format with zero"):
        N.pseudo_quantize(x, "e8m0", "r")
    with pytest.raises(ValueError, match=r"storage=float32: the noisy value is cast once"):
        N.pseudo_quantize(x, "e3m2", storage="float32")
    with pytest.raises(ValueError, match=r"storage=float4_e2m1fn cannot hold every value"):
        N.pseudo_quantize(x, "e3m2", storage="e2m1")
    with pytest.raises(ValueError, match=r"noise r12: its values have 11 significant bits"):
        N.pseudo_quantize(x, "e3m2", N.Noise.r(12))
    with pytest.raises(ValueError, match=r"finest noise step"):
        N.pseudo_quantize(x, "bfloat16", "r")
    with pytest.raises(ValueError, match=r"scale=200: the exponent must be in"):
        N.pseudo_quantize(x, "e3m2", scale=200)
    with pytest.raises(ValueError, match=r"scale='row' is not valid"):
        N.pseudo_quantize(x, "e3m2", scale="row")
    with pytest.raises(ValueError, match=r"seed=-1 must be an int"):
        N.pseudo_quantize(x, "e3m2", seed=-1)
    with pytest.raises(ValueError, match=r"anneal=1.0 must be a number in \[0, 1\)"):
        N.pseudo_quantize(x, "e3m2", anneal=1.0)
    with pytest.raises(TypeError, match=r"x has dtype int64"):
        N.pseudo_quantize(np.zeros(3, np.int64), "e3m2")
    with pytest.raises(ValueError, match=r"float16 cannot hold every value of bfloat16"):
        N.pseudo_quantize(x.astype(np.float16), "e3m2")
    with pytest.raises(ValueError, match=r"sigma=0 must be a number in \(0, 4\]"):
        N.Noise.gaussian(0)
    with pytest.raises(ValueError, match=r"not a dyadic fraction"):
        N.Noise.table([Fraction(1, 3)], [1])
    with pytest.raises(ValueError, match=r"bits=17 must be an int in 2..16"):
        N.Noise.r(17)
    assert N.pseudo_quantize(np.zeros((0, 3), np.float32), "e3m2").shape == (0, 3)
