"""A two-minute tour: what low-precision formats do to numbers.

``floatsim tour`` (or ``python -m floatsim.tour``) prints

1. the signal-to-quantization-noise ratio of element-wise FP8/FP6/FP4 casts
   and of MX block formats on Gaussian and heavy-tailed data: why block
   scaling exists;
2. a training-style accumulation (many small updates added to a weight held
   in a low-precision format): nearest rounding stalls, stochastic rounding
   tracks the float64 sum;
3. the speed of the CPU kernels on this machine.

``floatsim demo`` trains a model in emulated FP8/FP6/FP4 against FP32 with
the PyTorch adapter; this tour needs numpy and floatsim only.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from tqdm import tqdm

import floatsim as fs

ELEMENTWISE = ["float8_e4m3fn", "float8_e5m2", "float6_e3m2fn", "float6_e2m3fn", "float4_e2m1fn"]
BLOCKS = ["mxfp8_e4m3", "mxfp6_e3m2", "mxfp4_e2m1", "nvfp4"]


def sqnr_db(x: np.ndarray, y: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio in dB (inf when exact)."""
    noise = float(np.sum((x.astype(np.float64) - y) ** 2))
    signal = float(np.sum(x.astype(np.float64) ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(signal / noise)


def _scaled(x: np.ndarray, fmt: str) -> np.ndarray:
    """Per-tensor amax scaling into the format (what FP8 recipes do), then back."""
    f = fs.format(fmt)
    amax = float(np.max(np.abs(x)))
    s = np.float32(f.max / amax)
    return fs.quantize(x * s, f, overflow="saturate") / s


def format_table(n: int, rng: np.random.Generator) -> None:
    data = {
        "gaussian": rng.standard_normal((n // 1024, 1024)).astype(np.float32),
        "heavy-tailed (t, 2 dof)": rng.standard_t(2, (n // 1024, 1024)).astype(np.float32),
    }
    rows: list[tuple[str, list[str]]] = []
    names = ELEMENTWISE + [b for b in BLOCKS if _has_blocks()]
    for name in tqdm(names, desc="formats", leave=False):
        cells = []
        for x in data.values():
            if name in ELEMENTWISE:
                y = _scaled(x, name)
            else:
                y = fs.blocks.quantize(x, name, axis=-1)
            cells.append(f"{sqnr_db(x, y):7.1f}")
        rows.append((name, cells))
    print("\n1. SQNR in dB (higher is better); element-wise formats use one per-tensor")
    print("   amax scale, MX/NVFP4 one scale per block of 32/16 along the rows")
    header = f"   {'format':<16}" + "".join(f"{k:>26}" for k in data)
    print(header)
    for name, cells in rows:
        print(f"   {name:<16}" + "".join(f"{c:>26}" for c in cells))


def _has_blocks() -> bool:
    return hasattr(fs, "blocks")


def accumulation(steps: int, rng: np.random.Generator) -> None:
    """w += lr * g for many steps with w stored in bfloat16 / e5m2."""
    print(f"\n2. {steps} updates of size ~1e-3 added to a weight of 1.0 stored in a")
    print("   low-precision format (the weight is re-rounded after every step)")
    updates = (1e-3 * (1 + 0.5 * rng.standard_normal(steps))).astype(np.float32)
    exact = 1.0 + float(np.sum(updates.astype(np.float64)))
    print(f"   {'storage':<10}{'rounding':<16}{'final weight':>14}{'error':>12}")
    for fmt in ("bfloat16", "float16"):
        for mode, kw in (("nearest_even", {}), ("stochastic", {"seed": 0})):
            w = np.full(64, 1.0, np.float32)  # 64 independent replicas
            for i in tqdm(range(steps), desc=f"{fmt} {mode}", leave=False):
                kw_i = dict(kw, stream=i) if kw else {}
                w = fs.quantize(w + updates[i], fmt, mode, **kw_i)
            final = float(np.mean(w))
            print(f"   {fmt:<10}{mode:<16}{final:14.5f}{final - exact:12.5f}")
    print(f"   {'float64':<10}{'-':<16}{exact:14.5f}{0.0:12.5f}")


def speed(n: int, rng: np.random.Generator) -> None:
    x = rng.standard_normal(n).astype(np.float32)
    out = np.empty_like(x)
    print(f"\n3. Speed on this machine ({n:,} float32 elements, Melem/s; first call compiles)")
    cases = [("copy (memory floor)", lambda: np.copyto(out, x))]
    for name in ("float8_e4m3fn", "float4_e2m1fn", "bfloat16"):
        cases.append((f"quantize {name}", lambda f=name: fs.quantize(x, f, out=out)))
    cases.append(("quantize e4m3 SR", lambda: fs.quantize(x, "e4m3", "sr", seed=1, out=out)))
    if _has_blocks():
        x2 = x.reshape(-1, 1024)
        cases.append(("MXFP8 block quantize", lambda: fs.blocks.quantize(x2, "mxfp8_e4m3")))
        cases.append(("MXFP4 block quantize", lambda: fs.blocks.quantize(x2, "mxfp4_e2m1")))
    for label, fn in tqdm(cases, desc="timing", leave=False):
        fn()
        best = min(_timed(fn) for _ in range(5))
        print(f"   {label:<24}{n / best / 1e6:10.0f}")


def _timed(fn: object) -> float:
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    """Run the tour. ``--quick`` uses small sizes (for tests)."""
    ap = argparse.ArgumentParser(prog="floatsim tour", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    n = 1 << (14 if args.quick else 22)
    print(f"floatsim {fs.__version__}: emulated low-precision formats, bit-exact")
    format_table(n, rng)
    accumulation(200 if args.quick else 3000, rng)
    speed(n, rng)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
