#!/usr/bin/env python
"""CPU fake-quantize throughput: floatsim against its peers, in one process, on one input.

Every cell times a round trip x (float32) -> format -> float32 on the same input,
``np.random.default_rng(0).standard_normal(2**size, dtype=np.float32) * 4``, and
reports Melem/s (median of ``--repeats`` timed calls after one warm-up call, with
time.perf_counter). Rows whose library or API is missing print ``n/a (reason)``.

Slow peers run on a prefix of the input (marked ``[2^k]``); their Melem/s is still
elements per second, so ratios against them are fair per element but the cache
behaviour of the smaller input is more favourable to them.

Before timing, every nearest-even result (and every MX result, on a prefix) is checked
bit for bit against a reference: ml_dtypes for the element formats, gfloat for MX.
Cells that differ are marked ``✗`` and explained under the table; SR results are
checked to lie on the format's grid.

Usage:
    python bench/cpu_cast.py                       # full run, 2**24 elements
    python bench/cpu_cast.py --only floor,torch,ml_dtypes,floatsim --repeats 9
    python bench/cpu_cast.py --size 20 --markdown bench/results/cpu_cast.md
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MICROXCALING = REPO / ".peers" / "microxcaling"

# Columns: element formats with nearest-even, stochastic rounding, MX block formats.
RNE_COLS = ["e4m3fn", "e5m2", "e3m2", "e2m1", "fp16", "bf16"]
SR_COLS = ["e4m3 SR", "e4m3 SR8", "bf16 SR"]
MX_COLS = ["MXFP8", "MXFP4"]
COLS = RNE_COLS + SR_COLS + MX_COLS

# (exponent bits, mantissa bits) of each element format.
EM = {
    "e4m3fn": (4, 3),
    "e5m2": (5, 2),
    "e3m2": (3, 2),
    "e2m1": (2, 1),
    "fp16": (5, 10),
    "bf16": (8, 7),
}
ML_DTYPES_NAME = {
    "e4m3fn": "float8_e4m3fn",
    "e5m2": "float8_e5m2",
    "e3m2": "float6_e3m2fn",
    "e2m1": "float4_e2m1fn",
    "fp16": "float16",
    "bf16": "bfloat16",
}
FS_NAME = {
    "e4m3fn": "float8_e4m3fn",
    "e5m2": "float8_e5m2",
    "e3m2": "float6_e3m2fn",
    "e2m1": "float4_e2m1fn",
    "fp16": "float16",
    "bf16": "bfloat16",
}
# Element format of each SR / MX column (used for the grid check).
SR_BASE = {"e4m3 SR": "e4m3fn", "e4m3 SR8": "e4m3fn", "bf16 SR": "bf16"}
MX_NAME = {"MXFP8": "mxfp8_e4m3", "MXFP4": "mxfp4_e2m1"}
BLOCK = 32

# Prefix sizes (log2) for slow peers.
SUB_PYCHOP_NP = 20
SUB_PYCHOP_MX_NP = 16
SUB_PYCHOP_MX_TORCH = 16
SUB_GFLOAT_MX = 13


class NA(Exception):
    """A cell or row that cannot run; the message is the reason shown in the table."""


@dataclass
class Job:
    """One cell: ``fn()`` performs one round trip on ``n`` elements and returns the result."""

    fn: Callable[[], Any]
    n: int
    sub: int | None = None  # log2 of the prefix size when it runs on a prefix
    note: str = ""
    check: bool = True  # compare the result with the reference before timing


@dataclass
class Cell:
    melem: float | None = None
    text: str = ""
    sub: int | None = None
    bad: str = ""  # non-empty: correctness problem, shown as a footnote


@dataclass
class Row:
    group: str
    label: str
    cells: dict[str, Cell] = field(default_factory=dict)


def short(exc: BaseException, limit: int = 70) -> str:
    msg = f"{type(exc).__name__}: {exc}".replace("\n", " ").replace("|", "/")
    return msg if len(msg) <= limit else msg[: limit - 1] + "…"


def to_numpy(y: Any) -> np.ndarray:
    if isinstance(y, np.ndarray):
        return y
    if hasattr(y, "detach"):  # torch tensor
        return y.detach().cpu().numpy()
    return np.asarray(y)


# --------------------------------------------------------------------------- context


class Ctx:
    """The shared input, its views, and lazily built references."""

    def __init__(self, log2: int):
        self.log2 = log2
        self.n = 1 << log2
        self.x = np.random.default_rng(0).standard_normal(self.n, dtype=np.float32) * 4
        rows = 1 << (log2 // 2)
        self.shape2d = (rows, self.n // rows)
        if self.shape2d[1] % BLOCK:
            raise SystemExit(f"--size {log2}: last axis {self.shape2d[1]} is not a multiple of 32")
        self.x2d = self.x.reshape(self.shape2d)
        self._torch = None
        self._ref: dict[str, np.ndarray] = {}
        self._mx_ref: dict[str, tuple[np.ndarray, int] | str] = {}

    def prefix(self, k: int) -> np.ndarray:
        return self.x[: 1 << min(k, self.log2)]

    def prefix2d(self, k: int) -> np.ndarray:
        """A prefix of the 2-D view that keeps the same 32-blocks (rows stay contiguous)."""
        m = 1 << min(k, self.log2)
        width = min(self.shape2d[1], m)
        return self.x[:m].reshape(m // width, width)

    @property
    def xt(self):
        if self._torch is None:
            import torch

            self._torch = torch.from_numpy(self.x)
        return self._torch

    def ref(self, col: str) -> np.ndarray:
        """ml_dtypes round trip of the whole input for a nearest-even column."""
        if col not in self._ref:
            import ml_dtypes

            name = ML_DTYPES_NAME[col]
            dt = np.float16 if name == "float16" else getattr(ml_dtypes, name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._ref[col] = self.x.astype(dt).astype(np.float32)
        return self._ref[col]

    def mx_ref(self, col: str) -> tuple[np.ndarray, int] | str:
        """gfloat MX fake-quantization of a prefix (values, log2 size), or a reason string."""
        if col not in self._mx_ref:
            try:
                self._mx_ref[col] = (
                    gfloat_mx(self.prefix2d(SUB_GFLOAT_MX), col),
                    min(SUB_GFLOAT_MX, self.log2),
                )
            except Exception as e:  # noqa: BLE001 - any failure just disables the check
                self._mx_ref[col] = f"no gfloat reference ({short(e)})"
        return self._mx_ref[col]


def gfloat_mx(x2d: np.ndarray, col: str) -> np.ndarray:
    import gfloat
    import gfloat.formats as gf

    fi = getattr(gf, f"format_info_{MX_NAME[col]}")
    blocks = x2d.reshape(-1, BLOCK)
    out = np.empty(blocks.shape, np.float32)
    for i, b in enumerate(blocks):
        out[i] = gfloat.quantize_block(fi, b, gfloat.compute_scale_amax)
    return out.reshape(x2d.shape)


# --------------------------------------------------------------------------- checks


def bits_equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise bitwise equality of float32 arrays; any NaN equals any NaN."""
    a = np.ascontiguousarray(a, np.float32).ravel()
    b = np.ascontiguousarray(b, np.float32).ravel()
    return (a.view(np.uint32) == b.view(np.uint32)) | (np.isnan(a) & np.isnan(b))


