#!/usr/bin/env python
"""floatsim_torch's ops against the core's own calls and torch's casts, in one run.

CPU (default)::

    python bench/torch_ops.py [--size 24] [--repeats 7] [--no-compile] [--markdown FILE]

On ``2**size`` float32 values (``standard_normal * 4``; MX / NVFP4 on a
``2**(size//2)``-row view, blocks along the last axis) it times, median of
``--repeats`` calls after a warm-up (the four calls of a row taken in turn, so
that their ratios compare calls made under the same load), in Melem/s:

* ``floatsim_torch.quantize`` (and ``blocks.quantize``) on the tensor, with a
  new result and with ``out=``;
* the core's call on the same memory as numpy (``fs.quantize(x.numpy(), ...)``,
  with and without ``out=``): the torch op should keep >= 0.9 of it;
* torch's own ``x.to(torch.float8_e4m3fn).to(torch.float32)``: the op should
  be >= 3x faster at e4m3;

and, on a small tensor (``--small``, default 2**10 elements), the host time
per call (the least of several runs of back-to-back calls) of the op eager and
under ``torch.compile``, the core's numpy call and torch's float8 round trip
eager and compiled.  Every op result is checked bit for bit against the
core's before it is timed.

GPU (``--gpu``, on a CUDA machine with torch)::

    python bench/torch_ops.py --gpu [--n-log2 26] [--markdown FILE]

On ``2**n_log2`` float32 values on the current device, with CUDA events (the
median of Triton's ``do_bench`` where Triton is there): device-to-device copy
(the floor); torch's float8 round trip eager and compiled; the core's
``fs.quantize(cuda_tensor, ...)`` against ``floatsim_torch.quantize`` on the
same tensor (e4m3 nearest-even and SR, e2m1; goal: within 5%);
``floatsim_torch.blocks.quantize`` MXFP8 / NVFP4 against the core's call and
against torchao's ``MXTensor.to_mx`` / ``NVFP4Tensor.to_nvfp4`` + dequantize,
eager and compiled (rows say n/a without torchao); and host time per call on a
small tensor (the op eager and compiled against torch's float8 round trip
eager and compiled: goal within 1.5x).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

import floatsim as fs  # noqa: E402
import floatsim_torch as ft  # noqa: E402

LINES: list[str] = []  # the Markdown report
F8 = torch.float8_e4m3fn


def say(line: str = "") -> None:
    print(line, flush=True)
    LINES.append(line)


def why(e: BaseException, limit: int = 100) -> str:
    msg = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]}".replace("|", "/")
    return msg if len(msg) <= limit else msg[: limit - 1] + "…"


def same_bits(a: Any, b: Any) -> bool:
    ta = a if isinstance(a, torch.Tensor) else torch.from_numpy(np.asarray(a))
    tb = b if isinstance(b, torch.Tensor) else torch.from_numpy(np.asarray(b))
    ta, tb = ta.detach().to(tb.device).contiguous(), tb.detach().contiguous()
    raw = {8: torch.int64, 4: torch.int32, 2: torch.int16, 1: torch.uint8}[ta.element_size()]
    return ta.shape == tb.shape and ta.dtype == tb.dtype and torch.equal(ta.view(raw), tb.view(raw))


def host_per_call(fn: Callable[[], Any], n: int = 300, rounds: int = 7,
                  sync: Callable[[], None] = lambda: None) -> float:
    """Host seconds per back-to-back call: the least of ``rounds`` runs of
    ``n`` calls (other processes only ever add time)."""
    for _ in range(20):
        fn()
    best = float("inf")
    for _ in range(rounds):
        sync()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    sync()
    return best / n


def compiled(fn: Callable[..., Any]) -> Callable[..., Any]:
    return torch.compile(fn, fullgraph=True)


# ---- CPU ---------------------------------------------------------------------------------


def cpu_time(fn: Callable[[], Any], repeats: int) -> float:
    return paired_times([fn], repeats)[0]


def paired_times(fns: list[Callable[[], Any]], repeats: int) -> list[float]:
    """Median seconds per call of each of ``fns``, called in turn ``repeats``
    times: a ratio of two of them compares calls made under the same load
    (timed one after the other, a loaded machine's swings went into the
    ratios: 0.39-1.17 for the same two calls)."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def cpu(a: argparse.Namespace) -> None:
    torch.set_num_threads(os.cpu_count() or 1)
    n = 1 << a.size
    xn = np.random.default_rng(0).standard_normal(n, dtype=np.float32) * 4
    x = torch.from_numpy(xn)
    rows = 1 << (a.size // 2)
    x2, xn2 = x.view(rows, -1), xn.reshape(rows, -1)
    out, outn = torch.empty_like(x), np.empty_like(xn)
    say(f"## floatsim_torch on the CPU: 2**{a.size} float32, median of {a.repeats} "
        f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__}, {datetime.date.today()})")
    say()
    say("| cast | core (numpy) Melem/s | floatsim_torch Melem/s | torch/core | core out= | "
        "torch out= | torch/core out= | vs torch float8 |")
    say("|---|---|---|---|---|---|---|---|")
    t_f8 = cpu_time(lambda: x.to(F8).to(torch.float32), a.repeats)
    cases = [
        ("e4m3 nearest-even", lambda **o: fs.quantize(xn, "e4m3", **o),
         lambda **o: ft.quantize(x, "e4m3", **o), True),
        ("e4m3 SR (seed)", lambda **o: fs.quantize(xn, "e4m3", "sr", seed=1, **o),
         lambda **o: ft.quantize(x, "e4m3", "sr", seed=1, **o), True),
        ("e2m1 nearest-even", lambda **o: fs.quantize(xn, "e2m1", **o),
         lambda **o: ft.quantize(x, "e2m1", **o), False),
        ("MXFP8 e4m3", lambda **o: fs.blocks.quantize(xn2, "mxfp8_e4m3", **o),
         lambda **o: ft.blocks.quantize(x2, "mxfp8_e4m3", **o), False),
        ("NVFP4", lambda **o: fs.blocks.quantize(xn2, "nvfp4", **o),
         lambda **o: ft.blocks.quantize(x2, "nvfp4", **o), False),
    ]
    for name, core_fn, op_fn, vs_f8 in cases:
        shaped_out = out.view(x2.shape) if "MX" in name or "NV" in name else out
        shaped_outn = outn.reshape(xn2.shape) if "MX" in name or "NV" in name else outn
        if not same_bits(op_fn(), core_fn()) or not same_bits(op_fn(out=shaped_out), core_fn()):
            say(f"| {name} | ✗ differs from the core: not timed | | | | | | |")
            continue
        tc, to, tco, too = paired_times([core_fn, op_fn,
                                         lambda f=core_fn, o=shaped_outn: f(out=o),
                                         lambda f=op_fn, o=shaped_out: f(out=o)], a.repeats)
        f8 = f"{t_f8 / to:.2f}x" if vs_f8 else ""
        say(f"| {name} | {n / tc / 1e6:.0f} | {n / to / 1e6:.0f} | {tc / to:.2f} | "
            f"{n / tco / 1e6:.0f} | {n / too / 1e6:.0f} | {tco / too:.2f} | {f8} |")
    say(f"| torch x.to(float8_e4m3fn).to(float32) | | {n / t_f8 / 1e6:.0f} | | | | | 1.00x |")
    say()
    small(a, torch.device("cpu"), lambda: None)


