"""The README's main job runs `python -m floatsim.demo`; its quick mode must work."""

from __future__ import annotations

import re

import pytest

from floatsim import demo


def test_demo_quick_runs_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "SQNR" in out and "float4_e2m1fn" in out
    # stochastic rounding of the bfloat16 weight ends nearer the float64 sum than nearest-even
    errs = {m: float(v) for m, v in re.findall(
        r"bfloat16\s+(nearest_even|stochastic)\s+\S+\s+(\S+)", out)}
    assert abs(errs["stochastic"]) < abs(errs["nearest_even"])
