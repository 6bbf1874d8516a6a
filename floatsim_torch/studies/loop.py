"""What the studies' trainers share: the corpus and model shape of a study's
settings, and running a plan's runs under one progress bar (a public
internal module of :mod:`floatsim_torch.studies`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from tqdm import tqdm

from floatsim import __version__
from floatsim.studies import corpus
from floatsim.studies.report import Result, Training

from ..gpt import GPT, GPTConfig
from ..train import log

__all__ = ["prepare", "run_all"]

StepDone = Callable[[], None]


def prepare(cfg: Training, threads: int | None) -> tuple[corpus.Corpus, GPTConfig]:
    """Set torch's CPU threads (if given); the corpus and the model shape."""
    if threads:
        torch.set_num_threads(threads)
    data = corpus.load()
    return data, GPTConfig(vocab_size=data.vocab_size, **cfg.model)


def run_all(study: str, cfg: Training, runs: Sequence[Any], model_cfg: GPTConfig,
            one: Callable[[Any, StepDone], Result], *, progress: bool = True) -> list[Result]:
    """``one(run, step_done)`` for every run, in order: a header line, one
    progress bar over every step of the study (``step_done()`` after each
    step), a line per finished run; returns the results."""
    if progress:
        print(f"floatsim {__version__} study {study}: {cfg.describe()}; "
              f"{GPT(model_cfg).num_params() / 1e6:.3f}M parameters; {len(runs)} runs on "
              f"{cfg.device} (torch {torch.__version__}, {torch.get_num_threads()} threads)",
              flush=True)
    bar = tqdm(total=len(runs) * cfg.steps, unit="step", disable=not progress,
               dynamic_ncols=True)
    width = max((len(r.label) for r in runs), default=0)
    results = []
    for i, r in enumerate(runs):
        bar.set_description(f"[{i + 1}/{len(runs)}] {r.label} seed {r.seed}")
        start = bar.n
        res = one(r, lambda: bar.update(1))
        bar.update(start + cfg.steps - bar.n)   # a run stopped early still counts its steps
        results.append(res)
        if progress:
            log(f"[{i + 1}/{len(runs)}] {r.label:<{width}}  seed {r.seed}: validation loss "
                f"{res.val_loss:.4f} ({res.seconds:.0f} s)")
    bar.close()
    return results
