"""The per-call fast path of :func:`floatsim.quantize`, :func:`~floatsim.encode`
and :func:`~floatsim.decode` for CUDA torch tensors.

Training code calls ``quantize`` on the same few (format, mode, dtype)
combinations thousands of times, often on small tensors, where the general
GPU dispatch (:mod:`floatsim.cuda_dispatch`: array import through the CUDA
array interface, full validation, numba-cuda's argument typing) costs
hundreds of microseconds on the host.  Here the first call of a combination
is validated by that general path's own code and leaves a *plan* (kernel,
constants, parameter layout); later calls of that combination only read the
tensor's pointer, size and current stream, allocate the result with
``torch.empty_like`` and launch through :class:`~floatsim.kernels.cuda_launch.Launcher`.

It takes the plain case: a contiguous tensor on device 0 (numba-cuda's
default device) whose data is aligned to four elements (the float32 fast
path moves them by vector loads and stores), no ``out=``, ``out_dtype=``, ``random_bits=`` or
``cuda_stream=``, and a seed that is a plain ``int``; for ``encode``, a
format the fast encode takes (:mod:`floatsim.kernels.code_table`); for
``decode``, uint8 codes of a format the table decode takes, into a 16- or
32-bit dtype.  Anything else, and the CUDA simulator, go through the general
path, with the same results.  (Without this path ``decode`` and ``encode``
spent about 430 us a call on the host, whatever the size: more than their
GPU time at 2**26 elements.)

Example (no GPU needed):
    >>> import numpy as np
    >>> from floatsim.cuda_hot import decode, quantize
    >>> quantize(np.zeros(3), "e4m3", "rne", None, None, False, None, 0, None) is None
    True
    >>> decode(np.zeros(3, np.uint8), "e4m3", np.float32) is None  # not a CUDA tensor
    True
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

__all__ = ["quantize", "decode", "argtypes", "encode_argtypes", "decode_argtypes"]

_MAX_SEED = 2**64
_MAX_STREAM = 2**32


class _Plan(NamedTuple):
    prepared: Any  # kernels.cuda_launch.Prepared, its slots filled but for the per-call ones
    seed_slot: int  # slot of seed_lo (seed_hi and the Philox stream follow)
    stochastic: bool
    threads: int  # threads per block
    span: int  # elements a block covers per step (4 per thread)
    max_blocks: int
    align: int  # the input's data pointer must be a multiple of this (vector loads)
    out_dtype: Any  # encode: the codes' torch dtype; quantize: None (the input's)


# Slots of the per-call parameters: the input and output arrays' size, data and shape.
_X_N, _X_PTR, _X_SHAPE, _Y_N, _Y_PTR, _Y_SHAPE = 2, 4, 5, 9, 11, 12
_T: Any = None  # torch, once a tensor has come here

_PLANS: dict[tuple, _Plan | None] = {}


@functools.cache
def _ready() -> bool:
    """Whether this process may take the fast path (real CUDA, numba on device 0)."""
    from numba import config, cuda

    if config.ENABLE_CUDASIM:
        return False
    try:
        return cuda.get_current_device().id == 0
    except Exception:  # noqa: BLE001 - no usable device: the general path reports it
        return False


def current_stream(torch: Any) -> int:
    """The handle of torch's current stream on device 0."""
    raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)  # 10x cheaper than the public API
    return int(raw(0)) if raw is not None else int(torch.cuda.current_stream(0).cuda_stream)


def argtypes(fast: bool, itemsize: int, nparams: int) -> tuple:
    """The Numba signature the general dispatch launches a quantize kernel
    with: the fast path's ``(x, out, consts, seed_lo, seed_hi, stream, offset,
    rbits)`` or the general kernel's ``(x, out, params, in_kind, out_kind,
    rmode, seed_lo, seed_hi, stream, offset, rbits, rb_wide)``, arrays as raw
    unsigned views of ``itemsize`` bytes."""
    from numba import types as t

    raw = t.Array({2: t.uint16, 4: t.uint32, 8: t.uint64}[itemsize], 1, "C")
    rb = t.Array(t.uint32, 1, "C")
    i64 = t.int64
    if fast:
        return (raw, raw, t.Tuple((i64,) * (nparams - 1) + (t.float64,)), i64, i64, i64, i64, rb)
    return (raw, raw, t.UniTuple(i64, nparams), *(i64,) * 7, rb, i64)


