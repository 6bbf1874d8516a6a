"""pack / unpack of GPU arrays under Numba's CUDA simulator, byte for byte against the CPU.

Run by tests/test_pack_cuda.py in a subprocess, because the simulator must be
on before ``numba.cuda`` is first imported::

    NUMBA_ENABLE_CUDASIM=1 python tests/cuda_sim_pack.py

Every width 1..8, lengths around the group of eight codes (odd ones, empty,
0-d), code dtypes uint8..uint64 and signed, multi-dimensional and strided
inputs, unpack from random bytes (non-zero padding bits) and from buffers
longer than needed, format names as well as widths, ``cuda_stream=``, and the
errors.  Everything goes through the public ``fs.pack`` / ``fs.unpack`` with
simulated device arrays.  The launch is shrunk to 4 threads so that the
grid-stride loops run several rounds.  Prints one line per failure and
"N failures"; exits 1 if any.
"""

from __future__ import annotations

import os
import sys

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    sys.exit("run with NUMBA_ENABLE_CUDASIM=1 (the simulator must be on before numba.cuda loads)")

import numpy as np  # noqa: E402
from cuda_support import sim_main  # noqa: E402
from numba import cuda  # noqa: E402

import floatsim as fs  # noqa: E402
from floatsim.gpu import pack as K  # noqa: E402
from floatsim.gpu.launch import Grid, configure  # noqa: E402

configure(pack=Grid(2, 2, 1024))  # 4 threads x 8 codes: 32 codes a round

LENGTHS = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 65, 100, 129]
FAILURES: list[str] = []


def same(label: str, gpu: object, ref: np.ndarray) -> None:
    got = gpu.copy_to_host()
    if got.dtype != ref.dtype or got.shape != ref.shape or not np.array_equal(got, ref):
        diff = np.flatnonzero(got != ref)[:5] if got.shape == ref.shape else "-"
        FAILURES.append(f"{label}: gpu {got.dtype}{got.shape} != cpu {ref.dtype}{ref.shape}; "
                        f"first differences at {diff}")


