#!/usr/bin/env python
"""Emulated-precision training under DistributedDataParallel and FSDP2, one process per device.

Trains floatsim_torch.gpt's GPT (GPT-2 small's shape, ~124M parameters, on
GPUs; the tiny one on the CPU) on the corpus of ``floatsim demo`` with
``floatsim_torch.emulate(model, recipe)`` (every Linear but the output head)
for each recipe (``bf16``, ``mxfp8``, ``nvfp4``), wrapped in DDP and in FSDP2
(``fully_shard`` on each transformer block and the model), with AdamW and
gradient clipping.  Launched by torchrun, one process per device: NCCL on
GPUs, gloo on the CPU (``--device cpu``).  The script sets
``NCCL_NVLS_ENABLE=0``, ``TORCH_SYMM_MEM_DISABLE_MULTICAST=1`` and
``NVSHMEM_DISABLE_NVLS=1`` for its processes (NVLink multicast stays off).

For each recipe and wrapper, in one launch of N processes:

* **timing**: rank 0 alone (a one-rank process group: the 1-process figure),
  then all N ranks, each with ``--batch`` sequences of ``--seq`` tokens a step;
  tokens/s per process over ``--steps`` steps after ``--warmup`` untimed ones
  (the slowest rank's time), the scaling efficiency from 1 to N processes
  (tokens/s per process with N over that with 1), and the emulation overhead
  (tokens/s of ``bf16`` over the recipe's, same wrapper, same N);
* **checks** (``--check-steps`` steps at a small batch): (a) the loss curve of
  N processes equals rank 0 alone on the same global batch within float
  tolerance, for recipes whose casts do not depend on how the batch is split;
  (b) FSDP2 equals DDP at N processes (same losses and parameters within
  float tolerance, for every recipe: the casts see whole tensors either way,
  so a microscaling block cut by a shard boundary would show up here);
  (c) on GPUs, floatsim's per-call GPU plans (``floatsim.gpu.plans``) are
  built and used on every rank; (d) stochastic rounding draws different
  bits on every rank where the data differ (gradients) and the same where the
  values are replicated (weights: DDP's replicas stay identical, also with
  ``optim.wrap``'s BF16 + SR master weights).

Prints Markdown tables; with ``--out DIR`` writes ``throughput.csv``,
``losses.csv``, ``checks.csv`` and ``summary.md``.  Exits with status 1 if a
check fails.

Usage:
    torchrun --nproc-per-node 2 bench/distributed.py --device cpu            # 2 gloo processes
    torchrun --nproc-per-node 1 bench/distributed.py --device cuda --out OUT  # 1 GPU (~3 min)
    torchrun --nproc-per-node 2 bench/distributed.py --device cuda --out OUT  # 2 GPUs, NCCL
"""

from __future__ import annotations

import os

# NVLink multicast stays off in NCCL, PyTorch and NVSHMEM: on the lent multi-GPU
# machines a program using it can put the shared GPUs out of service (the device
# notes, KINDS.md).  Set before torch.distributed creates a communicator.
ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1",
       "NVSHMEM_DISABLE_NVLS": "1"}
os.environ.update(ENV)

import argparse  # noqa: E402
import contextlib  # noqa: E402
import csv  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.distributed.device_mesh import DeviceMesh  # noqa: E402
from torch.distributed.fsdp import fully_shard  # noqa: E402
from torch.distributed.tensor import DTensor  # noqa: E402
from torch.nn.parallel import DistributedDataParallel as DDP  # noqa: E402

import floatsim_torch as fst  # noqa: E402
from floatsim import recipes as _recipes  # noqa: E402
from floatsim.recipes import TENSORS, Scaling  # noqa: E402
from floatsim.rounding import Rounding  # noqa: E402
from floatsim.studies import corpus  # noqa: E402
from floatsim_torch.gpt import GPT, GPTConfig  # noqa: E402

MODES = ("ddp", "fsdp")
LOSS_RTOL = 1e-4      # loss curves: relative, per step
PARAM_RTOL = 1e-3     # parameters: |difference| over |how far training moved them| (L2, all)


