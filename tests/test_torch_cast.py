"""floatsim_torch's element-wise casts on CPU tensors, bit for bit against the
core's numpy calls (which tests/test_cast.py checks against the exact oracle):
every registered format up to 16 bits, every rounding mode, float64 / float32
/ float16 / bfloat16 inputs, strided, 0-d and empty tensors, seeded and
explicit stochastic rounding, out= and out_dtype=, and the bfloat16 path
without ml_dtypes."""

from __future__ import annotations

import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch_support import (  # noqa: E402
    DTYPES,
    SMALL_FORMATS,
    assert_same_bits,
    boundary_values,
    core_array,
)

import floatsim as fs  # noqa: E402
import floatsim_torch as ft  # noqa: E402
from floatsim_torch import views  # noqa: E402

MODES = list(fs.Rounding)
SR = fs.Rounding.STOCHASTIC
_RNG = np.random.default_rng(2024)


def _sr(mode: fs.Rounding) -> dict:
    return {"seed": 11, "stream": 3} if mode is SR else {}


def _inputs(fmt: fs.Format, dtype: torch.dtype) -> torch.Tensor:
    v = boundary_values(fmt, _RNG)
    if fmt.bits > 8:  # 16-bit formats: a sample of their ~800k boundary values
        v = _RNG.choice(v, 20000, replace=False)
    return torch.from_numpy(v).to(dtype)


def _core_or_error(fn, *args, **kw):  # noqa: ANN001, ANN202
    try:
        return fn(*args, **kw), None
    except (ValueError, TypeError) as exc:
        return None, exc


@pytest.mark.parametrize("dtype", list(DTYPES), ids=str)
@pytest.mark.parametrize("name", SMALL_FORMATS)
def test_quantize_and_encode_equal_core(name: str, dtype: torch.dtype) -> None:
    fmt = fs.format(name)
    x = _inputs(fmt, dtype)
    xn = core_array(x)
    keep = ~np.isnan(xn.astype(np.float64)) if not fmt.has_nan else slice(None)
    for mode in MODES:
        want, err = _core_or_error(fs.quantize, xn, fmt, mode, **_sr(mode))
        if err is not None:  # x's dtype cannot hold the format: the same error, then float64
            with pytest.raises(type(err), match=re.escape(str(err).split(";")[0])):
                ft.quantize(x, fmt, mode, **_sr(mode))
            want = fs.quantize(xn, fmt, mode, out_dtype=np.float64, **_sr(mode))
            got = ft.quantize(x, fmt, mode, out_dtype=torch.float64, **_sr(mode))
        else:
            got = ft.quantize(x, fmt, mode, **_sr(mode))
        assert got.dtype == (x.dtype if err is None else torch.float64)
        assert_same_bits(got, want, f"quantize {name} {mode.name}")
        codes = ft.encode(x[keep], fmt, mode, **_sr(mode))
        assert_same_bits(codes, fs.encode(xn[keep], fmt, mode, **_sr(mode)),
                         f"encode {name} {mode.name}")


@pytest.mark.parametrize("name", SMALL_FORMATS)
def test_decode_every_code_equals_core(name: str) -> None:
    fmt = fs.format(name)
    codes = np.arange(fmt.num_codes, dtype=fs.code_dtype(fmt))
    tcodes = torch.from_numpy(codes)
    for dtype, np_dtype in DTYPES.items():
        want, err = _core_or_error(fs.decode, codes, fmt, np_dtype)
        if err is not None:
            with pytest.raises(type(err), match="cannot hold every value"):
                ft.decode(tcodes, fmt, dtype)
            continue
        got = ft.decode(tcodes, fmt, dtype)
        assert got.dtype == dtype
        assert_same_bits(got, want, f"decode {name} {dtype}")
    signed = torch.arange(min(fmt.num_codes, 128), dtype=torch.int64)  # integer codes of any dtype
    assert_same_bits(ft.decode(signed, fmt), fs.decode(signed.numpy(), fmt, np.float32))


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_strided_zero_d_and_empty_tensors(mode: fs.Rounding) -> None:
    base = torch.from_numpy(_RNG.standard_normal((6, 10)) * 300)
    cases = {
        "step": base[:, ::3],
        "transposed": base.t(),
        "expanded": base[:1, :5].expand(4, 5),
        "0-d": base[2, 3],
        "empty": base[:0],
        "3-d": base.reshape(3, 4, 5).permute(2, 0, 1),
    }
    for what, x64 in cases.items():
        for dtype in DTYPES:
            x = x64.to(dtype) if x64.dtype != dtype else x64
            before = x.clone()
            got = ft.quantize(x, "e4m3", mode, **_sr(mode))
            want = fs.quantize(core_array(x), "e4m3", mode, **_sr(mode))
            assert got.shape == x.shape and got.is_contiguous()
            assert_same_bits(got, want, f"{what} {dtype}")
            assert_same_bits(ft.encode(x, "e5m2", mode, **_sr(mode)),
                             fs.encode(core_array(x), "e5m2", mode, **_sr(mode)), what)
            assert torch.equal(x, before)  # never modified in place


