"""GPU arrays in :func:`floatsim.blocks.quantize` and :func:`~floatsim.blocks.encode`:
the CUDA kernels of :mod:`floatsim.kernels.blocks_cuda`, with no host round trip.

``blocks._cast`` sends an array here when ``cuda_dispatch.is_device_array``
says it lives on a GPU (CuPy, PyTorch CUDA tensors, Numba device arrays, JAX
GPU arrays, DLPack).  Arguments are validated exactly as on the CPU (by the
same ``_Plan``, on a zero-stride stand-in of x's shape and dtype, so nothing
is read from the device), the kernels run on the input library's current
stream (``floatsim.cuda_dispatch``), and every result is an array of the
caller's library, equal bit for bit to the CPU path's.

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
    >>> import floatsim as fs
    >>> from floatsim.blocks._cuda import _unsupported
    >>> _unsupported(fs.blocks.format("nvfp4"), None) is None
    True
"""

from __future__ import annotations

import functools
from fractions import Fraction
from typing import Any

import numpy as np

from ..cast import _float_dtype, code_dtype
from ..cuda_dispatch import (
    _Dev,
    _empty,
    _flat,
    _import,
    _on,
    _out,
    _result,
    _stream_for,
    is_device_array,
)
from ..formats import Overflow
from ..kernels.params import make_params
from ..registry import format as _format
from ..rounding import Rounding
from ._cast import _elem_code_dtype, _Plan
from ._format import BlockFormat, ScaleRule
from ._format import format as _bformat
from ._layout import AxisArg

__all__ = ["encode", "quantize"]

_KIND = {"float64": 0, "float32": 1, "float16": 2, "bfloat16": 3}
_MAX_LEVELS = 3  # block axes the kernels' geometry holds


def _unsupported(bf: BlockFormat, amax: Any) -> str | None:
    """Why a call cannot run on the GPU (None: it can, as far as the format and
    arguments tell; tiles are checked once the layout is known)."""
    if bf.scale_overflow == "raise":
        return ("scale_overflow='raise' (reporting the overflow would need a device-to-host "
                "sync; use 'saturate' or 'nan', or a numpy array)")
    if amax is not None and is_device_array(amax):
        return "amax= as a GPU array (pass a numpy array: it is checked on the host and copied)"
    if bf.tensor_format is not None:
        den = Fraction(bf.scale_bound) * Fraction(bf.element_max)
        if Fraction(float(den)) != den:
            return (f"a tensor scale from amax / (scale_bound * element max) = amax / {den}, "
                    "which is not a float64 number")
    return None


def _not_implemented(why: str) -> NotImplementedError:
    return NotImplementedError(
        f"floatsim.blocks on GPU arrays does not support {why}.  Supported: every block format "
        f"and rounding mode, 1-D blocks along any axis, tiles over up to {_MAX_LEVELS} axes, "
        "whole-axis scaling, tensor_scale= and numpy amax=.")


class _DevicePlan(_Plan):
    """``_Plan`` for a GPU array: validated on a stand-in that holds no data.

    Two-level formats without ``tensor_scale=`` get their tensor scale on the
    device (``device_tscale``); ``amax=`` is kept in the scales' shape."""

    def __init__(self, src: _Dev, bfmt: BlockFormat | str, rounding: Rounding | str,
                 axis: AxisArg, seed: int | None, stream: int, sr_bits: int | None, amax: Any,
                 tensor_scale: Any) -> None:
        self.device_tscale = False
        self.amax_host: np.ndarray | None = None
        # a zero-stride view: x's shape and dtype for the CPU's checks, no memory
        stand_in = np.broadcast_to(np.zeros((), dtype=src.dtype), tuple(src.arr.shape))
        bf = _bformat(bfmt)
        why = _unsupported(bf, amax)
        if why is not None:
            raise _not_implemented(why)
        super().__init__(stand_in, bf, rounding, axis, seed, stream, sr_bits, amax, tensor_scale)
        from ..kernels.blocks_cuda import geometry

        lay = self.layout
        try:
            self.geometry = geometry(lay.shape, lay.scale_shape, lay.axes, lay.bsz)
        except ValueError:
            raise _not_implemented(f"tiles over {len(lay.axes)} axes that do not merge into "
                                   f"{_MAX_LEVELS}") from None

    def warp_kernel(self, in_kind: int, vec: bool) -> Any:
        """kernels.blocks_warp's kernel for this call, input kind and access
        form (``vec``: vector loads and stores, for aligned arrays)."""
        from ..kernels import blocks_warp as BW

        return BW.warp_kernel(self.call.rounding.value, in_kind, self.call.gpu_form(self.bf.element), vec)

    def tensor_scale_args(self) -> tuple[float, tuple, float]:
        """What tensor_scale_kernel takes besides its arrays and a given scale:
        the denominator ``scale_bound * element max``, the tensor format's
        params (nearest even) and its smallest subnormal."""
        bf = self.bf
        tf = bf.tensor_format
        den = float(Fraction(bf.scale_bound) * Fraction(bf.element_max))
        return den, _tup(make_params(tf, Rounding.NEAREST_EVEN)), float(tf.min_subnormal)

    def value32(self, out_dt: np.dtype) -> bool:
        """The CPU's condition, and scale values times tensor scales that stay
        in blocks_cpu.reciprocal_ok's range: outside SR, the value kernel has
        no element route for other divisors (float32 tensor scales are far
        inside it)."""
        if not super().value32(out_dt):
            return False
        bf = self.bf
        lo, hi = float(bf.scale.min_subnormal), float(bf.scale.max)
        if bf.tensor_format is not None:
            lo, hi = lo * float(bf.tensor_format.min_subnormal), hi * float(bf.tensor_format.max)
        return lo >= 2.0**-800 and hi <= 2.0**800

    def value_kernel(self, in_kind: int, vec: bool) -> Any:
        """kernels.blocks_warp's value kernel for this call, input kind and access form."""
        from ..kernels import blocks_warp as BW

        return BW.value_kernel(self.call.rounding.value, in_kind, self.call.gpu_form(self.bf.element), vec)

    def _tensor_scale(self, value: Any) -> float:
        if value is None and self.bf.tensor_format is not None:
            self.device_tscale = True
            return 1.0  # a stand-in: the kernels read the device's value
        return super()._tensor_scale(value)

    def _amax(self, amax: Any) -> np.ndarray | None:
        checked = super()._amax(amax)  # the CPU's checks and errors
        if checked is not None:
            self.amax_host = np.ascontiguousarray(
                np.broadcast_to(np.asarray(amax).astype(np.float64), self.layout.scale_shape))
        return checked


