"""The CUDA GEMM of floatsim.mac (floatsim/gpu/mac.py) without a GPU.

* Under Numba's CUDA simulator, in a subprocess: tests/cuda_sim_mac.py
  compares it bit for bit with the CPU GEMM (tiles shrunk so that partial
  tiles, several windows and groups longer than a window all occur).
* Its PTX for compute capability 9.0 (an sm_90 device stood in where there
  is no GPU, as tests/cuda_support.py does), with the checks every kernel
  passes: sm_90 target, no local-memory spills, no calls left, no unsigned
  conversion to float, no fused multiply-add.  Building it takes 20-60 s of
  CPU here, hence ``slow``.
"""

from __future__ import annotations

import pytest
from cuda_support import build_ptx, ptx_params, run_simulator


@pytest.mark.parametrize("groups", [("windows", "api"), ("large",)], ids=["windows+api", "large"])
def test_simulator_matches_cpu(groups: tuple[str, ...]) -> None:
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed")
    run_simulator("cuda_sim_mac.py", *groups)


def _signatures() -> list:
    from floatsim.gpu.mac import ptx_signatures

    return ptx_signatures()


@pytest.mark.slow
@pytest.mark.parametrize("case", ptx_params(_signatures))
def test_gemm_builds_for_sm90(case: tuple) -> None:
    ptx = build_ptx(case)
    assert "bar.sync" in ptx  # the shared-memory windows are synchronised
