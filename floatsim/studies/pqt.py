"""The pseudo-quantization study: does noise-based training (PQT) of FP6 and FP8
weights track BF16 training more closely than round-to-nearest QAT with a
straight-through estimator?

``floatsim study pqt`` trains the demo's GPT (:mod:`floatsim_torch.gpt`) on
the embedded corpus once per (run, seed), the weights of every Linear but the
output head being what is compared (embeddings, LayerNorms, biases and the
head stay in FP32):

* the **baselines** ``fp32`` (nothing cast) and ``bf16`` (the ``bf16``
  recipe: every GEMM operand rounded to BF16, FP32 master weights);
* **QAT** to each target of :data:`FORMATS` (FP6 e3m2 and e2m3, FP8 e4m3):
  every forward pass reads the weight rounded to nearest on the target's
  grid with one power-of-two scale per tensor, the gradient passes straight
  through to FP32 master weights (:func:`floatsim_torch.pqt.qat`);
* **PTQ** (a control; ``--no-ptq`` leaves it out): FP32 training, then the
  same final cast (``qat(..., rounding=False)``): what the cast costs a model
  that never saw the target;
* **PQT** to the same targets with each noise of :data:`NOISES` (uniform,
  gaussian, the FP-friendly R): the ``pqt_<fmt>`` recipe with that noise
  (:func:`floatsim_torch.pqt`: noise at the target's spacing under the same
  power-of-two scale, one BF16 cast, BF16 parameters);

and evaluates every quantized run **after the final cast** of its weights to
the target (:func:`floatsim_torch.pqt.finalize`, the cast QAT trained
through).  Every run of one seed starts from the same weights and sees the
same batches; the gap to BF16 is paired by seed.

This module holds what needs no torch (the plan, the table, the CSV files and
the plot); the training is :mod:`floatsim_torch.studies.pqt`.

Example:
    >>> from floatsim.studies import pqt
    >>> runs = pqt.plan(pqt.config(quick=True, formats=("e3m2",)))
    >>> [r.label for r in runs]
    ['fp32', 'bf16', 'e3m2 ptq', 'e3m2 qat', 'e3m2 pqt uniform', 'e3m2 pqt gaussian', 'e3m2 pqt r']
    >>> runs[6].recipe().weight_noise.noise.name, runs[2].bytes_per_param
    ('r9', (4, 0.75))
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import recipes
from ..noise import PQTConfig
from ..recipes import Recipe
from . import runner
from .report import (
    Result,
    Training,
    loss_rows,
    mean_curve,
    mean_std,
    pm,
    pyplot,
    summary,
    write_files,
)

__all__ = ["BASELINES", "FORMATS", "NOISES", "Run", "StudyConfig", "config", "curves", "main",
           "plan", "report", "run_rows", "summarize", "table"]

#: The weight formats of the issue: FP6 (both splits) and FP8 E4M3 (E4M3FN).
FORMATS: tuple[str, ...] = ("e3m2", "e2m3", "e4m3")
#: The PQT noises (floatsim.noise's names).
NOISES: tuple[str, ...] = ("uniform", "gaussian", "r")
#: Reference runs (recipes of those names).
BASELINES: tuple[str, ...] = ("fp32", "bf16")
_BYTES = {"fp32": (4, 4), "bf16": (4, 2)}


@dataclass(frozen=True)
class Run:
    """One run: a baseline (``method='baseline'``, ``name`` fp32 / bf16), or
    ``method`` 'ptq' / 'qat' / 'pqt' to the target ``name`` (with ``noise``
    for PQT)."""

    method: str
    name: str
    seed: int
    noise: str = ""

    @property
    def label(self) -> str:
        """'bf16', 'e3m2 ptq', 'e3m2 qat', 'e2m3 pqt gaussian'."""
        if self.method == "baseline":
            return self.name
        return f"{self.name} {self.method}" + (f" {self.noise}" if self.noise else "")

    def pqt_config(self) -> PQTConfig | None:
        """The target, scale and parameter dtype (and, for PQT, the noise)."""
        if self.method == "baseline":
            return None
        if self.method in ("ptq", "qat"):   # FP32 master weights; the noise is not drawn
            return PQTConfig(self.name, param_dtype="float32")
        return recipes.get(f"pqt_{self.name}").weight_noise.replace(noise=self.noise)

    def recipe(self) -> Recipe:
        """The recipe it trains with: the baseline's, ``pqt_<fmt>`` with this
        noise, or fp32 for PTQ and QAT (whose rounding ``floatsim_torch.pqt.qat``
        installs)."""
        if self.method == "baseline":
            return recipes.get(self.name)
        if self.method in ("ptq", "qat"):
            return recipes.get("fp32")
        return recipes.get(f"pqt_{self.name}").replace(
            name=f"pqt_{self.name}_{self.noise}", weight_noise=self.pqt_config())

    @property
    def bytes_per_param(self) -> tuple[float, float]:
        """Bytes per parameter of the compared weights: (in training, after
        the final cast).  Training keeps FP32 master weights except PQT's
        BF16 parameters; the final cast stores the target's bits."""
        if self.method == "baseline":
            return _BYTES[self.name]
        cfg = self.pqt_config()
        return cfg.bytes_per_param, cfg.format.bits / 8


