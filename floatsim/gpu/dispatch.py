"""GPU arrays in :func:`floatsim.quantize`, :func:`~floatsim.encode` and
:func:`~floatsim.decode`: the CUDA kernels, with no host round trip.

``floatsim.cast`` sends an array here when it lives on a GPU
(:func:`floatsim.arrays.is_device_array`).  A call is validated exactly as on
the CPU (:class:`floatsim.spec.CastSpec`, on a zero-size stand-in of x's
dtype, so nothing is read from the device), runs on the input library's
stream and returns an array of the caller's library (:mod:`.interop`).
CUDA torch tensors in the plain case first try the per-call plans of
:mod:`.plans` (no validation or typing per call); everything else, and
anything a plan does not take, comes here, with the same results.

Example (no GPU needed):
    >>> from floatsim.gpu.dispatch import decode
    >>> decode.__name__
    'decode'
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arrays import is_device_array
from ..dtypes import check_out_dtype, code_dtype
from ..kernels.abi import ROUNDING_CODE, make_params
from ..registry import format as _format
from ..spec import RMODE_EXPLICIT, CastSpec
from . import elementwise as K
from . import plans
from .interop import (
    DeviceArray,
    as_caller,
    flat,
    import_array,
    kind_of,
    new_array,
    on_device,
    out_array,
    raw_dtype,
    stream_for,
    validate,
)
from .tables import decode_table, dummy, encode_table_on
from .vector_io import aligned4

__all__ = ["decode", "encode", "quantize"]


def _rbits(random_bits: Any, shape: tuple[int, ...], device: int, stream: Any) -> tuple[Any, int]:
    """Explicit random words on the device as uint32 (and whether they are 64-bit)."""
    from numba import cuda

    if is_device_array(random_bits):
        rb = import_array(random_bits, "random_bits")
        arr, dt = rb.arr, rb.dtype
    else:
        host = np.ascontiguousarray(random_bits)
        dt = host.dtype
        with on_device(device):
            arr = cuda.to_device(host.view(raw_dtype(dt)), stream=stream)
    if tuple(arr.shape) != shape:
        raise ValueError(f"random_bits has shape {tuple(arr.shape)}; it needs x's shape {shape}")
    return flat(arr, stream).view(np.uint32), int(dt.itemsize == 8)


def _launch_args(spec: CastSpec, src: DeviceArray, random_bits: Any, stream: Any) -> tuple:
    if spec.rmode == RMODE_EXPLICIT:
        rbits, rb_wide = _rbits(random_bits, tuple(src.arr.shape), src.device, stream)
    else:
        rbits, rb_wide = dummy("uint32"), 0
    return spec.rmode, spec.seed_lo, spec.seed_hi, spec.stream, 0, rbits, rb_wide


def _params(spec: CastSpec) -> tuple[int, ...]:
    return tuple(int(v) for v in spec.params)


def quantize(x: Any, fmt: Any, rounding: Any, *, overflow: Any = None, subnormals: Any = None,
             daz: bool = False, seed: Any = None, stream: int = 0, random_bits: Any = None,
             sr_bits: Any = None, out: Any = None, out_dtype: Any = None,
             cuda_stream: Any = None) -> Any:
    """:func:`floatsim.quantize` of a GPU array (see the module docstring)."""
    if out is None and out_dtype is None and random_bits is None and cuda_stream is None:
        y = plans.quantize(x, fmt, rounding, overflow, subnormals, daz, seed, stream, sr_bits)
        if y is not None:
            return y
    src, spec = validate(x, fmt, rounding, overflow, subnormals, daz, seed, stream, random_bits,
                         sr_bits)
    if out is not None and out_dtype is None:
        out_dtype = import_array(out, "out").dtype if is_device_array(out) else getattr(out, "dtype", None)
    dt = check_out_dtype(src.dtype if out_dtype is None else out_dtype, spec.fmt)
    with on_device(src.device):
        launch_stream, _ = stream_for(cuda_stream, src)
        shape = tuple(src.arr.shape)
        obj, outr = out_array(out, src, shape, dt, launch_stream)
        if src.arr.size:
            xr, outf = flat(src.arr, launch_stream), outr.reshape(outr.size)
            rmode, slo, shi, sid, off, rbits, rb_wide = _launch_args(spec, src, random_bits, launch_stream)
            kernel_dt = dt if dt.itemsize >= 4 else np.dtype(np.float32)
            if spec.fast32(kernel_dt):
                vec = aligned4(xr, outf, *((rbits,) if rmode == RMODE_EXPLICIT else ()))
                kern = K.quantize32_kernel(ROUNDING_CODE[spec.rounding], kind_of(src.dtype), kind_of(dt),
                                           rmode, spec.gpu_form(), vec)
                K.launch(kern, xr.size, launch_stream, xr, outf, spec.consts(), slo, shi, sid, off, rbits)
            else:
                K.launch(K.quantize_kernel, xr.size, launch_stream, xr, outf, _params(spec),
                         kind_of(src.dtype), kind_of(dt), rmode, slo, shi, sid, off, rbits, rb_wide)
    return as_caller(src, obj)


def encode(x: Any, fmt: Any, rounding: Any, *, overflow: Any = None, subnormals: Any = None,
           daz: bool = False, seed: Any = None, stream: int = 0, random_bits: Any = None,
           sr_bits: Any = None, out: Any = None, cuda_stream: Any = None) -> Any:
    """:func:`floatsim.encode` of a GPU array (see the module docstring)."""
    from ..cpu.tables import code_table_for

    if out is None and random_bits is None and cuda_stream is None:
        y = plans.quantize(x, fmt, rounding, overflow, subnormals, daz, seed, stream, sr_bits,
                           encode=True)
        if y is not None:
            return y
    src, spec = validate(x, fmt, rounding, overflow, subnormals, daz, seed, stream, random_bits,
                         sr_bits)
    with on_device(src.device):
        launch_stream, _ = stream_for(cuda_stream, src)
        shape = tuple(src.arr.shape)
        obj, outr = out_array(out, src, shape, code_dtype(spec.fmt), launch_stream)
        if src.arr.size:
            xr, codes = flat(src.arr, launch_stream), outr.reshape(outr.size)
            rmode, slo, shi, sid, off, rbits, rb_wide = _launch_args(spec, src, random_bits, launch_stream)
            table = code_table_for(spec)
            if table is not None and aligned4(xr, codes, *((rbits,) if rmode == RMODE_EXPLICIT else ())):
                kern = K.encode32_kernel(ROUNDING_CODE[spec.rounding], kind_of(src.dtype), rmode,
                                         spec.gpu_form())
                K.launch(kern, xr.size, launch_stream, xr, codes, spec.consts(), slo, shi, sid, off,
                         rbits, encode_table_on(spec.fmt, table))
            else:
                K.launch(K.encode_kernel, xr.size, launch_stream, xr, codes, _params(spec),
                         kind_of(src.dtype), rmode, slo, shi, sid, off, rbits, rb_wide)
    return as_caller(src, obj)


def decode(codes: Any, fmt: Any, dtype: Any, *, cuda_stream: Any = None) -> Any:
    """:func:`floatsim.decode` of GPU codes (see the module docstring)."""
    if cuda_stream is None:
        y = plans.decode(codes, fmt, dtype)
        if y is not None:
            return y
    f = _format(fmt)
    src = import_array(codes, "codes")
    if src.dtype.kind not in "ui":
        raise TypeError(f"codes has dtype {src.dtype}; decode needs an integer array")
    dt = check_out_dtype(dtype, f, "dtype")
    with on_device(src.device):
        launch_stream, _ = stream_for(cuda_stream, src)
        shape = tuple(src.arr.shape)
        obj, outr = new_array(src, shape, dt, launch_stream)
        if src.arr.size:
            cr, outf = flat(src.arr, launch_stream), outr.reshape(outr.size)
            if f.num_codes <= K.LUT_CODES:
                vec = cr.dtype == np.uint8 and outf.dtype.itemsize in (2, 4) and aligned4(outf) \
                    and aligned4(cr)
                K.launch(K.decode_lut_kernel(vec), cr.size, launch_stream, cr, outf, decode_table(f, dt))
            else:
                K.launch(K.decode_kernel, cr.size, launch_stream, cr, outf,
                         tuple(int(v) for v in make_params(f)), kind_of(dt), f.num_codes)
    return as_caller(src, obj)
