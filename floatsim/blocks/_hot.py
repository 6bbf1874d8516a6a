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
cast: a contiguous float32 tensor on device 0, a power-of-two scale rule and
blocks of 4 to 32 consecutive elements that divide the last axis (the float32
fast path), no ``out=``, ``out_dtype=``, ``amax=`` or ``tensor_scale=``, a
seed that is a plain ``int``.  Anything else, and the CUDA simulator, go
through the general path, with the same results.

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


# Slots of the per-call parameters: the input and output arrays' data pointers
# (numba's array layout: meminfo, parent, nitems, itemsize, data, shape, strides).
_X_PTR, _Y_PTR = 4, 11

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
    from ._cuda import _DevicePlan, _tup

    src = _import(x, "x")
    plan = _DevicePlan(src, bfmt, rounding, axis, seed, stream, sr_bits, None, None)
    bsz = BW.warp_block(plan.geometry)
    if not plan.fast32(np.dtype(np.float32)) or bsz < BW.GROUP:
        return None
    c, fmax = plan.fast_consts()
    epv, _spv, bpv, _fpv = plan.vectors()
    ep, bp = _tup(epv), _tup(bpv)
    kern = plan.warp_kernel(K_F32)
    n = int(x.numel())
    arrays = array1d(0, n, 4) * 2
    params = (*arrays, bsz, *c, *ep, *bp, fmax, 0, 0, 0)
    launcher = Launcher(kern, BW.argtypes(K_F32, len(c), len(ep), len(bp)))
    blocks, threads = grid(-(-n // BW.GROUP), BW.LAUNCH, BW.MAX_THREADS, 0)
    return _Plan(Prepared(launcher, 0, params), len(params) - 3,
                 plan.call.rmode == 1, threads, blocks)


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
    y = _T.empty_like(x)
    if x.numel():
        pr = plan.prepared
        buf, k = pr.buf, plan.seed_slot
        with pr.lock:
            buf[_X_PTR], buf[_Y_PTR] = x.data_ptr(), y.data_ptr()
            if plan.stochastic:
                buf[k], buf[k + 1] = seed & 0xFFFFFFFF, seed >> 32
            buf[k + 2] = stream
            pr.launch(current_stream(_T), plan.blocks, plan.threads)
    return y
