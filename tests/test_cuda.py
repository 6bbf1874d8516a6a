"""The CUDA kernels (floatsim/kernels/cuda.py) and GPU dispatch without a GPU.

* Under Numba's CUDA simulator, in subprocesses (the simulator must be on
  before ``numba.cuda`` is imported): tests/cuda_sim_check.py runs the kernels
  through the public API on simulated device arrays and compares them bit for
  bit with the CPU path (formats, every rounding mode, seeded and explicit-bit
  SR, encode/decode, dtypes, strides, out=).
* PTX for compute capability 9.0 (``numba.cuda.compile_ptx``, needs NVVM but
  no GPU) for every kernel variant ``ptx_signatures()`` lists, so that a
  kernel which would not build for real hardware fails CI (the general
  kernels' extra dtype variants, 5 s each, are marked slow).
* ``import floatsim`` and CPU casts never import ``numba.cuda``.
* ``@pytest.mark.cuda`` tests run only where a GPU is present (the full GPU
  check is tests/gpu_check.py, run by hand on a GPU machine).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import floatsim as fs

ROOT = Path(__file__).resolve().parents[1]


def _nvvm_reason() -> str | None:
    """Why PTX cannot be built here (None: it can)."""
    try:
        from numba import cuda  # noqa: F401
        from numba.cuda.cudadrv import nvvm

        nvvm.NVVM()
    except Exception as e:  # noqa: BLE001 - any failure means: skip, and say why
        return f"numba-cuda / NVVM not usable: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
    return None


def _sim_env() -> dict[str, str]:
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


@pytest.mark.parametrize("group", ["fast", "general", "codes", "api"])
def test_simulator_matches_cpu(group: str) -> None:
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed")
    r = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "cuda_sim_check.py"), group],
        env=_sim_env(), capture_output=True, text=True, timeout=600,
    )
    assert r.returncode == 0, f"simulator check {group!r} failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    assert "0 failures" in r.stdout


def _ptx_cases() -> list:
    reason = _nvvm_reason()
    if reason is not None:
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-nvvm")]
    from floatsim.kernels.cuda import ptx_signatures

    quick = {case[0] for case in ptx_signatures(everything=False)}
    return [
        pytest.param(case, id=case[0], marks=() if case[0] in quick else pytest.mark.slow)
        for case in ptx_signatures()
    ]


@pytest.mark.parametrize("case", _ptx_cases())
def test_kernel_builds_for_sm90(case: tuple) -> None:
    from numba import cuda

    label, fn, sig = case
    ptx, _ = cuda.compile_ptx(fn, sig, cc=(9, 0))
    assert re.search(r"^\.target sm_90\b", ptx, re.M), f"{label}: PTX does not target sm_90"
    assert ".entry" in ptx
    assert "ld.local" not in ptx and "st.local" not in ptx, f"{label}: spills to local memory"
    # integers stay integers: a uint64 load unified with an int literal becomes float64
    assert not re.search(r"cvt\.\w+\.f(32|64)\.u64", ptx), f"{label}: uint64 converted to float"
    # one Philox evaluation per group of four elements (10 rounds, 2 multipliers a round)
    philox_muls = len(re.findall(r"\b3528531795\b|0xD2511F53|-759439501\b", ptx, re.I))
    if "quantize32" in label:
        assert philox_muls <= 10, f"{label}: {philox_muls} Philox multiplies, expected one call"


def test_import_does_not_load_numba_cuda() -> None:
    code = (
        "import sys, numpy as np, floatsim as fs\n"
        "fs.quantize(np.ones(3, np.float32), 'e4m3'); fs.encode(np.ones(3), 'e2m1')\n"
        "assert fs.cuda_dispatch.is_device_array(np.ones(2)) is False\n"
        "bad = [m for m in sys.modules if m.startswith(('numba.cuda', 'numba_cuda', 'torch', 'cupy', 'jax'))]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]


def test_host_arrays_are_not_device_arrays() -> None:
    from floatsim.cuda_dispatch import is_device_array

    for x in (np.zeros(3), np.float32(1), [1.0], 2.0, None, memoryview(b"ab")):
        assert not is_device_array(x)


def test_cuda_stream_argument_is_checked() -> None:
    from floatsim.cuda_dispatch import _handle

    assert _handle(None) is None and _handle(7) == 7
    with pytest.raises(TypeError, match="cuda_stream="):
        _handle("default")
    with pytest.raises(ValueError, match="not a stream handle"):
        _handle(-1)


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
