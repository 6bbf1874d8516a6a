"""Tensor-level scaling from a delayed amax history, as FP8 training recipes do.

Per-tensor, per-channel and per-token scaling are block formats whose block
spans whole axes (:func:`floatsim.blocks.scaled`); "current" scaling measures
the amax of the array being cast.  Delayed scaling instead takes the scale
from the amax seen in the last few steps and records the current amax for
the next step.

Example:
    >>> import numpy as np, floatsim as fs
    >>> ds = fs.blocks.DelayedScaling("e4m3", history_len=4)
    >>> _ = ds.quantize(np.array([1.75, -3.5]))     # first call: current amax, X = 3.5 / 448
    >>> y = ds.quantize(np.array([7.0, 0.5]))       # X from the history's amax 3.5
    >>> y.tolist(), ds.history.amax.tolist()        # 7 > 448 X saturates at 3.5
    ([3.5, 0.5], [7.0])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..formats import Format
from ..rounding import Rounding, ScaleRule
from .api import block_amax, quantize
from .format import BlockFormat, IntFormat, scaled
from .layout import AxisArg

__all__ = ["AmaxHistory", "DelayedScaling"]

_ALGOS = ("max", "most_recent")


class AmaxHistory:
    """A rolling window of amax values of any fixed shape (one per tensor,
    channel or token).

    Non-finite entries (an overflowed or NaN step) are not recorded: that
    position keeps its previous amax (0 before any), so one bad step cannot
    poison the scales of the next ``length`` steps.

    Args:
        length: how many steps the window keeps (>= 1).
        algo: 'max' (the largest amax in the window, Transformer Engine's
            default) or 'most_recent'.

    Example:
        >>> h = AmaxHistory(length=2)
        >>> for a in (3.0, 1.0, 2.0):
        ...     h.update(a)
        >>> float(h.amax), len(h)
        (2.0, 2)
    """

    def __init__(self, length: int = 16, algo: str = "max") -> None:
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"length={length!r} must be an int >= 1")
        if algo not in _ALGOS:
            raise ValueError(f"algo={algo!r} is not valid; allowed: {', '.join(_ALGOS)}")
        self.length = length
        self.algo = algo
        self._rows: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self._rows)

    def update(self, amax: Any) -> None:
        """Record one step's amax (the same shape every step)."""
        a = np.asarray(amax, dtype=np.float64)
        if self._rows and a.shape != self._rows[-1].shape:
            raise ValueError(
                f"amax has shape {a.shape}; this history holds shape {self._rows[-1].shape}"
            )
        prev = self._rows[-1] if self._rows else np.zeros(a.shape)
        a = np.where(np.isfinite(a) & (a >= 0), a, prev)
        self._rows.append(a)
        del self._rows[: -self.length]

    @property
    def amax(self) -> np.ndarray | None:
        """The amax the next cast uses; None before the first update."""
        if not self._rows:
            return None
        if self.algo == "most_recent":
            return self._rows[-1]
        return np.max(np.stack(self._rows), axis=0)


class DelayedScaling:
    """Scale from the amax history, then record the current amax.

    The scale of a step is ``X = amax_history * 2**margin / element.max``
    rounded to ``scale`` (FP32 by default); before the first step the current
    amax is used.  Values above the scaled range saturate (the element cast's
    policy in the block format).

    Args:
        element: element Format (or name) or IntFormat.
        axis: None (per tensor), or the axes each scale spans (-1: per token
            of a (tokens, features) activation, per output channel of a
            (out, in) weight).
        scale: the scale's format.
        history_len, algo: the :class:`AmaxHistory` window.
        margin: extra headroom in powers of two (Transformer Engine's margin).

    Example:
        >>> import numpy as np
        >>> ds = DelayedScaling("e5m2", axis=-1, history_len=2)
        >>> ds.quantize(np.array([[1.75, 3.5], [0.4375, 0.875]])).tolist()  # X = amax / 57344
        [[1.75, 3.5], [0.4375, 0.875]]
        >>> ds.history.amax.tolist()
        [[3.5], [0.875]]
    """

    def __init__(self, element: Format | IntFormat | str, *, axis: AxisArg = None,
                 scale: Format | str = "float32", history_len: int = 16, algo: str = "max",
                 margin: int = 0) -> None:
        if isinstance(margin, bool) or not isinstance(margin, int) or abs(margin) > 64:
            raise ValueError(f"margin={margin!r} must be an int in -64..64")
        self.format: BlockFormat = scaled(element, scale, rule=ScaleRule.AMAX)
        self.axis = axis
        self.margin = margin
        self.history = AmaxHistory(history_len, algo)

    def quantize(self, x: Any, rounding: Rounding | str = "nearest_even", **kw: Any) -> np.ndarray:
        """Fake-quantize ``x`` with the delayed scale; keyword arguments go to
        :func:`floatsim.blocks.quantize` (seed=, out=, ...)."""
        current = block_amax(x, self.format, axis=self.axis)
        used = self.history.amax
        if used is None:
            used = np.where(np.isfinite(current), current, 0.0)
        y = quantize(x, self.format, rounding, axis=self.axis, amax=np.ldexp(used, self.margin),
                     **kw)
        self.history.update(current)
        return y
