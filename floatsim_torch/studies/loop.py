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
from ..train import TrainConfig, log, run

__all__ = ["prepare", "run_all", "train_recipe"]

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


def train_recipe(r: Any, recipe: Any, cfg: Training, data: corpus.Corpus, model_cfg: GPTConfig,
                 step_done: StepDone, **kw: Any) -> Result:
    """Train the run ``r`` (its ``seed``) with ``recipe`` through
    :func:`floatsim_torch.train.run` (every Linear but the output head
    emulated, warmup over a fifteenth of the steps, ``**kw`` to it), calling
    ``step_done()`` after each step; its :class:`Result`."""
    tc = TrainConfig(steps=cfg.steps, batch_size=cfg.batch_size, seq_len=model_cfg.block_size,
                     lr=cfg.lr, seed=r.seed, device=cfg.device, eval_every=cfg.eval_every,
                     eval_batches=cfg.eval_batches, warmup=max(1, cfg.steps // 15))
    res = run(recipe, data, model_cfg, tc, telemetry_steps=0, progress=False,
              on_step=lambda step, loss: step_done(), **kw)
    return Result(r, res.final_val, res.train_loss, res.val_loss, res.seconds, res.tokens_per_s,
                  res.val_before_cast)
