"""Pseudo-quantization noise's CUDA kernel under Numba's CUDA simulator, bit for
bit against the CPU path.

Run by tests/test_noise_cuda.py in a subprocess (the simulator must be on
before ``numba.cuda`` is imported)::

    NUMBA_ENABLE_CUDASIM=1 python tests/cuda_sim_noise.py [GROUP ...]

GROUP: ``api`` (floatsim.noise.pseudo_quantize of simulated device arrays:
input and output dtypes, noises, roundings, annealing, the on-device amax)
or ``segments`` (several segments of one flat array, each with its scale).
Prints one line per failure and exits 1 if any.
"""

from __future__ import annotations

import os
import sys

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    sys.exit("run with NUMBA_ENABLE_CUDASIM=1 (the simulator must be on before numba.cuda loads)")

import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402
from cuda_support import sim_main  # noqa: E402
from numba import cuda  # noqa: E402

import floatsim as fs  # noqa: E402
from floatsim import noise as N  # noqa: E402
from floatsim.gpu import noise as G  # noqa: E402
from floatsim.gpu.launch import Grid, configure  # noqa: E402

configure(elementwise=Grid(2, 2, 256))  # 4 threads: the grid-stride loop runs several rounds
FAILURES: list[str] = []


def inputs(n: int = 37, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    special = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-40, 27.9, -28.0, 0.0625, 3e-2]
    return np.concatenate([special, rng.standard_normal(n - len(special)) * 2]).astype(np.float64)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.tobytes() == b.tobytes()


def check_api() -> None:
    bf = np.dtype(ml_dtypes.bfloat16)
    cases = [
        ("e3m2", "gaussian", np.float32, None, "nearest_even", 0.0, "tensor"),
        ("e2m3", "r", bf, None, "nearest_even", 0.0, "tensor"),
        ("e4m3", "uniform", np.float32, np.float64, "stochastic", 0.5, 0),
        ("e3m2", N.Noise.r(6), np.float16, np.float32, "toward_zero", 0.0, -3),
        ("e2m1", "r", np.float64, None, "up", 0.3, "tensor"),
    ]
    for fmt, noise, dt, odt, rnd, anneal, scale in cases:
        x = inputs().astype(dt)
        kw = dict(seed=2**40 + 5, stream=9, rounding=rnd, anneal=anneal, scale=scale, out_dtype=odt)
        want = N.pseudo_quantize(x, fmt, noise, **kw)
        got = N.pseudo_quantize(cuda.to_device(x), fmt, noise, **kw).copy_to_host()
        if not same(np.asarray(got).view(want.dtype), want):
            FAILURES.append(f"api {fmt} {noise} {np.dtype(dt)} -> {want.dtype} {rnd}: "
                            f"{np.asarray(got).view(want.dtype)[:6]} vs {want[:6]}")


def check_segments() -> None:
    """Three segments of one flat array, each with its own amax, against three
    CPU calls whose Philox offsets are the segments' starts."""
    cfg = N.PQTConfig("e3m2", "gaussian")
    p = N.plan(cfg)
    rng = np.random.default_rng(3)
    parts = [rng.standard_normal(12).astype(np.float32) * s for s in (0.01, 1.0, 50.0)]
    starts = np.array([0, 12, 24, 36], np.int64)
    flat = np.concatenate(parts)
    amax = np.array([np.abs(a).max() for a in parts], np.float64).view(np.int64)
    out = cuda.device_array(36, np.uint32)
    athr = cuda.to_device(N.anneal_thresholds(0.0))
    G.run_segments(p, cuda.to_device(flat.view(np.uint32)), out, 1, 1, cuda.to_device(starts),
                   cuda.to_device(amax), cuda.to_device(np.zeros(3, np.int64)), True, athr,
                   7, 0, 4, 0, 0)
    got = out.copy_to_host().view(np.float32)
    from floatsim.noise.api import host_input, run_segments

    cpu = np.empty(36, np.uint32)
    run_segments(p, host_input(flat), cpu, starts, amax, np.zeros(3, np.int64), True,
                 N.anneal_thresholds(0.0), 7, 0, 4, 0)
    if not same(got, cpu.view(np.float32)):
        FAILURES.append(f"segments: {got} vs {cpu.view(np.float32)}")
    # segment 2 alone, at its own Philox offset, is the same
    one = np.empty(12, np.uint32)
    run_segments(p, host_input(parts[1]), one, np.array([0, 12]), amax[1:2], np.zeros(1, np.int64),
                 True, N.anneal_thresholds(0.0), 7, 0, 4, 12)
    if not same(one.view(np.float32), cpu.view(np.float32)[12:24]):
        FAILURES.append("segments: a segment alone at its offset differs")
    fs.format("e3m2")  # keep the import used


if __name__ == "__main__":
    sys.exit(sim_main({"api": check_api, "segments": check_segments}, FAILURES, sys.argv[1:]))