def encode_argtypes(itemsize: int, code_itemsize: int, nconsts: int) -> tuple:
    """The Numba signature of encode32_kernel's launches here: the fast
    path's arguments with codes of ``code_itemsize`` bytes, then the table."""
    from numba import types as t

    fast = argtypes(True, itemsize, nconsts)
    codes = t.Array({1: t.uint8, 2: t.uint16}[code_itemsize], 1, "C")
    return (fast[0], codes, *fast[2:], t.Array(t.uint32, 1, "C"))


def _make_plan(x: Any, fmt: Any, rounding: Any, overflow: Any, subnormals: Any, daz: bool, seed: Any,
               sr_bits: Any, encode: bool = False) -> _Plan | None:
    """Validate one combination as the general path does, and plan its
    launches (``encode``: None where encode32_kernel does not take it)."""
    from . import cuda_dispatch as cd
    from .cast import _check_out_dtype
    from .kernels import cuda as K
    from .kernels.cuda_launch import Launcher, Prepared, array1d
    from .kernels.vector_io import alignment

    src, call = cd._call(x, fmt, rounding, overflow, subnormals, daz, seed, 0, None, sr_bits)
    rbits = K.dummy_words()
    dummy = array1d(rbits.device_ctypes_pointer.value, 1, 4)
    threads = K.threads()
    if encode:
        from .cast import code_dtype

        table = call.code_table()
        if table is None:
            return None
        dt, cdt = src.dtype, code_dtype(call.fmt)
        kern = K.encode32_kernel(call.rounding.value, cd._kind(dt), call.rmode, call.gpu_form())
        consts = K.consts_tuple(call)
        dev = cd._device_table(("encode", call.fmt), lambda: table)
        arrays = (*array1d(0, 1, dt.itemsize), *array1d(0, 1, cdt.itemsize))
        params = (*arrays, *consts, 0, 0, 0, 0, *dummy, *array1d(dev.device_ctypes_pointer.value, dev.size, 4))
        launcher = Launcher(kern, encode_argtypes(dt.itemsize, cdt.itemsize, len(consts)))
        return _Plan(Prepared(launcher, 0, params), len(arrays) + len(consts), call.rmode == 1, threads,
                     K.GROUP * threads, K.max_blocks(0), alignment(dt.itemsize), cd._torch_table()[1][cdt])
    dt = _check_out_dtype(src.dtype, call.fmt)
    kind = cd._kind(dt)
    if call.fast32(dt if dt.itemsize >= 4 else np.dtype(np.float32)):
        # vector loads and stores: the result is a fresh allocation (aligned),
        # and an input that is not aligned goes to the general path
        kern = K.quantize32_kernel(call.rounding.value, kind, kind, call.rmode, call.gpu_form(), True)
        align = alignment(dt.itemsize)
        consts = K.consts_tuple(call)
        launcher = Launcher(kern, argtypes(True, dt.itemsize, len(consts)))
        head, tail = consts, dummy
    else:
        p = K.params_tuple(call.params)
        launcher = Launcher(K.quantize_kernel, argtypes(False, dt.itemsize, len(p)))
        head, tail = (*p, kind, kind, call.rmode), (*dummy, 0)
        align = 1
    arrays = array1d(0, 1, dt.itemsize) * 2
    params = (*arrays, *head, 0, 0, 0, 0, *tail)
    return _Plan(Prepared(launcher, 0, params), len(arrays) + len(head), call.rmode == 1, threads,
                 K.GROUP * threads, K.max_blocks(0), align, None)


