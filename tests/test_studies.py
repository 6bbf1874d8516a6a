"""The training studies: `floatsim study formats` and `floatsim study accumulator-loss`.

Core parts (formats, recipes, plans, statistics, reports, the command line)
run without torch; the training parts run the smallest unit of each study
(a few steps of the tiny models) and check it end to end: the study's
recipes against the registered ones they must equal, and the accumulator
GEMM's six operands and three products against the core's own casts and
GEMM.
"""

from __future__ import annotations

import csv
import math
import sys
from fractions import Fraction

import numpy as np
import pytest

import floatsim as fs
from floatsim import recipes
from floatsim.cli import main as cli
from floatsim.recipes import Scaling
from floatsim.studies import accumulator_loss as al
from floatsim.studies import command, report
from floatsim.studies import formats as fstudy
from floatsim.studies.report import Result, mean_std, summary

ALL_SPLITS = [s for w in fstudy.SPLITS.values() for s in w]


# ---- formats: what the grid is --------------------------------------------------------------
def test_splits_are_every_split_named_in_the_issue() -> None:
    assert fstudy.SPLITS == {8: ("e5m2", "e4m3", "e3m4", "e2m5"), 6: ("e3m2", "e2m3"),
                             4: ("e2m1", "e3m0")}
    for width, splits in fstudy.SPLITS.items():
        for s in splits:
            assert fstudy.element(s).bits == width


@pytest.mark.parametrize("split", ALL_SPLITS)
def test_grid_formats_spend_every_code_on_a_finite_value(split: str) -> None:
    f = fstudy.element(split)
    e, m = f.ebits, f.mbits
    vals = np.asarray(f.values(), dtype=np.float64)
    assert vals.size == 2 ** f.bits and np.isfinite(vals).all()
    # the largest value, from the split alone: all-ones exponent and mantissa fields
    top = (2 - Fraction(1, 2 ** m)) * Fraction(2) ** (2 ** e - 1 - (2 ** (e - 1) - 1))
    assert Fraction(vals.max()) == top == Fraction(f.max)
    assert len(set(np.abs(vals[vals != 0]))) == 2 ** (f.bits - 1) - 1   # no code wasted


def test_ladder_is_bfloat16_with_fewer_mantissa_bits() -> None:
    assert fstudy.LADDER == ("e8m5", "e8m4", "e8m3", "e8m2", "e8m1")
    e8m7 = fstudy.element("e8m7", "ieee")
    assert e8m7.values().tobytes() == fs.format("bfloat16").values().tobytes()


@pytest.mark.parametrize("split", ALL_SPLITS)
def test_each_run_casts_all_six_operands_as_its_scaling_says(split: str) -> None:
    t = fstudy.Run(split, "tensor", 0).recipe()
    mx = fstudy.Run(split, "mx", 0).recipe()
    for role in recipes.ROLES:
        op = t.operand(role)
        assert (op.format, op.scaling, op.rounding) == (
            fstudy.element(split), Scaling.TENSOR_CURRENT, fs.Rounding.NEAREST_EVEN)
        bf = op.block_format   # what the cast runs with: one FP32 scale, amax rule
        assert (bf.scale.name, bf.block, bf.rule.name) == ("float32", None, "AMAX")
        op = mx.operand(role)
        assert op.scaling is Scaling.BLOCK
        bf = op.format
        assert (bf.element, bf.scale.name, bf.block, bf.rule.name) == (
            fstudy.element(split), "float8_e8m0fnu", (32,), "FLOOR")
    assert t.accumulator == mx.accumulator == "fp32" and not t.attention


def test_the_grid_meets_the_named_mx_formats_where_they_agree() -> None:
    # OCP's FP6 and FP4 elements are finite already: the study's MX runs of
    # those splits are the named recipes' formats (equality ignores the name)
    for split, named in (("e2m1", "mxfp4_e2m1"), ("e3m2", "mxfp6_e3m2"), ("e2m3", "mxfp6_e2m3")):
        assert fstudy.block_format(split).element == fs.blocks.format(named).element
    # where the standards spend codes on NaN / inf, the study's formats differ
    assert fstudy.element("e4m3").max == 480 and fs.format("e4m3").max == 448


