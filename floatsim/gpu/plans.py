"""Per-call plans: the fast host path of :func:`floatsim.quantize`,
:func:`~floatsim.encode`, :func:`~floatsim.decode` and
:func:`floatsim.blocks.quantize` for CUDA torch tensors.

Training code calls these on the same few (format, mode, dtype, shape)
combinations thousands of times, often on small tensors, where the general
GPU dispatch (:mod:`.dispatch`, :mod:`.blocks_dispatch`: array import through
the CUDA array interface, full validation, numba-cuda's argument typing)
costs hundreds of microseconds of host time (1.3 ms for a block call on an
H100 host).  Here the first call of a combination is validated by that
general path's own code and leaves a *plan*: the kernel with its parameters
in one buffer (:class:`.launch.Prepared`); later calls of that combination
only read the tensor's pointer, size and current stream, allocate the
result with torch (``empty_like``: the caching allocator) and launch through
the driver.  Nothing synchronises the host, so the calls can be captured in
a CUDA graph.

**Keys and bounds.** A plan is keyed by the call's arguments, the tensor's
dtype (and shape, for blocks), its CUDA device and the launch settings in
force (:func:`.launch.settings`).  Each kind of plan lives in an LRU cache of
:data:`MAX_PLANS` entries (block plans are keyed by shape, so a training run
with varying sequence lengths would otherwise grow them forever).  Every
device index takes this path: a plan is compiled and loaded on the tensor's
own device, and launched with that device's context current.

**What it takes.** The plain case: a contiguous tensor whose data is aligned
to four elements (the fast kernels move them by vector loads and stores), no
``out=``, ``out_dtype=``, ``random_bits=`` or ``cuda_stream=``, a seed that is
a plain ``int``; for ``encode``, a format the fast encode takes; for
``decode``, uint8 codes of a format the table decode takes, into a 16- or
32-bit dtype; for blocks, float32 with blocks of 4 to 32 consecutive
elements that divide the last axis, under a power-of-two scale rule (MX) or
a value scale (NVFP4), no ``amax=`` or ``tensor_scale=``.  Anything else, and
the CUDA simulator, go through the general path, with the same results.

Example (no GPU needed):
    >>> import numpy as np
    >>> quantize(np.zeros(3), "e4m3", "rne", None, None, False, None, 0, None) is None
    True
    >>> cache = PlanCache(2)
    >>> for k in "abc":
    ...     cache.put(k, k.upper())
    >>> cache.get("a", None), cache.get("c", None), len(cache)
    (None, 'C', 2)
"""

from __future__ import annotations

import collections
import contextlib
import threading
from typing import Any, NamedTuple

import numpy as np

from ..kernels.abi import K_F32, ROUNDING_CODE
from . import SIMULATOR
from .launch import Launcher, Prepared, array1d, grid, settings

__all__ = ["MAX_PLANS", "PlanCache", "block_quantize", "clear", "decode", "decode_argtypes",
           "encode_argtypes", "argtypes", "plan_counts", "quantize"]

#: Plans kept per kind (element-wise, decode, blocks), least recently used dropped first.
MAX_PLANS = 256
_MAX_SEED = 2**64
_MAX_STREAM = 2**32
_MISSING = object()


class PlanCache:
    """A thread-safe LRU mapping of at most ``maxsize`` entries."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: collections.OrderedDict[Any, Any] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, default: Any = _MISSING) -> Any:
        """The entry of ``key`` (now the most recently used), or ``default``."""
        with self._lock:
            try:
                self._data.move_to_end(key)
            except KeyError:
                return default
            return self._data[key]

    def put(self, key: Any, value: Any) -> None:
        """Store ``value`` under ``key``, dropping the least recently used beyond maxsize."""
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def values(self) -> list[Any]:
        with self._lock:
            return list(self._data.values())

    def __len__(self) -> int:
        return len(self._data)


_ELEMENT = PlanCache(MAX_PLANS)
_DECODE = PlanCache(MAX_PLANS)
_BLOCKS = PlanCache(MAX_PLANS)


def clear() -> None:
    """Drop every plan (their compiled kernels stay in numba's caches)."""
    for c in (_ELEMENT, _DECODE, _BLOCKS):
        c.clear()


def plan_counts() -> dict[str, int]:
    """How many usable plans each cache holds (for checks and diagnostics)."""
    return {name: sum(p is not None for p in c.values())
            for name, c in (("element", _ELEMENT), ("decode", _DECODE), ("blocks", _BLOCKS))}


# ---- torch -------------------------------------------------------------------------------

_T: Any = None  # torch, once a tensor has come here


def _torch() -> Any:
    global _T
    if _T is None:
        import torch

        _T = torch
    return _T


def _cuda_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and bool(getattr(x, "is_cuda", False))


def current_stream(device: int) -> int:
    """The handle of torch's current stream on ``device``."""
    torch = _torch()
    raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)  # 10x cheaper than the public API
    return int(raw(device)) if raw is not None else int(torch.cuda.current_stream(device).cuda_stream)


