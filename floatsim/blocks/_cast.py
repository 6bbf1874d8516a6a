"""Block quantize / encode / decode of arrays: validation here, the work in
:mod:`floatsim.kernels.blocks_cpu`.

Example:
    >>> import numpy as np, floatsim as fs
    >>> x = np.array([[0.5, -3.0, 100.0, 7.0]], dtype=np.float32)
    >>> fs.blocks.quantize(x, "mxfp4_e2m1").tolist()   # X = 2**(6 - 2) = 16
    [[0.0, -0.0, 96.0, 8.0]]
    >>> elems, scales = fs.blocks.encode(x, "mxfp4_e2m1")
    >>> elems.tolist(), scales.tolist()                # 16 is E8M0 code 127 + 4
    ([[0, 8, 7, 1]], [[131]])
    >>> fs.blocks.decode(elems, scales, "mxfp4_e2m1").tolist()
    [[0.0, -0.0, 96.0, 8.0]]
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from ..cast import _BF16, _FLOATS, _Call, _float_array, _float_dtype, _target, code_dtype
from ..cast import decode as _decode_elements
from ..cuda_dispatch import is_device_array
from ..formats import Format, Overflow
from ..kernels import blocks_cpu as K
from ..kernels.cpu import launch
from ..kernels.fast32 import FLOAT, fits_div32, fits_fast32, float_route_min_emin, make_consts
from ..kernels.params import make_params
from ..kernels.scalar import decode_code, encode_bits
from ..rounding import Rounding
from ._format import BlockFormat, IntFormat, ScaleRule
from ._format import format as _bformat
from ._layout import AxisArg, Layout

__all__ = ["block_amax", "decode", "encode", "quantize"]

_DUMMY_I64 = np.zeros((1, 1), dtype=np.int64)
_DUMMY_F64 = np.zeros((1, 1), dtype=np.float64)
_DUMMY_U8 = np.zeros((1, 1), dtype=np.uint8)
_SOV = {"saturate": K.SOV_SATURATE, "nan": K.SOV_NAN, "raise": K.SOV_RAISE}


def _round_to(q: Fraction, fmt: Format, rounding: Rounding = Rounding.NEAREST_EVEN) -> float:
    """The exact value ``q > 0`` rounded to ``fmt`` (via a round-to-odd float64)."""
    f = float(q)
    if Fraction(f) != q:  # round to odd: step towards q when f's last bit is even
        b = int(np.float64(f).view(np.int64))
        if b & 1 == 0:
            b += 1 if Fraction(f) < q else -1
        f = float(np.int64(b).view(np.float64))
    p = make_params(fmt, rounding)
    return float(decode_code(encode_bits(np.float64(f).view(np.int64), p, 0, 0), p))


def _uint_dtype(bits: int) -> np.dtype:
    for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
        if bits <= np.dtype(dt).itemsize * 8:
            return np.dtype(dt)
    raise ValueError(f"{bits}-bit codes are not supported")  # pragma: no cover


def _elem_code_dtype(bf: BlockFormat) -> np.dtype:
    el = bf.element
    return _uint_dtype(el.bits) if isinstance(el, IntFormat) else code_dtype(el)


class _Plan:
    """Validated arguments of one block call and the kernels' parameter vectors."""

    def __init__(self, x: Any, bfmt: BlockFormat | str, rounding: Rounding | str, axis: AxisArg,
                 seed: int | None, stream: int, sr_bits: int | None, amax: Any,
                 tensor_scale: Any) -> None:
        self.bf = bf = _bformat(bfmt)
        el = bf.element
        self.cast_fmt = el.cast_format if isinstance(el, IntFormat) else el
        # Validates x, rounding, seed, stream and sr_bits exactly as fs.quantize does.
        self.call = _Call(x, self.cast_fmt, rounding, bf.element_overflow, None, False, seed,
                          stream, None, sr_bits)
        self.x = self.call.x
        if self.x.ndim == 0:
            self.x = self.x.reshape(1)
        self.layout = Layout(self.x.shape, bf.block, axis)
        self.tscale = self._tensor_scale(tensor_scale)
        self.amax = self._amax(amax)

    # ---- scalar arguments ----------------------------------------------------------------
    def _tensor_scale(self, value: Any) -> float:
        bf = self.bf
        tf = bf.tensor_format
        if tf is None:
            if value is not None:
                raise ValueError(
                    f"tensor_scale= applies to two-level formats only; {bf} has no tensor_format"
                )
            return 1.0
        den = Fraction(bf.scale_bound) * Fraction(bf.element_max)
        if value is not None:
            v = np.asarray(value, dtype=np.float64)
            if v.shape != () or not np.isfinite(v) or v <= 0:
                raise ValueError(
                    f"tensor_scale={value!r} must be one finite positive number (NaN and "
                    f"inf are not scales); it is rounded to {tf}"
                )
            return _round_to(Fraction(float(v)), tf)
        ax = np.abs(self.x)
        ax = ax[np.isfinite(ax)]
        amax_t = float(ax.max()) if ax.size else 0.0
        if amax_t == 0.0:
            return 1.0  # an all-zero tensor: any scale works; 1 keeps decode trivial
        s = _round_to(Fraction(amax_t) / den, tf)
        return s if s > 0 else float(tf.min_subnormal)

    def _amax(self, amax: Any) -> np.ndarray | None:
        if amax is None:
            return None
        if self.bf.rule is ScaleRule.MINMAX:
            raise ValueError("amax= does not apply to rule='minmax' (it needs min and max)")
        a = np.asarray(amax)
        if a.dtype.kind not in "fiu":
            raise TypeError(f"amax has dtype {a.dtype}; it must be a real number array")
        a = a.astype(np.float64)
        shape = self.layout.scale_shape
        try:
            a = np.broadcast_to(a, shape)
        except ValueError:
            raise ValueError(
                f"amax has shape {a.shape}; it needs the scales' shape {shape} (or to broadcast to it)"
            ) from None
        if not np.isfinite(a).all() or (a < 0).any():
            bad = float(a[~(np.isfinite(a) & (a >= 0))].reshape(-1)[0])
            raise ValueError(
                f"amax= holds {bad!r}; user-supplied amax values must be finite and >= 0 "
                "(NaN in a scale is not allowed)"
            )
        return self.layout.scales_in(a)

    # ---- kernel parameters -----------------------------------------------------------------
    def scale_rounding(self) -> tuple[Rounding, Overflow]:
        """How a block's scale is rounded into the scale format: up for RCEIL,
        else to nearest even; NaN or saturation on overflow."""
        bf = self.bf
        s_round = Rounding.UP if bf.rule is ScaleRule.RCEIL else Rounding.NEAREST_EVEN
        return s_round, Overflow.NAN if bf.scale_overflow == "nan" else Overflow.SATURATE

    def vectors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        bf, el, sc = self.bf, self.bf.element, self.bf.scale
        rule = bf.rule
        sov = bf.scale_overflow
        s_round, s_overflow = self.scale_rounding()
        spv = make_params(sc, s_round, overflow=s_overflow)
        bp = np.zeros(K.N_BP, dtype=np.int64)
        bp[K.B_RULE] = rule.code
        if isinstance(el, IntFormat):
            bp[K.B_KIND] = K.K_INT if el.signed else K.K_ASYM
            bp[K.B_QNEG] = -el.qmin
            bp[K.B_QPOS] = el.qmax
            bp[K.B_IM] = self.cast_fmt.mbits
            bp[K.B_IBITS] = el.bits
        else:
            bp[K.B_KIND] = K.K_FLOAT
            # the lowest block scale exponent the fast path takes: the shifted
            # emin stays in float32's normal range, and where the element
            # takes the GPU's float route, also within that route's bounds
            low = float_route_min_emin(el) if self.call.gpu_form(el) == FLOAT else -126
            bp[K.B_FAST_EMIN] = low - el.emin
        bp[K.B_EMAX_E] = el.emax
        bp[K.B_MBITS_E] = el.mbits
        bp[K.B_KMIN] = int(np.log2(sc.min_subnormal))
        bp[K.B_KMAX] = sc.emax
        bp[K.B_SOV] = _SOV[sov]
        bp[K.B_NANMAX] = not sc.has_nan
        bp[K.B_SCALE_NAN_CODE] = sc._nan_code
        fp = np.zeros(K.N_FP, dtype=np.float64)
        fp[K.F_MAX_E] = el.max
        fp[K.F_POW2MAX_E] = 2.0**el.emax
        fp[K.F_TSCALE] = self.tscale
        fp[K.F_SCALE_MAX] = sc.max
        if isinstance(el, IntFormat) and not el.signed:
            fp[K.F_QRANGE] = float(el.qmax)
        return self.call.params, spv, bp, fp

    def random(self) -> tuple[int, int, int, int, int]:
        c = self.call
        return c.rmode, c.seed_lo, c.seed_hi, c.stream, int(c.wide)

    def indices(self) -> tuple[np.ndarray, int]:
        if self.call.rmode == 0 or self.layout.direct:
            return _DUMMY_I64, 0
        return self.layout.indices(), 1

    def fast32(self, out_dt: np.dtype) -> bool:
        bf, el = self.bf, self.bf.element
        pow2_rule = bf.rule.is_pow2 or (bf.rule is ScaleRule.RCEIL and bf.scale.mbits == 0)
        return (
            out_dt == np.float32
            and self.x.dtype != np.float64
            and isinstance(el, Format)
            and fits_fast32(el)
            and pow2_rule
            and bf.tensor_format is None
            and self.amax is None
            and not self.call.wide
        )

    def value32(self, out_dt: np.dtype) -> bool:
        """Whether the float32 value-scale route applies (the CPU's
        blocks_cpu.value_f32 outside SR; the GPU's blocks_warp.value_kernel on
        its layout): float32 out, a float element that fits_div32, and a
        scale that is a value (AMAX, or RCEIL into a scale type with a
        significand)."""
        bf, el = self.bf, self.bf.element
        value_rule = bf.rule is ScaleRule.AMAX or (bf.rule is ScaleRule.RCEIL and bf.scale.mbits > 0)
        return (out_dt == np.float32 and self.x.dtype != np.float64 and isinstance(el, Format)
                and fits_div32(el) and value_rule and self.amax is None and not self.call.wide)

    def fast_consts(self) -> tuple[tuple, int]:
        """What the float32 fast-path kernels take besides the params: the
        element's fast-path constants and the 52-bit fraction of its largest value."""
        bf, call = self.bf, self.call
        c = make_consts(bf.element, call.rounding, bf.element_overflow, None, call.sr_bits)
        return c, int(K.exp_frac(K.f64_bits(bf.element.max))[1])

    def scale_consts(self) -> tuple[tuple, int]:
        """The scale format's fast-path constants (its rounding and overflow
        policy, as ``vectors()`` gives them to the general routine) and
        whether it fits_div32 (the value kernel's float32 scale)."""
        s_round, s_overflow = self.scale_rounding()
        return make_consts(self.bf.scale, s_round, s_overflow, None), int(fits_div32(self.bf.scale))

    def check_status(self, status: np.ndarray, rows: np.ndarray) -> None:
        if not status.any():
            return
        r, b = (int(v) for v in np.argwhere(status)[0])
        lay = self.layout
        blk = np.abs(rows[r, b * lay.bs:(b + 1) * lay.bs].astype(np.float64))
        where = np.unravel_index(r * lay.nb + b, (lay.R, lay.nb)) if lay.direct else (r,)
        raise ValueError(
            f"a block (rows position {tuple(int(i) for i in where)}) has amax "
            f"{float(np.nanmax(blk))!r}, whose scale exceeds the scale format {self.bf.scale} "
            f"(max {self.bf.scale.max}) and scale_overflow='raise'; use a wider scale "
            "format, a tensor scale, or scale_overflow='saturate' / 'nan'"
        )


