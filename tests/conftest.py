"""pytest configuration for the test suite."""

# Scripts run by tests in a subprocess (the CUDA simulator must be enabled
# before numba.cuda is imported) or by hand on a GPU machine: never import them
# during collection (--doctest-modules would, and they exit when imported).
collect_ignore = [
    "cuda_sim_check.py", "cuda_sim_blocks.py", "cuda_sim_pack.py", "gpu_check.py", "gpu_blocks_check.py",
    "cuda_sim_mac.py", "gpu_mac_check.py",
]