def describe_mismatch(x, got, want, eq) -> str:
    bad = np.flatnonzero(~eq)
    i = bad[0]
    return f"{bad.size} of {eq.size} differ, e.g. x={x[i]!r} -> {got[i]!r}, reference {want[i]!r}"


def check(ctx: Ctx, col: str, job: Job, y: Any) -> str:
    """Return '' when the result is right, else a description of what is wrong."""
    y = to_numpy(y)
    if y.dtype != np.float32:
        return f"returned dtype {y.dtype}, not float32"
    y = y.ravel()
    if y.size != job.n:
        return f"returned {y.size} elements, expected {job.n}"
    x = ctx.x[: job.n]
    if col in RNE_COLS:
        want = ctx.ref(col)[: job.n]
        eq = bits_equal(y, want)
        return "" if eq.all() else describe_mismatch(x, y, want, eq) + " (ml_dtypes)"
    if col in SR_COLS:
        grid = ctx_grid(SR_BASE[col], y)
        eq = bits_equal(y, grid)
        if not eq.all():
            return describe_mismatch(x, y, grid, eq) + " (not on the format's grid)"
        return ""
    if col in MX_COLS:
        ref = ctx.mx_ref(col)
        if isinstance(ref, str):
            return ""
        want, k = ref
        m = min(1 << k, job.n)
        eq = bits_equal(y[:m], want.ravel()[:m])
        return "" if eq.all() else describe_mismatch(x, y[:m], want.ravel()[:m], eq) + " (gfloat)"
    return ""


