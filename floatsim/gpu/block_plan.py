""":class:`DevicePlan`: a block call on a GPU array, validated as on the CPU.

The CPU's :class:`floatsim.blocks.plan.BlockPlan` checks every argument on a
zero-stride stand-in of x's shape and dtype (nothing is read from the
device); this adds what the GPU kernels need: the kernels' geometry of the
layout, the tensor scale computed on the device for two-level formats, and
host amax values in the scales' shape.  Both the general GPU path
(:mod:`.blocks_dispatch`) and the per-call plans (:mod:`.plans`) build one.

Example (no GPU needed):
    >>> import floatsim as fs
    >>> unsupported(fs.blocks.format("nvfp4"), None) is None
    True
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from ..arrays import is_device_array
from ..blocks.format import BlockFormat
from ..blocks.format import format as _bformat
from ..blocks.layout import AxisArg
from ..blocks.plan import BlockPlan
from ..kernels.abi import ROUNDING_CODE, make_params
from ..rounding import Rounding
from .interop import DeviceArray

__all__ = ["MAX_LEVELS", "DevicePlan", "not_implemented", "params_tuple", "unsupported"]

#: Block axes the kernels' geometry holds.
MAX_LEVELS = 3


def params_tuple(v: np.ndarray) -> tuple:
    """A parameter vector as the kernels' by-value tuple."""
    return tuple(v.tolist())


def unsupported(bf: BlockFormat, amax: Any) -> str | None:
    """Why a call cannot run on the GPU (None: it can, as far as the format and
    arguments tell; tiles are checked once the layout is known)."""
    if bf.scale_overflow == "raise":
        return ("scale_overflow='raise' (reporting the overflow would need a device-to-host "
                "sync; use 'saturate' or 'nan', or a numpy array)")
    if amax is not None and is_device_array(amax):
        return "amax= as a GPU array (pass a numpy array: it is checked on the host and copied)"
    if bf.tensor_format is not None:
        den = Fraction(bf.scale_bound) * Fraction(bf.element_max)
        if Fraction(float(den)) != den:
            return (f"a tensor scale from amax / (scale_bound * element max) = amax / {den}, "
                    "which is not a float64 number")
    return None


def not_implemented(why: str) -> NotImplementedError:
    """The error for a block call the GPU kernels do not take."""
    return NotImplementedError(
        f"floatsim.blocks on GPU arrays does not support {why}.  Supported: every block format "
        f"and rounding mode, 1-D blocks along any axis, tiles over up to {MAX_LEVELS} axes, "
        "whole-axis scaling, tensor_scale= and numpy amax=.")


class DevicePlan(BlockPlan):
    """``BlockPlan`` for a GPU array: validated on a stand-in that holds no data.

    Two-level formats without ``tensor_scale=`` get their tensor scale on the
    device (``device_tscale``); ``amax=`` is kept in the scales' shape."""

    def __init__(self, src: DeviceArray, bfmt: BlockFormat | str, rounding: Rounding | str,
                 axis: AxisArg, seed: int | None, stream: int, sr_bits: int | None, amax: Any,
                 tensor_scale: Any) -> None:
        self.device_tscale = False
        self.amax_host: np.ndarray | None = None
        # a zero-stride view: x's shape and dtype for the CPU's checks, no memory
        stand_in = np.broadcast_to(np.zeros((), dtype=src.dtype), tuple(src.arr.shape))
        bf = _bformat(bfmt)
        why = unsupported(bf, amax)
        if why is not None:
            raise not_implemented(why)
        super().__init__(stand_in, bf, rounding, axis, seed, stream, sr_bits, amax, tensor_scale)
        from .blocks import geometry

        lay = self.layout
        try:
            self.geometry = geometry(lay.shape, lay.scale_shape, lay.axes, lay.bsz)
        except ValueError:
            raise not_implemented(f"tiles over {len(lay.axes)} axes that do not merge into "
                                   f"{MAX_LEVELS}") from None

    def warp_kernel(self, in_kind: int, vec: bool) -> Any:
        """gpu.blocks_warp's kernel for this call, input kind and access
        form (``vec``: vector loads and stores, for aligned arrays)."""
        from . import blocks_warp as BW

        return BW.warp_kernel(ROUNDING_CODE[self.spec.rounding], in_kind, self.spec.gpu_form(self.bf.element), vec)

    def tensor_scale_args(self) -> tuple[float, tuple, float]:
        """What tensor_scale_kernel takes besides its arrays and a given scale:
        the denominator ``scale_bound * element max``, the tensor format's
        params (nearest even) and its smallest subnormal."""
        bf = self.bf
        tf = bf.tensor_format
        den = float(Fraction(bf.scale_bound) * Fraction(bf.element_max))
        return den, params_tuple(make_params(tf, Rounding.NEAREST_EVEN)), float(tf.min_subnormal)

    def value32(self, out_dt: np.dtype) -> bool:
        """The CPU's condition, and scale values times tensor scales that stay
        in kernels.blocksteps.reciprocal_ok's range: outside SR, the value kernel has
        no element route for other divisors (float32 tensor scales are far
        inside it)."""
        if not super().value32(out_dt):
            return False
        bf = self.bf
        lo, hi = float(bf.scale.min_subnormal), float(bf.scale.max)
        if bf.tensor_format is not None:
            lo, hi = lo * float(bf.tensor_format.min_subnormal), hi * float(bf.tensor_format.max)
        return lo >= 2.0**-800 and hi <= 2.0**800

    def value_kernel(self, in_kind: int, vec: bool) -> Any:
        """gpu.blocks_warp's value kernel for this call, input kind and access form."""
        from . import blocks_warp as BW

        return BW.value_kernel(ROUNDING_CODE[self.spec.rounding], in_kind, self.spec.gpu_form(self.bf.element), vec)

    def resolve_tensor_scale(self, value: Any) -> float:
        if value is None and self.bf.tensor_format is not None:
            self.device_tscale = True
            return 1.0  # a stand-in: the kernels read the device's value
        return super().resolve_tensor_scale(value)

    def resolve_amax(self, amax: Any) -> np.ndarray | None:
        checked = super().resolve_amax(amax)  # the CPU's checks and errors
        if checked is not None:
            self.amax_host = np.ascontiguousarray(
                np.broadcast_to(np.asarray(amax).astype(np.float64), self.layout.scale_shape))
        return checked
