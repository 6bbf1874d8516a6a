#!/usr/bin/env python
"""Training-step time of a GPT under emulated MX / NVFP4 recipes, with the peers, as ratios.

CPU (default): a ~10.8M-parameter GPT (floatsim_torch.gpt, size '10m': 6 layers,
width 384) trained with AdamW on random tokens; every Linear but the output head
emulated (all six GEMM operands of each layer quantized; attention's matmuls stay
in float32, as in every peer).  The head (``lm_head``, 384 -> 97, the vocabulary)
stays in float32 in every row, by one filter (:func:`emulated_layer`): torchao's
MX linear takes only dimensions that are multiples of 32, and leaving the output
layer in high precision is the usual choice anyway.  Each row is the median time of ``--steps`` training steps after
``--warmup`` steps, and its ratio to the unemulated float32 step measured in the
same process.  Rows:

* floatsim ``emulate(model, "mxfp8" | "mxfp4")`` (and "fp8 e4m3/e5m2
  element-wise", nearest and SR, next to qtorch's element-wise casts);
* torchao's emulated MX training (``MXFP8TrainingOpConfig`` with the emulated
  kernel preference, or the older ``MXLinearConfig(gemm_kernel_choice=EMULATED)``;
  whichever this torchao has; MXFP4 only through ``MXLinearConfig``, which
  torchao 0.18 no longer has: that row then says so);
* microxcaling's ``mx.Linear`` (pure-PyTorch path, ``custom_cuda=False``,
  ``quantize_backprop=True``, ``bfloat=0``), from a checkout in ``.peers/``;
* qtorch's ``float_quantize`` and pychop's ``Chop`` / ``mx_quantize``, which
  have no training layer: a generic autograd wrapper casts x and W once in the
  forward (reused by the backward GEMMs) and dy once in the backward, three
  casts per layer where floatsim does six (so these rows do less work).

A peer that is not importable prints ``n/a (reason)``.  ``--gpu``: GPT-2-small's
shape (~124M parameters, 12 layers, width 768, vocabulary 50257), sequence
1024, BF16 autocast, fused AdamW, tokens/s of BF16 and of floatsim's mxfp8
and nvfp4 (eager and torch.compile'd), with torchao's emulated float8
(``Float8LinearConfig(emulate=True)``) and MXFP8 recipes in the same run;
first a check of every demo recipe's step on CUDA against the CPU
(``--no-check`` skips it).

Usage:
    python bench/train_step.py                      # CPU, 10M GPT, peers where installed
    python bench/train_step.py --size tiny --steps 3 --warmup 1 --batch 2 --seq 32   # smoke
    python bench/train_step.py --gpu                # on a CUDA machine (the lead's run)
    python bench/train_step.py --only floatsim,torchao --markdown bench/results/train.md
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import floatsim_torch as fst  # noqa: E402
from floatsim.recipes import Gemm, Operand, Recipe  # noqa: E402
from floatsim_torch.emulation import plans  # noqa: E402
from floatsim_torch.gpt import GPT, GPTConfig  # noqa: E402

MICROXCALING = REPO / ".peers" / "microxcaling"
GROUPS = ("floatsim", "torchao", "microxcaling", "qtorch", "pychop")

# Element-wise FP8 with no scale, E4M3 for x and W, E5M2 for dy: what qtorch's casts do.
FP8_ELEM = Recipe("fp8_elementwise", forward=Gemm(Operand("e4m3"), Operand("e4m3")),
                  dgrad=Gemm(Operand("e5m2"), Operand("e4m3")),
                  wgrad=Gemm(Operand("e5m2"), Operand("e4m3")))


class NA(Exception):
    """A row that cannot run here (the reason is printed)."""


def emulated_layer(module: nn.Module, name: str) -> bool:
    """The layers every row quantizes: each nn.Linear but the output head (see
    the module docstring); floatsim's ``modules=`` and torchao's ``filter_fn``
    take it as it is."""
    return isinstance(module, nn.Linear) and name != "lm_head"


def _short(e: BaseException, n: int = 90) -> str:
    s = f"{type(e).__name__}: {e}".splitlines()[0]
    return s if len(s) <= n else s[: n - 3] + "..."


# ---- a generic quantized Linear for peers without a training layer ------------------------
class _QuantLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, qf, qb):  # noqa: ANN001, ANN205
        qx, qw = qf(x.reshape(-1, x.shape[-1])), qf(w)
        ctx.save_for_backward(qx, qw)
        ctx.qb, ctx.shape, ctx.has_b = qb, x.shape, b is not None
        y = F.linear(qx, qw, b)
        return y.reshape(*x.shape[:-1], w.shape[0])

    @staticmethod
    def backward(ctx, dy):  # noqa: ANN001, ANN205
        qx, qw = ctx.saved_tensors
        d = ctx.qb(dy.reshape(-1, dy.shape[-1]))
        db = d.sum(0) if ctx.has_b else None
        return (d @ qw).reshape(ctx.shape), d.t() @ qx, db, None, None


def _wrap_linears(model: nn.Module, qf: Callable, qb: Callable) -> nn.Module:
    for name, m in model.named_modules():
        if emulated_layer(m, name):
            m.forward = (lambda x, m=m: _QuantLinear.apply(x, m.weight, m.bias, qf, qb))
    return model


# ---- the rows: name -> (builder of a model from the baseline model) ------------------------
def rows_floatsim() -> dict[str, Callable[[nn.Module], nn.Module]]:
    return {
        "floatsim mxfp8": lambda m: fst.emulate(m, "mxfp8", modules=emulated_layer),
        "floatsim mxfp4": lambda m: fst.emulate(m, "mxfp4", modules=emulated_layer),
        "floatsim fp8 element-wise, nearest": lambda m: fst.emulate(m, FP8_ELEM,
                                                                   modules=emulated_layer),
        "floatsim fp8 element-wise, SR": lambda m: fst.emulate(
            m, FP8_ELEM.with_operands("all", rounding="stochastic"), modules=emulated_layer),
    }


def rows_torchao() -> dict[str, Callable[[nn.Module], nn.Module]]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import torchao
            from torchao.quantization import quantize_
    except Exception as e:  # noqa: BLE001
        raise NA(_short(e)) from e
    version = getattr(torchao, "__version__", "?")

    def mx(elem: str) -> Callable[[nn.Module], nn.Module]:
        def build(m: nn.Module) -> nn.Module:
            errors = []
            if elem == "mxfp8":
                try:   # torchao >= 0.15: the training-op config, emulated kernels
                    from torchao.prototype.moe_training.config import (
                        MXFP8TrainingOpConfig,
                        MXFP8TrainingRecipe,
                    )
                    cfg = MXFP8TrainingOpConfig.from_recipe(MXFP8TrainingRecipe.MXFP8_EMULATED_RCEIL)
                    cfg.out_dtype = torch.float32
                    quantize_(m, cfg, filter_fn=emulated_layer)
                    return m
                except Exception as e:  # noqa: BLE001
                    errors.append(_short(e, 60))
            try:       # the MXLinear API (torchao < 0.18)
                from torchao.prototype.mx_formats import MXGemmKernelChoice, MXLinearConfig
            except ImportError:
                what = ("its MXFP8TrainingOpConfig failed" if errors
                        else f"no emulated {elem} training (MXFP8TrainingOpConfig is MXFP8 only)")
                raise NA(f"torchao {version}: {what}, and it has no MXLinearConfig"
                         + (f"; {errors[0]}" if errors else "")) from None
            try:
                dt = torch.float8_e4m3fn if elem == "mxfp8" else torch.float4_e2m1fn_x2
                cfg = MXLinearConfig(elem_dtype=dt, block_size=32,
                                     gemm_kernel_choice=MXGemmKernelChoice.EMULATED)
                quantize_(m, cfg, filter_fn=emulated_layer)
                return m
            except Exception as e:  # noqa: BLE001
                errors.append(_short(e, 60))
            raise NA("; ".join(errors))
        return build

    return {"torchao mxfp8 (emulated)": mx("mxfp8"), "torchao mxfp4 (emulated)": mx("mxfp4")}


def rows_microxcaling() -> dict[str, Callable[[nn.Module], nn.Module]]:
    if not (MICROXCALING / "mx").is_dir():
        raise NA(f"no checkout at {MICROXCALING.relative_to(REPO)} (see bench/README.md)")
    sys.path.insert(0, str(MICROXCALING))
    try:
        from mx import Linear as MxLinear
        from mx.specs import finalize_mx_specs
    except Exception as e:  # noqa: BLE001
        raise NA(_short(e)) from e

    def mx(elem: str) -> Callable[[nn.Module], nn.Module]:
        specs = finalize_mx_specs({"w_elem_format": elem, "a_elem_format": elem,
                                   "block_size": 32, "bfloat": 0, "custom_cuda": False,
                                   "quantize_backprop": True})

        def build(m: nn.Module) -> nn.Module:
            for name, child in list(m.named_modules()):
                if type(child) is nn.Linear and emulated_layer(child, name):
                    new = MxLinear(child.in_features, child.out_features,
                                   bias=child.bias is not None, mx_specs=specs)
                    new.load_state_dict(child.state_dict())
                    parent, _, attr = name.rpartition(".")
                    setattr(m.get_submodule(parent), attr, new)
            return m
        return build

    return {"microxcaling mxfp8": mx("fp8_e4m3"), "microxcaling mxfp4": mx("fp4_e2m1")}


def rows_qtorch() -> dict[str, Callable[[nn.Module], nn.Module]]:
    try:
        from qtorch.quant import float_quantize
    except Exception as e:  # noqa: BLE001
        raise NA(_short(e)) from e

    def q(e: int, m: int, r: str) -> Callable:
        return lambda t: float_quantize(t.contiguous(), e, m, rounding=r)

    return {
        "qtorch fp8 element-wise, nearest": lambda m: _wrap_linears(
            m, q(4, 3, "nearest"), q(5, 2, "nearest")),
        "qtorch fp8 element-wise, SR": lambda m: _wrap_linears(
            m, q(4, 3, "stochastic"), q(5, 2, "stochastic")),
    }


def rows_pychop() -> dict[str, Callable[[nn.Module], nn.Module]]:
    try:
        import pychop
    except Exception as e:  # noqa: BLE001
        raise NA(_short(e)) from e

    def chop(e: int, m: int) -> Callable:
        ch = pychop.Chop(exp_bits=e, sig_bits=m, rmode=1)
        return lambda t: ch(t)

    def mx(name: str) -> Callable:
        return lambda t: pychop.mx_quantize(t, name, block_size=32, backend="torch")

    return {
        "pychop fp8 element-wise": lambda m: _wrap_linears(m, chop(4, 3), chop(5, 2)),
        "pychop mxfp8 (slow)": lambda m: _wrap_linears(m, mx("mxfp8_e4m3"), mx("mxfp8_e4m3")),
    }


BUILDERS = {"floatsim": rows_floatsim, "torchao": rows_torchao, "microxcaling": rows_microxcaling,
            "qtorch": rows_qtorch, "pychop": rows_pychop}


# ---- timing ---------------------------------------------------------------------------------
def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def make_step(model: nn.Module, args: argparse.Namespace, dev: torch.device, *,
              compiled: bool = False, autocast: bool = False) -> Callable[[], float]:
    """A function running one training step (forward, backward, AdamW) of
    ``model`` on fixed random tokens and returning its seconds and loss."""
    model.to(dev).train()
    g = torch.Generator().manual_seed(0)
    vocab = model.cfg.vocab_size
    x = torch.randint(0, vocab, (args.batch, args.seq), generator=g).to(dev)
    y = torch.randint(0, vocab, (args.batch, args.seq), generator=g).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=dev.type == "cuda")
    loss_fn = torch.compile(model.loss, fullgraph=False) if compiled else model.loss
    amp = torch.autocast(dev.type, torch.bfloat16) if autocast else contextlib.nullcontext()

    def step() -> tuple[float, torch.Tensor]:
        _sync(dev)
        t = time.perf_counter()
        with amp:
            loss = loss_fn(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _sync(dev)
        return time.perf_counter() - t, loss.detach()

    return step


def time_steps(model: nn.Module, args: argparse.Namespace, dev: torch.device, *,
               compiled: bool = False, autocast: bool = False) -> list[float]:
    """Seconds per training step (forward, backward, AdamW) after the warm-up steps."""
    step = make_step(model, args, dev, compiled=compiled, autocast=autocast)
    times = []
    for i in range(args.warmup + args.steps):
        t, loss = step()
        if i >= args.warmup:
            times.append(t)
    if not torch.isfinite(loss):
        raise NA(f"loss is {float(loss)}")
    return times


def run_cpu(args: argparse.Namespace) -> list[str]:
    dev = torch.device("cpu")
    cfg = GPTConfig.named(args.size, block_size=max(args.seq, 16))
    torch.manual_seed(0)
    base = GPT(cfg)
    lines = [f"model: GPT '{args.size}', {base.num_params() / 1e6:.2f}M parameters, batch "
             f"{args.batch} x {args.seq} tokens, {args.steps} timed steps after {args.warmup}; "
             f"torch {torch.__version__}, {torch.get_num_threads()} threads",
             "", "| row | median ms/step | ratio to float32 |", "|---|---|---|"]
    ref = statistics.median(time_steps(copy.deepcopy(base), args, dev))
    lines.append(f"| float32 (not emulated) | {1e3 * ref:.1f} | 1.00 |")
    print(lines[-1], flush=True)
    for group in args.only:
        try:
            rows = BUILDERS[group]()
        except NA as e:
            lines.append(f"| {group} | n/a ({e}) | |")
            print(lines[-1], flush=True)
            continue
        for label, build in rows.items():
            if "(slow)" in label and not args.slow_peers:
                lines.append(f"| {label} | skipped (--slow-peers) | |")
                continue
            try:
                t = statistics.median(time_steps(build(copy.deepcopy(base)), args, dev))
                lines.append(f"| {label} | {1e3 * t:.1f} | {t / ref:.2f} |")
            except NA as e:
                lines.append(f"| {label} | n/a ({e}) | |")
            except Exception as e:  # noqa: BLE001 - a peer failing is a row, not the end
                lines.append(f"| {label} | n/a ({_short(e)}) | |")
            print(lines[-1], flush=True)
    return lines


def gpu_check(recipes: tuple[str, ...] = ("fp32", "bf16", "fp8_delayed", "mxfp8", "mxfp6_e3m2",
                                           "mxfp4", "mxfp4_quartet", "nvfp4")) -> list[str]:
    """Before timing: every recipe's step on CUDA against the same step on the CPU (a
    tiny GPT, float32, no autocast).  The casts are bit-exact across devices (the core's
    contract), so the cast of each layer's weight must agree bit for bit; the loss and
    gradients differ only by the GEMMs' summation order (cuBLAS against the CPU's BLAS)."""
    lines = ["", "GPU check (tiny GPT, one step, CUDA against CPU):", "",
             "| recipe | weight casts equal | loss rel. diff | max grad rel. diff | compiled |",
             "|---|---|---|---|---|"]
    dev = torch.device("cuda")
    for name in recipes:
        torch.manual_seed(0)
        cpu = fst.emulate(GPT(GPTConfig.named("tiny")), name, modules=emulated_layer)
        gpu = copy.deepcopy(cpu).to(dev)
        g = torch.Generator().manual_seed(1)
        x = torch.randint(0, 97, (4, 32), generator=g)
        y = torch.randint(0, 97, (4, 32), generator=g)
        lc, lg = cpu.loss(x, y), gpu.loss(x.to(dev), y.to(dev))
        lc.backward()
        lg.backward()
        rel = abs(float(lc) - float(lg)) / abs(float(lc))
        worst = max(float((a.grad - b.grad.cpu()).norm() / a.grad.norm().clamp_min(1e-30))
                    for a, b in zip(cpu.parameters(), gpu.parameters()))
        same = True
        for n, plan in plans(cpu).items():
            cs, op = plan.casts[1], plan.ops[1]
            if cs.quantized and cs.block and not cs.sr:
                w = cpu.get_submodule(n).weight.detach()
                ax = {"tile": (-2, -1), "tensor": None}.get(cs.axes, -1)
                a = fst.blocks.quantize(w, op.block_format, op.rounding, axis=ax)
                b = fst.blocks.quantize(w.to(dev), op.block_format, op.rounding, axis=ax).cpu()
                same = same and torch.equal(a, b)
        try:
            comp = fst.emulate(GPT(GPTConfig.named("tiny")), name, modules=emulated_layer).to(dev)
            loss = torch.compile(comp.loss, fullgraph=True)(x.to(dev), y.to(dev))
            loss.backward()
            compiled = "ok" if torch.isfinite(loss) else f"loss {float(loss)}"
        except Exception as e:  # noqa: BLE001
            compiled = _short(e, 60)
        lines.append(f"| {name} | {same} | {rel:.1e} | {worst:.1e} | {compiled} |")
        print(lines[-1], flush=True)
    return lines


def run_gpu(args: argparse.Namespace) -> list[str]:
    if not torch.cuda.is_available():
        raise SystemExit("--gpu: torch sees no CUDA device")
    dev = torch.device("cuda")
    size = "gpt2" if args.size == "10m" else args.size
    cfg = GPTConfig.named(size, block_size=max(args.seq, 16))
    torch.manual_seed(0)
    base = GPT(cfg)
    tok = args.batch * args.seq
    lines = [f"model: GPT '{size}', {base.num_params() / 1e6:.1f}M parameters, batch "
             f"{args.batch} x {args.seq}, BF16 autocast, fused AdamW; "
             f"{torch.cuda.get_device_name(dev)}, torch {torch.__version__}",
             "", "| row | compiled | median ms/step | tokens/s | overhead vs BF16 |",
             "|---|---|---|---|---|"]
    ref = {}

    def row(label: str, build: Callable[[nn.Module], nn.Module], compiled: bool) -> None:
        try:
            t = statistics.median(time_steps(build(copy.deepcopy(base)), args, dev,
                                             compiled=compiled, autocast=True))
        except Exception as e:  # noqa: BLE001
            lines.append(f"| {label} | {compiled} | n/a ({_short(e)}) | | |")
        else:
            if label == "bf16":
                ref[compiled] = t
            over = f"{100 * (t / ref[compiled] - 1):+.1f}%" if compiled in ref else "-"
            lines.append(f"| {label} | {compiled} | {1e3 * t:.1f} | {tok / t:,.0f} | {over} |")
        print(lines[-1], flush=True)

    def torchao_float8(m: nn.Module) -> nn.Module:
        from torchao.float8 import Float8LinearConfig, convert_to_float8_training
        return convert_to_float8_training(m, config=Float8LinearConfig(emulate=True),
                                          module_filter_fn=emulated_layer)

    def torchao_mxfp8(m: nn.Module) -> nn.Module:
        return rows_torchao()["torchao mxfp8 (emulated)"](m)

    if not args.no_check:
        lines += gpu_check() + [""]
    for compiled in (False, True):
        row("bf16", lambda m: m, compiled)
        row("floatsim mxfp8", lambda m: fst.emulate(m, "mxfp8", modules=emulated_layer), compiled)
        row("floatsim nvfp4", lambda m: fst.emulate(m, "nvfp4", modules=emulated_layer), compiled)
        if "torchao" in args.only:
            row("torchao float8 emulate=True", torchao_float8, compiled)
            row("torchao mxfp8 (emulated)", torchao_mxfp8, compiled)
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="10m", help="GPT size (floatsim_torch.gpt.SIZES; "
                                                   "--gpu default gpt2)")
    ap.add_argument("--batch", type=int, default=None, help="sequences (CPU 8, GPU 8)")
    ap.add_argument("--seq", type=int, default=None, help="tokens per sequence (CPU 128, GPU 1024)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps (median)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (compiles)")
    ap.add_argument("--only", default=",".join(GROUPS), help=f"groups: {', '.join(GROUPS)}")
    ap.add_argument("--slow-peers", action="store_true", help="also pychop's MX (~200x)")
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    ap.add_argument("--gpu", action="store_true", help="the GPU run (GPT-2 small, BF16)")
    ap.add_argument("--no-check", action="store_true", help="--gpu: skip the CUDA-vs-CPU check")
    ap.add_argument("--markdown", help="also write the table to this file")
    args = ap.parse_args(argv)
    args.only = [g.strip() for g in args.only.split(",") if g.strip()]
    bad = [g for g in args.only if g not in GROUPS]
    if bad:
        ap.error(f"--only: unknown group(s) {', '.join(bad)}; allowed: {', '.join(GROUPS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    args.batch = args.batch or 8
    args.seq = args.seq or (1024 if args.gpu else 128)
    lines = run_gpu(args) if args.gpu else run_cpu(args)
    return report(lines, "train_step.py", argv, args.markdown)


def report(lines: list[str], script: str, argv: list[str] | None, markdown: str | None) -> int:
    """Print the table and the command that made it (and write them to
    ``markdown``); the exit status."""
    lines = [*lines, "", f"command: python bench/{script} {' '.join(argv or sys.argv[1:])}"]
    print("\n".join(lines))
    if markdown:
        Path(markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(markdown).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