def small(a: argparse.Namespace, dev: torch.device, sync: Callable[[], None]) -> None:
    """Host time per call on a small tensor, eager and compiled."""
    xs = torch.randn(a.small, device=dev) * 4
    xs2 = xs.view(-1, 32)
    say(f"Host time per call, {a.small} float32 elements on {dev.type} (least of 7 runs of "
        "back-to-back calls, us):")
    say()
    say("| call | eager | torch.compile |")
    say("|---|---|---|")
    entries: list[tuple[str, Callable[..., Any], Any, bool]] = [
        ("torch x.to(float8_e4m3fn).to(float32)", lambda t: t.to(F8).to(torch.float32), xs, True),
        ("floatsim_torch.quantize e4m3", lambda t: ft.quantize(t, "e4m3"), xs, True),
        ("floatsim_torch.quantize e4m3 SR", lambda t: ft.quantize(t, "e4m3", "sr", seed=1), xs, True),
        ("floatsim_torch.blocks.quantize mxfp8", lambda t: ft.blocks.quantize(t, "mxfp8"), xs2, True),
        ("fs.quantize e4m3 (the core)", lambda t: fs.quantize(t if t.is_cuda else t.numpy(), "e4m3"),
         xs, False),
    ]
    for name, fn, arg, can_compile in entries:
        eager = host_per_call(lambda fn=fn, arg=arg: fn(arg), sync=sync)
        comp = "—"
        if can_compile and not a.no_compile:
            try:
                cf = compiled(fn)
                comp = f"{host_per_call(lambda cf=cf, arg=arg: cf(arg), sync=sync) * 1e6:.1f}"
            except Exception as e:  # noqa: BLE001 - a row that cannot compile says why
                comp = f"n/a: {why(e)}"
        say(f"| {name} | {eager * 1e6:.1f} | {comp} |")
    say()


