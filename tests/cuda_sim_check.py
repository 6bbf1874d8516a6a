"""The CUDA kernels under Numba's CUDA simulator, bit for bit against the CPU path.

Run by tests/test_cuda.py in a subprocess, because the simulator must be on
before ``numba.cuda`` is first imported::

    NUMBA_ENABLE_CUDASIM=1 python tests/cuda_sim_check.py [GROUP ...]

GROUP is one of ``fast``, ``alignment``, ``general``, ``codes``, ``api``
(default: all).  Each check goes through the public API
(``fs.quantize(device_array, ...)``) with simulated device arrays, so the
dispatch (views, kinds, strides, alignment, out=, random words) is exercised
too.  The launch is shrunk to a few blocks of a few
threads so that the grid-stride loops run several rounds and the last group
of four is partial.  Prints one line per failure and exits 1 if any.
"""

from __future__ import annotations

import os
import sys

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    sys.exit("run with NUMBA_ENABLE_CUDASIM=1 (the simulator must be on before numba.cuda loads)")

import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402
from cuda_support import sim_main  # noqa: E402
from numba import cuda  # noqa: E402

import floatsim as fs  # noqa: E402
from floatsim.gpu import elementwise as K  # noqa: E402
from floatsim.gpu.launch import Grid, configure  # noqa: E402

configure(elementwise=Grid(2, 2, 256))  # 4 threads, groups of 4: 16 elements a round

BF16 = np.dtype(ml_dtypes.bfloat16)
MODES = list(fs.Rounding)
SR = fs.Rounding.STOCHASTIC
FAST = ["e4m3", "e5m2", "e2m1", "e3m2", "e2m3", "bf16", "e8m0", "e4m3fnuz"]
GENERAL = ["e4m3", "e2m1", "e8m0", "float16", "tf32"]
FAILURES: list[str] = []


def inputs(dtype: np.dtype, n: int = 53, seed: int = 0) -> np.ndarray:
    """Specials, subnormals, ties and random values, as ``dtype``."""
    rng = np.random.default_rng(seed)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 448.0, 464.0, -464.0, 480.0,
               1e-40, -1e-45, 2.0**-9, 2.0**-10, 3 * 2.0**-11, 0.75, 1.0625, 5.0, -6.5, 57344.0,
               61440.0, 2.0**-130, 1.5 * 2.0**-127, 65504.0, 70000.0, 2.0**-24, 2.0**-25]
    rand = rng.standard_normal(n - len(special)) * np.exp2(rng.integers(-12, 12, n - len(special)))
    x = np.array(special + list(rand), dtype=np.float64)
    with np.errstate(over="ignore"):
        return x.astype(dtype)


def bits(a: np.ndarray) -> np.ndarray:
    return a.view(f"u{a.dtype.itemsize}")


def host(d: object) -> np.ndarray:
    return d.copy_to_host()


def same(label: str, gpu: np.ndarray, ref: np.ndarray) -> None:
    if gpu.shape != ref.shape or gpu.dtype != ref.dtype or not np.array_equal(bits(gpu), bits(ref)):
        bad = np.flatnonzero(bits(gpu).reshape(-1) != bits(ref).reshape(-1)) if gpu.shape == ref.shape else []
        FAILURES.append(f"{label}: gpu {gpu.dtype}{gpu.shape} != cpu {ref.dtype}{ref.shape}; "
                        f"first differences at {list(bad[:5])}")


def sr_kwargs(mode: fs.Rounding, k: int | None = None) -> dict:
    return {"seed": 12345, "sr_bits": k} if mode is SR else {}


def check_fast() -> None:
    """The float32 fast path: float32 / float16 / bfloat16 in and out, every mode."""
    for name in FAST:
        narrow = name in ("e4m3", "e2m1")
        for dt in (np.dtype(np.float32), np.dtype(np.float16), BF16) if narrow else (np.dtype(np.float32),):
            x = inputs(dt)
            d = cuda.to_device(x)
            for mode in MODES if dt == np.float32 else (fs.Rounding.NEAREST_EVEN, SR):
                for k in ((None, 5) if mode is SR else (None,)):
                    kw = sr_kwargs(mode, k)
                    try:
                        ref = fs.quantize(x, name, mode, **kw)
                    except ValueError:  # e.g. float16 cannot hold the format
                        continue
                    same(f"quantize {name} {dt} {mode.name} k={k}", host(fs.quantize(d, name, mode, **kw)), ref)
            # float32 output from a narrower input, and a narrower output from float32
            if dt != np.float32 and name in ("e4m3", "e2m1"):
                same(f"quantize {name} {dt}->f32", host(fs.quantize(d, name, out_dtype=np.float32)),
                     fs.quantize(x, name, out_dtype=np.float32))
        x32 = inputs(np.dtype(np.float32), seed=1)
        for odt in (np.float16, BF16) if narrow else ():
            try:
                ref = fs.quantize(x32, name, out_dtype=odt)
            except ValueError:
                continue
            same(f"quantize {name} f32->{np.dtype(odt)}",
                 host(fs.quantize(cuda.to_device(x32), name, out_dtype=odt)), ref)


