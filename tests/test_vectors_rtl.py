"""A real RTL round trip: golden vectors -> $readmemh -> Icarus Verilog -> floatsim check.

rtl/f32_to_e4m3.v is a synthesizable float32 -> E4M3 converter (nearest even,
satfinite); rtl/tb_f32_to_e4m3.v reads the .hex vectors with $readmemh and
writes the converter's output per case.  The correct converter has zero
mismatches and matches the profile of PTX cvt.rn.satfinite.e4m3x2.f32; each
planted bug (the PLANTED_BUG parameter) is found and classified.  Skipped where
Icarus Verilog is not installed (CI installs the Debian package in .ci/run).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import floatsim.vectors as fv
from floatsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
RTL = ROOT / "rtl"

pytestmark = pytest.mark.skipif(
    shutil.which("iverilog") is None or shutil.which("vvp") is None,
    reason="Icarus Verilog (iverilog, vvp) is not installed: apt-get install -y iverilog",
)


@pytest.fixture(scope="module")
def vectors(tmp_path_factory: pytest.TempPathFactory) -> tuple[fv.VectorSet, Path]:
    out = tmp_path_factory.mktemp("rtl")
    assert main(["vectors", "convert", "--src", "float32", "--format", "e4m3", "--overflow",
                 "saturate", "--random", "5000", "--out", str(out), "--formats", "hex",
                 "--stem", "e4m3"]) == 0
    path = out / "e4m3.hex"
    return fv.read(path), path


def _simulate(vs: fv.VectorSet, path: Path, bug: int) -> Path:
    sim = path.parent / f"sim{bug}"
    res = path.parent / f"results{bug}.hex"
    subprocess.run(["iverilog", "-g2005", "-Wall", f"-Ptb.N={vs.n}", f"-Ptb.BUG={bug}", "-o", str(sim),
                    str(RTL / "tb_f32_to_e4m3.v"), str(RTL / "f32_to_e4m3.v")],
                   check=True, capture_output=True, text=True)
    proc = subprocess.run(["vvp", "-n", str(sim), f"+VECTORS={path}", f"+RESULTS={res}"],
                          capture_output=True, text=True, check=True)
    assert "error" not in proc.stdout.lower(), proc.stdout
    return res


def test_correct_converter(vectors: tuple[fv.VectorSet, Path], capsys: pytest.CaptureFixture[str]) -> None:
    vs, path = vectors
    res = _simulate(vs, path, 0)
    assert main(["check", str(path), str(res)]) == 0
    out = capsys.readouterr().out
    assert f"mismatches: 0 of {vs.n} cases" in out
    assert "ptx_cvt_rn_satfinite_e4m3" in out


@pytest.mark.parametrize(("bug", "cls", "match"), [
    (1, "ties_away", "rounding=nearest_away"),
    (2, "flushed_subnormal", "subnormals flushed (subnormals=False)"),
    (3, "signed_zero", "-0 results become +0"),
])
def test_planted_bug(vectors: tuple[fv.VectorSet, Path], capsys: pytest.CaptureFixture[str],
                     bug: int, cls: str, match: str) -> None:
    vs, path = vectors
    res = _simulate(vs, path, bug)
    assert main(["check", str(path), str(res), "--show", "3"]) == 1
    out = capsys.readouterr().out
    assert cls in out and match in out
    rep = fv.check(vs, res)
    assert set(rep.classes) == {cls} and match in rep.matches
