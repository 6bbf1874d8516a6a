"""Block formats on the GPU under Numba's CUDA simulator, bit for bit against the CPU path.

Run by tests/test_blocks_cuda.py in a subprocess, because the simulator must
be on before ``numba.cuda`` is first imported::

    NUMBA_ENABLE_CUDASIM=1 python tests/cuda_sim_blocks.py [GROUP ...]

GROUP is one of ``fast``, ``warp``, ``general``, ``layouts``, ``api``, ``split`` (default:
all).
Every check goes through the public API (``fs.blocks.quantize(device_array,
...)`` and ``encode``) with simulated device arrays, so the dispatch
(floatsim/gpu/blocks_dispatch.py: plan, geometry, temporaries, tensor scale) is
exercised with the kernels (floatsim/gpu/blocks.py).  Inputs are
small (the simulator runs a Python thread per GPU thread) but hold every
kind of block: partial last blocks, zeros and signed zeros, inf, NaN,
float32 subnormals, blocks near float32's largest value and blocks of tiny
values (the fast path's float64 detour).  The launch is shrunk to a few
threads so that the grid-stride loops run several rounds.  Prints one line
per failure and exits 1 if any.
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
from floatsim.blocks import BlockFormat, IntFormat  # noqa: E402
from floatsim.gpu import blocks as BK  # noqa: E402
from floatsim.gpu.launch import Grid, configure  # noqa: E402

configure(blocks=Grid(3, 2, 1024))  # 6 threads: several grid-stride rounds

BF16 = np.dtype(ml_dtypes.bfloat16)
F32, F64, F16 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16)
MODES = list(fs.Rounding)
WIDE = fs.Format(ebits=10, mbits=2)  # 2**-512 .. 2**512: block formats' widest
SR = fs.Rounding.STOCHASTIC
FAILURES: list[str] = []
CHECKS = [0]


def rows(dtype: np.dtype, n: int = 40, seed: int = 0) -> np.ndarray:
    """(8, n) values, one kind of block per row: random, ties and specials,
    zeros, NaN, inf, float32 subnormals, huge, tiny."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((8, n)) * np.exp2(rng.integers(-6, 6, (8, n)))
    x[1, :12] = [0.0, -0.0, 0.75, 1.0625, 5.0, -6.5, 448.0, 464.0, -480.0, 3.0, 2.5, -1.25]
    x[2, :] = 0.0
    x[2, 1::3] = -0.0
    x[3, 5] = np.nan
    x[3, 38 % n] = -np.nan
    x[4, 7] = np.inf
    x[4, 35 % n] = -np.inf
    x[5, :] *= 2.0**-136  # float32 subnormals: below every scale's range
    x[6, :] = x[6, :] / np.abs(x[6, :]).max() * 3.0e38  # near float32's max: k beyond the fast range
    x[7, :] *= 2.0**-120  # tiny normal values
    with np.errstate(over="ignore", under="ignore"):
        return x.astype(dtype)


