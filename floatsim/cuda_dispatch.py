"""GPU arrays in :func:`floatsim.quantize`, :func:`~floatsim.encode` and
:func:`~floatsim.decode`: the CUDA kernels, with no host round trip.

``floatsim.cast`` sends an array here when :func:`is_device_array` says it
lives on a GPU: anything exposing ``__cuda_array_interface__`` (CuPy, PyTorch
CUDA tensors, Numba device arrays, JAX GPU arrays) or DLPack with a CUDA
device.  The result is an array of the caller's library:

============================  ==============================================
input                         result
============================  ==============================================
Numba device array            Numba device array
``torch.Tensor`` (CUDA)       ``torch.Tensor`` on the same device
CuPy array                    CuPy array
JAX array (GPU)               JAX array (through DLPack, via CuPy or torch)
other CUDA-array-interface    Numba device array
DLPack only                   torch tensor (or CuPy array without torch)
============================  ==============================================

**Streams.** The kernels run on ``cuda_stream=``: a Numba stream, an int
handle (0 or 1: the legacy default stream, 2: the per-thread default
stream), a ``torch.cuda.Stream``, a CuPy stream or any object with
``__cuda_stream__``.  By default they run on the stream of the input's
library: torch's current stream, CuPy's current stream, a Numba array's
bound stream, the stream a ``__cuda_array_interface__`` (v3) names; the
legacy default stream otherwise (JAX: there is no current stream to read).
When the kernel's stream differs from the stream the input was produced on,
the kernel's stream first waits for it (an event, not a host sync).  As with
any work on a side stream, the caller orders later uses of the result and
keeps the inputs alive (``Tensor.record_stream``).  Nothing here
synchronises the host.

**Differences from the CPU path**, each to avoid a device-to-host sync:
NaN into a format without NaN gives the all-ones code in ``encode`` (the CPU
raises); ``decode`` does not range-check codes: a code outside the format
decodes to NaN.  Host (numpy) ``random_bits=`` are copied to the device.
Non-contiguous inputs are first copied to a contiguous array on the GPU.

Importing this module does not import ``numba.cuda``: that happens at the
first GPU array, so ``import floatsim`` works without CUDA libraries.

Example (no GPU needed):
    >>> import numpy as np
    >>> from floatsim.cuda_dispatch import is_device_array
    >>> is_device_array(np.zeros(3))
    False
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from .kernels.cuda_launch import stream_object

__all__ = ["is_device_array", "quantize", "encode", "decode"]

_DLPACK_CUDA = (2, 13)  # kDLCUDA, kDLCUDAManaged
_HOST_TYPES = (np.ndarray, np.generic, list, tuple, int, float, complex, bool)


def is_device_array(x: Any) -> bool:
    """Whether ``x`` is an array in GPU memory (cheap; imports nothing).

    Example:
        >>> is_device_array([1.0, 2.0]), is_device_array(np.float32(1))
        (False, False)
    """
    if isinstance(x, _HOST_TYPES) or x is None:
        return False
    t = type(x)
    if t.__module__.startswith("torch"):
        return bool(getattr(x, "is_cuda", False))
    if getattr(t, "__cuda_ndarray__", False):  # Numba device arrays (also simulated ones)
        return True
    if hasattr(t, "__cuda_array_interface__"):
        try:
            return x.__cuda_array_interface__ is not None
        except (AttributeError, TypeError, RuntimeError):
            pass
    if hasattr(t, "__dlpack_device__"):
        try:
            return int(x.__dlpack_device__()[0]) in _DLPACK_CUDA
        except (AttributeError, TypeError, RuntimeError, ValueError, BufferError):
            return False
    return False


# ---- arrays of any library as Numba device arrays --------------------------------------


class _Dev(NamedTuple):
    """A GPU array seen through Numba."""

    arr: Any  # numba device array over the data (raw unsigned dtype; any strides)
    dtype: np.dtype  # the logical dtype (float32, bfloat16, uint8, ...)
    kind: str  # "numba", "torch", "cupy", "jax" or "cai"
    obj: Any  # the caller's object
    device: int  # CUDA device ordinal
    stream: int | None  # the stream the data was produced on / its library's current stream


def _sim() -> bool:
    from numba import config

    return bool(config.ENABLE_CUDASIM)


def _raw(dtype: np.dtype) -> np.dtype:
    """The unsigned integer dtype of the same size (the kernels' view)."""
    return np.dtype(f"u{dtype.itemsize}")


def _torch_dtypes() -> dict[Any, np.dtype]:
    import torch

    from .cast import _BF16

    table = {
        torch.float64: np.dtype(np.float64),
        torch.float32: np.dtype(np.float32),
        torch.float16: np.dtype(np.float16),
        torch.uint8: np.dtype(np.uint8),
        torch.int8: np.dtype(np.int8),
        torch.int16: np.dtype(np.int16),
        torch.int32: np.dtype(np.int32),
        torch.int64: np.dtype(np.int64),
    }
    for name in ("uint16", "uint32", "uint64"):
        if hasattr(torch, name):
            table[getattr(torch, name)] = np.dtype(name)
    if _BF16 is not None:
        table[torch.bfloat16] = _BF16
    return table


@functools.cache
def _torch_table() -> tuple[dict[Any, np.dtype], dict[np.dtype, Any]]:
    fwd = _torch_dtypes()
    return fwd, {v: k for k, v in fwd.items()}


def _from_cai(desc: dict, owner: Any, dtype: np.dtype) -> Any:
    """A Numba view (raw dtype) of a CUDA-array-interface dict."""
    from numba import cuda

    desc = dict(desc, typestr=_raw(dtype).str)  # bfloat16 is '<V2' or missing
    return cuda.from_cuda_array_interface(desc, owner=owner, sync=False)


def _import(x: Any, what: str) -> _Dev:
    """``x`` (a GPU array) as a _Dev."""
    from numba import cuda

    t = type(x)
    mod = t.__module__.split(".")[0]
    if getattr(t, "__cuda_ndarray__", False):
        st = getattr(x, "stream", 0)
        handle = None if isinstance(st, int) or _sim() else int(st)
        dev = 0 if _sim() else cuda.get_current_device().id
        return _Dev(_as_raw(x), np.dtype(x.dtype), "numba", x, dev, handle)
    if mod == "torch":
        import torch

        fwd, _ = _torch_table()
        if x.dtype not in fwd:
            raise TypeError(
                f"{what} has dtype {x.dtype}; floatsim takes float64, float32, float16 and "
                "bfloat16 tensors (codes: integer tensors)"
            )
        v = x.detach()
        size_int = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[v.element_size()]
        v = v.view(size_int)
        dt, device = fwd[x.dtype], x.device.index
        stream = torch.cuda.current_stream(x.device).cuda_stream
        with _on(device):
            arr = _from_cai(v.__cuda_array_interface__, v, dt)
        return _Dev(arr, dt, "torch", x, device, stream)
    desc = getattr(x, "__cuda_array_interface__", None)
    if desc is not None:
        dt = np.dtype(getattr(x, "dtype", None) or desc["typestr"])
        if mod == "cupy":
            import cupy

            device = x.device.id
            stream = desc.get("stream", cupy.cuda.get_current_stream().ptr)
        else:
            device, stream = _device_of(desc["data"][0]), desc.get("stream")
        with _on(device):
            arr = _from_cai(desc, x, dt)
        kind = mod if mod in ("cupy", "jax", "jaxlib") else "cai"
        return _Dev(arr, dt, "jax" if kind == "jaxlib" else kind, x, device, stream)
    # DLPack only: through torch (or CuPy), then as above
    try:
        import torch

        bridge: Any = torch.from_dlpack(x)
    except ImportError:
        try:
            import cupy
        except ImportError:
            raise TypeError(
                f"{what} is a DLPack array on a GPU; reading it needs torch or cupy installed "
                "(or pass an array with __cuda_array_interface__)"
            ) from None
        bridge = cupy.from_dlpack(x)
    return _import(bridge, what)


def _device_of(ptr: int) -> int:
    """The device ordinal of a device pointer (0 when it cannot be asked)."""
    from numba import cuda

    try:
        from cuda.bindings import driver as drv

        err, ordinal = drv.cuPointerGetAttribute(
            drv.CUpointer_attribute.CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, ptr
        )
        if int(err) == 0:
            return int(ordinal)
    except Exception:  # noqa: BLE001 - best effort; fall back to the current device
        pass
    return 0 if _sim() else cuda.get_current_device().id


def _as_raw(arr: Any) -> Any:
    dt = np.dtype(arr.dtype)
    return arr if dt == _raw(dt) else arr.view(_raw(dt))


# ---- streams ---------------------------------------------------------------------------


def _handle(cuda_stream: Any) -> int | None:
    """The CUDA stream handle of a ``cuda_stream=`` argument (None: use the default)."""
    if cuda_stream is None:
        return None
    if isinstance(cuda_stream, (int, np.integer)) and not isinstance(cuda_stream, bool):
        if cuda_stream < 0:
            raise ValueError(f"cuda_stream={cuda_stream!r} is not a stream handle")
        return int(cuda_stream)
    for attr in ("cuda_stream", "ptr"):  # torch.cuda.Stream, cupy Stream
        v = getattr(cuda_stream, attr, None)
        if isinstance(v, (int, np.integer)):
            return int(v)
    if _is_numba_stream(cuda_stream):
        return int(cuda_stream)
    if hasattr(cuda_stream, "__cuda_stream__"):
        return int(cuda_stream.__cuda_stream__()[1])
    raise TypeError(
        f"cuda_stream={cuda_stream!r}: pass a numba stream, an int handle, a torch.cuda.Stream "
        "or a cupy stream (floatsim's stream= is the Philox stream id, an int)"
    )


def _is_numba_stream(obj: Any) -> bool:
    return type(obj).__module__.startswith("numba") and hasattr(obj, "synchronize")


def _stream_for(cuda_stream: Any, src: _Dev) -> tuple[Any, int | None]:
    """(numba stream to launch on, its handle); waits for the producer's stream."""
    from numba import cuda

    if _is_numba_stream(cuda_stream):
        stream, handle = cuda_stream, (None if _sim() else int(cuda_stream))
    else:
        handle = src.stream if cuda_stream is None else _handle(cuda_stream)
        stream = stream_object(handle)
    if src.stream is not None and _norm(src.stream) != _norm(handle) and not _sim():
        ev = cuda.event(timing=False)
        ev.record(stream=stream_object(src.stream))
        ev.wait(stream=stream)
    return stream, handle


def _norm(handle: int | None) -> int:
    return 0 if handle in (None, 1) else int(handle)


# ---- outputs ---------------------------------------------------------------------------


def _empty(src: _Dev, shape: tuple[int, ...], dtype: np.dtype, stream: Any) -> tuple[Any, Any]:
    """A new C-contiguous array of ``src``'s library: (caller's object, raw numba view)."""
    from numba import cuda

    if src.kind in ("torch", "jax") and _has("torch"):
        import torch

        _, back = _torch_table()
        device = src.obj.device if src.kind == "torch" else f"cuda:{src.device}"
        obj = torch.empty(shape, dtype=back[dtype], device=device)
        return obj, _import(obj, "out").arr
    if src.kind in ("cupy", "jax") and _has("cupy"):
        import cupy

        with cupy.cuda.Device(src.device):
            obj = cupy.empty(shape, dtype=dtype)
        return obj, _import(obj, "out").arr
    with _on(src.device):
        arr = cuda.device_array(shape, dtype=_raw(dtype), stream=stream)
    obj = arr if dtype == _raw(dtype) else arr.view(dtype)
    return obj, arr


def _on(device: int) -> Any:
    """A context that makes ``device`` current (nothing to do when it is)."""
    import contextlib

    from numba import cuda

    if _sim() or cuda.get_current_device().id == device:
        return contextlib.nullcontext()
    return cuda.gpus[device]


@functools.cache
def _has(mod: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(mod) is not None


def _result(src: _Dev, obj: Any) -> Any:
    if src.kind == "jax":
        import jax.dlpack

        return jax.dlpack.from_dlpack(obj)
    return obj


def _out(out: Any, src: _Dev, shape: tuple[int, ...], dtype: np.dtype, stream: Any) -> tuple[Any, Any]:
    """``out=`` checked like the CPU path's, or a new array."""
    if out is None:
        return _empty(src, shape, dtype, stream)
    if not is_device_array(out):
        raise TypeError(f"out= must be a GPU array like x, got {type(out).__name__}")
    o = _import(out, "out")
    if tuple(o.arr.shape) != shape or o.dtype != dtype:
        raise ValueError(
            f"out= has shape {tuple(o.arr.shape)} and dtype {o.dtype}; needed {shape} and {dtype}"
        )
    if not o.arr.is_c_contiguous():
        raise ValueError("out= must be a writeable C-contiguous array")
    return out, o.arr


def _flat(arr: Any, stream: Any) -> Any:
    """A 1-D C-contiguous view of ``arr``, copied on the GPU if it is strided."""
    from numba import cuda

    if arr.ndim == 0:
        arr = arr.reshape(1)
    if not arr.is_c_contiguous():
        dense = cuda.device_array(arr.shape, dtype=arr.dtype, stream=stream)
        if hasattr(dense, "setitem"):
            dense.setitem(slice(None), arr, stream=stream)  # numba's strided copy kernel
        else:  # the simulator
            dense[...] = arr
        arr = dense
    return arr.reshape(arr.size)


# ---- the three operations --------------------------------------------------------------


_IN_KIND = {"float64": 0, "float32": 1, "float16": 2, "bfloat16": 3}


def _kind(dtype: np.dtype) -> int:
    return _IN_KIND[dtype.name]


def _rbits(random_bits: Any, shape: tuple[int, ...], device: int, stream: Any) -> tuple[Any, int]:
    """Explicit random words on the device as uint32 (and whether they are 64-bit)."""
    from numba import cuda

    if is_device_array(random_bits):
        rb = _import(random_bits, "random_bits")
        arr, dt = rb.arr, rb.dtype
    else:
        host = np.ascontiguousarray(random_bits)
        dt = host.dtype
        with _on(device):
            arr = cuda.to_device(host.view(_raw(dt)), stream=stream)
    if tuple(arr.shape) != shape:
        raise ValueError(f"random_bits has shape {tuple(arr.shape)}; it needs x's shape {shape}")
    flat = _flat(arr, stream)
    return flat.view(np.uint32), int(dt.itemsize == 8)


def _call(x: Any, fmt: Any, rounding: Any, overflow: Any, subnormals: Any, daz: bool, seed: Any, stream: int, random_bits: Any, sr_bits: Any) -> tuple[_Dev, Any]:
    """Validate as the CPU path does (cast._Call on a zero-size stand-in)."""
    from .cast import _Call

    src = _import(x, "x")
    rb = None
    if random_bits is not None:
        if type(random_bits).__module__.startswith("torch"):
            rb_dt = _torch_table()[0].get(random_bits.dtype, np.dtype(object))
        else:
            rb_dt = getattr(random_bits, "dtype", None) or np.asarray(random_bits).dtype
        rb = np.empty(0, dtype=np.dtype(rb_dt))
    call = _Call(np.empty(0, dtype=src.dtype), fmt, rounding, overflow, subnormals, daz, seed, stream, rb, sr_bits)
    return src, call


def _launch_args(call: Any, src: _Dev, random_bits: Any, stream: Any) -> tuple:
    from .kernels import cuda as K

    shape = tuple(src.arr.shape)
    if call.rmode == 2:
        rbits, rb_wide = _rbits(random_bits, shape, src.device, stream)
    else:
        rbits, rb_wide = K.dummy_words(), 0
    return call.rmode, call.seed_lo, call.seed_hi, call.stream, 0, rbits, rb_wide


def quantize(
    x: Any,
    fmt: Any,
    rounding: Any,
    *,
    overflow: Any,
    subnormals: Any,
    daz: bool,
    seed: Any,
    stream: int,
    random_bits: Any,
    sr_bits: Any,
    out: Any,
    out_dtype: Any,
    cuda_stream: Any,
) -> Any:
    """:func:`floatsim.quantize` of a GPU array (see the module docstring)."""
    from .cast import _check_out_dtype
    from .kernels import cuda as K
    from .kernels.vector_io import aligned4

    src, call = _call(x, fmt, rounding, overflow, subnormals, daz, seed, stream, random_bits, sr_bits)
    if out is not None and out_dtype is None:
        out_dtype = _import(out, "out").dtype if is_device_array(out) else getattr(out, "dtype", None)
    dt = _check_out_dtype(src.dtype if out_dtype is None else out_dtype, call.fmt)
    with _on(src.device):
        launch_stream, _ = _stream_for(cuda_stream, src)
        shape = tuple(src.arr.shape)
        obj, outr = _out(out, src, shape, dt, launch_stream)
        if src.arr.size:
            xr, outf = _flat(src.arr, launch_stream), outr.reshape(outr.size)
            rmode, slo, shi, sid, off, rbits, rb_wide = _launch_args(call, src, random_bits, launch_stream)
            kernel_dt = dt if dt.itemsize >= 4 else np.dtype(np.float32)
            if call.fast32(kernel_dt):
                vec = aligned4(xr, outf, *((rbits,) if rmode == 2 else ()))
                kern = K.quantize32_kernel(call.rounding.value, _kind(src.dtype), _kind(dt), rmode,
                                           call.gpu_form(), vec)
                K.launch(kern, xr.size, launch_stream, xr, outf, K.consts_tuple(call), slo, shi, sid, off, rbits)
            else:
                p = K.params_tuple(call.params)
                K.launch(K.quantize_kernel, xr.size, launch_stream, xr, outf, p,
                         _kind(src.dtype), _kind(dt), rmode, slo, shi, sid, off, rbits, rb_wide)
    return _result(src, obj)


def encode(
    x: Any,
    fmt: Any,
    rounding: Any,
    *,
    overflow: Any,
    subnormals: Any,
    daz: bool,
    seed: Any,
    stream: int,
    random_bits: Any,
    sr_bits: Any,
    out: Any,
    cuda_stream: Any,
) -> Any:
    """:func:`floatsim.encode` of a GPU array (see the module docstring)."""
    from .cast import code_dtype
    from .kernels import cuda as K
    from .kernels.vector_io import aligned4

    src, call = _call(x, fmt, rounding, overflow, subnormals, daz, seed, stream, random_bits, sr_bits)
    with _on(src.device):
        launch_stream, _ = _stream_for(cuda_stream, src)
        shape = tuple(src.arr.shape)
        obj, outr = _out(out, src, shape, code_dtype(call.fmt), launch_stream)
        if src.arr.size:
            xr, codes = _flat(src.arr, launch_stream), outr.reshape(outr.size)
            rmode, slo, shi, sid, off, rbits, rb_wide = _launch_args(call, src, random_bits, launch_stream)
            table = call.code_table()
            if table is not None and aligned4(xr, codes, *((rbits,) if rmode == 2 else ())):
                kern = K.encode32_kernel(call.rounding.value, _kind(src.dtype), rmode, call.gpu_form())
                K.launch(kern, xr.size, launch_stream, xr, codes, K.consts_tuple(call), slo, shi, sid, off,
                         rbits, _device_table(("encode", call.fmt), lambda: table))
            else:
                p = K.params_tuple(call.params)
                K.launch(K.encode_kernel, xr.size, launch_stream, xr, codes, p,
                         _kind(src.dtype), rmode, slo, shi, sid, off, rbits, rb_wide)
    return _result(src, obj)


def decode(codes: Any, fmt: Any, dtype: Any, *, cuda_stream: Any) -> Any:
    """:func:`floatsim.decode` of GPU codes (see the module docstring)."""
    from .cast import _check_out_dtype
    from .kernels import cuda as K
    from .kernels.params import make_params
    from .kernels.vector_io import aligned4
    from .registry import format as _format

    f = _format(fmt)
    src = _import(codes, "codes")
    if src.dtype.kind not in "ui":
        raise TypeError(f"codes has dtype {src.dtype}; decode needs an integer array")
    dt = _check_out_dtype(dtype, f)
    with _on(src.device):
        launch_stream, _ = _stream_for(cuda_stream, src)
        shape = tuple(src.arr.shape)
        obj, outr = _empty(src, shape, dt, launch_stream)
        if src.arr.size:
            cr, outf = _flat(src.arr, launch_stream), outr.reshape(outr.size)
            if f.num_codes <= K.LUT_CODES:
                vec = cr.dtype == np.uint8 and outf.dtype.itemsize in (2, 4) and aligned4(outf) \
                    and aligned4(cr)
                K.launch(K.decode_lut_kernel(vec), cr.size, launch_stream, cr, outf, _decode_table(f, dt))
            else:
                K.launch(K.decode_kernel, cr.size, launch_stream, cr, outf, K.params_tuple(make_params(f)),
                         _kind(dt), f.num_codes)
    return _result(src, obj)


_TABLES: dict[tuple, Any] = {}


def _decode_table(f: Any, dt: np.dtype) -> Any:
    """The current device's table for ``decode_lut_kernel``: the output bits
    of codes 0..LUT_CODES-1 from ``cast.value_table`` (a code past the format's
    decodes as an out-of-range code does), then the NaN of out-of-range codes:
    quiet, positive, as the general kernel gives it."""
    from .cast import value_table
    from .kernels import cuda as K

    def build() -> np.ndarray:
        nan = np.array(np.nan, dtype=np.float64).astype(dt).view(_raw(dt))
        table = np.full(K.LUT_CODES + 1, nan, dtype=_raw(dt))
        table[: f.num_codes] = value_table(f, dt).view(_raw(dt))
        return table

    return _device_table(("decode", f, dt), build)


def _device_id() -> int:
    from numba import cuda

    return 0 if _sim() else cuda.get_current_device().id


def _device_table(key: tuple, build: Any) -> Any:
    """The table ``build()`` makes, on the current device: built and copied
    there once per ``key`` and device."""
    from numba import cuda

    k = (key, _device_id())
    if k not in _TABLES:
        # a synchronous copy, complete before any stream may read it
        _TABLES[k] = cuda.to_device(build())
    return _TABLES[k]