def test_plan_orders_runs_seed_by_seed() -> None:
    cfg = fstudy.config(seeds=2)
    runs = fstudy.plan(cfg)
    per_seed = len(cfg.baselines) + len(cfg.formats) * len(cfg.scalings) + len(cfg.ladder)
    assert len(runs) == 2 * per_seed == 2 * (2 + 16 + 5)
    assert [r.seed for r in runs] == [0] * per_seed + [1] * per_seed
    assert [r.label for r in runs[:5]] == ["fp32", "bf16", "e5m2 tensor", "e5m2 mx",
                                           "e4m3 tensor"]
    assert runs[per_seed - 1].label == "e8m1" and runs[per_seed - 1].bits == 10
    assert len({(r.label, r.seed) for r in runs}) == len(runs)


@pytest.mark.parametrize("changes, match", [
    (dict(formats=("e4x3",)), r"format='e4x3' is not a split"),
    (dict(formats=("e9m3",)), r"1\.\.8 exponent bits"),
    (dict(scalings=("row",)), r"scaling 'row' is not valid; allowed: tensor, mx"),
    (dict(baselines=("fp16",)), r"baseline 'fp16' is not valid"),
    (dict(seeds=0), r"seeds=0 must be an int >= 1"),
    (dict(size="huge"), r"size='huge' is not valid; allowed: micro, tiny, mini, small"),
    (dict(lr=2.0), r"lr=2\.0 must be a number in \(0, 1\)"),
    (dict(formats=(), ladder=(), baselines=()), r"nothing to run"),
    (dict(formats="e4m3"), r"formats='e4m3' must be a tuple"),
])
def test_format_study_config_rejects_bad_settings(changes: dict, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        fstudy.config(**changes)


def test_study_sizes_match_the_gpt_sizes_of_the_same_name() -> None:
    gpt = pytest.importorskip("floatsim_torch.gpt")
    for name in ("tiny", "small"):
        c = gpt.SIZES[name]
        assert report.SIZES[name] == (c.n_layer, c.n_head, c.n_embd, c.block_size)


# ---- statistics and reports -----------------------------------------------------------------
def _fake(labels_losses: dict[tuple[str, str], list[float]]) -> list[Result]:
    out = []
    for (name, scaling), losses in labels_losses.items():
        for seed, v in enumerate(losses):
            curve = [(s, v + 1.0 / s) for s in range(1, 11)]
            out.append(Result(fstudy.Run(name, scaling, seed), v, curve, curve[4::5]))
    return out


def test_summary_pairs_each_run_with_the_fp32_run_of_its_seed() -> None:
    res = _fake({("fp32", ""): [2.0, 2.2, 2.1], ("e2m1", "mx"): [2.3, 2.4, math.nan],
                 ("e4m3", "tensor"): [2.05, 2.25, 2.1]})
    rows = {r["label"]: r for r in fstudy.summarize(res)}
    e2 = rows["e2m1 mx"]
    assert (e2["runs"], e2["diverged"], e2["bits"], e2["ebits"], e2["mbits"]) == (3, 1, 4, 2, 1)
    assert e2["mean"] == pytest.approx(2.35) and e2["std"] == pytest.approx(math.sqrt(0.005))
    assert e2["gap"] == pytest.approx(0.25) and e2["gap_std"] == pytest.approx(math.sqrt(0.005))
    e4 = rows["e4m3 tensor"]
    # seed-paired gaps (0.05, 0.05, 0.0) vary far less than the losses themselves
    assert e4["gap"] == pytest.approx(0.1 / 3) and e4["gap_std"] < e4["std"] / 3
    assert rows["fp32"]["gap"] == 0 and rows["fp32"]["scaling"] == "baseline"
    assert all(math.isnan(v) for v in mean_std([]))


def test_summary_without_a_reference_leaves_the_gap_undefined() -> None:
    rows = summary(_fake({("e2m1", "mx"): [2.3, 2.4]}))
    assert math.isnan(rows[0]["gap"]) and rows[0]["runs"] == 2


def test_table_lists_every_format_with_both_scalings_and_divergences() -> None:
    res = _fake({("fp32", ""): [2.0, 2.2], ("bf16", ""): [2.01, 2.2],
                 ("e2m1", "tensor"): [math.nan, math.nan], ("e2m1", "mx"): [2.3, 2.4],
                 ("e8m3", "none"): [2.02, 2.21]})
    text = fstudy.table(fstudy.summarize(res)).splitlines()
    assert text[2] == "| 32 | fp32 | 2.100 ± 0.141 |  |  |  |"
    assert text[3] == "| 16 | bf16 | 2.105 ± 0.134 | +0.005 ± 0.007 |  |  |"
    assert text[4] == "| 4 | e2m1 | - (2/2 diverged) | - | 2.350 ± 0.071 | +0.250 ± 0.071 |"
    assert text[5] == "| 12 | e8m3 (unscaled) | 2.115 ± 0.134 | +0.015 ± 0.007 |  |  |"


def test_reports_write_csv_and_plots(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    res = _fake({("fp32", ""): [2.0, 2.2], **{(s, sc): [2.1, 2.3] for s in ALL_SPLITS
                                              for sc in fstudy.SCALINGS},
                 ("e8m3", "none"): [2.0, 2.2], ("e3m0", "tensor"): [math.nan, 2.5]})
    made = fstudy.report(res, fstudy.config(seeds=2), tmp_path, title="t")
    assert made == ["runs.csv", "summary.csv", "losses.csv", "heatmap.png", "curves.png"]
    for name in made:
        assert (tmp_path / name).stat().st_size > 0
    with (tmp_path / "runs.csv").open() as f:
        runs = list(csv.DictReader(f))
    assert len(runs) == len(res) and runs[0]["label"] == "fp32"
    with (tmp_path / "losses.csv").open() as f:
        assert sum(1 for _ in csv.DictReader(f)) == 10 * len(res)


# ---- the command line -----------------------------------------------------------------------
def test_cli_lists_the_studies(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["study"]) == 2
    out = capsys.readouterr().out
    assert all(name in out for name in command.STUDIES)
    assert cli(["study", "--help"]) == 0
    assert cli(["study", "sizes"]) == 2
    assert "unknown study 'sizes'; choose from formats" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli(["--help"])
    assert "study" in capsys.readouterr().out


def test_study_without_torch_says_how_to_install(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)   # `import torch` raises ImportError
    for name in ("formats", "accumulator-loss"):
        assert cli(["study", name, "--quick"]) == 2
        err = capsys.readouterr().err
        assert f"floatsim study {name}: error" in err and "torch==2.13.0" in err


def test_study_accumulation_runs_without_torch(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    from floatsim.studies import accumulation

    calls = []
    monkeypatch.setattr(accumulation, "main", lambda argv: calls.append(argv) or 0)
    assert cli(["study", "accumulation", "--quick"]) == 0 and calls == [["--quick"]]


def test_format_study_main_with_a_stand_in_trainer(tmp_path, capsys) -> None:
    seen = []

    def trainer(cfg: fstudy.StudyConfig, threads: int | None = None) -> list[Result]:
        seen.append((cfg, threads))
        return _fake({(r.name, r.scaling): [2.0 + r.bits / 100] for r in fstudy.plan(cfg)})

    argv = ["--quick", "--formats", "e2m1,e4m3", "--scalings", "mx", "--ladder", "none",
            "--baselines", "fp32", "--threads", "1", "--no-plot", "--out", str(tmp_path)]
    assert fstudy.main(argv, trainer=trainer) == 0
    cfg, threads = seen[0]
    assert (cfg.formats, cfg.scalings, cfg.ladder, cfg.baselines, cfg.size, threads) == (
        ("e2m1", "e4m3"), ("mx",), (), ("fp32",), "tiny", 1)
    out = capsys.readouterr().out
    assert "| 4 | e2m1 | - | - | 2.040 | -0.280 |" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["losses.csv", "runs.csv", "summary.csv"]


@pytest.mark.parametrize("argv, match", [
    (["--formats", "e4m3,f2"], "format='f2' is not a split"),
    (["--scalings", "block"], "scaling 'block' is not valid"),
    (["--threads", "0"], "--threads=0: give at least 1"),
])
def test_format_study_main_rejects_bad_arguments(argv, match, capsys) -> None:
    assert fstudy.main(argv, trainer=lambda *a, **k: pytest.fail("trained")) == 2
    assert match in capsys.readouterr().err


# ---- the accumulator study: plan and reports ---------------------------------------------------
def test_accumulator_runs_are_hopper_units_with_their_kept_bits() -> None:
    runs = al.plan(al.config())
    assert [r.label for r in runs[:9]] == [
        "fp32", "B=8", "B=8, promote 128", "B=12", "B=12, promote 128", "B=14",
        "B=14, promote 128", "B=24", "B=24, promote 128"]
    assert len(runs) == 2 * 9 and runs[9].seed == 1
    import floatsim.mac as mac

    hopper = mac.spec("hopper_fp8")
    for r in runs:
        s = r.spec()
        if r.kept_bits is None:
            assert s.is_fp32()
            continue
        assert s.replace(kept_bits=13, promote_every=None, name="hopper_fp8") == hopper
        assert (s.kept_bits, s.promote_every, s.group) == (r.kept_bits, r.promote, 32)


@pytest.mark.parametrize("changes, match", [
    (dict(kept=(0,)), r"kept bits 0 must be ints in 1\.\.47"),
    (dict(promote=(100,)), r"promote interval 100 must be None or a multiple of 32"),
    (dict(operands="e4m3"), r"unknown block format 'e4m3'"),
    (dict(operands="mxfp8_e5m2", size="big"), r"size='big' is not valid; allowed: micro, tiny"),
    (dict(steps=0), r"steps=0 must be an int >= 1"),
])
def test_accumulator_config_rejects_bad_settings(changes: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        al.config(**changes)


def test_accumulator_table_and_plot(tmp_path, capsys) -> None:
    pytest.importorskip("matplotlib")

    def trainer(cfg: al.StudyConfig, threads: int | None = None) -> list[Result]:
        out = []
        for r in al.plan(cfg):
            v = 2.0 + (0.1 if r.kept_bits == 8 and not r.promote else 0.0) + r.seed / 10
            out.append(Result(r, v, [(s, v + 1 / s) for s in range(1, 31)]))
        return out

    assert al.main(["--kept", "8,14", "--promote", "none,128", "--seeds", "2",
                    "--out", str(tmp_path)], trainer=trainer) == 0
    out = capsys.readouterr().out
    assert "| B=8 | 2.150 ± 0.071 | +0.100 ± 0.000 |" in out
    assert "| B=14, promote 128 | 2.050 ± 0.071 | +0.000 ± 0.000 |" in out
    for name in ("summary.csv", "runs.csv", "losses.csv", "curves.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert al.main(["--kept", "8,x"], trainer=trainer) == 2
    assert "--kept='8,x': give comma-separated integers" in capsys.readouterr().err


# ---- training: the smallest unit of each study -----------------------------------------------
@pytest.fixture
def torch1():
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(n)


def test_format_study_trains_the_recipes_it_names(torch1, tmp_path, capsys) -> None:
    """The study's e2m1 MX run is the registered mxfp4 recipe and its e8m7
    ladder run is bf16: their losses agree bit for bit with those recipes
    trained by floatsim_torch.train.run; the per-tensor e2m1 run differs."""
    from floatsim.studies import corpus
    from floatsim_torch.gpt import GPTConfig
    from floatsim_torch.train import TrainConfig, run

    argv = ["study", "formats", "--quick", "--formats", "e2m1", "--ladder", "e8m7",
            "--steps", "3", "--out", str(tmp_path), "--no-plot"]
    assert cli(argv) == 0
    out = capsys.readouterr().out
    assert "| 4 | e2m1 |" in out and "| 16 | e8m7 (unscaled) |" in out
    with (tmp_path / "losses.csv").open() as f:
        curves: dict[str, list[float]] = {}
        for row in csv.DictReader(f):
            curves.setdefault(row["label"], []).append(float(row["train_loss"]))
    assert set(curves) == {"fp32", "bf16", "e2m1 tensor", "e2m1 mx", "e8m7"}
    data = corpus.load()
    cfg = fstudy.QUICK
    mc = GPTConfig(vocab_size=data.vocab_size, **cfg.model)
    tc = TrainConfig(steps=3, batch_size=cfg.batch_size, seq_len=mc.block_size, lr=cfg.lr,
                     eval_every=0, eval_batches=cfg.eval_batches, warmup=1)
    for label, name in (("e2m1 mx", "mxfp4"), ("e8m7", "bf16")):
        ref = [v for _, v in run(name, data, mc, tc, progress=False).train_loss]
        assert curves[label] == ref, label
    assert curves["e2m1 tensor"] != curves["e2m1 mx"]


def _core_gemm(a: np.ndarray, a_axis: int, b: np.ndarray, b_axis: int, spec) -> np.ndarray:
    """The reference of one GEMM: each operand cast by the core along the
    given axis, then the core's GEMM model (a (M, K) @ b (K, N))."""
    import floatsim.mac as mac

    f = fs.blocks.format("mxfp8_e4m3")
    aq = fs.blocks.quantize(a, f, axis=a_axis)
    bq = fs.blocks.quantize(b, f, axis=b_axis)
    return mac.matmul(np.ascontiguousarray(aq), np.ascontiguousarray(bq), spec)


@pytest.mark.parametrize("spec", ["hopper_fp8", "hopper_fp8_promote128"])
def test_accumulator_gemm_casts_each_operand_along_its_reduction_dim(torch1, spec) -> None:
    torch = torch1
    from floatsim_torch.studies.accumulator_loss import install, uninstall

    rng = np.random.default_rng(0)
    m_, k_, n_ = 160, 64, 40   # wgrad reduces over 160 tokens: 5 groups, one promotion
    x = rng.standard_normal((m_, k_)).astype(np.float32)
    w = (rng.standard_normal((n_, k_)) / 8).astype(np.float32)
    dy = (rng.standard_normal((m_, n_)) * 1e-3).astype(np.float32)
    lin = torch.nn.Linear(k_, n_, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(w))
    install(lin, spec)
    xt = torch.from_numpy(x).reshape(4, 40, k_).requires_grad_()   # leading dims are tokens
    y = lin(xt)
    y.backward(torch.from_numpy(dy).reshape(4, 40, n_))
    # forward y = x W^T (both along K); dgrad dx = dy W (along N); wgrad dW = dy^T x (along M)
    np.testing.assert_array_equal(y.detach().reshape(m_, n_).numpy(),
                                  _core_gemm(x, 1, w.T, 0, spec))
    np.testing.assert_array_equal(xt.grad.reshape(m_, k_).numpy(),
                                  _core_gemm(dy, 1, w, 0, spec))
    np.testing.assert_array_equal(lin.weight.grad.numpy(), _core_gemm(dy.T, 1, x, 0, spec))
    assert "forward" not in vars(uninstall(lin)) and not hasattr(lin, "_floatsim_spec")


def test_accumulator_study_smallest_unit(torch1, tmp_path, capsys) -> None:
    assert cli(["study", "accumulator-loss", "--quick", "--out", str(tmp_path),
                "--no-plot"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| fp32") or
            line.startswith("| B=8")]
    assert len(rows) == 2
    with (tmp_path / "runs.csv").open() as f:
        runs = list(csv.DictReader(f))
    assert [r["label"] for r in runs] == ["fp32", "B=8"]
    assert all(2.0 < float(r["val_loss"]) < 6.0 for r in runs)
