"""Calling the parallel CPU kernels: below a size where threads cost more
than they save, a serial compile of the same kernel on the calling thread;
above it, on Numba's 'workqueue' threading layer unless the user chose one.

Numba's default layer is OpenMP where it is installed; its worker threads
spin for a while after each kernel, waiting for the next one.  Any other
work on the same cores then competes with them: torch's own operators
between two casts of a training step (a small GPT's step took 0.75 s
against 0.08 s on 2 cores), numpy's BLAS, other processes.  The
'workqueue' layer's threads sleep at once.  Measured on the 2-core machine
(docs/development.md): ``fs.quantize`` of 2**20 float32 values 4-6 ms
against 24-31 ms, of 2**24 values 67-102 ms against 80-143 ms, interleaved
runs under the same load.  :func:`prefer_workqueue` runs when this module
is imported (at the first CPU cast, before any kernel runs); a layer chosen
by the user wins: ``NUMBA_THREADING_LAYER`` in the environment, a value set
in ``numba.config.THREADING_LAYER``, or a parallel Numba function that ran
before.

**Small arrays** (fewer than :data:`PARALLEL_MIN` elements) run on the
calling thread, through :func:`serial`: the kernel's own Python function
compiled without ``parallel`` (``prange`` is then ``range``), so the same
code and the same bits.  Setting Numba's thread count to 1 is not enough: a
``parallel=True`` kernel on the workqueue layer still hands its one chunk
to a worker thread and waits for it, and that wake-up is what a small call
costs (measured on the 2-core machine under load: 94-214 us per call of a
1024-element e4m3 cast against 4 us serially).  Each twin is cached on disk
under its own name (the kernel's with ``_serial``), so it never shares a
cache entry with the parallel kernel; ``floatsim warmup`` compiles both.

Example:
    >>> import numpy as np
    >>> from floatsim.cpu.launch import launch
    >>> from floatsim.cpu.elementwise import lookup_flat
    >>> out = np.empty(3, np.uint32)
    >>> launch(lookup_flat, 3, np.array([2, 0, 1]), np.array([7, 8, 9], np.uint32), out)
    >>> out.tolist()
    [9, 7, 8]
"""

from __future__ import annotations

import os
import types
from typing import Any

import numba

from ..cache import first_use

__all__ = ["PARALLEL_MIN", "launch", "prefer_workqueue", "serial"]

#: Below this many elements a kernel runs on the calling thread alone: waking
#: the other workers costs more than the work (measured on 2 cores: 3 us per
#: call on one thread, 10+ ms on two while another process holds a core).
PARALLEL_MIN = 1 << 17

_SERIAL: dict[Any, Any] = {}


def prefer_workqueue() -> bool:
    """Select Numba's 'workqueue' threading layer unless a layer was chosen
    already (see the module docstring); True where it did.

    Example:
        >>> import numba
        >>> prefer_workqueue() or numba.config.THREADING_LAYER != "default"
        True
    """
    if "NUMBA_THREADING_LAYER" in os.environ or numba.config.THREADING_LAYER != "default":
        return False
    try:
        numba.threading_layer()       # raises until a parallel kernel (or pool) has started
    except ValueError:
        numba.config.THREADING_LAYER = "workqueue"
        return True
    return False


prefer_workqueue()


def serial(kernel: Any) -> Any:
    """The serial twin of a ``parallel=True`` Numba kernel: its Python
    function compiled with the same options but ``parallel`` (made once,
    cached on disk as ``<name>_serial``; see the module docstring).

    Example:
        >>> from floatsim.cpu.elementwise import lookup_flat
        >>> twin = serial(lookup_flat)
        >>> twin is serial(lookup_flat), twin.py_func.__qualname__, twin.targetoptions.get("parallel")
        (True, 'lookup_flat_serial', None)
    """
    twin = _SERIAL.get(kernel)
    if twin is None:
        fn = kernel.py_func
        clone = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial",
                                   fn.__defaults__, fn.__closure__)
        clone.__qualname__ = fn.__qualname__ + "_serial"  # its own cache files
        clone.__doc__ = fn.__doc__
        opts = {k: v for k, v in kernel.targetoptions.items() if k not in ("parallel", "nopython")}
        twin = _SERIAL.setdefault(kernel, numba.njit(cache=True, **opts)(clone))
    return twin


def launch(kernel: Any, n: int, *args: Any) -> Any:
    """Call a parallel kernel over ``n`` elements, its :func:`serial` twin when
    ``n`` is small (and say so first if it is about to compile:
    floatsim.cache.first_use)."""
    if n < PARALLEL_MIN:
        kernel = serial(kernel)
    first_use(kernel)
    return kernel(*args)
