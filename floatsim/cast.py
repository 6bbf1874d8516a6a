"""Element-wise casts of arrays: quantize, encode, decode.

All three validate their arguments here (:class:`floatsim.spec.CastSpec`),
then hand flat arrays to the CPU backend (:mod:`floatsim.cpu`), or GPU
arrays to the GPU backend (:mod:`floatsim.gpu`); both are imported at their
first use, so ``import floatsim`` compiles and loads no kernel.

Example:
    >>> import numpy as np, floatsim as fs
    >>> x = np.array([0.3, 460.0, 1000.0], dtype=np.float32)
    >>> fs.quantize(x, "e4m3").tolist()
    [0.3125, 448.0, nan]
    >>> fs.quantize(x, "e4m3", overflow="saturate").tolist()
    [0.3125, 448.0, 448.0]
    >>> fs.encode(x, "e4m3").tolist()
    [42, 126, 127]
    >>> fs.decode(np.array([42, 126], dtype=np.uint8), "e4m3").tolist()
    [0.3125, 448.0]
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .arrays import is_device_array
from .dtypes import check_out_dtype, code_dtype, out_array
from .formats import Format, Overflow
from .registry import format as _format
from .rounding import Rounding
from .spec import CastSpec

__all__ = ["quantize", "encode", "decode", "code_dtype"]


def _gpu() -> Any:
    """The GPU backend, imported at the first GPU array (it imports numba.cuda)."""
    from .gpu import dispatch

    return dispatch


@functools.cache
def _plans() -> Any:
    """The CPU per-call plans, imported at the first call (they import numba;
    cached: an import statement costs a microsecond per call)."""
    from .cpu import plans

    return plans


def _cpu() -> Any:
    """The CPU backend, imported at the first call (it imports numba)."""
    from .cpu import elementwise

    return elementwise


def quantize(
    x: Any,
    fmt: Format | str,
    rounding: Rounding | str = "nearest_even",
    *,
    overflow: Overflow | str | None = None,
    subnormals: bool | None = None,
    daz: bool = False,
    seed: int | None = None,
    stream: int = 0,
    random_bits: Any = None,
    sr_bits: int | None = None,
    out: np.ndarray | None = None,
    out_dtype: Any = None,
    cuda_stream: Any = None,
) -> np.ndarray:
    """Round every element of ``x`` to ``fmt``; return the values as floats.

    Args:
        x: float64, float32, float16 or bfloat16 array (any shape, strides).
            It is rounded once from its exact value.
        fmt: a Format or a registered name ('e4m3', 'float8_e5m2', 'e3m4'...).
        rounding: a :class:`Rounding` or its name: 'nearest_even' ('rne'),
            'nearest_away', 'toward_zero', 'up', 'down', 'odd', 'stochastic'.
        overflow: 'saturate', 'inf' or 'nan'; default: the format's own.
        subnormals: False flushes results below min_normal to zero.
        daz: treat subnormal inputs (of x's dtype) as zero.
        seed: for stochastic rounding, the Philox key (docs/semantics.md).
        stream: Philox stream id, to draw independent bits with one seed.
        random_bits: instead of seed, explicit random words (uint32 or uint64,
            x's shape): the hardware-validation path.
        sr_bits: k for k-bit stochastic rounding; None for exact SR.
        out: array to write the result into (x's shape and out_dtype).
        out_dtype: result dtype; default x's dtype. It must hold every value
            of ``fmt`` exactly.
        cuda_stream: for GPU arrays (CuPy, torch, Numba, JAX, DLPack), the CUDA
            stream to run on; default: the array library's current stream
            (floatsim.gpu.interop).  GPU arrays give GPU arrays.

    Example:
        >>> import numpy as np, floatsim as fs
        >>> fs.quantize(np.array([1.0625, -0.0]), "e4m3").tolist()
        [1.0, -0.0]
        >>> fs.quantize(np.full(4, 1.0625), "e4m3", "sr", seed=7).tolist()
        [1.125, 1.125, 1.0, 1.0]
    """
    if is_device_array(x):  # GPU arrays: CUDA kernels, same results (floatsim.gpu)
        return _gpu().quantize(
            x, fmt, rounding, overflow=overflow, subnormals=subnormals, daz=daz, seed=seed,
            stream=stream, random_bits=random_bits, sr_bits=sr_bits, out=out, out_dtype=out_dtype,
            cuda_stream=cuda_stream)
    if out_dtype is None and random_bits is None and cuda_stream is None:
        # the per-call plans of contiguous float32 / float64 arrays (floatsim.cpu.plans)
        y = _plans().quantize(x, fmt, rounding, overflow, subnormals, daz, seed, stream, sr_bits, out)
        if y is not None:
            return y
    spec = CastSpec(x, fmt, rounding, overflow=overflow, subnormals=subnormals, daz=daz, seed=seed,
                    stream=stream, random_bits=random_bits, sr_bits=sr_bits)
    if out is not None and out_dtype is None:
        out_dtype = getattr(out, "dtype", None)
    dt = check_out_dtype(spec.x.dtype if out_dtype is None else out_dtype, spec.fmt)
    result = out_array(out, spec.x.shape, dt)
    kernel_dt = dt if dt in (np.dtype(np.float32), np.dtype(np.float64)) else np.dtype(np.float32)
    target = result if kernel_dt == dt else np.empty(spec.x.shape, dtype=kernel_dt)
    cpu = _cpu()
    if spec.fast32(kernel_dt):
        cpu.run_fast32(spec, target.reshape(-1))
    else:
        cpu.run_general(spec, cpu.quantize_flat, target.reshape(-1))
    if target is not result:
        result[...] = target.astype(dt)  # exact: dt holds every value of fmt
    return result


def encode(
    x: Any,
    fmt: Format | str,
    rounding: Rounding | str = "nearest_even",
    *,
    overflow: Overflow | str | None = None,
    subnormals: bool | None = None,
    daz: bool = False,
    seed: int | None = None,
    stream: int = 0,
    random_bits: Any = None,
    sr_bits: int | None = None,
    out: np.ndarray | None = None,
    cuda_stream: Any = None,
) -> np.ndarray:
    """Round every element of ``x`` to ``fmt``; return the integer codes.

    Codes are uint8 up to 8 bits, uint16 up to 16, then uint32 / uint64
    (:func:`code_dtype`).  Arguments as for :func:`quantize`. NaN into a
    format without NaN raises ValueError (there is no code for it).

    Example:
        >>> import numpy as np, floatsim as fs
        >>> fs.encode(np.array([6.0, -0.5, 5.0]), "e2m1").tolist()
        [7, 9, 6]
    """
    if is_device_array(x):
        return _gpu().encode(
            x, fmt, rounding, overflow=overflow, subnormals=subnormals, daz=daz, seed=seed, stream=stream,
            random_bits=random_bits, sr_bits=sr_bits, out=out, cuda_stream=cuda_stream)
    spec = CastSpec(x, fmt, rounding, overflow=overflow, subnormals=subnormals, daz=daz, seed=seed,
                    stream=stream, random_bits=random_bits, sr_bits=sr_bits)
    if not spec.fmt.has_nan and np.isnan(spec.x).any():
        first = int(np.flatnonzero(np.isnan(spec.x).reshape(-1))[0])
        raise ValueError(
            f"x holds NaN (first at flat index {first}) and {spec.fmt} has no NaN code; "
            "use quantize() to keep NaN as a float, or remove NaNs first"
        )
    result = out_array(out, spec.x.shape, code_dtype(spec.fmt))
    from .cpu.tables import code_table_for

    table = code_table_for(spec)
    cpu = _cpu()
    if table is not None:  # the fast path, each value's code by table (kernels.code_table)
        cpu.run_fast32(spec, result.reshape(-1), table)
    else:
        cpu.run_general(spec, cpu.encode_flat, result.reshape(-1))
    return result


def decode(
    codes: Any, fmt: Format | str, dtype: Any = np.float32, *, cuda_stream: Any = None
) -> np.ndarray:
    """The values of integer ``codes`` of ``fmt``, as ``dtype`` floats.

    Example:
        >>> import numpy as np, floatsim as fs
        >>> fs.decode(np.arange(8, dtype=np.uint8), "e2m1").tolist()
        [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
    """
    if is_device_array(codes):
        return _gpu().decode(codes, fmt, dtype, cuda_stream=cuda_stream)
    f = _format(fmt)
    c = np.asarray(codes)
    if c.dtype.kind not in "ui":
        raise TypeError(f"codes has dtype {c.dtype}; decode needs an integer array")
    dt = check_out_dtype(dtype, f, "dtype")
    if c.size:
        hi = int(c.max())
        lo = int(c.min()) if c.dtype.kind == "i" else 0
        if lo < 0 or hi >= f.num_codes:
            bad = lo if lo < 0 else hi
            raise ValueError(f"code {bad} is out of range for {f}; allowed: 0..{f.num_codes - 1}")
    from .cpu import tables
    from .cpu.launch import launch

    flat = np.ascontiguousarray(c).reshape(-1)
    if f.num_codes > tables.TABLE_CODES:
        return tables.decode_general(flat, f, dt).reshape(c.shape)
    out = np.empty(c.shape, dtype=dt)
    raw = np.dtype(f"u{dt.itemsize}")
    launch(_cpu().lookup_flat, flat.size, flat, tables.value_table(f, dt).view(raw),
           out.reshape(-1).view(raw))
    return out
