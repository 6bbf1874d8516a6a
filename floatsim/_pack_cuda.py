""":func:`floatsim.pack` / :func:`floatsim.unpack` of GPU arrays: the kernels of
:mod:`floatsim.kernels.pack_cuda`, with no host round trip.

The arrays are taken in, and the result made, as in
:mod:`floatsim.cuda_dispatch` (whose helpers this module uses): the result is
an array of the caller's library on the input's device (a ``torch.Tensor``
for a CUDA tensor, a CuPy array for CuPy, a Numba device array for Numba, a
JAX array for JAX), and the kernel runs on ``cuda_stream=`` or else on the
input library's current stream.  The bit layout is :mod:`floatsim.packing`'s.

**Differences from the CPU path**, each to avoid a device-to-host sync:
``pack`` does not range-check codes: it keeps the low ``b`` bits of each code
(so a negative or too-large code does not raise; the CPU raises
ValueError).  Shapes, dtypes and sizes are checked as on the CPU.

Importing this module does not import ``numba.cuda``.

Example (no GPU needed):
    >>> from floatsim._pack_cuda import nbytes
    >>> nbytes(5, 4), nbytes(4, 6)
    (3, 3)
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["nbytes", "pack", "unpack"]

_U8 = np.dtype(np.uint8)


def nbytes(count: int, bits: int) -> int:
    """Bytes that ``count`` codes of ``bits`` bits occupy (``packed_size``)."""
    return -(-count * bits // 8)


def pack(codes: Any, bits: int, *, cuda_stream: Any = None) -> Any:
    """:func:`floatsim.pack` of GPU codes at ``bits`` (1..8) bits: a uint8
    array of ``nbytes(codes.size, bits)`` bytes (see the module docstring)."""
    from .cuda_dispatch import _empty, _flat, _import, _on, _result, _stream_for
    from .kernels import pack_cuda as K

    src = _import(codes, "codes")
    if src.dtype.kind not in "ui":
        raise TypeError(f"codes has dtype {src.dtype}; pack needs unsigned integer codes")
    n = int(src.arr.size)
    with _on(src.device):
        stream, _ = _stream_for(cuda_stream, src)
        obj, outr = _empty(src, (nbytes(n, bits),), _U8, stream)
        if n:
            K.launch(K.pack_kernel(bits), K.groups(n), stream, _flat(src.arr, stream), outr)
    return _result(src, obj)


def unpack(packed: Any, bits: int, count: int, *, cuda_stream: Any = None) -> Any:
    """:func:`floatsim.unpack` of GPU bytes: ``count`` uint8 codes of ``bits``
    bits from the first ``nbytes(count, bits)`` bytes of ``packed`` (C order)."""
    from .cuda_dispatch import _empty, _flat, _import, _on, _result, _stream_for
    from .kernels import pack_cuda as K

    src = _import(packed, "packed")
    if src.dtype != _U8:
        raise TypeError(f"packed has dtype {src.dtype}; unpack reads uint8 bytes")
    if not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"count={count!r} must be a non-negative int")
    count = int(count)
    need = nbytes(count, bits)
    if src.arr.size < need:
        raise ValueError(f"{count} codes of {bits} bits need {need} bytes; got {src.arr.size}")
    with _on(src.device):
        stream, _ = _stream_for(cuda_stream, src)
        obj, outr = _empty(src, (count,), _U8, stream)
        if count:
            K.launch(K.unpack_kernel(bits), K.groups(count), stream, _flat(src.arr, stream), outr)
    return _result(src, obj)
