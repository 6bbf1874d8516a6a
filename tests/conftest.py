"""pytest configuration for the test suite."""

import importlib.util
import os
from pathlib import Path

# Scripts run by tests in a subprocess (the CUDA simulator must be enabled
# before numba.cuda is imported) or by hand on a GPU machine: never import them
# during collection (--doctest-modules would, and they exit when imported).
# By pattern, so that a new cuda_sim_*.py or gpu_*.py script is left out too.
_HERE = Path(__file__).parent
collect_ignore = ["backend_worker.py"] + sorted(
    p.name for pattern in ("cuda_sim_*.py", "gpu_*.py") for p in _HERE.glob(pattern))
# Helpers of the torch adapter's tests import torch: without it, leave them out
# of --doctest-modules collection (the test files themselves importorskip torch).
if importlib.util.find_spec("torch") is None:
    collect_ignore += ["torch_support.py", "torch_backend.py"]

# JAX's persistent compilation cache, next to Numba's (~/.cache/floatsim/jax):
# the JAX tests compile a few hundred XLA programs (seconds each for a training
# step); with the cache a later run, and a second pytest-xdist worker compiling
# the same program, load them from disk.  Its keys hash the program and the
# jax/XLA versions and flags, so no stale entry is used.  Set before any test
# imports jax; an exported JAX_COMPILATION_CACHE_DIR wins (empty: no cache).
_XDG = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(_XDG, "floatsim", "jax"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")
