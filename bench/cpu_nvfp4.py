"""NVFP4 fake quantization on the CPU: floatsim against torchao, in one process.

    python bench/cpu_nvfp4.py [--n-log2 22] [--threads 2]

Times ``fs.blocks.quantize(x, "nvfp4")`` (nearest even: the float32 value
route, ``blocks_cpu.value_f32``; SR: the general float64 kernel), MXFP4 for
scale, and torchao's two-level ``NVFP4Tensor.to_nvfp4`` + ``dequantize`` on
the same 2**n N(0, 1) float32 values (a 2**(n//2)-column matrix, blocks of
16 along rows); best of 3 calls after a warm-up; prints a markdown table.
torchao's values are compared with floatsim's: within 2**-20 relative but
for the documented differences (docs/blocks.md).
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

import floatsim as fs


def best_of(f: Callable[[], Any], repeats: int = 3) -> float:
    f()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-log2", type=int, default=22)
    ap.add_argument("--threads", type=int, default=0, help="numba and torch threads (0: all cores)")
    a = ap.parse_args()
    if a.threads:
        import numba

        numba.set_num_threads(a.threads)
    cols = 1 << (a.n_log2 // 2)
    x = np.random.default_rng(0).standard_normal(((1 << a.n_log2) // cols, cols)).astype(np.float32)
    rows = [("floatsim blocks.quantize nvfp4 rne", lambda: fs.blocks.quantize(x, "nvfp4"), ""),
            ("floatsim blocks.quantize nvfp4 sr", lambda: fs.blocks.quantize(x, "nvfp4", "sr", seed=1),
             "general float64 kernel"),
            ("floatsim blocks.quantize mxfp4_e2m1 rne", lambda: fs.blocks.quantize(x, "mxfp4_e2m1"), "")]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import torch
            from torchao.prototype.mx_formats.nvfp4_tensor import (
                NVFP4Tensor,
                per_tensor_amax_to_scale,
            )
        if a.threads:
            torch.set_num_threads(a.threads)
        xt = torch.from_numpy(x)

        def tao() -> Any:
            t = NVFP4Tensor.to_nvfp4(xt, per_tensor_scale=per_tensor_amax_to_scale(xt.abs().max()))
            return t.dequantize(torch.float32)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = tao().numpy().astype(np.float64)
        want = fs.blocks.quantize(x, "nvfp4").astype(np.float64)
        far = int((np.abs(got - want) > 2.0**-20 * np.abs(want)).sum())
        same = float((got == want).mean())
        rows.append(("torchao NVFP4Tensor.to_nvfp4 + dequantize (eager)", tao,
                     f"{same:.2%} bit-identical to floatsim, {far} beyond 2**-20 relative"))
    except Exception as e:  # noqa: BLE001 - the floatsim rows still run
        print(f"torchao: n/a ({type(e).__name__}: {e})")
    print(f"2**{a.n_log2} float32 values, {x.shape[0]} x {x.shape[1]}; best of 3\n")
    print("| what | ms | Melem/s | note |\n|---|---:|---:|---|")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, f, note in rows:
            t = best_of(f)
            print(f"| {label} | {t * 1e3:.1f} | {x.size / t / 1e6:.0f} | {note} |", flush=True)


if __name__ == "__main__":
    main()