def check_alignment() -> None:
    """The fast path's vector kernel (one 16-byte load and store per four
    elements) takes arrays aligned to four elements; other views, out= and
    random_bits= arrays take the scalar kernel, with the same results."""
    taken: list[bool] = []
    orig = K.quantize32_kernel

    def spy(*a: object) -> object:
        taken.append(bool(a[5]))
        return orig(*a)

    K.quantize32_kernel = spy
    try:
        f32 = np.dtype(np.float32)
        x = inputs(f32, n=61, seed=3)
        d = cuda.to_device(x)
        h = inputs(np.dtype(np.float16), n=61, seed=4)
        dh = cuda.to_device(h)
        words = np.random.default_rng(5).integers(0, 2**32, 61, dtype=np.uint64).astype(np.uint32)
        dw = cuda.to_device(words)
        sr = {"seed": 77}
        for label, dv, hv, name, kw, want in (
            ("aligned", d, x, "e2m1", {}, True),
            ("aligned SR", d, x, "e4m3", sr, True),
            ("offset by 1", d[1:], x[1:], "e2m1", {}, False),
            ("offset by 1 SR", d[1:], x[1:], "e4m3", sr, False),
            ("offset by 4 SR", d[4:], x[4:], "e4m3", sr, True),
            ("float16 offset by 4", dh[4:], h[4:], "e4m3", {}, True),
            ("float16 offset by 2", dh[2:], h[2:], "e4m3", {}, False),
            ("random_bits offset by 1", d[4:], x[4:], "e4m3", {"random_bits": (dw[1:58], words[1:58])},
             False),
            ("random_bits aligned", d[4:], x[4:], "e4m3", {"random_bits": (dw[:57], words[:57])}, True),
        ):
            gkw, hkw = dict(kw), dict(kw)
            mode = "nearest_even" if not kw else "sr"
            if "random_bits" in kw:
                gkw["random_bits"], hkw["random_bits"] = kw["random_bits"]
            del taken[:]
            got = host(fs.quantize(dv, name, mode, **gkw))
            same(f"alignment {label}", got, fs.quantize(hv, name, mode, **hkw))
            if taken != [want]:
                FAILURES.append(f"alignment {label}: vector kernel {taken}, expected [{want}]")
        out = cuda.device_array(62, dtype=np.float32)[1:]
        del taken[:]
        fs.quantize(d, "e2m1", out=out)
        same("alignment out= offset by 1", host(out), fs.quantize(x, "e2m1"))
        if taken != [False]:
            FAILURES.append(f"alignment out= offset by 1: vector kernel {taken}")
    finally:
        K.quantize32_kernel = orig
    check_encode_alignment()


def check_encode_alignment() -> None:
    """encode takes the fast path (encode32_kernel) on aligned float32 /
    float16 / bfloat16 arrays and the general kernel on anything else, with
    the same codes."""
    taken: list[bool] = []
    orig = K.encode32_kernel

    def spy(*a: object) -> object:
        taken.append(True)
        return orig(*a)

    K.encode32_kernel = spy
    try:
        # no NaN (check_codes has it): e2m1 and e3m2 have no NaN code, where the CPU raises
        x = np.nan_to_num(inputs(np.dtype(np.float32), n=61, seed=8), nan=1.0, posinf=np.inf, neginf=-np.inf)
        d = cuda.to_device(x)
        h = np.nan_to_num(inputs(np.dtype(np.float16), n=61, seed=9), nan=1.0, posinf=np.inf, neginf=-np.inf)
        dh = cuda.to_device(h)
        x64 = inputs(np.dtype(np.float64), n=61, seed=10)
        words = np.random.default_rng(11).integers(0, 2**32, 61, dtype=np.uint64).astype(np.uint32)
        dw = cuda.to_device(words)
        for label, dv, hv, name, mode, kw, want in (
            ("aligned", d, x, "e2m1", "nearest_even", {}, True),
            ("aligned SR", d, x, "e4m3", "sr", {"seed": 5}, True),
            ("offset by 1", d[1:], x[1:], "e5m2", "up", {}, False),
            ("float16 offset by 4", dh[4:], h[4:], "e3m2", "down", {}, True),
            ("float16 offset by 2", dh[2:], h[2:], "e4m3", "nearest_even", {}, False),
            ("float64", cuda.to_device(x64), x64, "e4m3", "nearest_even", {}, False),
            ("bf16 codes", d, x, "bf16", "sr", {"seed": 5, "sr_bits": 4}, True),
            ("daz", d, x, "e4m3", "nearest_even", {"daz": True}, False),
            ("random_bits aligned", d[4:], x[4:], "e4m3", "sr", {"random_bits": (dw[:57], words[:57])}, True),
            ("random_bits offset by 1", d[4:], x[4:], "e4m3", "sr", {"random_bits": (dw[1:58], words[1:58])},
             False),
        ):
            gkw, hkw = dict(kw), dict(kw)
            if "random_bits" in kw:
                gkw["random_bits"], hkw["random_bits"] = kw["random_bits"]
            del taken[:]
            got = host(fs.encode(dv, name, mode, **gkw))
            same(f"encode alignment {label}", got, fs.encode(hv, name, mode, **hkw))
            if bool(taken) != want:
                FAILURES.append(f"encode alignment {label}: fast kernel {taken}, expected {want}")
    finally:
        K.encode32_kernel = orig