def _on(device: int) -> Any:
    """A context making ``device`` current for numba and the driver: nothing
    when torch's current device is already it (the usual case: one process
    per GPU), else numba's context of that device."""
    torch = _torch()
    get = getattr(torch._C, "_cuda_getDevice", None)  # the public API costs a lazy-init check
    if (get() if get is not None else torch.cuda.current_device()) == device:
        return contextlib.nullcontext()
    from numba import cuda

    return cuda.gpus[device]


def _usable(x: Any) -> bool:
    return not SIMULATOR and _cuda_tensor(x) and x.is_contiguous()


def _takes(plan: Any, x: Any, seed: Any, stream: Any) -> bool:
    """Whether a plan (None: the combination has none) serves this call: a seed
    and stream that are plain ints in range (anything else: the general path
    says what is wrong), and data aligned for the plan's vector loads."""
    if plan is None:
        return False
    if plan.stochastic and (type(seed) is not int or not 0 <= seed < _MAX_SEED):
        return False
    if type(stream) is not int or not 0 <= stream < _MAX_STREAM:
        return False
    return x.data_ptr() % plan.align == 0


# ---- signatures ----------------------------------------------------------------------------


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


def decode_argtypes(itemsize: int) -> tuple:
    """The Numba signature of the table decode's launches here: uint8
    codes, and output and table as raw views of ``itemsize`` (2 or 4) bytes."""
    from numba import types as t

    raw = t.Array({2: t.uint16, 4: t.uint32}[itemsize], 1, "C")
    return (t.Array(t.uint8, 1, "C"), raw, raw)


# ---- element-wise --------------------------------------------------------------------------


class _Plan(NamedTuple):
    prepared: Prepared  # filled but for the per-call slots
    seed_slot: int  # slot of seed_lo (seed_hi and the Philox stream follow)
    stochastic: bool
    threads: int  # threads per block
    span: int  # elements a block covers per step (4 per thread)
    max_blocks: int
    align: int  # the input's data pointer must be a multiple of this (vector loads)
    out_dtype: Any  # encode: the codes' torch dtype; quantize: None (the input's)


# Slots of the per-call parameters: the input and output arrays' size, data and shape.
_X_N, _X_PTR, _X_SHAPE, _Y_N, _Y_PTR, _Y_SHAPE = 2, 4, 5, 9, 11, 12


