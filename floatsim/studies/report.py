"""What the training studies share: a run's result, statistics over seeds, CSV
files and matplotlib (a public internal module of :mod:`floatsim.studies`).

A study's runs are objects with a ``label`` (what is compared: a format, an
accumulator) and a ``seed``; runs of one label differ only in their seed,
and runs of one seed share the initial weights and the batches, so the gap
between two labels is best measured seed by seed (:func:`summary`).

Example:
    >>> from types import SimpleNamespace as Run
    >>> res = [Result(Run(label="fp32", seed=s), 2.0 + s / 10) for s in range(3)]
    >>> res += [Result(Run(label="fp4", seed=s), 2.5 + s / 10) for s in range(3)]
    >>> row = summary(res, reference="fp32")[1]
    >>> row["label"], round(row["mean"], 3), round(row["std"], 3), round(row["gap"], 3), row["gap_std"]
    ('fp4', 2.6, 0.1, 0.5, 0.0)
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SIZES", "Result", "Training", "loss_rows", "mean_curve", "mean_std", "pm", "pyplot",
           "summary", "write_csv", "write_files"]

#: Model shapes (n_layer, n_head, n_embd, block_size) of floatsim_torch.gpt's
#: GPT: 'tiny' and 'small' are that module's sizes of those names; 'micro'
#: (one layer) and 'mini' sit below and between them.
SIZES: dict[str, tuple[int, int, int, int]] = {
    "micro": (1, 2, 32, 32),
    "tiny": (2, 2, 32, 32),
    "mini": (2, 2, 64, 64),
    "small": (4, 4, 128, 64),
}


@dataclass(frozen=True)
class Training:
    """The model and training settings a study shares by all its runs: seeds
    0..seeds-1, a model size of :data:`SIZES`, steps, sequences per step,
    peak learning rate, evaluation every ``eval_every`` steps (0: at the end)
    over ``eval_batches`` fixed batches, the device.  Studies subclass it
    with their own fields and defaults.

    Example:
        >>> Training(steps=30).describe()
        "GPT 'tiny' (2 layers, width 32), 30 steps of 8 x 32 tokens, lr 0.01, 1 seed"
        >>> Training(size="huge")
        Traceback (most recent call last):
        ...
        ValueError: size='huge' is not valid; allowed: micro, tiny, mini, small
    """

    seeds: int = 1
    size: str = "tiny"
    steps: int = 100
    batch_size: int = 8
    lr: float = 1e-2
    eval_every: int = 0
    eval_batches: int = 4
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise ValueError(f"size={self.size!r} is not valid; allowed: {', '.join(SIZES)}")
        for name in ("seeds", "steps", "batch_size", "eval_batches"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}={v!r} must be an int >= 1")
        if isinstance(self.eval_every, bool) or not isinstance(self.eval_every, int) \
                or self.eval_every < 0:
            raise ValueError(f"eval_every={self.eval_every!r} must be an int >= 0")
        if isinstance(self.lr, bool) or not isinstance(self.lr, float | int) \
                or not 0 < self.lr < 1:
            raise ValueError(f"lr={self.lr!r} must be a number in (0, 1)")
        if not isinstance(self.device, str) or not self.device.startswith(("cpu", "cuda")):
            raise ValueError(f"device={self.device!r} is not valid; allowed: 'cpu', 'cuda'")

    @property
    def model(self) -> dict[str, int]:
        """GPTConfig's shape fields for this size."""
        n_layer, n_head, n_embd, block = SIZES[self.size]
        return dict(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block)

    def describe(self) -> str:
        """One line: the model, the training and the seeds."""
        m = self.model
        s = "s" if m["n_layer"] > 1 else ""
        return (f"GPT '{self.size}' ({m['n_layer']} layer{s}, width {m['n_embd']}), "
                f"{self.steps} steps of {self.batch_size} x {m['block_size']} tokens, "
                f"lr {self.lr:g}, {self.seeds} seed{'s' if self.seeds > 1 else ''}")


@dataclass
class Result:
    """What one training run produced: its run (anything with ``label`` and
    ``seed``), the final validation loss, the training loss of every step
    and the validation losses along the way (``(step, loss)`` pairs), and
    its wall time and training throughput, and the validation loss before
    a final cast of the weights where the run has one (NaN where not
    measured)."""

    run: Any
    val_loss: float
    train_loss: list[tuple[int, float]] = field(default_factory=list)
    val_curve: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0
    tokens_per_s: float = math.nan
    val_before_cast: float = math.nan

    @property
    def diverged(self) -> bool:
        """The run ended with a non-finite loss."""
        last = self.train_loss[-1][1] if self.train_loss else 0.0
        return not (math.isfinite(self.val_loss) and math.isfinite(last))