def test_host_views_share_memory_and_leave_storage_resizable() -> None:
    """views.host_view: numpy arrays over the tensors' own memory (any strides,
    0-d, empty, bfloat16, integer codes) that keep the tensor alive and do not
    mark its storage unresizable (Tensor.numpy() does: FSDP2 then fails)."""
    base = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    for t in (base, base[:, ::2], base.t(), base[1, 2], base[:0], base[:1].expand(3, 6),
              base.float(), base.bfloat16(), base.to(torch.uint8), base.to(torch.int64)):
        a = views.host_view(t)
        assert a.shape == tuple(t.shape)
        assert a.__array_interface__["data"][0] == t.data_ptr() or not t.numel()
        want = t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()
        assert np.array_equal(a.astype(np.float64), want.astype(np.float64))
    t = torch.zeros(5)
    a = views.host_view(t)
    a[1] = 2.5
    assert t[1] == 2.5  # the same memory
    del t
    assert a.base.tensor.tolist() == [0.0, 2.5, 0.0, 0.0, 0.0]  # kept alive by the view
    w = torch.ones(8)
    views.host_view(w)
    w.untyped_storage().resize_(0)  # what FSDP2 does to an all-gathered weight
    assert w.untyped_storage().nbytes() == 0


@pytest.mark.parametrize("dtype", list(DTYPES), ids=str)
def test_seeded_stochastic_rounding_equals_core(dtype: torch.dtype) -> None:
    x = torch.from_numpy(_RNG.standard_normal(3000) * 10).to(dtype)
    xn = core_array(x)
    for seed in (0, 12345, 2**63, 2**64 - 1):  # seeds past 2**63 travel wrapped in the op schema
        for stream in (0, 7, 2**32 - 1):
            for sr_bits in (None, 3, 13):
                kw = dict(seed=seed, stream=stream, sr_bits=sr_bits)
                assert_same_bits(ft.quantize(x, "e5m2", "sr", **kw),
                                 fs.quantize(xn, "e5m2", "sr", **kw), str(kw))
                assert_same_bits(ft.encode(x, "e2m1", "sr", **kw),
                                 fs.encode(xn, "e2m1", "sr", **kw), str(kw))
    # different streams give different words
    a = ft.quantize(x, "e5m2", "sr", seed=1, stream=0)
    b = ft.quantize(x, "e5m2", "sr", seed=1, stream=1)
    assert not torch.equal(a, b)


def test_explicit_random_bits_equal_core() -> None:
    x = torch.from_numpy(_RNG.standard_normal((40, 25)) * 5)
    xn = x.numpy()
    words32 = _RNG.integers(0, 2**32, size=x.shape, dtype=np.uint32)
    words64 = _RNG.integers(0, 2**64, size=x.shape, dtype=np.uint64)
    for words, tensors in ((words32, [torch.from_numpy(words32.view(np.int32)),
                                      torch.from_numpy(words32.view(np.int32)).view(torch.uint32)]),
                           (words64, [torch.from_numpy(words64.view(np.int64)),
                                      torch.from_numpy(words64.view(np.int64)).view(torch.uint64)])):
        want = fs.quantize(xn, "e4m3", "sr", random_bits=words)
        for rb in tensors:
            assert_same_bits(ft.quantize(x, "e4m3", "sr", random_bits=rb), want, str(rb.dtype))
            assert_same_bits(ft.quantize(x.float(), "e4m3", "sr", random_bits=rb),
                             fs.quantize(xn.astype(np.float32), "e4m3", "sr", random_bits=words))


