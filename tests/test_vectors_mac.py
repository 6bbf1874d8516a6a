"""FMA and dot-product vectors (``fma``, ``dot``, ``mx_dot``) against exact references.

The expected results of these sets come from floatsim.mac's Numba models;
here they are compared with references that never call those models:

* every (a, b, c) triple of E2M1 against a rounding written out in this file
  with Fractions (E2M1's eight magnitudes, nearest even, saturation);
* samples (or all) of every other set against floatsim.mac.reference (the
  rational oracle, through ``fv.verify``);
* the checker finds planted bugs in a device under test (truncation instead
  of nearest even, the product rounded before the addition, flushed
  subnormals, one alignment bit fewer, a truncating accumulator, no
  promotion, a word off by one) and names the class and the variant;
* every set round-trips through the hex, CSV and .npz files bit for bit.
"""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import floatsim as fs
import floatsim.mac as mac
import floatsim.vectors as fv
from floatsim.kernels.philox import random_word32
from floatsim.mac import reference as mref
from floatsim.vectors.command import run_check, run_vectors
from floatsim.vectors.macmodel import dots, spec_dict, spec_from

MODES = ["nearest_even", "nearest_away", "toward_zero", "up", "down", "odd"]
E2M1 = [Fraction(v) for v in (0, 0.5, 1, 1.5, 2, 3, 4, 6)]


def _vals(codes: np.ndarray, fmt: str, dtype: type = np.float64) -> np.ndarray:
    return fs.decode(np.asarray(codes).astype(np.int64), fmt, dtype)


# ---- an independent reference: E2M1 rounding written out -----------------------------------
def _e2m1_rne(a: float, b: float, c: float) -> int:
    """The E2M1 code of a*b + c rounded once, nearest even, saturating (E2M1 has
    no inf or NaN), an exact zero +0 unless both addends are -0; a nonzero
    value that rounds to zero keeps its sign."""
    p = Fraction(a) * Fraction(b)
    s = p + Fraction(c)
    if s == 0:
        p_neg = math.copysign(1.0, a) * math.copysign(1.0, b) < 0
        return 8 if (p == 0 and p_neg and math.copysign(1.0, c) < 0) else 0
    mag = abs(s)
    grid = [*E2M1, Fraction(8)]  # 8: the next would-be value, then saturated
    lo = max(i for i, v in enumerate(grid) if v <= mag)
    if grid[lo] == mag or lo == len(grid) - 1:
        i = lo
    else:
        d_lo, d_hi = mag - grid[lo], grid[lo + 1] - mag
        i = lo if d_lo < d_hi or (d_lo == d_hi and lo % 2 == 0) else lo + 1
    i = min(i, 7)
    return i | (8 if s < 0 else 0)


def test_fma_every_e2m1_triple_against_fractions() -> None:
    vs = fv.generate("fma", format="e2m1", c="every", level=0)
    assert vs.n == 16**3  # every triple (the specials are among them)
    a, b, c = (_vals(vs.data[k], "e2m1") for k in "abc")
    want = [_e2m1_rne(float(x), float(y), float(z)) for x, y, z in zip(a, b, c)]
    assert vs.data["y"].tolist() == want


@pytest.mark.parametrize("mode", MODES)
def test_fma_every_e2m1_triple_every_mode(mode: str) -> None:
    vs = fv.generate("fma", format="e2m1", c="every", rounding=mode, level=0)
    assert fv.verify(vs, sample=400, seed=len(mode)) == []


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_fma_every_e2m1_triple_every_mode_all(mode: str) -> None:
    vs = fv.generate("fma", format="e2m1", c="every", rounding=mode, level=0)
    assert fv.verify(vs, sample=None) == []  # 2-7 s a mode


def test_fma_every_e3m2_triple_sample() -> None:
    vs = fv.generate("fma", format="e3m2", c="every", level=0)
    assert vs.n == 64**3
    assert fv.verify(vs, sample=400, seed=3) == []


def test_fma_e4m3_every_pair() -> None:
    vs = fv.generate("fma", format="e4m3", level=1)
    a = vs.data["a"][: 256 * 256].reshape(256, 256)
    assert (a == np.arange(256)[:, None]).all()  # every (a, b) pair, then specials, random
    assert fv.verify(vs, sample=300, seed=1) == []
    assert fv.check(vs, vs.data["y"]).ok


@pytest.mark.slow
def test_fma_e4m3_every_pair_all_cases() -> None:
    vs = fv.generate("fma", format="e4m3", level=0)
    assert fv.verify(vs, sample=None) == []  # ~66,000 oracle calls: 1-2 minutes


