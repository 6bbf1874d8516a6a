"""GPU element-wise cast benchmark: floatsim's CUDA kernels against the copy floor,
torch's hardware casts and the peers, in one run.

Run on a machine with a CUDA GPU and torch::

    python bench/gpu_cast.py [--n-log2 26] [--out bench/results/gpu_cast.md]

For 2**n float32 elements (default 2**26) it times, with CUDA events
(``triton.testing.do_bench`` median when Triton is there, which also flushes
the L2 between runs):

* a device-to-device copy (``y.copy_(x)``): the floor;
* torch's cast to float8 and back (``x.to(torch.float8_e4m3fn).to(x.dtype)``,
  float8_e5m2), eager and under ``torch.compile`` (one fused kernel);
* floatsim ``quantize`` (nearest-even and seeded SR; e4m3, e2m1, bf16)
  through the public API on torch tensors, ``encode`` and ``decode``;
* the peers where installed (qtorch ``float_quantize``, torchao ``to_mx``,
  microxcaling, pychop): "n/a" otherwise;
* launch overhead: host time per call of a 1-element cast, back to back.

Bytes are counted as the data a cast must move (4 bytes read and 4 written
per element for a float32 fake-quantization, whatever a peer moves
internally), GB/s = bytes / time.  Ratios: copy time / time (1.0 = copy
speed) and torch cast time / time for the same format.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import floatsim as fs  # noqa: E402

ROWS: list[tuple[str, float | None, int, str]] = []  # (name, seconds or None, bytes/elem, note)


def bench(fn, warmup: int = 5, reps: int = 30) -> float:  # noqa: ANN001
    """Median seconds per call."""
    try:
        from triton.testing import do_bench

        return do_bench(fn, warmup=25, rep=200, return_mode="median") / 1e3
    except ImportError:
        pass
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
    return statistics.median(times)


def add(name: str, fn, nbytes: int, note: str = "") -> float | None:  # noqa: ANN001
    try:
        fn()
        torch.cuda.synchronize()
        t = bench(fn)
    except Exception as e:  # noqa: BLE001
        ROWS.append((name, None, nbytes, f"n/a: {type(e).__name__}: {str(e).splitlines()[0][:70]}"))
        print(f"{name:44s} n/a ({e})", flush=True)
        return None
    ROWS.append((name, t, nbytes, note))
    print(f"{name:44s} {t * 1e6:9.1f} us", flush=True)
    return t


def launch_overhead(fn, n: int = 2000) -> float:  # noqa: ANN001
    """Host seconds per back-to-back call (the GPU work is one tiny kernel)."""
    for _ in range(50):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    t1 = time.perf_counter()
    torch.cuda.synchronize()
    return (t1 - t0) / n


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-log2", type=int, default=26)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    n = 1 << a.n_log2
    dev = torch.device("cuda")
    gen = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(n, device=dev, generator=gen) * 4
    y = torch.empty_like(x)
    xb = x.to(torch.bfloat16)
    print(f"{torch.cuda.get_device_name()}, n = 2**{a.n_log2}", flush=True)

    t_copy = add("copy (device to device)", lambda: y.copy_(x), 8)
    torch_t: dict[str, float | None] = {}
    for nm, dt in (("e4m3", torch.float8_e4m3fn), ("e5m2", torch.float8_e5m2)):
        torch_t[nm] = add(f"torch cast {nm} and back (eager)", lambda dt=dt: x.to(dt).to(torch.float32), 8,
                          "two kernels, 10 B/elem moved")
    for nm, dt in (("e4m3", torch.float8_e4m3fn),):
        try:
            comp = torch.compile(lambda t, dt=dt: t.to(dt).to(torch.float32))
            add(f"torch cast {nm} and back (torch.compile)", lambda comp=comp: comp(x), 8, "one fused Triton kernel")
        except Exception as e:  # noqa: BLE001
            ROWS.append((f"torch cast {nm} and back (torch.compile)", None, 8, f"n/a: {e}"))

    fsq: dict[str, float | None] = {}
    for fmt in ("e4m3", "e2m1", "bf16"):
        for mode, kw in (("rne", {}), ("sr", {"seed": 1})):
            fsq[f"{fmt} {mode}"] = add(f"floatsim quantize {fmt} {mode}",
                                       lambda fmt=fmt, mode=mode, kw=kw: fs.quantize(x, fmt, mode, **kw), 8)
    add("floatsim quantize e4m3 sr, sr_bits=8", lambda: fs.quantize(x, "e4m3", "sr", seed=1, sr_bits=8), 8)
    add("floatsim quantize e4m3 rne, bf16 in/out", lambda: fs.quantize(xb, "e4m3"), 4)
    add("floatsim quantize e4m3 rne, float64 in/out", lambda: fs.quantize(x.double(), "e4m3"), 16,
        "general path (includes torch's .double())")
    codes = fs.encode(x, "e4m3")
    add("floatsim encode e4m3 (f32 -> u8)", lambda: fs.encode(x, "e4m3"), 5, "general path")
    add("floatsim decode e4m3 (u8 -> f32)", lambda: fs.decode(codes, "e4m3"), 5)

    # peers
    try:
        from qtorch.quant import float_quantize

        add("qtorch float_quantize e4m3 nearest", lambda: float_quantize(x, exp=4, man=3, rounding="nearest"), 8)
        add("qtorch float_quantize e4m3 stochastic", lambda: float_quantize(x, exp=4, man=3, rounding="stochastic"), 8)
    except Exception as e:  # noqa: BLE001
        ROWS.append(("qtorch float_quantize", None, 8, f"n/a: {type(e).__name__}"))
    try:
        from torchao.prototype.mx_formats.mx_tensor import to_mx

        add("torchao to_mx mxfp8_e4m3 (eager)", lambda: to_mx(x.view(-1, 32), torch.float8_e4m3fn, 32), 8)
    except Exception as e:  # noqa: BLE001
        ROWS.append(("torchao to_mx", None, 8, f"n/a: {type(e).__name__}"))
    for mod in ("mx", "pychop"):
        try:
            __import__(mod)
            ROWS.append((mod, None, 8, "installed; not wired into this benchmark"))
        except Exception as e:  # noqa: BLE001
            ROWS.append((mod + (" (microxcaling)" if mod == "mx" else ""), None, 8, f"n/a: {type(e).__name__}"))

    # launch configuration sweep (threads per block x block cap per SM), floatsim e4m3
    from floatsim.kernels import cuda as K

    sweep = []
    saved = dict(K.LAUNCH)
    for threads in (128, 256, 512):
        for bps in (4, 8, 16, 32):
            K.LAUNCH.update(threads=threads, blocks_per_sm=bps)
            t_rne = bench(lambda: fs.quantize(x, "e4m3"))
            t_sr = bench(lambda: fs.quantize(x, "e4m3", "sr", seed=1))
            sweep.append((threads, bps, t_rne, t_sr))
            print(f"launch threads={threads} blocks/SM={bps}: rne {t_rne * 1e6:.1f} us, sr {t_sr * 1e6:.1f} us", flush=True)
    K.LAUNCH.clear()
    K.LAUNCH.update(saved)

    # launch overhead
    one = torch.ones(1, device=dev)
    ovh = {
        "floatsim quantize e4m3 rne, 1 element": launch_overhead(lambda: fs.quantize(one, "e4m3")),
        "floatsim quantize e4m3 sr, 1 element": launch_overhead(lambda: fs.quantize(one, "e4m3", "sr", seed=1)),
        "torch cast e4m3 and back, 1 element": launch_overhead(lambda: one.to(torch.float8_e4m3fn).to(torch.float32)),
        "torch copy_, 1 element": launch_overhead(lambda: y[:1].copy_(one)),
    }

    # where a small call's host time goes (floatsim's dispatch, step by step)
    from floatsim import cuda_dispatch as D

    call = D._call(one, "e4m3", "nearest_even", None, None, False, None, 0, None, None)[1]
    src = D._import(one, "x")
    stream, _ = D._stream_for(None, src)
    obj, outr = D._empty(src, (1,), src.dtype, stream)
    kern = K.quantize32_kernel(0, K.K_F32, K.K_F32, 0)
    consts, rb = K.consts_tuple(call), K.dummy_words()
    xr, of = D._flat(src.arr, stream), outr.reshape(1)
    steps = {
        "is_device_array": lambda: D.is_device_array(one),
        "_import (torch -> numba view)": lambda: D._import(one, "x"),
        "_call (validation, stand-in _Call)": lambda: D._call(one, "e4m3", "nearest_even", None, None, False, None, 0, None, None),
        "_stream_for": lambda: D._stream_for(None, src),
        "_empty (torch.empty + view)": lambda: D._empty(src, (1,), src.dtype, stream),
        "_flat": lambda: D._flat(src.arr, stream),
        "consts_tuple": lambda: K.consts_tuple(call),
        "K.launch (numba kernel launch)": lambda: K.launch(kern, 1, stream, xr, of, consts, 0, 0, 0, 0, rb),
        "kern[1, 256, stream](...)": lambda: kern[1, 256, stream](xr, of, consts, 0, 0, 0, 0, rb),
        "cuda.get_current_device()": lambda: __import__("numba").cuda.get_current_device(),
    }
    for k, fn in steps.items():
        ovh[f"  step: {k}"] = launch_overhead(fn, n=500)
    try:
        import cProfile
        import io
        import pstats

        pr = cProfile.Profile()
        pr.enable()
        for _ in range(300):
            fs.quantize(one, "e4m3")
        pr.disable()
        buf = io.StringIO()
        pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(30)
        if a.out:
            (a.out.parent / "overhead_profile.txt").write_text(buf.getvalue())
        print(buf.getvalue()[:6000])
    except Exception as e:  # noqa: BLE001
        print("profile failed", e)

    # table
    lines = [
        "# GPU element-wise cast benchmark",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
        f"- device: {torch.cuda.get_device_name()} ({torch.cuda.get_device_properties(0).multi_processor_count} SMs)",
        f"- software: python {platform.python_version()}, torch {torch.__version__}, "
        f"numba {__import__('numba').__version__}, numba-cuda {__import__('numba_cuda').__version__}",
        f"- command: `python bench/gpu_cast.py --n-log2 {a.n_log2}`",
        f"- n = 2**{a.n_log2} float32 elements; time = median (triton do_bench, L2 flushed); "
        "GB/s counts the bytes the cast must move (float32: 4 read + 4 written)",
        "",
        "| what | time (us) | Gelem/s | GB/s | vs copy | vs torch cast | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, t, nb, note in ROWS:
        if t is None:
            lines.append(f"| {name} | n/a | | | | | {note} |")
            continue
        fmt = next((f for f in ("e4m3", "e5m2") if f in name), None)
        tt = torch_t.get(fmt) if fmt and "floatsim quantize" in name and "in/out" not in name else None
        lines.append(
            f"| {name} | {t * 1e6:.1f} | {n / t / 1e9:.1f} | {n * nb / t / 1e9:.0f} | "
            f"{(t_copy / t if t_copy else float('nan')):.2f} | {(tt / t if tt else float('nan')):.2f} | {note} |"
        )
    lines += ["", "Launch overhead (host time per call, back to back, 1-element tensors):", "",
              "| call | us per call |", "|---|---:|"]
    lines += [f"| {k} | {v * 1e6:.1f} |" for k, v in ovh.items()]
    lines += ["", "Launch configuration (floatsim e4m3, time in us; the default is "
              f"{saved['threads']} threads, at most {saved['blocks_per_sm']} blocks per SM):", "",
              "| threads/block | max blocks/SM | rne | sr |", "|---:|---:|---:|---:|"]
    lines += [f"| {t} | {b} | {r * 1e6:.1f} | {q * 1e6:.1f} |" for t, b, r, q in sweep]
    text = "\n".join(lines)
    print("\n" + text)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
