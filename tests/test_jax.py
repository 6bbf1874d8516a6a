"""floatsim_jax against the core: element-wise casts on every code, midpoint
and neighbour of every registered format up to 16 bits in every mode, SR
words, jit / vmap / grad / sharding, blocks, packing and bad input.

The core (numpy, Numba kernels) is itself checked against the exact oracle
(tests/test_cast.py, tests/backends.py); here the JAX adapter must give the
same bits.  Inputs of different lengths are padded to a few sizes and format
constants are runtime arrays, so the whole file compiles a few dozen XLA
functions.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

import floatsim as fs  # noqa: E402
import floatsim_jax as fj  # noqa: E402
from floatsim import Rounding  # noqa: E402
from floatsim.kernels.forms import fits_fast32  # noqa: E402
from floatsim.registry import CANONICAL  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jax_backend import BACKEND  # noqa: E402

BF16 = np.dtype(jnp.bfloat16)
MODES = [r for r in Rounding if r is not Rounding.STOCHASTIC]


def _formats() -> list[fs.Format]:
    fmts = [f for f in CANONICAL.values() if f.bits <= 16]
    fmts += [fs.p3109(8, 3), fs.p3109(8, 4, extended=False), fs.p3109(6, 2),
             fs.Format(ebits=4, mbits=3, specials="fn", overflow="saturate", name="e4m3fn[sat]"),
             fs.Format(ebits=5, mbits=2, subnormals=False, name="e5m2[ftz]"),
             fs.Format(ebits=3, mbits=5, bias=9, name="e3m5b9")]
    return fmts


FORMATS = _formats()


def _holds(dt: np.dtype, f: fs.Format) -> bool:
    d = fs.format({np.dtype(np.float64): "float64", np.dtype(np.float32): "float32",
                   np.dtype(np.float16): "float16"}.get(dt, "bfloat16"))
    return f.mbits <= d.mbits and f.emax <= d.emax and f.emin - f.mbits >= d.emin - d.mbits


def _inputs(f: fs.Format, dt: np.dtype) -> np.ndarray:
    """Every code's value (a stride of them past 8 bits), every midpoint,
    one ulp of the working dtype either side, overflow thresholds, specials,
    and a strided sample of all float32 bit patterns."""
    work = np.float64 if dt == np.float64 else np.float32
    n = f.num_codes
    codes = np.arange(n) if n <= 256 else np.unique(np.r_[np.arange(0, n, 37), np.arange(1, n, 1024)])
    v = fs.decode(codes.astype(fs.code_dtype(f)), f, np.float64)
    fin = np.unique(v[np.isfinite(v)])
    mids = (fin[:-1] + fin[1:]) / 2
    tops = np.array([f.max, f.max * (1 + 2.0 ** -(f.mbits + 1)), f.min_subnormal / 2])
    pts = np.concatenate([fin, mids, tops, -fin, -mids, -tops])
    with np.errstate(over="ignore"):
        pts = pts.astype(work)
        near = [pts, np.nextafter(pts, work(np.inf)), np.nextafter(pts, work(-np.inf))]
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype=work)
    sample = np.arange(0, 2**32, 2**32 // 2003 + 7, dtype=np.uint64).astype(np.uint32).view(np.float32)
    with np.errstate(over="ignore"):
        return np.concatenate([*near, special, sample.astype(work)]).astype(dt)


def _same(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Indices that differ bit for bit (any NaN equals any NaN)."""
    g, w = np.asarray(got), np.asarray(want)
    if w.dtype.kind == "u":
        return np.flatnonzero(g != w)
    g64, w64 = g.astype(np.float64), w.astype(np.float64)
    nan = np.isnan(g64) & np.isnan(w64)
    return np.flatnonzero(~nan & (g64.view(np.uint64) != w64.view(np.uint64)))


def _check(got: np.ndarray, want: np.ndarray, what: str, x: np.ndarray) -> None:
    bad = _same(got, want)
    assert bad.size == 0, (f"{what}: {bad.size} differ, first x={x.reshape(-1)[bad[0]]!r} "
                           f"got {np.asarray(got).reshape(-1)[bad[0]]!r} want "
                           f"{np.asarray(want).reshape(-1)[bad[0]]!r}")


DTYPES = [np.dtype(np.float32), BF16, np.dtype(np.float16), np.dtype(np.float64)]


