"""Launching a compiled CUDA kernel without numba-cuda's per-call work.

``kernel[blocks, threads, stream](*args)`` types every argument to pick an
overload, wraps each array and builds the parameter list: about 65 us per
call on an H100 host, more than a small cast's whole GPU time.  A
:class:`Launcher` fixes the signature once and compiles (or loads from the
cache) that one overload.  A :class:`Prepared` launch then keeps the
flattened parameters in one buffer of 64-bit slots, so a call only rewrites
the slots that change (pointers, sizes, seed) and calls the driver's
``cuLaunchKernel`` through ctypes, which copies the parameters at once.
Where that entry point cannot be used, ``cuda.core.launch`` (what numba-cuda
itself calls last) takes the same parameters.

The parameter layout is numba's: an array is ``(meminfo, parent, nitems,
itemsize, data, *shape, *strides)`` (the first two are null here), a tuple
is its members in order, an integer is 64 bits, a float a double.
:func:`array1d` builds the fields of a 1-D C-contiguous array.

Example (no GPU needed; nothing is compiled until the first launch):
    >>> from floatsim.kernels.cuda_launch import array1d, slots
    >>> array1d(0x7F0000, 10, 4)
    (0, 0, 10, 4, 8323072, 10, 4)
    >>> slots((1, -1, 0.5))  # a double travels as its bit pattern
    [1, -1, 4602678819172646912]
"""

from __future__ import annotations

import ctypes
import functools
import struct
import threading
from typing import Any

__all__ = ["Launcher", "Prepared", "array1d", "slots", "stream_object"]


def array1d(ptr: int, n: int, itemsize: int) -> tuple[int, ...]:
    """Numba's kernel parameters for a 1-D C-contiguous array at ``ptr``."""
    return (0, 0, n, itemsize, ptr, n, itemsize)


def slots(params: tuple) -> list[int]:
    """Parameters (ints and floats) as signed 64-bit slot values."""
    return [struct.unpack("<q", struct.pack("<d", v))[0] if isinstance(v, float) else int(v)
            for v in params]


@functools.cache
def _config(blocks: int, threads: int) -> Any:
    from cuda.core import LaunchConfig

    return LaunchConfig(grid=blocks, block=threads)


@functools.cache
def _cu_launch() -> Any:
    """The driver's cuLaunchKernel through ctypes (None: not loadable)."""
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None
    fn = lib.cuLaunchKernel
    u = ctypes.c_uint
    fn.argtypes = [ctypes.c_void_p, u, u, u, u, u, u, u, ctypes.c_void_p, ctypes.c_void_p,
                   ctypes.c_void_p]
    fn.restype = ctypes.c_int
    return fn


class Launcher:
    """One overload of a ``numba.cuda.jit`` kernel, launched from flat parameters.

    Args:
        dispatcher: the ``cuda.jit`` kernel.
        argtypes: the Numba types of its arguments (the overload to use).
    """

    def __init__(self, dispatcher: Any, argtypes: tuple) -> None:
        self._dispatcher = dispatcher
        self._argtypes = argtypes
        self._kernels: dict[int, Any] = {}

    def kernel(self, device: int) -> Any:
        """The ``cuda.core`` kernel object on ``device`` (the current one)."""
        k = self._kernels.get(device)
        if k is None:
            compiled = self._dispatcher.compile(self._argtypes)
            k = self._kernels[device] = compiled._codelibrary.get_cufunc().kernel
        return k

    def __call__(self, device: int, stream: Any, blocks: int, threads: int, *params: Any) -> None:
        """Launch through ``cuda.core`` (floats as doubles, ints as 64 bits)."""
        from cuda.core import launch

        args = [ctypes.c_double(v) if isinstance(v, float) else v for v in params]
        launch(stream, _config(blocks, threads), self.kernel(device), *args)


class Prepared:
    """A launch of ``launcher`` on ``device`` whose parameters live in one
    buffer: set ``buf[i]`` for the slots that change, then :meth:`launch`.

    Not for concurrent use from several threads (the caller holds a lock).
    """

    def __init__(self, launcher: Launcher, device: int, params: tuple) -> None:
        self.launcher, self.device = launcher, device
        self.buf = (ctypes.c_int64 * len(params))(*slots(params))
        base = ctypes.addressof(self.buf)
        self._ptrs = (ctypes.c_void_p * len(params))(*(base + 8 * i for i in range(len(params))))
        self._params = params
        self._raw = _cu_launch()
        self._func = int(launcher.kernel(device).handle) if self._raw is not None else 0
        self.lock = threading.Lock()

    def launch(self, stream_handle: int, blocks: int, threads: int) -> None:
        """Launch with the buffer's current parameters on the stream ``stream_handle``."""
        if self._raw is not None:
            err = self._raw(self._func, blocks, 1, 1, threads, 1, 1, 0, stream_handle, self._ptrs, None)
            if err == 0:
                return
            self._raw = None  # the driver refused this entry point: use cuda.core from now on
        values = [struct.unpack("<d", struct.pack("<q", v))[0] if isinstance(p, float) else v
                  for v, p in zip(self.buf, self._params)]
        self.launcher(self.device, stream_object(stream_handle), blocks, threads, *values)


def stream_object(handle: int | None) -> Any:
    """A numba stream object for a CUDA stream handle (None, 0 or 1: the
    legacy default stream, 2: the per-thread default stream; the simulator
    has only the default stream)."""
    from numba import config, cuda

    if handle in (None, 0, 1) or config.ENABLE_CUDASIM:
        return cuda.legacy_default_stream()
    if handle == 2:
        return cuda.per_thread_default_stream()
    return cuda.external_stream(handle)
