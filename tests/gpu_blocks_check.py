"""Block formats on a real GPU: torch CUDA tensors through fs.blocks.quantize /
encode, bit for bit against the CPU path.

Not collected by pytest (no GPU in CI); run on a machine with one::

    python tests/gpu_blocks_check.py [--n 4000000] [--quick] [--out gpu_blocks_check.md]

For every named block format (and a few built ones: other rules, whole-axis
scaling, NaN-less scale types) it draws a few million elements (rows of
normal data across many binades, rows of random float32 bit patterns with
NaN / inf / subnormals, zero rows, rows near float32's limits), runs
quantize and encode on the GPU (torch tensors: the result must be torch
tensors on the same device) and on the CPU, and compares every bit: values,
element codes, scale codes, tensor scales and zero points.  Rounding modes:
nearest even and seeded stochastic rounding for every format, all seven for
MXFP8 and NVFP4; input dtypes float32, bfloat16 and float64; layouts along
the last axis, along axis 0, 16x16 tiles.  Prints one OK / FAIL line per
comparison with the GPU time (after a warm-up; the first call's compile time
is printed separately), then a summary, and writes them to ``--out``.
Exit status 1 if anything differs.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import floatsim as fs  # noqa: E402

try:
    import ml_dtypes

    BF16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover
    BF16 = None

LINES: list[str] = []
FAILED: list[str] = []


def log(msg: str) -> None:
    print(msg, flush=True)
    LINES.append(msg)


def to_np(y: object) -> np.ndarray:
    """A torch CUDA result on the host, as numpy (bfloat16 / uint16+ through int views)."""
    import torch

    if not isinstance(y, torch.Tensor):
        raise TypeError(f"result is a {type(y).__name__}, not a torch.Tensor")
    if not y.is_cuda:
        raise TypeError("result is not on the GPU")
    if y.dtype == torch.bfloat16:
        return y.view(torch.int16).cpu().numpy().view(BF16)
    wide = {getattr(torch, f"uint{b}", None): (getattr(torch, f"int{b}"), f"u{b // 8}") for b in (16, 32, 64)}
    if y.dtype in wide:
        signed, np_dt = wide[y.dtype]
        return y.view(signed).cpu().numpy().view(np_dt)
    return y.cpu().numpy()


def to_torch(x: np.ndarray):  # noqa: ANN201
    import torch

    if x.dtype == BF16:
        return torch.from_numpy(x.view(np.int16)).cuda().view(torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(x)).cuda()


def ubits(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    return a.view(f"u{a.dtype.itemsize}") if a.dtype.kind == "f" or a.dtype == BF16 else a


def data(n: int, dtype: np.dtype, seed: int, width: int = 1024) -> np.ndarray:
    """(n / width, width) values: mostly normal data scaled per row over many
    binades; some rows of random float32 bit patterns (NaN, inf, subnormals),
    zero rows, rows near float32's largest and smallest values."""
    rng = np.random.default_rng(seed)
    r = max(n // width, 8)
    x = rng.standard_normal((r, width)) * np.exp2(rng.integers(-20, 20, (r, 1)))
    kind = rng.integers(0, 16, r)
    bits = rng.integers(0, 2**32, (r, width), dtype=np.uint64).astype(np.uint32).view(np.float32)
    x = np.where((kind == 0)[:, None], bits.astype(np.float64), x)
    x[kind == 1] = 0.0
    x[kind == 2] *= 2.0**100
    x[kind == 3] *= 2.0**-120
    x[kind == 4] = np.where(rng.random((int((kind == 4).sum()), width)) < 0.01, np.inf, x[kind == 4])
    with np.errstate(over="ignore", invalid="ignore"):
        return x.astype(dtype)


def compare(label: str, gpu: object, ref: object, seconds: float) -> None:
    gs = gpu if isinstance(gpu, tuple) else (gpu,)
    rs = ref if isinstance(ref, tuple) else (ref,)
    if len(gs) != len(rs):
        FAILED.append(label)
        log(f"FAIL {label}: {len(gs)} results, CPU {len(rs)}")
        return
    bad, total, note = 0, 0, ""
    for i, (g, r) in enumerate(zip(gs, rs)):
        g = to_np(g)
        r = np.asarray(r, dtype=np.float64) if isinstance(r, float) else np.asarray(r)
        total += r.size
        if g.shape != r.shape or g.dtype != r.dtype:
            bad += r.size
            note += f" [{i}] {g.dtype}{g.shape} vs {r.dtype}{r.shape}"
            continue
        diff = ubits(g) != ubits(r)
        if diff.any():
            k = np.flatnonzero(diff.reshape(-1))
            bad += k.size
            note += f" [{i}] first at {list(k[:3])}: gpu {ubits(g).reshape(-1)[k[:3]]} cpu {ubits(r).reshape(-1)[k[:3]]}"
    if bad:
        FAILED.append(label)
    log(f"{'OK  ' if bad == 0 else 'FAIL'} {label:58s} {total:>11,d} compared, {bad:,d} differ, "
        f"GPU {seconds * 1e3:8.2f} ms{note}")


def run(label: str, op: str, x: np.ndarray, bfmt: object, numba: bool = False, **kw: object) -> None:
    """Compare ``op`` on the GPU with the CPU; ``numba``: pass a Numba device
    array, which takes the general dispatch (torch tensors may take the
    per-call fast path of gpu/plans.py)."""
    import torch

    f = getattr(fs.blocks, op)
    try:
        ref = f(x, bfmt, **kw)
        xd = to_torch(x)
        if numba:
            from numba import cuda

            xd = cuda.as_cuda_array(xd)
            f = (lambda g: lambda *a, **k: torch.as_tensor(g(*a, **k), device="cuda"))(f)
        t0 = time.perf_counter()
        got = f(xd, bfmt, **kw)
        torch.cuda.synchronize()
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        got = f(xd, bfmt, **kw)
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        if first > 1.0:
            log(f"     (first call {first:.1f} s: compile)")
        compare(f"{op} {label}", got, ref, dt)
    except Exception as e:  # noqa: BLE001 - report and go on
        FAILED.append(f"{op} {label}")
        log(f"FAIL {op} {label}: {type(e).__name__}: {e}")
        traceback.print_exc()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=4_000_000, help="elements per comparison")
    ap.add_argument("--quick", action="store_true", help="fewer formats and modes")
    ap.add_argument("--out", type=Path, default=None, help="write the lines here too")
    ap.add_argument("--parts", default="formats,dtypes,layouts",
                    help="comma-separated: formats (every named format, float32), dtypes "
                         "(bfloat16, float64), layouts (other axes, rules, whole axes)")
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU")
        return 1
    log(f"# fs.blocks on {torch.cuda.get_device_name()}: GPU vs CPU, {args.n:,d} elements each")
    n = args.n
    x32 = data(n, np.dtype(np.float32), 1)
    SR = fs.Rounding.STOCHASTIC
    all_modes = list(fs.Rounding)
    parts = set(args.parts.split(","))
    names = fs.blocks.names()[: -3] if "formats" in parts else []  # without the aliases
    if args.quick and names:
        names = ["mxfp8_e4m3", "mxfp4_e2m1", "nvfp4", "nvfp4_4over6", "int4_asym"]
    for name in names:
        modes = all_modes if name in ("mxfp8_e4m3", "nvfp4") else [fs.Rounding.NEAREST_EVEN, SR]
        axis = (0, 1) if name == "nvfp4_16x16" else -1
        for mode in modes:
            kw = {"seed": 7} if mode is SR else {}
            run(f"{name} f32 {mode.name}", "quantize", x32, name, rounding=mode, axis=axis, **kw)
        run(f"{name} f32 SR", "encode", x32, name, rounding=SR, seed=3, axis=axis)
        run(f"{name} f32", "encode", x32, name, axis=axis)
    if BF16 is not None and "dtypes" in parts:
        xb = data(n, BF16, 2)
        for name in ("mxfp8_e4m3", "mxfp4_e2m1", "nvfp4"):
            run(f"{name} bf16", "quantize", xb, name)
            run(f"{name} bf16 -> f32 SR", "quantize", xb, name, rounding=SR, seed=1, out_dtype=np.float32)
            run(f"{name} bf16", "encode", xb, name)
    if "dtypes" in parts:
        x64 = data(n // 2, np.dtype(np.float64), 3)
        for name in ("mxfp8_e4m3", "nvfp4", "int8_sym"):
            run(f"{name} f64 SR (64-bit words)", "quantize", x64, name, rounding=SR, seed=5)
            run(f"{name} f64", "encode", x64, name)
    if "layouts" in parts:
        run("mxfp8_e4m3 f32 axis=0", "quantize", x32, "mxfp8_e4m3", axis=0)
        run("nvfp4 f32 axis=0 SR", "encode", x32, "nvfp4", axis=0, rounding=SR, seed=2)
        mx = fs.blocks.format("mxfp4_e2m1")
        for rule in ("ceil", "even", "nearest", "rceil"):
            run(f"mxfp4 rule={rule}", "quantize", x32, mx.with_(rule=rule))
        run("per-tensor e4m3", "quantize", x32, fs.blocks.scaled("e4m3"), axis=None)
        run("per-tensor e4m3 e8m0 (pow2)", "quantize", x32, fs.blocks.scaled("e4m3", "e8m0", rule="floor"),
            axis=None, rounding=SR, seed=4)
        run("per-row e4m3", "encode", x32, fs.blocks.scaled("e4m3"), axis=-1)
        run("128x128 tiles e4m3", "quantize", x32, fs.blocks.scaled("e4m3").with_(block=(128, 128)),
            axis=(0, 1))
        run("e4m3 x e3m2 scale (no NaN)", "quantize", x32, fs.blocks.BlockFormat(
            element="e4m3", scale="e3m2", block=16))
        # the warp kernel (blocks_warp) through the general dispatch; per-call seeds on the fast path
        run("mxfp8_e4m3 f32 SR (numba array: general dispatch)", "quantize", x32, "mxfp8_e4m3", numba=True,
            rounding=SR, seed=7)
        run("mxfp4_e2m1 f32 SR seed 8 stream 5 (fast path, new seed)", "quantize", x32, "mxfp4_e2m1",
            rounding=SR, seed=8, stream=5)
        # a thread per block: rows that 32 does not divide, blocks of 2
        rows1000 = x32.reshape(-1)[: x32.size // 1000 * 1000].reshape(-1, 1000)
        run("mxfp8_e4m3 rows of 1000", "quantize", rows1000, "mxfp8_e4m3", rounding=SR, seed=1)
        run("mxfp4 block 2", "quantize", x32, mx.with_(block=2))
    log(f"\n{len(FAILED)} comparisons failed" + (": " + ", ".join(FAILED) if FAILED else ""))
    if args.out is not None:
        args.out.write_text("\n".join(LINES) + "\n")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
