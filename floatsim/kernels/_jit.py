"""The one decorator for scalar routines shared by the CPU and CUDA kernels.

A routine decorated here is an ordinary ``numba.njit`` function: the CPU
kernels call it directly, and ``numba.cuda`` compiles the same function for
the GPU when a CUDA kernel calls it, so the algorithm exists once.
"""

from __future__ import annotations

import numba

#: njit with on-disk caching; no fastmath (it would break exactness).
scalar_jit = numba.njit(cache=True, nogil=True, inline="always")