def float_route_rows(seed: int = 0) -> np.ndarray:
    """(8, 64) float32: blocks where the GPU's float route (fast32._float_route)
    meets a block scale's extremes.  Row 0: one large element per block and
    the rest down to float32 subnormals (their q underflows without mul.rp);
    rows 1-7: blocks whose scale exponent sits around the lowest the route
    allows (2**-127 .. 2**-121 for e2m1)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((8, 64)) * np.exp2(rng.integers(-30, 1, (8, 64)))
    x[0] *= np.exp2(rng.integers(-140, 0, 64))
    x[0, ::32] = 100.0
    for r in range(1, 8):
        x[r] = x[r] / np.abs(x[r]).max() * 2.0 ** (-126 + r - 1)
    with np.errstate(under="ignore"):
        return x.astype(np.float32)


def bits(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    return a.view(f"u{a.dtype.itemsize}") if a.dtype.kind == "f" or a.dtype == BF16 else a


def host(a: object) -> np.ndarray:
    return a.copy_to_host() if hasattr(a, "copy_to_host") else np.asarray(a)


def same(label: str, gpu: object, ref: object) -> None:
    CHECKS[0] += 1
    g, r = host(gpu), np.asarray(ref)
    if g.shape != r.shape or g.dtype != r.dtype or not np.array_equal(bits(g), bits(r)):
        bad = (np.flatnonzero(bits(g).reshape(-1) != bits(r).reshape(-1))[:5]
               if g.shape == r.shape and g.dtype == r.dtype else [])
        FAILURES.append(f"{label}: gpu {g.dtype}{g.shape} != cpu {r.dtype}{r.shape}; "
                        f"first differences at {list(bad)}")


def both(label: str, x: np.ndarray, bfmt: object, *, encode: bool = True, **kw: object) -> None:
    """quantize (and encode) of x on the 'GPU' and on the CPU, compared."""
    d = cuda.to_device(x)
    try:
        ref = fs.blocks.quantize(x, bfmt, **kw)
    except ValueError as e:
        FAILURES.append(f"{label}: the CPU path raised {e}")
        return
    same(f"quantize {label}", fs.blocks.quantize(d, bfmt, **kw), ref)
    if not encode:
        return
    kw = {k: v for k, v in kw.items() if k not in ("out_dtype", "out")}
    ref_e = fs.blocks.encode(x, bfmt, **kw)
    got = fs.blocks.encode(d, bfmt, **kw)
    if len(got) != len(ref_e):
        FAILURES.append(f"encode {label}: {len(got)} results, CPU {len(ref_e)}")
        return
    for i, (g, r) in enumerate(zip(got, ref_e)):
        if (g is None) != (r is None):
            FAILURES.append(f"encode {label} [{i}]: {g!r} on the GPU, {r!r} on the CPU")
            continue
        if r is None:
            continue
        if isinstance(r, float):  # the tensor scale: a 0-d float64 GPU array here
            r = np.array(r)
        same(f"encode {label} [{i}]", g, r)


def sr(mode: fs.Rounding, k: int | None = None) -> dict:
    return {"rounding": mode, **({"seed": 12345, "sr_bits": k} if mode is SR else {})}


def check_fast() -> None:
    """The float32 fast path (power-of-two scales, float32 out): every mode,
    float32 / float16 / bfloat16 in, outlier blocks, NaN-less scale types."""
    for name in ("mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1"):
        x = rows(F32, seed=1)
        for mode in MODES:
            for k in (None, 5) if mode is SR else (None,):
                both(f"{name} f32 {mode.name} k={k}", x, name, encode=name == "mxfp4_e2m1", **sr(mode, k))
    for dt in (F16, BF16):
        x = rows(dt, seed=2)
        for mode in (fs.Rounding.NEAREST_EVEN, SR):
            both(f"mxfp8_e4m3 {dt} {mode.name}", x, "mxfp8_e4m3", out_dtype=F32, encode=False, **sr(mode))
    mx = fs.blocks.format("mxfp4_e2m1")
    x = rows(F32, seed=3)
    for rule in ("ceil", "even", "nearest", "rceil"):
        both(f"mxfp4 rule={rule}", x, mx.with_(rule=rule), encode=False)
    # scale formats without NaN (the fast path's NaN blocks), saturating scales, inf elements
    both("e4m3 x e3m2 scale", x, BlockFormat(element="e4m3", scale="e3m2", block=8), encode=False)
    both("e5m2 inf elements", x, fs.blocks.format("mxfp8_e5m2").with_(element_overflow="inf",
                                                                     scale_overflow="saturate"))
    both("mxfp8 block 7", x, fs.blocks.format("mxfp8_e4m3").with_(block=7), **sr(SR))


def check_warp() -> None:
    """The warp kernel (kernels/blocks_warp.py): blocks of 4..32 consecutive
    elements that divide the rows, every mode, float32 / float16 / bfloat16
    in; each call must take that kernel (and blocks of 1 and 2 must not)."""
    from floatsim.gpu import blocks_warp as BW

    launched = [0]
    orig = BW.launch

    def counting(*a: object) -> None:
        launched[0] += 1
        orig(*a)

    BW.launch = counting
    prev = configure(warp=Grid(32, 2, 256, 32))  # 512 elements: two grid-stride rounds
    calls = 0
    try:
        x = rows(F32, n=64, seed=21)
        for name in ("mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1"):
            for mode in MODES if name in ("mxfp8_e4m3", "mxfp4_e2m1") else (fs.Rounding.NEAREST_EVEN, SR):
                for k in (None, 5) if mode is SR else (None,):
                    both(f"warp {name} f32 {mode.name} k={k}", x, name, encode=False, **sr(mode, k))
                    calls += 1
        for dt in (F16, BF16):
            for mode in (fs.Rounding.NEAREST_EVEN, SR):
                both(f"warp mxfp4 {dt} {mode.name}", rows(dt, n=64, seed=22), "mxfp4_e2m1",
                     out_dtype=F32, encode=False, **sr(mode))
                calls += 1
        for name in ("mxfp4_e2m1", "mxfp6_e3m2"):
            for mode in MODES:
                both(f"warp {name} float-route edges {mode.name}", float_route_rows(23), name, encode=False,
                     **sr(mode))
                calls += 1
        mx = fs.blocks.format("mxfp4_e2m1")
        for b in (1, 2, 4, 8, 16):  # 1 and 2: a thread per block (blocks_cuda.fast_kernel)
            both(f"warp mxfp4 block {b}", x, mx.with_(block=b), encode=False, **sr(SR, 3))
            calls += b >= 4
        for rule in ("ceil", "even", "nearest", "rceil"):
            both(f"warp mxfp4 rule={rule}", x, mx.with_(rule=rule), encode=False)
            calls += 1
        both("warp mxfp4 idle lanes", x[:3], mx, encode=False)  # 48 groups for 64 threads
        calls += 1
        both("warp e4m3 x e3m2 scale", x, BlockFormat(element="e4m3", scale="e3m2", block=8), encode=False)
        calls += 1
        # value scales (kernels/blocks_warp.value_kernel): NVFP4 in every mode, a
        # given and a measured tensor scale, one level, RCEIL into UE5M3, half inputs
        for mode in MODES:
            for k in (None, 5) if mode is SR else (None,):
                both(f"warp nvfp4 f32 {mode.name} k={k}", x, "nvfp4", encode=False, **sr(mode, k))
                calls += 1
        nv = fs.blocks.format("nvfp4")
        for label, bfmt, kw in (
            ("tensor_scale=", nv, {"tensor_scale": 0.0123}),
            ("tiny tensor_scale=", nv, {"tensor_scale": 2.0**-140}),
            ("one level", nv.with_(tensor_format=None), {}),
            ("one level SR", nv.with_(tensor_format=None), sr(SR)),
            ("e4m3 x ue5m3 rceil", BlockFormat(element="e4m3", scale="ue5m3", block=16, rule="rceil"), {}),
            ("e2m1 x e4m3 amax block 8", BlockFormat(element="e2m1", scale="e4m3", block=8, rule="amax"), {}),
            ("bfloat16 x ue4m3 amax block 32", BlockFormat(element="bfloat16", scale="ue4m3", block=32,
                                                            rule="amax"), sr(fs.Rounding.ODD)),
            ("one level, wide e10m2 scales", BlockFormat(element="e2m1", scale=WIDE, block=16, rule="amax"),
             {}),
        ):
            both(f"warp {label}", x, bfmt, encode=False, **kw)
            calls += 1
        # scale x tensor scale may pass the reciprocal route's 2**+-800: the general kernel
        wide = BlockFormat(element="e2m1", scale=WIDE, block=16, rule="amax", tensor_format=WIDE)
        both("warp e10m2 x e10m2 tensor (not the value kernel)", x, wide, encode=False)
        both("warp e10m2 x e10m2 tensor, tensor_scale=2**-500 (not the value kernel)", x, wide,
             encode=False, tensor_scale=2.0**-500)
        for dt in (F16, BF16):
            both(f"warp nvfp4 {dt}", rows(dt, n=64, seed=23), "nvfp4", out_dtype=F32, encode=False)
            calls += 1
        z = np.zeros((2, 64), F32)
        z[1, 3] = -0.0
        both("warp nvfp4 zeros", z, "nvfp4", encode=False)
        calls += 1
        # a scale type without NaN: a NaN element leaves the block amax zero
        # (zero scale: signed zeros, the NaN stays) or finite; inf amax saturates
        zn = np.zeros((2, 64), F32)
        zn[0, 1], zn[0, 2], zn[0, 9], zn[0, 17] = np.nan, -0.0, np.nan, np.inf
        zn[1] = x[0]
        zn[1, 5] = np.nan
        both("warp e4m3 x e3m2 amax, NaN in zero blocks", zn,
             BlockFormat(element="e4m3", scale="e3m2", block=8, rule="amax"), encode=False)
        calls += 1
        # vector loads and stores need arrays aligned to four elements: views
        # that start one element in take the scalar form, with the same results
        forms: list[bool] = []
        wk, vk = BW.warp_kernel, BW.value_kernel
        BW.warp_kernel = lambda *a: forms.append(a[3]) or wk(*a)
        BW.value_kernel = lambda *a: forms.append(a[3]) or vk(*a)
        try:
            flat = x.reshape(-1)
            for name in ("mxfp4_e2m1", "nvfp4"):
                for mode in (fs.Rounding.NEAREST_EVEN, SR):
                    for start, vec in ((1, False), (4, True)):
                        v = flat[start:start + 448]
                        ref = fs.blocks.quantize(v, name, **sr(mode))
                        del forms[:]
                        got = fs.blocks.quantize(cuda.to_device(flat)[start:start + 448], name, **sr(mode))
                        same(f"warp {name} {mode.name} view from {start}", got, ref)
                        calls += 1
                        if forms != [vec]:
                            FAILURES.append(f"warp {name} view from {start}: vector form {forms}, expected {vec}")
        finally:
            BW.warp_kernel, BW.value_kernel = wk, vk
        both("warp nvfp4_4over6 (not this kernel)", x, "nvfp4_4over6", encode=False)
        both("warp mxfp8 axis=0 of (64, 8)", np.ascontiguousarray(x.T), "mxfp8_e4m3", axis=0,
             encode=False)  # strided blocks: the per-block kernel
        both("warp 3-D, blocks along the last axis", x.reshape(2, 4, 64), "mxfp8_e4m3", encode=False,
             **sr(SR))
        calls += 1
    finally:
        BW.launch = orig
        configure(warp=prev.warp)
    if launched[0] != calls:
        FAILURES.append(f"warp kernel launched {launched[0]} times for {calls} eligible calls")


def check_general() -> None:
    """The general kernels: float64 in (wide SR), non-power-of-two scales,
    NVFP4 (tensor scale, given or measured), 4-over-6, integers, MINMAX, every
    output dtype."""
    for dt in (F64, F32, BF16):
        x = rows(dt, seed=4)
        for name in ("nvfp4", "nvfp4_4over6", "int8_sym", "int4_asym", "mxint8", "bfp4", "mxfp8_e4m3"):
            modes = MODES if (dt == F32 and name in ("nvfp4", "nvfp4_4over6")) else [
                fs.Rounding.NEAREST_EVEN, SR]
            for mode in modes:
                both(f"{name} {dt} {mode.name}", x, name, **sr(mode))
    x = rows(F64, seed=5)
    both("nvfp4 f64 SR k=6", x, "nvfp4", **sr(SR, 6))
    both("nvfp4_4over6 f64 SR k=3", x, "nvfp4_4over6", **sr(SR, 3))
    x32 = rows(F32, seed=6)
    for odt in (F64, F32, F16, BF16):
        for name in ("nvfp4", "mxfp8_e4m3", "int4_asym"):
            both(f"{name} f32 -> {odt}", x32, name, out_dtype=odt, encode=False)
    both("nvfp4 tensor_scale=", x32, "nvfp4", tensor_scale=0.0123)
    both("nvfp4 one level", x32, fs.blocks.format("nvfp4").with_(tensor_format=None))
    both("ue5m3 rceil", x32, BlockFormat(element="e4m3", scale="ue5m3", block=16, rule="rceil"))
    # all-zero tensor (T = 1) and a tensor of NaN / inf only
    z = np.zeros((2, 20), F32)
    z[1, 3] = -0.0
    both("nvfp4 zeros", z, "nvfp4")
    both("nvfp4 specials only", np.array([[np.nan, np.inf, -np.inf, 0.0]], F32), "nvfp4")


def check_layouts() -> None:
    """Blocks along other axes, 2-D / 3-D tiles, whole axes, strided and 0-d
    inputs, host amax=."""
    x = rows(F32, n=36, seed=7)  # (8, 36)
    both("mxfp8 axis=0", x, "mxfp8_e4m3", axis=0, **sr(SR))
    both("nvfp4 axis=0", x, "nvfp4", axis=0)
    both("nvfp4_16x16 (0, 1)", x, "nvfp4_16x16", axis=(0, 1))
    both("nvfp4_16x16 (1, 0)", x, "nvfp4_16x16", axis=(1, 0))
    t3 = rows(F32, n=30, seed=8).reshape(4, 6, 10)
    tile = fs.blocks.format("nvfp4_4over6").with_(block=(2, 4, 8))
    both("4over6 3-D tile", t3, tile, axis=(0, 1, 2), **sr(SR))
    both("mxfp4 block 8 axis=1 of 3-D", t3, fs.blocks.format("mxfp4_e2m1").with_(block=4), axis=1)
    per = fs.blocks.scaled("e4m3")
    x2 = rows(F32, n=12, seed=9)
    for axis in (None, -1, 0, (0,)):
        both(f"per-tensor/channel axis={axis}", x2[:5], per, axis=axis)
    both("scaled minmax axes (0, 2)", t3, fs.blocks.int_block(4, symmetric=False).with_(block=None),
         axis=(0, 2))
    both("per-token e5m2 e8m0 ceil", x2, fs.blocks.scaled("e5m2", "e8m0", rule="ceil"), axis=-1, **sr(SR))
    x4 = rows(F32, n=12, seed=11).reshape(2, 4, 2, 6)
    both("per-tensor 4-D", x4, per, axis=None)
    both("4-D tile spanning axes", x4, fs.blocks.format("nvfp4").with_(block=(1, 4, 2, 3)),
         axis=(0, 1, 2, 3), **sr(SR))
    d = cuda.to_device(x)
    same("quantize transposed", fs.blocks.quantize(d.T, "mxfp8_e4m3", axis=0),
         fs.blocks.quantize(x.T, "mxfp8_e4m3", axis=0))
    s = np.array(3.5, F32)
    both("0-d", s, "mxfp8_e4m3")
    both("0-d nvfp4", s, "nvfp4")
    a = np.abs(x.astype(np.float64)).reshape(8, 2, 18).max(axis=-1) * 0.5
    a = np.where(np.isfinite(a), a, 1.0)
    both("amax= per block", x, "mxfp8_e4m3", amax=a)
    both("amax= broadcast", x, "nvfp4", amax=np.float64(2.0))
    both("amax= int4_sym", x, "int4_sym", amax=a.max(axis=-1, keepdims=True)[:, :1], **sr(SR, 4))


def check_api() -> None:
    """out=, empty arrays, errors, what GPU arrays cannot do, NaN codes."""
    x = rows(F32, seed=10)
    d = cuda.to_device(x)
    out = cuda.device_array(x.shape, dtype=np.float32)
    r = fs.blocks.quantize(d, "mxfp8_e4m3", out=out)
    if r is not out:
        FAILURES.append("out= is not returned")
    same("quantize out=", out, fs.blocks.quantize(x, "mxfp8_e4m3"))
    out64 = cuda.device_array(x.shape, dtype=np.float64)
    fs.blocks.quantize(d, "nvfp4", out=out64)
    same("quantize out= float64", out64, fs.blocks.quantize(x, "nvfp4", out_dtype=np.float64))
    for shape in ((0, 3), (3, 0)):
        e = cuda.to_device(np.zeros(shape, F32))
        got = fs.blocks.quantize(e, "mxfp8_e4m3")
        codes = fs.blocks.encode(e, "nvfp4")
        ref = fs.blocks.encode(np.zeros(shape, F32), "nvfp4")
        if tuple(got.shape) != shape or [tuple(c.shape) for c in codes[:2]] != [r.shape for r in ref[:2]]:
            FAILURES.append(f"empty {shape}: {got.shape}, {[c.shape for c in codes]}")
        same(f"empty {shape} tensor scale", codes[2], np.array(ref[2]))
    # NaN into elements and scales without NaN: all-ones codes (the CPU raises)
    no_nan = BlockFormat(element=IntFormat(bits=8), scale="e3m2", block=4, rule="amax")
    xn = np.array([[1.0, np.nan, -2.0, 0.5]], F32)
    got = host(fs.blocks.encode(cuda.to_device(xn), no_nan)[0])
    if got[0, 1] != 255:
        FAILURES.append(f"encode NaN into int8 x e3m2: got {got[0, 1]}, want 255")
    for label, call, err in (
        ("scale_overflow='raise'", lambda: fs.blocks.quantize(
            d, fs.blocks.format("mxfp8_e4m3").with_(scale_overflow="raise")), NotImplementedError),
        ("device amax=", lambda: fs.blocks.quantize(d, "mxfp8_e4m3", amax=cuda.to_device(np.ones((8, 2)))),
         NotImplementedError),
        ("4-D tile", lambda: fs.blocks.quantize(cuda.to_device(np.ones((4, 4, 4, 4), F32)),
                                                fs.blocks.format("mxfp8").with_(block=(2, 2, 2, 2)),
                                                axis=(0, 1, 2, 3)), NotImplementedError),
        ("bad axis", lambda: fs.blocks.quantize(d, "mxfp8_e4m3", axis=2), ValueError),
        ("negative amax", lambda: fs.blocks.quantize(d, "mxfp8_e4m3", amax=-1.0), ValueError),
        ("SR without seed", lambda: fs.blocks.quantize(d, "mxfp8_e4m3", "stochastic"), ValueError),
        ("integer x", lambda: fs.blocks.quantize(cuda.to_device(np.arange(4)), "mxfp8_e4m3"), TypeError),
        ("out= shape", lambda: fs.blocks.quantize(d, "mxfp8_e4m3", out=cuda.device_array((2, 2), np.float32)),
         ValueError),
    ):
        try:
            call()
            FAILURES.append(f"{label}: no {err.__name__} raised")
        except err:
            pass
    # the geometry of the kernels against the layout's scale offsets
    from floatsim.blocks.layout import Layout

    for shape, block, axis in (((5, 7, 9), (4,), 1), ((6, 10), (4, 4), (1, 0)), ((3, 4, 5), (None, None), (0, 2))):
        lay = Layout(shape, block, axis)
        g = BK.geometry(lay.shape, lay.scale_shape, lay.axes, lay.bsz)
        offs = sorted(int(BK.block_origin(b, g)[1]) for b in range(BK.n_blocks(g)))
        if offs != list(range(int(np.prod(lay.scale_shape)))):
            FAILURES.append(f"geometry {shape} {block} {axis}: scale offsets {offs[:8]}...")


def check_split() -> None:
    """Large blocks cut into chunks (stats_kernel's atomics, then a thread per
    chunk): shrunk here so that blocks of a few elements split, at chunk
    boundaries that fall inside rows and tiles."""
    prev = configure(split_min_block=6, split_chunk=5)
    try:
        x = rows(F32, n=36, seed=12)  # (8, 36)
        per = fs.blocks.scaled("e4m3")
        for axis in (None, -1, 0):
            both(f"split per-tensor/channel axis={axis}", x, per, axis=axis, **sr(SR))
        pow2 = fs.blocks.scaled("e4m3", "e8m0", rule="floor")  # the fast path, split
        both("split pow2 per-row", x, pow2, axis=-1)
        both("split pow2 per-tensor SR", x, pow2, axis=None, **sr(SR, 8))
        both("split pow2 bf16 per-row", rows(BF16, n=36, seed=13), pow2, axis=-1, out_dtype=F32,
             encode=False)
        both("split mxfp8 block 32", x, "mxfp8_e4m3", **sr(SR))
        both("split nvfp4_16x16", x, "nvfp4_16x16", axis=(0, 1))
        both("split int4_asym whole rows", x, fs.blocks.int_block(4, symmetric=False).with_(block=None),
             axis=-1)
        both("split minmax axes (0, 2)", rows(F64, n=30, seed=14).reshape(4, 6, 10),
             fs.blocks.int_block(8, symmetric=False).with_(block=None), axis=(0, 2), **sr(SR))
        both("no split for 4-over-6", x, "nvfp4_4over6", **sr(SR))
    finally:
        configure(split_min_block=prev.split_min_block, split_chunk=prev.split_chunk)


GROUPS = {"fast": check_fast, "warp": check_warp, "general": check_general, "layouts": check_layouts, "api": check_api,
          "split": check_split}


if __name__ == "__main__":
    status = sim_main(GROUPS, FAILURES, sys.argv[1:])
    print(f"{CHECKS[0]} checks")
    sys.exit(status)
