"""GPU arrays in :func:`floatsim.blocks.quantize` and :func:`~floatsim.blocks.encode`:
the CUDA kernels of :mod:`.blocks` and :mod:`.blocks_warp`, with no host round trip.

``floatsim.blocks.api`` sends an array here when it lives on a GPU (CuPy,
PyTorch CUDA tensors, Numba device arrays, JAX GPU arrays, DLPack).
Arguments are validated exactly as on the CPU (:class:`.block_plan.DevicePlan`,
on a zero-stride stand-in of x's shape and dtype, so nothing is read from the
device), the kernels run on the input library's current stream
(:mod:`.interop`), and every result is an array of the caller's library,
equal bit for bit to the CPU path's.  CUDA torch tensors in the plain case
first try the per-call plans of :mod:`.plans`.

Supported on GPU arrays: every block format (MX, NVFP4 and 4-over-6, BFP,
INTn, MINMAX, per-tensor / per-channel scaling), every rounding mode with
seeded stochastic rounding, float64 / float32 / float16 / bfloat16 inputs and
outputs, 1-D blocks along any axis, tiles over up to three axes (more where
whole axes merge), whole-axis blocks (cut into chunks), ``out=``,
``tensor_scale=`` and host (numpy) ``amax=``.  Not supported (a
NotImplementedError says so): ``scale_overflow='raise'`` (reporting it would
need a device-to-host sync), ``amax=`` as a GPU array, tiles over more than
three axes that do not merge, and two-level formats whose ``scale_bound *
element max`` is not a float64 number.

Differences from the CPU path, each to avoid a device-to-host sync: NaN into
a format without a NaN code gives the all-ones code in ``encode`` (the CPU
raises); a two-level format's tensor scale comes back as a 0-d float64 GPU
array (the CPU returns a Python float).

Example (no GPU needed):
    >>> from floatsim.gpu.blocks_dispatch import round_params
    >>> len(round_params(2))  # float16 as the kernels' output format
    21
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..arrays import is_device_array
from ..blocks.format import BlockFormat
from ..blocks.layout import AxisArg
from ..blocks.plan import elem_code_dtype
from ..dtypes import code_dtype, float_dtype
from ..formats import Overflow
from ..kernels.abi import ROUNDING_CODE, make_params
from ..registry import format as _format
from ..rounding import Rounding, ScaleRule
from . import plans
from .block_plan import DevicePlan, params_tuple
from .interop import (
    DeviceArray,
    as_caller,
    flat,
    import_array,
    kind_of,
    new_array,
    on_device,
    out_array,
    stream_for,
)
from .tables import dummy
from .vector_io import aligned4

__all__ = ["encode", "quantize", "round_params"]


@functools.cache
def round_params(kind: int) -> tuple[int, ...]:
    """make_params of float16 (kind 2) or bfloat16 (else), nearest even,
    overflow to inf: the output conversion of narrow float results."""
    fmt = _format("float16" if kind == 2 else "bfloat16")
    return tuple(int(v) for v in make_params(fmt, Rounding.NEAREST_EVEN, overflow=Overflow.INF))


class _Launch:
    """What every kernel of one call needs: the plan, the device view of x,
    the stream, the geometry and the parameter tuples."""

    def __init__(self, src: DeviceArray, bfmt: BlockFormat | str, rounding: Rounding | str,
                 axis: AxisArg, seed: int | None, stream: int, sr_bits: int | None, amax: Any,
                 tensor_scale: Any) -> None:
        from . import blocks as BK

        self.BK = BK
        self.src = src
        self.plan = plan = DevicePlan(src, bfmt, rounding, axis, seed, stream, sr_bits, amax,
                                       tensor_scale)
        self.shape = tuple(src.arr.shape)
        self.stream, _ = stream_for(None, src)
        self.g = plan.geometry
        self.nblocks = BK.n_blocks(self.g)
        self.in_kind = kind_of(src.dtype)
        epv, spv, bpv, fpv = plan.vectors()
        self.ep, self.sp, self.bp, self.fp = (params_tuple(v) for v in (epv, spv, bpv, fpv))
        rmode, self.seed_lo, self.seed_hi, self.sid, self.wide = plan.random()
        self.rmode = rmode

    def empty(self, shape: tuple[int, ...], dtype: Any) -> tuple[Any, Any]:
        """A new array of the caller's library and its flat raw (unsigned) Numba view."""
        obj, raw = new_array(self.src, shape, np.dtype(dtype), self.stream)
        return obj, raw.reshape(max(raw.size, 1)) if raw.size else raw

    def temp(self, n: int, dtype: Any) -> Any:
        """A flat scratch array of ``dtype`` (int64 / float64: the kernels mix its
        values with int64 and float64, never with uint64)."""
        return self.empty((n,), dtype)[1].view(np.dtype(dtype))

    def xr(self) -> Any:
        return flat(self.src.arr, self.stream)

    def tensor_scale(self, xr: Any, tr: Any) -> None:
        """The tensor scale into ``tr`` (one float64): the caller's, or amax / (scale_bound *
        element max) of x's finite values rounded to the tensor format."""
        BK, plan = self.BK, self.plan
        den, tp, tmin = plan.tensor_scale_args()
        given = 0.0
        if plan.device_tscale:
            res = self.temp(1, np.int64)
            BK.zero_kernel[1, 1, self.stream](res)
            if xr.size:
                BK.launch(BK.tensor_amax_kernel, xr.size, self.stream, xr, self.in_kind, res)
        else:
            res = dummy("int64")
            given = plan.tscale
        BK.tensor_scale_kernel[1, 1, self.stream](res, tr, den, tp, tmin, given)

    def stats(self, xr: Any, split: bool) -> tuple[int, tuple[Any, ...]]:
        """(use_stats, the four statistics arrays): measured by stats_kernel
        when the blocks are split into chunks, else dummies."""
        BK, n = self.BK, self.nblocks
        if not split:
            d_i, d_f = dummy("int64"), dummy("float64")
            return 0, (d_i, d_i, d_f, d_f)
        arrays = (self.temp(n, np.int64), self.temp(n, np.int64), self.temp(n, np.float64),
                  self.temp(n, np.float64))
        nitems, nc, ch = BK.items(self.g, True)
        BK.launch(BK.stats_init_kernel, n, self.stream, n, *arrays)
        BK.launch(BK.stats_kernel, nitems, self.stream, xr, self.in_kind, nitems, self.g, nc, ch,
                  *arrays)
        return 1, arrays

    def general(self, xr: Any, want_codes: bool, outr: Any, out_kind: int, codes: Any,
                scodes: Any, zps: Any, tr: Any) -> None:
        """scale_kernel, then element_kernel (cpu.blocks.block_cast's work);
        stats_kernel first where blocks are large."""
        BK, plan, dev = self.BK, self.plan, self.src.device
        use_tsc = int(tr is not None)
        tsc = tr if tr is not None else dummy("float64")
        use_amax = int(plan.amax_host is not None)
        if use_amax:
            from numba import cuda

            with on_device(dev):
                amax = cuda.to_device(plan.amax_host.reshape(-1), stream=self.stream)
        else:
            amax = dummy("float64")
        n = self.nblocks
        scs = self.temp(n, np.int64)
        svs = self.temp(n, np.float64)
        zps = self.temp(n, np.int64) if zps is None else zps.view(np.int64)
        rand = (self.rmode, self.seed_lo, self.seed_hi, self.sid, self.wide)
        four6 = plan.bf.rule is ScaleRule.FOUR_OVER_SIX
        split = BK.splits(self.g, four6)
        use_stats, stats = self.stats(xr, split)
        BK.launch(BK.scale_kernel(four6), n, self.stream, xr, self.in_kind, n, self.g, self.ep,
                  self.sp, self.bp, self.fp, tsc, use_tsc, amax, use_amax, use_stats, *stats, *rand,
                  scs, svs, zps)
        op = round_params(out_kind)
        nitems, nc, ch = BK.items(self.g, split)
        BK.launch(BK.element_kernel(want_codes), nitems, self.stream, xr, self.in_kind, outr,
                  out_kind, op, codes, scodes, nitems, self.g, nc, ch, self.ep, self.bp, self.fp,
                  tsc, use_tsc, scs, svs, zps, *rand)


