"""The training of the accumulator study (:mod:`floatsim.studies.accumulator_loss`
plans and reports it): a Linear whose three GEMMs take block-quantized
operands and accumulate with an emulated unit, and the training loop.

``emulate()`` accumulates in FP32 (a recipe's ``accumulator`` other than
'fp32' is refused there), so this study brings its own GEMM:
:class:`AccumulatorGemm` casts the six operands of a Linear's forward, dgrad
and wgrad GEMMs with :func:`floatsim_torch.blocks.quantize` along each GEMM's
reduction dimension (the ``mxfp8`` recipe's casts: nearest even, OCP FLOOR
scales) and multiplies them with :func:`floatsim_torch.matmul` and the
accumulator spec (or torch's GEMM where the spec is plain FP32
accumulation).  :func:`install` puts it on a model's Linears; the training
loop follows :func:`floatsim_torch.train.run` (AdamW, warmup and cosine
decay, gradient clipping, the same batches for a seed).

Example:
    >>> import torch
    >>> from torch import nn
    >>> lin = install(nn.Linear(64, 8), "hopper_fp8")
    >>> x = torch.randn(4, 64, requires_grad=True)
    >>> lin(x).sum().backward()
    >>> x.grad.shape, lin.weight.grad.shape
    (torch.Size([4, 64]), torch.Size([8, 64]))
"""

from __future__ import annotations

import math
import time
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

import floatsim.mac as fmac
from floatsim.blocks import BlockFormat
from floatsim.blocks import format as block_format
from floatsim.studies import corpus
from floatsim.studies.accumulator_loss import Run, StudyConfig, plan
from floatsim.studies.report import Result

from .. import blocks
from ..gpt import GPT, GPTConfig
from ..mac import matmul
from .loop import StepDone, prepare, run_all

__all__ = ["AccumulatorGemm", "install", "train", "uninstall"]

Spec = fmac.AccumulatorSpec | str


def _mm(a: torch.Tensor, b: torch.Tensor, spec: fmac.AccumulatorSpec) -> torch.Tensor:
    """a @ b with the unit ``spec``; torch's GEMM where the spec is plain FP32
    accumulation (what a library FP32 GEMM computes, up to its order)."""
    if spec.is_fp32():
        return a @ b
    return matmul(a, b, spec)


class AccumulatorGemm(torch.autograd.Function):
    """``y = x Wᵀ`` of 2-D x (M, K) and W (N, K) with every operand of the
    forward, dgrad and wgrad GEMMs block-quantized along its reduction
    dimension (K, N, M) and every GEMM accumulated by ``spec``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor, fmt: BlockFormat,
                spec: fmac.AccumulatorSpec) -> torch.Tensor:
        ctx.save_for_backward(x, w)
        ctx.fmt, ctx.spec = fmt, spec
        xq = blocks.quantize(x, fmt, axis=1)
        wq = blocks.quantize(w, fmt, axis=1)
        return _mm(xq, wq.t(), spec)

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor) -> tuple:
        x, w = ctx.saved_tensors
        fmt, spec = ctx.fmt, ctx.spec
        dy = dy.contiguous()
        dx = dw = None
        if ctx.needs_input_grad[0]:   # dgrad: dx = dy W, reduced over N
            dx = _mm(blocks.quantize(dy, fmt, axis=1), blocks.quantize(w, fmt, axis=0), spec)
        if ctx.needs_input_grad[1]:   # wgrad: dW = dyᵀ x, reduced over the M tokens
            dw = _mm(blocks.quantize(dy, fmt, axis=0).t(), blocks.quantize(x, fmt, axis=0), spec)
        return dx, dw, None, None


def _forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    lead = x.shape[:-1]
    y = AccumulatorGemm.apply(x.reshape(-1, x.shape[-1]), self.weight,
                              self._floatsim_fmt, self._floatsim_spec)
    if self.bias is not None:
        y = y + self.bias
    return y.reshape(*lead, y.shape[-1])


def install(model: nn.Module, spec: Spec, operands: BlockFormat | str = "mxfp8_e4m3", *,
            modules: Callable[[nn.Module, str], bool] | None = None) -> nn.Module:
    """Give the selected ``nn.Linear`` layers of ``model`` (default: every
    Linear but ``lm_head``) the :class:`AccumulatorGemm` forward with
    ``spec`` (a :func:`floatsim.mac.spec` preset name or spec) and
    ``operands`` (a block format); in place, returns ``model``.
    :func:`uninstall` undoes it."""
    spec = fmac.spec(spec)
    fmt = block_format(operands)
    keep = modules or (lambda m, name: name != "lm_head")
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear) and keep(m, name):
            m._floatsim_fmt, m._floatsim_spec = fmt, spec
            m.forward = types.MethodType(_forward, m)
    return model


def uninstall(model: nn.Module) -> nn.Module:
    """Remove what :func:`install` added; returns ``model``."""
    for m in model.modules():
        if hasattr(m, "_floatsim_spec"):
            del m.forward, m._floatsim_fmt, m._floatsim_spec
    return model


def _lr(cfg: StudyConfig, step: int) -> float:
    """Linear warmup over a fifteenth of the steps, then cosine decay to a
    tenth of the peak (floatsim_torch.train's schedule)."""
    warm = max(1, cfg.steps // 15)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    frac = min(1.0, (step - warm) / max(1, cfg.steps - warm))
    return cfg.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * frac)))


