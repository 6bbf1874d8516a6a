"""cuda/floatsim.cuh against the golden vectors, the way a C++ or DPI-C harness uses them.

cuda/tests/vectors_driver.cpp (built with g++ from the header's host side)
reads a .hex vectors file line by line, converts each case with
``floatsim::encode`` / ``floatsim::decode`` and writes hex result lines;
``floatsim.vectors.check`` must then report zero mismatches, for conversions
from float32, float64, bfloat16, float16 and from codes of another format into
every kind of format, in every rounding mode, stochastic rounding (exact and
k-bit, explicit words) included, and for decode.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import floatsim as fs
import floatsim.vectors as fv
from floatsim.formats import Format

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "cuda" / "tests" / "vectors_driver.cpp"
SPECIALS = {"ieee": 0, "fn": 1, "fnuz": 2, "finite": 3, "p3109": 4}
OVERFLOW = {"saturate": 0, "inf": 1, "nan": 2}
MODES = ["nearest_even", "nearest_away", "toward_zero", "up", "down", "odd"]
SRC = {"float32": "f32", "float64": "f64", "bfloat16": "bf16", "float16": "f16"}


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ is not installed: cannot build cuda/tests/vectors_driver.cpp")
    exe = tmp_path_factory.mktemp("vectors_cuh") / "vectors_driver"
    proc = subprocess.run([gxx, "-O2", "-std=c++17", "-Wall", "-Wextra", "-o", str(exe), str(DRIVER)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return exe


def _fmt_args(f: Format, prefix: str = "", overflow: str | None = None,
              subnormals: bool | None = None) -> list[str]:
    return [f"{prefix}ebits={f.ebits}", f"{prefix}mbits={f.mbits}", f"{prefix}signed={int(f.signed)}",
            f"{prefix}bias={f.bias}",
            f"{prefix}subnormals={int(f.subnormals if subnormals is None else subnormals)}",
            f"{prefix}has_zero={int(f.has_zero)}", f"{prefix}specials={SPECIALS[f.specials.value]}",
            f"{prefix}overflow={OVERFLOW[overflow or f.overflow.value]}"]


def _run(exe: Path, vs: fv.VectorSet, tmp: Path) -> fv.CheckReport:
    vec = fv.write(vs, tmp / "v.hex")
    res = tmp / "r.hex"
    p = vs.params
    f = fs.format(p["format"])
    args = [f"in={vec}", f"out={res}", f"op={vs.op if vs.op != 'sr' else 'convert'}"]
    if vs.op == "decode":
        args += _fmt_args(f) + [f"dst={'f32' if p['out'] == 'float32' else 'f64'}"]
    else:
        src = SRC.get(p["src"], "code")
        args += _fmt_args(f, "", p["overflow"], p["subnormals"]) + [f"src={src}"]
        if src == "code":
            args += _fmt_args(fs.format(p["src"]), "s_")
        args += [f"rounding={fs.Rounding.parse(p['rounding']).value}"]
        if p["rounding"] == "stochastic":
            r = vs.spec("r")
            args += [f"sr_bits={p['sr_bits'] or 0}", f"rdigits={r.digits}",
                     f"width={0 if p['sr_bits'] else r.bits}"]
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    return fv.check(vs, res, diagnose=False, show=vs.n)


def _assert_ok(rep: fv.CheckReport, vs: fv.VectorSet) -> None:
    """No mismatch, but for one known difference: from a code input that is a negative
    NaN, the header decodes -NaN (and so gives a negative NaN code) where floatsim.decode
    and the oracle decode +NaN."""
    if rep.ok:
        return
    src = vs.params.get("src")
    assert src not in SRC and set(rep.classes) == {"nan_code"}, str(rep)
    f = fs.format(src)
    neg_nan = {c for c in range(f.num_codes) if np.isnan(f.values()[c]) and c >> (f.bits - 1)}
    assert {int(r.inputs[0][1], 16) for r in rep.first} <= neg_nan, str(rep)


FORMATS = ["e4m3", "e5m2", "e2m1", "e3m2", "e2m3", "e8m0", "e4m3fnuz", "ue4m3", "bfloat16",
           "p3109_k8p3se", "e3m4", "float16"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_header_matches_conversion_vectors(driver: Path, tmp_path: Path, fmt: str) -> None:
    # every rounding mode from float32 (three for the 16-bit formats, whose boundary sets
    # are larger); the other input types in one mode each
    for i, mode in enumerate(MODES if fs.format(fmt).bits <= 8 else MODES[::2]):
        vs = fv.generate("convert", src="float32", format=fmt, rounding=mode, random=300)
        rep = _run(driver, vs, tmp_path)
        assert rep.ok, str(rep)
        src = ["float64", "bfloat16", "float16", "e5m2", "float64", "bfloat16"][i]
        vs2 = fv.generate("convert", src=src, format=fmt, rounding=mode, random=300)
        _assert_ok(_run(driver, vs2, tmp_path), vs2)


@pytest.mark.parametrize(("src", "fmt", "sr_bits"), [
    ("float32", "e4m3", None), ("float32", "e2m1", 8), ("float64", "e5m2", None),
    ("float64", "bfloat16", 16), ("e4m3", "e5m2", 8), ("bfloat16", "e2m3", 3), ("float16", "e8m0", None),
])
def test_header_matches_sr_vectors(driver: Path, tmp_path: Path, src: str, fmt: str,
                                   sr_bits: int | None) -> None:
    vs = fv.generate("sr", src=src, format=fmt, sr_bits=sr_bits, random=200)
    _assert_ok(_run(driver, vs, tmp_path), vs)


def test_header_matches_policies_and_flush(driver: Path, tmp_path: Path) -> None:
    for kw in (dict(format="e4m3", overflow="saturate"), dict(format="e5m2", overflow="nan"),
               dict(format="e5m2", subnormals=False), dict(format="e2m1", subnormals=False)):
        vs = fv.generate("convert", random=300, **kw)
        assert _run(driver, vs, tmp_path).ok, vs.summary()


@pytest.mark.parametrize("fmt", ["e4m3", "e8m0", "e2m1", "ue4m3", "bfloat16", "e4m3fnuz"])
def test_header_matches_decode_vectors(driver: Path, tmp_path: Path, fmt: str) -> None:
    vs = fv.generate("decode", format=fmt)
    assert _run(driver, vs, tmp_path).ok


def test_a_broken_header_is_caught(driver: Path, tmp_path: Path) -> None:
    # the same harness with the wrong overflow policy given to the header: the checker says so
    vs = fv.generate("convert", format="e4m3")
    vec = fv.write(vs, tmp_path / "v.hex")
    res = tmp_path / "r.hex"
    f = fs.format("e4m3")
    subprocess.run([str(driver), f"in={vec}", f"out={res}", "op=convert", "src=f32", "rounding=0",
                    *_fmt_args(f, "", "saturate")], check=True)
    rep = fv.check(vs, res)
    assert not rep.ok and set(rep.classes) <= {"overflow_policy", "inf_input"}
    assert "ptx_cvt_rn_satfinite_e4m3" in rep.matches
