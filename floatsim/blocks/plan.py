"""One validated block call: :class:`BlockPlan`, shared by the CPU and GPU backends.

The front door (:mod:`floatsim.blocks.api`) builds a plan from its arguments;
the CPU loops (:mod:`floatsim.cpu.blocks`) and the GPU kernels
(:mod:`floatsim.gpu.blocks`, through :mod:`floatsim.gpu.block_plan`) read the
same parameter vectors from it, so both backends run one set of numbers.
Validation of the element cast (input dtype, rounding, seed, stream,
sr_bits) is :class:`floatsim.spec.CastSpec`'s; what is particular to blocks
(layout, tensor scale, delayed amax) is here.  It imports no backend.

Part of floatsim's internal API.

Example:
    >>> import numpy as np
    >>> from floatsim.blocks.plan import BlockPlan
    >>> p = BlockPlan(np.zeros((2, 64), np.float32), "mxfp8_e4m3", "rne", -1, None, 0, None, None, None)
    >>> p.layout.scale_shape, p.fast32(np.dtype(np.float32))
    ((2, 2), True)
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from ..dtypes import code_dtype, uint_dtype
from ..formats import Format, Overflow
from ..kernels import abi
from ..kernels.abi import make_params
from ..kernels.forms import FLOAT, fits_div32, fits_fast32, float_route_min_emin
from ..rounding import Rounding, ScaleRule
from ..spec import CastSpec
from .format import BlockFormat, IntFormat
from .format import format as _bformat
from .layout import AxisArg, Layout

__all__ = ["NO_INDICES", "BlockPlan", "elem_code_dtype", "round_to"]

#: ``BlockPlan.indices()`` where each element's random-word index is its position.
NO_INDICES = np.zeros((1, 1), dtype=np.int64)
NO_INDICES.flags.writeable = False


def _frac52(v: float) -> int:
    """F with ``v = (1 + F / 2**52) * 2**E`` for a positive finite float64 ``v``
    (subnormals normalised): ``kernels.blocksteps.exp_frac``'s F, without numba."""
    m, _e = math.frexp(v)  # v = m * 2**e, 0.5 <= m < 1; m * 2**53 is an integer
    return int(m * 2**53) - 2**52


def round_to(q: Fraction, fmt: Format, rounding: Rounding = Rounding.NEAREST_EVEN) -> float:
    """The exact value ``q > 0`` rounded to ``fmt`` (via a round-to-odd float64,
    which rounds into any format of at most 51 significand bits as ``q`` would)."""
    from ..kernels.scalar import decode_code, encode_bits  # numba: at the first call

    f = float(q)
    if Fraction(f) != q:  # round to odd: step towards q when f's last bit is even
        b = int(np.float64(f).view(np.int64))
        if b & 1 == 0:
            b += 1 if Fraction(f) < q else -1
        f = float(np.int64(b).view(np.float64))
    p = make_params(fmt, rounding)
    return float(decode_code(encode_bits(np.float64(f).view(np.int64), p, 0, 0), p))


def elem_code_dtype(bf: BlockFormat) -> np.dtype:
    """The dtype of a block format's element codes."""
    el = bf.element
    return uint_dtype(el.bits) if isinstance(el, IntFormat) else code_dtype(el)


