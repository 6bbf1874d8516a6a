"""The CPU backend: parallel Numba loops over arrays (no Python per element).

``elementwise`` maps the scalar cast of :mod:`floatsim.kernels` over flat
arrays, ``blocks`` the per-block steps over rows of blocks, ``tables`` builds
the code and value tables the fast encode and decode read (also on the GPU),
``launch`` calls a kernel serially when it is small.  Importing this package
imports numba; nothing here knows about GPUs.  The front doors
(:mod:`floatsim.cast`, :mod:`floatsim.blocks`) import it at their first call.
"""

from ..cache import install_cpu

install_cpu()  # before any kernel is decorated: floatsim's cache folder (floatsim/cache.py)
