"""Pseudo-quantization noise on the GPU: the scalar routine of
:mod:`floatsim.kernels.noise` in a CUDA kernel, and the dispatch of
:func:`floatsim.noise.pseudo_quantize` for GPU arrays.

The kernel is a grid-stride loop over groups of four elements (one Philox
call per word kind a group, as on the CPU), over one or more *segments* of a
flat array, each with its own scale exponent: from its amax (float64 bits,
read on the device: no host synchronisation) or given.  Inputs and outputs
are raw bit views of any float kind (:data:`floatsim.kernels.abi.KIND_CODE`);
the result is the CPU's bit for bit (tests/cuda_sim_noise.py runs it under
the simulator; tests/gpu_noise_check.py on a GPU).

:func:`amax_kernel` reduces |x| to its largest float64 bit pattern with an
atomic max (IEEE order of non-negative floats is the order of their bits;
NaN above inf), so a tensor's scale never leaves the device.

Example (builds nothing; kernels compile at their first launch):
    >>> from floatsim.gpu.noise import noise_kernel
    >>> noise_kernel.py_func.__name__
    'noise_kernel'
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda

from ..kernels.abi import K_F64
from ..kernels.intrinsics import f64_from_bits
from ..kernels.noise import (
    Q_EMAX,
    Q_G,
    Q_KIND,
    Q_KMAX,
    Q_KMIN,
    Q_MAXFRAC,
    anneal_count,
    element_bits,
    group_draws,
    level,
    tensor_exponent,
)
from . import SIMULATOR
from .elementwise import GROUP, f32_to_f64_bits, in_f64_bits, out_f32_bits
from .launch import launch_items, settings

__all__ = ["amax_kernel", "noise_kernel", "ptx_signatures", "pseudo_quantize", "run_segments"]

#: :func:`floatsim.kernels.noise.element_bits` as a device function NVVM
#: inlines (numba-cuda's own inlining would re-run its front end per call
#: site; see gpu.elementwise.quantize_f32_dev).  Under the simulator, the CPU
#: function itself.
element_dev = element_bits if SIMULATOR else cuda.jit(device=True, forceinline=True)(
    element_bits.py_func)
# Under the simulator the kernel is Python and its arrays are not numpy arrays,
# which compiled CPU functions cannot take: the routines that read an array
# run as Python there.
_level = level.py_func if SIMULATOR else level
_anneal = anneal_count.py_func if SIMULATOR else anneal_count


@cuda.jit(cache=True)
def noise_kernel(xr, outr, in_kind, out_kind, starts, seg_amax, seg_k, from_amax, q, tab, athr,  # noqa: ANN001, ANN201, PLR0913
                 c, rnd, draw_sr, seed_lo, seed_hi, stream, offset):
    """outr[i] = the pseudo-quantized xr[i] (raw views of kinds ``in_kind`` /
    ``out_kind``), segment by segment (see :mod:`floatsim.cpu.noise`)."""
    n = xr.size
    nseg = starts.size - 1
    annealed = athr.size > 0
    start = np.int64(cuda.blockIdx.x) * cuda.blockDim.x + cuda.threadIdx.x
    step = np.int64(cuda.gridDim.x) * cuda.blockDim.x
    for g in range(start, (n + (GROUP - 1)) // GROUP, step):
        i0 = g * GROUP
        lo, hi = np.int64(0), np.int64(nseg - 1)
        while lo < hi:  # the segment holding i0 (starts are multiples of 4)
            mid = (lo + hi + 1) >> 1
            if starts[mid] <= i0:
                lo = mid
            else:
                hi = mid - 1
        if from_amax:
            k = tensor_exponent(seg_amax[lo], q[Q_EMAX], q[Q_MAXFRAC], q[Q_KMIN], q[Q_KMAX])
        else:
            k = seg_k[lo]
        gidx = (i0 + offset) >> 2
        nlo, nhi, alo, ahi, rlo, rhi = group_draws(seed_lo, seed_hi, gidx, stream, annealed, draw_sr)
        lim = min(np.int64(GROUP), starts[lo + 1] - i0)
        for t in range(GROUP):
            if t < lim:
                sh = (t & 1) << 5
                u = ((nhi if t >= 2 else nlo) >> sh) & 0xFFFFFFFF
                nn = _level(u, q[Q_KIND], q[Q_G], tab)
                j = np.int64(0)
                if annealed:
                    j = np.int64(_anneal(((ahi if t >= 2 else alo) >> sh) & 0xFFFFFFFF, athr))
                usr = np.int64(((rhi if t >= 2 else rlo) >> sh) & 0xFFFFFFFF)
                wd = np.float64(f64_from_bits(in_f64_bits(xr[np.uint64(i0 + t)], in_kind)))
                # the types spelled out: the simulator calls the compiled routine
                # from Python, once per distinct argument typing
                r = element_dev(wd, np.int64(nn), j, usr, np.int64(k), q, c, np.int64(rnd))
                if out_kind == K_F64:
                    outr[np.uint64(i0 + t)] = np.int64(f32_to_f64_bits(r))
                else:
                    outr[np.uint64(i0 + t)] = np.int64(out_f32_bits(r, out_kind))


@cuda.jit(cache=True)
def amax_kernel(xr, in_kind, lo, hi, out, slot):  # noqa: ANN001, ANN201
    """out[slot] = max(out[slot], the largest float64 bits of |xr[lo:hi]|)
    (``out`` int64, zeroed by the caller)."""
    m = np.int64(0)
    start = lo + np.int64(cuda.blockIdx.x) * cuda.blockDim.x + cuda.threadIdx.x
    step = np.int64(cuda.gridDim.x) * cuda.blockDim.x
    for i in range(start, hi, step):
        m = max(m, in_f64_bits(xr[np.uint64(i)], in_kind) & 0x7FFFFFFFFFFFFFFF)
    cuda.atomic.max(out, slot, m)


def run_segments(p: Any, xr: Any, outr: Any, in_kind: int, out_kind: int, starts: Any,
                 seg_amax: Any, seg_k: Any, from_amax: bool, athr: Any, seed_lo: int,
                 seed_hi: int, stream: int, offset: int, launch_stream: Any) -> None:
    """Launch the noise kernel on raw device views (``starts``, ``seg_amax``
    (float64 bits), ``seg_k`` and ``athr`` device arrays)."""
    launch_items(noise_kernel, -(-int(xr.size) // GROUP), launch_stream, settings().elementwise,
                 xr, outr, in_kind, out_kind, starts, seg_amax, seg_k, bool(from_amax), p.q,
                 _device_table(p), athr, p.consts, p.rnd, p.draw_sr, seed_lo, seed_hi, stream,
                 offset)


_TABLES: dict[tuple[int, int], Any] = {}


def _device_table(p: Any) -> Any:
    """The plan's alias table on the current device (copied once)."""
    dev = 0 if SIMULATOR else cuda.get_current_device().id
    key = (id(p.tab), dev)
    if key not in _TABLES:
        _TABLES[key] = (cuda.to_device(p.tab), p.tab)  # keep the host array alive with its key
    return _TABLES[key][0]