@dataclass(frozen=True)
class StudyConfig(Training):
    """Targets, noises, QAT and PTQ on or off, baselines, and (from
    :class:`~floatsim.studies.report.Training`) the seeds, model and training."""

    formats: tuple[str, ...] = FORMATS
    noises: tuple[str, ...] = NOISES
    qat: bool = True
    ptq: bool = True
    baselines: tuple[str, ...] = BASELINES
    seeds: int = 3
    eval_batches: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, allowed in (("formats", FORMATS), ("noises", NOISES), ("baselines", BASELINES)):
            v = getattr(self, name)
            if isinstance(v, str) or not isinstance(v, Iterable):
                raise TypeError(f"{name}={v!r} must be a tuple of names")
            v = tuple(s.strip().lower() for s in v)
            for s in v:
                if s not in allowed:
                    raise ValueError(f"{name[:-1]} {s!r} is not valid; allowed: "
                                     f"{', '.join(allowed)}")
            object.__setattr__(self, name, v)
        for name in ("qat", "ptq"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name}={getattr(self, name)!r} must be a bool")
        if "bf16" not in self.baselines:
            raise ValueError("the study measures gaps to bf16: keep it among the baselines")


#: The full study's settings (what docs/studies.md reports) and --quick's.
FULL = StudyConfig(size="mini", steps=600, lr=5e-3, eval_every=100)
QUICK = StudyConfig(seeds=1, size="tiny", steps=30, eval_every=0, eval_batches=2)


def config(quick: bool = False, **changes: Any) -> StudyConfig:
    """The full (or ``quick``) settings with ``changes`` applied (validated).

    Example:
        >>> config(quick=True).seeds, config(quick=True).formats, config(seeds=2).size
        (1, ('e3m2', 'e2m3', 'e4m3'), 'mini')
    """
    return replace(QUICK if quick else FULL, **changes)


def plan(cfg: StudyConfig) -> list[Run]:
    """Every run, seed by seed: the baselines, then per target PTQ, QAT and each noise."""
    runs = []
    for seed in range(cfg.seeds):
        runs += [Run("baseline", b, seed) for b in cfg.baselines]
        for f in cfg.formats:
            runs += [Run("ptq", f, seed)] if cfg.ptq else []
            runs += [Run("qat", f, seed)] if cfg.qat else []
            runs += [Run("pqt", f, seed, n) for n in cfg.noises]
    return runs


