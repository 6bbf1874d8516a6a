#!/usr/bin/env python
"""PQT's overhead per training step on the CPU: the same GPT's step with and without noise.

The model is ``bench/train_step.py``'s (floatsim_torch.gpt size '10m', ~10.8M
parameters, AdamW, random tokens, batch 8 x 128).  Rows: the float32 model as
it is (no noise), and the same model under ``floatsim_torch.pqt`` (every
Linear but the output head: BF16 parameters, noise at the target's spacing,
one BF16 cast, the layer computing in float32) for each noise (and R with
FP32 parameters: AdamW on BF16 tensors is itself slower on most CPUs), and under
``floatsim_torch.pqt.qat`` (round-to-nearest STE) for comparison.  The rows
take one step each in turn, ``--steps`` times over (after ``--warmup`` such
rounds), so that a machine whose load changes slows neighbouring steps
alike: a row's overhead is the median over rounds of its step's time
divided by the float32 step of the same round, minus one (the paired
ratio); the median and minimum step times are given too.

Goal (issue 27): PQT's overhead ≤ 10% on the CPU.

Usage:
    python bench/pqt_step.py --threads 1                   # what docs/benchmarks.md records
    python bench/pqt_step.py --size tiny --seq 32 --steps 3              # smoke
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import torch  # noqa: E402
from torch import nn  # noqa: E402
from train_step import make_step, report  # noqa: E402

import floatsim_torch as fst  # noqa: E402
from floatsim.noise import PQTConfig  # noqa: E402
from floatsim_torch.gpt import GPT, GPTConfig  # noqa: E402


def _hidden(m: nn.Module, name: str) -> bool:
    return name != "lm_head"


def rows(target: str) -> dict[str, Callable[[nn.Module], nn.Module]]:
    """Row label -> builder from the float32 model."""
    out: dict[str, Callable[[nn.Module], nn.Module]] = {"float32, no noise": lambda m: m}
    for noise in ("r", "gaussian", "uniform"):
        cfg = PQTConfig(target, noise)
        out[f"pqt {target} {noise} (BF16 parameters)"] = (
            lambda m, cfg=cfg: fst.pqt(m, cfg, modules=_hidden, seed=0))
    cfg = PQTConfig(target, "r", param_dtype="float32")
    out[f"pqt {target} r (FP32 parameters)"] = (
        lambda m: fst.pqt(m, cfg, modules=_hidden, seed=0))
    out[f"qat {target} (STE, FP32 parameters)"] = (
        lambda m: fst.pqt.qat(m, PQTConfig(target, param_dtype="float32"), modules=_hidden))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="10m", help="GPT size (floatsim_torch.gpt.SIZES)")
    ap.add_argument("--batch", type=int, default=8, help="sequences per step")
    ap.add_argument("--seq", type=int, default=128, help="tokens per sequence")
    ap.add_argument("--target", default="e3m2", help="the PQT target format")
    ap.add_argument("--steps", type=int, default=10, help="timed rounds (a step of every row)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    ap.add_argument("--no-qat", action="store_true", help="skip the QAT row")
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    ap.add_argument("--markdown", help="also write the table to this file")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device("cpu")
    torch.manual_seed(0)
    base = GPT(GPTConfig.named(args.size, block_size=max(args.seq, 16)))
    built = rows(args.target)
    if args.no_qat:
        built = {k: v for k, v in built.items() if not k.startswith("qat")}
    steps = {label: make_step(build(copy.deepcopy(base)), args, dev)
             for label, build in built.items()}
    times: dict[str, list[float]] = {label: [] for label in steps}
    t0 = time.perf_counter()
    for r in range(args.warmup + args.steps):
        for label, step in steps.items():
            t, loss = step()
            if not torch.isfinite(loss):
                raise SystemExit(f"{label}: loss is {float(loss)}")
            if r >= args.warmup:
                times[label].append(t)
        print(f"round {r + 1}/{args.warmup + args.steps} ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    ref = times["float32, no noise"]
    lines = [f"model: GPT '{args.size}', {base.num_params() / 1e6:.2f}M parameters, batch "
             f"{args.batch} x {args.seq} tokens; {args.steps} rounds of one step per row after "
             f"{args.warmup}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
             f"{platform.processor() or platform.machine()}",
             "", "| row | median ms/step | min ms/step | overhead vs float32 (median of paired "
             "ratios) |", "|---|---|---|---|"]
    for label, ts in times.items():
        ratio = statistics.median(t / b for t, b in zip(ts, ref))
        over = "" if label.startswith("float32") else f"{100 * (ratio - 1):+.1f}%"
        lines.append(f"| {label} | {1e3 * statistics.median(ts):.1f} | {1e3 * min(ts):.1f} | "
                     f"{over} |")
    return report(lines, "pqt_step.py", argv, args.markdown)


if __name__ == "__main__":
    raise SystemExit(main())