@pytest.mark.parametrize(("fmt", "kw"), [
    ("e5m2", {"overflow": "saturate", "c": "zero"}),
    ("e5m2", {"rounding": "up", "c": "random"}),
    ("float16", {"src": "float16"}),
    ("bfloat16", {"src": "bfloat16", "src_c": "float32", "rounding": "toward_zero"}),
    ("float32", {"src": "e4m3", "src_c": "float32"}),
    ("e4m3", {"src": "float32", "src_c": "float64", "subnormals": False}),
    ("e2m3", {"src": "e2m1", "src_b": "e4m3", "src_c": "e3m2", "rounding": "down"}),
])
def test_fma_sets_against_oracle(fmt: str, kw: dict) -> None:
    vs = fv.generate("fma", format=fmt, level=1, **kw)
    assert fv.verify(vs, sample=250, seed=2) == [], (fmt, kw)


@pytest.mark.parametrize(("fmt", "src", "k"), [("e4m3", "e4m3", 4), ("bfloat16", "float32", 8)])
def test_fma_stochastic_against_oracle(fmt: str, src: str, k: int) -> None:
    vs = fv.generate("fma", format=fmt, src=src, rounding="stochastic", sr_bits=k, level=0,
                     random=200)
    assert [f.name for f in vs.fields] == ["a", "b", "c", "r", "y"]
    assert int(vs.data["r"].max()) < 1 << k
    assert fv.verify(vs, sample=300, seed=4) == []


# ---- dot products ------------------------------------------------------------------------------
CUSTOM = {
    "fixed": {"group": 8, "kept_bits": 10, "accumulator": {"bits": 24, "frac_bits": 12,
                                                           "overflow": "saturate"}},
    "kahan_bf16": {"accumulator": "bfloat16", "kahan": True},
    "sr_bf16": {"accumulator": "bfloat16", "acc_rounding": "stochastic", "sr_bits": 6},
    "sr_aligned": {"base": "hopper_fp8", "acc_rounding": "stochastic", "sr_bits": 3,
                   "kept_bits": 20},
    "product_e5m2_promote": {"product": "bfloat16", "product_rounding": "toward_zero",
                             "group": 4, "kept_bits": 9, "accumulator": "float16",
                             "promote_every": 8, "output": "bfloat16"},
}


@pytest.mark.parametrize("spec", mac.names())
def test_dot_presets_against_oracle(spec: str) -> None:
    vs = fv.generate("dot", src="e4m3", spec=spec, level=1, n=64)
    assert fv.verify(vs, sample=25, seed=5) == [], spec
    assert vs.params["spec"]["name"] == spec


@pytest.mark.parametrize("name", CUSTOM)
def test_dot_custom_specs_against_oracle(name: str) -> None:
    src = "e5m2" if name != "kahan_bf16" else "bfloat16"
    vs = fv.generate("dot", src=src, src_b="e4m3", spec=CUSTOM[name], n=16, level=1)
    assert fv.verify(vs, sample=40, seed=6) == [], name
    if "sr" in name:
        steps = mref.steps(16, spec_from(CUSTOM[name]))
        assert vs.spec("r").lanes == steps
        assert int(vs.data["r"].max()) < 1 << CUSTOM[name]["sr_bits"]


@pytest.mark.parametrize(("fmt", "spec"), [("mxfp8_e4m3", "fp32"), ("mxfp4_e2m1", "hopper_fp8"),
                                           ("mxfp6_e3m2", {"base": "bf16", "promote_every": 32})])
def test_mx_dot_against_oracle(fmt: str, spec: object) -> None:
    vs = fv.generate("mx_dot", format=fmt, spec=spec, level=1)
    assert [f.name for f in vs.fields] == ["a", "sa", "b", "sb", "y"]
    assert fv.verify(vs, sample=30, seed=7) == []


def test_dot_model_with_words_equals_mac_dot() -> None:
    # the vectors' model with explicit words is floatsim.mac's pipeline: given the
    # Philox words mac.dot draws, it gives mac.dot's results, row by row
    spec = mac.spec("bf16").replace(acc_rounding="stochastic", sr_bits=5, seed=11, stream=2)
    rng = np.random.default_rng(0)
    a = fs.quantize(rng.standard_normal((40, 24)).astype(np.float32), "e4m3")
    b = fs.quantize(rng.standard_normal((40, 24)).astype(np.float32), "e4m3")
    w = np.array([[random_word32(11, 0, r * 24 + s, 2) for s in range(24)] for r in range(40)],
                 np.int64)
    assert np.array_equal(dots(a, b, spec, words=w), mac.dot(a, b, spec).astype(np.float64))
    x = np.float32([1.5, -2.0, 4.0, 0.5])
    got = dots(x[None], x[None], mac.spec("fp32"), scale_exp=np.array([[1, 2]]), block=2)
    assert got[0] == mac.mx_dot(x, [2.0**-2, 2.0**3], x, [8.0, 0.5], "fp32", block=2)


