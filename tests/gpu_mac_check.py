"""The CUDA GEMM of floatsim.mac on a real GPU, bit for bit against the CPU GEMM.

Run by hand on a machine with a GPU (the lead's lent GPU); not collected by pytest::

    python tests/gpu_mac_check.py            # every preset and the custom specs below
    python tests/gpu_mac_check.py --quick    # smaller shapes

For each spec, random e4m3 x e5m2 operands of shapes (M, K) x (K, N) with a
few NaN / inf / tiny entries go through ``floatsim.mac.matmul`` as Numba
device arrays and as torch CUDA tensors (default stream and torch's current
stream), and through the CPU GEMM; every element must have the same bits
(NaN to NaN).  Prints one line per spec and shape, then the failure count;
exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import floatsim as fs  # noqa: E402
import floatsim.mac as mac  # noqa: E402
from floatsim.mac.spec import AccumulatorSpec, FixedPoint  # noqa: E402

CUSTOM = [
    AccumulatorSpec(group=5, kept_bits=9, align_rounding="rne", accumulator="float16", promote_every=10),
    AccumulatorSpec(accumulator="bfloat16", acc_rounding="sr", sr_bits=6, seed=3),
    AccumulatorSpec(accumulator="bfloat16", kahan=True, product="e4m3"),
    AccumulatorSpec(group=2, kept_bits=12, accumulator=FixedPoint(bits=24, frac_bits=8, overflow="wrap"),
                    acc_rounding="sr", sr_bits=4, seed=1),
    AccumulatorSpec(group=64, kept_bits=20, align_accumulator=True, accumulator="float16",
                    acc_rounding="sr", sr_bits=9, seed=7, promote_every=128),
]


def operands(rng: np.random.Generator, shape: tuple[int, int], fmt: str) -> np.ndarray:
    x = rng.standard_normal(shape) * np.exp2(rng.integers(-10, 10, shape))
    return fs.quantize(x.astype(np.float32), fmt, overflow="saturate")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    import torch
    from numba import cuda

    shapes = [(33, 37, 17), (130, 300, 70)] if args.quick else [(33, 37, 17), (300, 1000, 200), (64, 4096, 48)]
    failures = 0
    rng = np.random.default_rng(0)
    for spec in [*mac.names(), *CUSTOM]:
        for M, K, N in shapes:
            A, B = operands(rng, (M, K), "e4m3"), operands(rng, (K, N), "e5m2")
            A[0, 1], B[2, N - 1] = np.inf, np.nan
            A[M - 1] *= 2.0**-60  # products far below the others
            t = time.perf_counter()
            want = mac.matmul(A, B, spec)
            t_cpu = time.perf_counter() - t
            t = time.perf_counter()
            got_nb = mac.matmul(cuda.to_device(A), cuda.to_device(B), spec).copy_to_host()
            t_gpu = time.perf_counter() - t
            with torch.cuda.stream(torch.cuda.Stream()):
                got_t = mac.matmul(torch.from_numpy(A).cuda(), torch.from_numpy(B).cuda(), spec)
            torch.cuda.synchronize()
            got_t = got_t.cpu().numpy()
            bad = 0
            for got in (got_nb, got_t):
                same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))
                bad += int((~same).sum())
            failures += bad > 0
            label = spec if isinstance(spec, str) else str(spec)
            print(f"{'FAIL' if bad else 'ok  '} {label} {M}x{K}x{N}: {bad} differ "
                  f"(cpu {t_cpu:.2f} s, gpu first call {t_gpu:.2f} s)", flush=True)
    print(f"{failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