@pytest.mark.parametrize("dt", DTYPES, ids=str)
def test_elementwise_matches_core(dt: np.dtype) -> None:
    """quantize in every mode (exact and 5-bit SR from a seed and stream),
    encode (nearest and SR) and decode of every format the dtype holds."""
    for f in FORMATS:
        if not _holds(dt, f):
            continue
        x = _inputs(f, dt)
        for r in MODES:
            _check(BACKEND.quantize(x, f, r), fs.quantize(x, f, r), f"quantize {f} {r} {dt}", x)
        for kw in ({"seed": 0x5EED, "stream": 3}, {"seed": 2**40 + 9, "sr_bits": 5}):
            _check(BACKEND.quantize(x, f, "sr", **kw), fs.quantize(x, f, "sr", **kw),
                   f"quantize {f} sr {kw} {dt}", x)
        if dt.itemsize >= 4:
            xe = x if f.has_nan else x[~np.isnan(x)]
            _check(BACKEND.encode(xe, f), fs.encode(xe, f), f"encode {f} {dt}", xe)
            _check(BACKEND.encode(xe, f, "sr", seed=77, stream=1),
                   fs.encode(xe, f, "sr", seed=77, stream=1), f"encode {f} sr {dt}", xe)


def test_decode_every_code() -> None:
    for f in FORMATS:
        codes = np.arange(f.num_codes, dtype=fs.code_dtype(f))
        for dt in (np.dtype(np.float32), np.dtype(np.float64), BF16):
            if _holds(dt, f):
                _check(BACKEND.decode(codes, f, dt), fs.decode(codes, f, dt), f"decode {f} {dt}", codes)


def test_wide_formats_and_options() -> None:
    """Formats past float32's range (E8M0, e11m40, tf32 codes) take the
    general cast (x64); overflow=, subnormals=, daz= and explicit words."""
    x = _inputs(fs.format("e8m0"), np.dtype(np.float32))
    for f in ("e8m0", "tf32", "float32"):
        for r in ("rne", "ru", "odd"):
            _check(BACKEND.quantize(x, f, r), fs.quantize(x, f, r), f"quantize {f} {r}", x)
        xe = x if fs.format(f).has_nan else x[~np.isnan(x)]
        _check(BACKEND.encode(xe, f), fs.encode(xe, f), f"encode {f}", xe)
    x64 = _inputs(fs.format("bf16"), np.dtype(np.float64))
    with jax.enable_x64(True):
        wide = fs.Format(ebits=11, mbits=40)
        got = fj.quantize(jnp.asarray(x64), wide, "rtz")
        _check(np.asarray(got), fs.quantize(x64, wide, "rtz"), "e11m40", x64)
        _check(np.asarray(fj.encode(jnp.asarray(x64), wide, "rna")), fs.encode(x64, wide, "rna"),
               "e11m40 codes", x64)
        got = fj.quantize(jnp.asarray(x64), "e4m3", "sr", seed=3)  # 64-bit words
        _check(np.asarray(got), fs.quantize(x64, "e4m3", "sr", seed=3), "float64 SR", x64)
        rb = np.random.default_rng(1).integers(0, 2**63, x64.size, dtype=np.uint64)
        got = fj.quantize(jnp.asarray(x64), "e5m2", "sr", random_bits=jnp.asarray(rb))
        _check(np.asarray(got), fs.quantize(x64, "e5m2", "sr", random_bits=rb), "uint64 bits", x64)
    x = _inputs(fs.format("e4m3"), np.dtype(np.float32))
    rb = np.random.default_rng(2).integers(0, 2**32, x.size, dtype=np.uint64).astype(np.uint32)
    for kw in ({"overflow": "saturate"}, {"overflow": "inf"}, {"subnormals": False}, {"daz": True}):
        _check(np.asarray(fj.quantize(x, "e5m2", **kw)), fs.quantize(x, "e5m2", **kw), str(kw), x)
    _check(np.asarray(fj.quantize(x, "e4m3", "sr", random_bits=jnp.asarray(rb), sr_bits=3)),
           fs.quantize(x, "e4m3", "sr", random_bits=rb, sr_bits=3), "uint32 bits", x)
    _check(np.asarray(fj.quantize(x, "e4m3", out_dtype=jnp.bfloat16)),
           fs.quantize(x, "e4m3", out_dtype=BF16), "out_dtype", x)


