"""cuda/floatsim.cuh, built for the host, against the exact oracle bit for bit.

A small C++ driver (cuda/tests/host_driver.cpp, built with g++ into a temporary
directory) runs the header on files of inputs.  The tests compare its codes with
``floatsim.reference.encode_value`` and its quantized values with the values of
those codes:

* every value of every registered format of at most 8 bits (and a few P3109
  formats and format variants), the midpoints between neighbours, the overflow
  thresholds, each also 1 ulp above and below, as float64 and as float32, in all
  seven rounding modes; stochastic rounding (exact and k-bit) with explicit
  random words picked at, next to and away from the rounding threshold;
* random float32 and float64 inputs for those formats and for wider ones;
* denormals-are-zero on inputs subnormal in their own dtype;
* 1e6 random float32 bit patterns against ``floatsim.encode`` (the Numba
  kernels), seeded stochastic rounding included: the same seed gives the same codes;
* Philox-4x32-10 against the Random123 known-answer vectors, and the
  (seed, index, stream) -> word mapping of docs/semantics.md;
* that the header, cuda/example_kernel.cu and a device translation unit build for
  sm_90 with nvcc (skipped without nvcc).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import subprocess
import zlib
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from header_driver import CUDA_DIR, DEVICE_SRC, NO_CODE, OVERFLOW, SPECIALS, Driver, build

import floatsim as fs
from floatsim import reference as ref
from floatsim.formats import Format
from floatsim.registry import CANONICAL, p3109
from floatsim.rounding import Rounding

DETERMINISTIC = [r for r in Rounding if r is not Rounding.STOCHASTIC]
SR = Rounding.STOCHASTIC
UINT = {np.dtype(np.float32): np.uint32, np.dtype(np.float64): np.uint64}
DEFAULT_W = {np.dtype(np.float32): 32, np.dtype(np.float64): 64}

# ---- formats ------------------------------------------------------------------------
SMALL = [f for f in CANONICAL.values() if f.bits <= 8] + [
    p3109(8, 3),
    p3109(8, 1),
    p3109(8, 4, extended=False),
    p3109(8, 3, signed=False),
    p3109(6, 2),
]


def _variant(base: str | Format, label: str, **changes: object) -> Format:
    f = fs.format(base) if isinstance(base, str) else base
    return dataclasses.replace(f, name=f"{f}[{label}]", **changes)


VARIANTS = [
    _variant("e4m3fn", "saturate", overflow="saturate"),
    _variant("e5m2", "saturate", overflow="saturate"),
    _variant("e5m2", "overflow=nan", overflow="nan"),
    _variant("e5m2", "no subnormals", subnormals=False),
    _variant("e2m1", "no subnormals", subnormals=False),
    _variant("ue4m3", "no subnormals", subnormals=False),
    _variant(p3109(8, 3), "saturate", overflow="saturate"),
    _variant("e3m2", "bias 6", bias=6),
    _variant(Format(ebits=0, mbits=3, specials="finite"), "fixed point"),
    _variant(Format(ebits=3, mbits=2, has_zero=False, specials="fn"), "signed, no zero"),
    _variant(Format(ebits=3, mbits=1, signed=False, specials="finite"), "unsigned finite"),
]
WIDE = [CANONICAL[n] for n in ("float16", "bfloat16", "tf32", "float32", "float64")]


def _id(f: Format) -> str:
    return str(f)


def _seed(*parts: object) -> int:
    """A stable per-case seed (str hashes change from run to run)."""
    return zlib.crc32(repr(parts).encode())


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Driver:
    built = build(tmp_path_factory.mktemp("floatsim_cuh"))
    if isinstance(built, str):
        pytest.skip(built)
    return built


# ---- the oracle -----------------------------------------------------------------------
def oracle_codes(
    xs: np.ndarray,
    fmt: Format,
    rounding: Rounding,
    *,
    words: np.ndarray | None = None,
    width: int | None = None,
    sr_bits: int | None = None,
    daz: bool = False,
) -> np.ndarray:
    """floatsim.reference.encode_value of every element (NO_CODE where it raises for NaN)."""
    out = np.empty(len(xs), dtype=np.uint64)
    kw: dict[str, object] = {}
    for i, x in enumerate(xs):  # numpy scalars: the oracle reads their dtype (daz)
        if rounding is SR:
            kw = {"random_bits": int(words[i]), "random_width": width, "sr_bits": sr_bits}
        try:
            out[i] = ref.encode_value(x, fmt, rounding, daz=daz, **kw)
        except ValueError as err:
            if "NaN" not in str(err):
                raise
            out[i] = NO_CODE
    return out


@cache
def _value_of(fmt: Format, code: int) -> float:
    if code == NO_CODE:
        return math.nan
    v = ref.decode_code(code, fmt)
    return float(v)


def expected_values(fmt: Format, codes: np.ndarray) -> np.ndarray:
    """The value of each code, as quantize() should return it (NaN for NO_CODE)."""
    if fmt.bits <= 16:
        table = np.append(fmt.values(), np.nan)
        return table[np.where(codes == NO_CODE, fmt.num_codes, codes).astype(np.int64)]
    return np.array([_value_of(fmt, int(c)) for c in codes], dtype=np.float64)


def _same_floats(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Equal bit patterns, or both NaN (the header's NaN sign is not part of the contract)."""
    return (a.view(np.uint64) == b.view(np.uint64)) | (np.isnan(a) & np.isnan(b))


