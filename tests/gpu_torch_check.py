"""floatsim_torch's ops on CUDA tensors, against the CPU path, on a real GPU.

Not collected by pytest (no GPU in CI); run on a machine with one::

    python tests/gpu_torch_check.py [--out gpu_torch_check.md] [--no-compile]
    python tests/gpu_torch_check.py --device cpu      # the same checks on CPU tensors (a dry run)

For every CUDA device index (``cuda:0`` and, where present, ``cuda:1``, both
with that device current and with device 0 current), it checks bit for bit
against the core's CPU results on the same values:

* ``quantize`` / ``encode`` / ``decode`` for several formats, every rounding
  mode (SR seeded, several streams, k-bit), float32 / bfloat16 / float16 /
  float64 inputs, strided inputs, ``out=`` (dense and strided) and ``out_dtype=``;
  ``pack`` / ``unpack``;
* ``blocks.quantize`` / ``encode`` / ``decode`` for MXFP8, MXFP4, NVFP4 (1-D
  and 16x16 tiles), INT4 asymmetric, along both axes;
* gradients (straight-through, clipped, E5M2 SR gradients) equal to the CPU's;
* no host synchronisation (``torch.cuda.set_sync_debug_mode("error")``
  around the calls that take tensors only);
* ``torch.compile(fullgraph=True)`` equal to eager, forward and backward;
* CUDA graph capture and replay of quantize and blocks.quantize (fresh
  input each replay), and ``torch.compile(mode="reduce-overhead")``;
* a kernel on a side stream (``torch.cuda.stream``) gives the same bits.

Prints one line per check and a summary; exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import platform
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ml_dtypes  # noqa: E402
import torch  # noqa: E402

import floatsim as fs  # noqa: E402
import floatsim_torch as ft  # noqa: E402

RESULTS: list[tuple[str, str, str]] = []  # (check, where, "OK" or the failure)
BF16 = np.dtype(ml_dtypes.bfloat16)
DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)
MODES = [("rne", {}), ("rna", {}), ("rtz", {}), ("up", {}), ("down", {}), ("odd", {}),
         ("sr", {"seed": 5, "stream": 0}), ("sr", {"seed": 2**63 + 1, "stream": 2**32 - 1}),
         ("sr", {"seed": 7, "stream": 3, "sr_bits": 8})]


def host(t: torch.Tensor) -> np.ndarray:
    """A numpy copy of a tensor on any device (bfloat16 as ml_dtypes.bfloat16)."""
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().copy().view(BF16)
    return t.numpy().copy()


def raw(a: Any) -> np.ndarray:
    a = host(a) if isinstance(a, torch.Tensor) else np.asarray(a)
    a = np.require(a, requirements="C")
    return a.view(f"u{a.dtype.itemsize}")


def check(name: str, where: str, fn: Callable[[], Any]) -> None:
    """Run ``fn`` (it raises AssertionError on a mismatch) and record the outcome."""
    try:
        fn()
        RESULTS.append((name, where, "OK"))
        print(f"OK   {name:48s} {where}", flush=True)
    except Exception as e:  # noqa: BLE001 - every check reports, none stops the run
        msg = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
        RESULTS.append((name, where, msg))
        print(f"FAIL {name:48s} {where}: {msg}", flush=True)
        traceback.print_exc()


def same(got: Any, want: Any, what: str) -> None:
    g, w = raw(got), raw(want)
    if g.shape != w.shape or g.dtype != w.dtype:
        raise AssertionError(f"{what}: {g.dtype}{g.shape} != {w.dtype}{w.shape}")
    bad = int((g != w).sum())
    if bad:
        i = int(np.flatnonzero(g.reshape(-1) != w.reshape(-1))[0])
        raise AssertionError(f"{what}: {bad} of {g.size} differ, first at {i}")


def no_sync() -> Any:
    """A context in which a host synchronisation raises (CUDA only)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return _sync_error()
    return contextlib.nullcontext()


@contextlib.contextmanager
def _sync_error() -> Any:
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(0)


# ---- the checks ----------------------------------------------------------------------------


