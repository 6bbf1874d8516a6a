"""CUDA kernels for :func:`floatsim.pack` and :func:`floatsim.unpack`, and
those two functions on GPU arrays.

The bit layout is the one :mod:`floatsim.packing` defines (its module
docstring is the one place it is written down): code ``i`` of width ``b``
occupies bits ``[b*i, b*i + b)`` of the byte stream read as one little-endian
integer.  So eight consecutive codes fill exactly ``b`` bytes, and **group**
``g`` (codes ``8g .. 8g+7``) owns bytes ``b*g .. b*g + b - 1`` and no others.
Each thread handles whole groups: it assembles (or takes apart) one 64-bit
word of ``8*b`` bits and touches only its own group's bytes, so there are no
write races and no atomics, for every width 1..8.  The CPU path uses numpy's
``packbits`` instead; tests/cuda_sim_pack.py checks the two against each other
for every width.

* Grid-stride loops with 64-bit indices (arrays over 2**31 codes).
* The width is a compile-time constant of each kernel (one kernel per width,
  built on first use), so the loops over the eight codes and the ``b`` bytes
  unroll into straight-line shifts and masks.
* ``pack`` keeps the low ``b`` bits of each code (it does not range-check:
  that would need a device-to-host sync); padding bits of the last byte are
  zero.  ``unpack`` reads only the ``ceil(count*b/8)`` bytes it needs.
* Importing this module imports ``numba.cuda``; :mod:`floatsim.packing`
  imports it only when a GPU array reaches ``pack`` / ``unpack``.

On GPU arrays (:func:`pack`, :func:`unpack`) the arrays are taken in, and the
result made, as in :mod:`.interop`: an array of the caller's library on the
input's device, on ``cuda_stream=`` or else the input library's current
stream.  **Difference from the CPU path**, to avoid a device-to-host sync:
``pack`` does not range-check codes: it keeps the low ``b`` bits of each code
(the CPU raises ValueError).  Shapes, dtypes and sizes are checked as on the
CPU.

Kernel arguments (flat, C-contiguous): ``pack_kernel(b)(codes, out)`` with
codes of any integer dtype and ``out`` uint8 of ``ceil(codes.size*b/8)``
bytes; ``unpack_kernel(b)(packed, out)`` with ``packed`` uint8 and ``out``
uint8 of ``count`` codes.

Example (builds nothing; kernels compile at their first launch):
    >>> from floatsim.gpu.pack import pack_kernel, groups, packed_bytes
    >>> pack_kernel(6).py_func.__name__, groups(17), packed_bytes(5, 4)
    ('pack6', 3, 3)
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numba import cuda

from .interop import as_caller, flat, import_array, new_array, on_device, stream_for
from .launch import launch_items, settings

__all__ = ["GROUP", "groups", "launch", "pack", "pack_kernel", "packed_bytes", "ptx_signatures",
           "unpack", "unpack_kernel"]

#: Codes per thread per grid-stride step: eight codes of b bits are b whole bytes.
GROUP = 8




def groups(count: int) -> int:
    """Groups of eight codes covering ``count`` codes (the threads' work items)."""
    return (count + GROUP - 1) // GROUP


def _check_bits(bits: int) -> int:
    if not 1 <= bits <= 8:
        raise ValueError(f"bits={bits}: pack/unpack store codes of 1..8 bits")
    return int(bits)


@functools.cache
def pack_kernel(bits: int) -> Any:
    """The kernel packing codes of ``bits`` bits: ``(codes, out)``, one thread
    per group of eight codes writing that group's ``bits`` bytes."""
    bits = _check_bits(bits)
    mask = (1 << bits) - 1

    def pack(codes, out):  # noqa: ANN001, ANN202
        n = codes.size
        nbytes = out.size
        start = np.int64(cuda.blockIdx.x) * cuda.blockDim.x + cuda.threadIdx.x
        step = np.int64(cuda.gridDim.x) * cuda.blockDim.x
        for g in range(start, (n + (GROUP - 1)) // GROUP, step):
            i0 = g * GROUP
            w = np.int64(0)
            for k in range(GROUP):  # code i0+k at bits [bits*k, bits*k + bits) of the word
                if i0 + k < n:
                    w |= (np.int64(codes[i0 + k]) & mask) << (bits * k)
            o0 = g * bits
            for j in range(bits):  # the word's byte j is output byte o0+j
                if o0 + j < nbytes:
                    out[o0 + j] = (w >> (8 * j)) & 0xFF

    pack.__name__ = pack.__qualname__ = f"pack{bits}"
    return cuda.jit(pack)


@functools.cache
def unpack_kernel(bits: int) -> Any:
    """The kernel unpacking codes of ``bits`` bits: ``(packed, out)``, one
    thread per group of eight codes reading that group's ``bits`` bytes."""
    bits = _check_bits(bits)
    mask = (1 << bits) - 1

    def unpack(packed, out):  # noqa: ANN001, ANN202
        count = out.size
        need = (count * bits + 7) // 8
        start = np.int64(cuda.blockIdx.x) * cuda.blockDim.x + cuda.threadIdx.x
        step = np.int64(cuda.gridDim.x) * cuda.blockDim.x
        for g in range(start, (count + (GROUP - 1)) // GROUP, step):
            b0 = g * bits
            w = np.int64(0)
            for j in range(bits):  # byte 7 of a 64-bit word lands in the sign bit: fine,
                if b0 + j < need:  # every code is masked after an arithmetic shift
                    w |= np.int64(packed[b0 + j]) << (8 * j)
            i0 = g * GROUP
            for k in range(GROUP):
                if i0 + k < count:
                    out[i0 + k] = (w >> (bits * k)) & mask

    unpack.__name__ = unpack.__qualname__ = f"unpack{bits}"
    return cuda.jit(unpack)


# ---- launching -----------------------------------------------------------------------


def launch(kernel: Any, work: int, stream: Any, *args: Any) -> None:
    """Launch ``kernel`` over ``work`` groups of eight codes on ``stream``."""
    launch_items(kernel, work, stream, settings().pack, *args)


def ptx_signatures() -> list[tuple[str, Any, tuple]]:
    """(label, Python function, argument types) for the PTX build test: pack
    and unpack at every width, pack also from wider and signed code dtypes
    (the dtype of ``codes`` is the only thing that varies between launches
    of one kernel)."""
    from numba import types as t

    u8 = t.uint8[::1]
    sigs: list[tuple[str, Any, tuple]] = []
    for bits in range(1, 9):
        sigs.append((f"pack{bits}_uint8", pack_kernel(bits).py_func, (u8, u8)))
        sigs.append((f"unpack{bits}", unpack_kernel(bits).py_func, (u8, u8)))
    for dt in (t.uint16, t.int32, t.uint64, t.int64):
        sigs.append((f"pack4_{dt}", pack_kernel(4).py_func, (dt[::1], u8)))
    return sigs


# ---- floatsim.pack / unpack of GPU arrays ------------------------------------------------

_U8 = np.dtype(np.uint8)


def packed_bytes(count: int, bits: int) -> int:
    """Bytes that ``count`` codes of ``bits`` bits occupy (``packed_size``)."""
    return -(-count * bits // 8)


def pack(codes: Any, bits: int, *, cuda_stream: Any = None) -> Any:
    """:func:`floatsim.pack` of GPU codes at ``bits`` (1..8) bits: a uint8
    array of ``packed_bytes(codes.size, bits)`` bytes (see the module docstring)."""
    src = import_array(codes, "codes")
    if src.dtype.kind not in "ui":
        raise TypeError(f"codes has dtype {src.dtype}; pack needs unsigned integer codes")
    n = int(src.arr.size)
    with on_device(src.device):
        stream, _ = stream_for(cuda_stream, src)
        obj, outr = new_array(src, (packed_bytes(n, bits),), _U8, stream)
        if n:
            launch(pack_kernel(bits), groups(n), stream, flat(src.arr, stream), outr)
    return as_caller(src, obj)


def unpack(packed: Any, bits: int, count: int, *, cuda_stream: Any = None) -> Any:
    """:func:`floatsim.unpack` of GPU bytes: ``count`` uint8 codes of ``bits``
    bits from the first ``packed_bytes(count, bits)`` bytes of ``packed`` (C order)."""
    src = import_array(packed, "packed")
    if src.dtype != _U8:
        raise TypeError(f"packed has dtype {src.dtype}; unpack reads uint8 bytes")
    if not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"count={count!r} must be a non-negative int")
    count = int(count)
    need = packed_bytes(count, bits)
    if src.arr.size < need:
        raise ValueError(f"{count} codes of {bits} bits need {need} bytes; got {src.arr.size}")
    with on_device(src.device):
        stream, _ = stream_for(cuda_stream, src)
        obj, outr = new_array(src, (count,), _U8, stream)
        if count:
            launch(unpack_kernel(bits), groups(count), stream, flat(src.arr, stream), outr)
    return as_caller(src, obj)
