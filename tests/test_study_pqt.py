"""`floatsim study pqt`: the plan (baselines, STE QAT and PQT per target and
noise, the recipes and bytes they stand for), the table and files, the
command line with a stand-in trainer, and the smallest configuration trained
end to end (its losses decrease; its quantized runs are evaluated after the
final cast)."""

from __future__ import annotations

import csv
import math
import sys

import pytest

from floatsim import recipes
from floatsim.cli import main as cli
from floatsim.noise import PQTConfig
from floatsim.studies import pqt
from floatsim.studies.report import Result


def _fake(losses: dict[str, list[float]], cfg: pqt.StudyConfig) -> list[Result]:
    out = []
    for r in pqt.plan(cfg):
        v = losses.get(r.label, [2.0] * cfg.seeds)[r.seed]
        out.append(Result(r, v, [(s, 3.0 - s / 10 + v / 100) for s in range(1, 11)],
                          tokens_per_s=1000.0 + r.seed,
                          val_before_cast=v - 0.01 if r.method != "baseline" else math.nan))
    return out


def test_plan_has_both_baselines_then_qat_and_every_noise_per_target() -> None:
    runs = pqt.plan(pqt.config(seeds=2))
    labels = [r.label for r in runs if r.seed == 0]
    assert labels[:2] == ["fp32", "bf16"]
    for f in ("e3m2", "e2m3", "e4m3"):
        assert [lab for lab in labels if lab.startswith(f)] == [
            f"{f} ptq", f"{f} qat", f"{f} pqt uniform", f"{f} pqt gaussian", f"{f} pqt r"]
    assert [r.seed for r in runs] == [0] * 17 + [1] * 17


def test_runs_use_the_named_recipes_and_say_their_bytes() -> None:
    fp32, bf16, qat, r = (pqt.Run("baseline", "fp32", 0), pqt.Run("baseline", "bf16", 0),
                          pqt.Run("qat", "e2m3", 0), pqt.Run("pqt", "e4m3", 1, "uniform"))
    assert fp32.recipe() == recipes.get("fp32") and bf16.recipe() == recipes.get("bf16")
    assert qat.recipe() == recipes.get("fp32") and qat.pqt_config().param_dtype == "float32"
    ptq = pqt.Run("ptq", "e3m2", 0)
    assert ptq.recipe() == qat.recipe() and ptq.pqt_config() == PQTConfig("e3m2", param_dtype="float32")
    assert r.recipe().weight_noise == recipes.get("pqt_e4m3").weight_noise.replace(noise="uniform")
    assert r.pqt_config().format.name == "float8_e4m3fn" and r.pqt_config().scale == "tensor"
    assert [x.bytes_per_param for x in (fp32, bf16, qat, r)] == [(4, 4), (4, 2), (4, 0.75), (2, 1)]