def quantize(x: Any, fmt: Any, rounding: Any, overflow: Any, subnormals: Any, daz: bool, seed: Any,
             stream: Any, sr_bits: Any, encode: bool = False) -> Any:
    """``fs.quantize`` (``fs.encode`` with ``encode``) of a contiguous CUDA
    torch tensor, or None when this path does not take the call (see the
    module docstring)."""
    if not type(x).__module__.startswith("torch") or not getattr(x, "is_cuda", False):
        return None
    if x.get_device() != 0 or not x.is_contiguous() or not _ready():
        return None
    key = (fmt, rounding, overflow, subnormals, daz, seed is None, sr_bits, x.dtype, encode)
    try:
        plan = _PLANS.get(key, False)
    except TypeError:  # an unhashable argument: the general path says what is wrong
        return None
    if plan is False:
        global _T
        import torch

        _T = torch
        plan = _make_plan(x, fmt, rounding, overflow, subnormals, daz, seed, sr_bits, encode)
        _PLANS[key] = plan
    if plan is None:
        return None
    if plan.stochastic:
        if type(seed) is not int or not 0 <= seed < _MAX_SEED:
            return None
    if type(stream) is not int or not 0 <= stream < _MAX_STREAM:
        return None
    if x.data_ptr() % plan.align:
        return None
    y = _T.empty_like(x) if plan.out_dtype is None else _T.empty(x.shape, dtype=plan.out_dtype, device=x.device)
    n = x.numel()
    if n:
        handle = current_stream(_T)
        blocks = min((n + plan.span - 1) // plan.span, plan.max_blocks)
        pr = plan.prepared
        buf, k = pr.buf, plan.seed_slot
        with pr.lock:
            buf[_X_N] = buf[_X_SHAPE] = buf[_Y_N] = buf[_Y_SHAPE] = n
            buf[_X_PTR], buf[_Y_PTR] = x.data_ptr(), y.data_ptr()
            if plan.stochastic:
                buf[k], buf[k + 1] = seed & 0xFFFFFFFF, seed >> 32
            buf[k + 2] = stream
            pr.launch(handle, blocks, plan.threads)
    return y


_DECODE_PLANS: dict[tuple, tuple | None] = {}


def decode_argtypes(itemsize: int) -> tuple:
    """The Numba signature of the table decode's launches here: uint8
    codes, and output and table as raw views of ``itemsize`` (2 or 4) bytes."""
    from numba import types as t

    raw = t.Array({2: t.uint16, 4: t.uint32}[itemsize], 1, "C")
    return (t.Array(t.uint8, 1, "C"), raw, raw)


def _make_decode_plan(codes: Any, fmt: Any, dtype: Any) -> tuple | None:
    """(Prepared launch, output torch dtype, threads a block, most blocks) of
    the table decode, or None where the hot path does not take this combination."""
    from . import cuda_dispatch as cd
    from .cast import _check_out_dtype
    from .kernels import cuda as K
    from .kernels.cuda_launch import Launcher, Prepared, array1d
    from .registry import format as _format

    f = _format(fmt)
    dt = _check_out_dtype(dtype, f)
    if f.num_codes > K.LUT_CODES or dt.itemsize not in (2, 4):
        return None
    table = cd._decode_table(f, dt)
    launcher = Launcher(K.decode_lut_kernel(True), decode_argtypes(dt.itemsize))
    params = (*array1d(0, 1, 1), *array1d(0, 1, dt.itemsize),
              *array1d(table.device_ctypes_pointer.value, table.size, dt.itemsize))
    return Prepared(launcher, 0, params), cd._torch_table()[1][dt], K.threads(), K.max_blocks(0)


def decode(codes: Any, fmt: Any, dtype: Any) -> Any:
    """``fs.decode`` of contiguous uint8 codes in a CUDA torch tensor, or None
    when this path does not take the call (see the module docstring)."""
    if not type(codes).__module__.startswith("torch") or not getattr(codes, "is_cuda", False):
        return None
    if codes.get_device() != 0 or not codes.is_contiguous() or not _ready():
        return None
    global _T
    if _T is None:
        import torch

        _T = torch
    if codes.dtype != _T.uint8 or codes.data_ptr() % 4:
        return None
    key = (fmt, dtype)
    try:
        plan = _DECODE_PLANS.get(key, False)
    except TypeError:  # an unhashable argument: the general path says what is wrong
        return None
    if plan is False:
        plan = _DECODE_PLANS[key] = _make_decode_plan(codes, fmt, dtype)
    if plan is None:
        return None
    pr, tdt, threads, max_blocks = plan
    y = _T.empty(codes.shape, dtype=tdt, device=codes.device)
    n = codes.numel()
    if n:
        span = 4 * threads  # four codes a thread
        blocks = min((n + span - 1) // span, max_blocks)
        buf = pr.buf
        with pr.lock:
            buf[_X_N] = buf[_X_SHAPE] = buf[_Y_N] = buf[_Y_SHAPE] = n
            buf[_X_PTR], buf[_Y_PTR] = codes.data_ptr(), y.data_ptr()
            pr.launch(current_stream(_T), blocks, threads)
    return y
