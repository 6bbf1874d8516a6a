"""The models on arrays: ``fma``, ``dot``, ``mx_dot`` and ``matmul``.

Inputs are values of the operand formats held in any float dtype (float16,
bfloat16, float32, float64...); every value must be a float32 value (the
models form exact products of 24-bit significands): quantize first with
:func:`floatsim.quantize` or :func:`floatsim.blocks.quantize`.  Results are
float32 arrays holding values of the spec's output format (``fma``: float64).

Example:
    >>> import numpy as np, floatsim.mac as mac
    >>> a = np.float32([1.0, 2.0**-14, 2.0**-14])
    >>> float(mac.dot(a, np.ones(3, np.float32), "hopper_fp8"))  # cut below 2**-13
    1.0
    >>> float(mac.dot(a, np.ones(3, np.float32), "fp32"))
    1.0001220703125
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from ..arrays import is_device_array
from ..formats import Format
from ..kernels.abi import make_params
from ..registry import format as _format
from ..rounding import Rounding
from . import cpu
from .abi import pack
from .scalar import NAN_SCALE, dot_model
from .spec import AccumulatorSpec, check_float_format
from .spec import spec as _spec

__all__ = ["fma", "dot", "mx_dot", "matmul", "as_operand"]

_log = logging.getLogger("floatsim.mac")
_ZERO_SCALE = np.zeros(1, dtype=np.int64)


def _first_call(kernel: Any, what: str) -> None:
    if not kernel.signatures:
        _log.info("floatsim.mac: first call of %s: compiling it (once; cached on disk)", what)


def as_operand(x: Any, name: str) -> np.ndarray:
    """``x`` as a C-contiguous, writable float32 array, checking that every
    value is a float32 value (what the models take).

    Example:
        >>> as_operand([1.0, 0.1], "a")
        Traceback (most recent call last):
        ...
        ValueError: a holds values that are not float32 values (first: 0.1 at index (1,)); the models take values of the operand formats: quantize first (floatsim.quantize)
    """
    arr = np.asarray(x)
    kind = arr.dtype.kind
    if not (kind == "f" or arr.dtype.name.startswith(("float", "bfloat"))):
        raise TypeError(f"{name} has dtype {arr.dtype}; the models take float arrays "
                        "(float16, bfloat16, float32, float64, ml_dtypes floats)")
    out = np.require(arr.astype(np.float32, copy=False), np.float32, ["C", "W"])
    if arr.dtype.itemsize > 4 or kind != "f" and arr.dtype.itemsize > 2:
        wide = arr.astype(np.float64)
        with np.errstate(invalid="ignore"):
            bad = (out.astype(np.float64) != wide) & ~np.isnan(wide)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{name} holds values that are not float32 values (first: "
                             f"{float(wide[idx])!r} at index {idx}); the models take values of the "
                             "operand formats: quantize first (floatsim.quantize)")
    return out


def _buf_len(spec: AccumulatorSpec) -> int:
    return spec.group or 1


def matmul(a: Any, b: Any, spec: AccumulatorSpec | str = "fp32", *, cuda_stream: Any = None) -> Any:
    """``a @ b`` with every output element computed by the unit ``spec``
    (docs/mac.md): the scalar model per element, bit for bit, in a parallel
    tiled Numba loop on the CPU, or the CUDA GEMM (:mod:`floatsim.gpu.mac`)
    when ``a`` and ``b`` are GPU arrays (torch, CuPy, Numba, JAX), returned as
    the caller's kind of array.  ``a`` is (M, K), ``b`` (K, N); the result is
    float32 (M, N).  Stochastic accumulator rounding numbers element (i, j)
    as ``i * N + j``.

    ``spec.is_fp32()`` specs are computed by the model too (sequential FP32
    FMAs); a caller that accepts a library GEMM's own order may use
    ``a @ b`` instead.

    Example:
        >>> import numpy as np
        >>> a = np.float32([[1.0, 2.0**-9, 2.0**-9]]); b = np.ones((3, 1), np.float32)
        >>> float(matmul(a, b, "bf16")[0, 0]), float(matmul(a, b, "fp32")[0, 0])
        (1.0, 1.00390625)
    """
    spec = _spec(spec)
    on_gpu = is_device_array(a), is_device_array(b)
    if any(on_gpu):
        if not all(on_gpu):
            where = "a" if on_gpu[0] else "b"
            raise ValueError(f"only {where} is a GPU array; pass both operands on the GPU or both "
                             "on the host")
        from ..gpu import mac as gpu_mac

        return gpu_mac.matmul(a, b, spec, cuda_stream=cuda_stream)
    A = as_operand(a, "a")
    B = as_operand(b, "b")
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0]:
        raise ValueError(f"matmul needs a of shape (M, K) and b of shape (K, N); got {A.shape} "
                         f"and {B.shape}")
    M, K = A.shape
    N = B.shape[1]
    out = np.empty(M * N, dtype=np.float32)
    if out.size:
        Bt = np.ascontiguousarray(B.T)
        _first_call(cpu.gemm, "the CPU GEMM")
        cpu.gemm(A.reshape(-1), Bt.reshape(-1), M, N, K, _ZERO_SCALE, K + 1, *pack(spec),
                 _buf_len(spec), out)
    return out.reshape(M, N)


def dot(a: Any, b: Any, spec: AccumulatorSpec | str = "fp32") -> np.ndarray:
    """The dot product of ``a`` and ``b`` along their last axis, as the unit
    ``spec`` computes it (one scalar model call per row; SR element index:
    the row's flat index).  Returns a float32 array of shape ``a.shape[:-1]``
    (a 0-d array for vectors).

    Example:
        >>> import numpy as np
        >>> dot(np.full((2, 4), 0.5, np.float32), np.ones((2, 4), np.float32), "fp16")
        array([2., 2.], dtype=float32)
    """
    spec = _spec(spec)
    A = as_operand(a, "a")
    B = as_operand(b, "b")
    if A.shape != B.shape or A.ndim == 0:
        raise ValueError(f"dot needs a and b of the same shape (..., K); got {A.shape} and "
                         f"{B.shape}")
    K = A.shape[-1]
    rows = A.size // K if K else int(np.prod(A.shape[:-1]))
    out = np.empty(rows, dtype=np.float32)
    if rows:
        _first_call(cpu.dots, "the CPU dot products")
        cpu.dots(A.reshape(-1), B.reshape(-1), rows, K, _ZERO_SCALE, K + 1, *pack(spec),
                 _buf_len(spec), out)
    return out.reshape(A.shape[:-1])


def _scale_exponents(s: Any, name: str, nblk: int) -> np.ndarray:
    arr = np.asarray(s, dtype=np.float64).reshape(-1)
    if arr.size != nblk:
        raise ValueError(f"{name} has {arr.size} scales; {nblk} blocks need {nblk}")
    out = np.empty(nblk, dtype=np.int64)
    for i, v in enumerate(arr):
        if math.isnan(v):
            out[i] = NAN_SCALE
            continue
        m, e = math.frexp(v)
        if m != 0.5 or not -127 <= e - 1 <= 127:
            raise ValueError(f"{name}[{i}]={float(v)!r} is not a power of two in 2**-127..2**127 (an "
                             "E8M0 scale value) or NaN")
        out[i] = e - 1
    return out


def mx_dot(a: Any, a_scales: Any, b: Any, b_scales: Any, spec: AccumulatorSpec | str = "fp32",
           *, block: int = 32) -> float:
    """The OCP MX dot product of two vectors in blocks of ``block`` (OCP
    Microscaling Formats v1.0, sections 6.1-6.2; docs/mac.md): each element
    product is scaled exactly by its block's two scales (powers of two, the
    values of E8M0 scales, or NaN) and the scaled products go through
    ``spec``'s pipeline.  ``a``, ``b``: element values (1-D); ``a_scales``,
    ``b_scales``: one scale value per block.

    Example:
        >>> import numpy as np
        >>> x = np.float32([1.5, -2.0, 4.0, 0.5])
        >>> mx_dot(x, [2.0**-2, 2.0**3], x, [1.0, 0.5], "fp32", block=2)  # 6.25/4 + 16.25*4
        66.5625
    """
    spec = _spec(spec)
    if isinstance(block, bool) or not isinstance(block, int | np.integer) or block < 1:
        raise ValueError(f"block={block!r} must be a positive int")
    A = as_operand(a, "a").reshape(-1)
    B = as_operand(b, "b").reshape(-1)
    if A.shape != B.shape:
        raise ValueError(f"a and b have {A.size} and {B.size} elements; they must be equal")
    nblk = -(-A.size // block)
    ea = _scale_exponents(a_scales, "a_scales", nblk)
    eb = _scale_exponents(b_scales, "b_scales", nblk)
    sexp = np.where((ea >= NAN_SCALE) | (eb >= NAN_SCALE), NAN_SCALE, ea + eb).astype(np.int64)
    buf = np.empty(_buf_len(spec), np.float64)
    return float(dot_model(A, 0, B, 0, A.size, sexp, block, *pack(spec), 0, buf))


def fma(a: Any, b: Any, c: Any, fmt: Format | str = "float32",
        rounding: Rounding | str = "nearest_even", *, sr_bits: int | None = None,
        seed: int | None = None, random_bits: Any = None) -> np.ndarray:
    """``a * b + c`` rounded once to ``fmt``, element-wise (broadcast), IEEE
    754's fusedMultiplyAdd generalised to any format: ``a`` and ``b`` are
    float32 values, ``c`` any float64.  Stochastic rounding is k-bit
    (``sr_bits``) with Philox words of the element index (``seed``) or the
    explicit words ``random_bits``.  Returns float64 values of ``fmt``.

    Example:
        >>> fma(1.125, 1.125, -1.25, "e4m3")      # 1.265625 - 1.25, rounded once
        array(0.015625)
        >>> fma([1.0, 2.0], 3.0, -3.0, "bfloat16")
        array([0., 3.])
    """
    f = _format(fmt)
    check_float_format(f, "fmt", extra_bits=sr_bits or 0)
    mode = Rounding.parse(rounding)
    x = as_operand(a, "a")
    y = as_operand(b, "b")
    cc = np.asarray(c, dtype=np.float64) if np.asarray(c).dtype.kind == "f" else None
    if cc is None:
        cc = np.asarray(c)
        if cc.dtype.kind not in "iu":
            raise TypeError(f"c has dtype {cc.dtype}; expected a float array")
        cc = cc.astype(np.float64)
    x, y, cc = (np.array(v, order="C") for v in np.broadcast_arrays(x, y, cc))
    rmode, rb, key = 0, np.zeros(1, np.uint32), 0
    if mode is Rounding.STOCHASTIC:
        if sr_bits is None or (seed is None) == (random_bits is None):
            raise ValueError("rounding='stochastic' needs sr_bits= and exactly one of seed= and "
                             "random_bits=")
        if seed is not None:
            rmode, key = 1, int(seed)
        else:
            rmode = 2
            rb = np.array(np.broadcast_to(np.asarray(random_bits, np.uint32), x.shape)).reshape(-1)
    elif sr_bits is not None:
        raise ValueError(f"sr_bits={sr_bits!r} needs rounding='stochastic'")
    p = make_params(f, mode, sr_bits=sr_bits or 0)
    out = np.empty(x.size, dtype=np.float64)
    _first_call(cpu.fma_loop, "the FMA model")
    cpu.fma_loop(x.reshape(-1), y.reshape(-1), cc.reshape(-1), p, rmode, key & 0xFFFFFFFF,
                 key >> 32, 0, rb, out)
    return out.reshape(x.shape)
