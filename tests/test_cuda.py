"""The CUDA kernels (floatsim/gpu/elementwise.py) and GPU dispatch without a GPU.

* Under Numba's CUDA simulator, in subprocesses (the simulator must be on
  before ``numba.cuda`` is imported): tests/cuda_sim_check.py runs the kernels
  through the public API on simulated device arrays and compares them bit for
  bit with the CPU path (formats, every rounding mode, seeded and explicit-bit
  SR, encode/decode, dtypes, strides, out=).
* PTX for compute capability 9.0 (``numba.cuda.compile_ptx``, needs NVVM but
  no GPU) for every kernel variant ``ptx_signatures()`` lists, so that a
  kernel which would not build for real hardware fails CI.
* ``import floatsim`` and CPU casts never import ``numba.cuda``.
* ``@pytest.mark.cuda`` tests run only where a GPU is present (the full GPU
  check is tests/gpu_check.py, run by hand on a GPU machine).
"""

from __future__ import annotations

import numpy as np
import pytest
from cuda_support import assert_imports_no_gpu_library, build_ptx, ptx_params, run_simulator

import floatsim as fs


@pytest.mark.parametrize("group", ["fast", "alignment", "general", "codes", "api"])
def test_simulator_matches_cpu(group: str) -> None:
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed")
    run_simulator("cuda_sim_check.py", group)


def _signatures() -> list:
    from floatsim.gpu.elementwise import ptx_signatures

    return ptx_signatures()


@pytest.mark.parametrize("case", ptx_params(_signatures))
def test_kernel_builds_for_sm90(case: tuple) -> None:
    label = case[0]
    ptx = build_ptx(case)
    # one Philox evaluation per group of four elements (10 rounds, 2
    # multiplies a round, each _jit.mul_wide_u32's tagged mul.wide.u32), and
    # none without seeded SR
    philox_muls = ptx.count("// mul_wide_u32")
    if "quantize32" in label:
        expected = 20 if "_r6_" in label and "_m1" in label else 0
        assert philox_muls == expected, f"{label}: {philox_muls} Philox multiplies, expected {expected}"
    if label.startswith("quantize32") and "_fl" in label:
        # the float route rounds by directed adds of 2**23 (_jit's inline PTX,
        # not LLVM's floor/ceil), four elements a thread in the vector form
        assert ptx.count("0f4B000000;") >= 8, label
        if "_r6_" in label:
            assert ptx.count("cvt.rpi.u32.f32") >= 4, label


def _hot_signatures() -> list:
    """The signatures floatsim.gpu.plans launches with (it bypasses Numba's
    argument typing, so its own types must name a kernel that builds)."""
    from floatsim.gpu import elementwise as K
    from floatsim.gpu.plans import argtypes, decode_argtypes, encode_argtypes

    return [
        ("hot_fast_f32", K.quantize32_kernel(0, K.K_F32, K.K_F32, 0).py_func, argtypes(True, 4, 17)),
        ("hot_fast_bf16_sr", K.quantize32_kernel(6, K.K_BF16, K.K_BF16, 1).py_func, argtypes(True, 2, 17)),
        ("hot_general_f64", K.quantize_kernel.py_func, argtypes(False, 8, 21)),
        ("hot_encode_f32_sr", K.encode32_kernel(6, K.K_F32, 1).py_func, encode_argtypes(4, 1, 17)),
        ("hot_encode_bf16", K.encode32_kernel(0, K.K_BF16, 0, False).py_func, encode_argtypes(2, 2, 17)),
        ("hot_decode_f32", K.decode_lut_kernel(True).py_func, decode_argtypes(4)),
        ("hot_decode_bf16", K.decode_lut_kernel(True).py_func, decode_argtypes(2)),
    ]


@pytest.mark.parametrize("case", ptx_params(_hot_signatures))
def test_hot_path_signatures_build_for_sm90(case: tuple) -> None:
    build_ptx(case)


def test_import_does_not_load_numba_cuda() -> None:
    assert_imports_no_gpu_library(
        "import sys, numpy as np, floatsim as fs\n"
        "fs.quantize(np.ones(3, np.float32), 'e4m3'); fs.encode(np.ones(3), 'e2m1')\n"
        "from floatsim.arrays import is_device_array\n"
        "assert is_device_array(np.ones(2)) is False\n"
    )


def test_host_arrays_are_not_device_arrays() -> None:
    from floatsim.arrays import is_device_array

    for x in (np.zeros(3), np.float32(1), [1.0], 2.0, None, memoryview(b"ab")):
        assert not is_device_array(x)


def test_cuda_stream_argument_is_checked() -> None:
    from floatsim.gpu.interop import stream_handle

    assert stream_handle(None) is None and stream_handle(7) == 7
    with pytest.raises(TypeError, match="cuda_stream="):
        stream_handle("default")
    with pytest.raises(ValueError, match="not a stream handle"):
        stream_handle(-1)


def _gpu() -> bool:
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001
        return False


@pytest.mark.cuda
@pytest.mark.skipif(not _gpu(), reason="no CUDA GPU")
def test_gpu_matches_cpu() -> None:
    from numba import cuda

    rng = np.random.default_rng(0)
    x = rng.integers(0, 2**32, 1 << 20, dtype=np.uint32).view(np.float32)
    for fmt in ("e4m3", "e5m2", "e2m1", "bf16"):
        for mode in fs.Rounding:
            kw = {"seed": 5} if mode is fs.Rounding.STOCHASTIC else {}
            got = fs.quantize(cuda.to_device(x), fmt, mode, **kw).copy_to_host()
            assert np.array_equal(got.view(np.uint32), fs.quantize(x, fmt, mode, **kw).view(np.uint32))


def test_intrinsics_tell_the_gpu_target_by_its_package() -> None:
    """kernels.intrinsics picked the GPU code path by the class name
    "CUDATargetContext", which a rename in numba-cuda would have broken silently."""
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed")
    from numba.core.cpu import CPUContext
    from numba.cuda.target import CUDATargetContext

    from floatsim.kernels.intrinsics import is_gpu_target

    assert is_gpu_target(CUDATargetContext.__new__(CUDATargetContext))
    assert not is_gpu_target(CPUContext.__new__(CPUContext))
