"""Accumulator width, the training half: the loss of the demo's GPT trained with
mxfp8 operands when its GEMMs accumulate as a Hopper-like unit does.

``floatsim study accumulator-loss`` trains the GPT (:mod:`floatsim_torch.gpt`)
on the embedded corpus once per (accumulator, seed).  Every Linear but the
output head runs its three GEMMs (forward, dgrad, wgrad) with MXFP8 E4M3
operands blocked along the GEMM's reduction dimension, as the ``mxfp8``
recipe casts them, and every product of those GEMMs goes through
:func:`floatsim_torch.matmul` with the accumulator:

* ``B=b``: :func:`floatsim.mac.spec` ``"hopper_fp8"`` with ``kept_bits=b``
  (groups of 32 exact products aligned to the group's largest exponent
  together with the FP32 accumulator, ``b`` bits kept below it, truncated),
  for each ``b`` of :data:`KEPT_BITS`;
* ``B=b, promote 128``: the same, promoted to an FP32 total every 128
  products (DeepSeek-V3's fix, section 3.3.2 of its report);
* ``fp32``: plain FP32 accumulation (torch's GEMM of the same quantized
  operands: the spec is :meth:`~floatsim.mac.AccumulatorSpec.is_fp32`, so
  the library GEMM may stand in for the model).

The reduction lengths of the GEMMs are the model's widths (forward and
dgrad: ``n_embd`` or ``4 n_embd``) and the tokens of a step (wgrad:
``batch_size x block_size``): the wgrad GEMMs carry the long sums here, as
they do in large models.

The emulated GEMM is a golden model (docs/mac.md), about 20 M
multiply-adds a second on the 2-core development machine, so the study uses
a small model and few steps; ``--quick`` runs a few steps for CI.

This module holds what needs no torch (the settings, the plan, the reports);
the training is :mod:`floatsim_torch.studies.accumulator_loss`.

Example:
    >>> from floatsim.studies import accumulator_loss as al
    >>> runs = al.plan(al.config(kept=(8, 14), seeds=1))
    >>> [r.label for r in runs]
    ['fp32', 'B=8', 'B=8, promote 128', 'B=14', 'B=14, promote 128']
    >>> runs[2].spec().promote_every, runs[2].spec().kept_bits
    (128, 8)
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import mac
from ..blocks import format as block_format
from . import runner
from .report import Result, Training, loss_rows, mean_curve, pm, pyplot, summary, write_files

__all__ = ["KEPT_BITS", "PROMOTE", "Run", "StudyConfig", "config", "main", "plan", "plot",
           "report", "table"]

#: Bits kept below a group's largest exponent: 8, Hopper's 13-14 (the
#: measured range; DeepSeek-V3 reports 14 with the leading bit), and
#: Blackwell's about 24.
KEPT_BITS: tuple[int, ...] = (8, 12, 14, 24)
#: Promotion intervals run for each kept width (None: no promotion).
PROMOTE: tuple[int | None, ...] = (None, 128)


@dataclass(frozen=True)
class Run:
    """One run: an accumulator (``kept_bits=None``: FP32) and a seed."""

    kept_bits: int | None
    promote: int | None
    seed: int

    @property
    def label(self) -> str:
        """'fp32', 'B=14', 'B=14, promote 128'."""
        if self.kept_bits is None:
            return "fp32"
        return f"B={self.kept_bits}" + (f", promote {self.promote}" if self.promote else "")

    def spec(self) -> mac.AccumulatorSpec:
        """The accumulator of this run.

        Example:
            >>> Run(None, None, 0).spec().is_fp32(), Run(12, None, 0).spec().group
            (True, 32)
        """
        if self.kept_bits is None:
            return mac.spec("fp32")
        name = f"hopper_B{self.kept_bits}" + (f"_p{self.promote}" if self.promote else "")
        return mac.spec("hopper_fp8").replace(kept_bits=self.kept_bits,
                                              promote_every=self.promote, name=name)


@dataclass(frozen=True)
class StudyConfig(Training):
    """The accumulators, operand format and (from
    :class:`~floatsim.studies.report.Training`) the seeds, model and training
    of the study."""

    kept: tuple[int, ...] = KEPT_BITS
    promote: tuple[int | None, ...] = PROMOTE
    operands: str = "mxfp8_e4m3"
    seeds: int = 2
    size: str = "micro"
    steps: int = 150
    eval_every: int = 30

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "kept", tuple(self.kept))
        object.__setattr__(self, "promote", tuple(self.promote))
        for b in self.kept:
            if isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= 47:
                raise ValueError(f"kept bits {b!r} must be ints in 1..47")
        for p in self.promote:
            if p is not None and (isinstance(p, bool) or not isinstance(p, int) or p < 32
                                  or p % 32):
                raise ValueError(f"promote interval {p!r} must be None or a multiple of 32 "
                                 "(the unit's group)")
        block_format(self.operands)   # a named block format, or a ValueError naming it

    def describe(self) -> str:
        """One line: operands, model, training, seeds.

        Example:
            >>> FULL.describe()
            "mxfp8_e4m3 operands; GPT 'micro' (1 layer, width 32), 150 steps of 8 x 32 tokens, lr 0.01, 2 seeds"
        """
        return f"{self.operands} operands; {super().describe()}"


FULL = StudyConfig()
QUICK = StudyConfig(kept=(8,), promote=(None,), seeds=1, steps=3, eval_every=0, eval_batches=1)


def config(quick: bool = False, **changes: Any) -> StudyConfig:
    """The full (or ``quick``) settings with ``changes`` applied (validated).

    Example:
        >>> config(quick=True).steps, config().kept
        (3, (8, 12, 14, 24))
    """
    return replace(QUICK if quick else FULL, **changes)


def plan(cfg: StudyConfig) -> list[Run]:
    """Every run, seed by seed: FP32 accumulation first, then each kept width
    with each promotion interval."""
    runs = []
    for seed in range(cfg.seeds):
        runs.append(Run(None, None, seed))
        runs += [Run(b, p, seed) for b in cfg.kept for p in cfg.promote]
    return runs


def table(results: Sequence[Result]) -> str:
    """A Markdown table: final validation loss (mean ± std over seeds) and its
    gap to FP32 accumulation paired by seed, a row per accumulator.

    Example:
        >>> res = [Result(Run(None, None, 0), 2.5), Result(Run(8, None, 0), 2.6)]
        >>> print(table(res))
        | accumulator | validation loss | gap to fp32 accumulation |
        |---|---|---|
        | fp32 | 2.500 | |
        | B=8 | 2.600 | +0.100 |
    """
    out = ["| accumulator | validation loss | gap to fp32 accumulation |", "|---|---|---|"]
    for row in summary(results, reference="fp32"):
        loss = pm(row["mean"], row["std"])
        if row["diverged"]:
            loss += f" ({row['diverged']}/{row['runs']} diverged)"
        gap = "" if row["label"] == "fp32" else pm(row["gap"], row["gap_std"], signed=True)
        out.append(f"| {row['label']} | {loss} | {gap} |")
    return "\n".join(out)


def plot(results: Sequence[Result], path: str | Path, title: str = "") -> None:
    """Two panels: the training loss (mean over seeds, running mean) of each
    accumulator, and its gap to FP32 accumulation step by step; a colour
    per kept width, dashed with promotion."""
    plt = pyplot()
    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(r.run.label, []).append(r)
    ref = groups.get("fp32")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    widths = sorted({r.run.kept_bits for r in results if r.run.kept_bits is not None})
    base = mean_curve(ref) if ref else None
    for label, rs in groups.items():
        run = rs[0].run
        steps, loss = mean_curve(rs)
        if not len(steps):
            continue
        kw = (dict(color="k") if run.kept_bits is None else
              dict(color=f"C{widths.index(run.kept_bits)}", linestyle="--" if run.promote else "-"))
        ax1.plot(steps, loss, lw=1.1, label=label, **kw)
        if base is not None and run.kept_bits is not None:
            n = min(len(loss), len(base[1]))
            ax2.plot(steps[:n], loss[:n] - base[1][:n], lw=1.1, label=label, **kw)
    ax1.set(xlabel="step", ylabel="training loss (mean over seeds, running mean)",
            title="training loss")
    ax2.axhline(0, color="k", lw=0.8)
    ax2.set(xlabel="step", ylabel="loss - loss with fp32 accumulation",
            title="gap to fp32 accumulation (same seeds)")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    ax2.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(results: Sequence[Result], out: Path, *, plots: bool = True,
           title: str = "") -> list[str]:
    """Write summary.csv, runs.csv, losses.csv (and curves.png) into ``out``;
    returns the file names written."""
    runs = [dict(label=r.run.label, kept_bits=r.run.kept_bits or "", promote=r.run.promote or "",
                 seed=r.run.seed, val_loss=r.val_loss, diverged=r.diverged,
                 seconds=round(r.seconds, 1)) for r in results]
    return write_files(out, {"summary.csv": summary(results, reference="fp32"), "runs.csv": runs,
                             "losses.csv": loss_rows(results)},
                       {"curves.png": lambda p: plot(results, p, title)} if plots else None)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="floatsim study accumulator-loss",
        description="Train the demo's GPT with MXFP8 operands and Hopper-like accumulators "
                    "(kept alignment bits, promotion to FP32) against FP32 accumulation "
                    "(needs torch).")
    p.add_argument("--kept", help=f"comma-separated kept bits (default "
                                  f"{','.join(map(str, KEPT_BITS))})")
    p.add_argument("--promote", help="comma-separated promotion intervals, 'none' for no "
                                     "promotion (default none,128)")
    p.add_argument("--operands", help=f"block format of every operand (default {FULL.operands})")
    runner.add_training_options(p, FULL, QUICK, out="floatsim-study-accumulator-loss")
    return p


def _ints(text: str, what: str) -> tuple[int | None, ...]:
    out: list[int | None] = []
    for part in text.split(","):
        part = part.strip().lower()
        if part in ("none", ""):
            out.append(None)
            continue
        try:
            out.append(int(part))
        except ValueError:
            raise ValueError(f"--{what}={text!r}: give comma-separated integers") from None
    return tuple(out)


def main(argv: Sequence[str] | None = None, *,
         trainer: Callable[..., list[Result]] | None = None) -> int:
    """``floatsim study accumulator-loss [...]``: run, write the reports, print
    the table; returns the exit status (2 on bad arguments).  ``trainer``
    (tests): ``trainer(cfg, threads=...)`` returns the results (default
    :func:`floatsim_torch.studies.accumulator_loss.train`)."""
    args = _parser().parse_args(argv)

    def make_config() -> StudyConfig:
        changes: dict[str, Any] = runner.training_changes(args)
        for key in ("kept", "promote"):
            if getattr(args, key) is not None:
                changes[key] = _ints(getattr(args, key), key)
        if args.operands is not None:
            changes["operands"] = args.operands
        return config(args.quick, **changes)

    def write(results: list[Result], cfg: StudyConfig, out: Path) -> list[str]:
        return report(results, out, plots=not args.no_plot, title=cfg.describe())

    def text(results: list[Result], cfg: StudyConfig) -> str:
        n = sum(1 for r in results if r.diverged)
        return (table(results) + f"\n\nvalidation loss: mean ± sample std over {cfg.seeds} "
                "seed(s); gap: each run minus the fp32-accumulation run of its seed"
                + (f"; {n} run(s) diverged" if n else ""))

    return runner.run("floatsim study accumulator-loss", args, make_config,
                      trainer or "floatsim_torch.studies.accumulator_loss:train", write, text)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