def elementwise(dev: torch.device, rng: np.random.Generator) -> None:
    where = str(dev)
    v = rng.standard_normal(1 << 16) * np.exp(rng.uniform(-12, 12, 1 << 16))
    v[::97] = np.nan
    v[1::97] = np.inf
    v[2::97] = -0.0

    def run() -> None:
        for dtype in DTYPES:
            x = torch.from_numpy(v).to(dtype).to(dev)
            xn = host(x)
            for fmt in ("e4m3", "e5m2", "e2m1", "e3m2", "bf16", "fp16", "e4m3fnuz", "p3109_k8p3se"):
                keep = slice(None) if fs.format(fmt).has_nan else ~np.isnan(xn.astype(np.float64))
                for mode, kw in MODES:
                    try:
                        want = fs.quantize(xn, fmt, mode, **kw)
                    except ValueError:  # x's dtype cannot hold the format
                        continue
                    # the NaN-free selection is a boolean mask, whose indexing syncs: made
                    # outside no_sync() (only floatsim's own calls must not synchronise)
                    xk = x if isinstance(keep, slice) else x[torch.from_numpy(np.asarray(keep)).to(dev)]
                    with no_sync():
                        got = ft.quantize(x, fmt, mode, **kw)
                        codes = ft.encode(xk, fmt, mode, **kw)
                    assert got.device == dev
                    same(got, want, f"quantize {fmt} {mode} {kw} {dtype}")
                    same(codes, fs.encode(xn[keep], fmt, mode, **kw), f"encode {fmt} {mode} {dtype}")
    check("quantize / encode, modes x dtypes x formats", where, run)

    def decode() -> None:
        for fmt in ("e4m3", "e2m1", "bf16", "fp16"):
            f = fs.format(fmt)
            codes = torch.arange(f.num_codes, dtype=torch.int64).to(
                torch.uint8 if f.bits <= 8 else torch.uint16).to(dev)
            for dtype in (torch.float32, torch.float64, torch.bfloat16):
                try:
                    want = fs.decode(host(codes), fmt, host(torch.empty(0, dtype=dtype)).dtype)
                except ValueError:  # the dtype cannot hold the format
                    continue
                with no_sync():
                    got = ft.decode(codes, fmt, dtype)
                same(got, want, f"decode {fmt} {dtype}")
    check("decode every code", where, decode)

    def strided_out() -> None:
        x = torch.from_numpy(v[: 64 * 96].reshape(64, 96)).float().to(dev)
        xs = x.t()[:, ::3]
        same(ft.quantize(xs, "e4m3", "sr", seed=1), fs.quantize(host(xs), "e4m3", "sr", seed=1),
             "strided input")
        out = torch.empty(96, 64, device=dev)[:, ::2]
        ft.quantize(x.t()[:, ::2], "e4m3", out=out)
        same(out, fs.quantize(host(x.t()[:, ::2]), "e4m3"), "strided out=")
        dense = torch.empty(64, 96, dtype=torch.float64, device=dev)
        ft.quantize(x, "e5m2", "rtz", out=dense)
        same(dense, fs.quantize(host(x), "e5m2", "rtz", out_dtype=np.float64), "out= float64")
        same(ft.quantize(x.double(), "e4m3", out_dtype=torch.bfloat16),
             fs.quantize(host(x).astype(np.float64), "e4m3", out_dtype=BF16), "out_dtype bf16")
        c = torch.from_numpy(rng.integers(0, 16, 1001, dtype=np.uint8)).to(dev)
        p = ft.pack(c, "e2m1")
        same(p, fs.pack(host(c), "e2m1"), "pack")
        same(ft.unpack(p, "e2m1", 1001), host(c), "unpack")
    check("strided, out=, out_dtype=, pack/unpack", where, strided_out)