def summarize(results: Sequence[Result]) -> list[dict[str, Any]]:
    """One row per label in plan order: method, format, noise, bytes per
    parameter (training, final), tokens/s (mean over seeds), then
    :func:`~floatsim.studies.report.summary`'s final validation loss
    statistics with the gap to BF16 paired by seed, then ``abs_gap`` (the
    mean over seeds of that gap's magnitude: how closely the run tracks
    BF16) and ``cast`` / ``cast_std`` (the final cast's cost: each run's
    validation loss after the cast minus before it; NaN for the baselines).

    Example:
        >>> r = [Result(Run("baseline", "bf16", s), 2.0 + s / 10) for s in range(2)]
        >>> r += [Result(Run("pqt", "e3m2", s, "r"), 2.1 - s / 5, val_before_cast=2.0)
        ...       for s in range(2)]
        >>> row = summarize(r)[1]
        >>> row["label"], row["train_bytes"], round(row["gap"], 2), round(row["abs_gap"], 2)
        ('e3m2 pqt r', 2, -0.05, 0.15)
        >>> round(row["cast"], 2), round(row["cast_std"], 3)
        (0.0, 0.141)
    """
    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(r.run.label, []).append(r)
    ref = {r.run.seed: r.val_loss for r in groups.get("bf16", []) if not r.diverged}
    rows = []
    for row in summary(results, reference="bf16"):
        rs = groups[row.pop("label")]
        ok = [r for r in rs if not r.diverged]
        run = rs[0].run
        train_b, final_b = run.bytes_per_param
        tps = [r.tokens_per_s for r in rs if math.isfinite(r.tokens_per_s)]
        gaps = [abs(r.val_loss - ref[r.run.seed]) for r in ok if r.run.seed in ref]
        cast, cast_std = mean_std([r.val_loss - r.val_before_cast for r in ok
                                   if math.isfinite(r.val_before_cast)])
        rows.append(dict(label=run.label, method=run.method, format=run.name, noise=run.noise,
                         train_bytes=train_b, final_bytes=final_b,
                         tokens_per_s=mean_std(tps)[0], **row, abs_gap=mean_std(gaps)[0],
                         cast=cast, cast_std=cast_std))
    return rows


