"""floatsim.vectors: generation, the file formats, and the vectors against the exact oracle.

The expected outputs of a vector set come from floatsim's kernels; every set
here is checked on a sample (or all) of its cases against
``floatsim.reference`` (``fv.verify``), which never calls the kernels, so the
vectors are golden and not merely self-consistent.  The block oracle is the
Fraction arithmetic of ``Block.oracle`` (docs/blocks.md's rules written out).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

import floatsim as fs
import floatsim.vectors as fv
from floatsim.registry import CANONICAL
from floatsim.rounding import Rounding
from floatsim.vectors import cases

MODES = [m.name.lower() for m in Rounding if m is not Rounding.STOCHASTIC]
DSTS = ["e4m3", "e5m2", "e2m1", "e3m2", "e2m3", "e8m0", "e4m3fnuz", "e5m2fnuz", "ue4m3",
        "float8_e4m3", "e3m4", "bfloat16", "float16", "p3109_k8p3se"]
SRCS = ["float32", "float16", "bfloat16", "float64"]


def _policies(name: str) -> list[str | None]:
    f = fs.format(name)
    out: list[str | None] = [None]
    for p in ("saturate", "inf", "nan"):
        try:
            if f.check_overflow(p) is not f.overflow:
                out.append(p)
        except ValueError:
            pass
    return out


# ---- every set against the exact oracle --------------------------------------------------------
@pytest.mark.parametrize("src", SRCS)
@pytest.mark.parametrize("dst", DSTS)
def test_convert_against_oracle(src: str, dst: str) -> None:
    # each rounding mode and overflow policy; a sample of each set (boundaries and random)
    for mode, ov in itertools.product(MODES, _policies(dst)):
        vs = fv.generate("convert", src=src, format=dst, rounding=mode, overflow=ov, level=0,
                         random=50)
        assert fv.verify(vs, sample=40, seed=len(vs)) == [], (src, dst, mode, ov)


@pytest.mark.parametrize("dst", ["e4m3", "e2m1", "e8m0", "bfloat16"])
@pytest.mark.parametrize("src", ["float32", "float64", "bfloat16", "float16"])
@pytest.mark.parametrize("sr_bits", [None, 1, 13])
def test_stochastic_against_oracle(src: str, dst: str, sr_bits: int | None) -> None:
    vs = fv.generate("convert", src=src, format=dst, rounding="sr", sr_bits=sr_bits, level=0,
                     random=50)
    w = sr_bits or (64 if src == "float64" else 32)
    assert vs.spec("r").bits == w
    assert fv.verify(vs, sample=120, seed=3) == []


def test_subnormals_off_against_oracle() -> None:
    for dst in ("e4m3", "e5m2", "e2m1"):
        vs = fv.generate("convert", format=dst, subnormals=False, random=100)
        assert fv.verify(vs, sample=300) == []


@pytest.mark.parametrize(("src", "dst"), [("e5m2", "e4m3"), ("e4m3", "e2m1"), ("e4m3", "e5m2"),
                                          ("bfloat16", "e4m3"), ("float16", "bfloat16"),
                                          ("e3m2", "e8m0"), ("e8m0", "e4m3")])
def test_between_formats_exhaustive(src: str, dst: str) -> None:
    # a code source is exhaustive: every code (NaN codes dropped where dst has no NaN)
    # (float16 and bfloat16 are IEEE inputs: exhaustive from level 2)
    vs = fv.generate("convert", src=src, format=dst, level=2, random=0)
    f = fs.format(src)
    want = f.num_codes - (0 if fs.format(dst).has_nan else int(np.isnan(f.values()).sum()))
    assert vs.n == want
    assert fv.verify(vs, sample=None if vs.n <= 256 else 500) == []


def test_sr_pairs_exhaustive() -> None:
    # a binary operation on two 8-bit operands: every (code, 8-bit word) pair
    vs = fv.generate("sr", src="e4m3", format="e5m2", sr_bits=8)
    assert vs.n == 65536
    pairs = vs.data["x"] * np.uint64(256) + vs.data["r"]
    assert np.array_equal(np.sort(pairs), np.arange(65536, dtype=np.uint64))
    assert fv.verify(vs, sample=600) == []
    vs2 = fv.generate("sr", src="e5m2", format="e2m1", sr_bits=8)   # NaN codes dropped
    assert vs2.n == 256 * (256 - int(np.isnan(fs.format("e5m2").values()).sum()))
    assert fv.verify(vs2, sample=300) == []


def test_sr_words_sit_on_the_threshold() -> None:
    # each input gets the word that just rounds away (t = 2**k - floor(frac * 2**k)) and t - 1
    from fractions import Fraction

    vs = fv.generate("sr", src="float32", format="e4m3", sr_bits=8, level=0)
    x = vs.data["x"].astype(np.uint32).view(np.float32)
    pairs = {}
    for xi, ri, yi in zip(x.tolist(), vs.data["r"].tolist(), vs.data["y"].tolist()):
        pairs.setdefault(xi, {})[ri] = yi
    seen = 0
    for xf, ys in pairs.items():
        if not math.isfinite(xf) or xf == 0 or abs(xf) > 448:
            continue
        lo = fs.quantize(np.array([xf], np.float32), "e4m3", "toward_zero")[0]
        q = Fraction(2) ** (max(math.floor(math.log2(abs(xf))), -6) - 3)
        t = 256 - math.floor((abs(Fraction(xf)) - abs(Fraction(float(lo)))) / q * 256)
        if 1 <= t <= 255:  # some 8-bit word rounds away from zero, some does not
            assert {t, t - 1} <= set(ys), xf
            assert ys[t] == ys[t - 1] + 1, xf
            seen += 1
    assert seen > 500


@pytest.mark.parametrize("name", [n for n, f in CANONICAL.items() if f.bits <= 16])
def test_decode_every_code(name: str) -> None:
    vs = fv.generate("decode", format=name)
    assert vs.n == fs.format(name).num_codes
    assert fv.verify(vs, sample=None if vs.n <= 256 else 2000) == []


@pytest.mark.parametrize(("name", "mode"), [
    ("mxfp8_e4m3", "nearest_even"), ("mxfp8_e5m2", "nearest_even"), ("mxfp6_e3m2", "nearest_even"),
    ("mxfp6_e2m3", "nearest_even"), ("mxfp4_e2m1", "nearest_even"), ("nvfp4", "nearest_even"),
    ("mxfp8_e4m3", "toward_zero"), ("mxfp4_e2m1", "nearest_away"), ("nvfp4", "up"),
    ("mxfp6_e2m3", "odd")])
def test_blocks_against_oracle(name: str, mode: str) -> None:
    vs = fv.generate("block", format=name, rounding=mode, random=20)
    assert fv.verify(vs, sample=40, seed=1) == []


@pytest.mark.parametrize("name", ["mxfp4_e2m1", "nvfp4"])
def test_block_rceil_against_oracle(name: str) -> None:
    vs = fv.generate("block", format=name, rule="rceil", random=10)
    assert vs.params["rule"] == "rceil"
    assert fv.verify(vs, sample=80) == []


# ---- what the boundary cases hold ------------------------------------------------------------
def test_boundary_cases_of_e4m3() -> None:
    b = cases.boundary_inputs("float32", fs.format("e4m3"))
    x = b.astype(np.uint32).view(np.float32)
    v = fs.format("e4m3").values()
    v = v[np.isfinite(v)]
    pos = np.unique(np.abs(v))
    mids = (pos[:-1] + pos[1:]) / 2
    for want in (v, -mids, mids, [448, 464, 480, 512, -464, 2.0**-10, 2.0**-9 * 1.5]):
        assert np.isin(np.asarray(want, np.float32), x).all()
    up = np.nextafter(mids.astype(np.float32), np.float32(np.inf))
    down = np.nextafter(mids.astype(np.float32), np.float32(0))
    assert np.isin(up, x).all() and np.isin(down, x).all()   # 1 ulp around every tie
    nan = b[np.isnan(x)].astype(np.uint32)
    assert {0x7FC00000, 0x7F800001, 0x7FFFFFFF, 0xFFC00000} <= set(nan.tolist())  # payloads, signs
    assert {0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x00000001, 0x7F7FFFFF} <= set(
        b.astype(np.uint32).tolist())


def test_boundary_cases_of_a_wide_format() -> None:
    # every binade boundary of bfloat16 with its neighbours, and the ties next to it
    b = cases.boundary_inputs("float64", fs.format("bfloat16"))
    x = b.view(np.float64)
    for e in (-133, -126, -1, 0, 1, 100, 127):
        p = 2.0**e
        assert p in x and np.nextafter(p, 0) in x and np.nextafter(p, np.inf) in x
    q = 2.0**-7
    assert 1 + q / 2 in x and 1 + 3 * q / 2 in x and 2 - q / 2 in x   # ties above and below 1
    top = fs.format("bfloat16").max
    assert top in x and top + 2.0**120 in x   # max and the overflow tie


def test_levels() -> None:
    n0 = fv.generate("convert", src="bfloat16", format="e4m3", level=0).n
    n1 = fv.generate("convert", src="bfloat16", format="e4m3", level=1).n
    n2 = fv.generate("convert", src="bfloat16", format="e4m3", level=2).n
    assert n0 < n1 < n2 == 65536   # level 2: every bfloat16 input
    assert fv.generate("convert", src="float32", format="e2m1", level=0, random=0).n < 3000


# ---- determinism and the file formats -------------------------------------------------------
SETS = {
    "convert": dict(op="convert", src="float32", format="e4m3", random=300),
    "sr": dict(op="sr", src="float64", format="e3m2", sr_bits=12, random=100),
    "decode": dict(op="decode", format="e5m2"),
    "nvfp4": dict(op="block", format="nvfp4", random=20),
    "e3m2": dict(op="convert", src="float16", format="e3m2", level=0),
}


@pytest.mark.parametrize("key", list(SETS))
def test_generation_is_deterministic(key: str) -> None:
    kw = dict(SETS[key])
    op = kw.pop("op")
    a, b = fv.generate(op, seed=5, **kw), fv.generate(op, seed=5, **kw)
    assert a.body_hash() == b.body_hash() and a.header() == b.header()
    if key not in ("decode", "e3m2"):  # those have no random cases
        c = fv.generate(op, seed=6, **kw)
        assert c.body_hash() != a.body_hash()


@pytest.mark.parametrize("kind", fv.FORMATS)
@pytest.mark.parametrize("key", list(SETS))
def test_files_round_trip(tmp_path: Path, kind: str, key: str) -> None:
    kw = dict(SETS[key])
    vs = fv.generate(kw.pop("op"), seed=2, **kw)
    path = fv.write(vs, tmp_path / f"v.{kind}")
    back = fv.read(path)
    assert back.header() == vs.header()
    for f in vs.fields:
        assert np.array_equal(back.data[f.name], vs.data[f.name]), f.name


def test_hex_file_is_readmemh_ready(tmp_path: Path) -> None:
    vs = fv.generate("block", format="mxfp6_e3m2", random=3)
    path = fv.write(vs, tmp_path / "v.hex")
    text = path.read_text().splitlines()
    head = [ln for ln in text if ln.startswith("//")]
    body = [ln for ln in text if not ln.startswith("//")]
    assert len(body) == vs.n and {len(ln) for ln in body} == {vs.line_bits() // 4}
    # the body hash is the SHA-256 of the lines as the file holds them
    digest = hashlib.sha256("".join(ln + "\n" for ln in body).encode()).hexdigest()
    assert f'// body_sha256: "{digest}"' in head
    fields = [ln.split(": ", 1)[1] for ln in head if ln.startswith("// field:")]
    # each 6-bit element takes 8 bits (2 hex digits), as PTX packs .e3m2x2
    assert fields == ["x in float32 32 x32 [1287:264]", "s out code:float8_e8m0fnu 8 [263:256]",
                      "e out code:float6_e3m2fn 6 x32 [255:0]"]
    # slicing the word as a test bench would: e[0] is bits [255:248], x[31] is [295:264]
    word = int(body[7], 16)
    assert (word >> 248) & 0xFF == vs.data["e"][7, 0]
    assert word & 0xFF == vs.data["e"][7, 31]
    assert (word >> 264) & 0xFFFFFFFF == vs.data["x"][7, 31]
    assert (word >> 1256) == vs.data["x"][7, 0]
    assert (word >> 256) & 0xFF == vs.data["s"][7]


def test_csv_columns(tmp_path: Path) -> None:
    vs = fv.generate("convert", src="float32", format="e2m1", level=0, random=0)
    path = fv.write(vs, tmp_path / "v.csv")
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]
    assert lines[0] == "x,y,x_value,y_value"
    row = dict(zip(lines[0].split(","), lines[1 + 5].split(",")))
    assert int(row["x"], 16) == vs.data["x"][5] and int(row["y"], 16) == vs.data["y"][5]
    v = float(row["x_value"])
    assert (math.isnan(v) and np.isnan(cases.from_bits(vs.data["x"][5:6], "float32")[0])) or \
        v == cases.from_bits(vs.data["x"][5:6], "float32")[0]


@pytest.mark.parametrize("kind", ["hex", "csv"])
def test_tampered_file_is_refused(tmp_path: Path, kind: str) -> None:
    vs = fv.generate("decode", format="e4m3")
    path = fv.write(vs, tmp_path / f"v.{kind}")
    lines = path.read_text().splitlines()
    i = next(i for i, ln in enumerate(lines) if not ln.startswith(("//", "#", "c,")))
    lines[i + 3] = lines[i + 3].replace("0", "1", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="body hash .* does not match"):
        fv.read(path)


def test_npz_header(tmp_path: Path) -> None:
    vs = fv.generate("convert", src="float64", format="e5m2", level=0)
    path = fv.write(vs, tmp_path / "v.npz")
    with np.load(path) as z:
        head = json.loads(str(z["header"]))
        assert z["x"].dtype == np.uint64 and z["y"].dtype == np.uint8
    assert head["body_sha256"] == vs.body_hash() and head["cases"] == vs.n
    assert head["params"]["format"] == "float8_e5m2" and head["op"] == "convert"


# ---- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize(("kw", "match"), [
    (dict(op="nope", format="e4m3"), "unknown operation 'nope'; registered: block, convert"),
    (dict(op="convert", format="e4m3", level=7), r"level=7 is not valid; allowed: 0, 1, 2, 3"),
    (dict(op="convert", format="e4m3", seed=-1), r"seed=-1 must be an int"),
    (dict(op="convert", format="e4m3", sr_bits=4), "sr_bits=4 applies to rounding='stochastic'"),
    (dict(op="convert", format="e4m3", rounding="sr", sr_bits=40), "sr_bits=40 is out of range"),
    (dict(op="convert", format="e4m3", overflow="inf"), "overflow='inf' is not possible"),
    (dict(op="convert", format="e4m3", src="float32x"), "unknown format 'float32x'"),
    (dict(op="convert", format="e4m3", src="float32", random=-3), "random=-3 must be a count"),
    (dict(op="convert", format="e4m3", src="tf32"), "src='tf32' has 19 bits; code inputs go up to 16"),
    (dict(op="sr", format="e4m3", rounding="rne"), "the sr operation rounds stochastically"),
    (dict(op="decode", format="float32"), "decode vectors list every code; float32 has 32 bits"),
    (dict(op="block", format="mxfp8_e4m3", rounding="sr"), "block vectors use the deterministic"),
    (dict(op="block", format="mxint8"), "block vectors take float elements"),
    (dict(op="block", format="nvfp4_16x16"), r"block vectors take 1-D blocks"),
])
def test_bad_parameters(kw: dict, match: str) -> None:
    kw = dict(kw)
    with pytest.raises(ValueError, match=match):
        fv.generate(kw.pop("op"), **kw)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"suffix '\.txt'; allowed: \.hex, \.csv, \.npz"):
        fv.read(tmp_path / "v.txt")
    p = tmp_path / "v.hex"
    p.write_text("// nothing\n00\n")
    with pytest.raises(ValueError, match="no field lines in the header"):
        fv.read(p)
