"""The `floatsim` command line, run in-process (main) and once as `python -m floatsim`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from floatsim.cli import main


def _rows(out: str) -> dict[str, str]:
    """`floatsim info` output as {property: text of the first format's column}."""
    rows = {}
    for line in out.splitlines():
        key, _, rest = line.partition("  ")
        rows[key.strip()] = rest.strip()
    return rows


def test_info_e4m3fn(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "float8_e4m3fn"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert rows["name"] == "float8_e4m3fn"
    assert rows["max"] == "448"
    assert rows["min_subnormal"] == "2^-9 = 0.001953125"
    assert rows["eps"] == "2^-3 = 0.125"
    assert rows["specials"] == "fn"


def test_info_several_formats_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "e4m3", "e5m2", "fp4"]) == 0
    out = capsys.readouterr().out
    name_row = out.splitlines()[0].split()
    assert name_row == ["name", "float8_e4m3fn", "float8_e5m2", "float4_e2m1fn"]
    max_row = next(line for line in out.splitlines() if line.startswith("max "))
    assert max_row.split()[1:] == ["448", "57344", "6"]


def test_table_e2m1_has_16_rows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", "e2m1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if line.startswith("0x")]
    assert len(rows) == 16
    assert len(lines) == 17  # one header line
    assert rows[7].split()[0] == "0x07" and rows[7].split()[-1] == "6"
    assert rows[15].split()[-1] == "-6"


def test_table_refuses_wide_formats(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", "float16"]) == 2
    err = capsys.readouterr().err
    assert "up to 8 bits" in err and "float16 has 16 bits" in err


@pytest.mark.parametrize(
    "argv", [["info", "float8_e9m9"], ["info", "e4m3", "nope"], ["table", "nope"]]
)
def test_unknown_format_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unknown format" in captured.err
    assert "floatsim list" in captured.err


def test_unknown_format_suggests_close_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "float8_e4m3f"]) == 2
    assert "did you mean" in capsys.readouterr().err


def test_missing_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    assert "usage: floatsim" in capsys.readouterr().err


def test_list_contains_canonical_names_and_aliases(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    listed = capsys.readouterr().out.split()
    assert "float8_e5m2" in listed
    assert "e4m3" in listed
    assert len(listed) == len(set(listed))


def test_python_dash_m_floatsim() -> None:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run(
        [sys.executable, "-m", "floatsim", "info", "e5m2"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    rows = _rows(proc.stdout)
    assert rows["name"] == "float8_e5m2"
    assert rows["max"] == "57344"
