"""Rounding modes of the element cast, and the rules that round a block's scale.

Example:
    >>> from floatsim import Rounding
    >>> Rounding.parse("rne") is Rounding.NEAREST_EVEN
    True
"""

from __future__ import annotations

import enum

__all__ = ["Rounding", "ScaleRule", "member_named"]


def member_named(cls: type[enum.Enum], value: object) -> enum.Enum | None:
    """The member of a string-valued enum that ``value`` is or names (its value
    or its name, any case, spaces trimmed), else None: the lookup behind
    :meth:`ScaleRule.parse` and ``floatsim.recipes.Scaling.parse``, which word
    their own errors.

    Example:
        >>> member_named(ScaleRule, " FLOOR "), member_named(ScaleRule, "x")
        (<ScaleRule.FLOOR: 'floor'>, None)
    """
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        key = value.strip().lower()
        for m in cls:
            if key in (m.value, m.name.lower()):
                return m
    return None


class Rounding(enum.Enum):
    """How a value between two neighbours of a format is rounded.

    The integer values are the codes the kernels use; they are part of the
    kernel ABI (CPU, CUDA and ``cuda/floatsim.cuh`` share them).
    """

    #: Nearest, ties to the neighbour whose code is even (IEEE roundTiesToEven).
    NEAREST_EVEN = 0
    #: Nearest, ties away from zero (IEEE roundTiesToAway).
    NEAREST_AWAY = 1
    #: Toward zero: truncate the magnitude.
    TOWARD_ZERO = 2
    #: Toward +inf.
    UP = 3
    #: Toward -inf.
    DOWN = 4
    #: Round to odd: truncate, then set the last bit if anything was discarded.
    ODD = 5
    #: Stochastic: away from zero with probability equal to the discarded
    #: fraction (exact SR), or by adding k random bits to the top k discarded
    #: bits (k-bit SR, ``sr_bits=k``).
    STOCHASTIC = 6

    @classmethod
    def parse(cls, value: Rounding | str) -> Rounding:
        """Accept a member, its name ('nearest_even') or short name ('rne').

        Example:
            >>> Rounding.parse("sr")
            <Rounding.STOCHASTIC: 6>
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            key = value.strip().lower()
            for member in cls:
                if key == member.name.lower() or key in _SHORT[member]:
                    return member
        allowed = ", ".join(f"{m.name.lower()} ({'/'.join(_SHORT[m])})" for m in cls)
        raise ValueError(f"rounding={value!r} is not a rounding mode; allowed: {allowed}")

    @property
    def is_directed(self) -> bool:
        """True for the modes that never round to nearest (RTZ, RU, RD, odd)."""
        return self in (Rounding.TOWARD_ZERO, Rounding.UP, Rounding.DOWN, Rounding.ODD)


_SHORT: dict[Rounding, tuple[str, ...]] = {
    Rounding.NEAREST_EVEN: ("rne", "nearest", "even"),
    Rounding.NEAREST_AWAY: ("rna", "away"),
    Rounding.TOWARD_ZERO: ("rtz", "zero", "truncate"),
    Rounding.UP: ("ru", "rup", "toward_positive", "ceil"),
    Rounding.DOWN: ("rd", "rdn", "toward_negative", "floor"),
    Rounding.ODD: ("rto", "round_to_odd"),
    Rounding.STOCHASTIC: ("sr", "stochastic_rounding"),
}


class ScaleRule(enum.Enum):
    """How a block's scale X is chosen from its largest magnitude ``amax``.

    ``emax`` and ``max`` are the element format's largest exponent and value;
    ``T`` is the tensor (second-level) scale, 1 without one.  The
    power-of-two rules give ``X = 2**k``; the value rules round a quotient
    into the scale format.  Every rule is exact (no float rounding before the
    final one).
    """

    #: OCP MX v1.0 section 6.3: ``k = floor(log2(amax / T)) - emax``.  The block
    #: maximum lands in [2**emax, 2**(emax+1)) and may exceed ``max``: it
    #: saturates (e.g. E2M1: amax/X in (6, 8) becomes 6).
    FLOOR = "floor"
    #: ``k = ceil(log2(amax / T)) - emax``: never clips, may waste a binade.
    CEIL = "ceil"
    #: torchao's EVEN: ``k = floor(log2(RNA_p(amax / T))) - emax`` with
    #: ``RNA_p`` rounding to ``p = mbits + 1`` significant bits, ties away: FLOOR,
    #: plus one where the block maximum would round up into the next binade.
    EVEN = "even"
    #: ``k = round(log2(amax / T)) - emax``: FLOOR plus one where the
    #: significand of amax is at least sqrt(2) (never a tie: sqrt(2) is
    #: irrational).
    NEAREST = "nearest"
    #: ``X = amax / (max * T)`` rounded *up* into the scale format, as NVIDIA's
    #: ``cvt.rp.satfinite.ue8m0`` does for E8M0 (``2**ceil(log2(amax/max))``):
    #: never clips, and equals FLOOR whenever FLOOR does not clip.
    RCEIL = "rceil"
    #: ``X = amax / (max * T)`` rounded to nearest-even into the scale format:
    #: NVFP4's ``amax / 6`` into UE4M3.  A block maximum may round past ``max``
    #: and saturate.
    AMAX = "amax"
    #: NVFP4's adaptive "4 over 6" (Cook et al. 2025): two AMAX candidates,
    #: ``amax / (max * T)`` and ``amax / (2**emax * T)`` (6 and 4 for E2M1),
    #: each rounded into the scale format; the block keeps the one whose
    #: dequantized values have the smaller sum of squared errors (float64,
    #: in block order; ties keep ``max``).
    FOUR_OVER_SIX = "4over6"
    #: Asymmetric integers: ``X = (max(x, 0) - min(x, 0)) / ((2**bits - 1) * T)``
    #: rounded to nearest-even into the scale format, zero point
    #: ``z = round(-min(x, 0) / (X*T))`` (ties to even) clamped to the code range;
    #: ``q = clamp(round(x / (X*T)) + z, 0, 2**bits - 1)``.
    MINMAX = "minmax"

    @classmethod
    def parse(cls, value: ScaleRule | str) -> ScaleRule:
        """Accept a member, its name ('FLOOR') or its value ('floor', '4over6').

        Example:
            >>> ScaleRule.parse("rceil")
            <ScaleRule.RCEIL: 'rceil'>
        """
        found = member_named(cls, value)
        if found is not None:
            return found
        allowed = ", ".join(repr(m.value) for m in cls)
        raise ValueError(f"rule={value!r} is not a scale rule; allowed: {allowed}")

    @property
    def is_pow2(self) -> bool:
        """Whether the rule picks a power of two by its exponent alone."""
        return self in (ScaleRule.FLOOR, ScaleRule.CEIL, ScaleRule.EVEN, ScaleRule.NEAREST)
