"""Block quantize / encode / decode of arrays: the front door of
:mod:`floatsim.blocks`.  Arguments are validated into a
:class:`~floatsim.blocks.plan.BlockPlan`; the work is the CPU loops'
(:mod:`floatsim.cpu.blocks`) or, for GPU arrays, the GPU backend's
(:mod:`floatsim.gpu.blocks_dispatch`).

Example:
    >>> import numpy as np, floatsim as fs
    >>> x = np.array([[0.5, -3.0, 100.0, 7.0]], dtype=np.float32)
    >>> fs.blocks.quantize(x, "mxfp4_e2m1").tolist()   # X = 2**(6 - 2) = 16
    [[0.0, -0.0, 96.0, 8.0]]
    >>> codes = fs.blocks.encode(x, "mxfp4_e2m1")
    >>> codes.elements.tolist(), codes.scales.tolist()  # 16 is E8M0 code 127 + 4
    ([[0, 8, 7, 1]], [[131]])
    >>> fs.blocks.decode(codes, "mxfp4_e2m1").tolist()
    [[0.0, -0.0, 96.0, 8.0]]
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..arrays import is_device_array
from ..cast import decode as _decode_elements
from ..dtypes import code_dtype, float_array, float_dtype, is_bfloat16, out_array
from ..formats import Format
from ..kernels.abi import ROUNDING_CODE
from ..rounding import Rounding, ScaleRule
from .format import BlockFormat, IntFormat
from .format import format as _bformat
from .layout import AxisArg, Layout
from .plan import BlockPlan, elem_code_dtype

__all__ = ["BlockCodes", "block_amax", "decode", "encode", "quantize", "scale_shape"]

_DUMMY_I64 = np.zeros((1, 1), dtype=np.int64)
_DUMMY_F64 = np.zeros((1, 1), dtype=np.float64)
_DUMMY_U8 = np.zeros((1, 1), dtype=np.uint8)


class BlockCodes(NamedTuple):
    """What :func:`encode` returns for every block format, and :func:`decode`
    takes back: ``decode(encode(x, f), f)``.

    ``elements``: x's shape, the element codes (two's complement for signed
    integer elements); ``scales``: x's shape with each block axis shortened
    to its number of blocks; ``tensor_scale``: the second-level scale of a
    two-level format (a float, a value of the tensor format; on the GPU a
    0-d float64 array), else None; ``zero_points``: rule 'minmax' only (int64,
    the scales' shape), else None.
    """

    elements: Any
    scales: Any
    tensor_scale: Any = None
    zero_points: Any = None


def _gpu() -> Any:
    """The GPU backend for blocks, imported at the first GPU array."""
    from ..gpu import blocks_dispatch

    return blocks_dispatch


def _cpu() -> Any:
    """The CPU loops, imported at the first call (they import numba)."""
    from ..cpu import blocks

    return blocks


def _out_dtype(out: np.ndarray | None, out_dtype: Any, x: np.ndarray) -> np.dtype:
    if out is not None and out_dtype is None:
        out_dtype = getattr(out, "dtype", None)
    return float_dtype(x.dtype if out_dtype is None else out_dtype)


def _as_dtype(v: np.ndarray, dt: np.dtype) -> np.ndarray:
    """Float64 values in ``dt``, rounded once to nearest even (overflow: inf).
    bfloat16 goes through floatsim's own cast: ml_dtypes before 0.7 converts
    float64 to bfloat16 through float32, rounding twice."""
    if is_bfloat16(dt):
        from ..cast import quantize as _quantize

        return _quantize(np.asarray(v, np.float64), "bfloat16", out_dtype=dt)
    return v.astype(dt, copy=False)


def quantize(
    x: Any,
    bfmt: BlockFormat | str,
    rounding: Rounding | str = "nearest_even",
    *,
    axis: AxisArg = -1,
    seed: int | None = None,
    stream: int = 0,
    sr_bits: int | None = None,
    amax: Any = None,
    tensor_scale: Any = None,
    out: np.ndarray | None = None,
    out_dtype: Any = None,
) -> np.ndarray:
    """Fake-quantize ``x`` in a block format: every value becomes ``element *
    scale [* tensor_scale]`` as :func:`encode` then :func:`decode` give it.

    Args:
        x: float64 / float32 / float16 / bfloat16 array, any shape and strides.
            A GPU array (torch, CuPy, Numba, JAX) is cast on the GPU into an
            array of its library (docs/blocks.md, "On the GPU").
        bfmt: a :class:`BlockFormat` or a name ('mxfp8_e4m3', 'nvfp4', ...).
        rounding: the element cast's mode (every mode of ``fs.quantize``,
            'stochastic' included); scales follow their rule.
        axis: the axis the 1-D blocks run along; for rank-k tiles k axes (the
            default -1 means the last k); for whole-axis formats an axis, a
            tuple, or None (every axis: one scale per tensor).
        seed, stream, sr_bits: stochastic rounding as in ``fs.quantize``: the
            random word of an element is that of its flat index in ``x``, so
            the bits equal those of the element-wise cast of the scaled values.
        amax: use these block amax values (the scales' shape, or broadcastable)
            instead of measuring them: delayed scaling.  Finite and >= 0.
        tensor_scale: the second-level scale of a two-level format (e.g. from
            a delayed amax); default: tensor amax / (scale_bound * element max),
            rounded to the tensor format.
        out: array to write into (x's shape and out_dtype, C-contiguous).
        out_dtype: result dtype (default x's).  Values are exact in float64 and
            rounded once (to nearest even) into it; float32 overflows to inf
            only where a scale rule puts a block beyond 2**128.

    Example:
        >>> import numpy as np, floatsim as fs
        >>> x = np.linspace(-1, 1, 64, dtype=np.float32).reshape(2, 32)
        >>> y = fs.blocks.quantize(x, "mxfp8_e4m3")
        >>> bool(np.abs(y - x).max() < 2**-4)
        True
    """
    if is_device_array(x):  # GPU arrays: CUDA kernels, same results
        return _gpu().quantize(x, bfmt, rounding, axis=axis, seed=seed, stream=stream,
                               sr_bits=sr_bits, amax=amax, tensor_scale=tensor_scale, out=out,
                               out_dtype=out_dtype)
    plan = BlockPlan(x, bfmt, rounding, axis, seed, stream, sr_bits, amax, tensor_scale)
    dt = _out_dtype(out, out_dtype, plan.x)
    shape = plan.spec.x.shape
    result = out_array(out, shape, dt)
    K = _cpu()
    from ..cpu.launch import launch

    lay = plan.layout
    if result.size == 0:
        return result
    xin = plan.x if plan.x.dtype in (np.float32, np.float64) else plan.x.astype(np.float32)
    rows = lay.gather(xin)
    idx, use_idx = plan.indices()
    rmode, slo, shi, stream_, wide = plan.random()
    epv, spv, bpv, fpv = plan.vectors()
    status = np.zeros((lay.R, lay.nb), np.uint8) if plan.bf.scale_overflow == "raise" else _DUMMY_U8
    # float32 results are rounded once from the exact float64 value inside the
    # kernel; narrower dtypes go through float64 so that they are rounded once too.
    kdt = np.dtype(np.float32) if dt == np.float32 else np.dtype(np.float64)
    in_place = lay.direct and kdt == dt and result.flags.c_contiguous
    target = result.reshape(lay.R, lay.n) if in_place else np.empty((lay.R, lay.n), kdt)
    if plan.fast32(kdt):
        consts, _fmax = plan.fast_consts()
        kernel = K.MX_F32_KERNELS[ROUNDING_CODE[plan.spec.rounding]]
        launch(kernel, rows.size, rows.view(np.uint32), target.view(np.uint32), lay.bs, consts,
               epv, bpv, fpv, status, idx, use_idx, rmode, slo, shi, stream_)
    elif (plan.value32(kdt) and plan.spec.rounding is not Rounding.STOCHASTIC
          and plan.bf.scale_overflow != "raise"):
        consts, _fmax = plan.fast_consts()
        cs, scale32 = plan.scale_consts()
        launch(K.value_f32, rows.size, rows.view(np.uint32), target.view(np.uint32), lay.bs, consts,
               cs, scale32, ROUNDING_CODE[plan.spec.rounding], epv, spv, bpv, fpv)
    else:
        # One signature for the general kernel (float64 in and out, int64 codes):
        # each extra dtype combination would cost a compile of tens of seconds.
        vals = target if kdt == np.float64 else np.empty((lay.R, lay.n), np.float64)
        launch(K.block_cast, rows.size, rows.astype(np.float64, copy=False), vals, _DUMMY_I64,
               _DUMMY_I64, _DUMMY_I64, status, 0, lay.bs, idx, use_idx, epv, spv, bpv, fpv,
               plan.amax if plan.amax is not None else _DUMMY_F64, int(plan.amax is not None),
               rmode, slo, shi, stream_, wide)
        if vals is not target:
            with np.errstate(over="ignore"):  # beyond float32: inf, as documented
                target[...] = vals  # float64 -> float32: the one rounding, to nearest even
    plan.check_status(status, rows)
    if not in_place:
        with np.errstate(over="ignore"):
            result[...] = _as_dtype(lay.scatter(target), dt).reshape(shape)
    return result


def encode(
    x: Any,
    bfmt: BlockFormat | str,
    rounding: Rounding | str = "nearest_even",
    *,
    axis: AxisArg = -1,
    seed: int | None = None,
    stream: int = 0,
    sr_bits: int | None = None,
    amax: Any = None,
    tensor_scale: Any = None,
) -> BlockCodes:
    """Encode ``x`` in a block format: a :class:`BlockCodes` (element codes,
    scale codes, the tensor scale of a two-level format, the zero points of
    asymmetric integers), the same type for every format.  Arguments as for
    :func:`quantize`.  NaN in a block whose scale type has NaN makes the scale
    NaN (its element codes are then the element's NaN code, or 0); NaN
    elsewhere into an element format without NaN raises ValueError.

    Example:
        >>> import numpy as np, floatsim as fs
        >>> e, s, t, z = fs.blocks.encode(np.array([[3.0, -1.5] * 8]), "nvfp4")
        >>> e[0, :2].tolist(), s.tolist(), t, z  # T = 3 / (448*6) in FP32; scale 448 = 0x7E
        ([7, 13], [[126]], 0.0011160714784637094, None)
    """
    if is_device_array(x):  # GPU arrays: CUDA kernels, same results
        return BlockCodes(*_gpu().encode(x, bfmt, rounding, axis=axis, seed=seed, stream=stream,
                                         sr_bits=sr_bits, amax=amax, tensor_scale=tensor_scale))
    plan = BlockPlan(x, bfmt, rounding, axis, seed, stream, sr_bits, amax, tensor_scale)
    bf, lay = plan.bf, plan.layout
    el = bf.element
    if (not bf.scale.has_nan and not (isinstance(el, Format) and el.has_nan)
            and np.isnan(plan.x).any()):
        first = int(np.flatnonzero(np.isnan(plan.x).reshape(-1))[0])
        raise ValueError(
            f"x holds NaN (first at flat index {first}) and neither the element format {el} nor "
            f"the scale format {bf.scale} has a NaN code; use quantize(), or remove NaNs first"
        )
    xin = plan.x if plan.x.dtype in (np.float32, np.float64) else plan.x.astype(np.float32)
    rows = lay.gather(xin)
    idx, use_idx = plan.indices()
    rmode, slo, shi, stream_, wide = plan.random()
    epv, spv, bpv, fpv = plan.vectors()
    codes = np.empty((lay.R, lay.n), np.int64)
    scodes = np.empty((lay.R, lay.nb), np.int64)
    zps = np.zeros((lay.R, lay.nb), np.int64)
    status = np.zeros((lay.R, lay.nb), np.uint8)
    if rows.size:
        K = _cpu()
        from ..cpu.launch import launch

        launch(K.block_cast, rows.size, rows.astype(np.float64, copy=False), _DUMMY_F64, codes,
               scodes, zps, status, 1, lay.bs, idx, use_idx, epv, spv, bpv, fpv,
               plan.amax if plan.amax is not None else _DUMMY_F64, int(plan.amax is not None),
               rmode, slo, shi, stream_, wide)
        plan.check_status(status, rows)
    shape = plan.spec.x.shape
    elems = np.ascontiguousarray(lay.scatter(codes.astype(elem_code_dtype(bf)))).reshape(shape)
    scales = lay.scales_out(scodes.astype(code_dtype(bf.scale)))
    return BlockCodes(elems, scales,
                      plan.tscale if bf.tensor_format is not None else None,
                      lay.scales_out(zps) if bf.rule is ScaleRule.MINMAX else None)


def _element_values(codes: np.ndarray, bf: BlockFormat) -> np.ndarray:
    el = bf.element
    if isinstance(el, IntFormat):
        q = codes.astype(np.int64)
        if el.signed:
            q = np.where(q >= 1 << (el.bits - 1), q - (1 << el.bits), q)
        if (q < el.qmin).any() or (q > el.qmax).any():
            bad = q[(q < el.qmin) | (q > el.qmax)].reshape(-1)[0]
            raise ValueError(f"element code for {bad} is out of range for {el} "
                             f"({el.qmin}..{el.qmax})")
        return np.ldexp(q.astype(np.float64), -el.frac_bits)
    return _decode_elements(codes, el, np.float64)


def decode(
    elements: Any,
    scales: Any = None,
    bfmt: BlockFormat | str | None = None,
    *,
    axis: AxisArg = -1,
    tensor_scale: float | None = None,
    zero_points: Any = None,
    dtype: Any = np.float32,
) -> np.ndarray:
    """The values of encoded blocks: ``element * scale [* tensor_scale]``
    (asymmetric integers: ``(q - zero_point) * scale``), exact in float64,
    rounded once into ``dtype``.  A NaN scale makes its whole block NaN.

    Call it as ``decode(codes, bfmt)`` with what :func:`encode` returned (a
    :class:`BlockCodes`), or ``decode(elements, scales, bfmt, tensor_scale=...,
    zero_points=...)`` with the arrays.

    Example:
        >>> import numpy as np, floatsim as fs
        >>> e = np.array([[7, 9]], dtype=np.uint8); s = np.array([[130]], dtype=np.uint8)
        >>> fs.blocks.decode(e, s, fs.blocks.format("mxfp4_e2m1").with_(block=2)).tolist()
        [[48.0, -4.0]]
    """
    if isinstance(elements, BlockCodes):
        if bfmt is not None:
            raise TypeError("decode(codes, bfmt): with a BlockCodes, pass the format second")
        if tensor_scale is not None or zero_points is not None:
            raise TypeError("decode(codes, bfmt): tensor_scale= and zero_points= come from codes")
        elements, scales, bfmt, tensor_scale, zero_points = (
            elements.elements, elements.scales, scales, elements.tensor_scale, elements.zero_points)
    if scales is None or bfmt is None:
        raise TypeError("decode needs (codes, bfmt) or (elements, scales, bfmt)")
    bf = _bformat(bfmt)
    e = np.asarray(elements)
    s = np.asarray(scales)
    for what, a in (("elements", e), ("scales", s)):
        if a.dtype.kind not in "ui":
            raise TypeError(f"{what} has dtype {a.dtype}; decode needs integer codes")
    dt = float_dtype(dtype, "dtype")
    lay = Layout(e.shape if e.ndim else (1,), bf.block, axis)
    if s.shape != lay.scale_shape:
        raise ValueError(
            f"scales has shape {s.shape}; elements of shape {e.shape} in blocks of {bf.block} "
            f"along axis={axis!r} need scales of shape {lay.scale_shape}"
        )
    ev = _element_values(e.reshape(lay.shape), bf)
    sv = lay.expand(_decode_elements(s, bf.scale, np.float64))
    if bf.rule is ScaleRule.MINMAX:
        if zero_points is None:
            raise ValueError("rule='minmax' blocks need zero_points= (encode's zero_points)")
        z = np.asarray(zero_points)
        if z.shape != lay.scale_shape or z.dtype.kind not in "ui":
            raise ValueError(f"zero_points must be integers of shape {lay.scale_shape}")
        ev = ev - lay.expand(z.astype(np.float64))
    elif zero_points is not None:
        raise ValueError("zero_points= applies to rule='minmax' formats only")
    with np.errstate(invalid="ignore"):
        v = ev * sv
    if bf.tensor_format is not None:
        if tensor_scale is None:
            raise ValueError(f"{bf} is a two-level format: pass tensor_scale= (encode's tensor_scale)")
        t = float(tensor_scale)
        if not np.isfinite(t) or t <= 0:
            raise ValueError(f"tensor_scale={tensor_scale!r} must be finite and positive")
        v = v * t
    elif tensor_scale is not None:
        raise ValueError(f"tensor_scale= applies to two-level formats only; {bf} has none")
    with np.errstate(over="ignore"):
        return _as_dtype(v, dt).reshape(e.shape)


def scale_shape(shape: tuple[int, ...], bfmt: BlockFormat | str, *, axis: AxisArg = -1) -> tuple[int, ...]:
    """The shape of the scales :func:`encode` gives for an array of ``shape``:
    each block axis shortened to its number of blocks (a partial last block
    counts), the others kept.  Errors as :func:`quantize` raises them.

    Example:
        >>> import floatsim as fs
        >>> fs.blocks.scale_shape((4, 100), "mxfp8"), fs.blocks.scale_shape((64, 48), "nvfp4", axis=0)
        ((4, 4), (4, 48))
    """
    shape = tuple(int(n) for n in shape)
    return Layout(shape if shape else (1,), _bformat(bfmt).block, axis).scale_shape


def block_amax(x: Any, bfmt: BlockFormat | str, *, axis: AxisArg = -1) -> np.ndarray:
    """The largest magnitude of every block (the scales' shape, float64); NaN
    where a block holds NaN.  Feed it to a delayed-scaling history.

    Example:
        >>> import numpy as np, floatsim as fs
        >>> fs.blocks.block_amax(np.array([[1.0, -4.0, 2.0]]), "mxfp8", axis=-1).tolist()
        [[4.0]]
    """
    bf = _bformat(bfmt)
    arr = float_array(x)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    lay = Layout(arr.shape, bf.block, axis)
    rows = np.abs(lay.gather(arr).astype(np.float64))
    if lay.nb * lay.bs != lay.n:
        rows = np.pad(rows, ((0, 0), (0, lay.nb * lay.bs - lay.n)))
    if rows.size == 0:
        return np.zeros(lay.scale_shape)
    return lay.scales_out(rows.reshape(lay.R, lay.nb, lay.bs).max(axis=-1))