def check_general() -> None:
    """The general path: float64 inputs, wide SR, DAZ, explicit random words."""
    rng = np.random.default_rng(2)
    for name in GENERAL:
        for dt in (np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.float16), BF16):
            x = inputs(dt, seed=3)
            d = cuda.to_device(x)
            for mode in MODES if dt == np.float64 else (SR,):
                ks = (None, 7) if mode is SR and dt == np.float64 else (None,)
                for k in ks:
                    kw = sr_kwargs(mode, k)
                    try:
                        ref = fs.quantize(x, name, mode, daz=True, **kw)
                    except ValueError:
                        continue
                    got = host(fs.quantize(d, name, mode, daz=True, **kw))
                    same(f"quantize daz {name} {dt} {mode.name} k={k}", got, ref)
        x = inputs(np.dtype(np.float64), seed=4)
        d = cuda.to_device(x)
        for rdt in (np.uint32, np.uint64):
            rb = rng.integers(0, np.iinfo(rdt).max, x.shape, dtype=rdt, endpoint=True)
            for src in (rb, cuda.to_device(rb)) if name == "e4m3" else (cuda.to_device(rb),):
                ref = fs.quantize(x, name, SR, random_bits=rb)
                same(f"quantize {name} f64 random_bits {np.dtype(rdt)}",
                     host(fs.quantize(d, name, SR, random_bits=src)), ref)
        x32 = inputs(np.dtype(np.float32), seed=5)
        rb = rng.integers(0, 2**32, x32.shape, dtype=np.uint32, endpoint=False)
        for nm, fmt in (("fast", name),):
            kw = {"overflow": "saturate"}
            same(f"quantize {fmt} f32 random_bits u32 {nm}",
                 host(fs.quantize(cuda.to_device(x32), fmt, SR, random_bits=cuda.to_device(rb), **kw)),
                 fs.quantize(x32, fmt, SR, random_bits=rb, **kw))
        for odt in (np.float64, np.float32):
            try:
                ref = fs.quantize(x, name, out_dtype=odt, subnormals=False)
            except ValueError:
                continue
            same(f"quantize {name} f64->{np.dtype(odt)} ftz",
                 host(fs.quantize(d, name, out_dtype=odt, subnormals=False)), ref)


