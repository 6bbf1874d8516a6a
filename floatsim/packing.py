"""Dense storage of sub-byte codes: 4-bit codes two per byte, 6-bit codes
four per three bytes, and any width 1..7 in general.

Bit order is little-endian throughout: code ``i`` occupies bits
``[b*i, b*i + b)`` of the byte stream read as one little-endian integer. For
4-bit codes that puts element 0 in the low nibble of byte 0 (as PyTorch's
float4_e2m1fn_x2 and the OCP MX reference code do); for 6-bit codes four
codes fill three bytes.

Example:
    >>> import numpy as np, floatsim as fs
    >>> codes = np.array([1, 2, 3], dtype=np.uint8)
    >>> fs.pack(codes, "e2m1").tolist()
    [33, 3]
    >>> fs.unpack(fs.pack(codes, "e2m1"), "e2m1", 3).tolist()
    [1, 2, 3]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .arrays import is_device_array
from .formats import Format
from .registry import format as _format

__all__ = ["pack", "unpack", "packed_size"]


def _width(fmt: Format | str | int) -> int:
    bits = fmt if isinstance(fmt, (int, np.integer)) else _format(fmt).bits
    if not 1 <= bits <= 8:
        raise ValueError(f"pack/unpack store codes of 1..8 bits; {fmt} has {bits} bits")
    return int(bits)


def packed_size(count: int, fmt: Format | str | int) -> int:
    """Bytes needed for ``count`` codes of ``fmt`` (or of that many bits).

    Example:
        >>> packed_size(4, "e3m2"), packed_size(5, "e2m1")
        (3, 3)
    """
    return -(-count * _width(fmt) // 8)


def pack(codes: Any, fmt: Format | str | int, *, cuda_stream: Any = None) -> np.ndarray:
    """Pack a 1-D (or flattened, C order) array of codes into bytes.

    ``fmt`` is a format (its ``bits`` set the width) or a width in bits.
    Codes must fit the width; the result is a uint8 array of
    ``packed_size(codes.size, fmt)`` bytes, padding bits zero.  GPU codes
    give GPU bytes, computed on ``cuda_stream`` (default: the array
    library's current stream); there, codes are not range-checked but cut to
    their low bits (floatsim.gpu.pack).

    Example:
        >>> import numpy as np
        >>> pack(np.array([63, 0, 0, 1], dtype=np.uint8), "e3m2").tolist()
        [63, 0, 4]
    """
    b = _width(fmt)
    if is_device_array(codes):
        from .gpu import pack as gpu_pack

        return gpu_pack.pack(codes, b, cuda_stream=cuda_stream)
    c = np.asarray(codes)
    if c.dtype.kind not in "ui":
        raise TypeError(f"codes has dtype {c.dtype}; pack needs unsigned integer codes")
    flat = c.reshape(-1)
    if flat.size and (int(flat.min()) < 0 or int(flat.max()) >= 1 << b):
        raise ValueError(f"codes must lie in 0..{(1 << b) - 1} to pack at {b} bits")
    if b == 8:
        return flat.astype(np.uint8)
    if b == 4:
        f = flat.astype(np.uint8)
        if f.size % 2:
            f = np.append(f, np.uint8(0))
        return f[0::2] | (f[1::2] << 4)
    bits = np.unpackbits(flat.astype(np.uint8)[:, None], axis=1, bitorder="little")[:, :b]
    return np.packbits(bits.reshape(-1), bitorder="little")


def unpack(
    packed: Any, fmt: Format | str | int, count: int, *, cuda_stream: Any = None
) -> np.ndarray:
    """Unpack ``count`` codes from bytes written by :func:`pack` (uint8 result).

    GPU bytes give GPU codes, computed on ``cuda_stream`` (as for :func:`pack`).

    Example:
        >>> import numpy as np
        >>> unpack(np.array([63, 0, 4], dtype=np.uint8), "e3m2", 4).tolist()
        [63, 0, 0, 1]
    """
    b = _width(fmt)
    if is_device_array(packed):
        from .gpu import pack as gpu_pack

        return gpu_pack.unpack(packed, b, count, cuda_stream=cuda_stream)
    p = np.asarray(packed)
    if p.dtype != np.uint8:
        raise TypeError(f"packed has dtype {p.dtype}; unpack reads uint8 bytes")
    if not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"count={count!r} must be a non-negative int")
    need = packed_size(int(count), b)
    if p.size < need:
        raise ValueError(f"{count} codes of {b} bits need {need} bytes; got {p.size}")
    flat = p.reshape(-1)[:need]
    if b == 8:
        return flat[:count].copy()
    if b == 4:
        out = np.empty(2 * flat.size, dtype=np.uint8)
        out[0::2] = flat & 0xF
        out[1::2] = flat >> 4
        return out[:count]
    bits = np.unpackbits(flat, bitorder="little")[: count * b].reshape(count, b)
    return np.packbits(bits, axis=1, bitorder="little").reshape(count)