@functools.cache
def _dummy(device: int, dtype: str) -> Any:
    """A one-element device array standing in for an argument a kernel ignores."""
    from numba import cuda

    with _on(device):
        return cuda.device_array(1, dtype=np.dtype(dtype))


@functools.cache
def _round_params(kind: int) -> tuple[int, ...]:
    """make_params of float16 (kind 2) or bfloat16 (else), nearest even,
    overflow to inf: the output conversion of narrow float results."""
    fmt = _format("float16" if kind == 2 else "bfloat16")
    return tuple(int(v) for v in make_params(fmt, Rounding.NEAREST_EVEN, overflow=Overflow.INF))


def _tup(v: np.ndarray) -> tuple:
    return tuple(v.tolist())


class _Launch:
    """What every kernel of one call needs: the plan, the device view of x,
    the stream, the geometry and the parameter tuples."""

    def __init__(self, src: _Dev, bfmt: BlockFormat | str, rounding: Rounding | str,
                 axis: AxisArg, seed: int | None, stream: int, sr_bits: int | None, amax: Any,
                 tensor_scale: Any) -> None:
        from ..kernels import blocks_cuda as BK

        self.BK = BK
        self.src = src
        self.plan = plan = _DevicePlan(src, bfmt, rounding, axis, seed, stream, sr_bits, amax,
                                       tensor_scale)
        self.shape = tuple(src.arr.shape)
        self.stream, _ = _stream_for(None, src)
        self.g = plan.geometry
        self.nblocks = BK.n_blocks(self.g)
        self.in_kind = _KIND[src.dtype.name]
        epv, spv, bpv, fpv = plan.vectors()
        self.ep, self.sp, self.bp, self.fp = _tup(epv), _tup(spv), _tup(bpv), _tup(fpv)
        rmode, self.seed_lo, self.seed_hi, self.sid, self.wide = plan.random()
        self.rmode = rmode

    def empty(self, shape: tuple[int, ...], dtype: Any) -> tuple[Any, Any]:
        """A new array of the caller's library and its flat raw (unsigned) Numba view."""
        obj, raw = _empty(self.src, shape, np.dtype(dtype), self.stream)
        return obj, raw.reshape(max(raw.size, 1)) if raw.size else raw

    def temp(self, n: int, dtype: Any) -> Any:
        """A flat scratch array of ``dtype`` (int64 / float64: the kernels mix its
        values with int64 and float64, never with uint64)."""
        return self.empty((n,), dtype)[1].view(np.dtype(dtype))

    def xr(self) -> Any:
        return _flat(self.src.arr, self.stream)

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
            res = _dummy(self.src.device, "int64")
            given = plan.tscale
        BK.tensor_scale_kernel[1, 1, self.stream](res, tr, den, tp, tmin, given)

    def stats(self, xr: Any, split: bool) -> tuple[int, tuple[Any, ...]]:
        """(use_stats, the four statistics arrays): measured by stats_kernel
        when the blocks are split into chunks, else dummies."""
        BK, n, dev = self.BK, self.nblocks, self.src.device
        if not split:
            d_i, d_f = _dummy(dev, "int64"), _dummy(dev, "float64")
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
        """scale_kernel, then element_kernel (blocks_cpu.block_cast's work);
        stats_kernel first where blocks are large."""
        BK, plan, dev = self.BK, self.plan, self.src.device
        use_tsc = int(tr is not None)
        tsc = tr if tr is not None else _dummy(dev, "float64")
        use_amax = int(plan.amax_host is not None)
        if use_amax:
            from numba import cuda

            with _on(dev):
                amax = cuda.to_device(plan.amax_host.reshape(-1), stream=self.stream)
        else:
            amax = _dummy(dev, "float64")
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
        op = _round_params(out_kind)
        nitems, nc, ch = BK.items(self.g, split)
        BK.launch(BK.element_kernel(want_codes), nitems, self.stream, xr, self.in_kind, outr,
                  out_kind, op, codes, scodes, nitems, self.g, nc, ch, self.ep, self.bp, self.fp,
                  tsc, use_tsc, scs, svs, zps, *rand)