def mean_std(xs: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (NaN where undefined).

    Example:
        >>> mean_std([1.0, 2.0, 3.0]), mean_std([4.0])[1]
        ((2.0, 1.0), nan)
    """
    if not xs:
        return math.nan, math.nan
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return m, math.nan
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def pm(m: float, s: float, digits: int = 3, signed: bool = False) -> str:
    """``'2.412 ± 0.013'``; the mean alone where the std is NaN; '-' for NaN.

    Example:
        >>> pm(0.0123, 0.004, signed=True), pm(2.0, math.nan), pm(math.nan, 1.0)
        ('+0.012 ± 0.004', '2.000', '-')
    """
    if math.isnan(m):
        return "-"
    v = f"{m:+.{digits}f}" if signed else f"{m:.{digits}f}"
    return v if math.isnan(s) else f"{v} ± {s:.{digits}f}"


def summary(results: Sequence[Result], reference: str | None = None) -> list[dict[str, Any]]:
    """One row per label, in order of first appearance: ``runs``,
    ``diverged``, ``mean``, ``std``, ``min``, ``max`` of the final validation
    loss over the finite runs, and ``gap`` / ``gap_std``: the mean and std
    over seeds of (this run's loss - the ``reference`` label's run of the
    same seed), NaN without a reference."""
    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(r.run.label, []).append(r)
    ref = {r.run.seed: r.val_loss for r in groups.get(reference or "", []) if not r.diverged}
    rows = []
    for label, rs in groups.items():
        ok = [r for r in rs if not r.diverged]
        m, s = mean_std([r.val_loss for r in ok])
        gm, gs = mean_std([r.val_loss - ref[r.run.seed] for r in ok if r.run.seed in ref])
        rows.append(dict(label=label, runs=len(rs), diverged=len(rs) - len(ok), mean=m, std=s,
                         min=min((r.val_loss for r in ok), default=math.nan),
                         max=max((r.val_loss for r in ok), default=math.nan),
                         gap=gm, gap_std=gs))
    return rows


def write_csv(rows: Sequence[dict[str, Any]], path: str | Path) -> None:
    """Rows of dicts (one set of keys) as a CSV file."""
    if not rows:
        raise ValueError("no rows to write")
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def write_files(out: Path, csvs: dict[str, Sequence[dict[str, Any]]],
                plots: dict[str, Callable[[Path], None]] | None = None) -> list[str]:
    """A study's files in ``out`` (created): each CSV of ``csvs`` (name ->
    rows), then each plot of ``plots`` (name -> ``draw(path)``); returns the
    names written, in that order."""
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in csvs.items():
        write_csv(rows, out / name)
    for name, draw in (plots or {}).items():
        draw(out / name)
    return [*csvs, *(plots or {})]


def loss_rows(results: Sequence[Result]) -> list[dict[str, Any]]:
    """Every step of every run (label, seed, step, training loss, validation
    loss where evaluated): what a study's losses.csv holds."""
    return [dict(label=r.run.label, seed=r.run.seed, step=s, train_loss=v,
                 val_loss=dict(r.val_curve).get(s, ""))
            for r in results for s, v in r.train_loss]


def mean_curve(results: Sequence[Result], smooth: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """(steps, loss): the training loss averaged over the finite runs given
    (cut to the shortest), then a running mean over ``len / smooth`` steps.

    Example:
        >>> from types import SimpleNamespace as Run
        >>> r = [Result(Run(label="a", seed=s), 1.0, [(i, float(i + s)) for i in range(1, 5)])
        ...      for s in range(2)]
        >>> mean_curve(r, smooth=2)
        (array([2, 3, 4]), array([2., 3., 4.]))
    """
    ok = [r for r in results if not r.diverged and r.train_loss]
    if not ok:
        return np.zeros(0, np.int64), np.zeros(0)
    n = min(len(r.train_loss) for r in ok)
    steps = np.array([s for s, _ in ok[0].train_loss[:n]])
    loss = np.mean([[v for _, v in r.train_loss[:n]] for r in ok], axis=0)
    k = max(1, n // smooth)
    return steps[k - 1:], np.convolve(loss, np.ones(k) / k, mode="valid")


def pyplot() -> Any:
    """matplotlib.pyplot with the Agg backend, or an ImportError that says
    how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("the plots need matplotlib: pip install matplotlib") from e
    return plt
