#!/usr/bin/env python
"""floatsim.mac throughput: emulated-accumulator dot products and GEMMs, as ratios.

CPU (always):
  * ``2**dots`` dot products of length 32 with ``hopper_fp8`` (and ``fp32``,
    ``bf16``), computed as one (2**(dots/2) x 32) @ (32 x 2**(dots/2)) GEMM;
    the issue's goal is 2**24 of them in under a minute on the 2-core machine.
  * an ``n^3`` GEMM (default 1024) with ``hopper_fp8``, as a ratio to numpy's
    FP32 matmul on the same operands.
GPU (``--gpu``, run by the lead on a lent GPU):
  * an ``N^3`` GEMM (default 4096) with ``hopper_fp8`` and with a bf16
    accumulator (preset ``bf16``), as ratios to cuBLAS FP32 (``torch.matmul``
    of float32 CUDA tensors, TF32 off) and, for ``bf16``, to mptorch's
    ``float_mm`` on the same spec (exact products, each added into a bf16
    accumulator with one rounding to nearest: ``man_add=7, exp_add=8,
    fma=True``) when mptorch is importable; ``--check`` compares the first
    rows of each GPU result with the CPU model bit for bit (and mptorch's
    with floatsim's).

Operands are e4m3 values (``fs.quantize`` of standard normals), the same for
every row.  Each cell is the median of ``--repeats`` timed calls after one
warm-up call (which compiles; compile time is reported separately).

Usage:
    python bench/mac.py                      # CPU: 2**24 dots, 1024^3 GEMM
    python bench/mac.py --quick              # smoke run: 2**16 dots, 256^3
    python bench/mac.py --gpu --check        # + the GPU part (needs CUDA and torch)
    python bench/mac.py --gpu --gpu-size 2048 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import floatsim as fs  # noqa: E402
import floatsim.mac as mac  # noqa: E402


def operands(m: int, k: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = fs.quantize(rng.standard_normal((m, k), dtype=np.float32), "e4m3")
    b = fs.quantize(rng.standard_normal((k, n), dtype=np.float32), "e4m3")
    return a, b


def timed(fn: Callable[[], Any], repeats: int, sync: Callable[[], None] = lambda: None) -> tuple[float, float]:
    """(first call in s, median of the timed calls in s)."""
    t = time.perf_counter()
    fn()
    sync()
    first = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return first, statistics.median(times)


def machine() -> str:
    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                    if ln.startswith("model name")), platform.processor())
    except OSError:
        cpu = platform.processor()
    return (f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, "
            f"numpy {np.__version__}")


def cpu_part(args: argparse.Namespace) -> list[str]:
    rows = ["| CPU case | spec | first call (s) | time (s) | ratio |", "|---|---|---|---|---|"]
    side = 1 << (args.dots // 2)
    a, b = operands(side, 32, (1 << args.dots) // side)
    for name in ("hopper_fp8", "fp32", "bf16"):
        first, t = timed(lambda s=name: mac.matmul(a, b, s), args.repeats)
        goal = f"goal < 60 s for 2^24 (scaled: {t * 2**24 / (side * b.shape[1]):.1f} s)"
        rows.append(f"| 2^{args.dots} dots of 32 | {name} | {first:.2f} | {t:.3f} | {goal} |")
    n = args.gemm
    a, b = operands(n, n, n, 1)
    _, t_np = timed(lambda: a @ b, args.repeats)
    first, t = timed(lambda: mac.matmul(a, b, "hopper_fp8"), args.repeats)
    rows.append(f"| {n}^3 GEMM | numpy FP32 | | {t_np:.4f} | 1 |")
    rows.append(f"| {n}^3 GEMM | hopper_fp8 | {first:.2f} | {t:.3f} | {t / t_np:.0f}x numpy |")
    return rows


def gpu_part(args: argparse.Namespace) -> list[str]:
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    dev = torch.device("cuda")
    sync = torch.cuda.synchronize
    n = args.gpu_size
    a_np, b_np = operands(n, n, n, 2)
    a, b = torch.from_numpy(a_np).to(dev), torch.from_numpy(b_np).to(dev)
    rows = [f"GPU: {torch.cuda.get_device_name(dev)}, torch {torch.__version__}", "",
            "| GPU case | first call (s) | time (ms) | vs cuBLAS FP32 | vs mptorch float_mm |",
            "|---|---|---|---|---|"]
    _, t_blas = timed(lambda: torch.matmul(a, b), args.repeats, sync)
    rows.append(f"| {n}^3 cuBLAS FP32 (torch.matmul) | | {t_blas * 1e3:.2f} | 1 | |")
    try:
        from mptorch.quant import float_mm

        def mp() -> Any:
            return float_mm(a, b, man_add=7, exp_add=8, man_mul=23, exp_mul=8, rounding="nearest",
                            fma=True, subnormals=True, saturate=False)

        _, t_mp = timed(mp, args.repeats, sync)
        rows.append(f"| {n}^3 mptorch float_mm, bf16 accumulator | | {t_mp * 1e3:.2f} | "
                    f"{t_mp / t_blas:.1f}x | 1 |")
    except Exception as e:  # noqa: BLE001 - any failure: say why, time the rest
        mp, t_mp = None, None
        rows.append(f"| mptorch float_mm | n/a ({type(e).__name__}: {str(e).splitlines()[0][:80]}) | | | |")
    notes = []
    for name in ("hopper_fp8", "bf16"):
        first, t = timed(lambda s=name: mac.matmul(a, b, s), args.repeats, sync)
        vs_mp = f"{t / t_mp:.1f}x" if (t_mp and name == "bf16") else ""
        rows.append(f"| {n}^3 floatsim {name} | {first:.1f} | {t * 1e3:.2f} | {t / t_blas:.1f}x | {vs_mp} |")
        if args.check:
            rows_k = min(args.check_rows, n)
            got = mac.matmul(a, b, name)[:rows_k].cpu().numpy()
            want = mac.matmul(a_np[:rows_k], b_np, name)
            diff = int((got.view(np.uint32) != want.view(np.uint32)).sum())
            notes.append(f"check {name}: GPU vs CPU model on {rows_k} x {n}: {diff} differ")
            if name == "bf16" and mp is not None:
                other = mp()[:rows_k].cpu().numpy()
                d2 = int((other.view(np.uint32) != want.view(np.uint32)).sum())
                notes.append(f"check bf16: mptorch float_mm vs floatsim on {rows_k} x {n}: {d2} differ")
    return rows + [""] + notes


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dots", type=int, default=24, help="log2 of the number of dot products (default 24)")
    p.add_argument("--gemm", type=int, default=1024, help="CPU GEMM size n (n^3; default 1024)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="smoke run: --dots 16 --gemm 256 --repeats 1")
    p.add_argument("--gpu", action="store_true", help="also the GPU part (CUDA, torch)")
    p.add_argument("--gpu-size", type=int, default=4096)
    p.add_argument("--check", action="store_true", help="check GPU results against the CPU model")
    p.add_argument("--check-rows", type=int, default=64)
    p.add_argument("--cpu", action=argparse.BooleanOptionalAction, default=True, help="run the CPU part")
    args = p.parse_args()
    if args.quick:
        args.dots, args.gemm, args.repeats = 16, 256, 1
    print(f"floatsim.mac benchmark, {time.strftime('%Y-%m-%d %H:%M')}; {machine()}\n")
    if args.cpu:
        print("\n".join(cpu_part(args)), "\n", flush=True)
    if args.gpu:
        print("\n".join(gpu_part(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