# ---- GPU ---------------------------------------------------------------------------------


def gpu_time(fn: Callable[[], Any]) -> float:
    """Median seconds per call by CUDA events: bench/gpu_cast.py's timer."""
    sys.path.insert(0, str(REPO / "bench"))
    from gpu_cast import bench

    return bench(fn)


def gpu_row(name: str, fn: Callable[[], Any], ref: Any = None, base: float | None = None,
            floor: float | None = None, peer: bool = False) -> float | None:
    try:
        y = fn()
        torch.cuda.synchronize()
        note = ""
        if ref is not None:
            if same_bits(y, ref):
                note = "same bits as floatsim" if peer else ""
            elif peer:  # a peer with its own arithmetic: how far from floatsim
                g, w = y.float().reshape(-1), ref.float().reshape(-1)
                bad = int(((g != w) & ~(g.isnan() & w.isnan())).sum())
                err = ((g - w).abs() / w.abs().clamp_min(1e-30)).nan_to_num().max()
                note = f"{bad} of {w.numel()} differ from floatsim (max rel diff {float(err):.1e})"
            else:
                note = "✗ differs from the core"
        del y
        t = gpu_time(fn)
    except Exception as e:  # noqa: BLE001 - one row's failure must not hide the others
        say(f"| {name} | n/a: {why(e)} | | | |")
        return None
    rel = f"{base / t:.3f}" if base else ""
    cp = f"{floor / t:.2f}" if floor else ""
    say(f"| {name} | {t * 1e6:.1f} | {cp} | {rel} | {note} |")
    return t