def block_checks(dev: torch.device, rng: np.random.Generator) -> None:
    where = str(dev)
    v = (rng.standard_normal((96, 160)) * np.exp(rng.uniform(-8, 8, (96, 1)))).astype(np.float32)

    def run() -> None:
        for dtype in (torch.float32, torch.bfloat16):
            x = torch.from_numpy(v).to(dtype).to(dev)
            xn = host(x)
            for name in ("mxfp8_e4m3", "mxfp4_e2m1", "nvfp4", "nvfp4_16x16", "int4_asym"):
                axes = [-1, (1, 0)] if name == "nvfp4_16x16" else [-1, 0]
                for axis in axes:
                    for mode, kw in (("rne", {}), ("sr", {"seed": 3, "stream": 1})):
                        what = f"{name} axis={axis} {mode} {dtype}"
                        got = ft.blocks.quantize(x, name, mode, axis=axis, **kw)
                        same(got, fs.blocks.quantize(xn, name, mode, axis=axis, **kw), what)
                        enc = ft.blocks.encode(x, name, mode, axis=axis, **kw)
                        want = fs.blocks.encode(xn, name, mode, axis=axis, **kw)
                        same(enc.elements, want[0], "elements " + what)
                        same(enc.scales, want[1], "scales " + what)
                        for dt, npdt in ((torch.float32, np.float32), (torch.bfloat16, BF16)):
                            same(ft.blocks.decode(enc, name, axis=axis, dtype=dt),
                                 fs.blocks.decode(want, name, axis=axis, dtype=npdt),
                                 "decode " + what)
    check("blocks quantize / encode / decode", where, run)

    def no_host_sync() -> None:
        x = torch.from_numpy(v).to(dev)
        with no_sync():
            for name in ("mxfp8_e4m3", "nvfp4"):
                ft.blocks.quantize(x, name)
                ft.blocks.decode(ft.blocks.encode(x, name), name)
    check("blocks without host synchronisation", where, no_host_sync)

    def amax_on_device() -> None:
        # the training layer's delayed scaling and NVFP4 pass amax as a tensor on x's device
        x = torch.from_numpy(v).to(dev)
        for name, am in (("nvfp4", np.float32(300.0)), (fs.blocks.scaled("e4m3"), np.float32(5e3))):
            got = ft.blocks.quantize(x, name, axis=None if not isinstance(name, str) else -1,
                                     amax=torch.tensor(am, device=dev))
            want = fs.blocks.quantize(v, name, axis=None if not isinstance(name, str) else -1,
                                      amax=np.asarray(am))
            same(got, want, f"amax on {dev}: {name}")
    check("blocks with amax= on the device", where, amax_on_device)


def gradients(dev: torch.device, rng: np.random.Generator) -> None:
    v = torch.from_numpy(rng.standard_normal((32, 64)) * 100).float()
    g = torch.from_numpy(rng.standard_normal((32, 64))).float()

    def grads(device: torch.device) -> list[torch.Tensor]:
        outs = []
        for f in (lambda t: ft.quantize(t, "e4m3", ste="clipped"),
                  lambda t: ft.quantize(t, "e4m3", grad_format="e5m2", grad_rounding="sr", grad_seed=4),
                  lambda t: ft.blocks.quantize(t, "mxfp8", ste="clipped", grad_block="mxfp8_e5m2"),
                  lambda t: ft.blocks.quantize(t, "nvfp4", ste="clipped")):
            x = v.to(device).requires_grad_(True)
            f(x).backward(g.to(device))
            outs.append(x.grad.cpu())
        return outs

    def run() -> None:
        for i, (a, b) in enumerate(zip(grads(dev), grads(torch.device("cpu")))):
            same(a, b, f"gradient case {i}")
    check("gradients equal the CPU's", str(dev), run)


def compiled(dev: torch.device, rng: np.random.Generator) -> None:
    def f(x: torch.Tensor, w: torch.Tensor, stream: int) -> torch.Tensor:
        xq = ft.quantize(x, "e4m3", "sr", seed=1, stream=stream, grad_format="e5m2")
        wq = ft.blocks.quantize(w, "mxfp8_e4m3", ste="clipped")
        return (xq @ wq.t()).relu()

    def run() -> None:
        torch._dynamo.reset()
        cf = torch.compile(f, fullgraph=True)
        x = torch.from_numpy(rng.standard_normal((64, 128))).float().to(dev).requires_grad_(True)
        w = torch.from_numpy(rng.standard_normal((32, 128))).float().to(dev).requires_grad_(True)
        for stream in (1, 2, 3):
            res = []
            for fn in (f, cf):
                x.grad = w.grad = None
                y = fn(x, w, stream)
                y.sum().backward()
                res.append((y.detach(), x.grad.clone(), w.grad.clone()))
            for a, b in zip(*res):
                same(b, a, f"compiled vs eager stream={stream}")
    check("torch.compile(fullgraph=True) equals eager", str(dev), run)


