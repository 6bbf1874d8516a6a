"""Calling the parallel CPU kernels: serially below a size where threads cost
more than they save.

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

from typing import Any

import numba

from ..cache import first_use

__all__ = ["PARALLEL_MIN", "launch"]

#: Below this many elements a kernel runs on the calling thread alone: waking
#: the other workers costs more than the work (measured on 2 cores: 3 us per
#: call on one thread, 10+ ms on two while another process holds a core).
PARALLEL_MIN = 1 << 17


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