def test_philox_words_match_core() -> None:
    from floatsim.kernels.philox import random_words
    from floatsim_jax.philox import words32, words64

    seed, stream = 0x1234_5678_9ABC, 7
    lo, hi = np.uint32(seed & 0xFFFFFFFF), np.uint32(seed >> 32)
    w = np.asarray(words32(13, lo, hi, np.uint32(stream)))
    assert w.tolist() == [random_words(seed & 0xFFFFFFFF, seed >> 32, i, stream, 0)[1] for i in range(13)]
    with jax.enable_x64(True):  # the uint64 multiply form
        assert np.array_equal(np.asarray(words32(13, lo, hi, np.uint32(stream))), w)
        h, low = words64(5, lo, hi, np.uint32(stream))
    ref = [random_words(seed & 0xFFFFFFFF, seed >> 32, i, stream, 1) for i in range(5)]
    assert np.asarray(h).tolist() == [r[0] for r in ref]
    assert np.asarray(low).tolist() == [r[1] for r in ref]


def test_keys_map_to_seeds() -> None:
    x = jnp.asarray(np.linspace(-3, 3, 100, dtype=np.float32))
    want = fs.quantize(np.asarray(x), "e2m1", "sr", seed=7, stream=2)
    for key in (jax.random.key(7), jax.random.PRNGKey(7), jnp.uint32(7), 7):
        assert np.array_equal(np.asarray(fj.quantize(x, "e2m1", "sr", seed=key, stream=2)), want)
    k = jax.random.split(jax.random.key(0))[1]
    d = np.asarray(jax.random.key_data(k)).astype(np.uint64)
    want = fs.quantize(np.asarray(x), "e2m1", "sr", seed=int(d[0]) << 32 | int(d[1]))
    assert np.array_equal(np.asarray(fj.quantize(x, "e2m1", "sr", seed=k)), want)


def test_jit_equals_eager_and_rounds() -> None:
    """Jitted casts (traced seeds included) give the eager bits, and really
    round: XLA may fold convert(convert(x, bf16), f32), not integer ops."""
    x = jnp.asarray(np.random.default_rng(0).standard_normal(4096).astype(np.float32))

    @jax.jit
    def f(x, seed):
        return (fj.quantize(x, "bf16"), fj.quantize(x, "e4m3fn"), fj.quantize(x * 2.0, "e5m2"),
                fj.quantize(x, "e2m1", "sr", seed=seed), fj.encode(x, "e3m2"))

    got = f(x, jnp.uint32(11))
    xn = np.asarray(x)
    want = (fs.quantize(xn, "bf16"), fs.quantize(xn, "e4m3fn"), fs.quantize(xn * 2, "e5m2"),
            fs.quantize(xn, "e2m1", "sr", seed=11), fs.encode(xn, "e3m2"))
    for g, w in zip(got, want):
        _check(np.asarray(g), w, "jit", xn)
    eager = fj.quantize(x, "e2m1", "sr", seed=11)
    assert np.array_equal(np.asarray(eager), np.asarray(got[3]))
    assert np.count_nonzero(np.asarray(got[0]) != xn) > 4000  # rounded, not folded away
    assert np.count_nonzero(np.asarray(got[1]) != xn) > 4000
    hlo = jax.jit(lambda v: fj.quantize(v, "bf16")).lower(x).as_text()
    assert "callback" not in hlo  # no host round trip


def test_vmap_equals_loop() -> None:
    x = jnp.asarray(np.random.default_rng(1).standard_normal((3, 50)).astype(np.float32))
    keys = jax.random.split(jax.random.key(3), 3)
    got = jax.vmap(lambda r, k: fj.quantize(r, "e4m3", "sr", seed=k))(x, keys)
    loop = [fj.quantize(x[i], "e4m3", "sr", seed=keys[i]) for i in range(3)]
    assert np.array_equal(np.asarray(got), np.asarray(jnp.stack(loop)))
    got = jax.vmap(lambda r: fj.blocks.quantize(r, "mxfp4", axis=-1))(x)
    loop = jnp.stack([fj.blocks.quantize(x[i], "mxfp4") for i in range(3)])
    assert np.array_equal(np.asarray(got), np.asarray(loop))


