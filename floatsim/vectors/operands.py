"""Operands of the arithmetic vectors (``fma``, ``dot``, ``mx_dot``): their types,
fields, values and bit patterns.

An operand type is an IEEE type held as its bit pattern (``float32``,
``float16``, ``bfloat16``; ``float64`` for the addend of an FMA) or a
floatsim format of up to 16 bits held as its code (``e4m3``, ``e2m1``,
``float8_e5m2fnuz``, ...).  The products of floatsim.mac's models are
exact products of float32 values, so multiplicands must be types whose
every value is a float32 value.

Example:
    >>> import numpy as np
    >>> name = operand_type("e4m3", "src")
    >>> name, operand_field("a", name).describe(0)
    ('float8_e4m3fn', 'a in code:float8_e4m3fn 8 [7:0]')
    >>> operand_values(np.array([0x38, 0xB8], np.uint64), "e4m3").tolist()
    [1.0, -1.0]
"""

from __future__ import annotations

import numpy as np

from .. import cast
from ..formats import Format
from ..registry import format as lookup
from .cases import DTYPES, from_bits, to_bits
from .ops import format_name
from .vectorset import FieldSpec

__all__ = ["operand_bits", "operand_field", "operand_format", "operand_type", "operand_values",
           "float32_valued"]


def float32_valued(fmt: Format) -> bool:
    """Whether every finite value of ``fmt`` is a float32 value.

    Example:
        >>> from floatsim import format
        >>> float32_valued(format("e5m2")), float32_valued(format("float64"))
        (True, False)
    """
    return fmt.mbits <= 23 and fmt.emax <= 127 and fmt.emin - fmt.mbits >= -149


def operand_type(value: Format | str, what: str, *, multiplicand: bool = True) -> str:
    """The normalised name of an operand type (see the module docstring): a
    signed type with a zero; ``multiplicand``: its values must be float32
    values (a and b), otherwise any float64 value goes (the addend c)."""
    if isinstance(value, str) and value in DTYPES:
        name = value
        if multiplicand and name == "float64":
            raise ValueError(f"{what}='float64': the models multiply float32 values exactly; "
                             "allowed: float32, float16, bfloat16 or a format of up to 16 bits")
        return name
    fmt = lookup(value)
    name = format_name(fmt)
    if name in DTYPES:
        return operand_type(name, what, multiplicand=multiplicand)
    if fmt.bits > 16:
        raise ValueError(f"{what}={name!r} has {fmt.bits} bits; operands are IEEE types (float32, "
                         "float16, bfloat16) or formats of up to 16 bits")
    if multiplicand and not float32_valued(fmt):
        raise ValueError(f"{what}={name!r} has values that are not float32 values; the models "
                         "multiply float32 values exactly")
    if not (fmt.signed and fmt.has_zero):
        raise ValueError(f"{what}={name!r} must be a signed format with a zero")
    cast.decode(np.zeros(1, np.uint8), fmt, np.float64)  # raises unless float64 holds it
    return name


def operand_format(name: str) -> Format:
    """The Format of an operand type (float32 etc. are formats too)."""
    return lookup(name)


def operand_field(field: str, name: str, lanes: int = 1) -> FieldSpec:
    """The input field ``field`` holding operands of type ``name``."""
    if name in DTYPES:
        return FieldSpec(field, "in", name, DTYPES[name][0], lanes)
    return FieldSpec(field, "in", "code", lookup(name).bits, lanes, fmt=name)


def operand_values(bits: np.ndarray, name: str) -> np.ndarray:
    """float64 values of operand bit patterns / codes (exact; NaN codes give NaN)."""
    b = np.asarray(bits, np.uint64)
    if name in DTYPES:
        return from_bits(b, name)
    return cast.decode(b.astype(np.int64), lookup(name), np.float64)


def operand_bits(values: np.ndarray, name: str) -> np.ndarray:
    """Bit patterns / codes (uint64) of float64 values on the type's grid
    (exact; NaN gives the canonical NaN, inf saturates where the type has none;
    NaN raises where it has no NaN).

    Example:
        >>> operand_bits(np.array([1.0, -6.0, np.inf]), "e2m1").tolist()
        [2, 15, 7]
        >>> [hex(v) for v in operand_bits(np.array([1.0]), "bfloat16").tolist()]
        ['0x3f80']
    """
    v = np.asarray(values, np.float64)
    if name in DTYPES:
        return to_bits(v, name)
    fmt = lookup(name)
    return cast.encode(v, fmt, overflow="inf" if fmt.has_inf else "saturate").astype(np.uint64)