def ctx_grid(col: str, y: np.ndarray) -> np.ndarray:
    """Round y to the element format with ml_dtypes: equal to y iff y is on the grid."""
    import ml_dtypes

    name = ML_DTYPES_NAME[col]
    dt = np.float16 if name == "float16" else getattr(ml_dtypes, name)
    return y.astype(dt).astype(np.float32)


# --------------------------------------------------------------------------- rows
# Each row builder returns {column: Job}. Raising NA marks the whole row n/a; a
# column missing from the dict is left blank (the library has no such operation).


def row_floor(ctx: Ctx) -> dict[str, Job]:
    out = np.empty_like(ctx.x)

    def fn():
        np.copyto(out, ctx.x)
        return out

    return {"e4m3fn": Job(fn, ctx.n, note="memory floor; same for every column", check=False)}


def _torch():
    try:
        import torch
    except Exception as e:
        raise NA(short(e)) from e
    return torch


TORCH_DT = {"e4m3fn": "float8_e4m3fn", "e5m2": "float8_e5m2", "fp16": "float16", "bf16": "bfloat16"}


def row_torch(ctx: Ctx) -> dict[str, Job]:
    torch = _torch()
    xt = ctx.xt
    jobs = {}
    for col, name in TORCH_DT.items():
        dt = getattr(torch, name, None)
        if dt is None:
            continue
        jobs[col] = Job(lambda dt=dt: xt.to(dt).float(), ctx.n)
    return jobs


def row_torch_prealloc(ctx: Ctx) -> dict[str, Job]:
    torch = _torch()
    xt = ctx.xt
    out = torch.empty_like(xt)
    jobs = {}
    for col, name in TORCH_DT.items():
        dt = getattr(torch, name, None)
        if dt is None:
            continue
        mid = torch.empty(xt.shape, dtype=dt)

        def fn(mid=mid):
            mid.copy_(xt)
            out.copy_(mid)
            return out

        jobs[col] = Job(fn, ctx.n)
    return jobs


def row_ml_dtypes(ctx: Ctx) -> dict[str, Job]:
    try:
        import ml_dtypes
    except Exception as e:
        raise NA(short(e)) from e
    jobs = {}
    for col in RNE_COLS:
        name = ML_DTYPES_NAME[col]
        dt = np.float16 if name == "float16" else getattr(ml_dtypes, name, None)
        if dt is None:
            continue
        jobs[col] = Job(lambda dt=dt: ctx.x.astype(dt).astype(np.float32), ctx.n)
    return jobs


def row_gfloat(ctx: Ctx) -> dict[str, Job]:
    try:
        import gfloat
        import gfloat.formats as gf
    except Exception as e:
        raise NA(short(e)) from e
    fis = {
        "e4m3fn": gf.format_info_ocp_e4m3,
        "e5m2": gf.format_info_ocp_e5m2,
        "e3m2": gf.format_info_ocp_e3m2,
        "e2m1": gf.format_info_ocp_e2m1,
        "fp16": gf.format_info_binary16,
        "bf16": gf.format_info_bfloat16,
    }
    rm = gfloat.RoundMode
    x = ctx.x
    jobs = {}
    for col, fi in fis.items():
        # Finite-only formats (no inf, no NaN) raise on overflow unless sat=True;
        # that is also what OCP and ml_dtypes do for them.
        sat = not fi.num_high_nans and not fi.num_infs
        jobs[col] = Job(
            lambda fi=fi, sat=sat: gfloat.round_ndarray(fi, x, rm.TiesToEven, sat=sat).astype(
                np.float32
            ),
            ctx.n,
            note="float64 result cast to float32",
        )
    rng = np.random.default_rng(1)

    def sr(fi, nbits):
        def fn():
            bits = rng.integers(0, 1 << nbits, size=x.shape, dtype=np.int64)
            y = gfloat.round_ndarray(fi, x, rm.Stochastic, srbits=bits, srnumbits=nbits)
            return y.astype(np.float32)

        return fn

    # Exact SR from float32: all discarded bits are random (23 - mantissa bits).
    jobs["e4m3 SR"] = Job(sr(fis["e4m3fn"], 23 - 3), ctx.n, note="random bits drawn in the call")
    jobs["e4m3 SR8"] = Job(sr(fis["e4m3fn"], 8), ctx.n)
    jobs["bf16 SR"] = Job(sr(fis["bf16"], 23 - 7), ctx.n)
    xs = ctx.prefix2d(SUB_GFLOAT_MX)
    sub = min(SUB_GFLOAT_MX, ctx.log2)
    for col in MX_COLS:
        jobs[col] = Job(
            lambda col=col: gfloat_mx(xs, col), xs.size, sub=sub, note="python loop over blocks"
        )
    return jobs