def _out_dtype(out: Any, out_dtype: Any, x_dtype: np.dtype) -> np.dtype:
    if out is not None and out_dtype is None and is_device_array(out):
        out_dtype = _import(out, "out").dtype
    return _float_dtype(x_dtype if out_dtype is None else out_dtype)


def quantize(x: Any, bfmt: BlockFormat | str, rounding: Rounding | str, *, axis: AxisArg,
             seed: int | None, stream: int, sr_bits: int | None, amax: Any, tensor_scale: Any,
             out: Any, out_dtype: Any) -> Any:
    """:func:`floatsim.blocks.quantize` of a GPU array (see the module docstring)."""
    src = _import(x, "x")
    with _on(src.device):  # streams, events and arrays belong to x's device
        L = _Launch(src, bfmt, rounding, axis, seed, stream, sr_bits, amax, tensor_scale)
        BK, plan = L.BK, L.plan
        dt = _out_dtype(out, out_dtype, src.dtype)
        obj, outr = _out(out, src, L.shape, dt, L.stream)
        if src.arr.size == 0:
            return _result(src, obj)
        xr, outf = L.xr(), outr.reshape(outr.size)
        kdt = np.dtype(np.float32) if dt == np.float32 else np.dtype(np.float64)
        from ..kernels.vector_io import aligned4

        if plan.fast32(kdt):
            from ..kernels import blocks_warp as BW

            c, fmax = plan.fast_consts()
            bsz = BW.warp_block(L.g)
            if bsz:  # blocks of 4..32 consecutive elements: neighbouring lanes share them
                BW.launch(plan.warp_kernel(L.in_kind, aligned4(xr, outf)), xr.size, L.stream, xr, outf, bsz, c, L.ep,
                          L.bp, fmax, L.seed_lo, L.seed_hi, L.sid)
                return _result(src, obj)
            kern = BK.fast_kernel(plan.call.rounding.value, L.in_kind)
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
            dev = src.device
            if plan.value32(kdt):
                from ..kernels import blocks_warp as BW

                bsz = BW.warp_block(L.g)
                if bsz:  # blocks of 4..32 consecutive elements, a value scale (NVFP4)
                    c, _fmax = plan.fast_consts()
                    cs, scale32 = plan.scale_consts()
                    tsc = tr if tr is not None else _dummy(dev, "float64")
                    BW.launch(plan.value_kernel(L.in_kind, aligned4(xr, outf)), xr.size, L.stream, xr, outf, bsz, c, cs,
                              scale32, L.ep, L.sp, L.bp, L.fp, tsc, int(tr is not None), L.seed_lo,
                              L.seed_hi, L.sid)
                    return _result(src, obj)
            L.general(xr, False, outf, _KIND[dt.name], _dummy(dev, "uint8"), _dummy(dev, "uint8"),
                      None, tr)
    return _result(src, obj)


def encode(x: Any, bfmt: BlockFormat | str, rounding: Rounding | str, *, axis: AxisArg,
           seed: int | None, stream: int, sr_bits: int | None, amax: Any,
           tensor_scale: Any) -> tuple[Any, ...]:
    """:func:`floatsim.blocks.encode` of a GPU array (see the module docstring)."""
    src = _import(x, "x")
    with _on(src.device):  # streams, events and arrays belong to x's device
        L = _Launch(src, bfmt, rounding, axis, seed, stream, sr_bits, amax, tensor_scale)
        plan, lay = L.plan, L.plan.layout
        bf = plan.bf
        e_obj, codes = L.empty(L.shape, _elem_code_dtype(bf))
        s_obj, scodes = L.empty(lay.scale_shape, code_dtype(bf.scale))
        z_obj, zps = (L.empty(lay.scale_shape, np.int64) if bf.rule is ScaleRule.MINMAX
                      else (None, None))
        t_obj, tr = (L.empty((), np.float64) if bf.tensor_format is not None else (None, None))
        tr = tr.view(np.float64) if tr is not None else None
        xr = L.xr()
        if tr is not None:
            L.tensor_scale(xr, tr)
        if src.arr.size:
            L.general(xr, True, _dummy(src.device, "uint32"), 0, codes, scodes, zps, tr)
    results = [_result(src, e_obj), _result(src, s_obj)]
    if t_obj is not None:
        results.append(_result(src, t_obj))
    if z_obj is not None:
        results.append(_result(src, z_obj))
    return tuple(results)