def test_out_dtype_and_out() -> None:
    x = torch.from_numpy(_RNG.standard_normal((8, 16)) * 100)
    xn = x.numpy()
    for dtype, np_dtype in DTYPES.items():
        assert_same_bits(ft.quantize(x, "e4m3", out_dtype=dtype),
                         fs.quantize(xn, "e4m3", out_dtype=np_dtype), str(dtype))
    assert_same_bits(ft.quantize(x.half(), "e4m3", out_dtype=torch.float32),
                     fs.quantize(xn.astype(np.float16), "e4m3", out_dtype=np.float32))
    want = fs.quantize(xn, "e3m2", "rtz")
    for out in (torch.empty(8, 16, dtype=torch.float64),
                torch.full((8, 32), 7.0, dtype=torch.float64)[:, ::2]):  # strided out
        res = ft.quantize(x, "e3m2", "rtz", out=out)
        assert res is out
        assert_same_bits(out, want)
    out16 = torch.empty(8, 16, dtype=torch.bfloat16)
    ft.quantize(x, "e3m2", "rtz", out=out16)  # out's dtype is the result dtype
    assert_same_bits(out16, fs.quantize(xn, "e3m2", "rtz", out_dtype=DTYPES[torch.bfloat16]))
    codes = torch.zeros(8, 32, dtype=torch.uint8)[:, 1::2]
    assert ft.encode(x, "e4m3", out=codes) is codes
    assert_same_bits(codes, fs.encode(xn, "e4m3"))


def test_codes_of_every_width() -> None:
    x = torch.from_numpy(_RNG.standard_normal(100))
    for name, dtype in (("e4m3", torch.uint8), ("bf16", torch.uint16), ("tf32", torch.uint32),
                        ("float32", torch.uint32)):
        codes = ft.encode(x, name)
        assert codes.dtype == dtype
        assert_same_bits(codes, fs.encode(x.numpy(), name), name)
        assert_same_bits(ft.decode(codes, name, torch.float64),
                         fs.decode(fs.encode(x.numpy(), name), name, np.float64), name)


@pytest.mark.parametrize("name,n", [("e2m1", 7), ("e3m2", 9), ("e4m3", 5), (3, 11)])
def test_pack_unpack_equal_core(name: object, n: int) -> None:
    bits = name if isinstance(name, int) else fs.format(name).bits
    codes = torch.from_numpy(_RNG.integers(0, 1 << bits, size=n, dtype=np.uint8))
    packed = ft.pack(codes, name)
    assert packed.dtype == torch.uint8
    assert np.array_equal(packed.numpy(), fs.pack(codes.numpy(), name))
    assert torch.equal(ft.unpack(packed, name, n), codes)
    assert np.array_equal(ft.pack(codes.reshape(1, n)[:, :], name).numpy(), packed.numpy())


def test_bfloat16_without_ml_dtypes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented float32 detour gives the same bits as the ml_dtypes path."""
    x = torch.from_numpy(_RNG.standard_normal(500) * 40).bfloat16()
    cases = [
        lambda: ft.quantize(x, "e4m3"),
        lambda: ft.quantize(x, "e5m2", "sr", seed=3, stream=4),
        lambda: ft.quantize(x.double(), "e4m3", out_dtype=torch.bfloat16),
        lambda: ft.quantize(x, "fp16", out_dtype=torch.float32),
        lambda: ft.quantize(x, "e4m3", daz=True),
        lambda: ft.encode(x, "e2m1", "rna"),
        lambda: ft.decode(torch.arange(256, dtype=torch.uint8), "e4m3", torch.bfloat16),
        lambda: ft.quantize(x, "e4m3", out=torch.empty(500, dtype=torch.bfloat16)),
        lambda: ft.blocks.quantize(x.reshape(10, 50), "nvfp4"),
        lambda: ft.blocks.quantize(x.reshape(10, 50).float(), "mxfp4", out_dtype=torch.bfloat16),
        lambda: ft.blocks.decode(ft.blocks.encode(x.reshape(10, 50), "nvfp4"), "nvfp4",
                                 dtype=torch.bfloat16),
    ]
    with_ml = [f() for f in cases]
    monkeypatch.setattr(views, "BF16_NUMPY", None)
    with pytest.raises(TypeError, match="bfloat16 has no numpy dtype"):
        views.host_view(x)
    for i, (f, want) in enumerate(zip(cases, with_ml)):
        assert_same_bits(f(), want.numpy() if want.dtype != torch.bfloat16
                         else want.view(torch.int16).numpy(), f"case {i}")
    with pytest.raises(ValueError, match="bfloat16 cannot hold every value of float16"):
        ft.quantize(x, "fp16")