@pytest.mark.parametrize("changes, match", [
    (dict(noises=("laplace",)), "noise 'laplace' is not valid; allowed: uniform, gaussian, r"),
    (dict(formats=("e5m2",)), "format 'e5m2' is not valid; allowed: e3m2, e2m3, e4m3"),
    (dict(baselines=("fp32",)), "keep it among the baselines"),
    (dict(formats="e3m2"), "must be a tuple of names"),
])
def test_config_rejects_bad_settings(changes: dict, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        pqt.config(**changes)


def test_summary_table_and_files(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    cfg = pqt.config(seeds=2, formats=("e2m3",), noises=("r",), ptq=False)
    res = _fake({"bf16": [2.0, 2.2], "e2m3 qat": [2.3, 2.3], "e2m3 pqt r": [2.1, 2.3]}, cfg)
    rows = pqt.summarize(res)
    text = pqt.table(rows).splitlines()
    assert text[3] == "| bf16 | 2.100 ± 0.141 |  |  |  | 1000 | 4, 2 |"
    assert text[4] == ("| e2m3 qat | 2.300 ± 0.000 | +0.200 ± 0.141 | 0.200 | +0.010 ± 0.000 | "
                       "1000 | 4, 0.75 |")
    assert text[5] == ("| e2m3 pqt r | 2.200 ± 0.141 | +0.100 ± 0.000 | 0.100 | +0.010 ± 0.000 | "
                       "1000 | 2, 0.75 |")
    made = pqt.report(res, tmp_path, title="t")
    assert made == ["summary.csv", "runs.csv", "losses.csv", "curves.png"]
    with (tmp_path / "losses.csv").open() as f:
        assert sum(1 for _ in csv.DictReader(f)) == 10 * len(res)
    with (tmp_path / "summary.csv").open() as f:
        assert [r["label"] for r in csv.DictReader(f)] == ["fp32", "bf16", "e2m3 qat", "e2m3 pqt r"]


def test_main_with_a_stand_in_trainer(tmp_path, capsys) -> None:
    seen = []

    def trainer(cfg: pqt.StudyConfig, threads: int | None = None) -> list[Result]:
        seen.append((cfg, threads))
        return _fake({}, cfg)

    argv = ["--quick", "--formats", "e3m2", "--noises", "gaussian", "--no-qat", "--no-ptq",
            "--threads", "1",
            "--no-plot", "--out", str(tmp_path)]
    assert pqt.main(argv, trainer=trainer) == 0
    cfg, threads = seen[0]
    assert (cfg.formats, cfg.noises, cfg.qat, cfg.ptq, cfg.size, cfg.seeds, threads) == (
        ("e3m2",), ("gaussian",), False, False, "tiny", 1, 1)
    out = capsys.readouterr().out
    assert "| e3m2 pqt gaussian | 2.000 | +0.000 | 0.000 | +0.010 | 1000 | 2, 0.75 |" in out
    assert pqt.main(["--noises", "laplace"], trainer=trainer) == 2
    assert "noise 'laplace' is not valid" in capsys.readouterr().err


def test_study_is_listed_and_needs_torch(monkeypatch, capsys) -> None:
    assert cli(["study"]) == 2
    assert "  pqt " in capsys.readouterr().out
    monkeypatch.setitem(sys.modules, "torch", None)
    assert cli(["study", "pqt", "--quick"]) == 2
    assert "floatsim study pqt: error" in capsys.readouterr().err


def test_smallest_configuration_trains_and_evaluates_after_the_cast(tmp_path, capsys) -> None:
    torch = pytest.importorskip("torch")
    from floatsim_torch.pqtrain import finalize, state_of
    from floatsim_torch.studies import pqt as tpqt

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    finalized = []

    def spy(model):
        finalized.append(state_of(model).config.format.name)
        return finalize(model)

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr("floatsim_torch.train.finalize", spy)
    try:
        cfg = pqt.config(quick=True, size="micro", steps=20, formats=("e2m3",),
                         noises=("gaussian", "r"), eval_batches=1)
        res = tpqt.train(cfg, progress=False)
    finally:
        monkeypatch.undo()
        torch.set_num_threads(n)
    assert [r.run.label for r in res] == ["fp32", "bf16", "e2m3 ptq", "e2m3 qat",
                                          "e2m3 pqt gaussian", "e2m3 pqt r"]
    assert finalized == ["float6_e2m3fn"] * 4     # PTQ, QAT and both PQT runs, not the baselines
    for r in res:
        first = sum(v for _, v in r.train_loss[:3]) / 3
        last = sum(v for _, v in r.train_loss[-3:]) / 3
        assert last < first - 0.3, (r.run.label, r.train_loss)
        assert r.val_loss < r.train_loss[0][1] and r.tokens_per_s > 0
        assert math.isnan(r.val_before_cast) == (r.run.method == "baseline")
    ptq_run, qat_run = res[2], res[3]
    assert qat_run.val_before_cast == qat_run.val_loss   # QAT's eval reads the same cast
    assert ptq_run.val_before_cast == res[0].val_loss    # PTQ trains as fp32 does, then casts
    assert ptq_run.val_loss != ptq_run.val_before_cast
