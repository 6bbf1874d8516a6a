"""Launch settings and grids of the GPU kernels, and launching a compiled
kernel without numba-cuda's per-call work.

**Settings.** Every GPU kernel is a grid-stride loop, so any grid covers any
size; how many threads a block and blocks a multiprocessor each kind of
kernel uses, and when the block kernels split large blocks into chunks, is
one frozen :class:`Settings` value read at every launch and kept in every
per-call plan's key (:mod:`.plans`), so a change (tests shrink the grids to
run the simulator on a few threads: :func:`configure`) can never leave a
stale plan in use.

**Launching.**
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
    >>> from floatsim.gpu.launch import array1d, slots, settings
    >>> settings().elementwise
    Grid(threads=256, blocks_per_sm=32, max_threads=256, multiple=1)
    >>> array1d(0x7F0000, 10, 4)
    (0, 0, 10, 4, 8323072, 10, 4)
    >>> slots((1, -1, 0.5))  # a double travels as its bit pattern
    [1, -1, 4602678819172646912]
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import struct
import threading
from collections.abc import Iterator
from typing import Any

from ..cache import first_use
from . import SIMULATOR

__all__ = ["Grid", "Launcher", "Prepared", "Settings", "array1d", "configure", "current_device",
           "grid", "launch_items", "settings", "slots", "sm_count", "stream_object", "use_settings"]


# ---- settings --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Grid:
    """The grid of one kind of kernel: ``threads`` a CUDA block (capped at
    ``max_threads``, which the kernel's shared memory or the hardware sets;
    a multiple of ``multiple``), at most ``blocks_per_sm`` CUDA blocks a
    multiprocessor."""

    threads: int
    blocks_per_sm: int
    max_threads: int
    multiple: int = 1

    def __post_init__(self) -> None:
        t = min(self.threads, self.max_threads)
        if t < 1 or self.blocks_per_sm < 1 or t % self.multiple:
            raise ValueError(f"{self}: threads must be a positive multiple of {self.multiple} "
                             f"(up to {self.max_threads}) and blocks_per_sm positive")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every GPU launch setting (see the module docstring).  The grids were
    tuned on an H100: 128 or 256 threads and 16 or 32 blocks per
    multiprocessor ran within 2% of each other for the warp kernels."""

    #: element-wise kernels (their fast kernel's shared words cap it at 256)
    elementwise: Grid = Grid(256, 32, 256)
    #: block kernels, a thread a block or chunk (gpu.blocks)
    blocks: Grid = Grid(128, 16, 1024)
    #: warp block kernels (gpu.blocks_warp): whole warps
    warp: Grid = Grid(256, 32, 256, 32)
    #: pack / unpack (no shared memory: the hardware limit)
    pack: Grid = Grid(256, 16, 1024)
    #: blocks of more elements than this are cut into chunks, a thread each
    split_min_block: int = 4096
    #: the chunk length of split blocks
    split_chunk: int = 1024


_SETTINGS = Settings()


def settings() -> Settings:
    """The launch settings in force."""
    return _SETTINGS


def configure(**changes: Any) -> Settings:
    """Replace launch settings (fields of :class:`Settings`) for this process;
    returns the previous settings.  Results never depend on them."""
    global _SETTINGS
    prev = _SETTINGS
    _SETTINGS = dataclasses.replace(_SETTINGS, **changes)
    return prev


@contextlib.contextmanager
def use_settings(**changes: Any) -> Iterator[Settings]:
    """:func:`configure` for the duration of a ``with`` block."""
    global _SETTINGS
    prev = configure(**changes)
    try:
        yield _SETTINGS
    finally:
        _SETTINGS = prev


def current_device() -> int:
    """The current CUDA device's ordinal (0 under the simulator)."""
    if SIMULATOR:
        return 0
    from numba import cuda

    return int(cuda.get_current_device().id)


@functools.cache
def sm_count(device: int) -> int:
    """Multiprocessors of CUDA device ``device`` (1 under the simulator)."""
    if SIMULATOR:
        return 1
    from numba import cuda

    with cuda.gpus[device]:
        return int(cuda.get_current_device().MULTIPROCESSOR_COUNT)


def grid(items: int, g: Grid, device: int) -> tuple[int, int]:
    """(CUDA blocks, threads a block) of a grid-stride launch over ``items``
    work items (a thread each per step) on ``device``."""
    nthreads = min(g.threads, g.max_threads)
    return max(1, min(-(-items // nthreads), sm_count(device) * g.blocks_per_sm)), nthreads


def launch_items(kernel: Any, items: int, stream: Any, g: Grid, *args: Any) -> None:
    """Launch a grid-stride ``kernel`` over ``items`` work items on ``stream``
    (a numba stream of the current device) with grid ``g``."""
    blocks, nthreads = grid(items, g, current_device())
    first_use(kernel)
    kernel[blocks, nthreads, stream](*args)


# ---- launching without numba-cuda's per-call work ----------------------------------------


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
            first_use(self._dispatcher)
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
    from numba import cuda

    if handle in (None, 0, 1) or SIMULATOR:
        return cuda.legacy_default_stream()
    if handle == 2:
        return cuda.per_thread_default_stream()
    return cuda.external_stream(handle)
