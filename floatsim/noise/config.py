"""A pseudo-quantization setting as plain data: :class:`PQTConfig`.

What the front door (:func:`floatsim.noise.pseudo_quantize`), the training
wrappers (``floatsim_torch.pqt``, ``floatsim_jax.pqt``) and the recipes
(``floatsim.recipes``: ``pqt_e3m2``...) share.  It validates its fields and
imports no kernel, so :mod:`floatsim.recipes` can hold one.

Example:
    >>> from floatsim.noise import PQTConfig
    >>> c = PQTConfig("e3m2", "r")
    >>> c.format.name, c.noise.name, c.storage.name, c.param_dtype
    ('float6_e3m2fn', 'r9', 'bfloat16', 'bfloat16')
    >>> print(c.describe())
    target float6_e3m2fn, noise r (9-bit fixed point, sigma 0.2887), variance 0.08325 step^2, then one nearest_even cast to bfloat16; per-tensor power-of-two scale; clipped to the target's range; parameters in bfloat16
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from ..formats import Format
from ..registry import format as _format
from ..rounding import Rounding
from .dist import Noise, parse

__all__ = ["PARAM_DTYPES", "SCALES", "PQTConfig"]

#: How the noise's spacing is scaled: one power of two per tensor (the RCEIL
#: rule: the smallest 2**k with amax <= max * 2**k), or none (the target's own grid).
SCALES = ("tensor", "none")
#: The dtypes a training wrapper keeps the parameters in.
PARAM_DTYPES = ("bfloat16", "float32")


@dataclass(frozen=True)
class PQTConfig:
    """Pseudo-quantization of weights to a target format.

    Args:
        format: the target Format (or name): the format the weights are cast
            to at the end (``finalize``), whose spacing shapes the noise.
        noise: a :class:`~floatsim.noise.Noise` or 'uniform', 'gaussian', 'r'.
        storage: the format the noisy weight is cast to once (default BF16).
        rounding: that cast's rounding (stochastic: the cast's own Philox words).
        scale: 'tensor' (a power of two per tensor) or 'none'.
        clip: keep noisy values inside +-max (times the scale).
        anneal: stochastic precision annealing's starting probability ``a0`` in
            [0, 1): each element's noise step is halved ``j`` times with
            P(j >= i) = a**i (i <= 8); training wrappers lower ``a`` linearly
            from ``a0`` to 0 over the first ``anneal_fraction`` of the steps.
        anneal_fraction: that share of the training steps (0 < f <= 1).
        param_dtype: what training keeps the parameters in: 'bfloat16' (2 bytes
            a parameter) or 'float32'.
    """

    format: Format | str
    noise: Noise | str = "gaussian"
    storage: Format | str = "bfloat16"
    rounding: Rounding | str = Rounding.NEAREST_EVEN
    scale: str = "tensor"
    clip: bool = True
    anneal: float = 0.0
    anneal_fraction: float = 0.5
    param_dtype: str = "bfloat16"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "format", _format(self.format))
        set_(self, "noise", parse(self.noise))
        set_(self, "storage", _format(self.storage))
        set_(self, "rounding", Rounding.parse(self.rounding))
        if self.scale not in SCALES:
            raise ValueError(f"scale={self.scale!r} is not valid; allowed: {', '.join(SCALES)}")
        if not isinstance(self.clip, bool):
            raise TypeError(f"clip={self.clip!r} must be a bool")
        a = self.anneal
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0 <= a < 1:
            raise ValueError(f"anneal={a!r} must be a number in [0, 1)")
        f = self.anneal_fraction
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f <= 1:
            raise ValueError(f"anneal_fraction={f!r} must be a number in (0, 1]")
        if self.param_dtype not in PARAM_DTYPES:
            raise ValueError(f"param_dtype={self.param_dtype!r} is not valid; allowed: "
                             f"{', '.join(PARAM_DTYPES)}")

    def replace(self, **changes: Any) -> PQTConfig:
        """A copy with fields changed (validated again)."""
        return replace(self, **changes)

    def anneal_at(self, step: int, steps: int) -> float:
        """The annealing probability at training step ``step`` of ``steps``: ``a0``
        falling linearly to 0 at ``anneal_fraction * steps``.

        Example:
            >>> PQTConfig("e3m2", anneal=0.5).anneal_at(25, 100)
            0.25
        """
        if self.anneal == 0:
            return 0.0
        end = max(1, math.ceil(self.anneal_fraction * steps))
        return float(self.anneal) * max(0.0, 1.0 - step / end)

    @property
    def bytes_per_param(self) -> int:
        """Bytes a parameter takes in training (the parameter only)."""
        return 2 if self.param_dtype == "bfloat16" else 4

    def describe(self) -> str:
        """One line: target, noise, cast, scale, clipping, parameters."""
        head = (f"target {self.format}, noise {self.noise.describe()}, then one "
                f"{self.rounding.name.lower()} cast to {self.storage}")
        parts = [head, "per-tensor power-of-two scale" if self.scale == "tensor" else "no scale"]
        if self.clip:
            parts.append("clipped to the target's range")
        if self.anneal:
            parts.append(f"precision annealing from a={self.anneal:g} over the first "
                         f"{self.anneal_fraction:.0%} of the steps")
        parts.append(f"parameters in {self.param_dtype}")
        return "; ".join(parts)
