"""floatsim.vectors' checker and profiles: zero mismatches for floatsim itself, each
planted bug found and classified, the profiles against the documentation and
against the libraries they describe, results files and the command line.

The deliberately broken devices below compute their outputs with plain numpy
bit arithmetic or floatsim with one rule changed, so each mismatch has a
known cause that the checker must name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ml_support import ML_NAMES, ML_VERSION, ml_type

import floatsim as fs
import floatsim.vectors as fv
from floatsim.cli import main
from floatsim.vectors import cases


def f32(bits: np.ndarray) -> np.ndarray:
    return bits.astype(np.uint32).view(np.float32)


def f64(bits: np.ndarray) -> np.ndarray:
    """float32 bit patterns as float64 values (quietly: some are signalling NaNs)."""
    return cases.widen(f32(bits))


@pytest.fixture(scope="module")
def e4m3() -> fv.VectorSet:
    """float32 -> E4M3, nearest even, E4M3's own policy (overflow to NaN)."""
    return fv.generate("convert", src="float32", format="e4m3", random=2000)


# ---- floatsim itself ---------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [
    dict(op="convert", src="float32", format="e4m3"),
    dict(op="convert", src="float64", format="bf16", rounding="rto"),
    dict(op="sr", src="float32", format="e2m1", sr_bits=8),
    dict(op="sr", src="e4m3", format="e5m2", sr_bits=8),
    dict(op="decode", format="e8m0"),
    dict(op="block", format="nvfp4", random=20),
])
def test_floatsim_matches_itself(kw: dict) -> None:
    kw = dict(kw)
    vs = fv.generate(kw.pop("op"), **kw)
    rep = fv.check(vs, {f.name: vs.data[f.name] for f in vs.outputs})
    assert rep.ok and rep.mismatches == 0 and not rep.first
    if "y" in vs.data:
        assert rep.matches[0] == "floatsim (this set's parameters)"


def test_the_profiles_a_device_matches() -> None:
    vs = fv.generate("convert", src="float32", format="e4m3", overflow="saturate")
    rep = fv.check(vs, vs.data["y"])
    assert {"ptx_cvt_rn_satfinite_e4m3", "torch_float8_e4m3fn"} <= set(rep.matches)
    assert "ml_dtypes_float8_e4m3fn" not in rep.matches   # ml_dtypes overflows to NaN
    nan_policy = fv.generate("convert", src="float32", format="e4m3")
    rep2 = fv.check(nan_policy, nan_policy.data["y"])
    assert "ml_dtypes_float8_e4m3fn" in rep2.matches
    assert "ptx_cvt_rn_satfinite_e4m3" not in rep2.matches
    assert dict(rep2.compared)["ptx_cvt_rn_satfinite_e4m3"] > 100


