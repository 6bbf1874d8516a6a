#!/usr/bin/env python
"""floatsim_jax's jitted casts against XLA's own casts and the core's Numba
kernel, in one process, on one input.

Every cell times a fake-quantize round trip x (float32) -> format -> float32
of ``np.random.default_rng(0).standard_normal(2**size, dtype=np.float32) * 4``
and reports Melem/s (median of ``--repeats`` timed calls after a warm-up
call that compiles; the cells of a row are timed interleaved, one call of
each per round, so that their ratios see the same load).  Columns:

* ``floatsim_jax``: ``jax.jit(lambda x: fj.quantize(x, fmt))`` (or
  ``fj.blocks.quantize`` for MX);
* ``xla``: ``x.astype(jnp.<dtype>).astype(jnp.float32)`` where XLA has the
  dtype (float8_e4m3fn, float8_e5m2, float4_e2m1fn, float6 types, bfloat16);
  ``n/a`` where it has none or the cast fails to compile;
* ``numba``: the core's ``fs.quantize(x, fmt, out=...)`` on the host copy.

Before timing, each floatsim_jax result is compared bit for bit with the
core's, and each XLA result with it too (``✗`` marks a difference; an XLA
round trip that returns its input unchanged was optimised away and is
marked ``folded``).

The ``--gpu`` part (for a GPU machine: 2**26 by default) times the same jitted
casts on the default device against XLA's casts there, and MXFP8 quantize as
a ratio of a device copy's time (``x + 0`` read and written once).

Usage:
    python bench/jax_cast.py                     # CPU, 2**24 elements
    python bench/jax_cast.py --size 18 --repeats 3   # a smoke run
    python bench/jax_cast.py --gpu               # on a GPU machine
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: (label, floatsim format or block format, XLA dtype name or None, kind)
ROWS: list[tuple[str, str, str | None, str]] = [
    ("e4m3fn", "e4m3fn", "float8_e4m3fn", "elem"),
    ("e5m2", "e5m2", "float8_e5m2", "elem"),
    ("e2m1", "e2m1", "float4_e2m1fn", "elem"),
    ("bf16", "bf16", "bfloat16", "elem"),
    ("fp16", "fp16", "float16", "elem"),
    ("e3m2 (FP6)", "e3m2", "float6_e3m2fn", "elem"),
    ("e2m3 (FP6)", "e2m3", "float6_e2m3fn", "elem"),
    ("P3109 8p3", "p3109_8_3", None, "elem"),
    ("e5m7 (any e/m)", "e5m7", None, "elem"),
    ("e4m3 SR", "e4m3", None, "sr"),
    ("MXFP8", "mxfp8_e4m3", None, "mx"),
    ("MXFP4", "mxfp4_e2m1", None, "mx"),
]


def _fmt(name: str) -> Any:
    import floatsim as fs

    if name.startswith("p3109_"):
        _, k, p = name.split("_")
        return fs.p3109(int(k), int(p))
    return fs.format(name) if not name.startswith(("mx", "nv")) else fs.blocks.format(name)


def _call(fn: Any, arg: Any) -> float:
    t = time.perf_counter()
    r = fn(arg)
    if hasattr(r, "block_until_ready"):
        r.block_until_ready()
    return time.perf_counter() - t


def _time(fn: Any, arg: Any, repeats: int) -> float:
    """Median seconds of ``fn(arg)`` (blocking) after one warm-up call."""
    return _times([(fn, arg)], repeats)[0]


def _times(calls: list[tuple[Any, Any]], repeats: int) -> list[float]:
    """Median seconds of each ``fn(arg)`` of ``calls`` (blocking), after one
    warm-up call each, interleaved: every round calls each once, so that a
    shared machine's changing load weighs on the cells of a row alike (timed
    one after the other, the first row's cells came out 2-5x slower than the
    same compiled cast in a later row)."""
    for fn, arg in calls:
        fn(arg)
    ts: list[list[float]] = [[] for _ in calls]
    for _ in range(repeats):
        for t, (fn, arg) in zip(ts, calls):
            t.append(_call(fn, arg))
    return [statistics.median(t) for t in ts]


def _same(a: Any, b: np.ndarray) -> bool:
    a = np.asarray(a)
    nan = np.isnan(a) & np.isnan(b)
    return bool(np.all(nan | (a.view(np.uint32) == b.view(np.uint32))))


def run(size: int, repeats: int, gpu: bool) -> list[str]:
    import jax
    import jax.numpy as jnp

    import floatsim as fs
    import floatsim_jax as fj

    n = 1 << size
    xh = np.random.default_rng(0).standard_normal(n, dtype=np.float32) * 4
    x = jax.device_put(jnp.asarray(xh))
    dev = jax.devices()[0]
    lines = [f"# bench/jax_cast.py: 2^{size} float32 on {dev.platform} ({dev.device_kind}), "
             f"jax {jax.__version__}, {platform.machine()}, median of {repeats}",
             "", "| format | floatsim_jax | xla | ratio | numba (core) | ratio |",
             "|---|---|---|---|---|---|"]
    out = np.empty_like(xh)
    copy_t = None
    if gpu:
        copy_t = _time(jax.jit(lambda v: v + 0.0), x, repeats)
        lines.insert(1, f"device copy (x + 0): {n / copy_t / 1e6:.0f} Melem/s")
    for label, spec, xla_dt, kind in ROWS:
        f = _fmt(spec)
        if kind == "mx":
            ours = jax.jit(lambda v, f=f: fj.blocks.quantize(v.reshape(-1, 32), f).reshape(-1))
            ref = fs.blocks.quantize(xh.reshape(-1, 32), f).reshape(-1)
            core = lambda v, f=f: fs.blocks.quantize(v.reshape(-1, 32), f, out=out.reshape(-1, 32))
        elif kind == "sr":
            ours = jax.jit(lambda v, f=f: fj.quantize(v, f, "sr", seed=1))
            ref = fs.quantize(xh, f, "sr", seed=1)
            core = lambda v, f=f: fs.quantize(v, f, "sr", seed=1, out=out)
        else:
            ours = jax.jit(lambda v, f=f: fj.quantize(v, f))
            ref = fs.quantize(xh, f)
            core = lambda v, f=f: fs.quantize(v, f, out=out)
        calls = [(ours, x)]
        xla, xla_cell = None, ["n/a", ""]
        if xla_dt is not None and hasattr(jnp, xla_dt):
            dt = getattr(jnp, xla_dt)
            xla = jax.jit(lambda v, dt=dt: v.astype(dt).astype(jnp.float32))
            try:
                y = np.asarray(xla(x))
                calls.append((xla, x))
            except Exception as exc:  # noqa: BLE001 - XLA's float6 casts fail on the CPU
                xla, xla_cell = None, [f"n/a ({type(exc).__name__})", ""]
        if not gpu:
            calls.append((core, xh))
        ts = _times(calls, repeats)
        t_ours = ts[0]
        ok = "" if _same(ours(x), ref) else " ✗"
        cells = [f"{n / t_ours / 1e6:.0f}{ok}"]
        if xla is not None:
            t_xla = ts[1]
            mark = " folded" if np.array_equal(y, xh) else ("" if _same(y, ref) else " ✗")
            xla_cell = [f"{n / t_xla / 1e6:.0f}{mark}", f"{t_xla / t_ours:.2f}x"]
        cells += xla_cell
        if gpu:
            cells += [f"copy {copy_t / t_ours:.2f}" if kind == "mx" else "", ""]
        else:
            t_core = ts[-1]
            cells += [f"{n / t_core / 1e6:.0f}", f"{t_core / t_ours:.2f}x"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "ratio: the other path's time over floatsim_jax's (above 1: floatsim_jax is faster);"
              " on --gpu the last column of MX rows is a device copy's time over the cast's."]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=None, help="log2 of the element count "
                    "(default 24; 26 with --gpu)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--gpu", action="store_true", help="time on the default (GPU) device")
    ap.add_argument("--markdown", metavar="FILE", help="also write the report to FILE")
    a = ap.parse_args()
    size = a.size if a.size is not None else (26 if a.gpu else 24)
    lines = run(size, a.repeats, a.gpu)
    text = "\n".join(lines)
    print(text)
    if a.markdown:
        Path(a.markdown).write_text(text + "\n")


if __name__ == "__main__":
    main()