class BlockPlan:
    """Validated arguments of one block call and the kernels' parameter vectors
    (the CPU's and the GPU's: :class:`floatsim.gpu.block_plan.DevicePlan`
    extends it for device arrays)."""

    def __init__(self, x: Any, bfmt: BlockFormat | str, rounding: Rounding | str, axis: AxisArg,
                 seed: int | None, stream: int, sr_bits: int | None, amax: Any,
                 tensor_scale: Any) -> None:
        self.bf = bf = _bformat(bfmt)
        el = bf.element
        self.cast_fmt = el.cast_format if isinstance(el, IntFormat) else el
        # Validates x, rounding, seed, stream and sr_bits exactly as fs.quantize does.
        self.spec = CastSpec(x, self.cast_fmt, rounding, overflow=bf.element_overflow, seed=seed,
                             stream=stream, sr_bits=sr_bits)
        self.x = self.spec.x
        if self.x.ndim == 0:
            self.x = self.x.reshape(1)
        self.layout = Layout(self.x.shape, bf.block, axis)
        self.tscale = self.resolve_tensor_scale(tensor_scale)
        self.amax = self.resolve_amax(amax)

    # ---- scalar arguments ----------------------------------------------------------------
    def resolve_tensor_scale(self, value: Any) -> float:
        """The tensor (second-level) scale: ``value`` rounded to the tensor
        format, or computed from the tensor amax; 1.0 for one-level formats."""
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
            return round_to(Fraction(float(v)), tf)
        ax = np.abs(self.x)
        ax = ax[np.isfinite(ax)]
        amax_t = float(ax.max()) if ax.size else 0.0
        if amax_t == 0.0:
            return 1.0  # an all-zero tensor: any scale works; 1 keeps decode trivial
        s = round_to(Fraction(amax_t) / den, tf)
        return s if s > 0 else float(tf.min_subnormal)

    def resolve_amax(self, amax: Any) -> np.ndarray | None:
        """User-supplied block amax values (delayed scaling), checked and laid
        out as the kernels read them; None to measure them."""
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
        """The kernels' parameter vectors: element params, scale params, bp, fp."""
        bf, el, sc = self.bf, self.bf.element, self.bf.scale
        rule = bf.rule
        sov = bf.scale_overflow
        s_round, s_overflow = self.scale_rounding()
        spv = make_params(sc, s_round, overflow=s_overflow)
        bp = np.zeros(abi.N_BP, dtype=np.int64)
        bp[abi.B_RULE] = abi.RULE_CODE[rule]
        if isinstance(el, IntFormat):
            bp[abi.B_KIND] = abi.K_INT if el.signed else abi.K_ASYM
            bp[abi.B_QNEG] = -el.qmin
            bp[abi.B_QPOS] = el.qmax
            bp[abi.B_IM] = self.cast_fmt.mbits
            bp[abi.B_IBITS] = el.bits
        else:
            bp[abi.B_KIND] = abi.K_FLOAT
            # the lowest block scale exponent the fast path takes: the shifted
            # emin stays in float32's normal range, and where the element
            # takes the GPU's float route, also within that route's bounds
            low = float_route_min_emin(el) if self.spec.gpu_form(el) == FLOAT else -126
            bp[abi.B_FAST_EMIN] = low - el.emin
        bp[abi.B_EMAX_E] = el.emax
        bp[abi.B_MBITS_E] = el.mbits
        bp[abi.B_KMIN] = int(np.log2(sc.min_subnormal))
        bp[abi.B_KMAX] = sc.emax
        bp[abi.B_SOV] = abi.SCALE_OVERFLOW_CODE[sov]
        bp[abi.B_NANMAX] = not sc.has_nan
        bp[abi.B_SCALE_NAN_CODE] = sc.nan_code
        fp = np.zeros(abi.N_FP, dtype=np.float64)
        fp[abi.F_MAX_E] = el.max
        fp[abi.F_POW2MAX_E] = 2.0**el.emax
        fp[abi.F_TSCALE] = self.tscale
        fp[abi.F_SCALE_MAX] = sc.max
        if isinstance(el, IntFormat) and not el.signed:
            fp[abi.F_QRANGE] = float(el.qmax)
        return self.spec.params, spv, bp, fp

    def random(self) -> tuple[int, int, int, int, int]:
        """(rmode, seed_lo, seed_hi, stream, wide) of the element cast."""
        c = self.spec
        return c.rmode, c.seed_lo, c.seed_hi, c.stream, int(c.wide)

    def indices(self) -> tuple[np.ndarray, int]:
        """(each element's flat index in x, 1) where the rows are gathered and
        random words are drawn; else (NO_INDICES, 0)."""
        if self.spec.rmode == 0 or self.layout.direct:
            return NO_INDICES, 0
        return self.layout.indices(), 1

    def fast32(self, out_dt: np.dtype) -> bool:
        """Whether the float32 fast path for power-of-two scales applies."""
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
            and not self.spec.wide
        )

    def value32(self, out_dt: np.dtype) -> bool:
        """Whether the float32 value-scale route applies (the CPU's
        cpu.blocks.value_f32 outside SR; the GPU's gpu.blocks_warp.value_kernel on
        its layout): float32 out, a float element that fits_div32, and a
        scale that is a value (AMAX, or RCEIL into a scale type with a
        significand)."""
        bf, el = self.bf, self.bf.element
        value_rule = bf.rule is ScaleRule.AMAX or (bf.rule is ScaleRule.RCEIL and bf.scale.mbits > 0)
        return (out_dt == np.float32 and self.x.dtype != np.float64 and isinstance(el, Format)
                and fits_div32(el) and value_rule and self.amax is None and not self.spec.wide)

    def fast_consts(self) -> tuple[tuple, int]:
        """What the float32 fast-path kernels take besides the params: the
        element's fast-path constants and the 52-bit fraction of its largest value."""
        bf, spec = self.bf, self.spec
        from ..kernels.fast32 import make_consts  # numba: at the first call

        c = make_consts(bf.element, spec.rounding, bf.element_overflow, None, spec.sr_bits)
        return c, _frac52(bf.element.max)

    def scale_consts(self) -> tuple[tuple, int]:
        """The scale format's fast-path constants (its rounding and overflow
        policy, as ``vectors()`` gives them to the general routine) and
        whether it fits_div32 (the value kernel's float32 scale)."""
        s_round, s_overflow = self.scale_rounding()
        from ..kernels.fast32 import make_consts

        return make_consts(self.bf.scale, s_round, s_overflow, None), int(fits_div32(self.bf.scale))

    def check_status(self, status: np.ndarray, rows: np.ndarray) -> None:
        """Raise where a block's scale overflowed and scale_overflow='raise'."""
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