def check(
    driver: Driver,
    xs: np.ndarray,
    fmt: Format,
    rounding: Rounding,
    *,
    words: np.ndarray | None = None,
    width: int | None = None,
    sr_bits: int | None = None,
    daz: bool = False,
) -> int:
    """Compare header and oracle on xs; return the number of cases compared."""
    codes, values = driver.encode(
        xs, fmt, rounding, words=words, width=width or 0, sr_bits=sr_bits or 0, daz=daz
    )
    if rounding is SR and width is None:
        width = DEFAULT_W[xs.dtype]
    want = oracle_codes(xs, fmt, rounding, words=words, width=width, sr_bits=sr_bits, daz=daz)
    bad = np.flatnonzero(codes != want)
    what = f"{fmt} {rounding.name.lower()} W={width} k={sr_bits} daz={daz} {xs.dtype}"
    if bad.size:
        lines = [
            f"x={xs[i]!r} ({xs[i : i + 1].view(UINT[xs.dtype])[0]:#x})"
            + (f" r={int(words[i]):#x}" if words is not None else "")
            + f": header {int(codes[i]):#x}, oracle {int(want[i]):#x}"
            for i in bad[:8]
        ]
        pytest.fail(f"{bad.size} of {xs.size} codes differ ({what}):\n" + "\n".join(lines))
    want_v = expected_values(fmt, want)
    if xs.dtype == np.float32:  # the float overload returns float
        with np.errstate(over="ignore"):
            want_v = want_v.astype(np.float32).astype(np.float64)
    bad = np.flatnonzero(~_same_floats(values, want_v))
    if bad.size:
        i = bad[0]
        pytest.fail(
            f"{bad.size} quantized values differ ({what}); first: x={xs[i]!r} "
            f"header {values[i]!r}, value of code {int(want[i]):#x} is {want_v[i]!r}"
        )
    return xs.size


# ---- inputs -------------------------------------------------------------------------
def _unique_bits(x: np.ndarray) -> np.ndarray:
    u = UINT[x.dtype]
    return np.unique(x.view(u)).view(x.dtype)


def _specials(dtype: np.dtype) -> list[float]:
    info = np.finfo(dtype)
    tiny = float(np.nextafter(dtype.type(0), dtype.type(1)))
    return [
        math.nan,
        -math.nan,
        math.inf,
        -math.inf,
        0.0,
        -0.0,
        tiny,
        -tiny,
        float(info.max),
        -float(info.max),
        float(info.tiny),
        -float(info.tiny),
    ]


def grid_inputs(fmt: Format, dtype: type) -> np.ndarray:
    """Every finite value of fmt, the midpoints of neighbours, the overflow and underflow
    thresholds, each also one ulp (of dtype) above and below, and dtype's specials."""
    dt = np.dtype(dtype)
    vals = fmt.values()
    fin = np.unique(vals[np.isfinite(vals)])
    mids = (fin[:-1] + fin[1:]) / 2
    top = fin[-1]
    q_top = math.ldexp(1.0, fmt.emax - fmt.mbits)  # the spacing continued past max
    smallest = fmt.min_subnormal if fmt.has_zero else fmt.min_normal
    edges = [
        top + q_top / 2,
        top + q_top,
        top + 1.5 * q_top,
        2 * top,
        1e300,
        smallest / 2,
        smallest / 4,
        smallest * 0.75,
        smallest / 1024,
    ]
    pts = np.concatenate([fin, mids, edges, [-e for e in edges]])
    if not fmt.signed:  # the unsigned rule: negatives are NaN (or 0)
        pts = np.concatenate([pts, -fin[:8], -mids[:8]])
    with np.errstate(over="ignore"):
        p = pts.astype(dt)
    inf = dt.type(np.inf)
    return _unique_bits(
        np.concatenate(
            [p, np.nextafter(p, inf), np.nextafter(p, -inf), np.array(_specials(dt), dtype=dt)]
        )
    )