def _out_dtype(out: np.ndarray | None, out_dtype: Any, x: np.ndarray) -> np.dtype:
    if out is not None and out_dtype is None:
        out_dtype = getattr(out, "dtype", None)
    return _float_dtype(x.dtype if out_dtype is None else out_dtype)


def _as_dtype(v: np.ndarray, dt: np.dtype) -> np.ndarray:
    """Float64 values in ``dt``, rounded once to nearest even (overflow: inf).
    bfloat16 goes through floatsim's own cast: ml_dtypes before 0.7 converts
    float64 to bfloat16 through float32, rounding twice."""
    if _BF16 is not None and dt == _BF16:
        from ..cast import quantize as _quantize

        return _quantize(np.asarray(v, np.float64), "bfloat16", out_dtype=_BF16)
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
    if is_device_array(x):  # GPU arrays: CUDA kernels, same results (blocks/_cuda.py)
        from . import _cuda, _hot

        y = _hot.quantize(x, bfmt, rounding, axis, seed, stream, sr_bits, amax, tensor_scale, out,
                          out_dtype)
        if y is not None:
            return y
        return _cuda.quantize(x, bfmt, rounding, axis=axis, seed=seed, stream=stream,
                              sr_bits=sr_bits, amax=amax, tensor_scale=tensor_scale, out=out,
                              out_dtype=out_dtype)
    plan = _Plan(x, bfmt, rounding, axis, seed, stream, sr_bits, amax, tensor_scale)
    dt = _out_dtype(out, out_dtype, plan.x)
    shape = plan.call.x.shape
    result = _target(out, shape, dt)
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
        kernel = K.MX_F32_KERNELS[plan.call.rounding.value]
        launch(kernel, rows.size, rows.view(np.uint32), target.view(np.uint32), lay.bs, consts,
               epv, bpv, fpv, status, idx, use_idx, rmode, slo, shi, stream_)
    elif (plan.value32(kdt) and plan.call.rounding is not Rounding.STOCHASTIC
          and plan.bf.scale_overflow != "raise"):
        consts, _fmax = plan.fast_consts()
        cs, scale32 = plan.scale_consts()
        launch(K.value_f32, rows.size, rows.view(np.uint32), target.view(np.uint32), lay.bs, consts,
               cs, scale32, plan.call.rounding.value, epv, spv, bpv, fpv)
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
) -> tuple[np.ndarray, ...]:
    """Encode ``x`` in a block format: ``(elements, scales)`` as integer codes.

    Two-level formats return ``(elements, scales, tensor_scale)`` (a float,
    a value of the tensor format); asymmetric integers (rule 'minmax') return
    ``(elements, scales, zero_points)`` (int64).  Element codes have x's shape
    (two's complement for signed integer elements); scales have x's shape with
    each block axis shortened to its number of blocks.  Arguments as for
    :func:`quantize`.  NaN in a block whose scale type has NaN makes the scale
    NaN (its element codes are then the element's NaN code, or 0); NaN
    elsewhere into an element format without NaN raises ValueError.

    Example:
        >>> import numpy as np, floatsim as fs
        >>> e, s, t = fs.blocks.encode(np.array([[3.0, -1.5] * 8]), "nvfp4")
        >>> e[0, :2].tolist(), s.tolist(), t    # T = 3 / (448*6) in FP32; scale 448 = 0x7E
        ([7, 13], [[126]], 0.0011160714784637094)
    """
    if is_device_array(x):  # GPU arrays: CUDA kernels, same results (blocks/_cuda.py)
        from . import _cuda

        return _cuda.encode(x, bfmt, rounding, axis=axis, seed=seed, stream=stream,
                            sr_bits=sr_bits, amax=amax, tensor_scale=tensor_scale)
    plan = _Plan(x, bfmt, rounding, axis, seed, stream, sr_bits, amax, tensor_scale)
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
        launch(K.block_cast, rows.size, rows.astype(np.float64, copy=False), _DUMMY_F64, codes,
               scodes, zps, status, 1, lay.bs, idx, use_idx, epv, spv, bpv, fpv,
               plan.amax if plan.amax is not None else _DUMMY_F64, int(plan.amax is not None),
               rmode, slo, shi, stream_, wide)
        plan.check_status(status, rows)
    shape = plan.call.x.shape
    elems = np.ascontiguousarray(lay.scatter(codes.astype(_elem_code_dtype(bf)))).reshape(shape)
    scales = lay.scales_out(scodes.astype(code_dtype(bf.scale)))
    if bf.tensor_format is not None:
        return elems, scales, plan.tscale
    if bf.rule is ScaleRule.MINMAX:
        return elems, scales, lay.scales_out(zps)
    return elems, scales


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
    scales: Any,
    bfmt: BlockFormat | str,
    *,
    axis: AxisArg = -1,
    tensor_scale: float | None = None,
    zero_points: Any = None,
    dtype: Any = np.float32,
) -> np.ndarray:
    """The values of encoded blocks: ``element * scale [* tensor_scale]``
    (asymmetric integers: ``(q - zero_point) * scale``), exact in float64,
    rounded once into ``dtype``.  A NaN scale makes its whole block NaN.

    Example:
        >>> import numpy as np, floatsim as fs
        >>> e = np.array([[7, 9]], dtype=np.uint8); s = np.array([[130]], dtype=np.uint8)
        >>> fs.blocks.decode(e, s, fs.blocks.format("mxfp4_e2m1").with_(block=2)).tolist()
        [[48.0, -4.0]]
    """
    bf = _bformat(bfmt)
    e = np.asarray(elements)
    s = np.asarray(scales)
    for what, a in (("elements", e), ("scales", s)):
        if a.dtype.kind not in "ui":
            raise TypeError(f"{what} has dtype {a.dtype}; decode needs integer codes")
    dt = np.dtype(dtype)
    if dt not in _FLOATS:
        raise TypeError(f"dtype={dt} is not supported; allowed: float64, float32, float16, bfloat16")
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
            raise ValueError("rule='minmax' blocks need zero_points= (encode's third result)")
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
            raise ValueError(f"{bf} is a two-level format: pass tensor_scale= (encode's third result)")
        t = float(tensor_scale)
        if not np.isfinite(t) or t <= 0:
            raise ValueError(f"tensor_scale={tensor_scale!r} must be finite and positive")
        v = v * t
    elif tensor_scale is not None:
        raise ValueError(f"tensor_scale= applies to two-level formats only; {bf} has none")
    with np.errstate(over="ignore"):
        return _as_dtype(v, dt).reshape(e.shape)


def block_amax(x: Any, bfmt: BlockFormat | str, *, axis: AxisArg = -1) -> np.ndarray:
    """The largest magnitude of every block (the scales' shape, float64); NaN
    where a block holds NaN.  Feed it to a delayed-scaling history.

    Example:
        >>> import numpy as np, floatsim as fs
        >>> fs.blocks.block_amax(np.array([[1.0, -4.0, 2.0]]), "mxfp8", axis=-1).tolist()
        [[4.0]]
    """
    bf = _bformat(bfmt)
    arr = _float_array(x)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    lay = Layout(arr.shape, bf.block, axis)
    rows = np.abs(lay.gather(arr).astype(np.float64))
    if lay.nb * lay.bs != lay.n:
        rows = np.pad(rows, ((0, 0), (0, lay.nb * lay.bs - lay.n)))
    if rows.size == 0:
        return np.zeros(lay.scale_shape)
    return lay.scales_out(rows.reshape(lay.R, lay.nb, lay.bs).max(axis=-1))
