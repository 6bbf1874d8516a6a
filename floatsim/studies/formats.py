"""The format study: which split of exponent and mantissa bits trains best at 8, 6 and 4 bits.

``floatsim study formats`` trains the demo's GPT (:mod:`floatsim_torch.gpt`,
at a size chosen here) on the embedded corpus once per (format, scaling,
seed), with every GEMM operand of every Linear but the output head in the
format (all six operands of the three GEMMs: x, W and dy alike), and
compares the final validation losses:

* every split at 8, 6 and 4 bits (:data:`SPLITS`: e5m2, e4m3, e3m4, e2m5;
  e3m2, e2m3; e2m1, e3m0), each **element-wise with a per-tensor scale**
  (``tensor``: an FP32 scale ``amax / max`` from the current amax, as
  TransformerEngine's current scaling) and **microscaled** (``mx``: an E8M0
  scale per block of 32 along the GEMM's reduction dimension, the OCP MX
  FLOOR rule);
* a **mantissa ladder** (:data:`LADDER`: BF16's 8 exponent bits with 5, 4,
  3, 2, 1 mantissa bits, no scaling: the incremental bit reduction of "To
  FP8 and Back Again");
* the **baselines** FP32 and BF16;
* every one of them with several seeds (the seed sets the initial weights
  and the batches; a format and its baseline share both).

Every format of the grid has every code finite (``Format(..., specials=
"finite")``, the convention of OCP's FP6 and FP4), so a split pays for its
exponent and mantissa bits only, not for codes spent on inf and NaN: e4m3
here reaches 480 where E4M3FN stops at 448, e5m2 keeps its top binade.  The
ladder's formats are IEEE-like (BF16's convention).

This module holds what needs no torch: the formats and recipes, the plan of
runs, the reports (a Markdown table, CSV files, a heatmap of the loss over
exponent and mantissa bits and the loss curves).  The training is
:mod:`floatsim_torch.studies.formats`, which :func:`main` loads at run time.

Example:
    >>> from floatsim.studies import formats
    >>> cfg = formats.config(quick=True, seeds=1, ladder=())
    >>> runs = formats.plan(cfg)
    >>> len(runs), runs[0].label, runs[2].label, runs[2].recipe().forward.lhs.describe()
    (18, 'fp32', 'e5m2 tensor', 'e5m2finite, tensor_current, nearest_even')
    >>> formats.element("e3m0").max, formats.block_format("e2m1").block
    (16.0, (32,))
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import recipes
from ..blocks import BlockFormat
from ..formats import Format
from ..recipes import Operand, Recipe, Scaling
from ..rounding import ScaleRule
from . import runner
from .report import (
    Result,
    Training,
    loss_rows,
    mean_curve,
    pm,
    pyplot,
    summary,
    write_csv,
    write_files,
)

__all__ = [
    "BASELINES", "LADDER", "SCALINGS", "SPLITS", "Run", "StudyConfig",
    "block_format", "config", "curves", "element", "heatmap", "main", "plan",
    "report", "run_rows", "summarize", "table", "write_csv",
]

#: Every (exponent, mantissa) split of 8, 6 and 4 bits (one sign bit) with at
#: least two exponent bits and the e3m0 corner, by total width.
SPLITS: dict[int, tuple[str, ...]] = {
    8: ("e5m2", "e4m3", "e3m4", "e2m5"),
    6: ("e3m2", "e2m3"),
    4: ("e2m1", "e3m0"),
}
#: BF16 (e8m7) with fewer mantissa bits, nothing scaled ("To FP8 and Back Again").
LADDER: tuple[str, ...] = ("e8m5", "e8m4", "e8m3", "e8m2", "e8m1")
#: How grid formats are scaled: per tensor (FP32 scale), or per block of 32 (E8M0).
SCALINGS: tuple[str, ...] = ("tensor", "mx")
#: Reference recipes run with every seed.
BASELINES: tuple[str, ...] = ("fp32", "bf16")
_BASELINE_NAMES = ("fp32", "bf16")
_SPLIT = re.compile(r"e(\d+)m(\d+)")


def _split(name: str) -> tuple[int, int]:
    m = _SPLIT.fullmatch(name.strip().lower()) if isinstance(name, str) else None
    if m is None:
        raise ValueError(f"format={name!r} is not a split; write e<E>m<M> (e4m3, e2m1, e8m3, ...)")
    e, mb = int(m[1]), int(m[2])
    if not 1 <= e <= 8 or not 0 <= mb <= 7:
        raise ValueError(f"format={name!r}: the study takes 1..8 exponent bits and 0..7 "
                         "mantissa bits")
    return e, mb


def element(split: str, specials: str = "finite") -> Format:
    """The element format of a split: every code finite by default (see the
    module docstring); ``specials="ieee"`` for the ladder.

    Example:
        >>> element("e4m3").max, element("e8m3", "ieee").max > 1e38
        (480.0, True)
    """
    e, m = _split(split)
    return Format(ebits=e, mbits=m, specials=specials)


def block_format(split: str) -> BlockFormat:
    """The microscaled version of a split: an E8M0 scale per block of 32, OCP's
    FLOOR rule (as the named ``mxfp*`` formats).

    Example:
        >>> block_format("e3m2").scale.name, block_format("e3m2").rule.name
        ('float8_e8m0fnu', 'FLOOR')
    """
    return BlockFormat(element=element(split), scale="e8m0", block=32, rule=ScaleRule.FLOOR,
                       name=f"mx_{split.strip().lower()}")


@dataclass(frozen=True)
class Run:
    """One training run of the study: a baseline recipe (``scaling=""``) or a
    split with a scaling (``tensor``, ``mx``, or ``none`` for the ladder)."""

    name: str
    scaling: str
    seed: int

    @property
    def label(self) -> str:
        """'fp32', 'e4m3 tensor', 'e2m1 mx', 'e8m3' (the ladder's)."""
        return self.name if self.scaling in ("", "none") else f"{self.name} {self.scaling}"

    @property
    def bits(self) -> int:
        """Total width: 32 / 16 for the baselines, 1 + E + M for a split."""
        if not self.scaling:
            return {"fp32": 32, "bf16": 16}.get(self.name, 0)
        e, m = _split(self.name)
        return 1 + e + m

    def recipe(self) -> Recipe:
        """The recipe this run trains with: the baseline's, or the split's
        operand on all six roles."""
        if not self.scaling:
            return recipes.get(self.name)
        if self.scaling == "tensor":
            op = Operand(element(self.name), scaling=Scaling.TENSOR_CURRENT)
        elif self.scaling == "mx":
            op = Operand(block_format(self.name), scaling=Scaling.BLOCK)
        else:
            op = Operand(element(self.name, "ieee"))
        return recipes.get("fp32").replace(
            name=f"{self.name}_{self.scaling}", source="floatsim study formats",
            description=f"{op.describe()} on every GEMM operand",
        ).with_operands("all", operand=op)


@dataclass(frozen=True)
class StudyConfig(Training):
    """What the study runs: formats, scalings, ladder and baselines, and (from
    :class:`~floatsim.studies.report.Training`) the seeds, model and
    training shared by every run."""

    formats: tuple[str, ...] = tuple(s for w in SPLITS.values() for s in w)
    scalings: tuple[str, ...] = SCALINGS
    ladder: tuple[str, ...] = LADDER
    baselines: tuple[str, ...] = BASELINES
    seeds: int = 3
    size: str = "mini"
    steps: int = 300
    lr: float = 5e-3
    eval_every: int = 50
    eval_batches: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("formats", "scalings", "ladder", "baselines"):
            v = getattr(self, name)
            if isinstance(v, str) or not isinstance(v, Iterable):
                raise TypeError(f"{name}={v!r} must be a tuple of names")
            object.__setattr__(self, name, tuple(s.strip().lower() for s in v))
        for s in (*self.formats, *self.ladder):
            _split(s)
        for s in self.scalings:
            if s not in SCALINGS:
                raise ValueError(f"scaling {s!r} is not valid; allowed: {', '.join(SCALINGS)}")
        for b in self.baselines:
            if b not in _BASELINE_NAMES:
                raise ValueError(f"baseline {b!r} is not valid; allowed: "
                                 f"{', '.join(_BASELINE_NAMES)}")
        if not self.formats and not self.ladder and not self.baselines:
            raise ValueError("nothing to run: give formats, a ladder or baselines")


#: The full study's settings (what docs/studies.md reports) and --quick's.
FULL = StudyConfig()
QUICK = StudyConfig(size="tiny", steps=30, seeds=1, lr=1e-2, eval_every=0, eval_batches=2,
                    ladder=("e8m3",))


def config(quick: bool = False, **changes: Any) -> StudyConfig:
    """The full (or ``quick``) settings with ``changes`` applied (validated).

    Example:
        >>> config(quick=True).size, config(seeds=2).seeds
        ('tiny', 2)
    """
    return replace(QUICK if quick else FULL, **changes)


def plan(cfg: StudyConfig) -> list[Run]:
    """Every run of ``cfg``, seed by seed (so a study cut short has whole
    seeds): the baselines, the grid format by format, then the ladder."""
    runs = []
    for seed in range(cfg.seeds):
        runs += [Run(b, "", seed) for b in cfg.baselines]
        runs += [Run(f, s, seed) for f in cfg.formats for s in cfg.scalings]
        runs += [Run(f, "none", seed) for f in cfg.ladder]
    return runs


def summarize(results: Sequence[Result]) -> list[dict[str, Any]]:
    """One row per (format, scaling) in plan order: its label, format,
    scaling ('baseline' for fp32 / bf16) and widths, then
    :func:`floatsim.studies.report.summary`'s statistics over seeds: runs,
    diverged runs, mean, std, min and max of the final validation loss, and
    the gap to FP32 paired by seed (each run minus the FP32 run of its seed:
    the same initial weights and batches).

    Example:
        >>> r = [Result(Run("fp32", "", s), 2.0 + s / 10) for s in range(2)]
        >>> r += [Result(Run("e2m1", "mx", s), 2.3 + s / 5) for s in range(2)]
        >>> row = summarize(r)[1]
        >>> row["label"], row["bits"], round(row["mean"], 2), round(row["gap"], 2), round(row["gap_std"], 3)
        ('e2m1 mx', 4, 2.4, 0.35, 0.071)
    """
    first: dict[str, Run] = {}
    for r in results:
        first.setdefault(r.run.label, r.run)
    rows = []
    for row in summary(results, reference="fp32"):
        run = first[row.pop("label")]
        e, m = _split(run.name) if run.scaling else (math.nan, math.nan)
        rows.append(dict(label=run.label, format=run.name, scaling=run.scaling or "baseline",
                         bits=run.bits, ebits=e, mbits=m, **row))
    return rows


def table(rows: Sequence[dict[str, Any]]) -> str:
    """The summary as a Markdown table: a line per format, the per-tensor and
    MX results side by side (mean ± std over seeds, and the gap to FP32
    paired by seed), then the ladder.

    Example:
        >>> rows = summarize([Result(Run("fp32", "", 0), 2.0), Result(Run("e4m3", "mx", 0), 2.1)])
        >>> print(table(rows))  # doctest: +NORMALIZE_WHITESPACE
        | bits | format | per-tensor scale: loss | gap to fp32 | MX (E8M0 / 32): loss | gap to fp32 |
        |---|---|---|---|---|---|
        | 32 | fp32 | 2.000 | | | |
        | 8 | e4m3 | - | - | 2.100 | +0.100 |
    """
    by = {(r["format"], r["scaling"]): r for r in rows}

    def cell(r: dict[str, Any] | None) -> list[str]:
        if r is None:
            return ["-", "-"]
        loss = pm(r["mean"], r["std"])
        if r["diverged"]:
            loss += f" ({r['diverged']}/{r['runs']} diverged)"
        return [loss, pm(r["gap"], r["gap_std"], signed=True)]

    def line(*cells: object) -> str:
        return "| " + " | ".join(map(str, cells)) + " |"

    out = [line("bits", "format", "per-tensor scale: loss", "gap to fp32",
                "MX (E8M0 / 32): loss", "gap to fp32"), "|---|---|---|---|---|---|"]
    for r in rows:
        if r["scaling"] == "baseline":
            gap = "" if r["format"] == "fp32" else pm(r["gap"], r["gap_std"], signed=True)
            out.append(line(r["bits"], r["format"], pm(r["mean"], r["std"]), gap, "", ""))
    seen = []
    for r in rows:
        if r["scaling"] in SCALINGS and r["format"] not in seen:
            seen.append(r["format"])
            out.append(line(r["bits"], r["format"], *cell(by.get((r["format"], "tensor"))),
                            *cell(by.get((r["format"], "mx")))))
    for r in rows:
        if r["scaling"] == "none":
            out.append(line(r["bits"], f"{r['format']} (unscaled)", *cell(r), "", ""))
    return "\n".join(out)


def run_rows(results: Sequence[Result]) -> list[dict[str, Any]]:
    """One dict per run: what runs.csv holds."""
    return [dict(label=r.run.label, format=r.run.name, scaling=r.run.scaling or "baseline",
                 bits=r.run.bits, seed=r.run.seed, val_loss=r.val_loss,
                 final_train_loss=r.train_loss[-1][1] if r.train_loss else math.nan,
                 diverged=r.diverged, seconds=round(r.seconds, 1)) for r in results]


def heatmap(rows: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> None:
    """Mean final validation loss over exponent bits (x) and mantissa bits (y),
    one panel per scaling (and one for the ladder), one colour scale for all;
    each cell says mean ± std over seeds; dotted lines join splits of one
    width."""
    plt = pyplot()
    panels = [(s, t) for s, t in (("tensor", "per-tensor scale (FP32)"),
                                  ("mx", "MX: E8M0 scale per 32"),
                                  ("none", "E8 ladder, unscaled"))
              if any(r["scaling"] == s for r in rows)]
    if not panels:
        raise ValueError("the heatmap needs split formats; these rows hold baselines only")
    vals = [r["mean"] for r in rows if r["scaling"] != "baseline" and not math.isnan(r["mean"])]
    base = {r["format"]: r for r in rows if r["scaling"] == "baseline"}
    lo = min([*vals, *(b["mean"] for b in base.values())]) if vals else 0.0
    hi = max(vals) if vals else 1.0
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels) + 1, 4.6), squeeze=False,
                             layout="constrained")
    im = None
    for ax, (scaling, name) in zip(axes[0], panels):
        sel = [r for r in rows if r["scaling"] == scaling]
        es = sorted({r["ebits"] for r in sel})
        ms = sorted({r["mbits"] for r in sel})
        grid = np.full((len(ms), len(es)), np.nan)
        for r in sel:
            grid[ms.index(r["mbits"]), es.index(r["ebits"])] = r["mean"]
        im = ax.imshow(grid, origin="lower", cmap="viridis_r", vmin=lo, vmax=hi, aspect="auto")
        for r in sel:
            x, y = es.index(r["ebits"]), ms.index(r["mbits"])
            text = "diverged" if math.isnan(r["mean"]) else pm(r["mean"], r["std"]).replace(" ± ", "\n± ")
            if r["diverged"] and not math.isnan(r["mean"]):
                text += f"\n({r['diverged']} div.)"
            ax.text(x, y, text, ha="center", va="center", fontsize=7.5,
                    color="white" if not math.isnan(r["mean"]) and r["mean"] > (lo + hi) / 2
                    else "black")
        if scaling != "none":
            for width in sorted({r["bits"] for r in sel}):
                pts = sorted((es.index(r["ebits"]), ms.index(r["mbits"])) for r in sel
                             if r["bits"] == width)
                if len(pts) > 1:
                    ax.plot(*zip(*pts), ":", color="grey", lw=1)
        ax.set_xticks(range(len(es)), [str(e) for e in es])
        ax.set_yticks(range(len(ms)), [str(m) for m in ms])
        ax.set(xlabel="exponent bits", ylabel="mantissa bits", title=name)
    fig.colorbar(im, ax=axes[0].tolist(), label="final validation loss (mean over seeds)")
    sub = ", ".join(f"{k} {pm(b['mean'], b['std'])}" for k, b in base.items())
    fig.suptitle((title + ("\n" if title else "") + (f"baselines: {sub}" if sub else "")),
                 fontsize=9)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def curves(results: Sequence[Result], path: str | Path, title: str = "") -> None:
    """Training loss (mean over seeds, running mean) against the step: a panel
    per width (the baselines in each, black and grey), a colour per split,
    solid per-tensor, dashed MX, dotted the ladder."""
    plt = pyplot()
    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(r.run.label, []).append(r)
    panels = sorted({r.run.bits for r in results if r.run.scaling in SCALINGS}, reverse=True)
    if any(r.run.scaling == "none" for r in results):
        panels.append(0)   # the ladder
    panels = panels or [32]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4), squeeze=False,
                             sharey=True)
    style = {"tensor": "-", "mx": "--", "none": ":"}
    for ax, width in zip(axes[0], panels):
        names: list[str] = []
        for label, rs in groups.items():
            run = rs[0].run
            if run.scaling and (0 if run.scaling == "none" else run.bits) != width:
                continue
            steps, loss = mean_curve(rs)
            if not len(steps):
                continue
            if not run.scaling:
                kw = dict(color="k" if run.name == "fp32" else "grey", linestyle="-")
            else:
                names += [] if run.name in names else [run.name]
                kw = dict(color=f"C{names.index(run.name)}", linestyle=style[run.scaling])
            ax.plot(steps, loss, lw=1.1, label=label, **kw)
        ax.set(xlabel="step", title=f"{width}-bit formats" if width else "E8 ladder, unscaled")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("training loss (mean over seeds, running mean)")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="floatsim study formats",
        description="Train the demo's GPT with every exponent/mantissa split of 8, 6 and 4 bits, "
                    "per-tensor and microscaled, over several seeds, and compare the final "
                    "validation loss (needs torch).")
    p.add_argument("--formats", help=f"comma-separated splits (default {','.join(FULL.formats)})")
    p.add_argument("--scalings", help=f"comma-separated, of {', '.join(SCALINGS)} (default both)")
    p.add_argument("--ladder", help=f"E8 ladder splits, or 'none' (default {','.join(LADDER)}; "
                                    f"--quick {','.join(QUICK.ladder)})")
    p.add_argument("--baselines", help="comma-separated, of fp32, bf16, or 'none' (default both)")
    runner.add_training_options(p, FULL, QUICK, out="floatsim-study-formats")
    return p