# ---- processes ---------------------------------------------------------------------------------
@dataclass
class Ctx:
    """This process: rank, world, device, and the one-rank group of rank 0."""

    rank: int
    world: int
    device: torch.device
    solo: Any            # process group of rank 0 alone (None where world == 1)
    amp: Callable[[], Any]

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)


def setup(device: str, threads: int | None) -> Ctx:
    if "RANK" not in os.environ:
        raise SystemExit("launch with torchrun, one process per device: "
                         "torchrun --nproc-per-node N bench/distributed.py --device cpu|cuda ...")
    local = int(os.environ.get("LOCAL_RANK", 0))
    if device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit(f"--device cuda: torch {torch.__version__} sees no CUDA device")
        if local >= torch.cuda.device_count():
            raise SystemExit(f"local rank {local} has no GPU ({torch.cuda.device_count()} visible)")
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
        dist.init_process_group("nccl", device_id=dev)
        amp = lambda: torch.autocast("cuda", dtype=torch.bfloat16)   # noqa: E731
    else:
        dev = torch.device("cpu")
        dist.init_process_group("gloo")
        amp = contextlib.nullcontext
        n = threads or max(1, (os.cpu_count() or 1) // dist.get_world_size())
        torch.set_num_threads(n)
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    world = dist.get_world_size()
    solo = dist.new_group([0]) if world > 1 else None   # every rank takes part in new_group
    return Ctx(dist.get_rank(), world, dev, solo, amp)


def barrier(ctx: Ctx) -> None:
    dist.barrier(device_ids=[ctx.device.index]) if ctx.cuda else dist.barrier()


# ---- model, data, steps ----------------------------------------------------------------------
@dataclass
class Run:
    """One training run's numbers."""

    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0          # the timed steps, slowest rank
    tokens: int = 0               # tokens per process in the timed steps
    start: dict[str, torch.Tensor] | None = None    # full parameters before the first step
    params: dict[str, torch.Tensor] | None = None   # ... and after it

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else math.nan


def build(cfg: GPTConfig, recipe: str, mode: str, group: Any, ctx: Ctx,
          lr: float) -> tuple[nn.Module, nn.Module, torch.optim.Optimizer]:
    """The GPT from seed 0, emulated (all but the head), then wrapped: DDP, or
    FSDP2 on each block and the whole model.  Emulate first: the wrappers then
    see the emulated layers' parameters and buffers as they are."""
    torch.manual_seed(0)
    model = GPT(cfg).to(ctx.device)
    fst.emulate(model, recipe, modules=lambda m, name: name != "lm_head", seed=0)
    if mode == "ddp":
        net: nn.Module = DDP(model, process_group=group,
                             device_ids=[ctx.device.index] if ctx.cuda else None)
    else:
        mesh = DeviceMesh.from_group(group, ctx.device.type)
        for blk in model.blocks:
            fully_shard(blk, mesh=mesh)
        fully_shard(model, mesh=mesh)
        net = model
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    return model, net, opt


def full_params(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter whole (FSDP2's shards all-gathered: a collective)."""
    out = {}
    for name, p in model.named_parameters():
        t = p.full_tensor() if isinstance(p, DTensor) else p
        out[name] = t.detach().float().clone()
    return out


def train(model: nn.Module, net: nn.Module, opt: torch.optim.Optimizer, data: corpus.Corpus,
          ctx: Ctx, *, group: Any, members: int, index: int, batch: int, seq: int, steps: int,
          timed_from: int, snapshot: bool = False) -> Run:
    """``steps`` steps; this process takes rows ``[index * batch, (index + 1) *
    batch)`` of each step's global batch of ``members * batch`` sequences (the
    same draw on every rank).  Losses are the group's mean; time counts the
    steps from ``timed_from`` on; ``snapshot`` keeps the whole parameters
    before and after the first step."""
    run, timed = Run(), 0.0
    size = dist.get_world_size(group)
    if snapshot:
        run.start = full_params(model)
    for step in range(steps):
        rng = np.random.default_rng([1, step])
        x, y = data.batch("train", members * batch, seq, rng)
        rows = slice(index * batch, (index + 1) * batch)
        x, y = (torch.from_numpy(a[rows]).to(ctx.device) for a in (x, y))
        ctx.sync()
        t0 = time.perf_counter()
        with ctx.amp():
            logits = net(x)
        loss = F.cross_entropy(logits.flatten(0, -2).float(), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ctx.sync()
        if step >= timed_from:
            timed += time.perf_counter() - t0
            run.tokens += batch * seq
        mean = loss.detach().float().reshape(1)
        dist.all_reduce(mean, group=group)
        run.losses.append(float(mean) / size)
        if snapshot and step == 0:
            run.params = full_params(model)
    slowest = torch.tensor([timed], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(slowest, op=dist.ReduceOp.MAX, group=group)
    run.seconds = float(slowest)
    return run


# ---- the checks ------------------------------------------------------------------------------
@dataclass
class Check:
    name: str
    recipe: str
    mode: str
    value: float | str
    limit: float | str
    ok: bool | None       # None: not expected to hold (note says why), or not applicable
    note: str = ""

    @property
    def result(self) -> str:
        return {True: "pass", False: "FAIL", None: "n/a"}[self.ok]


def split_dependence(recipe: str, tokens_per_rank: int) -> str:
    """Why the recipe's casts depend on how a batch is split over ranks ('' if
    they do not): stochastic rounding (each layer's key holds the rank), a
    per-tensor scale of activations or gradients (each rank's amax is of its
    own tokens; NVFP4's second level is one), blocks along the tokens (wgrad)
    that a rank's token count cuts elsewhere than one process's.  Hadamard
    signs are not among them: every rank draws the same (checked in
    :func:`check_sr`)."""
    sr, scaled, cut = [], [], []
    for role, op in _recipes.get(recipe).operands().items():
        if not op.quantized:
            continue
        if op.rounding is Rounding.STOCHASTIC:
            sr.append(role)
        bf = op.block_format
        if TENSORS[role] != "w" and (op.scaling in (Scaling.TENSOR_CURRENT,
                                                    Scaling.TENSOR_DELAYED)
                                     or (bf is not None and bf.tensor_format is not None)):
            scaled.append(role)
        if role.startswith("wgrad") and bf is not None and bf.block is not None \
                and tokens_per_rank % bf.block[0]:
            cut.append(role)
    why = []
    if sr:
        why.append(f"stochastic rounding keyed by rank ({', '.join(sr)})")
    if scaled:
        why.append(f"per-tensor scales from each rank's own amax ({', '.join(scaled)})")
    if cut:
        why.append(f"{tokens_per_rank} tokens per rank cut the token-wise blocks of "
                   f"{', '.join(cut)}")
    return "; ".join(why)


def curve_gap(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) / abs(y) for x, y in zip(a, b, strict=True))


def param_gap(a: Run, b: Run) -> tuple[float, str]:
    """How far ``a``'s parameters after the first step are from ``b``'s, relative
    to how far that step moved ``b``'s (L2 over every parameter), and the
    parameter whose own such ratio is largest.

    After the first step only: the runs differ there by float sums in
    another order (the all-reduce, the norm of the clipped gradient), a few
    ulps; from the second step on, such a difference can move a value across
    a rounding midpoint of a narrow format, and the flipped element's
    gradient then differs by a step of that format (seen on the CPU: FSDP2
    and DDP identical after step 1 to 1 ulp, apart by 1e-3 of the update
    after step 3 under mxfp8).  The loss curves stay within float tolerance
    for the first steps either way."""
    num = den = 0.0
    worst, where = -1.0, ""
    for k, pb in b.params.items():
        d = float((a.params[k].to(pb.device) - pb).norm()) ** 2
        moved = float((pb - b.start[k]).norm()) ** 2
        num, den = num + d, den + moved
        if moved and d / moved > worst:
            worst, where = d / moved, k
    return math.sqrt(num / den) if den else math.nan, where if worst > 0 else "-"


def check_plans(ctx: Ctx, before: dict[str, int]) -> list[Check]:
    """(c) floatsim's per-call GPU plans on every rank: how many this process built."""
    if not ctx.cuda:
        return [Check("GPU plans on every rank", "all", "all", "-", "-", None,
                      "CPU run: the per-call plans are the GPU path's")]
    from floatsim.gpu import plans

    after = plans.plan_counts()
    mine = torch.tensor([after[k] - before.get(k, 0) for k in sorted(after)], device=ctx.device)
    every = [torch.zeros_like(mine) for _ in range(ctx.world)]
    dist.all_gather(every, mine)
    counts = [int(t.sum()) for t in every]
    note = ", ".join(f"rank {r}: {n}" for r, n in enumerate(counts))
    if ctx.world == 1:
        note += " (one GPU: rank 0 only; every rank is checked where N > 1)"
    return [Check("GPU plans on every rank", "all", "all", min(counts), "> 0",
                  min(counts) > 0, note)]


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 128), nn.GELU(), nn.Linear(128, 64))


def _grads(model: nn.Module, ctx: Ctx) -> torch.Tensor:
    g = torch.Generator().manual_seed(2)   # the same batch on every rank
    x = torch.randn(64, 64, generator=g).to(ctx.device)
    model(x).square().mean().backward()
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


def _same_on_all_ranks(t: torch.Tensor, ctx: Ctx) -> bool:
    every = [torch.empty_like(t) for _ in range(ctx.world)]
    dist.all_gather(every, t.contiguous())
    return all(torch.equal(every[0], e) for e in every[1:])


def check_sr(ctx: Ctx) -> list[Check]:
    """(d) which random bits differ across ranks and which agree.

    Gradients: the same batch on every rank, no wrapper: ``nvfp4`` (SR on dy)
    gives each rank other gradients (each layer's key holds the rank: the
    ranks' rounding errors are independent and average out in the
    all-reduce), ``mxfp8`` (deterministic) the same ones.  Hadamard signs
    (``nvfp4``'s wgrad): the same on every rank, also without DDP's buffer
    broadcast (FSDP2 has none).  Weights: after DDP steps with
    ``optim.wrap``'s BF16 + SR master weights, every rank holds the same
    parameters (the master-weight key has no rank; were it per rank, the
    replicas would drift apart), and SR moved some of them off nearest
    rounding (the check is not vacuous)."""
    if ctx.world == 1:
        return [Check("SR streams across ranks", "nvfp4", "-", "-", "-", None,
                      "needs 2 or more processes")]

    def check(name: str, recipe: str, mode: str, t: torch.Tensor, agree: bool,
              note: str) -> Check:
        same = _same_on_all_ranks(t, ctx)
        want = "identical" if agree else "different"
        return Check(name, recipe, mode, "identical" if same else "different", want,
                     same == agree, note)

    out = []
    for recipe, agree in (("nvfp4", False), ("mxfp8", True)):
        model = fst.emulate(_mlp().to(ctx.device), recipe)
        out.append(check("gradients, same batch on every rank", recipe, "none",
                         _grads(model, ctx), agree,
                         "SR bits keyed by rank" if not agree else "no random bits"))
        if recipe == "nvfp4":
            signs = [b for n, b in model.named_buffers() if n.endswith("floatsim_signs")]
            out.append(check("Hadamard signs", recipe, "none", torch.cat(signs), True,
                             "each layer's signs come from its key through torch's 32-bit "
                             "mt19937 seed: the rank (bit 40 up) does not reach them"))
    finals = {}
    for rounding in ("stochastic", "nearest_even"):
        model = fst.emulate(_mlp().to(ctx.device), "nvfp4")
        ddp = DDP(model, device_ids=[ctx.device.index] if ctx.cuda else None)
        opt = fst.optim.wrap(torch.optim.AdamW(model.parameters(), lr=1e-3), master="bf16",
                             master_rounding=rounding, seed=5)
        g = torch.Generator().manual_seed(3 + ctx.rank)   # each rank its own data
        for _ in range(3):
            ddp(torch.randn(64, 64, generator=g).to(ctx.device)).square().mean().backward()
            opt.step()
            opt.zero_grad()
        finals[rounding] = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    moved = int((finals["stochastic"] != finals["nearest_even"]).sum())
    out.append(check("replicas after BF16 + SR master weights", "nvfp4", "ddp",
                     finals["stochastic"], True,
                     f"3 DDP steps of optim.wrap(master='bf16', master_rounding='stochastic'); "
                     f"{moved} of {finals['stochastic'].numel()} weights differ from nearest "
                     "rounding"))
    return out


# ---- reporting -------------------------------------------------------------------------------
def machine(ctx: Ctx) -> str:
    dev = torch.cuda.get_device_name(ctx.device) if ctx.cuda else (platform.processor() or "cpu")
    return (f"{ctx.world} x {dev} ({'nccl' if ctx.cuda else 'gloo'}), {os.cpu_count()} CPUs, "
            f"python {platform.python_version()}, torch {torch.__version__}")


def tables(tp: list[dict], checks: list[Check]) -> str:
    lines = ["| recipe | wrapper | processes | tokens/s per process | scaling efficiency "
             "| overhead vs bf16 |", "|---|---|---:|---:|---:|---:|"]
    for r in tp:
        eff = "" if math.isnan(r["efficiency"]) else f"{r['efficiency']:.2f}"
        ovh = "" if math.isnan(r["overhead_vs_bf16"]) else f"{r['overhead_vs_bf16']:.2f}x"
        lines.append(f"| {r['recipe']} | {r['mode']} | {r['processes']} | "
                     f"{r['tokens_per_s_per_process']:,.0f} | {eff} | {ovh} |")
    lines += ["", "| check | recipe | wrapper | value | limit | result | note |",
              "|---|---|---|---|---|---|---|"]
    for c in checks:
        v = f"{c.value:.3g}" if isinstance(c.value, float) else c.value
        lim = f"{c.limit:.3g}" if isinstance(c.limit, float) else c.limit
        lines.append(f"| {c.name} | {c.recipe} | {c.mode} | {v} | {lim} | {c.result} | {c.note} |")
    return "\n".join(lines)


def write(out: Path, tp: list[dict], losses: list[dict], checks: list[Check], text: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("throughput.csv", tp), ("losses.csv", losses),
                       ("checks.csv", [{**c.__dict__, "result": c.result} for c in checks])):
        with open(out / name, "w", newline="") as f:
            if rows:
                w = csv.DictWriter(f, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
    (out / "summary.md").write_text(text + "\n")


# ---- main ------------------------------------------------------------------------------------
def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--recipes", default="bf16,mxfp8,nvfp4")
    ap.add_argument("--modes", default="ddp,fsdp", help="ddp, fsdp or both")
    ap.add_argument("--size", help="floatsim_torch.gpt size (default: tiny on cpu, gpt2 on cuda)")
    ap.add_argument("--batch", type=int, help="sequences per process a step (cpu 4, cuda 8)")
    ap.add_argument("--seq", type=int, help="tokens per sequence (cpu 32, cuda 1024)")
    ap.add_argument("--steps", type=int, help="timed steps (cpu 3, cuda 6; 0: checks only)")
    ap.add_argument("--warmup", type=int, help="untimed first steps (cpu 1, cuda 2)")
    ap.add_argument("--check-steps", type=int, default=3, help="steps compared (0: no checks)")
    ap.add_argument("--check-batch", type=int, help="sequences per process in the checks "
                    "(cpu: --batch, cuda 2)")
    ap.add_argument("--check-seq", type=int, help="tokens per sequence in the checks "
                    "(cpu: --seq, cuda 256)")
    ap.add_argument("--lr", type=float, help="AdamW's learning rate (cpu 3e-3, cuda 6e-4)")
    ap.add_argument("--threads", type=int, help="CPU threads per process (default cores / N)")
    ap.add_argument("--no-solo", action="store_true", help="skip rank 0's one-process runs")
    ap.add_argument("--out", help="write throughput.csv, losses.csv, checks.csv, summary.md here")
    a = ap.parse_args(argv)
    cuda = a.device == "cuda"
    defaults = dict(size="gpt2" if cuda else "tiny", batch=8 if cuda else 4,
                    seq=1024 if cuda else 32, steps=6 if cuda else 3, warmup=2 if cuda else 1,
                    lr=6e-4 if cuda else 3e-3)
    for k, v in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    a.check_batch = a.check_batch or (2 if cuda else a.batch)
    a.check_seq = a.check_seq or (min(256, a.seq) if cuda else a.seq)
    a.recipes = [r for r in a.recipes.split(",") if r]
    a.modes = [m for m in a.modes.split(",") if m]
    for r in a.recipes:
        _recipes.get(r)   # an unknown name raises, listing the known ones
    bad = [m for m in a.modes if m not in MODES]
    if bad:
        ap.error(f"--modes {','.join(bad)} is not valid; allowed: ddp, fsdp")
    for k in ("batch", "seq", "check_batch", "check_seq"):
        if getattr(a, k) < 1:
            ap.error(f"--{k.replace('_', '-')}={getattr(a, k)} must be >= 1")
    for k in ("steps", "warmup", "check_steps"):
        if getattr(a, k) < 0:
            ap.error(f"--{k.replace('_', '-')}={getattr(a, k)} must be >= 0")
    return a


def log(ctx: Ctx, msg: str) -> None:
    if ctx.rank == 0:
        print(msg, flush=True)


class Bench:
    """The runs of one launch: for each recipe and wrapper, rank 0 alone and all N ranks."""

    def __init__(self, a: argparse.Namespace, ctx: Ctx, data: corpus.Corpus,
                 cfg: GPTConfig) -> None:
        self.a, self.ctx, self.data, self.cfg = a, ctx, data, cfg
        self.throughput: list[dict] = []
        self.losses: list[dict] = []
        self.checks: list[Check] = []

    def run(self, recipe: str, mode: str, *, alone: bool, check: bool) -> Run | None:
        """One run: rank 0 alone (the others wait) or every rank; the check
        runs (small batch, parameters kept) or the timed ones.  Alone, rank 0
        takes the whole global batch of a check run (N x the per-rank batch)
        and one rank's batch of a timed run."""
        a, ctx = self.a, self.ctx
        if alone and ctx.rank != 0:
            barrier(ctx)
            return None
        group = ctx.solo if alone else dist.group.WORLD
        batch, seq = (a.check_batch, a.check_seq) if check else (a.batch, a.seq)
        steps = a.check_steps if check else a.warmup + a.steps
        r = train(*build(self.cfg, recipe, mode, group, ctx, a.lr), self.data, ctx,
                  group=group, members=1 if alone else ctx.world, index=0 if alone else ctx.rank,
                  batch=batch * ctx.world if alone and check else batch, seq=seq,
                  steps=steps, timed_from=steps if check else a.warmup,
                  snapshot=check)
        gc.collect()   # the model, its wrapper and optimizer go before the next one is built
        if ctx.cuda:
            torch.cuda.empty_cache()
        if alone:
            barrier(ctx)
        return r

    def recipe(self, recipe: str) -> None:
        """Every wrapper's runs of one recipe, then its rows and checks (rank 0)."""
        a, ctx, n = self.a, self.ctx, self.ctx.world
        at_n: dict[str, Run] = {}
        for mode in a.modes:
            log(ctx, f"{recipe} / {mode}")
            runs: dict[str, Run | None] = {}
            if a.check_steps:
                if n > 1:
                    runs["check 1"] = self.run(recipe, mode, alone=True, check=True)
                runs[f"check {n}"] = at_n[mode] = self.run(recipe, mode, alone=False, check=True)
            if a.steps:
                if n > 1 and not a.no_solo:
                    runs["time 1"] = self.run(recipe, mode, alone=True, check=False)
                runs[f"time {n}"] = self.run(recipe, mode, alone=False, check=False)
            if ctx.rank == 0:
                self.report(recipe, mode, runs)
        if ctx.rank == 0 and a.check_steps and set(MODES) <= set(at_n):
            self.compare(recipe, f"FSDP2 vs DDP at {n}", "fsdp", at_n["fsdp"], at_n["ddp"], "",
                         "the casts see whole weights under both")

    def report(self, recipe: str, mode: str, runs: dict[str, Run | None]) -> None:
        n = self.ctx.world
        for name, r in runs.items():
            for i, v in enumerate(r.losses if r else []):
                self.losses.append(dict(recipe=recipe, mode=mode, run=name, step=i + 1, loss=v))
        one = runs.get("time 1")
        for procs in sorted({1, n}):
            r = runs.get(f"time {procs}")
            if r is None:
                continue
            eff = r.tokens_per_s / one.tokens_per_s if one is not None else math.nan
            self.throughput.append(dict(
                recipe=recipe, mode=mode, processes=procs, tokens_per_s_per_process=r.tokens_per_s,
                efficiency=eff, overhead_vs_bf16=math.nan, seconds=r.seconds,
                tokens_per_process=r.tokens))
        if self.a.check_steps and n > 1:
            why = split_dependence(recipe, self.a.check_batch * self.a.check_seq)
            self.compare(recipe, f"{n} vs 1 process", mode, runs[f"check {n}"], runs["check 1"],
                         why, "same global batch; float sums in another order")

    def compare(self, recipe: str, what: str, mode: str, a: Run, b: Run, why: str,
                note: str) -> None:
        """Loss curves and parameters of two check runs; ``why``: the reason they
        are not expected to agree ('' if they are)."""
        gap = curve_gap(a.losses, b.losses)
        pg, where = param_gap(a, b)
        expect = None if why else True
        self.checks.append(Check(f"loss curve, {what} (max rel.)", recipe, mode, gap, LOSS_RTOL,
                                 expect and gap <= LOSS_RTOL,
                                 f"not expected to match: {why}" if why else note))
        self.checks.append(Check(f"parameters, {what} (rel. to update)", recipe, mode, pg,
                                 PARAM_RTOL, expect and pg <= PARAM_RTOL,
                                 f"largest share: {where}"))

    def overheads(self) -> None:
        base = {(r["mode"], r["processes"]): r["tokens_per_s_per_process"]
                for r in self.throughput if r["recipe"] == "bf16"}
        for r in self.throughput:
            b = base.get((r["mode"], r["processes"]))
            if b:
                r["overhead_vs_bf16"] = b / r["tokens_per_s_per_process"]


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    ctx = setup(a.device, a.threads)
    data = corpus.load(max_chars=2_000_000)
    cfg = GPTConfig.named(a.size, vocab_size=max(GPTConfig.named(a.size).vocab_size,
                                                  data.vocab_size))
    if max(a.seq, a.check_seq) > cfg.block_size:
        raise SystemExit(f"--seq/--check-seq must be <= {cfg.block_size} (size {a.size})")
    before: dict[str, int] = {}
    if ctx.cuda:
        from floatsim.gpu import plans

        before = plans.plan_counts()
    log(ctx, f"# bench/distributed.py: {machine(ctx)}\n# model {a.size}, batch {a.batch} x "
             f"{a.seq} per process, {a.steps} timed steps after {a.warmup}; checks: "
             f"{a.check_steps} steps of {a.check_batch} x {a.check_seq}")
    bench = Bench(a, ctx, data, cfg)
    for recipe in a.recipes:
        bench.recipe(recipe)
    bench.overheads()
    if a.check_steps:
        log(ctx, "checks: GPU plans, stochastic-rounding streams")
        bench.checks += check_plans(ctx, before)
        bench.checks += check_sr(ctx)
    failed = False
    if ctx.rank == 0:
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        cmd = "torchrun --nproc-per-node {} bench/distributed.py {}".format(
            ctx.world, " ".join(sys.argv[1:] if argv is None else argv))
        body = tables(bench.throughput, bench.checks)
        print("\n" + body, flush=True)
        if a.out:
            write(Path(a.out), bench.throughput, bench.losses, bench.checks,
                  f"# {cmd}\n# {machine(ctx)}, {stamp}\n\n{body}")
        failed = any(c.ok is False for c in bench.checks)
    flag = torch.tensor([int(failed)], device=ctx.device)
    dist.broadcast(flag, 0)
    dist.destroy_process_group()
    return int(flag.item())


if __name__ == "__main__":
    raise SystemExit(main())
