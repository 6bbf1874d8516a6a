"""The command line the training studies share: their common options, and
running a study from parsed arguments to printed table and written files
(a public internal module of :mod:`floatsim.studies`).

Example:
    >>> from floatsim.studies.report import Training
    >>> p = argparse.ArgumentParser(prog="floatsim study demo")
    >>> add_training_options(p, Training(), Training(steps=3), out="demo-out")
    >>> args = p.parse_args(["--steps", "40", "--size", "micro"])
    >>> training_changes(args)
    {'size': 'micro', 'steps': 40}
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .report import SIZES, Result, Training

__all__ = ["add_training_options", "names", "run", "training_changes"]

_KEYS = ("seeds", "size", "steps", "batch_size", "lr", "device")


def add_training_options(p: argparse.ArgumentParser, full: Training, quick: Training, *,
                         out: str) -> None:
    """Add --quick, --seeds, --size, --steps, --batch-size, --lr, --device,
    --threads, --out and --no-plot to ``p``, with the defaults of ``full``
    and ``quick`` in their help."""
    p.add_argument("--quick", action="store_true",
                   help=f"a smoke run: {quick.describe()}")
    p.add_argument("--seeds", type=int, help=f"seeds 0..N-1 (default {full.seeds}, --quick "
                                             f"{quick.seeds})")
    p.add_argument("--size", choices=list(SIZES), help=f"model (default {full.size}, --quick "
                                                       f"{quick.size})")
    p.add_argument("--steps", type=int, help=f"training steps (default {full.steps}, --quick "
                                             f"{quick.steps})")
    p.add_argument("--batch-size", type=int, help=f"sequences per step (default "
                                                  f"{full.batch_size})")
    p.add_argument("--lr", type=float, help=f"peak learning rate (default {full.lr:g}, --quick "
                                            f"{quick.lr:g})")
    p.add_argument("--device", help="cpu or cuda (default cpu)")
    p.add_argument("--threads", type=int,
                   help="torch CPU threads (default: torch's; on a busy machine 1 is fastest)")
    p.add_argument("--out", type=Path, default=Path(out), help="output folder (%(default)s)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNGs (no matplotlib needed)")


def training_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The training options given on the command line, as config fields."""
    return {k: getattr(args, k) for k in _KEYS if getattr(args, k) is not None}


def run(prog: str, args: argparse.Namespace, make_config: Callable[[], Training],
        trainer: Callable[..., list[Result]] | str,
        write: Callable[[list[Result], Any, Path], list[str]],
        text: Callable[[list[Result], Any], str]) -> int:
    """Run a study: ``make_config()`` (a ValueError or TypeError is a usage
    error: exit status 2), then ``trainer(cfg, threads=args.threads)`` (or the
    function a ``"module:name"`` string names, imported now), then
    ``write(results, cfg, args.out)`` (the file names written), then print
    ``text(results, cfg)`` and the files.  Returns the exit status."""
    try:
        cfg = make_config()
        if args.threads is not None and args.threads < 1:
            raise ValueError(f"--threads={args.threads}: give at least 1")
    except (ValueError, TypeError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    if isinstance(trainer, str):
        module, name = trainer.split(":")
        trainer = getattr(importlib.import_module(module), name)
    t0 = time.perf_counter()
    results = trainer(cfg, threads=args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    made = write(results, cfg, args.out)
    print()
    print(text(results, cfg))
    print(f"wrote {', '.join(str(args.out / f) for f in made)} "
          f"({time.perf_counter() - t0:.0f} s)")
    return 0


def names(text: str) -> tuple[str, ...]:
    """Comma-separated names; '' or 'none' for none.

    Example:
        >>> names("e4m3, e2m1"), names("none")
        (('e4m3', 'e2m1'), ())
    """
    if text.strip().lower() in ("", "none"):
        return ()
    return tuple(s.strip() for s in text.split(",") if s.strip())