def _out_dtype(out: Any, out_dtype: Any, x_dtype: np.dtype) -> np.dtype:
    if out is not None and out_dtype is None and is_device_array(out):
        out_dtype = import_array(out, "out").dtype
    return float_dtype(x_dtype if out_dtype is None else out_dtype)


def quantize(x: Any, bfmt: BlockFormat | str, rounding: Rounding | str, *, axis: AxisArg,
             seed: int | None, stream: int, sr_bits: int | None, amax: Any, tensor_scale: Any,
             out: Any, out_dtype: Any) -> Any:
    """:func:`floatsim.blocks.quantize` of a GPU array (see the module docstring)."""
    if amax is None and tensor_scale is None and out is None and out_dtype is None:
        y = plans.block_quantize(x, bfmt, rounding, axis, seed, stream, sr_bits)
        if y is not None:
            return y
    src = import_array(x, "x")
    with on_device(src.device):  # streams, events and arrays belong to x's device
        L = _Launch(src, bfmt, rounding, axis, seed, stream, sr_bits, amax, tensor_scale)
        BK, plan = L.BK, L.plan
        dt = _out_dtype(out, out_dtype, src.dtype)
        obj, outr = out_array(out, src, L.shape, dt, L.stream)
        if src.arr.size == 0:
            return as_caller(src, obj)
        xr, outf = L.xr(), outr.reshape(outr.size)
        kdt = np.dtype(np.float32) if dt == np.float32 else np.dtype(np.float64)
        if plan.fast32(kdt):
            from . import blocks_warp as BW

            c, fmax = plan.fast_consts()
            bsz = BW.warp_block(L.g)
            if bsz:  # blocks of 4..32 consecutive elements: neighbouring lanes share them
                BW.launch(plan.warp_kernel(L.in_kind, aligned4(xr, outf)), xr.size, L.stream, xr, outf, bsz, c, L.ep,
                          L.bp, fmax, L.seed_lo, L.seed_hi, L.sid)
                return as_caller(src, obj)
            kern = BK.fast_kernel(ROUNDING_CODE[plan.spec.rounding], L.in_kind)
            split = BK.splits(L.g, False)
            use_stats, (am, nan, _hi, _lo) = L.stats(xr, split)
            nitems, nc, ch = BK.items(L.g, split)
            BK.launch(kern, nitems, L.stream, xr, outf, nitems, L.g, nc, ch, use_stats, am, nan, c,
                      L.ep, L.bp, fmax, L.seed_lo, L.seed_hi, L.sid)
        else:
            tr = None
            if plan.bf.tensor_format is not None and plan.device_tscale:
                tr = L.temp(1, np.float64)
                L.tensor_scale(xr, tr)
            if plan.value32(kdt):
                from . import blocks_warp as BW

                bsz = BW.warp_block(L.g)
                if bsz:  # blocks of 4..32 consecutive elements, a value scale (NVFP4)
                    c, _fmax = plan.fast_consts()
                    cs, scale32 = plan.scale_consts()
                    tsc = tr if tr is not None else dummy("float64")
                    BW.launch(plan.value_kernel(L.in_kind, aligned4(xr, outf)), xr.size, L.stream, xr, outf, bsz, c, cs,
                              scale32, L.ep, L.sp, L.bp, L.fp, tsc, int(tr is not None), L.seed_lo,
                              L.seed_hi, L.sid)
                    return as_caller(src, obj)
            L.general(xr, False, outf, kind_of(dt), dummy("uint8"), dummy("uint8"), None, tr)
    return as_caller(src, obj)