def random_inputs(fmt: Format, dtype: type, n: int, rng: np.random.Generator) -> np.ndarray:
    """Half arbitrary bit patterns, half with exponents spread over fmt's range (and
    a little beyond), where the rounding decisions happen."""
    dt = np.dtype(dtype)
    u, nbits, mb = (np.uint32, 32, 23) if dt == np.float32 else (np.uint64, 64, 52)
    ebias = 127 if dt == np.float32 else 1023
    bits = rng.integers(0, 2**nbits, size=n, dtype=np.uint64).astype(u)
    lo = max(fmt.emin - fmt.mbits - 4, 1 - ebias - mb)
    hi = min(fmt.emax + 3, ebias)
    e = rng.integers(lo, hi + 1, size=n // 2) + ebias
    sub = e <= 0  # below the dtype's normal range: keep the pattern's own subnormal
    e = np.where(sub, 0, e).astype(u)
    keep = u(~(((1 << (nbits - 1 - mb)) - 1) << mb) & ((1 << nbits) - 1))
    near = (bits[: n // 2] & keep) | (e << u(mb))
    return np.concatenate([near, bits[n // 2 :]]).view(dt)


def _frac_parts(x: float, fmt: Format) -> tuple[int, int]:
    """(n, s) with the discarded fraction of |x| at fmt's spacing equal to n / 2**s."""
    if not math.isfinite(x) or x == 0:
        return 0, 0
    m, e2 = math.frexp(abs(x))
    if not fmt.has_zero and e2 - 1 < fmt.emin:
        return 0, 0
    mi, ex = int(m * 2**53), e2 - 53
    shift = max(e2 - 1, fmt.emin) - fmt.mbits - ex
    return (mi & ((1 << shift) - 1), shift) if shift > 0 else (0, 0)


def sr_words(
    xs: np.ndarray, fmt: Format, width: int, sr_bits: int | None, rng: np.random.Generator
) -> np.ndarray:
    """Random words; for half the elements, the word just at or below the threshold
    where stochastic rounding starts to round away (exact: ceil(frac * 2**W); k-bit:
    2**k - floor(frac * 2**k)), with random bits above the low k for k-bit SR."""
    words = rng.integers(0, 2**width, size=xs.size, dtype=np.uint64)
    pick = rng.integers(0, 4, size=xs.size).tolist()
    for i, x in enumerate(xs.tolist()):
        if pick[i] >= 2:
            continue
        n, s = _frac_parts(x, fmt)
        if n == 0:
            continue
        if sr_bits is None:
            t = ((n << width) + (1 << s) - 1) >> s  # ceil(frac * 2**W)
            words[i] = min(max(t - 1 + pick[i], 0), 2**width - 1)
        else:
            k = sr_bits
            t = (n << k) >> s  # floor(frac * 2**k)
            low = min(max((1 << k) - t - 1 + pick[i], 0), (1 << k) - 1)
            words[i] = (int(words[i]) >> k << k) | low
    return words


def _k_for(fmt: Format, salt: int) -> int:
    ks = (1, 2, 3, 5, 8, 13, 24, 32)
    return ks[(_seed(str(fmt)) + salt) % len(ks)]


def run_all_modes(
    driver: Driver, xs: np.ndarray, fmt: Format, rng: np.random.Generator, salt: int = 0
) -> int:
    """The six deterministic modes, exact SR (W of the dtype) and k-bit SR on xs."""
    n = 0
    for mode in DETERMINISTIC:
        n += check(driver, xs, fmt, mode)
    w = DEFAULT_W[xs.dtype]
    n += check(driver, xs, fmt, SR, words=sr_words(xs, fmt, w, None, rng))
    k = _k_for(fmt, salt)
    n += check(driver, xs, fmt, SR, words=sr_words(xs, fmt, w, k, rng), sr_bits=k)
    return n


# ---- tests against the oracle -------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fmt", SMALL, ids=_id)
def test_grid_against_oracle(driver: Driver, fmt: Format, dtype: type) -> None:
    xs = grid_inputs(fmt, dtype)
    rng = np.random.default_rng(_seed(str(fmt), str(dtype)))
    assert run_all_modes(driver, xs, fmt, rng, salt=int(dtype == np.float32)) == 8 * xs.size


@pytest.mark.parametrize("fmt", VARIANTS, ids=_id)
def test_variants_against_oracle(driver: Driver, fmt: Format) -> None:
    xs = grid_inputs(fmt, np.float64)
    rng = np.random.default_rng(_seed(str(fmt)))
    run_all_modes(driver, xs, fmt, rng)


@pytest.mark.parametrize("fmt", SMALL + WIDE + VARIANTS, ids=_id)
def test_random_against_oracle(driver: Driver, fmt: Format) -> None:
    rng = np.random.default_rng(_seed(str(fmt), 7))
    for dtype in (np.float32, np.float64):
        xs = random_inputs(fmt, dtype, 128, rng)
        run_all_modes(driver, xs, fmt, rng, salt=3)
    # float64 inputs with 32-bit words (a uint32 random_bits= array): W = 32
    xs = random_inputs(fmt, np.float64, 128, rng)
    check(driver, xs, fmt, SR, words=sr_words(xs, fmt, 32, None, rng), width=32)


@pytest.mark.parametrize(
    "fmt",
    [
        CANONICAL[n]
        for n in (
            "float8_e4m3fn",
            "float8_e4m3fnuz",
            "float8_e8m0fnu",
            "bfloat16",
            "float32",
            "float64",
        )
    ],
    ids=_id,
)
def test_daz_against_oracle(driver: Driver, fmt: Format) -> None:
    """Denormals-are-zero judges subnormality in the input's own dtype."""
    rng = np.random.default_rng(11)
    for dtype, nbits in ((np.float32, 32), (np.float64, 64)):
        u = UINT[np.dtype(dtype)]
        mbits = np.finfo(dtype).nmant
        sub = rng.integers(1, 2**mbits, size=64, dtype=np.uint64).astype(u)  # subnormals
        sub = np.concatenate([sub, sub | u(1 << (nbits - 1))])  # and their negatives
        xs = np.concatenate([sub.view(dtype), random_inputs(fmt, dtype, 64, rng)])
        for mode in (Rounding.NEAREST_EVEN, Rounding.UP, Rounding.DOWN):
            check(driver, xs, fmt, mode, daz=True)
        check(
            driver,
            xs,
            fmt,
            SR,
            daz=True,
            words=sr_words(xs, fmt, DEFAULT_W[np.dtype(dtype)], None, rng),
        )


# ---- tests against floatsim.encode ----------------------------------------------------
def _fs_encode_or_skip() -> object:
    encode = getattr(fs, "encode", None)
    if encode is None:
        pytest.skip("floatsim.encode (floatsim/cast.py) is not available yet")
    return encode


@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2", "float4_e2m1fn", "bfloat16"])
def test_large_sample_against_floatsim_encode(driver: Driver, name: str) -> None:
    """1e6 float32 bit patterns: all modes, and seeded SR with the same seed and stream."""
    encode = _fs_encode_or_skip()
    fmt = CANONICAL[name]
    rng = np.random.default_rng(2024)
    xs = random_inputs(fmt, np.float32, 10**6, rng)
    if not fmt.has_nan:  # floatsim.encode raises on NaN there; the header gives NO_CODE
        xs = xs[~np.isnan(xs)]
    seed, stream = 0x9E3779B97F4A7C15, 5
    runs = [(mode, {}) for mode in DETERMINISTIC] + [
        (SR, {"seed": seed, "stream": stream}),
        (SR, {"seed": seed, "stream": stream, "sr_bits": 4}),
    ]
    for mode, kw in runs:
        codes, _ = driver.encode(xs, fmt, mode, **kw)
        want = encode(xs, fmt, mode, **kw).astype(np.uint64)
        bad = np.flatnonzero(codes != want)
        assert bad.size == 0, (
            f"{bad.size} codes differ from floatsim.encode ({name}, {mode.name}, {kw}); "
            f"first x={xs[bad[0]]!r}: header {int(codes[bad[0]]):#x}, "
            f"floatsim.encode {int(want[bad[0]]):#x}"
        )


@pytest.mark.parametrize("name", ["float8_e4m3fn", "bfloat16"])
def test_seeded_float64_against_floatsim_encode(driver: Driver, name: str) -> None:
    """float64 inputs draw 64-bit words for exact SR and 32-bit words for k-bit SR, in both
    implementations (docs/semantics.md)."""
    encode = _fs_encode_or_skip()
    fmt = CANONICAL[name]
    xs = random_inputs(fmt, np.float64, 200_000, np.random.default_rng(7))
    for kw in (
        {"seed": 12345, "stream": 0},
        {"seed": 2**64 - 1, "stream": 2**32 - 1, "sr_bits": 9},
    ):
        codes, _ = driver.encode(xs, fmt, SR, **kw)
        want = encode(xs, fmt, SR, **kw).astype(np.uint64)
        assert np.array_equal(codes, want), f"{np.sum(codes != want)} codes differ ({kw})"


# ---- random bits --------------------------------------------------------------------
M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85


def _philox(ctr: list[int], key: list[int]) -> list[int]:
    """Philox-4x32-10 in plain Python (Salmon et al., SC'11)."""
    x0, x1, x2, x3 = ctr
    k0, k1 = key
    for _ in range(10):
        p0, p1 = M0 * x0, M1 * x2
        x0, x1, x2, x3 = (
            (p1 >> 32) ^ x1 ^ k0,
            p1 & 0xFFFFFFFF,
            (p0 >> 32) ^ x3 ^ k1,
            p0 & 0xFFFFFFFF,
        )
        k0, k1 = (k0 + W0) & 0xFFFFFFFF, (k1 + W1) & 0xFFFFFFFF
    return [x0, x1, x2, x3]


# Random123's kat_vectors for philox4x32_10: (counter, key, result).
KAT = [
    (
        "00000000 00000000 00000000 00000000",
        "00000000 00000000",
        "6627e8d5 e169c58d bc57ac4c 9b00dbd8",
    ),
    (
        "ffffffff ffffffff ffffffff ffffffff",
        "ffffffff ffffffff",
        "408f276d 41c83b0e a20bc7c6 6d5451fd",
    ),
    (
        "243f6a88 85a308d3 13198a2e 03707344",
        "a4093822 299f31d0",
        "d16cfe09 94fdcceb 5001e420 24126ea1",
    ),
]


@pytest.mark.parametrize(("ctr", "key", "result"), KAT)
def test_philox_known_answers(driver: Driver, ctr: str, key: str, result: str) -> None:
    assert driver.run("philox", *ctr.split(), *key.split()).split() == result.split()
    assert _philox([int(w, 16) for w in ctr.split()], [int(w, 16) for w in key.split()]) == [
        int(w, 16) for w in result.split()
    ]


@pytest.mark.parametrize(
    ("seed", "stream", "start"),
    [(0, 0, 0), (0x0123456789ABCDEF, 7, 0), (2**64 - 1, 2**32 - 1, 2**34 + 1), (42, 1, 2**33)],
)
def test_random_word_mapping(driver: Driver, seed: int, stream: int, start: int) -> None:
    """docs/semantics.md: W=32 word i%4 of block i//4 with counter word 3 = 0; W=64 words
    2*(i%2) (low) and 2*(i%2)+1 (high) of block i//2 with counter word 3 = 1."""
    n = 64
    w32, w64 = driver.work / "w32.bin", driver.work / "w64.bin"
    driver.run(
        "words",
        f"seed={seed}",
        f"stream={stream}",
        f"n={n}",
        f"start={start}",
        f"out32={w32}",
        f"out64={w64}",
    )
    got32, got64 = np.fromfile(w32, dtype=np.uint32), np.fromfile(w64, dtype=np.uint64)
    key = [seed & 0xFFFFFFFF, seed >> 32]
    for i in range(start, start + n):
        j = i // 4
        want32 = _philox([j & 0xFFFFFFFF, j >> 32, stream, 0], key)[i % 4]
        j = i // 2
        out = _philox([j & 0xFFFFFFFF, j >> 32, stream, 1], key)
        want64 = out[2 * (i % 2)] | out[2 * (i % 2) + 1] << 32
        assert int(got32[i - start]) == want32, f"random_word32 index {i}"
        assert int(got64[i - start]) == want64, f"random_word64 index {i}"


# ---- MX scales and format constants ---------------------------------------------------
@pytest.mark.parametrize("elem_emax", [8, 15, 4, 2, 0])
def test_mx_scale(driver: Driver, elem_emax: int) -> None:
    """OCP MX v1.0: shared exponent floor(log2 amax) - emax_elem; E8M0 code clamped
    to [0, 254]; zero amax -> code 0; NaN or inf amax -> 255."""
    rng = np.random.default_rng(elem_emax)
    amax = np.concatenate(
        [
            rng.integers(0, 2**32, 2000, dtype=np.uint64).astype(np.uint32).view(np.float32),
            np.array(
                [
                    0.0,
                    -0.0,
                    1.0,
                    0.75,
                    2.0**-149,
                    2.0**-126,
                    3.4e38,
                    np.inf,
                    -np.inf,
                    np.nan,
                    448.0,
                    6.0,
                    2.0**-127,
                ],
                dtype=np.float32,
            ),
        ]
    )
    path, out_e, out_c = (driver.work / n for n in ("amax.bin", "mx_e.bin", "mx_c.bin"))
    amax.tofile(path)
    driver.run("mx", f"in={path}", f"emax={elem_emax}", f"out_exp={out_e}", f"out_code={out_c}")
    got_e, got_c = np.fromfile(out_e, dtype=np.int32), np.fromfile(out_c, dtype=np.uint32)
    for a, e, c in zip(amax.tolist(), got_e.tolist(), got_c.tolist()):
        if math.isnan(a) or math.isinf(a):
            assert (e, c) == (2**31 - 1, 255), a
        elif a == 0:
            assert (e, c) == (-(2**31), 0), a
        else:
            s = math.frexp(abs(a))[1] - 1 - elem_emax
            assert (e, c) == (s, min(max(s + 127, 0), 254)), a


NAMED = {  # name in the driver's `formats` listing -> the registry's Format
    **{n: CANONICAL[n] for n in CANONICAL},
    "p3109_k8p3se": p3109(8, 3),
    "p3109_k8p1se": p3109(8, 1),
    "p3109_k8p4sf": p3109(8, 4, extended=False),
    "p3109_k8p3ue": p3109(8, 3, signed=False),
    "p3109_k8p1uf": p3109(8, 1, signed=False, extended=False),
    "p3109_k6p2se": p3109(6, 2),
}


def test_named_formats_match_registry(driver: Driver) -> None:
    """The header's named constructors and derived codes equal floatsim.Format's."""
    rows = [line.split() for line in driver.run("formats").splitlines()]
    assert {r[0] for r in rows} == set(NAMED)
    for name, *fields in rows:
        f = NAMED[name]
        want = [
            f.ebits,
            f.mbits,
            f.signed,
            f.bias,
            f.subnormals,
            f.has_zero,
            SPECIALS[f.specials],
            OVERFLOW[f.overflow],
            f.max_mag_code,
            f.inf_mag_code,
            f.nan_code,
            f.has_negzero,
            f.has_nan,
            f.has_inf,
            f.emin,
            1,
        ]
        assert [int(v) for v in fields] == [int(v) for v in want], name


# ---- nvcc ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "defines"),
    [(CUDA_DIR / "example_kernel.cu", []), (DEVICE_SRC, ["-DFLOATSIM_NO_MAIN"])],
    ids=["example_kernel", "device_check"],
)
def test_builds_for_hopper(tmp_path: Path, source: Path, defines: list[str]) -> None:
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not installed: cannot check that floatsim.cuh builds for sm_90")
    proc = subprocess.run(
        [
            nvcc,
            "-arch=sm_90",
            "-std=c++17",
            *defines,
            "-I",
            str(CUDA_DIR),
            "-c",
            str(source),
            "-o",
            str(tmp_path / "out.o"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, f"nvcc -arch=sm_90 failed on {source.name}:\n{proc.stderr}"
    assert "warning" not in proc.stderr.lower(), proc.stderr


@pytest.mark.slow
def test_device_equals_host(tmp_path: Path) -> None:
    """On a machine with a GPU: the device build of the header gives the host's codes."""
    nvcc = shutil.which("nvcc")
    if nvcc is None or shutil.which("nvidia-smi") is None:
        pytest.skip("needs nvcc and an NVIDIA GPU")
    gpus = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    if gpus.returncode != 0 or "GPU" not in gpus.stdout:
        pytest.skip("no NVIDIA GPU visible")
    exe = tmp_path / "device_check"
    subprocess.run(
        [nvcc, "-arch=native", "-std=c++17", "-o", str(exe), str(DEVICE_SRC)],
        check=True,
        capture_output=True,
    )
    proc = subprocess.run([str(exe)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
