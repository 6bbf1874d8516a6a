"""floatsim_torch.telemetry: counts against exact counts from the core's encodings."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import floatsim as fs  # noqa: E402
import floatsim_torch as fst  # noqa: E402
from floatsim_torch import monitor  # noqa: E402


def _input() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 64)) * np.exp2(rng.integers(-8, 8, (6, 1)))
    # Blocks whose largest magnitude lies in (1.8125, 2) * 2**k: E4M3's top is 448 = 1.75 * 2**8,
    # so under the FLOOR scale 2**(k-8) those values clamp (1.76 rounds to the top anyway).
    x[0, :3] = [1.9, -1.82, 1.76]
    x[1, 32:34] = [7.9 * 2.0**-20, 1.0 * 2.0**-20]
    x[2, 5] = 1e-9                     # far below its block's scale: flushed to zero
    x[3, 40] = np.nan                  # its block of 32 becomes NaN (E8M0's NaN scale)
    return x.astype(np.float32)


def _exact(x: np.ndarray) -> dict[str, float]:
    """The counters computed from the core's own encoding: the top of each block's grid
    is E4M3's max, 448 = 1.75 * 2**8, times the block's E8M0 scale; a value is clamped
    when it lies above the top by more than half the top binade's spacing, 32."""
    bf = fs.blocks.format("mxfp8_e4m3")
    q = fs.blocks.quantize(x, bf, axis=-1).astype(np.float64)
    scodes = fs.blocks.encode(x, bf, axis=-1).scales
    scale = np.where(scodes == 255, np.nan, np.exp2(scodes.astype(np.float64) - 127))
    top = np.repeat((448.0 + 16.0) * scale, 32, axis=-1)
    fin = np.isfinite(x) & np.isfinite(q)
    xs = np.where(fin, x, 0.0).astype(np.float64)
    err = np.where(fin, x - q, 0.0)
    return dict(values=x.size, saturated=int(np.sum(np.abs(x) > top)),
                flushed=int(np.sum((q == 0) & (x != 0))), nan=int(np.sum(np.isnan(q))),
                sqnr_db=10 * math.log10(np.sum(xs * xs) / np.sum(err * err)))


def test_counts_equal_the_exact_counts() -> None:
    x = _input()
    lin = fst.emulate(nn.Linear(64, 32, bias=False), "mxfp8", telemetry=True)
    lin(torch.from_numpy(x))
    rec = {r["role"]: r for r in fst.telemetry(lin)}
    assert set(rec) == {"forward.lhs", "forward.rhs"}      # no backward ran
    want = _exact(x)
    got = rec["forward.lhs"]
    assert want["saturated"] >= 2 and want["flushed"] >= 1 and want["nan"] == 32
    for k in ("values", "saturated", "flushed", "nan"):
        assert got[k] == want[k], k
    assert got["sqnr_db"] == pytest.approx(want["sqnr_db"], abs=1e-3)
    assert got["saturated_share"] == pytest.approx(want["saturated"] / x.size)
    w = _exact(lin.weight.detach().numpy())
    assert rec["forward.rhs"]["saturated"] == w["saturated"]


def test_backward_roles_reuse_reset_and_pause() -> None:
    torch.manual_seed(0)
    model = fst.emulate(nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 32)),
                        "fp8_current", telemetry=True)
    model(torch.randn(8, 32)).square().sum().backward()
    recs = fst.telemetry(model)
    roles = {(r["layer"], r["role"]) for r in recs}
    assert len(roles) == 10   # layer 0 has no dgrad: its input needs no gradient
    # per-tensor scaling: W (and x) are cast once and reused by dgrad (and wgrad)
    reused = {(r["layer"], r["role"]) for r in recs if r["reused"]}
    assert reused == {("0", "wgrad.rhs"), ("2", "dgrad.rhs"), ("2", "wgrad.rhs")}
    dy = next(r for r in recs if r["layer"] == "2" and r["role"] == "dgrad.lhs")
    assert dy["values"] == 8 * 32 and dy["format"] == "float8_e5m2"
    # a per-tensor amax scale never clamps: only rounding moves values
    assert all(r["saturated"] == 0 for r in recs)
    text = recs.table()
    assert "forward.lhs" in text and "(reused: counted under forward.rhs)" in text
    totals = recs.by_role()
    assert totals["forward.lhs"]["values"] == 2 * 8 * 32
    monitor.reset(model)
    assert fst.telemetry(model) == []
    monitor.counting(model, False)
    model(torch.randn(8, 32))
    assert fst.telemetry(model) == []
    monitor.counting(model, True)
    model(torch.randn(8, 32))
    assert len(fst.telemetry(model, reset=True)) == 4      # forward only: x and w per layer
    assert fst.telemetry(model) == []


def test_records_are_flat_and_telemetry_must_be_on() -> None:
    lin = fst.emulate(nn.Linear(32, 32), "nvfp4", telemetry=True)
    lin(torch.randn(16, 32)).sum().backward()
    recs = fst.telemetry(lin)
    keys = set(recs[0])
    assert all(set(r) == keys for r in recs)               # a DataFrame takes them as rows
    assert all(isinstance(v, (str, int, float, bool)) for r in recs for v in r.values())
    with pytest.raises(ValueError, match="telemetry=True"):
        fst.telemetry(fst.emulate(nn.Linear(32, 32), "nvfp4"))


@pytest.mark.parametrize("recipe", ["mxfp4", "nvfp4"])
def test_fp4_clamps_and_no_false_alarms_among_subnormals(recipe: str) -> None:
    # E2M1's grid has a subnormal 0.5 (a twelfth of the top, 6): values near it lose
    # more than an ulp of |q| would allow in the normal range, yet are not clamped.
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((8, 64)) * np.exp2(rng.integers(-4, 4, (8, 1)))).astype(np.float32)
    bf = fs.blocks.format("mxfp4_e2m1" if recipe == "mxfp4" else "nvfp4")
    parts = fs.blocks.encode(x, bf, axis=-1)
    if recipe == "mxfp4":
        scale = np.exp2(parts[1].astype(np.float64) - 127)
    else:
        scale = fs.decode(parts[1], "ue4m3", np.float64) * parts[2]
    group = 32 if recipe == "mxfp4" else 16
    # the top of each block is 6 * scale; the spacing below it 2 * scale: clamped when above 7
    clamped = int(np.sum(np.abs(x) > np.repeat(7.0 * scale, group, axis=-1)))
    q = fs.blocks.quantize(x, bf, axis=-1)
    subnormal = int(np.sum(np.abs(q) == np.repeat(0.5 * scale, group, axis=-1)))
    lin = fst.emulate(nn.Linear(64, 16, bias=False), recipe, telemetry=True)
    lin(torch.from_numpy(x))
    got = next(r for r in fst.telemetry(lin) if r["role"] == "forward.lhs")
    assert subnormal > 10
    assert got["saturated"] == clamped
    if recipe == "mxfp4":
        assert clamped > 0            # FLOOR scales put a block's max up to 8 * scale
    else:
        assert clamped == 0           # amax / 6 into UE4M3 never leaves more than 6.375
