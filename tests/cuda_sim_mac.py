"""The CUDA GEMM of floatsim.mac under Numba's CUDA simulator, bit for bit
against the CPU GEMM (itself tested element by element against the scalar
model in tests/test_mac.py).

Run by tests/test_mac_cuda.py in a subprocess (the simulator must be on
before ``numba.cuda`` is imported)::

    NUMBA_ENABLE_CUDASIM=1 python tests/cuda_sim_mac.py [GROUP ...]

GROUP: ``windows`` (groups that fit a shared-memory window), ``large``
(groups spanning several windows), ``api`` (arguments and errors); default
all.  Tiles are shrunk to 4 x 4 outputs and windows of 8 products so that
partial tiles, several windows and groups larger than a window all occur on
small shapes.
"""

from __future__ import annotations

import os
import sys

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    sys.exit("run with NUMBA_ENABLE_CUDASIM=1 (the simulator must be on before numba.cuda loads)")

import numpy as np  # noqa: E402
from cuda_support import sim_main  # noqa: E402
from numba import cuda  # noqa: E402

import floatsim as fs  # noqa: E402
import floatsim.mac as mac  # noqa: E402
from floatsim.gpu import mac as G  # noqa: E402
from floatsim.mac.spec import AccumulatorSpec, FixedPoint  # noqa: E402

G.TILE.update(m=4, n=4, k=8)
FAILURES: list[str] = []


def operands(rng: np.random.Generator, shape: tuple[int, int], fmt: str) -> np.ndarray:
    x = rng.standard_normal(shape) * np.exp2(rng.integers(-10, 10, shape))
    return fs.quantize(x.astype(np.float32), fmt, overflow="saturate")


def compare(spec: AccumulatorSpec | str, M: int, K: int, N: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    A = operands(rng, (M, K), "e4m3")
    B = operands(rng, (K, N), "e5m2")
    A[0, min(2, K - 1)] = np.inf
    B[min(1, K - 1), N - 1] = np.nan
    A[M - 1, :] *= 2.0**-60  # products far below the others
    want = mac.matmul(A, B, spec)
    got = mac.matmul(cuda.to_device(A), cuda.to_device(B), spec).copy_to_host()
    same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))
    if not same.all():
        i, j = np.argwhere(~same)[0]
        FAILURES.append(f"{spec} {M}x{K}x{N}: {int((~same).sum())} differ, first ({i}, {j}): "
                        f"gpu {got[i, j]!r} cpu {want[i, j]!r}")


def windows() -> None:
    for spec in ("fp32", "bf16", "v100_fp16", "a100_fp16",
                 AccumulatorSpec(group=5, kept_bits=9, align_rounding="rne", accumulator="float16",
                                 promote_every=10),
                 AccumulatorSpec(accumulator="bfloat16", acc_rounding="sr", sr_bits=6, seed=3),
                 AccumulatorSpec(accumulator="bfloat16", kahan=True, product="e4m3"),
                 AccumulatorSpec(group=2, kept_bits=12, accumulator=FixedPoint(bits=24, frac_bits=8,
                                 overflow="wrap"), acc_rounding="sr", sr_bits=4, seed=1)):
        compare(spec, 6, 37, 5)
    compare("fp16", 1, 1, 1)


def large() -> None:
    for spec in ("hopper_fp8", "hopper_fp8_promote128", "blackwell_fp8",
                 AccumulatorSpec(group=12, kept_bits=20, align_accumulator=True, accumulator="float16",
                                 acc_rounding="sr", sr_bits=9, seed=7, promote_every=24)):
        compare(spec, 5, 70, 6, seed=1)


def api() -> None:
    A = cuda.to_device(np.ones((2, 3), np.float32))
    try:
        mac.matmul(A, A, "fp32")
        FAILURES.append("shape mismatch not refused")
    except ValueError as e:
        if "a of shape (M, K) and b of shape (K, N)" not in str(e):
            FAILURES.append(f"shape message: {e}")
    try:
        mac.matmul(cuda.to_device(np.ones((2, 2))), cuda.to_device(np.ones((2, 2))), "fp32")
        FAILURES.append("float64 device arrays not refused")
    except TypeError as e:
        if "takes float32 device arrays" not in str(e):
            FAILURES.append(f"dtype message: {e}")
    try:
        mac.matmul(A, np.ones((3, 2), np.float32), "fp32")
        FAILURES.append("a GPU and a host operand not refused")
    except ValueError as e:
        if "only a is a GPU array" not in str(e):
            FAILURES.append(f"mixed message: {e}")
    z = mac.matmul(cuda.to_device(np.ones((0, 3), np.float32)), cuda.to_device(np.ones((3, 2), np.float32)))
    if z.shape != (0, 2):
        FAILURES.append(f"empty result shape {z.shape}")


if __name__ == "__main__":
    sys.exit(sim_main({"windows": windows, "large": large, "api": api}, FAILURES, sys.argv[1:]))