def _make_plan(x: Any, device: int, fmt: Any, rounding: Any, overflow: Any, subnormals: Any,
               daz: bool, seed: Any, sr_bits: Any, encode: bool) -> _Plan | None:
    """Validate one combination as the general path does, and plan its
    launches (``encode``: None where encode32_kernel does not take it)."""
    from ..cpu.tables import code_table_for
    from ..dtypes import check_out_dtype, code_dtype
    from . import elementwise as K
    from .interop import kind_of, torch_dtypes, validate
    from .tables import dummy, encode_table_on
    from .vector_io import alignment

    src, spec = validate(x, fmt, rounding, overflow, subnormals, daz, seed, 0, None, sr_bits)
    rbits = dummy("uint32")
    dummy_arr = array1d(rbits.device_ctypes_pointer.value, 1, 4)
    g = settings().elementwise
    blocks_max, threads = grid(1 << 62, g, device)
    rnd = ROUNDING_CODE[spec.rounding]
    stochastic = spec.rmode == 1
    if encode:
        table = code_table_for(spec)
        if table is None:
            return None
        dt, cdt = src.dtype, code_dtype(spec.fmt)
        kern = K.encode32_kernel(rnd, kind_of(dt), spec.rmode, spec.gpu_form())
        consts = spec.consts()
        dev = encode_table_on(spec.fmt, table)
        arrays = (*array1d(0, 1, dt.itemsize), *array1d(0, 1, cdt.itemsize))
        params = (*arrays, *consts, 0, 0, 0, 0, *dummy_arr,
                  *array1d(dev.device_ctypes_pointer.value, dev.size, 4))
        launcher = Launcher(kern, encode_argtypes(dt.itemsize, cdt.itemsize, len(consts)))
        return _Plan(Prepared(launcher, device, params), len(arrays) + len(consts), stochastic,
                     threads, K.GROUP * threads, blocks_max, alignment(dt.itemsize),
                     torch_dtypes()[1][cdt])
    dt = check_out_dtype(src.dtype, spec.fmt)
    kind = kind_of(dt)
    if spec.fast32(dt if dt.itemsize >= 4 else np.dtype(np.float32)):
        # vector loads and stores: the result is a fresh allocation (aligned),
        # and an input that is not aligned goes to the general path
        kern = K.quantize32_kernel(rnd, kind, kind, spec.rmode, spec.gpu_form(), True)
        align = alignment(dt.itemsize)
        consts = spec.consts()
        launcher = Launcher(kern, argtypes(True, dt.itemsize, len(consts)))
        head, tail = consts, dummy_arr
    else:
        p = tuple(int(v) for v in spec.params)
        launcher = Launcher(K.quantize_kernel, argtypes(False, dt.itemsize, len(p)))
        head, tail = (*p, kind, kind, spec.rmode), (*dummy_arr, 0)
        align = 1
    arrays = array1d(0, 1, dt.itemsize) * 2
    params = (*arrays, *head, 0, 0, 0, 0, *tail)
    return _Plan(Prepared(launcher, device, params), len(arrays) + len(head), stochastic, threads,
                 K.GROUP * threads, blocks_max, align, None)


