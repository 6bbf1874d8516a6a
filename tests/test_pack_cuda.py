"""pack / unpack on GPU arrays (floatsim/gpu/pack.py) without a GPU.

* Under Numba's CUDA simulator, in a subprocess (the simulator must be on
  before ``numba.cuda`` is imported): tests/cuda_sim_pack.py packs and
  unpacks simulated device arrays through ``fs.pack`` / ``fs.unpack`` and
  compares them byte for byte with the CPU path, for every width 1..8.
* PTX for compute capability 9.0 (``numba.cuda.compile_ptx``: NVVM, no GPU)
  of every kernel ``ptx_signatures()`` lists.
* ``import floatsim`` and CPU pack/unpack never import ``numba.cuda``.
"""

from __future__ import annotations

import re

import pytest
from cuda_support import assert_imports_no_gpu_library, build_ptx, ptx_params, run_simulator


def test_simulator_matches_cpu() -> None:
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed")
    run_simulator("cuda_sim_pack.py")


def _signatures() -> list:
    from floatsim.gpu.pack import ptx_signatures

    return ptx_signatures()


@pytest.mark.parametrize("case", ptx_params(_signatures))
def test_kernel_builds_for_sm90(case: tuple) -> None:
    ptx = build_ptx(case)
    assert not re.search(r"\bf(32|64)\b", ptx.split(".entry", 1)[1]), f"{case[0]}: float arithmetic"


def test_cpu_pack_does_not_load_numba_cuda() -> None:
    assert_imports_no_gpu_library(
        "import sys, numpy as np, floatsim as fs\n"
        "p = fs.pack(np.arange(5, dtype=np.uint8), 'e2m1'); fs.unpack(p, 'e2m1', 5)\n"
    )
