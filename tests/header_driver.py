"""The host build of cuda/floatsim.cuh, run on numpy arrays: a small C++ driver
(cuda/tests/host_driver.cpp) built with g++ into a temporary directory, fed
and read through files.  Used by tests/test_cuda_header.py and by the backend
table (tests/backends.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from floatsim.formats import Format, Overflow, Specials
from floatsim.rounding import Rounding

ROOT = Path(__file__).resolve().parents[1]
CUDA_DIR = ROOT / "cuda"
DRIVER_SRC = CUDA_DIR / "tests" / "host_driver.cpp"
DEVICE_SRC = CUDA_DIR / "tests" / "device_check.cu"
NO_CODE = 2**64 - 1  # floatsim::NO_CODE: NaN into a format without NaN

SPECIALS = {
    Specials.IEEE: 0,
    Specials.FN: 1,
    Specials.FNUZ: 2,
    Specials.FINITE: 3,
    Specials.P3109: 4,
}
OVERFLOW = {Overflow.SATURATE: 0, Overflow.INF: 1, Overflow.NAN: 2}


class Driver:
    """Runs cuda/tests/host_driver.cpp on numpy arrays through files."""

    def __init__(self, exe: Path, work: Path) -> None:
        self.exe, self.work, self.calls = exe, work, 0

    def _path(self, stem: str) -> str:
        return str(self.work / f"{stem}{self.calls}.bin")

    def run(self, *args: str) -> str:
        proc = subprocess.run([str(self.exe), *args], capture_output=True, text=True)
        # The driver is silent on success; anything on stderr (a sanitizer report) fails.
        assert proc.returncode == 0 and not proc.stderr, (
            f"host_driver {' '.join(args)} failed:\n{proc.stderr}"
        )
        return proc.stdout

    def encode(
        self,
        x: np.ndarray,
        fmt: Format,
        rounding: Rounding,
        *,
        words: np.ndarray | None = None,
        width: int = 0,
        sr_bits: int = 0,
        daz: bool = False,
        seed: int | None = None,
        stream: int = 0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(codes as uint64, quantized values as float64) for the inputs x."""
        self.calls += 1
        inp, codes, values = self._path("x"), self._path("c"), self._path("v")
        np.ascontiguousarray(x).tofile(inp)
        args = [
            "encode",
            f"in={inp}",
            f"dtype={'f32' if x.dtype == np.float32 else 'f64'}",
            f"ebits={fmt.ebits}",
            f"mbits={fmt.mbits}",
            f"signed={int(fmt.signed)}",
            f"bias={fmt.bias}",
            f"subnormals={int(fmt.subnormals)}",
            f"has_zero={int(fmt.has_zero)}",
            f"specials={SPECIALS[fmt.specials]}",
            f"overflow={OVERFLOW[fmt.overflow]}",
            f"rounding={rounding.value}",
            f"width={width}",
            f"sr_bits={sr_bits}",
            f"daz={int(daz)}",
            f"out_codes={codes}",
            f"out_values={values}",
        ]
        if seed is not None:
            args += ["random=seed", f"seed={seed}", f"stream={stream}"]
        elif words is not None:
            rand = self._path("r")
            np.ascontiguousarray(words, dtype=np.uint64).tofile(rand)
            args += ["random=explicit", f"rand={rand}"]
        self.run(*args)
        return np.fromfile(codes, dtype=np.uint64), np.fromfile(values, dtype=np.float64)


def build(work: Path) -> Driver | str:
    """Build the driver into ``work``: a Driver, or why it cannot be built
    (no g++).  A compile error fails loudly."""
    gxx = shutil.which("g++")
    if gxx is None:
        return "g++ is not installed: cannot build the host driver of cuda/floatsim.cuh"
    exe = work / "host_driver"
    proc = subprocess.run(
        [
            gxx,
            "-O2",
            "-std=c++17",
            "-Wall",
            "-Wextra",
            "-pedantic",
            # e.g. FLOATSIM_CUH_CXXFLAGS="-fsanitize=undefined,address" hunts UB
            *os.environ.get("FLOATSIM_CUH_CXXFLAGS", "").split(),
            "-o",
            str(exe),
            str(DRIVER_SRC),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"g++ failed on {DRIVER_SRC}:\n{proc.stderr}")
    if "floatsim.cuh" in proc.stderr:
        raise RuntimeError(f"warnings in the header:\n{proc.stderr}")
    return Driver(exe, work)
