"""Small device arrays the GPU kernels read: the decode and encode tables
(copied from the CPU's, :mod:`floatsim.cpu.tables`, so both backends agree
by construction) and one-element stand-ins for arguments a launch ignores.

Each is built once per key and device, under a lock (a second thread asking
for the same table waits rather than building and copying it again).

Part of floatsim's internal API.

Example (no GPU needed):
    >>> import numpy as np, floatsim as fs
    >>> decode_bits(fs.format("e2m1"), np.dtype(np.float32))[:3].tolist()  # 0, 0.5, 1.0
    [0, 1056964608, 1065353216]
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ..cpu.tables import value_table
from ..formats import Format
from .elementwise import LUT_CODES
from .interop import raw_dtype
from .launch import current_device

__all__ = ["decode_bits", "decode_table", "device_table", "dummy", "encode_table_on"]

_TABLES: dict[tuple, Any] = {}
_LOCK = threading.Lock()


def device_table(key: tuple, build: Callable[[], np.ndarray]) -> Any:
    """The array ``build()`` makes, on the current device: built and copied
    there once per ``key`` and device (a synchronous copy, complete before
    any stream may read it)."""
    k = (key, current_device())
    table = _TABLES.get(k)
    if table is None:
        with _LOCK:
            table = _TABLES.get(k)
            if table is None:
                from numba import cuda

                table = _TABLES[k] = cuda.to_device(build())
    return table


def dummy(dtype: str) -> Any:
    """A one-element device array of ``dtype`` on the current device, standing
    in for an argument a kernel ignores."""
    return device_table(("dummy", dtype), lambda: np.zeros(1, dtype=np.dtype(dtype)))


def decode_bits(f: Format, dt: np.dtype) -> np.ndarray:
    """The host table of ``elementwise.decode_lut_kernel``: the output bits of
    codes 0..LUT_CODES-1 (a code past the format's decodes as an out-of-range
    code does), then the NaN of out-of-range codes: quiet, positive, as the
    general kernel gives it."""
    nan = np.array(np.nan, dtype=np.float64).astype(dt).view(raw_dtype(dt))
    table = np.full(LUT_CODES + 1, nan, dtype=raw_dtype(dt))
    table[: f.num_codes] = value_table(f, dt).view(raw_dtype(dt))
    return table


def decode_table(f: Format, dt: np.dtype) -> Any:
    """:func:`decode_bits` on the current device."""
    return device_table(("decode", f, dt), lambda: decode_bits(f, dt))


def encode_table_on(fmt: Format, table: np.ndarray) -> Any:
    """The fast encode's code table of ``fmt`` (cpu.tables.encode_table) on the current device."""
    return device_table(("encode", fmt), lambda: table)
