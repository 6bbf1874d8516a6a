"""What kind of array a caller passed: host (numpy and anything numpy reads)
or GPU memory.  Cheap, and imports nothing: the front doors ask it on every
call before deciding whether the GPU backend (:mod:`floatsim.gpu`) is needed.

Part of floatsim's internal API.

Example:
    >>> import numpy as np
    >>> is_device_array(np.zeros(3)), is_device_array([1.0, 2.0])
    (False, False)
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["is_device_array"]

_DLPACK_CUDA = (2, 13)  # kDLCUDA, kDLCUDAManaged
_HOST_TYPES = (np.ndarray, np.generic, list, tuple, int, float, complex, bool)


def is_device_array(x: Any) -> bool:
    """Whether ``x`` is an array in GPU memory (cheap; imports nothing).

    Example:
        >>> is_device_array([1.0, 2.0]), is_device_array(np.float32(1))
        (False, False)
    """
    if isinstance(x, _HOST_TYPES) or x is None:
        return False
    t = type(x)
    if t.__module__.startswith("torch"):
        return bool(getattr(x, "is_cuda", False))
    if getattr(t, "__cuda_ndarray__", False):  # Numba device arrays (also simulated ones)
        return True
    if hasattr(t, "__cuda_array_interface__"):
        try:
            return x.__cuda_array_interface__ is not None
        except (AttributeError, TypeError, RuntimeError):
            pass
    if hasattr(t, "__dlpack_device__"):
        try:
            return int(x.__dlpack_device__()[0]) in _DLPACK_CUDA
        except (AttributeError, TypeError, RuntimeError, ValueError, BufferError):
            return False
    return False
