"""A small training harness: one recipe, one model, the embedded corpus.

``run(recipe, corpus, model_cfg, cfg)`` builds the GPT from a seed (the same
initial weights for every recipe), emulates the recipe (everything but the
output head, unless ``modules=`` says otherwise), trains with AdamW on the
same batches (a numpy generator seeded by ``cfg.seed``), evaluates on fixed
validation batches, and returns the loss curves, the final validation loss,
the throughput and the telemetry.

Timing: the first step compiles (Numba kernels of new format/mode
combinations, and torch.compile's graphs with ``compile=True``); it is run
before the progress bar starts, announced by a log line, and left out of the
tokens/s, which counts the steps after it (evaluation excluded).

Example:
    >>> from floatsim.studies import corpus
    >>> c = corpus.load(max_chars=50_000)
    >>> res = run("mxfp8", c, GPTConfig.named("tiny", vocab_size=c.vocab_size),
    ...           TrainConfig(steps=3, batch_size=4, seq_len=16, eval_every=0), progress=False)
    >>> res.recipe, len(res.train_loss), res.val_loss[-1][0]
    ('mxfp8', 3, 3)
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from floatsim import recipes as _recipes
from floatsim.studies.corpus import Corpus

from .emulation import emulate
from .gpt import GPT, GPTConfig
from .monitor import Telemetry, counting, telemetry
from .pqtrain import finalize, state_of

__all__ = ["RunResult", "TrainConfig", "run", "log"]


def log(msg: str) -> None:
    """A log line that does not break a progress bar."""
    tqdm.write(msg)


@dataclass(frozen=True)
class TrainConfig:
    """How to train: steps, batch, optimizer, evaluation, seed, device."""

    steps: int = 200
    batch_size: int = 16
    seq_len: int = 64
    lr: float = 3e-3
    warmup: int = 20
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_every: int = 50        # 0: evaluate at the end only
    eval_batches: int = 8
    seed: int = 0
    device: str = "cpu"
    autocast: str | None = None  # 'bf16': torch.autocast(dtype=torch.bfloat16)
    compile: bool = False

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "seq_len", "eval_batches"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}={v!r} must be an int >= 1")
        if self.eval_every < 0:
            raise ValueError(f"eval_every={self.eval_every!r} must be >= 0")
        if self.autocast not in (None, "bf16"):
            raise ValueError(f"autocast={self.autocast!r} is not valid; allowed: None, 'bf16'")
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device={self.device!r} is not valid; allowed: 'cpu', 'cuda'")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={self.device!r}: torch sees no CUDA device "
                             f"(torch {torch.__version__})")


@dataclass
class RunResult:
    """What one training run produced."""

    recipe: str
    train_loss: list[tuple[int, float]] = field(default_factory=list)
    val_loss: list[tuple[int, float]] = field(default_factory=list)
    val_before_cast: float = math.nan   # under pqt / qat: the last evaluation before finalize
    tokens_per_s: float = math.nan
    seconds: float = 0.0
    params: int = 0
    telemetry: Telemetry = field(default_factory=Telemetry)

    @property
    def final_val(self) -> float:
        return self.val_loss[-1][1] if self.val_loss else math.nan


def _lr(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    frac = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


def run(recipe: _recipes.Recipe | str, data: Corpus, model_cfg: GPTConfig, cfg: TrainConfig,
        *, modules: Any = None, telemetry_steps: int | None = 0, progress: bool = True,
        desc: str | None = None, on_step: Callable[[int, float], None] | None = None,
        prepare: Callable[[torch.nn.Module], Any] | None = None) -> RunResult:
    """Train one model under one recipe and return its curves and numbers.

    Args:
        modules: emulate()'s filter (default: every Linear but ``lm_head``).
        telemetry_steps: count telemetry over the last this many steps (None:
            every step; 0: none).  tokens/s is measured over the steps that do
            not count (all of them if every step counts).
        progress: show a progress bar and log lines.
        desc: the bar's label (default the recipe's name).
        on_step: called with (step, loss) after every step.
        prepare: called with the model after :func:`emulate`, before the
            optimizer is built (e.g. ``floatsim_torch.pqt.qat``).

    A model under :func:`floatsim_torch.pqt` (a recipe's ``weight_noise``, or
    ``prepare``'s) trains with its annealing over ``cfg.steps`` and is
    finalized (its weights cast to the target format) before the final
    evaluation: the last validation loss is the cast model's, and
    ``val_before_cast`` the parameters' as trained (in eval mode: without
    noise for PQT, rounded for QAT).
    """
    r = _recipes.get(recipe)
    dev = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    model = GPT(model_cfg).to(dev)
    if modules is None:
        modules = lambda m, name: name != "lm_head"   # noqa: E731 - the usual high-precision head
    counted = cfg.steps if telemetry_steps is None else min(telemetry_steps, cfg.steps)
    emulate(model, r, modules=modules, seed=cfg.seed, telemetry=counted > 0)
    if prepare is not None:
        prepare(model)
    pqt_state = state_of(model)
    if pqt_state is not None:
        pqt_state.steps = cfg.steps
    first_counted = cfg.steps - counted   # index of the first step that counts
    counting_on = [first_counted == 0]
    counting(model, counting_on[0])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                            betas=(0.9, 0.95))
    rng = np.random.default_rng(cfg.seed)
    val_rng = np.random.default_rng(cfg.seed + 1)
    val = [data.batch("val", cfg.batch_size, cfg.seq_len, val_rng)
           for _ in range(cfg.eval_batches)]
    amp = (torch.autocast(dev.type, dtype=torch.bfloat16) if cfg.autocast == "bf16"
           else contextlib.nullcontext())
    loss_fn = torch.compile(model.loss, fullgraph=True) if cfg.compile else model.loss
    res = RunResult(recipe=r.name, params=model.num_params())

    def to_dev(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).to(dev, non_blocking=True)

    def train_step(step: int) -> float:
        x, y = data.batch("train", cfg.batch_size, cfg.seq_len, rng)
        for g in opt.param_groups:
            g["lr"] = _lr(cfg, step)
        with amp:
            loss = loss_fn(to_dev(x), to_dev(y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        return float(loss.detach())

    @torch.no_grad()
    def evaluate() -> float:
        model.eval()
        counting(model, False)   # telemetry describes training steps only
        with amp:
            v = sum(float(model.loss(to_dev(x), to_dev(y))) for x, y in val) / len(val)
        counting(model, counting_on[0])
        model.train()
        return v

    name = desc or r.name
    if progress:
        log(f"{name}: first step (compiles kernels; not timed)")
    t0 = time.perf_counter()
    res.train_loss.append((1, train_step(0)))
    _sync(dev)
    timed, tokens = 0.0, 0
    bar = tqdm(total=cfg.steps, initial=1, desc=name, unit="step", disable=not progress,
               leave=False, dynamic_ncols=True)
    for step in range(1, cfg.steps):
        if step == first_counted:
            counting_on[0] = True
            counting(model, True)
        ts = time.perf_counter()
        loss = train_step(step)
        _sync(dev)
        if step < first_counted or first_counted == 0:
            timed += time.perf_counter() - ts
            tokens += cfg.batch_size * cfg.seq_len
        res.train_loss.append((step + 1, loss))
        if on_step is not None:
            on_step(step + 1, loss)
        if not math.isfinite(loss):
            log(f"{name}: loss is {loss} at step {step + 1}; stopping")
            break
        if cfg.eval_every and (step + 1) % cfg.eval_every == 0 and step + 1 < cfg.steps:
            res.val_loss.append((step + 1, evaluate()))
        bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
        bar.update(1)
    bar.close()
    if pqt_state is not None:
        res.val_before_cast = evaluate()
        finalize(model)   # evaluate the weights as they will be stored
    res.val_loss.append((res.train_loss[-1][0], evaluate()))
    res.seconds = time.perf_counter() - t0
    res.tokens_per_s = tokens / timed if timed > 0 else math.nan
    if counted:
        res.telemetry = telemetry(model)
    return res


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
