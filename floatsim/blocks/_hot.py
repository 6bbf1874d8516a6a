"""The per-call fast path of :func:`floatsim.blocks.quantize` for CUDA torch tensors.

A training step fake-quantizes the same few tensors (same shape, format,
mode) in MXFP8 / MXFP4 every iteration.  The general GPU dispatch
(:mod:`floatsim.blocks._cuda`: array import, the CPU's full validation on a
stand-in, numba-cuda's argument typing) costs about 1.3 ms of host time per
call on an H100 host, several times the kernel's own time on a 2**26-element
tensor.  Here the first call of a combination (format, mode, axis, seed
given or not, sr_bits, dtype, shape) is validated by that general path's own
code and leaves a *plan*: the warp kernel of :mod:`floatsim.kernels.blocks_warp`
with its parameters in one buffer (:class:`~floatsim.kernels.cuda_launch.Prepared`).
Later calls read the tensor's pointer and current stream, allocate the
result with ``torch.empty_like`` and launch through the driver.

It takes the plain case, as :mod:`floatsim.cuda_hot` does for the element
cast: a contiguous float32 tensor on device 0 whose data is 16-byte aligned
(the kernels move four elements at once), blocks of 4 to 32 consecutive
elements that divide the last axis, and either a power-of-two scale rule (the
float32 fast path: MX) or a value scale (NVFP4: the warp kernel's value form,
after the tensor-amax and tensor-scale kernels for a two-level format, which
write into a 16-byte scratch tensor of each call; a one-level format reads
no tensor scale); no ``out=``,
``out_dtype=``, ``amax=`` or ``tensor_scale=``, a seed that is a plain
``int``.  Anything else, and the CUDA simulator, go through the general
path, with the same results.

Example (no GPU needed):
    >>> import numpy as np
    >>> from floatsim.blocks._hot import quantize
    >>> quantize(np.zeros((2, 32)), "mxfp8_e4m3", "rne", -1, None, 0, None, None, None, None, None) is None
    True
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..cuda_hot import _ready, current_stream

__all__ = ["quantize"]

_MAX_SEED = 2**64
_MAX_STREAM = 2**32


class _Plan(NamedTuple):
    prepared: Any  # kernels.cuda_launch.Prepared, filled but for the per-call slots
    seed_slot: int  # slot of seed_lo (seed_hi and the Philox stream follow)
    stochastic: bool
    threads: int
    blocks: int  # grid size for this shape
    align: int  # x's data pointer must be a multiple of this (the kernels' vector loads)
    # a two-level format on the value kernel: (slot of its tensor-scale pointer,
    # tensor-amax Prepared, its blocks and threads, tensor-scale Prepared)
    tensor: Any = None


# Slots of the per-call parameters: the input and output arrays' data pointers
# (numba's array layout: meminfo, parent, nitems, itemsize, data, shape, strides),
# the first and second array's in the tensor-amax and tensor-scale kernels.
_X_PTR, _Y_PTR = 4, 11
_AMAX_RES_PTR, _SCALE_RES_PTR, _SCALE_OUT_PTR = 12, 4, 11

_PLANS: dict[tuple, _Plan | None] = {}
_T: Any = None  # torch, once a tensor has come here


def _make_plan(x: Any, bfmt: Any, rounding: Any, axis: Any, seed: Any, stream: Any,
               sr_bits: Any) -> _Plan | None:
    """Validate one combination as the general path does; plan its launch, or
    None when it is not the plain case (the general path then serves it)."""
    from ..cuda_dispatch import _import
    from ..kernels import blocks_warp as BW
    from ..kernels.cuda import K_F32, grid
    from ..kernels.cuda_launch import Launcher, Prepared, array1d
    from ..kernels.vector_io import alignment
    from ._cuda import _DevicePlan, _tup

    src = _import(x, "x")
    plan = _DevicePlan(src, bfmt, rounding, axis, seed, stream, sr_bits, None, None)
    bsz = BW.warp_block(plan.geometry)
    f32 = np.dtype(np.float32)
    if bsz < BW.GROUP or not (plan.fast32(f32) or plan.value32(f32)):
        return None
    c, fmax = plan.fast_consts()
    epv, spv, bpv, fpv = plan.vectors()
    ep, sp, bp, fp = _tup(epv), _tup(spv), _tup(bpv), _tup(fpv)
    n = int(x.numel())
    arrays = array1d(0, n, 4) * 2
    blocks, threads = grid(-(-n // BW.GROUP), BW.LAUNCH, BW.MAX_THREADS, 0)
    stochastic = plan.call.rmode == 1
    align = alignment(f32.itemsize)  # y is a fresh allocation, aligned
    if plan.fast32(f32):
        params = (*arrays, bsz, *c, *ep, *bp, fmax, 0, 0, 0)
        launcher = Launcher(plan.warp_kernel(K_F32, True), BW.argtypes(K_F32, len(c), len(ep), len(bp)))
        return _Plan(Prepared(launcher, 0, params), len(params) - 3, stochastic, threads, blocks, align)
    two_level = plan.device_tscale
    cs, scale32 = plan.scale_consts()
    head = (*arrays, bsz, *c, *cs, scale32, *ep, *sp, *bp, *fp)
    params = (*head, *array1d(0, 1, 8), int(two_level), 0, 0, 0)
    launcher = Launcher(plan.value_kernel(K_F32, True),
                        BW.value_argtypes(K_F32, len(c), len(ep), len(bp), len(fp)))
    tensor = (len(head) + 4, *_tensor_launches(plan, n)) if two_level else None
    return _Plan(Prepared(launcher, 0, params), len(params) - 3, stochastic, threads, blocks, align, tensor)


def _tensor_launches(plan: Any, n: int) -> tuple:
    """The tensor-amax and tensor-scale launches of a two-level format (the
    general path's ``_Launch.tensor_scale``, with a computed scale)."""
    from numba import types as t

    from ..kernels import blocks_cuda as BK
    from ..kernels.cuda import K_F32, grid
    from ..kernels.cuda_launch import Launcher, Prepared, array1d

    den, tp, tmin = plan.tensor_scale_args()
    s64, f64a = t.int64[::1], t.float64[::1]
    amax = Prepared(Launcher(BK.tensor_amax_kernel, (t.uint32[::1], t.int64, s64)), 0,
                    (*array1d(0, n, 4), K_F32, *array1d(0, 1, 8)))
    scale = Prepared(Launcher(BK.tensor_scale_kernel,
                              (s64, f64a, t.float64, t.UniTuple(t.int64, len(tp)), t.float64, t.float64)),
                     0, (*array1d(0, 1, 8), *array1d(0, 1, 8), den, *tp, tmin, 0.0))
    blocks, threads = grid(n, BK.LAUNCH, BK._MAX_THREADS, 0)
    return amax, blocks, threads, scale


def quantize(x: Any, bfmt: Any, rounding: Any, axis: Any, seed: Any, stream: Any, sr_bits: Any,
             amax: Any, tensor_scale: Any, out: Any, out_dtype: Any) -> Any:
    """``fs.blocks.quantize`` of a contiguous float32 CUDA torch tensor, or None
    when this path does not take the call (see the module docstring)."""
    if amax is not None or tensor_scale is not None or out is not None or out_dtype is not None:
        return None
    if not type(x).__module__.startswith("torch") or not getattr(x, "is_cuda", False):
        return None
    if x.get_device() != 0 or not x.is_contiguous() or not _ready():
        return None
    key = (bfmt, rounding, axis, seed is None, sr_bits, x.dtype, tuple(x.shape))
    try:
        plan = _PLANS.get(key, False)
    except TypeError:  # an unhashable argument: the general path says what is wrong
        return None
    if plan is False:
        global _T
        import torch

        _T = torch
        if x.dtype != torch.float32:
            plan = None
        else:
            plan = _make_plan(x, bfmt, rounding, axis, seed, stream, sr_bits)
        _PLANS[key] = plan
    if plan is None:
        return None
    if plan.stochastic and (type(seed) is not int or not 0 <= seed < _MAX_SEED):
        return None
    if type(stream) is not int or not 0 <= stream < _MAX_STREAM:
        return None
    if x.data_ptr() % plan.align:
        return None
    y = _T.empty_like(x)
    if x.numel():
        pr = plan.prepared
        buf, k = pr.buf, plan.seed_slot
        sh = current_stream(_T)
        with pr.lock:
            if plan.tensor is not None:
                # the tensor amax (int64 bits, zeroed) and the tensor scale: a
                # scratch of this call, on torch's current stream
                tsc_slot, amax, ablocks, athreads, scale = plan.tensor
                scratch = _T.zeros(2, dtype=_T.int64, device=x.device)
                res = scratch.data_ptr()
                amax.buf[_X_PTR], amax.buf[_AMAX_RES_PTR] = x.data_ptr(), res
                amax.launch(sh, ablocks, athreads)
                scale.buf[_SCALE_RES_PTR], scale.buf[_SCALE_OUT_PTR] = res, res + 8
                scale.launch(sh, 1, 1)
                buf[tsc_slot] = res + 8
            buf[_X_PTR], buf[_Y_PTR] = x.data_ptr(), y.data_ptr()
            if plan.stochastic:
                buf[k], buf[k + 1] = seed & 0xFFFFFFFF, seed >> 32
            buf[k + 2] = stream
            pr.launch(sh, plan.blocks, plan.threads)
    return y
