"""What the CUDA test files share: the simulator subprocess, the PTX build
check, and the main loop of the simulator scripts.

Imported by tests/test_cuda*.py and tests/test_*_cuda.py (as a module of the
tests folder) and by the simulator scripts tests/cuda_sim_*.py (whose folder
is on ``sys.path`` when they run).  Importing it imports no CUDA library.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def nvvm_reason() -> str | None:
    """Why PTX cannot be built here (None: it can)."""
    try:
        from numba import cuda  # noqa: F401
        from numba.cuda.cudadrv import nvvm

        nvvm.NVVM()
    except Exception as e:  # noqa: BLE001 - any failure means: skip, and say why
        return f"numba-cuda / NVVM not usable: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
    return None


def run_simulator(script: str, *groups: str, timeout: int = 600) -> None:
    """Run ``tests/<script>`` under Numba's CUDA simulator (which must be on
    before ``numba.cuda`` is imported, hence a subprocess); assert that it
    exits 0 and reports no failures."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    r = subprocess.run([sys.executable, str(ROOT / "tests" / script), *groups],
                       env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{script} {groups} failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    assert "0 failures" in r.stdout


def ptx_params(signatures: Callable[[], list], slow: Callable[[str], bool] = lambda label: False) -> list:
    """pytest params, one per (label, function, argument types) from
    ``signatures()``, or one skipped param saying why PTX cannot be built."""
    import pytest

    reason = nvvm_reason()
    if reason is not None:
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-nvvm")]
    return [pytest.param(case, id=case[0], marks=pytest.mark.slow if slow(case[0]) else ())
            for case in signatures()]


@contextlib.contextmanager
def sm90_current_device() -> Any:
    """With no GPU, an sm_90 one as numba-cuda's current device while in the block.

    numba-cuda compiles a device function (``gpu.elementwise.quantize_f32_dev``)
    for the current device's compute capability, asking the driver for it
    even inside ``compile_ptx(..., cc=(9, 0))``; on an H100 it would get
    (9, 0), which is what this stands in.  With a GPU present, nothing changes."""
    from numba import cuda
    from numba.cuda import dispatcher

    if cuda.is_available():
        yield
        return
    assert hasattr(dispatcher, "get_current_device"), "numba-cuda moved get_current_device: update this stand-in"
    real = dispatcher.get_current_device
    dispatcher.get_current_device = lambda: _Sm90()
    try:
        yield
    finally:
        dispatcher.get_current_device = real


class _Sm90:
    compute_capability = (9, 0)


def build_ptx(case: tuple) -> str:
    """PTX of one kernel for compute capability 9.0, after the checks every
    kernel must pass: it targets sm_90, has an entry point, calls no
    function, spills nothing to local memory, never converts an unsigned
    integer to a float and fuses no multiply-add."""
    from numba import cuda

    label, fn, sig = case
    with sm90_current_device():
        ptx, _ = cuda.compile_ptx(fn, sig, cc=(9, 0))
    assert re.search(r"^\.target sm_90\b", ptx, re.M), f"{label}: PTX does not target sm_90"
    assert ".entry" in ptx
    assert "ld.local" not in ptx and "st.local" not in ptx, f"{label}: spills to local memory"
    # one function: a call left in it is a device function NVVM did not
    # inline (gpu.elementwise.quantize_f32_dev is forceinline)
    assert not re.search(r"^\s*(@!?%p\d+\s+)?call(\.uni)?\b", ptx, re.M), f"{label}: calls a device function"
    # a uint64 mixed with an int64 is typed float64 by Numba: unsigned integers stay integers
    assert not re.search(r"cvt\.\w+\.f(32|64)\.u64", ptx), f"{label}: uint64 converted to float"
    # NVVM contracts a * b + c into one fused multiply-add unless told not to;
    # an exact cast must round every product and sum on its own
    assert not re.search(r"\bfma\.rn\.f(32|64)\b", ptx), f"{label}: a multiply-add was fused"
    return ptx


def sim_main(groups: dict[str, Callable[[], Any]], failures: list[str], argv: list[str]) -> int:
    """The simulator scripts' main: run the named check groups (default: all),
    print each failure and the count; exit status 1 if any."""
    for name in argv or list(groups):
        t0 = time.perf_counter()
        groups[name]()
        print(f"{name}: {time.perf_counter() - t0:.1f} s", flush=True)
    for f in failures:
        print("FAIL", f)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


def assert_imports_no_gpu_library(code: str) -> None:
    """Run ``code`` in a fresh interpreter, then assert that it imported no
    GPU library (numba-cuda, torch, CuPy, JAX): CPU work must not pay for them."""
    check = code + (
        "\nimport sys\n"
        "bad = [m for m in sys.modules if m.startswith(('numba.cuda', 'numba_cuda', 'torch', 'cupy', 'jax'))]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