def _pychop():
    try:
        import pychop
    except Exception as e:
        raise NA(short(e)) from e
    pychop.backend("auto")  # dispatch on the input's type (numpy array or torch tensor)
    return pychop


def row_pychop_np(ctx: Ctx, chunk: int | None = None) -> dict[str, Job]:
    pychop = _pychop()
    kw = {} if chunk is None else {"chunk_size": chunk}
    xs = ctx.prefix(SUB_PYCHOP_NP)
    sub = min(SUB_PYCHOP_NP, ctx.log2)
    jobs = {}
    for col in RNE_COLS:
        c = pychop.Chop(*EM[col], rmode=1, **kw)
        jobs[col] = Job(lambda c=c: c(xs), xs.size, sub=sub)
    # rmode 5 = exact SR; it bypasses dask, so it is fast enough on the full input.
    for col, base in (("e4m3 SR", "e4m3fn"), ("bf16 SR", "bf16")):
        c = pychop.Chop(*EM[base], rmode=5, **kw)
        jobs[col] = Job(lambda c=c: c(ctx.x), ctx.n)
    xm = ctx.prefix2d(SUB_PYCHOP_MX_NP)
    if chunk is None:
        for col in MX_COLS:
            jobs[col] = Job(
                lambda col=col: pychop.mx_quantize(
                    xm, MX_NAME[col], block_size=BLOCK, backend="numpy"
                ),
                xm.size,
                sub=min(SUB_PYCHOP_MX_NP, ctx.log2),
                note="python loop over elements",
            )
    return jobs


def row_pychop_np_chunk(ctx: Ctx) -> dict[str, Job]:
    jobs = row_pychop_np(ctx, chunk=1 << 20)
    return {k: v for k, v in jobs.items() if k in RNE_COLS}


def row_pychop_torch(ctx: Ctx) -> dict[str, Job]:
    pychop = _pychop()
    _torch()
    xt = ctx.xt
    jobs = {}
    for col in RNE_COLS:
        c = pychop.Chop(*EM[col], rmode=1)
        jobs[col] = Job(lambda c=c: c(xt), ctx.n)
    for col, base in (("e4m3 SR", "e4m3fn"), ("bf16 SR", "bf16")):
        c = pychop.Chop(*EM[base], rmode=5)
        jobs[col] = Job(lambda c=c: c(xt), ctx.n)
    import torch

    xm = torch.from_numpy(ctx.prefix2d(SUB_PYCHOP_MX_TORCH))
    sub = min(SUB_PYCHOP_MX_TORCH, ctx.log2)
    for col in MX_COLS:
        jobs[col] = Job(
            lambda col=col: pychop.mx_quantize(xm, MX_NAME[col], block_size=BLOCK, backend="torch"),
            xm.numel(),
            sub=None if sub == ctx.log2 else sub,
        )
    return jobs


def row_qtorch(ctx: Ctx) -> dict[str, Job]:
    _torch()
    try:
        from qtorch.quant import float_quantize
    except Exception as e:
        raise NA(short(e)) from e
    xt = ctx.xt
    jobs = {}
    for col in RNE_COLS:
        e, m = EM[col]
        jobs[col] = Job(lambda e=e, m=m: float_quantize(xt, e, m, rounding="nearest"), ctx.n)
    jobs["e4m3 SR"] = Job(lambda: float_quantize(xt, 4, 3, rounding="stochastic"), ctx.n)
    jobs["bf16 SR"] = Job(lambda: float_quantize(xt, 8, 7, rounding="stochastic"), ctx.n)
    return jobs


