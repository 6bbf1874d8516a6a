"""Calling the parallel CPU kernels: serially below a size where threads cost
more than they save, on Numba's 'workqueue' threading layer unless the user
chose one.

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
from typing import Any

import numba

from ..cache import first_use

__all__ = ["PARALLEL_MIN", "launch", "prefer_workqueue"]

#: Below this many elements a kernel runs on the calling thread alone: waking
#: the other workers costs more than the work (measured on 2 cores: 3 us per
#: call on one thread, 10+ ms on two while another process holds a core).
PARALLEL_MIN = 1 << 17


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


def launch(kernel: Any, n: int, *args: Any) -> Any:
    """Call a parallel kernel over ``n`` elements, serially when ``n`` is small
    (and say so first if it is about to compile: floatsim.cache.first_use)."""
    first_use(kernel)
    if n >= PARALLEL_MIN:
        return kernel(*args)
    prev = numba.get_num_threads()
    if prev == 1:
        return kernel(*args)
    numba.set_num_threads(1)
    try:
        return kernel(*args)
    finally:
        numba.set_num_threads(prev)
