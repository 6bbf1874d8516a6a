"""pytest configuration for the test suite."""

import importlib.util

# Scripts run by tests in a subprocess (the CUDA simulator must be enabled
# before numba.cuda is imported) or by hand on a GPU machine: never import them
# during collection (--doctest-modules would, and they exit when imported).
collect_ignore = [
    "backend_worker.py",
    "cuda_sim_check.py", "cuda_sim_blocks.py", "cuda_sim_pack.py", "gpu_check.py", "gpu_blocks_check.py",
    "gpu_torch_check.py",
    "cuda_sim_mac.py", "gpu_mac_check.py",
]
# Helpers of the torch adapter's tests import torch: without it, leave them out
# of --doctest-modules collection (the test files themselves importorskip torch).
if importlib.util.find_spec("torch") is None:
    collect_ignore += ["torch_support.py", "torch_backend.py"]
