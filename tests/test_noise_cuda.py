"""Pseudo-quantization noise's CUDA kernels without a GPU: the simulator
(tests/cuda_sim_noise.py, bit for bit against the CPU) and PTX for sm_90."""

from __future__ import annotations

import pytest
from cuda_support import build_ptx, ptx_params, run_simulator


@pytest.mark.parametrize("group", ["api", "segments"])
def test_simulator_matches_cpu(group: str) -> None:
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed")
    run_simulator("cuda_sim_noise.py", group)


def _signatures() -> list:
    from floatsim.gpu.noise import ptx_signatures

    return ptx_signatures()


@pytest.mark.parametrize("case", ptx_params(_signatures))
def test_noise_kernels_build_for_sm90(case: tuple) -> None:
    ptx = build_ptx(case)
    if case[0].startswith("noise"):
        # three Philox evaluations a group of four at most (noise, annealing, SR words)
        assert ptx.count("// mul_wide_u32") == 60, case[0]