def table(rows: Sequence[dict[str, Any]]) -> str:
    """The summary as a Markdown table.

    Example:
        >>> res = [Result(Run("baseline", "bf16", 0), 2.0, tokens_per_s=1000.0),
        ...        Result(Run("qat", "e2m3", 0), 2.1, tokens_per_s=900.0, val_before_cast=2.1)]
        >>> print(table(summarize(res)))
        | run | validation loss | gap to bf16 | mean abs gap | cast cost | tokens/s | bytes/param: training, final |
        |---|---|---|---|---|---|---|
        | bf16 | 2.000 |  |  |  | 1000 | 4, 2 |
        | e2m3 qat | 2.100 | +0.100 | 0.100 | +0.000 | 900 | 4, 0.75 |
    """
    out = ["| run | validation loss | gap to bf16 | mean abs gap | cast cost | tokens/s | "
           "bytes/param: training, final |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        loss = pm(r["mean"], r["std"])
        if r["diverged"]:
            loss += f" ({r['diverged']}/{r['runs']} diverged)"
        ref = r["label"] == "bf16"
        gap = "" if ref else pm(r["gap"], r["gap_std"], signed=True)
        abs_gap = "" if ref or math.isnan(r["abs_gap"]) else f"{r['abs_gap']:.3f}"
        cast = "" if math.isnan(r["cast"]) else pm(r["cast"], r["cast_std"], signed=True)
        tps = "-" if math.isnan(r["tokens_per_s"]) else f"{r['tokens_per_s']:.0f}"
        out.append(f"| {r['label']} | {loss} | {gap} | {abs_gap} | {cast} | {tps} | "
                   f"{r['train_bytes']:g}, {r['final_bytes']:g} |")
    return "\n".join(out)


def run_rows(results: Sequence[Result]) -> list[dict[str, Any]]:
    """One dict per run: what runs.csv holds."""
    return [dict(label=r.run.label, method=r.run.method, format=r.run.name, noise=r.run.noise,
                 seed=r.run.seed, val_loss=r.val_loss, val_before_cast=r.val_before_cast,
                 final_train_loss=r.train_loss[-1][1] if r.train_loss else math.nan,
                 tokens_per_s=round(r.tokens_per_s, 1), diverged=r.diverged,
                 seconds=round(r.seconds, 1)) for r in results]


def curves(results: Sequence[Result], path: str | Path, title: str = "") -> None:
    """A panel per target: the training loss (mean over seeds, running mean) of
    QAT (dashed) and each PQT noise against the baselines (black fp32, grey
    bf16); a second row: each run's gap to bf16, step by step."""
    plt = pyplot()
    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(r.run.label, []).append(r)
    fmts = list(dict.fromkeys(r.run.name for r in results if r.run.method != "baseline"))
    if not fmts:
        raise ValueError("the plot needs QAT or PQT runs; these results hold baselines only")
    fig, axes = plt.subplots(2, len(fmts), figsize=(max(6.0, 4.8 * len(fmts)), 7.5), squeeze=False,
                             sharex=True)
    base = mean_curve(groups["bf16"]) if "bf16" in groups else None
    for col, fmt in enumerate(fmts):
        top, bottom = axes[0][col], axes[1][col]
        for label, rs in groups.items():
            run = rs[0].run
            if run.method != "baseline" and run.name != fmt:
                continue
            steps, loss = mean_curve(rs)
            if not len(steps):
                continue
            if run.method == "baseline":
                kw = dict(color="k" if run.name == "fp32" else "grey", linestyle="-")
            elif run.method == "qat":
                kw = dict(color="C3", linestyle="--")
            elif run.method == "ptq":
                kw = dict(color="C7", linestyle=":")
            else:
                kw = dict(color=f"C{NOISES.index(run.noise)}", linestyle="-")
            top.plot(steps, loss, lw=1.1, label=label, **kw)
            if base is not None and run.name != "bf16":
                n = min(len(loss), len(base[1]))
                bottom.plot(steps[:n], loss[:n] - base[1][:n], lw=1.1, label=label, **kw)
        top.set(title=f"{fmt} weights", ylabel="training loss (mean over seeds, running mean)")
        bottom.axhline(0, color="grey", lw=0.8)
        bottom.set(xlabel="step", ylabel="loss - bf16 loss (same seeds)")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
        top.legend(fontsize=7)
    fig.suptitle(title + "\ntraining loss with the noisy (PQT) or rounded (QAT) weights;\n"
                 "the table's validation loss is after the final cast", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(results: Sequence[Result], out: Path, *, plots: bool = True,
           title: str = "") -> list[str]:
    """Write summary.csv, runs.csv, losses.csv (and curves.png) into ``out``;
    returns the file names written."""
    draw = plots and any(r.run.method != "baseline" for r in results)
    return write_files(out, {"summary.csv": summarize(results), "runs.csv": run_rows(results),
                             "losses.csv": loss_rows(results)},
                       {"curves.png": lambda p: curves(results, p, title)} if draw else None)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="floatsim study pqt",
        description="Train the demo's GPT with FP6/FP8 weights by round-to-nearest QAT (STE) and "
                    "by pseudo-quantization noise (uniform, gaussian, R), against FP32 and BF16, "
                    "over several seeds; evaluate after the final cast (needs torch).")
    p.add_argument("--formats", help=f"comma-separated targets, of {', '.join(FORMATS)} "
                                     f"(default all; --quick {','.join(QUICK.formats)})")
    p.add_argument("--noises", help=f"comma-separated PQT noises, of {', '.join(NOISES)}, or "
                                    "'none' (default all)")
    p.add_argument("--no-qat", action="store_true", help="skip the QAT runs")
    p.add_argument("--no-ptq", action="store_true", help="skip the PTQ runs (the control)")
    p.add_argument("--baselines", help="comma-separated, of fp32, bf16 (default both; bf16 is "
                                       "required)")
    runner.add_training_options(p, FULL, QUICK, out="floatsim-study-pqt")
    return p


def main(argv: Sequence[str] | None = None, *,
         trainer: Callable[..., list[Result]] | None = None) -> int:
    """``floatsim study pqt [...]``: run, write the reports, print the table;
    returns the exit status (2 on bad arguments).  ``trainer`` (tests):
    ``trainer(cfg, threads=...)`` returns the results (default
    :func:`floatsim_torch.studies.pqt.train`)."""
    args = _parser().parse_args(argv)

    def make_config() -> StudyConfig:
        lists = {k: runner.names(getattr(args, k)) for k in ("formats", "noises", "baselines")
                 if getattr(args, k) is not None}
        if args.no_qat:
            lists["qat"] = False
        if args.no_ptq:
            lists["ptq"] = False
        return config(args.quick, **lists, **runner.training_changes(args))

    def write(results: list[Result], cfg: StudyConfig, out: Path) -> list[str]:
        return report(results, out, plots=not args.no_plot, title=cfg.describe())

    def text(results: list[Result], cfg: StudyConfig) -> str:
        return (table(summarize(results)) + f"\n\nvalidation loss: final, after the cast to the "
                f"target; mean ± sample std over {cfg.seeds} seed(s); gap: each run minus the "
                "bf16 run of the same seed (mean abs gap: of its magnitude); cast cost: the loss "
                "after the final cast minus before it; tokens/s: training steps after the "
                "first, evaluation excluded")

    return runner.run("floatsim study pqt", args, make_config,
                      trainer or "floatsim_torch.studies.pqt:train", write, text)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
