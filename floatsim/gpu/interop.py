"""GPU arrays of any library as Numba device arrays, their streams, and
results of the caller's library: what every GPU entry point shares.

An array lives on a GPU when :func:`floatsim.arrays.is_device_array` says so:
anything exposing ``__cuda_array_interface__`` (CuPy, PyTorch CUDA tensors,
Numba device arrays, JAX GPU arrays) or DLPack with a CUDA device.
:func:`import_array` sees it through Numba (:class:`DeviceArray`); the result
of an operation is an array of the caller's library:

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

Importing this module does not import ``numba.cuda``; its functions do.

Part of floatsim's internal API (the GPU modules and the torch adapter use it).

Example (no GPU needed):
    >>> import numpy as np
    >>> raw_dtype(np.dtype(np.float32)), norm_stream(1)
    (dtype('uint32'), 0)
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from ..arrays import is_device_array
from ..dtypes import bfloat16
from ..kernels.abi import KIND_CODE
from ..spec import CastSpec
from . import SIMULATOR, require_numba_cuda
from .launch import stream_object

__all__ = [
    "DeviceArray",
    "as_caller",
    "flat",
    "import_array",
    "kind_of",
    "new_array",
    "norm_stream",
    "on_device",
    "out_array",
    "raw_dtype",
    "stream_for",
    "stream_handle",
    "torch_dtypes",
    "validate",
]

# ---- arrays of any library as Numba device arrays --------------------------------------


class DeviceArray(NamedTuple):
    """A GPU array seen through Numba."""

    arr: Any  # numba device array over the data (raw unsigned dtype; any strides)
    dtype: np.dtype  # the logical dtype (float32, bfloat16, uint8, ...)
    kind: str  # "numba", "torch", "cupy", "jax" or "cai"
    obj: Any  # the caller's object
    device: int  # CUDA device ordinal
    stream: int | None  # the stream the data was produced on / its library's current stream


def raw_dtype(dtype: np.dtype) -> np.dtype:
    """The unsigned integer dtype of the same size (the kernels' view)."""
    return np.dtype(f"u{dtype.itemsize}")


def _torch_dtypes() -> dict[Any, np.dtype]:
    import torch

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
    bf = bfloat16()
    if bf is not None:
        table[torch.bfloat16] = bf
    return table


def torch_dtypes() -> tuple[dict[Any, np.dtype], dict[np.dtype, Any]]:
    """(torch dtype -> numpy dtype, its inverse) for the dtypes GPU arrays may have
    (bfloat16 once ml_dtypes is loaded: the table is rebuilt until it is)."""
    global _TORCH_TABLE
    if _TORCH_TABLE is None or (bfloat16() is not None and bfloat16() not in _TORCH_TABLE[1]):
        fwd = _torch_dtypes()
        _TORCH_TABLE = fwd, {v: k for k, v in fwd.items()}
    return _TORCH_TABLE


_TORCH_TABLE: tuple[dict[Any, np.dtype], dict[np.dtype, Any]] | None = None


def _from_cai(desc: dict, owner: Any, dtype: np.dtype) -> Any:
    """A Numba view (raw dtype) of a CUDA-array-interface dict."""
    from numba import cuda

    desc = dict(desc, typestr=raw_dtype(dtype).str)  # bfloat16 is '<V2' or missing
    return cuda.from_cuda_array_interface(desc, owner=owner, sync=False)


def import_array(x: Any, what: str) -> DeviceArray:
    """``x`` (a GPU array) as a :class:`DeviceArray`."""
    require_numba_cuda()
    from numba import cuda

    t = type(x)
    mod = t.__module__.split(".")[0]
    if getattr(t, "__cuda_ndarray__", False):
        st = getattr(x, "stream", 0)
        handle = None if isinstance(st, int) or SIMULATOR else int(st)
        dev = 0 if SIMULATOR else cuda.get_current_device().id
        return DeviceArray(_as_raw(x), np.dtype(x.dtype), "numba", x, dev, handle)
    if mod == "torch":
        import torch

        if x.dtype == torch.bfloat16 and bfloat16() is None:
            try:  # numpy's name for bfloat16; not imported until needed (0.6 s)
                import ml_dtypes  # noqa: F401
            except ImportError:
                raise TypeError(
                    f"{what} is a bfloat16 tensor; floatsim reads bfloat16 through ml_dtypes: "
                    "pip install ml_dtypes (or pass a float32 tensor)") from None
        fwd, _ = torch_dtypes()
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
        with on_device(device):
            arr = _from_cai(v.__cuda_array_interface__, v, dt)
        return DeviceArray(arr, dt, "torch", x, device, stream)
    desc = getattr(x, "__cuda_array_interface__", None)
    if desc is not None:
        dt = np.dtype(getattr(x, "dtype", None) or desc["typestr"])
        if mod == "cupy":
            import cupy

            device = x.device.id
            stream = desc.get("stream", cupy.cuda.get_current_stream().ptr)
        else:
            device, stream = _device_of(desc["data"][0]), desc.get("stream")
        with on_device(device):
            arr = _from_cai(desc, x, dt)
        kind = mod if mod in ("cupy", "jax", "jaxlib") else "cai"
        return DeviceArray(arr, dt, "jax" if kind == "jaxlib" else kind, x, device, stream)
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
    return import_array(bridge, what)


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
    return 0 if SIMULATOR else cuda.get_current_device().id


def _as_raw(arr: Any) -> Any:
    dt = np.dtype(arr.dtype)
    return arr if dt == raw_dtype(dt) else arr.view(raw_dtype(dt))


# ---- streams ---------------------------------------------------------------------------


def stream_handle(cuda_stream: Any) -> int | None:
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


def stream_for(cuda_stream: Any, src: DeviceArray) -> tuple[Any, int | None]:
    """(numba stream to launch on, its handle); waits for the producer's stream."""
    from numba import cuda

    if _is_numba_stream(cuda_stream):
        stream, handle = cuda_stream, (None if SIMULATOR else int(cuda_stream))
    else:
        handle = src.stream if cuda_stream is None else stream_handle(cuda_stream)
        stream = stream_object(handle)
    if src.stream is not None and norm_stream(src.stream) != norm_stream(handle) and not SIMULATOR:
        ev = cuda.event(timing=False)
        ev.record(stream=stream_object(src.stream))
        ev.wait(stream=stream)
    return stream, handle


def norm_stream(handle: int | None) -> int:
    return 0 if handle in (None, 1) else int(handle)


# ---- outputs ---------------------------------------------------------------------------


def new_array(src: DeviceArray, shape: tuple[int, ...], dtype: np.dtype, stream: Any) -> tuple[Any, Any]:
    """A new C-contiguous array of ``src``'s library: (caller's object, raw numba view)."""
    from numba import cuda

    if src.kind in ("torch", "jax") and _has("torch"):
        import torch

        _, back = torch_dtypes()
        device = src.obj.device if src.kind == "torch" else f"cuda:{src.device}"
        obj = torch.empty(shape, dtype=back[dtype], device=device)
        return obj, import_array(obj, "out").arr
    if src.kind in ("cupy", "jax") and _has("cupy"):
        import cupy

        with cupy.cuda.Device(src.device):
            obj = cupy.empty(shape, dtype=dtype)
        return obj, import_array(obj, "out").arr
    with on_device(src.device):
        arr = cuda.device_array(shape, dtype=raw_dtype(dtype), stream=stream)
    obj = arr if dtype == raw_dtype(dtype) else arr.view(dtype)
    return obj, arr


def on_device(device: int) -> Any:
    """A context that makes ``device`` current (nothing to do when it is)."""
    import contextlib

    from numba import cuda

    if SIMULATOR or cuda.get_current_device().id == device:
        return contextlib.nullcontext()
    return cuda.gpus[device]


@functools.cache
def _has(mod: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(mod) is not None


def as_caller(src: DeviceArray, obj: Any) -> Any:
    if src.kind == "jax":
        import jax.dlpack

        return jax.dlpack.from_dlpack(obj)
    return obj


def out_array(out: Any, src: DeviceArray, shape: tuple[int, ...], dtype: np.dtype, stream: Any) -> tuple[Any, Any]:
    """``out=`` checked like the CPU path's, or a new array."""
    if out is None:
        return new_array(src, shape, dtype, stream)
    if not is_device_array(out):
        raise TypeError(f"out= must be a GPU array like x, got {type(out).__name__}")
    o = import_array(out, "out")
    if tuple(o.arr.shape) != shape or o.dtype != dtype:
        raise ValueError(
            f"out= has shape {tuple(o.arr.shape)} and dtype {o.dtype}; needed {shape} and {dtype}"
        )
    if not o.arr.is_c_contiguous():
        raise ValueError("out= must be a writeable C-contiguous array")
    return out, o.arr


def flat(arr: Any, stream: Any) -> Any:
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


# ---- validation ---------------------------------------------------------------------------


def kind_of(dtype: np.dtype) -> int:
    """The kernels' kind code of a float dtype's raw view (kernels.abi.KIND_CODE)."""
    return KIND_CODE[dtype.name]


def validate(x: Any, fmt: Any, rounding: Any, overflow: Any, subnormals: Any, daz: bool, seed: Any,
             stream: int, random_bits: Any, sr_bits: Any) -> tuple[DeviceArray, CastSpec]:
    """``x`` as a :class:`~.interop.DeviceArray` and the call validated as the
    CPU path does (a :class:`CastSpec` of a zero-size stand-in of x's dtype)."""
    src = import_array(x, "x")
    rb = None
    if random_bits is not None:
        if type(random_bits).__module__.startswith("torch"):
            rb_dt = torch_dtypes()[0].get(random_bits.dtype, np.dtype(object))
        else:
            rb_dt = getattr(random_bits, "dtype", None) or np.asarray(random_bits).dtype
        rb = np.empty(0, dtype=np.dtype(rb_dt))
    spec = CastSpec(np.empty(0, dtype=src.dtype), fmt, rounding, overflow=overflow,
                    subnormals=subnormals, daz=daz, seed=seed, stream=stream, random_bits=rb,
                    sr_bits=sr_bits)
    return src, spec