def pseudo_quantize(x: Any, p: Any, fixed: int | None, seed_lo: int, seed_hi: int, stream: int,
                    out: Any, out_dtype: Any) -> Any:
    """:func:`floatsim.noise.pseudo_quantize` of a GPU array (one segment)."""
    from ..dtypes import check_out_dtype
    from ..noise.api import anneal_thresholds
    from .interop import as_caller, flat, import_array, kind_of, on_device, out_array, stream_for

    src = import_array(x, "x")
    cfg = p.config
    if out is not None and out_dtype is None:
        out_dtype = import_array(out, "out").dtype
    dt = check_out_dtype(src.dtype if out_dtype is None else out_dtype, cfg.storage)
    with on_device(src.device):
        launch_stream, _ = stream_for(None, src)
        shape = tuple(src.arr.shape)
        obj, outr = out_array(out, src, shape, dt, launch_stream)
        if src.arr.size:
            xr = flat(src.arr, launch_stream)
            n = int(xr.size)
            from_amax = fixed is None and cfg.scale == "tensor"
            amax = cuda.to_device(np.zeros(1, np.int64), stream=launch_stream)
            if from_amax:
                launch_items(amax_kernel, n, launch_stream, settings().elementwise, xr,
                             kind_of(src.dtype), 0, n, amax, 0)
            starts = cuda.to_device(np.array([0, n], np.int64), stream=launch_stream)
            seg_k = cuda.to_device(np.array([fixed or 0], np.int64), stream=launch_stream)
            athr = cuda.to_device(anneal_thresholds(float(cfg.anneal)), stream=launch_stream)
            run_segments(p, xr, outr.reshape(outr.size), kind_of(src.dtype), kind_of(dt), starts,
                         amax, seg_k, from_amax, athr, seed_lo, seed_hi, stream, 0, launch_stream)
    return as_caller(src, obj)


def ptx_signatures() -> list[tuple[str, Any, tuple]]:
    """(label, function, argument types) of the kernels for the PTX build test."""
    from numba import types as t

    i64, b = t.int64, t.boolean
    s64, u32, u16 = t.int64[::1], t.uint32[::1], t.uint16[::1]
    qt = t.UniTuple(t.int64, 11)
    ct = t.Tuple((t.int64,) * 16 + (t.float64,))
    sigs = []
    for label, xin, out in (("f32", u32, u32), ("bf16", u16, u16)):
        sigs.append((f"noise_{label}", noise_kernel.py_func,
                     (xin, out, i64, i64, s64, s64, s64, b, qt, s64, u32, ct, i64, b, i64, i64, i64,
                      i64)))
    sigs.append(("amax_f32", amax_kernel.py_func, (u32, i64, i64, i64, s64, i64)))
    return sigs