def test_grad_mlp_matches_hand_written_ste() -> None:
    """jax.grad of an MLP whose weights and activations are quantized equals
    the gradient written out by hand with straight-through casts; clipped
    STE zeroes what overflows; a gradient format rounds the cotangent."""
    rng = np.random.default_rng(2)
    w1 = jnp.asarray(rng.standard_normal((8, 16)).astype(np.float32))
    w2 = jnp.asarray(rng.standard_normal((16, 4)).astype(np.float32))
    x = jnp.asarray(rng.standard_normal((5, 8)).astype(np.float32))

    def loss(w1, w2):
        h = jnp.tanh(fj.quantize(x, "e4m3") @ fj.quantize(w1, "e4m3"))
        return jnp.sum((fj.quantize(h, "e5m2") @ fj.quantize(w2, "e4m3")) ** 2) / 2

    g1, g2 = jax.grad(loss, argnums=(0, 1))(w1, w2)
    q = lambda v, f: jnp.asarray(fs.quantize(np.asarray(v), f))  # the forward casts, by the core
    xq, w1q, w2q = q(x, "e4m3"), q(w1, "e4m3"), q(w2, "e4m3")
    h = jnp.tanh(xq @ w1q)
    hq = q(h, "e5m2")
    out = hq @ w2q
    dout = out
    dw2 = hq.T @ dout  # d/dw2 through the identity of the cast
    dh = dout @ w2q.T
    dw1 = xq.T @ (dh * (1 - h**2))
    np.testing.assert_allclose(np.asarray(g2), np.asarray(dw2), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(g1), np.asarray(dw1), rtol=1e-5, atol=1e-5)
    v = jnp.array([1.0, 500.0, -460.0, -1000.0])
    assert jax.grad(lambda t: fj.quantize(t, "e4m3", grad="clipped").sum())(v).tolist() == [1, 0, 0, 0]
    g = jax.grad(lambda t: jnp.sum(fj.quantize(t, "e4m3", grad_format="e5m2") * 0.3))(v)
    assert np.asarray(g).tolist() == [0.3125] * 4  # 0.3 rounded to e5m2
    g = jax.grad(lambda t: jnp.sum(fj.quantize(t, "e4m3", grad_format="e2m1", grad_rounding="sr",
                                               grad_seed=5) * 0.3))(v)
    assert np.array_equal(np.asarray(g), fs.quantize(np.full(4, 0.3, np.float32), "e2m1", "sr", seed=5))
    g = jax.grad(lambda t: jnp.sum(fj.blocks.quantize(t.reshape(1, 4), "mxfp4")))(v)
    assert np.asarray(g).tolist() == [1.0] * 4


_SHARDED = textwrap.dedent("""
    import numpy as np, jax, jax.numpy as jnp, floatsim as fs, floatsim_jax as fj
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    assert jax.device_count() == 2, jax.devices()
    mesh = Mesh(np.array(jax.devices()), ("d",))
    x = np.random.default_rng(0).standard_normal((8, 64)).astype(np.float32)
    xs = jax.device_put(x, NamedSharding(mesh, P("d", None)))
    f = jax.jit(lambda v: (fj.quantize(v, "e4m3", "sr", seed=9), fj.blocks.quantize(v, "mxfp4")))
    a, b = f(xs)
    assert len(a.sharding.device_set) == 2
    assert np.array_equal(np.asarray(a), fs.quantize(x, "e4m3", "sr", seed=9))
    assert np.array_equal(np.asarray(b), fs.blocks.quantize(x, "mxfp4"))
    g = jax.shard_map(lambda v: fj.quantize(v, "e2m1"), mesh=mesh, in_specs=P("d"), out_specs=P("d"))
    assert np.array_equal(np.asarray(g(xs)), fs.quantize(x, "e2m1"))
    print("sharded ok")
""")


def test_sharded_equals_unsharded() -> None:
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                           os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", _SHARDED], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0 and "sharded ok" in proc.stdout, proc.stderr[-3000:]


# ---- blocks ---------------------------------------------------------------------------------
def _block_input() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((6, 70)) * 2.0 ** rng.integers(-30, 30, (6, 1))).astype(np.float32)
    x[0, :5] = [np.nan, 1, 2, 3, 4]
    x[1, 3] = np.inf
    x[2, :32] = 0
    x[3, :40] *= np.float32(1e-36)  # blocks whose scale leaves float32's normal range
    x[4, :40] = 3e38
    x[5, 40:] *= np.float32(1e-39)  # float32 subnormals
    return x


