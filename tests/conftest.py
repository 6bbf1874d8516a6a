"""pytest configuration for the test suite."""

import importlib.util
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
