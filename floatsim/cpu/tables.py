"""Tables built from the general routine: the value of every code (the fast
decode's table, on the CPU and, as bits, on the GPU) and the code of every
float32 value by (sign, exponent) (the fast encode's, :mod:`floatsim.kernels.code_table`).

Both come from the scalar routine code by code, so the fast paths that read
them agree with it by construction (and the tests check it).  Here too the
general routine itself for whole arrays, the reference the fast paths are
tested against: :func:`encode_general`, :func:`decode_general`.

Example:
    >>> import numpy as np, floatsim as fs
    >>> value_table(fs.format("e2m1"), np.dtype(np.float32))[:4].tolist()
    [0.0, 0.5, 1.0, 1.5]
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..dtypes import code_dtype
from ..formats import Format
from ..kernels.abi import make_params
from ..kernels.code_table import NAN_ENTRY, NO_ENTRY, SHIFT_ALL, TABLE_SIZE
from ..kernels.forms import fits_fast32
from ..rounding import Rounding
from ..spec import CastSpec
from . import elementwise as E
from .launch import launch

__all__ = ["TABLE_CODES", "code_table_for", "decode_general", "encode_general", "encode_table",
           "value_table"]

#: Formats of at most this many codes decode by a table of their values
#: (value_table): e4m3 into float32 at 3480 Melem/s on 2 cores, against 2700 code by code.
TABLE_CODES = 1 << 16


@functools.lru_cache(maxsize=256)
def value_table(fmt: Format, dtype: np.dtype) -> np.ndarray:
    """The value of every code of ``fmt`` as ``dtype``, by the general routine
    (read-only): the table ``decode`` reads on the CPU and, as bits, on the GPU.

    Example:
        >>> import numpy as np, floatsim as fs
        >>> value_table(fs.format("e2m1"), np.dtype(np.float32))[:4].tolist()
        [0.0, 0.5, 1.0, 1.5]
    """
    table = decode_general(np.arange(fmt.num_codes, dtype=np.int64), fmt, np.dtype(dtype))
    table.flags.writeable = False
    return table


def decode_general(flat: np.ndarray, fmt: Format, dt: np.dtype) -> np.ndarray:
    """Flat ``codes`` (in range) decoded one by one by the scalar routine:
    the reference the tables come from.  Half and bfloat16 outputs are the
    float32 values converted, which is exact: ``dt`` holds every value."""
    kernel_dt = dt if dt in (np.dtype(np.float32), np.dtype(np.float64)) else np.dtype(np.float32)
    out = np.empty(flat.size, dtype=kernel_dt)
    launch(E.decode_flat, flat.size, flat, out, make_params(fmt))
    return out if kernel_dt == dt else out.astype(dt)


def encode_general(
    x: Any,
    fmt: Format | str,
    rounding: Rounding | str = "nearest_even",
    *,
    overflow: Any = None,
    subnormals: bool | None = None,
    seed: int | None = None,
    random_bits: Any = None,
    sr_bits: int | None = None,
) -> np.ndarray:
    """``encode`` of host arrays by the general kernel alone (scalar.encode_bits
    from the exact value), never the fast path: the reference the fast path
    and its code table are tested against, and what builds the table's NaN
    codes."""
    spec = CastSpec(x, fmt, rounding, overflow=overflow, subnormals=subnormals, seed=seed,
                    random_bits=random_bits, sr_bits=sr_bits)
    result = np.empty(spec.x.shape, dtype=code_dtype(spec.fmt))
    E.run_general(spec, E.encode_flat, result.reshape(-1))
    return result


@functools.cache
def encode_table(fmt: Format) -> np.ndarray | None:
    """The table of :func:`floatsim.kernels.code_table.code_of_f32_py` for
    ``fmt`` (uint32, read-only), or None where the fast path does not take
    ``fmt`` or its codes do not follow that module's rule."""
    if not fits_fast32(fmt) or fmt.num_codes > 2**16:
        return None
    codes = np.arange(fmt.num_codes, dtype=np.int64)
    v = value_table(fmt, np.dtype(np.float32)).view(np.uint32).astype(np.int64)
    keep = (v & 0x7FFFFFFF) <= 0x7F800000
    codes, v = codes[keep], v[keep]
    if np.unique(v).size != v.size:
        return None
    table = np.full(TABLE_SIZE, NO_ENTRY, dtype=np.uint32)
    idx, sig = v >> 23, v & 0x7FFFFF
    for i in np.unique(idx):
        sel = idx == i
        shift = 23 - int(sel.sum() - 1).bit_length()
        base = int(codes[sel][np.argmin(sig[sel])])
        if not np.array_equal(base + (sig[sel] >> shift), codes[sel]):
            return None
        table[i] = base | shift << 16
    if fmt.has_nan:
        # the CPU's codes of NaN; they must depend on the sign alone
        nans = np.array([0x7FC00000, 0x7F800001, 0x7FFFFFFF, 0xFFC00000, 0xFF800001, 0xFFFFFFFF],
                        dtype=np.uint32).view(np.float32)
        got = encode_general(nans, fmt)
        if len(set(got[:3].tolist())) != 1 or len(set(got[3:].tolist())) != 1:
            return None
        table[NAN_ENTRY], table[NAN_ENTRY + 1] = int(got[0]) | SHIFT_ALL, int(got[3]) | SHIFT_ALL
    else:
        table[NAN_ENTRY] = table[NAN_ENTRY + 1] = int(np.iinfo(code_dtype(fmt)).max) | SHIFT_ALL
    table.flags.writeable = False
    return table


def code_table_for(spec: CastSpec) -> np.ndarray | None:
    """The code table where ``encode`` of ``spec`` takes the fast path (CPU
    and GPU), else None (the general routine): the one place that decides it."""
    return encode_table(spec.fmt) if spec.fast32(np.dtype(np.float32)) else None
