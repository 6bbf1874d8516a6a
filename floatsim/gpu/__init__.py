"""The GPU backend: the only package that imports ``numba.cuda``.

``floatsim.cast`` and ``floatsim.blocks`` send arrays that live on a GPU
here (:func:`floatsim.arrays.is_device_array`); nothing imports this package
before that, so ``import floatsim`` needs no CUDA libraries.  Modules:

========================  ==================================================
``interop``               GPU arrays of any library (torch, CuPy, Numba, JAX,
                          DLPack) as Numba device arrays; streams; outputs
``launch``                grids, launch settings, and launching a compiled
                          kernel without numba-cuda's per-call work
``elementwise``           the element-wise cast kernels
``vector_io``             16-byte vector loads and stores
``blocks``, ``blocks_warp``  the block-format kernels
``pack``                  packing 4- and 6-bit codes
``tables``                device copies of the decode and encode tables
``dispatch``              quantize / encode / decode of GPU arrays
``blocks_dispatch``       floatsim.blocks on GPU arrays
``plans``                 per-call plans: the fast host path for torch tensors
========================  ==================================================

The algorithm is :mod:`floatsim.kernels`' (compiled a second time by
numba-cuda); what is here is only what is particular to the GPU.

Example (imports nothing from CUDA):
    >>> import floatsim.gpu as gpu
    >>> isinstance(gpu.SIMULATOR, bool)
    True
"""

from __future__ import annotations

import importlib.util

from numba import config as _config

__all__ = ["SIMULATOR", "require_numba_cuda"]

#: Whether numba.cuda is the CUDA simulator (NUMBA_ENABLE_CUDASIM=1).  Read
#: once: numba.cuda itself decides it when it is first imported.
SIMULATOR = bool(_config.ENABLE_CUDASIM)

if importlib.util.find_spec("numba_cuda") is not None:
    from ..cache import install_cuda

    install_cuda()  # before any kernel is decorated: floatsim's cache folder


def require_numba_cuda() -> None:
    """Raise a clear ImportError unless numba-cuda is installed.

    numba itself still ships a ``numba.cuda`` stub that imports but lacks
    most of the API, so a GPU array would otherwise fail deep inside with
    an AttributeError."""
    if importlib.util.find_spec("numba_cuda") is None:
        raise ImportError(
            "floatsim got a GPU array, but numba-cuda is not installed: "
            "pip install 'floatsim[cuda]' (or pip install 'numba-cuda[cu13]')"
        )