def row_torchao(ctx: Ctx) -> dict[str, Job]:
    torch = _torch()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torchao.prototype.mx_formats import kernels as K
            from torchao.prototype.mx_formats.mx_tensor import to_dtype, to_mx
    except Exception as e:
        raise NA(short(e)) from e
    xt = ctx.xt
    jobs = {
        "e3m2": Job(lambda: K.f6_e3m2_unpacked_to_f32(K.f32_to_f6_e3m2_unpacked(xt)), ctx.n),
        "e2m1": Job(lambda: K.f4_unpacked_to_f32(K.f32_to_f4_unpacked(xt)), ctx.n),
    }
    try:
        from torchao.optim.quant_utils import _fp32_to_bf16_sr

        jobs["bf16 SR"] = Job(lambda: _fp32_to_bf16_sr(xt).float(), ctx.n)
    except Exception:  # noqa: BLE001 - optional
        pass
    x2 = torch.from_numpy(ctx.x2d)
    elems = {"MXFP8": torch.float8_e4m3fn, "MXFP4": getattr(torch, "float4_e2m1fn_x2", "fp4_e2m1")}
    for col, el in elems.items():

        def fn(el=el):
            scale, data = to_mx(x2, el, BLOCK)
            return to_dtype(data, scale, el, BLOCK, torch.float32)

        jobs[col] = Job(fn, ctx.n, note="to_mx + to_dtype")
    return jobs


def row_microxcaling(ctx: Ctx) -> dict[str, Job]:
    torch = _torch()
    if not (MICROXCALING / "mx").is_dir():
        raise NA(f"no checkout at {MICROXCALING.relative_to(REPO)} (see bench/README.md)")
    sys.path.insert(0, str(MICROXCALING))
    try:
        from mx.elemwise_ops import _quantize_elemwise
        from mx.formats import ElemFormat
        from mx.mx_ops import _quantize_mx
    except Exception as e:
        raise NA(short(e)) from e
    xt = ctx.xt
    fmts = {
        "e4m3fn": "fp8_e4m3",
        "e5m2": "fp8_e5m2",
        "e3m2": "fp6_e3m2",
        "e2m1": "fp4_e2m1",
        "fp16": "fp16",
        "bf16": "bf16",
    }
    jobs = {}
    for col, name in fmts.items():
        ef = ElemFormat.from_str(name)
        # saturate_normals matches the FN/finite-only formats; 'even' = ties-to-even.
        jobs[col] = Job(
            lambda ef=ef: _quantize_elemwise(
                xt, ef, round="even", saturate_normals=True, custom_cuda=False
            ),
            ctx.n,
        )
    ef8 = ElemFormat.fp8_e4m3
    jobs["e4m3 SR"] = Job(
        lambda: _quantize_elemwise(
            xt, ef8, round="dither", saturate_normals=True, custom_cuda=False
        ),
        ctx.n,
        note="'dither'",
    )
    x2 = torch.from_numpy(ctx.x2d)
    for col, name in (("MXFP8", "fp8_e4m3"), ("MXFP4", "fp4_e2m1")):
        ef = ElemFormat.from_str(name)
        jobs[col] = Job(
            lambda ef=ef: _quantize_mx(
                x2, 8, ef, axes=[-1], block_size=BLOCK, round="even", custom_cuda=False
            ),
            ctx.n,
        )
    return jobs


def _floatsim():
    try:
        import floatsim as fs
    except Exception as e:
        raise NA(f"import floatsim: {short(e)}") from e
    if not hasattr(fs, "quantize"):
        raise NA("floatsim.quantize not implemented yet")
    return fs


def row_floatsim(ctx: Ctx, use_out: bool = False) -> dict[str, Job]:
    fs = _floatsim()
    x = ctx.x
    out = np.empty_like(x) if use_out else None
    kw: dict[str, Any] = {"out": out} if use_out else {}
    jobs = {}
    for col in RNE_COLS:
        jobs[col] = Job(lambda name=FS_NAME[col]: fs.quantize(x, name, **kw), ctx.n)
    jobs["e4m3 SR"] = Job(
        lambda: fs.quantize(x, "float8_e4m3fn", rounding="stochastic", seed=1, **kw), ctx.n
    )
    jobs["e4m3 SR8"] = Job(
        lambda: fs.quantize(x, "float8_e4m3fn", rounding="stochastic", seed=1, sr_bits=8, **kw),
        ctx.n,
    )
    jobs["bf16 SR"] = Job(
        lambda: fs.quantize(x, "bfloat16", rounding="stochastic", seed=1, **kw), ctx.n
    )
    blocks = getattr(fs, "blocks", None)
    if blocks is None:
        try:
            blocks = importlib.import_module("floatsim.blocks")
        except Exception as e:  # noqa: BLE001
            blocks = short(e)
    for col in MX_COLS:
        if isinstance(blocks, str) or not hasattr(blocks, "quantize"):
            reason = blocks if isinstance(blocks, str) else "floatsim.blocks.quantize missing"
            jobs[col] = Job(_raiser(f"n/a ({reason})"), ctx.n)
            continue
        x2 = ctx.x2d
        out2 = out.reshape(ctx.shape2d) if use_out else None
        kw2: dict[str, Any] = {"out": out2} if use_out else {}
        jobs[col] = Job(
            lambda name=MX_NAME[col], x2=x2, kw2=kw2: blocks.quantize(x2, name, axis=-1, **kw2),
            ctx.n,
        )
    return jobs


