"""Compile the GPU kernels that bench/gpu_cast.py times, one process per kernel, in parallel.

A cold numba-cuda compile takes 5-40 s a kernel on a GPU host, and the
bench would pay them one after another.  Each call below runs in its own
interpreter on a small CUDA tensor, through the public API only (so it
warms any floatsim on ``PYTHONPATH``, an older checkout included, for an
A/B in one lease); the kernels land in numba's disk cache.

    python bench/warm_parallel.py --jobs 16
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import subprocess
import sys
import time

#: The calls of bench/gpu_cast.py's floatsim rows, as Python source on a
#: float32 CUDA tensor ``x`` (2**16 elements, 256 x 256 for blocks).
CALLS = [
    'fs.quantize(x, "e4m3")',
    'fs.quantize(x, "e4m3", "sr", seed=1)',
    'fs.quantize(x, "e2m1")',
    'fs.quantize(x, "e2m1", "sr", seed=1)',
    'fs.quantize(x, "bf16")',
    'fs.quantize(x, "bf16", "sr", seed=1)',
    'fs.quantize(x, "e4m3", "sr", seed=1, sr_bits=8)',
    'fs.quantize(x.to(torch.bfloat16), "e4m3")',
    'fs.quantize(x.double(), "e4m3")',
    'fs.encode(x, "e4m3")',
    'fs.encode(x, "e4m3", "sr", seed=1)',
    'fs.decode(fs.encode(x, "e4m3"), "e4m3")',
    'fs.blocks.quantize(x.view(256, 256), "mxfp8_e4m3")',
    'fs.blocks.quantize(x.view(256, 256), "mxfp8_e4m3", "sr", seed=1)',
    'fs.blocks.quantize(x.view(256, 256), "mxfp4_e2m1")',
    'fs.blocks.quantize(x.view(256, 256), "mxfp4_e2m1", "sr", seed=1)',
    'fs.blocks.quantize(x.view(256, 256), "nvfp4")',
    'fs.blocks.quantize(x.view(256, 256), "nvfp4", "sr", seed=1)',
]

_PRELUDE = ("import torch, floatsim as fs; x = torch.randn(1 << 16, device='cuda'); "
            "y = {call}; torch.cuda.synchronize()")


def _run(call: str) -> tuple[str, float, int, str]:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", _PRELUDE.format(call=call)], capture_output=True, text=True)
    return call, time.perf_counter() - t, p.returncode, p.stderr[-400:]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=16)
    a = ap.parse_args()
    t0 = time.perf_counter()
    bad = 0
    with cf.ThreadPoolExecutor(a.jobs) as pool:
        for call, secs, rc, err in pool.map(_run, CALLS):
            print(f"{secs:6.1f} s  rc={rc}  {call}" + (f"\n{err}" if rc else ""), flush=True)
            bad += rc != 0
    print(f"{len(CALLS)} calls in {time.perf_counter() - t0:.0f} s, {bad} failed")
    return int(bad > 0)


if __name__ == "__main__":
    raise SystemExit(main())