def encode(x: Any, bfmt: BlockFormat | str, rounding: Rounding | str, *, axis: AxisArg,
           seed: int | None, stream: int, sr_bits: int | None, amax: Any,
           tensor_scale: Any) -> tuple[Any, ...]:
    """:func:`floatsim.blocks.encode` of a GPU array (see the module docstring):
    (elements, scales, tensor scale or None, zero points or None)."""
    src = import_array(x, "x")
    with on_device(src.device):  # streams, events and arrays belong to x's device
        L = _Launch(src, bfmt, rounding, axis, seed, stream, sr_bits, amax, tensor_scale)
        plan, lay = L.plan, L.plan.layout
        bf = plan.bf
        e_obj, codes = L.empty(L.shape, elem_code_dtype(bf))
        s_obj, scodes = L.empty(lay.scale_shape, code_dtype(bf.scale))
        z_obj, zps = (L.empty(lay.scale_shape, np.int64) if bf.rule is ScaleRule.MINMAX
                      else (None, None))
        t_obj, tr = (L.empty((), np.float64) if bf.tensor_format is not None else (None, None))
        tr = tr.view(np.float64) if tr is not None else None
        xr = L.xr()
        if tr is not None:
            L.tensor_scale(xr, tr)
        if src.arr.size:
            L.general(xr, True, dummy("uint32"), 0, codes, scodes, zps, tr)
    return (as_caller(src, e_obj), as_caller(src, s_obj),
            None if t_obj is None else as_caller(src, t_obj),
            None if z_obj is None else as_caller(src, z_obj))
