"""The README's first command, `floatsim demo` (CI-sized), and `floatsim tour`."""

from __future__ import annotations

import csv
import re
import sys

import pytest

from floatsim import tour
from floatsim.cli import main


def test_tour_quick_runs_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tour", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "SQNR" in out and "float4_e2m1fn" in out
    # stochastic rounding of the bfloat16 weight ends nearer the float64 sum than nearest-even
    errs = {m: float(v) for m, v in re.findall(
        r"bfloat16\s+(nearest_even|stochastic)\s+\S+\s+(\S+)", out)}
    assert abs(errs["stochastic"]) < abs(errs["nearest_even"])
    assert tour.main is not None


def test_demo_without_torch_says_how_to_install(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)   # `import torch` raises ImportError
    assert main(["demo", "--quick"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'floatsim[torch]'" in err and "torch==2.13.0" in err


def test_demo_ci_sized(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    import torch

    torch.set_num_threads(1)
    assert main(["demo", "--recipes", "fp32,mxfp8,nvfp4", "--steps", "6", "--size", "tiny",
                 "--batch-size", "4", "--seq-len", "16", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()
            if line.split() and line.split()[0] in ("fp32", "mxfp8", "nvfp4")}
    assert set(rows) == {"fp32", "mxfp8", "nvfp4"}
    assert rows["fp32"][2] == "+0.000"                     # the gap column is relative to fp32
    assert rows["fp32"][4:] == ["-", "/", "-", "/", "-", "-", "/", "-", "/", "-"]  # nothing cast
    for name in ("losses.csv", "summary.csv", "loss_curves.png"):
        assert (tmp_path / name).stat().st_size > 0
    with (tmp_path / "summary.csv").open() as f:
        summary = list(csv.DictReader(f))
    assert [r["recipe"] for r in summary] == ["fp32", "mxfp8", "nvfp4"]
    for r in summary:
        assert float(r["val_loss"]) < 6 and float(r["tokens_per_s"]) > 0
    with (tmp_path / "losses.csv").open() as f:
        losses = list(csv.DictReader(f))
    assert len(losses) == 3 * 6 and sum(1 for r in losses if r["val_loss"]) >= 3


def test_demo_rejects_an_unknown_recipe(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    assert main(["demo", "--recipes", "fp32,mxfp5"]) == 2
    assert "unknown recipe 'mxfp5'" in capsys.readouterr().err
