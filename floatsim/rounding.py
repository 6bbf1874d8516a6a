"""Rounding modes.

Example:
    >>> from floatsim import Rounding
    >>> Rounding.parse("rne") is Rounding.NEAREST_EVEN
    True
"""

from __future__ import annotations

import enum

__all__ = ["Rounding"]


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