def gpu(a: argparse.Namespace) -> None:
    dev = torch.device("cuda")
    n = 1 << a.n_log2
    gen = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(n, device=dev, generator=gen) * 4
    rows = 1 << (a.n_log2 // 2)
    x2 = x.view(rows, -1)
    y = torch.empty_like(x)
    say(f"## floatsim_torch on {torch.cuda.get_device_name()}: 2**{a.n_log2} float32 "
        f"(torch {torch.__version__}, {datetime.datetime.now():%Y-%m-%d %H:%M})")
    say()
    say("| call | us | copy time / time | core time / time | note |")
    say("|---|---|---|---|---|")
    t_copy = gpu_row("copy (device to device)", lambda: y.copy_(x))
    gpu_row("torch float8_e4m3fn round trip (eager)", lambda: x.to(F8).to(torch.float32), floor=t_copy)
    if not a.no_compile:
        f8c = compiled(lambda t: t.to(F8).to(torch.float32))
        gpu_row("torch float8_e4m3fn round trip (compiled)", lambda: f8c(x), floor=t_copy)
    for fmt, mode, kw in (("e4m3", "rne", {}), ("e4m3", "sr", {"seed": 1}), ("e2m1", "rne", {})):
        ref = fs.quantize(x, fmt, mode, **kw)
        tc = gpu_row(f"fs.quantize {fmt} {mode} (core)", lambda fmt=fmt, mode=mode, kw=kw:
                     fs.quantize(x, fmt, mode, **kw), floor=t_copy)
        gpu_row(f"floatsim_torch.quantize {fmt} {mode}", lambda fmt=fmt, mode=mode, kw=kw:
                ft.quantize(x, fmt, mode, **kw), ref=ref, base=tc, floor=t_copy)
        if not a.no_compile:
            cq = compiled(lambda t, fmt=fmt, mode=mode, kw=kw: ft.quantize(t, fmt, mode, **kw))
            gpu_row(f"floatsim_torch.quantize {fmt} {mode} (compiled)", lambda cq=cq: cq(x),
                    ref=ref, base=tc, floor=t_copy)
    for bname in ("mxfp8_e4m3", "nvfp4"):
        ref = fs.blocks.quantize(x2, bname)
        tc = gpu_row(f"fs.blocks.quantize {bname} (core)", lambda b=bname: fs.blocks.quantize(x2, b),
                     floor=t_copy)
        gpu_row(f"floatsim_torch.blocks.quantize {bname}", lambda b=bname: ft.blocks.quantize(x2, b),
                ref=ref, base=tc, floor=t_copy)
        if not a.no_compile:
            cb = compiled(lambda t, b=bname: ft.blocks.quantize(t, b))
            gpu_row(f"floatsim_torch.blocks.quantize {bname} (compiled)", lambda cb=cb: cb(x2),
                    ref=ref, base=tc, floor=t_copy)
        torchao_rows(bname, x2, ref, tc, t_copy, a.no_compile)
    say()
    small(a, dev, torch.cuda.synchronize)


def torchao_rows(bname: str, x2: torch.Tensor, ref: torch.Tensor, tc: float | None,
                 t_copy: float | None, no_compile: bool) -> None:
    """torchao's quantize + dequantize of the same format (rows n/a without torchao)."""
    try:
        if bname == "nvfp4":
            from torchao.prototype.mx_formats.nvfp4_tensor import (
                NVFP4Tensor,
                per_tensor_amax_to_scale,
            )

            def peer(t: torch.Tensor) -> torch.Tensor:
                pts = per_tensor_amax_to_scale(t.abs().max())
                return _dequantize(NVFP4Tensor.to_nvfp4(t, per_tensor_scale=pts))
            label = "torchao NVFP4Tensor.to_nvfp4 + dequantize"
        else:
            from torchao.prototype.mx_formats.mx_tensor import MXTensor

            def peer(t: torch.Tensor) -> torch.Tensor:
                return _dequantize(MXTensor.to_mx(t, F8, 32))
            label = "torchao MXTensor.to_mx + dequantize"
    except Exception as e:  # noqa: BLE001
        say(f"| torchao {bname} | n/a: {why(e)} | | | |")
        return
    gpu_row(f"{label} (eager)", lambda: peer(x2), ref=ref, base=tc, floor=t_copy, peer=True)
    if not no_compile:
        pc = torch.compile(peer)  # torchao's own graph breaks are its business: not fullgraph
        gpu_row(f"{label} (compiled)", lambda: pc(x2), ref=ref, base=tc, floor=t_copy, peer=True)


def _dequantize(t: Any) -> torch.Tensor:
    """A torchao tensor subclass back to float32 (``dequantize`` in newer
    releases, ``to_dtype`` in older ones)."""
    deq = getattr(t, "dequantize", None)
    return deq(torch.float32) if deq is not None else t.to_dtype(torch.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpu", action="store_true", help="the GPU part (needs CUDA)")
    ap.add_argument("--size", type=int, default=24, help="CPU: log2 of the element count")
    ap.add_argument("--n-log2", type=int, default=26, help="GPU: log2 of the element count")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--small", type=int, default=1024, help="elements of the host-time rows")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    ap.add_argument("--markdown", type=Path, help="also write the report here")
    a = ap.parse_args()
    if a.gpu:
        if not torch.cuda.is_available():
            ap.error("--gpu needs a CUDA device")
        gpu(a)
    else:
        cpu(a)
    if a.markdown:
        a.markdown.parent.mkdir(parents=True, exist_ok=True)
        a.markdown.write_text("\n".join(LINES) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