def test_spec_json_round_trip() -> None:
    for name in mac.names():
        s = mac.spec(name)
        assert spec_from(json.loads(json.dumps(spec_dict(s)))) == s
    with pytest.raises(ValueError, match="not AccumulatorSpec fields"):
        spec_from({"kept": 3})


# ---- files and determinism ----------------------------------------------------------------
SETS = [("fma", {"format": "e4m3", "src": "float32", "src_c": "float16", "level": 0,
                 "random": 100}),
        ("fma", {"format": "e2m1", "rounding": "stochastic", "sr_bits": 3, "level": 0}),
        ("dot", {"src": "bfloat16", "spec": CUSTOM["sr_bf16"], "n": 8}),
        ("mx_dot", {"format": "mxfp4_e2m1", "spec": "blackwell_fp8"})]


@pytest.mark.parametrize(("op", "kw"), SETS)
def test_files_round_trip_and_determinism(op: str, kw: dict, tmp_path: Path) -> None:
    vs = fv.generate(op, seed=3, **kw)
    again = fv.generate(op, seed=3, **kw)
    assert vs.body_hash() == again.body_hash()
    paths = fv.write_all(vs, tmp_path)
    assert {p.suffix for p in paths} == {".hex", ".csv", ".npz"}
    for p in paths:
        back = fv.read(p)
        assert back.header() == vs.header(), p
        for f in vs.fields:
            assert np.array_equal(back.data[f.name], vs.data[f.name]), (p, f.name)
    head = [ln for ln in paths[0].read_text().splitlines() if ln.startswith("//")]
    assert any(ln.startswith(f'// op: "{op}"') for ln in head)
    assert fv.check(paths[0], paths[0]).ok


def test_random_cases_follow_the_seed() -> None:
    one = fv.generate("dot", src="e4m3", spec="fp32", n=8, seed=1, random=64, level=0)
    two = fv.generate("dot", src="e4m3", spec="fp32", n=8, seed=2, random=64, level=0)
    assert one.body_hash() != two.body_hash()