def row_floatsim_out(ctx: Ctx) -> dict[str, Job]:
    return row_floatsim(ctx, use_out=True)


def row_floatsim_codes(ctx: Ctx) -> dict[str, Job]:
    """The same round trip through codes: fs.encode, then fs.decode."""
    fs = _floatsim()
    x = ctx.x
    jobs = {col: Job(lambda name=FS_NAME[col]: fs.decode(fs.encode(x, name), name, np.float32), ctx.n)
            for col in RNE_COLS}
    jobs["e4m3 SR"] = Job(lambda: fs.decode(fs.encode(x, "float8_e4m3fn", "stochastic", seed=1),
                                            "float8_e4m3fn", np.float32), ctx.n)
    return jobs


def _raiser(msg: str) -> Callable[[], Any]:
    def fn():
        raise NA(msg)

    return fn


# (group for --only, label, builder)
ROWS: list[tuple[str, str, Callable[[Ctx], dict[str, Job]]]] = [
    ("floor", "np.copyto (memory floor)", row_floor),
    ("torch", "torch native .to()", row_torch),
    ("torch", "torch native, preallocated", row_torch_prealloc),
    ("ml_dtypes", "ml_dtypes .astype", row_ml_dtypes),
    ("gfloat", "gfloat round_ndarray", row_gfloat),
    ("pychop", "pychop numpy (default chunks)", row_pychop_np),
    ("pychop", "pychop numpy (chunk_size=2^20)", row_pychop_np_chunk),
    ("pychop", "pychop torch", row_pychop_torch),
    ("qtorch", "qtorch float_quantize", row_qtorch),
    ("torchao", "torchao (mx_formats)", row_torchao),
    ("microxcaling", "microxcaling (pure torch)", row_microxcaling),
    ("floatsim", "floatsim", row_floatsim),
    ("floatsim", "floatsim out=", row_floatsim_out),
    ("floatsim", "floatsim encode+decode", row_floatsim_codes),
]
GROUPS = sorted({g for g, _, _ in ROWS})


# --------------------------------------------------------------------------- running


def time_job(job: Job, repeats: int) -> tuple[Any, float]:
    """One untimed warm-up call (compiles, faults pages in), then the median of `repeats`."""
    y = job.fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        job.fn()
        times.append(time.perf_counter() - t0)
    return y, statistics.median(times)


def run_row(ctx: Ctx, group: str, label: str, builder, cols: list[str], repeats: int) -> Row:
    row = Row(group, label)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            jobs = builder(ctx)
    except NA as e:
        row.cells = {c: Cell(text=f"n/a ({e})") for c in cols}
        print(f"  {label}: n/a ({e})", flush=True)
        return row
    except Exception as e:  # noqa: BLE001
        row.cells = {c: Cell(text=f"n/a ({short(e)})") for c in cols}
        print(f"  {label}: n/a ({short(e)})", flush=True)
        return row
    for col in cols:
        job = jobs.get(col)
        if job is None:
            continue
        if job.sub is not None and job.sub >= ctx.log2:
            job.sub = None
        cell = Cell(sub=job.sub)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # Correctness first, on the warm-up result, so a wrong kernel is flagged.
                y, t = time_job(job, repeats)
                cell.bad = check(ctx, col, job, y) if job.check else ""
            del y
            cell.melem = job.n / t / 1e6
            cell.text = fmt_num(cell.melem)
        except NA as e:
            cell.text = str(e) if str(e).startswith("n/a") else f"n/a ({e})"
        except Exception as e:  # noqa: BLE001
            cell.text = f"n/a ({short(e)})"
        row.cells[col] = cell
        extra = f" [2^{job.sub}]" if job.sub is not None else ""
        flag = f"  ✗ {cell.bad}" if cell.bad else ""
        print(f"  {label:34s} {col:9s} {cell.text}{extra}{flag}", flush=True)
    return row