def report(results: Sequence[Result], cfg: StudyConfig, out: Path, *, plots: bool = True,
           title: str = "") -> list[str]:
    """Write runs.csv, summary.csv, losses.csv (and heatmap.png, curves.png)
    into ``out``; returns the file names written."""
    rows = summarize(results)
    draw = plots and any(r["scaling"] != "baseline" for r in rows)
    return write_files(out, {"runs.csv": run_rows(results), "summary.csv": rows,
                             "losses.csv": loss_rows(results)},
                       {"heatmap.png": lambda p: heatmap(rows, p, title),
                        "curves.png": lambda p: curves(results, p, title)} if draw else None)


def main(argv: Sequence[str] | None = None, *,
         trainer: Callable[..., list[Result]] | None = None) -> int:
    """``floatsim study formats [...]``: run the study, write the reports and
    print the table; returns the exit status (2 on bad arguments).
    ``trainer`` (tests): ``trainer(cfg, threads=...)`` runs the plan and
    returns the results (default :func:`floatsim_torch.studies.formats.train`)."""
    args = _parser().parse_args(argv)

    def make_config() -> StudyConfig:
        lists = {k: runner.names(getattr(args, k))
                 for k in ("formats", "scalings", "ladder", "baselines")
                 if getattr(args, k) is not None}
        return config(args.quick, **lists, **runner.training_changes(args))

    def write(results: list[Result], cfg: StudyConfig, out: Path) -> list[str]:
        return report(results, cfg, out, plots=not args.no_plot, title=cfg.describe())

    def text(results: list[Result], cfg: StudyConfig) -> str:
        return (table(summarize(results)) + f"\n\nloss: final validation loss, mean ± sample "
                f"std over {cfg.seeds} seed(s); gap: each run minus the fp32 run of the same "
                "seed (same initial weights and batches), mean ± std")

    return runner.run("floatsim study formats", args, make_config,
                      trainer or "floatsim_torch.studies.formats:train", write, text)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