# ---- the checker finds planted bugs ----------------------------------------------------------------
def _fma_dut(fmt: str, mode: str = "nearest_even", *, unfused: bool = False,
             flush: bool = False):  # noqa: ANN202
    """A device: a*b + c into ``fmt`` by mac.fma, with a planted bug."""
    f = target = fs.format(fmt)

    def dut(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
        x, y, z = _vals(a, fmt), _vals(b, fmt), _vals(c, fmt)
        if unfused:  # multiply, round, then add: two roundings
            x, y = fs.quantize(x * y, fmt, mode), np.ones_like(y)
        v = mac.fma(x, y, z, target, mode)
        if flush:
            v = np.where(np.abs(v) < f.min_normal, np.copysign(0.0, v), v)
        return fs.encode(v, target)
    return dut


def test_check_fma_truncation() -> None:
    vs = fv.generate("fma", format="e4m3", level=0)
    rep = fv.check(vs, _fma_dut("e4m3", "toward_zero"), show=3)
    assert rep.mismatches > 1000
    assert "rounding_direction" in rep.classes
    assert "rounding=toward_zero" in rep.matches
    assert "case" in str(rep) and "expected: y=0x" in str(rep)


def test_check_fma_not_fused() -> None:
    vs = fv.generate("fma", format="e4m3", level=0)
    rep = fv.check(vs, _fma_dut("e4m3", unfused=True))
    assert set(rep.classes) == {"product_rounded"}, rep.classes
    assert any(m.startswith("product rounded to float8_e4m3fn") for m in rep.matches)


def test_check_fma_flushed_subnormals() -> None:
    vs = fv.generate("fma", format="e4m3", level=0)
    rep = fv.check(vs, _fma_dut("e4m3", flush=True))
    assert "flushed_subnormal" in rep.classes
    assert "subnormals flushed (subnormals=False)" in rep.matches


def test_check_fma_nan_sign_and_sr_word() -> None:
    # a NaN result matches any NaN code (IEEE 754 leaves its sign open) ...
    vs = fv.generate("fma", format="e5m2", level=0)
    y = vs.data["y"].copy()
    nan = np.isnan(_vals(y, "e5m2"))
    assert nan.any()
    y[nan] = 0xFF
    assert fv.check(vs, y).ok
    # ... and a stochastic FMA whose threshold is off by one is named
    vs = fv.generate("fma", format="e2m1", rounding="stochastic", sr_bits=3, level=0)

    def dut(a: np.ndarray, b: np.ndarray, c: np.ndarray, r: np.ndarray) -> np.ndarray:
        x, y_, z = (_vals(v, "e2m1") for v in (a, b, c))
        v = mac.fma(x, y_, z, "e2m1", "stochastic", sr_bits=3, random_bits=(r + 1) & 7)
        return fs.encode(v, "e2m1")
    rep = fv.check(vs, dut)
    assert rep.mismatches and "sr_decision" in rep.classes
    assert "random word + 1 (threshold off by one)" in rep.matches


def _dot_dut(src: str, spec: mac.AccumulatorSpec):  # noqa: ANN202
    out = spec.output

    def dut(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return fs.encode(mac.dot(_vals(a, src, np.float32), _vals(b, src, np.float32), spec), out)
    return dut


@pytest.mark.parametrize(("preset", "change", "cls", "label"), [
    ("hopper_fp8", {"kept_bits": 12}, "kept_bits_fewer", "kept_bits=12"),
    ("fp32", {"acc_rounding": "toward_zero"}, "accumulator_rounding", "acc_rounding=toward_zero"),
    ("a100_fp16", {"group": 4}, "group_size", "group=4"),
    ("hopper_fp8_promote128", {"promote_every": None}, "promotion",
     "no promotion (promote_every=None)"),
])
def test_check_dot_planted(preset: str, change: dict, cls: str, label: str) -> None:
    n = 256 if "promote" in preset else None
    vs = fv.generate("dot", src="e4m3", spec=preset, n=n, level=1)
    rep = fv.check(vs, _dot_dut("e4m3", mac.spec(preset).replace(**change)), show=2)
    assert rep.mismatches, preset
    assert set(rep.classes) == {cls}, rep.classes
    assert label in rep.matches, rep.matches
    assert f"preset {preset}" not in rep.matches
    assert fv.check(vs, _dot_dut("e4m3", mac.spec(preset))).ok


def test_check_dot_matches_preset() -> None:
    # a device computing the Hopper FP8 pipeline, checked against V100 vectors
    vs = fv.generate("dot", src="e4m3", spec="v100_fp16", n=64, level=1)
    rep = fv.check(vs, _dot_dut("e4m3", mac.spec("hopper_fp8")))
    assert rep.mismatches and "preset hopper_fp8" in rep.matches


# ---- the command line --------------------------------------------------------------------------
def test_cli_fma_and_dot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_vectors(["fma", "--format", "e2m1", "--addend", "every", "--level", "0",
                        "--out", str(tmp_path),
                        "--stem", "fma", "--verify", "50"]) == 0
    assert run_vectors(["dot", "--src", "e4m3", "--spec", '{"base": "hopper_fp8", "kept_bits": 12}',
                        "--n", "32", "--out", str(tmp_path), "--stem", "dot", "--formats", "hex"]) == 0
    out = capsys.readouterr().out
    assert "wrote 4096 cases" in out and "all agree" in out
    vs = fv.read(tmp_path / "fma.hex")
    res = tmp_path / "res.hex"
    y = _fma_dut("e2m1", "toward_zero")(vs.data["a"], vs.data["b"], vs.data["c"])
    res.write_text("".join(f"{int(v):01x}\n" for v in y))
    assert run_check([str(tmp_path / "fma.hex"), str(res), "--show", "2"]) == 1
    text = capsys.readouterr().out
    assert "rounding=toward_zero" in text and "rounding_direction" in text
    assert run_check([str(tmp_path / "dot.hex"), str(tmp_path / "dot.hex")]) == 0
    assert run_vectors(["dot", "--src", "e4m3", "--spec", "h100", "--out", str(tmp_path)]) == 2


def test_bad_parameters() -> None:
    with pytest.raises(ValueError, match="c='every'"):
        fv.generate("fma", format="e4m3", c="every")
    with pytest.raises(ValueError, match="sr_bits"):
        fv.generate("fma", format="e4m3", rounding="stochastic")
    with pytest.raises(ValueError, match="float64"):
        fv.generate("dot", src="float64")
    with pytest.raises(ValueError, match="n="):
        fv.generate("dot", src="e4m3", n=0)
    with pytest.raises(ValueError, match="unknown accumulator spec"):
        fv.generate("dot", src="e4m3", spec="h100")


def test_every_case_is_listed_once() -> None:
    vs = fv.generate("fma", format="e2m1", c="every", level=0)
    rows = set(zip(*(vs.data[k].tolist() for k in "abc")))
    assert len(rows) == vs.n == len(set(itertools.product(range(16), repeat=3)))