@torch.no_grad()
def _evaluate(model: nn.Module, val: list[list[torch.Tensor]]) -> float:
    model.eval()
    v = sum(float(model.loss(x, y)) for x, y in val) / len(val)
    model.train()
    return v


def _run(r: Run, cfg: StudyConfig, data: corpus.Corpus, model_cfg: GPTConfig,
         step_done: StepDone) -> Result:
    """One run of the study (see :func:`train`); ``step_done`` after each step."""
    dev = torch.device(cfg.device)
    seq = model_cfg.block_size

    def tensors(xy: tuple[np.ndarray, np.ndarray]) -> list[torch.Tensor]:
        return [torch.from_numpy(a).to(dev) for a in xy]

    t0 = time.perf_counter()
    torch.manual_seed(r.seed)
    model = install(GPT(model_cfg).to(dev), r.spec(), cfg.operands)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.1, betas=(0.9, 0.95))
    rng, val_rng = np.random.default_rng(r.seed), np.random.default_rng(r.seed + 1)
    val = [tensors(data.batch("val", cfg.batch_size, seq, val_rng))
           for _ in range(cfg.eval_batches)]
    res = Result(r, math.nan)
    for step in range(cfg.steps):
        for g in opt.param_groups:
            g["lr"] = _lr(cfg, step)
        loss = model.loss(*tensors(data.batch("train", cfg.batch_size, seq, rng)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        res.train_loss.append((step + 1, float(loss.detach())))
        step_done()
        if not math.isfinite(res.train_loss[-1][1]):
            break
        if cfg.eval_every and (step + 1) % cfg.eval_every == 0 and step + 1 < cfg.steps:
            res.val_curve.append((step + 1, _evaluate(model, val)))
    res.val_loss = _evaluate(model, val)
    res.val_curve.append((res.train_loss[-1][0], res.val_loss))
    res.seconds = time.perf_counter() - t0
    return res


def train(cfg: StudyConfig, *, threads: int | None = None, progress: bool = True) -> list[Result]:
    """Run every run of ``plan(cfg)``; returns their results in plan order.

    Each run builds the GPT from its seed, installs the accumulator GEMM,
    and trains with AdamW (weight decay 0.1, betas 0.9 / 0.95, gradients
    clipped to norm 1) on the batches of its seed; the validation loss is
    the mean over ``eval_batches`` fixed batches.  A run whose loss turns
    non-finite stops there.  ``threads`` sets torch's CPU threads.
    """
    data, model_cfg = prepare(cfg, threads)
    return run_all("accumulator-loss", cfg, plan(cfg), model_cfg,
                   lambda r, step_done: _run(r, cfg, data, model_cfg, step_done),
                   progress=progress)