def check_codes() -> None:
    """encode and decode: every mode, every input dtype, NaN without a NaN code,
    out-of-range codes."""
    for name in ["e4m3", "e5m2", "e2m1", "e2m3", "e8m0", "bf16", "e4m3fnuz", "tf32"]:
        fmt = fs.format(name)
        for dt in (np.dtype(np.float32), np.dtype(np.float64), BF16):
            x = inputs(dt, seed=6)
            if not fmt.has_nan:
                x = x[~np.isnan(x.astype(np.float64))]
            d = cuda.to_device(x)
            for mode in MODES if dt == np.float32 else (SR,):
                kw = sr_kwargs(mode)
                same(f"encode {name} {dt} {mode.name}", host(fs.encode(d, name, mode, **kw)),
                     fs.encode(x, name, mode, **kw))
        codes = np.arange(fmt.num_codes, dtype=fs.code_dtype(fmt))
        if fmt.num_codes > 4096:
            codes = np.ascontiguousarray(codes[:: fmt.num_codes // 4096])
        dc = cuda.to_device(codes)
        for odt in (np.float32, np.float64, np.float16, BF16) if name in ("e4m3", "e2m1") else (np.float32,):
            try:
                ref = fs.decode(codes, name, odt)
            except ValueError:
                continue
            same(f"decode {name} -> {np.dtype(odt)}", host(fs.decode(dc, name, odt)), ref)
        if not fmt.has_nan:
            x = np.array([1.0, np.nan, -2.0], dtype=np.float32)
            got = host(fs.encode(cuda.to_device(x), name))
            want = np.iinfo(fs.code_dtype(fmt)).max
            if got[1] != want:
                FAILURES.append(f"encode {name} NaN: got {got[1]}, want all ones {want}")
    # the table decode's vector form with a partial last group, and its
    # scalar form on codes not aligned to four bytes
    codes = np.arange(256, dtype=np.uint8)[::-1].copy()
    dc = cuda.to_device(codes)
    for label, sl in (("vector, tail", slice(0, -3)), ("misaligned", slice(1, None)),
                      ("misaligned, tail", slice(3, -2))):
        same(f"decode e4m3 {label}", host(fs.decode(dc[sl], "e4m3")), fs.decode(codes[sl], "e4m3"))
    # out-of-range and signed codes decode to NaN on the GPU
    c = cuda.to_device(np.array([3, 16, 255], dtype=np.uint8))
    got = host(fs.decode(c, "e2m1"))
    if not (got[0] == 1.5 and np.isnan(got[1]) and np.isnan(got[2])):
        FAILURES.append(f"decode out of range: {got}")
    c = cuda.to_device(np.array([-1, 5], dtype=np.int16))
    got = host(fs.decode(c, "e2m1"))
    if not (np.isnan(got[0]) and got[1] == 3.0):
        FAILURES.append(f"decode signed codes: {got}")


def check_api() -> None:
    """Shapes, strides, 0-d and empty arrays, out=, streams, kernels' own helpers."""
    x = inputs(np.dtype(np.float32), n=60, seed=7).reshape(6, 10)
    d = cuda.to_device(x)
    for label, dv, hv in (("2-D", d, x), ("transposed", d.T, x.T), ("0-d", cuda.to_device(x[1, 1].copy()), x[1, 1].copy())):
        same(f"quantize {label}", host(fs.quantize(dv, "e4m3", "sr", seed=9)), fs.quantize(hv, "e4m3", "sr", seed=9))
        same(f"encode {label}", host(fs.encode(dv, "e5m2")), fs.encode(hv, "e5m2"))
    empty = cuda.to_device(np.zeros((0, 3), dtype=np.float32))
    got = fs.quantize(empty, "e4m3")
    if tuple(got.shape) != (0, 3):
        FAILURES.append(f"empty: shape {got.shape}")
    out = cuda.device_array(x.shape, dtype=np.float32)
    r = fs.quantize(d, "e2m1", out=out, cuda_stream=cuda.default_stream())
    if r is not out:
        FAILURES.append("out= is not returned")
    same("quantize out=", host(out), fs.quantize(x, "e2m1"))
    for bad, err in (
        (lambda: fs.quantize(d, "e4m3", out=cuda.device_array((2, 2), dtype=np.float32)), ValueError),
        (lambda: fs.quantize(cuda.to_device(np.arange(3)), "e4m3"), TypeError),
        (lambda: fs.quantize(d, "e4m3", "sr"), ValueError),
        (lambda: fs.quantize(d, "e4m3", cuda_stream="fast"), TypeError),
        (lambda: fs.decode(d, "e4m3"), TypeError),
        (lambda: fs.quantize(d, "e4m3", "sr", random_bits=np.zeros(3, np.uint32)), ValueError),
    ):
        try:
            bad()
            FAILURES.append(f"no {err.__name__} raised")
        except err:
            pass
    # group_words agrees with random_words (the CPU's per-element mapping)
    from floatsim.kernels.philox import group_words, random_words

    for wide in (0, 1):
        for g in (0, 1, 2**30 + 3):
            w = group_words(7, 9, g, 5, wide)
            want = [x for k in range(4) for x in random_words(7, 9, 4 * g + k, 5, wide)]
            if list(w) != want:
                FAILURES.append(f"group_words wide={wide} g={g}")
    # exact float conversions in the kernels against numpy / ml_dtypes, all 2**16 halves
    h = np.arange(2**16, dtype=np.uint16)
    f32 = np.array([K.f16_to_f32_bits(int(v)) for v in h[::97]], dtype=np.uint32)
    want = h[::97].view(np.float16).astype(np.float32).view(np.uint32)
    if not np.array_equal(f32, want):
        FAILURES.append("f16_to_f32_bits")
    vals = h.view(np.float16).astype(np.float32)[::89]
    back = np.array([K.f32_to_f16_bits(int(v)) for v in vals.view(np.uint32)], dtype=np.uint16)
    if not np.array_equal(back, vals.astype(np.float16).view(np.uint16)):
        FAILURES.append("f32_to_f16_bits")


GROUPS = {"fast": check_fast, "alignment": check_alignment, "general": check_general, "codes": check_codes, "api": check_api}


if __name__ == "__main__":
    sys.exit(sim_main(GROUPS, FAILURES, sys.argv[1:]))
