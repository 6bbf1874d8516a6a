"""``floatsim warmup``: compile the kernels ahead, in parallel processes.

A kernel compiles at its first use and is then cached on disk
(:mod:`floatsim.cache`); a cold first call takes seconds (an element-wise
cast) to tens of seconds (NVFP4).  Warm-up runs the calls of each kernel
family, each family in its own process so that the compiles run side by
side, and leaves the machine code in the cache for every later process.  On
the CPU each family runs twice, on a small array and on one of
:data:`floatsim.cpu.launch.PARALLEL_MIN` elements: small arrays run a
serial compile of each kernel (its twin), large ones the parallel kernel.

Example:
    >>> from floatsim.warmup import tasks
    >>> "quantize float32 nearest_even" in tasks(), len(tasks(all_modes=True)) > len(tasks())
    (True, True)
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable

import numpy as np

__all__ = ["clean", "run", "tasks"]

_MODES = ("nearest_even", "nearest_away", "toward_zero", "up", "down", "odd", "stochastic")


def _call(kind: str, mode: str, gpu: bool) -> Callable[[], object]:
    """The calls that compile the kernel family ``kind`` in ``mode``."""

    def run() -> object:
        if gpu:
            return one(64)
        from .cpu.launch import PARALLEL_MIN

        one(64)  # the serial twins
        return one(PARALLEL_MIN)

    def one(n: int) -> object:
        import floatsim as fs

        sr = {"seed": 1} if mode == "stochastic" else {}
        f32, f64 = np.linspace(-3, 3, n, dtype=np.float32), np.linspace(-3, 3, n)
        if gpu:
            from numba import cuda

            f32, f64 = cuda.to_device(f32), cuda.to_device(f64)
        if kind == "quantize float32":
            return fs.quantize(f32, "e4m3", mode, **sr)
        if kind == "quantize float64":
            return fs.quantize(f64, "e4m3", mode, **sr)
        if kind == "encode float32":
            return fs.encode(f32, "e4m3", mode, **sr)
        if kind == "decode":
            codes = (np.arange(max(n, 256)) % 256).astype(np.uint8)
            return fs.decode(cuda.to_device(codes) if gpu else codes, "e4m3")
        if kind == "blocks mx":
            return fs.blocks.quantize(f32.reshape(-1, 32), "mxfp8_e4m3", mode, **sr)
        if kind == "blocks nvfp4":
            return fs.blocks.quantize(f32.reshape(-1, 16), "nvfp4", mode, **sr)
        if kind == "blocks encode":
            return fs.blocks.encode(f32.reshape(-1, 32), "mxfp4_e2m1", mode, **sr)
        raise ValueError(f"unknown warm-up task {kind!r}")

    return run


def tasks(*, all_modes: bool = False, gpu: bool = False) -> dict[str, Callable[[], object]]:
    """The warm-up calls by name: nearest-even and stochastic rounding of
    every kernel family, or every rounding mode with ``all_modes``."""
    modes = _MODES if all_modes else ("nearest_even", "stochastic")
    kinds = ["quantize float32", "quantize float64", "encode float32", "blocks mx", "blocks nvfp4",
             "blocks encode"]
    out = {f"{k} {m}": _call(k, m, gpu) for k in kinds for m in modes}
    out["decode"] = _call("decode", "nearest_even", gpu)
    return out


def _run_one(name: str, all_modes: bool, gpu: bool) -> tuple[str, float]:
    t = time.perf_counter()
    tasks(all_modes=all_modes, gpu=gpu)[name]()
    return name, time.perf_counter() - t


def run(*, all_modes: bool = False, gpu: bool = False, jobs: int | None = None,
        progress: bool = True) -> dict[str, float]:
    """Run every warm-up task, ``jobs`` processes at a time (default: one per
    CPU); returns each task's seconds (compile or cache load)."""
    from tqdm import tqdm

    names = list(tasks(all_modes=all_modes, gpu=gpu))
    jobs = max(1, jobs or os.cpu_count() or 1)
    times: dict[str, float] = {}
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no state shared with the caller
    with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = [pool.submit(_run_one, n, all_modes, gpu) for n in names]
        with tqdm(total=len(futures), desc="floatsim warmup", unit="kernel", disable=not progress) as bar:
            for fut in cf.as_completed(futures):
                name, secs = fut.result()
                times[name] = secs
                bar.set_postfix_str(f"{name}: {secs:.1f} s")
                bar.update()
    return times


def clean() -> list[str]:
    """Remove the cache folders of other source keys (older floatsim sources);
    returns the folders removed."""
    from .cache import cache_root, source_key

    root = cache_root()
    gone = []
    if root.is_dir():
        for d in root.iterdir():
            if d.is_dir() and d.name != source_key():
                shutil.rmtree(d, ignore_errors=True)
                gone.append(str(d))
    return gone
