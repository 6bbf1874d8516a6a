"""The array dtypes floatsim reads and writes, and the checks on them.

Part of floatsim's internal API (used by :mod:`floatsim.spec`, the CPU and
GPU backends and the front doors; not re-exported at the top level but for
:func:`code_dtype`).

bfloat16 is numpy's only through ml_dtypes, an optional dependency.  It is
never imported here: an array or dtype of bfloat16 can only exist once
ml_dtypes has been imported by someone, so :func:`bfloat16` looks in
``sys.modules`` (importing ml_dtypes costs about 0.6 s, more than the rest
of ``import floatsim``).  Without ml_dtypes every comparison with bfloat16
is False: never ``dtype == None``, which numpy answers True for float64.

Example:
    >>> import numpy as np
    >>> from floatsim.dtypes import code_dtype, float_array
    >>> code_dtype("e2m1"), code_dtype("bf16")
    (dtype('uint8'), dtype('uint16'))
    >>> float_array(np.arange(3))
    Traceback (most recent call last):
    ...
    TypeError: x has dtype int64; floatsim rounds floating-point arrays of float64, float32, float16, bfloat16 (ml_dtypes.bfloat16) (convert with x.astype(np.float32))
"""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import Any

import numpy as np

from .formats import Format
from .registry import CANONICAL
from .registry import format as _format

__all__ = [
    "ALLOWED_FLOATS",
    "bfloat16",
    "check_out_dtype",
    "code_dtype",
    "float_array",
    "float_dtype",
    "float_dtypes",
    "float_format",
    "holds",
    "is_bfloat16",
    "out_array",
    "uint_dtype",
]

#: How the accepted float dtypes are named in error messages.
ALLOWED_FLOATS = "float64, float32, float16, bfloat16 (ml_dtypes.bfloat16)"

_F64, _F32, _F16 = np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.float16)
_BF16: np.dtype | None = None


def bfloat16() -> np.dtype | None:
    """ml_dtypes' bfloat16 dtype if ml_dtypes has been imported, else None."""
    global _BF16
    if _BF16 is None:
        ml = sys.modules.get("ml_dtypes")
        if ml is not None:
            _BF16 = np.dtype(ml.bfloat16)
    return _BF16


def is_bfloat16(dtype: Any) -> bool:
    """Whether ``dtype`` is bfloat16 (False whenever ml_dtypes is not loaded)."""
    bf = bfloat16()
    return bf is not None and dtype is not None and np.dtype(dtype) == bf


def float_dtypes() -> dict[np.dtype, Format]:
    """The input/output float dtypes floatsim accepts, each with its Format."""
    table = {_F64: CANONICAL["float64"], _F32: CANONICAL["float32"], _F16: CANONICAL["float16"]}
    bf = bfloat16()
    if bf is not None:
        table[bf] = CANONICAL["bfloat16"]
    return table


def float_format(dtype: np.dtype) -> Format:
    """The Format of an accepted float dtype (KeyError for any other)."""
    return float_dtypes()[np.dtype(dtype)]


def float_array(x: Any, what: str = "x") -> np.ndarray:
    """``x`` as a numpy array of an accepted float dtype, else TypeError."""
    arr = np.asarray(x)
    if arr.dtype not in (_F64, _F32, _F16) and not is_bfloat16(arr.dtype):
        raise TypeError(
            f"{what} has dtype {arr.dtype}; floatsim rounds floating-point arrays of "
            f"{ALLOWED_FLOATS} (convert with {what}.astype(np.float32))"
        )
    return arr


def float_dtype(dtype: Any, what: str = "out_dtype") -> np.dtype:
    """``dtype`` as a numpy dtype, if it is a float dtype floatsim writes."""
    dt = np.dtype(dtype)
    if dt not in (_F64, _F32, _F16) and not is_bfloat16(dt):
        raise TypeError(f"{what}={dt} is not supported; allowed: {ALLOWED_FLOATS}")
    return dt


@lru_cache(maxsize=1024)
def holds(dtype: np.dtype, fmt: Format) -> bool:
    """Whether every value of ``fmt`` is exactly a value of ``dtype``."""
    d = float_format(dtype)
    return (
        fmt.mbits <= d.mbits
        and fmt.emax <= d.emax
        and fmt.emin - fmt.mbits >= d.emin - d.mbits
    )


def check_out_dtype(dtype: Any, fmt: Format, what: str = "out_dtype") -> np.dtype:
    """``dtype`` if it is a float dtype that holds every value of ``fmt``."""
    dt = float_dtype(dtype, what)
    if not holds(dt, fmt):
        wider = next((str(d) for d in float_dtypes() if holds(d, fmt)), None)
        fix = f"pass out_dtype=np.{wider}" if wider else "use floatsim.reference"
        raise ValueError(
            f"{dt} cannot hold every value of {fmt} (max 2^{fmt.emax}, "
            f"{fmt.mbits} mantissa bits, smallest 2^{fmt.emin - fmt.mbits}); {fix}"
        )
    return dt


def uint_dtype(bits: int) -> np.dtype:
    """The narrowest unsigned dtype of at least ``bits`` bits (up to 64)."""
    for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
        if bits <= np.dtype(dt).itemsize * 8:
            return np.dtype(dt)
    raise ValueError(f"{bits}-bit codes are not supported; codes go up to 64 bits")


def code_dtype(fmt: Format | str) -> np.dtype:
    """The unsigned integer dtype ``encode`` returns for ``fmt``.

    Example:
        >>> code_dtype("e2m1"), code_dtype("bf16")
        (dtype('uint8'), dtype('uint16'))
    """
    return uint_dtype(_format(fmt).bits)


def out_array(out: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A new array of ``shape`` and ``dtype``, or ``out=`` checked to be one."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out= must be a numpy array, got {type(out).__name__}")
    if out.shape != shape or out.dtype != dtype:
        raise ValueError(
            f"out= has shape {out.shape} and dtype {out.dtype}; needed {shape} and {dtype}"
        )
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out= must be a writeable C-contiguous array")
    return out