def codes_for(bits: int, n: int, dtype: type = np.uint8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(1000 * bits + n + seed)
    c = rng.integers(0, 1 << bits, n).astype(dtype)
    if n >= 2:  # the extremes are in there
        c[0], c[-1] = (1 << bits) - 1, 0
    return c


def check_widths() -> None:
    """Every width, every length, packed and unpacked, against the CPU."""
    for bits in range(1, 9):
        for n in LENGTHS:
            c = codes_for(bits, n)
            ref = fs.pack(c, bits)
            d = fs.pack(cuda.to_device(c), bits)
            same(f"pack bits={bits} n={n}", d, ref)
            same(f"unpack bits={bits} n={n} (gpu bytes)", fs.unpack(d, bits, n), c)
            same(f"unpack bits={bits} n={n} (cpu bytes)", fs.unpack(cuda.to_device(ref), bits, n), c)
        # random bytes: non-zero padding bits, and more bytes than needed
        raw = np.random.default_rng(bits).integers(0, 256, 40, dtype=np.uint8)
        for n in (0, 5, 13, 8 * 40 // bits):
            same(f"unpack random bytes bits={bits} n={n}",
                 fs.unpack(cuda.to_device(raw), bits, n), fs.unpack(raw, bits, n))


def check_dtypes_and_shapes() -> None:
    """Code dtypes, multi-dimensional, strided and 0-d inputs, format names."""
    for dt in (np.uint16, np.uint32, np.uint64, np.int8, np.int32, np.int64):
        for bits in (1, 4, 7) if dt == np.int8 else (1, 4, 7, 8):
            c = codes_for(bits, 37, dt, seed=1)
            same(f"pack {np.dtype(dt)} bits={bits}", fs.pack(cuda.to_device(c), bits), fs.pack(c, bits))
    x = codes_for(5, 3 * 5 * 7, seed=2).reshape(3, 5, 7)
    d = cuda.to_device(x)
    for label, dv, hv in (("3-D", d, x), ("transposed", d.T, x.T), ("strided", d[:, ::2, 1:], x[:, ::2, 1:])):
        for bits in (5, 6, 8):
            same(f"pack {label} bits={bits}", fs.pack(dv, bits), fs.pack(hv, bits))
    same("pack 0-d", fs.pack(cuda.to_device(np.array(9, np.uint8)), 4), fs.pack(np.array(9, np.uint8), 4))
    # packed bytes in a 2-D (and a strided) array are read in C order, as on the CPU
    raw = np.random.default_rng(3).integers(0, 256, (4, 10), dtype=np.uint8)
    for label, dv, hv in (("2-D", cuda.to_device(raw), raw), ("transposed", cuda.to_device(raw).T, raw.T)):
        same(f"unpack {label}", fs.unpack(dv, 3, 100), fs.unpack(hv, 3, 100))
    for name in ("e2m1", "e3m2", "e2m3", "e4m3", "e5m2"):
        bits = fs.format(name).bits
        c = codes_for(bits, 21, seed=4)
        d = fs.pack(cuda.to_device(c), name)
        same(f"pack {name}", d, fs.pack(c, name))
        same(f"unpack {name}", fs.unpack(d, name, 21), c)
    # encode on the GPU, then pack there: the whole chain stays on the device
    v = np.linspace(-7, 7, 29, dtype=np.float32)
    same("encode -> pack e2m1", fs.pack(fs.encode(cuda.to_device(v), "e2m1"), "e2m1"),
         fs.pack(fs.encode(v, "e2m1"), "e2m1"))


def check_api() -> None:
    """Streams, the layouts spelled out, masking, the errors."""
    c = codes_for(4, 11)
    for st in (cuda.default_stream(), 0, None):
        same(f"pack cuda_stream={st!r}", fs.pack(cuda.to_device(c), 4, cuda_stream=st), fs.pack(c, 4))
        same(f"unpack cuda_stream={st!r}", fs.unpack(cuda.to_device(fs.pack(c, 4)), 4, 11, cuda_stream=st), c)
    same("layout 4-bit", fs.pack(cuda.to_device(np.array([0x1, 0xF], np.uint8)), "e2m1"),
         np.array([0xF1], np.uint8))
    same("layout 6-bit", fs.pack(cuda.to_device(np.array([1, 2, 3, 4], np.uint8)), "e3m2"),
         np.array([1 | 2 << 6, (2 >> 2) | 3 << 4, (3 >> 4) | 4 << 2], np.uint8))
    # no range check on the GPU: the low bits of each code are kept
    same("pack keeps the low bits", fs.pack(cuda.to_device(np.array([0x1F, 0x12], np.uint8)), 4),
         np.array([0x2F], np.uint8))
    same("pack negative codes", fs.pack(cuda.to_device(np.array([-1, 1], np.int16)), 4),
         np.array([0x1F], np.uint8))
    empty = fs.unpack(cuda.to_device(np.zeros(0, np.uint8)), 4, 0)
    if tuple(empty.shape) != (0,):
        FAILURES.append(f"unpack empty: shape {empty.shape}")
    d8 = cuda.to_device(np.zeros(3, np.uint8))
    for bad, err, what in (
        (lambda: fs.pack(cuda.to_device(np.ones(3, np.float32)), 4), TypeError, "unsigned integer codes"),
        (lambda: fs.unpack(cuda.to_device(np.ones(3, np.uint16)), 4, 3), TypeError, "reads uint8"),
        (lambda: fs.unpack(d8, 4, 7), ValueError, "need 4 bytes; got 3"),
        (lambda: fs.unpack(d8, 4, -1), ValueError, "non-negative"),
        (lambda: fs.unpack(d8, 4, 2.0), ValueError, "non-negative"),
        (lambda: fs.pack(d8, 9), ValueError, "1..8 bits"),
        (lambda: fs.pack(d8, "bf16"), ValueError, "1..8 bits"),
        (lambda: fs.pack(d8, 4, cuda_stream="fast"), TypeError, "cuda_stream="),
    ):
        try:
            bad()
            FAILURES.append(f"no {err.__name__} ({what})")
        except err as e:
            if what not in str(e):
                FAILURES.append(f"{err.__name__} without {what!r}: {e}")
    try:
        K.pack_kernel(0)
        FAILURES.append("pack_kernel(0) did not raise")
    except ValueError:
        pass


GROUPS = {"widths": check_widths, "dtypes": check_dtypes_and_shapes, "api": check_api}


if __name__ == "__main__":
    sys.exit(sim_main(GROUPS, FAILURES, sys.argv[1:]))