# ---- planted bugs, each found and classified -----------------------------------------------------
def _ties_away_by_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> E4M3 written with the classic bug: round half up (ties away)."""
    return fs.encode(f64(x), "e4m3", "nearest_away")


def test_bug_ties_away(e4m3: fv.VectorSet) -> None:
    rep = fv.check(e4m3, _ties_away_by_bits)
    assert rep.mismatches > 100 and set(rep.classes) == {"ties_away"}
    assert "rounding=nearest_away" in rep.matches
    r = rep.first[0]
    assert r.cls == "ties_away" and r.inputs[0][0] == "x" and r.expected[0][1].startswith("0x")
    assert "ties_away" in str(rep) and "rounded away from zero" in str(rep)


def test_bug_flushed_subnormals(e4m3: fv.VectorSet) -> None:
    def dut(x: np.ndarray) -> np.ndarray:
        y = fs.encode(f32(x), "e4m3")
        return np.where((y & 0x78) == 0, y & 0x80, y)   # exponent field 0: flush, keep the sign

    rep = fv.check(e4m3, dut)
    assert set(rep.classes) == {"flushed_subnormal"}
    assert "subnormals flushed (subnormals=False)" in rep.matches


def test_bug_saturation_where_nan_was_required(e4m3: fv.VectorSet) -> None:
    rep = fv.check(e4m3, lambda x: fs.encode(f32(x), "e4m3", overflow="saturate"))
    assert set(rep.classes) <= {"overflow_policy", "inf_input"} and rep.classes["overflow_policy"] > 50
    assert {"overflow=saturate", "ptx_cvt_rn_satfinite_e4m3", "torch_float8_e4m3fn"} <= set(rep.matches)
    bad = next(r for r in rep.first if r.cls == "overflow_policy")
    assert bad.expected[0][2] == "nan" and bad.got[0][2] in ("448.0", "-448.0")


def test_bug_lost_negative_zero(e4m3: fv.VectorSet) -> None:
    def dut(x: np.ndarray) -> np.ndarray:
        y = fs.encode(f32(x), "e4m3")
        return np.where(y == 0x80, 0, y)

    rep = fv.check(e4m3, dut)
    assert set(rep.classes) == {"signed_zero"}
    assert "-0 results become +0" in rep.matches


def test_bug_nan_handling_and_daz() -> None:
    vs = fv.generate("convert", src="float32", format="bfloat16", random=500)
    def dut(x: np.ndarray) -> np.ndarray:
        v = f32(x)
        y = fs.encode(v, "bfloat16", daz=True)               # flushes float32 subnormal inputs
        return np.where(np.isnan(v), 0x7F80, y)               # and turns NaN into +inf
    rep = fv.check(vs, dut)
    assert set(rep.classes) == {"nan_input", "daz_input"}


@pytest.mark.parametrize(("bug", "cls", "hypothesis"), [
    ("r+1", "sr_decision", "random word + 1 (threshold off by one)"),
    ("k-1", "sr_decision", "sr_bits=7 (one bit fewer)"),
    ("high", "sr_decision", "sr_bits=7 from the word's top bits (shifted right by one)"),
])
def test_bug_off_by_one_in_sr_bits(bug: str, cls: str, hypothesis: str) -> None:
    vs = fv.generate("sr", src="float32", format="e4m3", sr_bits=8, random=500)

    def dut(x: np.ndarray, r: np.ndarray) -> np.ndarray:
        # k-bit SR written out in integer arithmetic on the float32 bits, as hardware does it
        r = r.astype(np.uint32)
        k = {"r+1": 8, "k-1": 7, "high": 7}[bug]
        if bug == "r+1":
            r = (r + 1) & 0xFF
        elif bug == "high":
            r = r >> 1
        return fs.encode(f32(x), "e4m3", "sr", random_bits=r, sr_bits=k)

    rep = fv.check(vs, dut)
    assert set(rep.classes) == {cls} and rep.mismatches > 20
    assert hypothesis in rep.matches


def test_bug_in_decode() -> None:
    vs = fv.generate("decode", format="e5m2")

    def dut(c: np.ndarray) -> np.ndarray:
        v = fs.decode(c, "e5m2", np.float32)
        v = np.where(np.abs(v) < 2.0**-14, np.float32(0), v)  # subnormals read as +0
        return v.view(np.uint32)

    rep = fv.check(vs, dut)
    assert set(rep.classes) == {"flushed_subnormal", "signed_zero"}


def test_bug_in_blocks() -> None:
    vs = fv.generate("block", format="mxfp4_e2m1", random=50)

    def dut(x: np.ndarray) -> dict[str, np.ndarray]:
        e, s = fs.blocks.encode(f32(x), "mxfp4_e2m1", "nearest_away")[:2]
        return {"s": s[:, 0], "e": e}

    rep = fv.check(vs, dut)
    assert set(rep.classes) == {"ties_away"}

    def dut2(x: np.ndarray) -> dict[str, np.ndarray]:
        e, s = fs.blocks.encode(f32(x), fs.blocks.format("mxfp4_e2m1").with_(rule="ceil"))[:2]
        return {"s": s[:, 0], "e": e}

    rep2 = fv.check(vs, dut2)
    assert "block_scale" in rep2.classes


# ---- profiles --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", fv.profile_names())
def test_profile_documented_cases(name: str) -> None:
    p = fv.profile(name)
    assert p.documented, f"{name} names no documented case"
    assert p.source
    for c in p.documented:
        x = np.array([c.x], dtype=np.float64 if c.dtype == "float64" else np.float32)
        codes, care = p.expected(x, np.array([c.r], np.uint64) if p.stochastic else None)
        assert care[0] and codes[0] == c.code, (name, c)


def _probe(fmt: fs.Format) -> np.ndarray:
    """Boundary float32 inputs plus random ones, as float32."""
    b = np.concatenate([cases.boundary_inputs("float32", fmt), cases.random_inputs("float32", fmt, 20000, 1)])
    return f32(b)


@pytest.mark.parametrize("name", [n for n in fv.profile_names() if n.startswith("ml_dtypes_")])
def test_ml_dtypes_profiles_match_ml_dtypes(name: str) -> None:
    p = fv.profile(name)
    pre07 = name.endswith("_pre07")
    if pre07 == (ML_VERSION >= (0, 7)):
        pytest.skip(f"{name} describes {p.version}; installed ml_dtypes: {ML_VERSION}")
    if p.format not in ML_NAMES:
        pytest.skip(f"ml_dtypes {ML_VERSION} has no {p.format}")
    mt = ml_type(p.format)
    x = _probe(p.fmt)
    view = np.uint16 if p.fmt.bits > 8 else np.uint8   # 6- and 4-bit codes sit in a byte
    for xin in (x, cases.widen(x)):
        with np.errstate(all="ignore"):
            theirs = xin.astype(mt).view(view).astype(np.int64)
        codes, care = p.expected(xin)
        ok = (codes == theirs) | ~care
        assert ok.all(), (name, xin.dtype, xin[~ok][:5], theirs[~ok][:5], codes[~ok][:5])


@pytest.mark.parametrize("name", [n for n in fv.profile_names() if n.startswith("torch_")])
def test_torch_profiles_match_torch(name: str) -> None:
    torch = pytest.importorskip("torch")
    p = fv.profile(name)
    ver = tuple(int(v) for v in torch.__version__.split(".")[:2])
    if (name == "torch_float8_e4m3fn_legacy") == (ver >= (2, 12)):
        pytest.skip(f"{name} describes {p.version}; installed torch: {torch.__version__}")
    dt = getattr(torch, p.format, None)
    if dt is None:
        pytest.skip(f"torch {torch.__version__} has no {p.format}")
    x = _probe(p.fmt)
    with np.errstate(over="ignore", invalid="ignore"):
        x16 = x.astype(np.float16)
    for xin in (x, cases.widen(x), x16):
        with np.errstate(all="ignore"):
            theirs = torch.from_numpy(xin.copy()).to(dt).view(torch.uint8).numpy().astype(np.int64)
        codes, care = p.expected(xin)
        bad = care & (codes != theirs)
        assert not bad.any(), (name, xin.dtype, xin[bad][:5], theirs[bad][:5], codes[bad][:5])


def test_profiles_for() -> None:
    names = [p.name for p in fv.profiles_for("e2m1", "float32", stochastic=True)]
    assert names == ["ptx_cvt_rs_satfinite_e2m1"]
    assert fv.profile("ptx_cvt_rs_satfinite_e2m1").sr_bits == 8
    assert "hip_e4m3_fnuz_sr_satfinite" in [p.name for p in fv.profiles_for("e4m3fnuz", "float32", True)]
    with pytest.raises(ValueError, match="unknown profile 'nope'"):
        fv.profile("nope")
    with pytest.raises(ValueError, match="rounds stochastically: pass r="):
        fv.profile("ptx_cvt_rs_satfinite_e4m3").expected(np.zeros(2, np.float32))


# ---- results files ---------------------------------------------------------------------------
def _write_results(path: Path, lines: list[str]) -> Path:
    path.write_text("// device results\n" + "".join(ln + "\n" for ln in lines))
    return path


def test_results_files(tmp_path: Path, e4m3: fv.VectorSet) -> None:
    y = [format(int(v), "02x") for v in e4m3.data["y"]]
    assert fv.check(e4m3, _write_results(tmp_path / "ok.hex", y)).ok
    bad = list(y)
    bad[3], bad[9] = "xx", "0z"
    rep = fv.check(e4m3, _write_results(tmp_path / "xz.hex", bad))
    assert rep.mismatches == 2 and rep.classes == {"unknown_output": 2}
    full = fv.write(e4m3, tmp_path / "full.hex")   # whole case lines work too
    assert fv.check(e4m3, full).ok
    npz = tmp_path / "r.npz"
    np.savez(npz, y=e4m3.data["y"].astype(np.uint8))
    assert fv.check(e4m3, npz).ok
    with pytest.raises(ValueError, match=r"lines have 3 hex digits; expected 2 \(the output fields"):
        fv.check(e4m3, _write_results(tmp_path / "w.hex", ["abc"] * e4m3.n))
    with pytest.raises(ValueError, match=r"3 results for \d+ cases"):
        fv.check(e4m3, _write_results(tmp_path / "s.hex", y[:3]))
    with pytest.raises(ValueError, match=r"results\['y'\] has dtype float32"):
        fv.check(e4m3, {"y": np.zeros(e4m3.n, np.float32)})


# ---- command line ----------------------------------------------------------------------------
def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vectors", "convert", "--format", "e2m1", "--src", "float32", "--rounding", "rne",
                 "--out", str(tmp_path), "--formats", "hex,npz", "--verify", "30"]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "all agree" in out
    hexfile = next(tmp_path.glob("*.hex"))
    vs = fv.read(hexfile)
    assert main(["check", str(hexfile), str(hexfile)]) == 0
    assert "mismatches: 0 of" in capsys.readouterr().out
    ties = fs.encode(f32(vs.data["x"]), "e2m1", "nearest_away")
    res = _write_results(tmp_path / "dut.hex", [format(int(v), "01x") for v in ties])
    assert main(["check", str(hexfile), str(res), "--show", "2"]) == 1
    out = capsys.readouterr().out
    assert "ties_away" in out and "rounding=nearest_away" in out and "first 2 mismatches" in out
    assert main(["vectors", "convert", "--format", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown format 'nope'" in capsys.readouterr().err
    assert main(["check", str(hexfile), str(tmp_path / "missing.hex")]) == 2
    assert main(["vectors", "list"]) == 0
    assert "ptx_cvt_rn_satfinite_e4m3" in capsys.readouterr().out
