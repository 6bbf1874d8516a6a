"""CUDA kernels for :func:`floatsim.pack` and :func:`floatsim.unpack`.

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
* Importing this module imports ``numba.cuda``; :mod:`floatsim._pack_cuda`
  imports it only when a GPU array reaches ``pack`` / ``unpack``.

Kernel arguments (flat, C-contiguous): ``pack_kernel(b)(codes, out)`` with
codes of any integer dtype and ``out`` uint8 of ``ceil(codes.size*b/8)``
bytes; ``unpack_kernel(b)(packed, out)`` with ``packed`` uint8 and ``out``
uint8 of ``count`` codes.

Example (builds nothing; kernels compile at their first launch):
    >>> from floatsim.kernels.pack_cuda import pack_kernel, groups
    >>> pack_kernel(6).py_func.__name__, groups(17)
    ('pack6', 3)
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numba import cuda

from .cuda import launch_items

__all__ = ["GROUP", "LAUNCH", "groups", "launch", "pack_kernel", "ptx_signatures", "unpack_kernel"]

#: Codes per thread per grid-stride step: eight codes of b bits are b whole bytes.
GROUP = 8

#: Threads per block, and at most this many blocks per multiprocessor (the
#: kernels are grid-stride loops, so any grid covers any size).  Tests shrink
#: both to run the simulator on a few blocks.
LAUNCH = {"threads": 256, "blocks_per_sm": 16}
_MAX_THREADS = 1024  # the hardware limit: these kernels share no memory



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
    launch_items(kernel, work, stream, LAUNCH, _MAX_THREADS, *args)


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