def quantize(x: Any, fmt: Any, rounding: Any, overflow: Any, subnormals: Any, daz: bool, seed: Any,
             stream: Any, sr_bits: Any, encode: bool = False) -> Any:
    """``fs.quantize`` (``fs.encode`` with ``encode``) of a contiguous CUDA
    torch tensor, or None when this path does not take the call (see the
    module docstring)."""
    if not _usable(x):
        return None
    device = x.get_device()
    key = (fmt, rounding, overflow, subnormals, daz, seed is None, sr_bits, x.dtype, encode, device,
           settings())
    try:
        plan = _ELEMENT.get(key)
    except TypeError:  # an unhashable argument: the general path says what is wrong
        return None
    if plan is _MISSING:
        with _on(device):
            plan = _make_plan(x, device, fmt, rounding, overflow, subnormals, daz, seed, sr_bits,
                              encode)
        _ELEMENT.put(key, plan)
    if not _takes(plan, x, seed, stream):
        return None
    torch = _T
    y = torch.empty_like(x) if plan.out_dtype is None else torch.empty(x.shape, dtype=plan.out_dtype,
                                                                        device=x.device)
    n = x.numel()
    if n:
        blocks = min((n + plan.span - 1) // plan.span, plan.max_blocks)
        pr = plan.prepared
        buf, k = pr.buf, plan.seed_slot
        with pr.lock, _on(device):
            buf[_X_N] = buf[_X_SHAPE] = buf[_Y_N] = buf[_Y_SHAPE] = n
            buf[_X_PTR], buf[_Y_PTR] = x.data_ptr(), y.data_ptr()
            if plan.stochastic:
                buf[k], buf[k + 1] = seed & 0xFFFFFFFF, seed >> 32
            buf[k + 2] = stream
            pr.launch(current_stream(device), blocks, plan.threads)
    return y


# ---- decode --------------------------------------------------------------------------------


def _make_decode_plan(device: int, fmt: Any, dtype: Any) -> tuple | None:
    """(Prepared launch, output torch dtype, threads a block, most blocks) of
    the table decode, or None where this path does not take this combination."""
    from ..dtypes import check_out_dtype
    from ..registry import format as _format
    from . import elementwise as K
    from .interop import torch_dtypes
    from .tables import decode_table

    f = _format(fmt)
    dt = check_out_dtype(dtype, f, "dtype")
    if f.num_codes > K.LUT_CODES or dt.itemsize not in (2, 4):
        return None
    table = decode_table(f, dt)
    launcher = Launcher(K.decode_lut_kernel(True), decode_argtypes(dt.itemsize))
    params = (*array1d(0, 1, 1), *array1d(0, 1, dt.itemsize),
              *array1d(table.device_ctypes_pointer.value, table.size, dt.itemsize))
    blocks_max, threads = grid(1 << 62, settings().elementwise, device)
    return Prepared(launcher, device, params), torch_dtypes()[1][dt], threads, blocks_max


def decode(codes: Any, fmt: Any, dtype: Any) -> Any:
    """``fs.decode`` of contiguous uint8 codes in a CUDA torch tensor, or None
    when this path does not take the call (see the module docstring)."""
    if not _usable(codes):
        return None
    torch = _torch()
    if codes.dtype != torch.uint8 or codes.data_ptr() % 4:
        return None
    device = codes.get_device()
    key = (fmt, dtype, device, settings())
    try:
        plan = _DECODE.get(key)
    except TypeError:  # an unhashable argument: the general path says what is wrong
        return None
    if plan is _MISSING:
        with _on(device):
            plan = _make_decode_plan(device, fmt, dtype)
        _DECODE.put(key, plan)
    if plan is None:
        return None
    pr, tdt, threads, max_blocks = plan
    y = torch.empty(codes.shape, dtype=tdt, device=codes.device)
    n = codes.numel()
    if n:
        span = 4 * threads  # four codes a thread
        blocks = min((n + span - 1) // span, max_blocks)
        buf = pr.buf
        with pr.lock, _on(device):
            buf[_X_N] = buf[_X_SHAPE] = buf[_Y_N] = buf[_Y_SHAPE] = n
            buf[_X_PTR], buf[_Y_PTR] = codes.data_ptr(), y.data_ptr()
            pr.launch(current_stream(device), blocks, threads)
    return y


# ---- blocks --------------------------------------------------------------------------------


class _BlockPlan(NamedTuple):
    prepared: Prepared  # filled but for the per-call slots
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
_B_X_PTR, _B_Y_PTR = 4, 11
_AMAX_RES_PTR, _SCALE_RES_PTR, _SCALE_OUT_PTR = 12, 4, 11


def _make_block_plan(x: Any, device: int, bfmt: Any, rounding: Any, axis: Any, seed: Any,
                     stream: Any, sr_bits: Any) -> _BlockPlan | None:
    """Validate one combination as the general path does; plan its launch, or
    None when it is not the plain case (the general path then serves it)."""
    from . import blocks_warp as BW
    from .block_plan import DevicePlan, params_tuple
    from .interop import import_array
    from .vector_io import alignment

    src = import_array(x, "x")
    plan = DevicePlan(src, bfmt, rounding, axis, seed, stream, sr_bits, None, None)
    bsz = BW.warp_block(plan.geometry)
    f32 = np.dtype(np.float32)
    if bsz < BW.GROUP or not (plan.fast32(f32) or plan.value32(f32)):
        return None
    c, fmax = plan.fast_consts()
    ep, sp, bp, fp = (params_tuple(v) for v in plan.vectors())
    n = int(x.numel())
    arrays = array1d(0, n, 4) * 2
    blocks, threads = grid(-(-n // BW.GROUP), settings().warp, device)
    stochastic = plan.spec.rmode == 1
    align = alignment(f32.itemsize)  # y is a fresh allocation, aligned
    if plan.fast32(f32):
        params = (*arrays, bsz, *c, *ep, *bp, fmax, 0, 0, 0)
        launcher = Launcher(plan.warp_kernel(K_F32, True), BW.argtypes(K_F32, len(c), len(ep), len(bp)))
        return _BlockPlan(Prepared(launcher, device, params), len(params) - 3, stochastic, threads,
                          blocks, align)
    two_level = plan.device_tscale
    cs, scale32 = plan.scale_consts()
    head = (*arrays, bsz, *c, *cs, scale32, *ep, *sp, *bp, *fp)
    params = (*head, *array1d(0, 1, 8), int(two_level), 0, 0, 0)
    launcher = Launcher(plan.value_kernel(K_F32, True),
                        BW.value_argtypes(K_F32, len(c), len(ep), len(bp), len(fp)))
    tensor = (len(head) + 4, *_tensor_launches(plan, n, device)) if two_level else None
    return _BlockPlan(Prepared(launcher, device, params), len(params) - 3, stochastic, threads,
                      blocks, align, tensor)


def _tensor_launches(plan: Any, n: int, device: int) -> tuple:
    """The tensor-amax and tensor-scale launches of a two-level format (the
    general path's ``_Launch.tensor_scale``, with a computed scale)."""
    from numba import types as t

    from . import blocks as BK

    den, tp, tmin = plan.tensor_scale_args()
    s64, f64a = t.int64[::1], t.float64[::1]
    amax = Prepared(Launcher(BK.tensor_amax_kernel, (t.uint32[::1], t.int64, s64)), device,
                    (*array1d(0, n, 4), K_F32, *array1d(0, 1, 8)))
    scale = Prepared(Launcher(BK.tensor_scale_kernel,
                              (s64, f64a, t.float64, t.UniTuple(t.int64, len(tp)), t.float64, t.float64)),
                     device, (*array1d(0, 1, 8), *array1d(0, 1, 8), den, *tp, tmin, 0.0))
    blocks, threads = grid(n, settings().blocks, device)
    return amax, blocks, threads, scale


def block_quantize(x: Any, bfmt: Any, rounding: Any, axis: Any, seed: Any, stream: Any,
                   sr_bits: Any) -> Any:
    """``fs.blocks.quantize`` of a contiguous float32 CUDA torch tensor with no
    ``out=``, ``out_dtype=``, ``amax=`` or ``tensor_scale=`` (the caller checks
    those), or None when this path does not take the call."""
    if not _usable(x):
        return None
    torch = _torch()
    if x.dtype != torch.float32:
        return None
    device = x.get_device()
    key = (bfmt, rounding, axis, seed is None, sr_bits, tuple(x.shape), device, settings())
    try:
        plan = _BLOCKS.get(key)
    except TypeError:  # an unhashable argument: the general path says what is wrong
        return None
    if plan is _MISSING:
        with _on(device):
            plan = _make_block_plan(x, device, bfmt, rounding, axis, seed, stream, sr_bits)
        _BLOCKS.put(key, plan)
    if not _takes(plan, x, seed, stream):
        return None
    y = torch.empty_like(x)
    if x.numel():
        pr = plan.prepared
        buf, k = pr.buf, plan.seed_slot
        sh = current_stream(device)
        with pr.lock, _on(device):
            if plan.tensor is not None:
                # the tensor amax (int64 bits, zeroed) and the tensor scale: a
                # scratch of this call, on torch's current stream
                tsc_slot, amax, ablocks, athreads, scale = plan.tensor
                scratch = torch.zeros(2, dtype=torch.int64, device=x.device)
                res = scratch.data_ptr()
                amax.buf[_B_X_PTR], amax.buf[_AMAX_RES_PTR] = x.data_ptr(), res
                amax.launch(sh, ablocks, athreads)
                scale.buf[_SCALE_RES_PTR], scale.buf[_SCALE_OUT_PTR] = res, res + 8
                scale.launch(sh, 1, 1)
                buf[tsc_slot] = res + 8
            buf[_B_X_PTR], buf[_B_Y_PTR] = x.data_ptr(), y.data_ptr()
            if plan.stochastic:
                buf[k], buf[k + 1] = seed & 0xFFFFFFFF, seed >> 32
            buf[k + 2] = stream
            pr.launch(sh, plan.blocks, plan.threads)
    return y