@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1"])
def test_blocks_match_core(name: str) -> None:
    x = _block_input()
    for rule in ("floor", "ceil", "even", "nearest", "rceil"):
        bf = fs.blocks.format(name).with_(rule=rule)
        for r in MODES:
            _check(np.asarray(fj.blocks.quantize(x, bf, r, axis=0)),
                   fs.blocks.quantize(x, bf, r, axis=0), f"{bf} {r} axis 0", x)
        for kw in ({"seed": 99, "stream": 2}, {"seed": 5, "sr_bits": 4}):
            _check(np.asarray(fj.blocks.quantize(x, bf, "sr", **kw)),
                   fs.blocks.quantize(x, bf, "sr", **kw), f"{bf} sr {kw}", x)
    for ax in (-1, 0):
        e, s = fj.blocks.encode(x, name, "odd", axis=ax)[:2]
        e0, s0 = fs.blocks.encode(x, name, "odd", axis=ax)[:2]
        _check(np.asarray(e), e0, f"{name} elements", x)
        _check(np.asarray(s), s0, f"{name} scales", x)
        _check(np.asarray(fj.blocks.decode(e0, s0, name, axis=ax)),
               fs.blocks.decode(e0, s0, name, axis=ax), f"{name} decode", x)


def test_blocks_layouts_and_dtypes() -> None:
    x = _block_input()
    tile = fs.blocks.format("mxfp8").with_(block=(4, 8))
    _check(np.asarray(fj.blocks.quantize(x, tile, axis=(0, 1))),
           fs.blocks.quantize(x, tile, axis=(0, 1)), "tile", x)
    x3 = x[:, :60].reshape(6, 3, 20)
    _check(np.asarray(fj.blocks.quantize(x3, "mxfp4", "sr", axis=1, seed=1)),
           fs.blocks.quantize(x3, "mxfp4", "sr", axis=1, seed=1), "axis 1 of 3", x3)
    xb = jnp.asarray(x).astype(jnp.bfloat16)
    _check(np.asarray(fj.blocks.quantize(xb, "mxfp8")), fs.blocks.quantize(np.asarray(xb), "mxfp8"),
           "bf16", x)
    with jax.enable_x64(True):
        x64 = x.astype(np.float64) * 2.0**-200
        _check(np.asarray(fj.blocks.quantize(jnp.asarray(x64), "mxfp8", "sr", seed=4)),
               fs.blocks.quantize(x64, "mxfp8", "sr", seed=4), "float64", x64)
        e, s = fj.blocks.encode(jnp.asarray(x64), "mxfp4", "ru")[:2]
        e0, s0 = fs.blocks.encode(x64, "mxfp4", "ru")[:2]
        assert np.array_equal(np.asarray(e), e0) and np.array_equal(np.asarray(s), s0)
    amax = fj.blocks.block_amax(x[1:2], "mxfp8")
    assert np.asarray(amax).tolist() == fs.blocks.block_amax(x[1:2], "mxfp8").tolist()


def test_pack_unpack_match_core() -> None:
    rng = np.random.default_rng(3)
    for bits in (1, 3, 4, 6, 8):
        c = rng.integers(0, 2**bits, 37, dtype=np.uint8)
        p = fj.pack(jnp.asarray(c), bits)
        assert np.array_equal(np.asarray(p), fs.pack(c, bits))
        assert np.array_equal(np.asarray(fj.unpack(p, bits, 37)), c)


# ---- bad input ------------------------------------------------------------------------------
def test_bad_input() -> None:
    x = jnp.ones(4)
    with pytest.raises(TypeError, match="dtype int32; floatsim_jax rounds floating-point"):
        fj.quantize(jnp.arange(4), "e4m3")
    with pytest.raises(ValueError, match="unknown format"):
        fj.quantize(x, "e9m9x")
    with pytest.raises(ValueError, match="axis=2 is out of range for an array of 1 dimension"):
        fj.blocks.quantize(x, "mxfp8", axis=2)
    with pytest.raises(TypeError, match="fmt must be a static Python value"):
        jax.jit(lambda v, f: fj.quantize(v, f))(x, jnp.float32(1))
    with pytest.raises(TypeError, match="axis must be a static Python value"):
        jax.jit(lambda v, a: fj.blocks.quantize(v, "mxfp8", axis=a))(x, 0)
    with pytest.raises(ValueError, match="exactly one of seed="):
        fj.quantize(x, "e4m3", "sr")
    with pytest.raises(ValueError, match="apply to rounding='stochastic' only"):
        fj.quantize(x, "e4m3", seed=1)
    with pytest.raises(ValueError, match="sr_bits=40 is out of range"):
        fj.quantize(x, "e4m3", "sr", seed=1, sr_bits=40)
    with pytest.raises(ValueError, match="jax_enable_x64"):
        fj.quantize(x, "e8m0")
    with pytest.raises(ValueError, match="float16 cannot hold every value of"):
        fj.quantize(x, "bf16", out_dtype=jnp.float16)
    with pytest.raises(NotImplementedError, match="does not take .*minmax"):
        fj.blocks.quantize(x, "int4_asym")
    with pytest.raises(ValueError, match="grad='zero' is not a gradient rule"):
        fj.quantize(x, "e4m3", grad="zero")
    with pytest.raises(TypeError, match="codes has dtype float32"):
        fj.decode(x, "e4m3")
    with pytest.raises(ValueError, match="scales has shape"):
        fj.blocks.decode(jnp.zeros((2, 32), jnp.uint8), jnp.zeros((2, 2), jnp.uint8), "mxfp8")