def graphs(dev: torch.device, rng: np.random.Generator) -> None:
    def capture() -> None:
        static = torch.zeros(256, 128, device=dev)
        side = torch.cuda.Stream(dev)
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(side):  # warm-up: plans, tables and kernels before capture
            for _ in range(3):
                ft.quantize(static, "e4m3"), ft.quantize(static, "e5m2", "sr", seed=1, stream=2)
                ft.blocks.quantize(static, "mxfp8_e4m3"), ft.blocks.quantize(static, "nvfp4")
        torch.cuda.current_stream(dev).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            outs = (ft.quantize(static, "e4m3"), ft.quantize(static, "e5m2", "sr", seed=1, stream=2),
                    ft.blocks.quantize(static, "mxfp8_e4m3"), ft.blocks.quantize(static, "nvfp4"))
        for _ in range(3):
            fresh = torch.from_numpy(rng.standard_normal((256, 128)) * 50).float().to(dev)
            static.copy_(fresh)
            graph.replay()
            torch.cuda.synchronize(dev)
            xn = host(fresh)
            same(outs[0], fs.quantize(xn, "e4m3"), "graph quantize")
            same(outs[1], fs.quantize(xn, "e5m2", "sr", seed=1, stream=2), "graph SR")
            same(outs[2], fs.blocks.quantize(xn, "mxfp8_e4m3"), "graph MXFP8")
            same(outs[3], fs.blocks.quantize(xn, "nvfp4"), "graph NVFP4")
    check("CUDA graph capture and replay", str(dev), capture)

    def reduce_overhead() -> None:
        torch._dynamo.reset()
        cf = torch.compile(lambda t: ft.quantize(t * 2, "e4m3") + ft.blocks.quantize(t, "mxfp8"),
                           mode="reduce-overhead", fullgraph=True)
        for _ in range(4):
            x = torch.from_numpy(rng.standard_normal((64, 64))).float().to(dev)
            xn = host(x)
            same(cf(x).clone(), fs.quantize(xn * 2, "e4m3") + fs.blocks.quantize(xn, "mxfp8"),
                 "reduce-overhead")
    check("torch.compile(mode='reduce-overhead')", str(dev), reduce_overhead)

    def side_stream() -> None:
        s = torch.cuda.Stream(dev)
        x = torch.from_numpy(rng.standard_normal(1 << 20)).float().to(dev)
        s.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(s):
            y = ft.quantize(x, "e4m3", "sr", seed=9)
            z = ft.blocks.quantize(x.view(1024, -1), "nvfp4")
        torch.cuda.current_stream(dev).wait_stream(s)
        same(y, fs.quantize(host(x), "e4m3", "sr", seed=9), "side stream quantize")
        same(z, fs.blocks.quantize(host(x).reshape(1024, -1), "nvfp4"), "side stream blocks")
    check("ops on a side stream", str(dev), side_stream)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    if a.device == "cpu":
        devices: list[tuple[torch.device, Any]] = [(torch.device("cpu"), contextlib.nullcontext())]
    else:
        if not torch.cuda.is_available():
            ap.error("no CUDA device (use --device cpu for a dry run)")
        torch.cuda.init()
        devices = [(torch.device("cuda", 0), torch.cuda.device(0))]
        if torch.cuda.device_count() > 1:
            devices += [(torch.device("cuda", 1), torch.cuda.device(1)),  # current device 1
                        (torch.device("cuda", 1), torch.cuda.device(0))]  # tensors on 1, current 0
    for dev, ctx in devices:
        print(f"== {dev} (current device: {torch.cuda.current_device() if dev.type == 'cuda' else '-'})")
        with ctx:
            elementwise(dev, rng)
            block_checks(dev, rng)
            gradients(dev, rng)
            if not a.no_compile:
                compiled(dev, rng)
            if dev.type == "cuda":
                graphs(dev, rng)
    bad = [r for r in RESULTS if r[2] != "OK"]
    lines = [f"# gpu_torch_check {datetime.datetime.now():%Y-%m-%d %H:%M}",
             f"{platform.node()}, torch {torch.__version__}, "
             f"{torch.cuda.get_device_name() if a.device == 'cuda' else 'cpu dry run'}", "",
             "| check | where | result |", "|---|---|---|"]
    lines += [f"| {c} | {w} | {r.replace('|', '/')} |" for c, w, r in RESULTS]
    print("\n".join(lines))
    print(f"{len(RESULTS) - len(bad)} of {len(RESULTS)} checks passed")
    if a.out:
        a.out.write_text("\n".join(lines) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
