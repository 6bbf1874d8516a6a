"""Block formats on the GPU (floatsim/gpu/blocks.py, floatsim/gpu/blocks_dispatch.py)
without a GPU.

* Under Numba's CUDA simulator, in subprocesses (the simulator must be on
  before ``numba.cuda`` is imported): tests/cuda_sim_blocks.py runs
  ``fs.blocks.quantize`` / ``encode`` on simulated device arrays and compares
  them bit for bit with the CPU path (every named format, rounding modes,
  seeded SR, input and output dtypes, layouts, special blocks, errors).
* PTX for compute capability 9.0 (``numba.cuda.compile_ptx``, needs NVVM but
  no GPU) for every kernel variant ``blocks_cuda.ptx_signatures()`` and
  ``blocks_warp.ptx_signatures()`` list;
  the variants beyond one of each kind are marked slow (5 to 45 s each on a
  2-core machine; the value-scale kernels are the slow ones).
* ``import floatsim`` and CPU block casts never import ``numba.cuda``.

The hardware check is tests/gpu_blocks_check.py, run by hand on a GPU machine.
"""

from __future__ import annotations

import numpy as np
import pytest
from cuda_support import (
    assert_imports_no_gpu_library,
    build_ptx,
    nvvm_reason,
    ptx_params,
    run_simulator,
)

import floatsim as fs

#: One variant of each kernel: built by the default test run.
QUICK = {"mx32_r0_i1", "mx32_r6_i3", "mxw32_r0_i1", "mxw32_r0_i1_v", "mxw32_r6_i1_v", "mxw32_r0_i1_nb_v",
         "vw32_r0_i1_nb_v", "block_scales_i1", "block_quantize_i1_o1",
         "block_encode_i1_uint8_uint8", "stats_i1", "stats_init", "tensor_amax_i1", "tensor_scale"}


@pytest.mark.parametrize("group", ["fast", "warp", "general", "layouts", "api", "split"])
def test_simulator_matches_cpu(group: str) -> None:
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed")
    pytest.importorskip("ml_dtypes", reason="the simulator check uses bfloat16")
    run_simulator("cuda_sim_blocks.py", group, timeout=900)


def _signatures() -> list:
    from floatsim.gpu import blocks as blocks_cuda
    from floatsim.gpu import blocks_warp

    return blocks_cuda.ptx_signatures() + blocks_warp.ptx_signatures()


def test_quick_set_is_listed() -> None:
    if nvvm_reason() is not None:
        pytest.skip("numba-cuda / NVVM not usable")
    assert QUICK <= {case[0] for case in _signatures()}


@pytest.mark.parametrize("case", ptx_params(_signatures, slow=lambda label: label not in QUICK))
def test_block_kernel_builds_for_sm90(case: tuple) -> None:
    label = case[0]
    ptx = build_ptx(case)
    # (build_ptx also refuses a call: every helper is inlined)
    if label.startswith(("mxw32", "vw32")):  # the block amax is a butterfly of warp shuffles
        assert "shfl.sync.bfly" in ptx, f"{label}: no warp shuffle"
    # (build_ptx also refuses fused multiply-adds: blocksteps.mul_rn keeps the
    # products of div_odd's exact residual and of the 4-over-6 sums apart)


def test_import_does_not_load_numba_cuda() -> None:
    assert_imports_no_gpu_library(
        "import sys, numpy as np, floatsim as fs\n"
        "x = np.ones((2, 32), np.float32)\n"
        "fs.blocks.quantize(x, 'mxfp8_e4m3'); fs.blocks.encode(x, 'nvfp4')\n"
    )


def test_geometry_of_a_row_layout() -> None:
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed")
    from floatsim.gpu import blocks as BK

    # (4, 100) in blocks of 32 along the last axis: 4 rows x 4 blocks, the last one 4 long
    g = BK.geometry((4, 100), (4, 4), (1,), (32,))
    assert BK.n_blocks(g) == 16
    xo, so, n0, n1, n2 = BK.block_origin(7, g)  # row 1, block 3
    assert (xo, so, n0, n1, n2) == (196, 7, 1, 1, 4)


def test_mul_rn_is_a_plain_product_on_the_cpu() -> None:
    import numba

    from floatsim.kernels.blocksteps import mul_rn

    f = numba.njit(lambda a, b: mul_rn(a, b))
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(100), rng.standard_normal(100) * 1e300
    assert all(f(x, y) == x * y for x, y in zip(a, b))
    assert fs.blocks.quantize(np.array([[1.0, 3.0]]), "nvfp4_4over6").shape == (1, 2)