def test_fast_path_covers_registered_formats() -> None:
    """Every registered format but E8M0 and float64 takes the float32 fast
    path (no x64 needed); those two need x64 (checked above)."""
    slow = sorted({f.name for f in CANONICAL.values() if not fits_fast32(f)})
    assert slow == ["float64", "float8_e8m0fnu"]


def test_value_scales_match_core() -> None:
    """NVFP4 (UE4M3 scales, an FP32 tensor scale) and 16x16 tiles: the
    value-scale route (x64).  Every mode, per-tensor / per-row scaled
    formats and float64 input: test_value_scales_every_mode (slow)."""
    x = _block_input()
    x[0, 0], x[1, 3] = 1.0, 5.0
    with jax.enable_x64(True):
        _check(np.asarray(fj.blocks.quantize(x, "nvfp4", "sr", seed=3)),
               fs.blocks.quantize(x, "nvfp4", "sr", seed=3), "nvfp4 sr", x)
        e, s, t, _ = fj.blocks.encode(x, "nvfp4_16x16", "rna", axis=(0, 1))
        e0, s0, t0, _ = fs.blocks.encode(x, "nvfp4_16x16", "rna", axis=(0, 1))
        assert np.array_equal(np.asarray(e), e0) and np.array_equal(np.asarray(s), s0)
        assert float(t) == t0
        _check(np.asarray(fj.blocks.decode(e0, s0, "nvfp4_16x16", axis=(0, 1), tensor_scale=t0)),
               fs.blocks.decode(e0, s0, "nvfp4_16x16", axis=(0, 1), tensor_scale=t0), "decode", x)
    with pytest.raises(ValueError, match="jax_enable_x64"):
        fj.blocks.quantize(x, "nvfp4")


@pytest.mark.slow
def test_value_scales_every_mode() -> None:
    x = _block_input()
    x[0, 0], x[1, 3] = 1.0, 5.0
    with jax.enable_x64(True):
        for r in MODES:
            for name, ax in (("nvfp4", -1), ("nvfp4_16x16", (0, 1))):
                _check(np.asarray(fj.blocks.quantize(x, name, r, axis=ax)),
                       fs.blocks.quantize(x, name, r, axis=ax), f"{name} {r}", x)
            _check(np.asarray(fj.blocks.quantize(x, "nvfp4", r, tensor_scale=0.01)),
                   fs.blocks.quantize(x, "nvfp4", r, tensor_scale=0.01), f"tensor_scale {r}", x)
        for ax in (None, -1, 0):
            per = fs.blocks.scaled("e4m3")
            _check(np.asarray(fj.blocks.quantize(x, per, axis=ax)),
                   fs.blocks.quantize(x, per, axis=ax), f"scaled axis={ax}", x)
        x64 = x.astype(np.float64) * 3.3
        _check(np.asarray(fj.blocks.quantize(x64, "nvfp4", "sr", seed=2)),
               fs.blocks.quantize(x64, "nvfp4", "sr", seed=2), "float64 sr", x64)


def test_optional_submodules_are_attributes_of_the_package() -> None:
    # `import floatsim_jax as fj; fj.flax.dot_general(...)` as the docs write it
    code = ("import floatsim_jax as fj, sys; assert 'floatsim_jax.flax' not in sys.modules; "
            "print(fj.flax.dot_general.__module__, fj.noise.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["floatsim_jax.flax", "floatsim_jax.noise"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        fj.nope  # noqa: B018