def fmt_num(v: float) -> str:
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


# --------------------------------------------------------------------------- report


def table(rows: list[Row], cols: list[str]) -> tuple[str, list[str]]:
    notes: list[str] = []
    lines = ["| path | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for row in rows:
        texts = []
        na = {c.text for c in row.cells.values()}
        if (
            len(row.cells) == len(cols)
            and all(c.melem is None for c in row.cells.values())
            and len(na) == 1
        ):
            # Whole row unavailable: one reason, spanning the row.
            lines.append(f"| {row.label} | {na.pop()} |" + " |" * (len(cols) - 1))
            continue
        for col in cols:
            c = row.cells.get(col)
            if c is None:
                texts.append("")
                continue
            t = c.text
            if c.sub is not None and c.melem is not None:
                t += f" [2^{c.sub}]"
            if c.bad:
                notes.append(f"{row.label} / {col}: {c.bad}")
                t += f" ✗{len(notes)}"
            texts.append(t)
        lines.append(f"| {row.label} | " + " | ".join(texts) + " |")
    return "\n".join(lines), notes


def value(rows: list[Row], label: str, col: str) -> float | None:
    for r in rows:
        if r.label == label:
            c = r.cells.get(col)
            return c.melem if c else None
    return None


def ratio_line(rows, title, num_label, den, cols) -> str:
    """den: a row label, or a callable(col) -> (value, label | None) giving the denominator."""
    parts = []
    for col in cols:
        a = value(rows, num_label, col)
        b, who = den(col) if callable(den) else (value(rows, den, col), None)
        if a is None or b is None:
            parts.append(f"{col} n/a")
        else:
            parts.append(f"{col} {a / b:.3g}x" + (f" ({who})" if who else ""))
    if all(p.endswith(" n/a") for p in parts):
        return f"- {title}: n/a"
    return f"- {title}: " + ", ".join(parts)


def ratios(rows: list[Row], cols: list[str]) -> list[str]:
    out = []
    floor = value(rows, "np.copyto (memory floor)", "e4m3fn")

    def best(col, labels):
        vals = [(v, lab) for lab in labels if (v := value(rows, lab, col)) is not None]
        return max(vals) if vals else (None, None)

    def torch_best(col):
        return best(col, ["torch native .to()", "torch native, preallocated"])[0], None

    peers = [r.label for r in rows if r.group not in ("floor", "floatsim")]
    rne = [c for c in RNE_COLS if c in cols]
    allc = [c for c in COLS if c in cols]
    for fs_label in ("floatsim", "floatsim out="):
        if not any(r.label == fs_label for r in rows):
            continue
        out.append(f"{fs_label}:")
        out.append(
            ratio_line(
                rows,
                "vs torch native (best of .to / preallocated)",
                fs_label,
                torch_best,
                [c for c in rne if c in TORCH_DT],
            )
        )
        out.append(ratio_line(rows, "vs ml_dtypes", fs_label, "ml_dtypes .astype", rne))
        out.append(ratio_line(rows, "vs copy floor", fs_label, lambda col: (floor, None), allc))
        sr = []
        for col, base in (("e4m3 SR", "e4m3fn"), ("e4m3 SR8", "e4m3fn"), ("bf16 SR", "bf16")):
            a, b = value(rows, fs_label, col), value(rows, fs_label, base)
            sr.append(f"{col} {a / b:.3g}x" if a and b else f"{col} n/a")
        out.append("- SR / nearest-even of the same format: " + ", ".join(sr))
        out.append(
            ratio_line(
                rows, "vs pychop numpy (default)", fs_label, "pychop numpy (default chunks)", allc
            )
        )
        out.append(ratio_line(rows, "vs best peer", fs_label, lambda col: best(col, peers), allc))
    return out


def machine_info() -> list[str]:
    model = platform.processor() or "?"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name"):
                model = line.split(":", 1)[1].strip()
                break
        flags = next((ln for ln in lscpu.splitlines() if ln.startswith("Flags")), "")
        if "avx512f" in flags:
            model += " (AVX-512)"
    except OSError:
        pass
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    vers = [f"python {platform.python_version()}"]
    for mod in (
        "numpy",
        "numba",
        "torch",
        "ml_dtypes",
        "gfloat",
        "pychop",
        "qtorch",
        "torchao",
        "floatsim",
    ):
        try:
            from importlib.metadata import version

            vers.append(f"{mod} {version(mod)}")
        except Exception:  # noqa: BLE001
            vers.append(f"{mod} -")
    if (MICROXCALING / ".git").exists():
        rev = subprocess.run(
            ["git", "-C", str(MICROXCALING), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        vers.append(f"microxcaling {rev or '?'}")
    threads = []
    try:
        import numba

        threads.append(f"numba threads {numba.config.NUMBA_NUM_THREADS}")
    except Exception:  # noqa: BLE001
        pass
    try:
        import torch

        threads.append(f"torch threads {torch.get_num_threads()}")
    except Exception:  # noqa: BLE001
        pass
    return [
        f"machine: {model}, nproc {ncpu}, {platform.system()} {platform.machine()}",
        "versions: " + ", ".join(vers),
        "threads: " + ", ".join(threads),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--size",
        type=int,
        default=24,
        metavar="LOG2",
        help="input has 2**LOG2 float32 elements (default 24)",
    )
    ap.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="timed calls per cell after one warm-up; median reported (default 5)",
    )
    ap.add_argument(
        "--only",
        default="",
        metavar="ROWS",
        help=f"comma-separated row groups to run: {','.join(GROUPS)}",
    )
    ap.add_argument("--cols", default="", help="comma-separated columns (default: all)")
    ap.add_argument("--markdown", metavar="FILE", help="also write the report to FILE")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    if not 10 <= args.size <= 28:
        ap.error("--size must be in 10..28")
    only = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = [g for g in only if g not in GROUPS]
    if unknown:
        ap.error(f"unknown row group(s) {unknown}; choose from {GROUPS}")
    cols = [c.strip() for c in args.cols.split(",") if c.strip()] or COLS
    bad_cols = [c for c in cols if c not in COLS]
    if bad_cols:
        ap.error(f"unknown column(s) {bad_cols}; choose from {COLS}")

    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        import torch

        torch.set_num_threads(ncpu or 1)
    except Exception:  # noqa: BLE001
        pass

    load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    if load0 is not None and ncpu and load0 > 0.5 * ncpu:
        print(
            f"warning: load average {load0:.2f} on {ncpu} CPUs: other processes are running, "
            "timings will be low and noisy"
        )
    ctx = Ctx(args.size)
    command = "python " + " ".join(
        shlex.quote(a)
        for a in [os.path.relpath(__file__, Path.cwd()), *(sys.argv[1:] if argv is None else argv)]
    )
    print(
        f"input: 2^{args.size} float32, standard_normal * 4 (seed 0); "
        f"MX on a {ctx.shape2d[0]}x{ctx.shape2d[1]} view, block {BLOCK} along the last axis"
    )
    rows = []
    for group, label, builder in ROWS:
        if only and group not in only:
            continue
        print(f"[{label}]", flush=True)
        rows.append(run_row(ctx, group, label, builder, cols, args.repeats))

    tbl, notes = table(rows, cols)
    report = [
        f"## CPU fake-quantize round trip, 2^{args.size} float32 elements (Melem/s, "
        f"median of {args.repeats})",
        "",
        tbl,
        "",
        "[2^k]: measured on the first 2^k elements (too slow for the full input); "
        "✗n: result differs from the reference (note n). Blank: the library has no such "
        "operation. np.copyto is the memory floor for every column.",
    ]
    if notes:
        report += [
            "",
            "Correctness notes (checked before timing; reference ml_dtypes for element "
            "formats, gfloat for MX on a prefix, ml_dtypes grid for SR):",
        ]
        report += [f"{i}. {n}" for i, n in enumerate(notes, 1)]
    report += ["", "Ratios (Melem/s of floatsim / Melem/s of the other):"] + ratios(rows, cols)
    load = ""
    if load0 is not None:
        load = f"load average (1 min) before {load0:.2f}, after {os.getloadavg()[0]:.2f}"
    report += ["", *machine_info(), load, f"command: `{command}`"]
    text = "\n".join(report)
    print()
    print(text)
    if args.markdown:
        path = Path(args.markdown)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
        print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
