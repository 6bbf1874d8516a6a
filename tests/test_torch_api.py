"""floatsim_torch's public surface: bad input gets a clear error naming the
argument and what is allowed; RandomStream's streams, ranks and checkpoints;
the primitive encodings of formats that the ops' schemas carry."""

from __future__ import annotations

import subprocess
import sys
import types

import ml_dtypes
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import floatsim as fs  # noqa: E402
import floatsim_torch as ft  # noqa: E402
from floatsim_torch import spec, views  # noqa: E402

X = torch.ones(2, 3)


@pytest.mark.parametrize("x,pattern", [
    (torch.ones(3, dtype=torch.int32), r"x is an integer tensor \(torch.int32\); floatsim_torch rounds floating-point"),
    (torch.ones(3, dtype=torch.bool), r"x is a bool tensor \(torch.bool\)"),
    (torch.ones(3, dtype=torch.complex64), r"x is a complex tensor \(torch.complex64\)"),
    (torch.ones(3, dtype=torch.float8_e4m3fn), r"x is a tensor \(torch.float8_e4m3fn\).*float64, float32, float16, bfloat16"),
    (torch.eye(3).to_sparse(), r"x has layout torch.sparse_coo; floatsim_torch takes dense \(strided\) tensors"),
    (np.ones(3), r"x must be a torch.Tensor, got ndarray"),
])
def test_bad_tensors(x: object, pattern: str) -> None:
    for fn in (lambda: ft.quantize(x, "e4m3"), lambda: ft.encode(x, "e4m3"),
               lambda: ft.blocks.quantize(x, "mxfp8")):
        with pytest.raises(TypeError, match=pattern):
            fn()


def test_nested_tensor() -> None:
    nt = torch.nested.nested_tensor([torch.ones(2), torch.ones(3)], layout=torch.jagged)
    with pytest.raises(TypeError, match="x is a nested tensor; floatsim_torch takes dense"):
        ft.quantize(nt, "e4m3")


def test_formats_in_the_wrong_place() -> None:
    with pytest.raises(TypeError, match=r"fmt='mxfp8' is a block format; .* use floatsim_torch.blocks"):
        ft.quantize(X, "mxfp8")
    with pytest.raises(TypeError, match="is a block format; the element-wise casts take a Format"):
        ft.encode(X, fs.blocks.format("nvfp4"))
    with pytest.raises(TypeError, match="is an element Format; block casts take a BlockFormat"):
        ft.blocks.quantize(X, fs.format("e4m3"))
    with pytest.raises(ValueError, match="format 'e9m9x' is not a valid format"):
        ft.quantize(X, "e9m9x")
    with pytest.raises(ValueError, match="overflow='inf' is not possible"):
        ft.quantize(X, "e4m3", overflow="inf")


def test_bad_scalar_arguments() -> None:
    with pytest.raises(ValueError, match="rounding='bogus' is not a rounding mode; allowed: nearest_even"):
        ft.quantize(X, "e4m3", "bogus")
    with pytest.raises(ValueError, match=r"seed=-1 must be an int in 0..2\*\*64-1"):
        ft.quantize(X, "e4m3", "sr", seed=-1)
    with pytest.raises(ValueError, match=r"stream=4294967296 must be an int in 0..2\*\*32-1"):
        ft.quantize(X, "e4m3", "sr", seed=1, stream=2**32)
    with pytest.raises(ValueError, match=r"sr_bits=40 is out of range; allowed: 1..32 or None"):
        ft.quantize(X, "e4m3", "sr", seed=1, sr_bits=40)
    with pytest.raises(ValueError, match="rounding='stochastic' needs exactly one of seed="):
        ft.quantize(X, "e4m3", "sr")
    with pytest.raises(ValueError, match="seed=, random_bits= and sr_bits= apply to rounding='stochastic'"):
        ft.quantize(X, "e4m3", seed=3)
    with pytest.raises(TypeError, match=r"out_dtype=torch.int8 is not supported; allowed: torch.float64"):
        ft.quantize(X, "e4m3", out_dtype=torch.int8)
    with pytest.raises(ValueError, match="float16 cannot hold every value of bfloat16"):
        ft.quantize(X, "bf16", out_dtype=torch.float16)
    with pytest.raises(TypeError, match=r"random_bits has dtype torch.float32; allowed: uint32"):
        ft.quantize(X, "e4m3", "sr", random_bits=torch.ones(2, 3))
    with pytest.raises(ValueError, match="random_bits has shape"):
        ft.quantize(X, "e4m3", "sr", random_bits=torch.ones(3, dtype=torch.int32))
    with pytest.raises(TypeError, match="subnormals=1 must be None, True or False"):
        ft.quantize(X, "e4m3", subnormals=1)
    with pytest.raises(TypeError, match=r"codes has dtype torch.float32; it must hold integer codes"):
        ft.decode(X, "e4m3")
    with pytest.raises(ValueError, match=r"code 300 is out of range for .*allowed: 0..255"):
        ft.decode(torch.tensor([300]), "e4m3")
    with pytest.raises(ValueError, match="x holds NaN .* has no NaN code"):
        ft.encode(torch.tensor([float("nan")]), "e2m1")
    with pytest.raises(ValueError, match="pack/unpack store codes of 1..8 bits; bf16 has 16 bits"):
        ft.pack(torch.zeros(3, dtype=torch.uint8), "bf16")
    with pytest.raises(ValueError, match=r"count=-1 must be a non-negative int"):
        ft.unpack(torch.zeros(3, dtype=torch.uint8), "e2m1", -1)


def test_bad_out() -> None:
    with pytest.raises(ValueError, match=r"out= has shape \(3, 2\); needed \(2, 3\) \(x's shape\)"):
        ft.quantize(X, "e4m3", out=torch.empty(3, 2))
    with pytest.raises(ValueError, match="out= has dtype torch.float32; needed torch.float16"):
        ft.quantize(X, "e4m3", out=torch.empty(2, 3), out_dtype=torch.float16)
    with pytest.raises(ValueError, match="out= is on meta but x is on cpu; they must match"):
        ft.quantize(X, "e4m3", out=torch.empty(2, 3, device="meta"))
    with pytest.raises(TypeError, match=r"out.dtype=torch.int32 is not supported"):
        ft.quantize(X, "e4m3", out=torch.empty(2, 3, dtype=torch.int32))
    with pytest.raises(ValueError, match="out= has dtype torch.float32; needed torch.uint8"):
        ft.encode(X, "e4m3", out=torch.empty(2, 3))
    with pytest.raises(ValueError, match=r"out= has shape \(6,\); needed \(2, 3\)"):
        ft.blocks.quantize(X, "mxfp8", out=torch.empty(6))


def test_bad_block_arguments() -> None:
    e = ft.blocks.encode(X, "nvfp4")
    with pytest.raises(ValueError, match=r"scales has shape \(2, 2\); elements of shape \(2, 3\) in blocks"):
        ft.blocks.decode(e.elements, torch.zeros(2, 2, dtype=torch.uint8), "nvfp4",
                         tensor_scale=e.tensor_scale)
    with pytest.raises(ValueError, match="is a two-level format: pass its tensor_scale"):
        ft.blocks.decode(e.elements, e.scales, "nvfp4")
    with pytest.raises(ValueError, match="tensor_scale= applies to two-level formats only"):
        ft.blocks.decode(e.elements, e.scales, "mxfp8", tensor_scale=1.0)
    with pytest.raises(ValueError, match="rule='minmax' blocks need zero_points="):
        ft.blocks.decode(e.elements, e.scales, "int4_asym")
    with pytest.raises(TypeError, match="needs the scales"):
        ft.blocks.decode(e.elements, "nvfp4")
    with pytest.raises(TypeError, match="encoded must be encode"):
        ft.blocks.decode([1, 2], "nvfp4")
    with pytest.raises(ValueError, match="tensor_scale=-1.0 must be one finite positive number"):
        ft.blocks.quantize(X, "nvfp4", tensor_scale=-1.0)
    with pytest.raises(TypeError, match="amax has dtype torch.bool; it must hold real numbers"):
        ft.blocks.quantize(X, "mxfp8", amax=torch.ones(2, 1, dtype=torch.bool))
    with pytest.raises(ValueError, match="amax= holds -1.0"):
        ft.blocks.quantize(X, "mxfp8", amax=-1.0)


def test_devices_without_a_kernel() -> None:
    stand_in = types.SimpleNamespace(is_cpu=False, is_cuda=False, is_meta=False, device="mps:0")
    with pytest.raises(ValueError, match="x is on device 'mps:0', which has no floatsim kernel; "
                                         r"allowed: cpu and cuda tensors \(move it with x.cpu\(\)\)"):
        views.check_device(stand_in, "x")
    # meta tensors run the fake implementations: shapes and dtypes, no values
    m = torch.empty(4, 32, device="meta")
    assert ft.quantize(m, "e4m3", out_dtype=torch.float16).dtype == torch.float16
    assert ft.blocks.encode(m, "mxfp8").scales.shape == (4, 1)


def test_import_without_torch_names_the_extra() -> None:
    code = ("import sys; sys.modules['torch'] = None\n"
            "try:\n    import floatsim_torch\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'floatsim[torch]'" in out.stdout


def test_random_stream() -> None:
    ranks = [ft.RandomStream(7, rank=r, world_size=3) for r in range(3)]
    drawn = [[rs.next() for _ in range(4)] for rs in ranks]
    streams = [s for d in drawn for _, s in d]
    assert sorted(streams) == list(range(12))  # distinct across ranks and steps
    assert all(seed == 7 for d in drawn for seed, _ in d)
    rs = ft.RandomStream(2**64 - 1)
    assert [next(rs) for _ in range(3)] == [(2**64 - 1, 0), (2**64 - 1, 1), (2**64 - 1, 2)]
    state = rs.state_dict()
    x = torch.from_numpy(np.random.default_rng(1).standard_normal(100)).float()
    first = [ft.quantize(x, "e4m3", "sr", **rs.kwargs()) for _ in range(3)]
    resumed = ft.RandomStream(0)
    resumed.load_state_dict(state)
    again = [ft.quantize(x, "e4m3", "sr", **resumed.kwargs()) for _ in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], first[1])
    assert repr(resumed) == "RandomStream(seed=18446744073709551615, rank=0, world_size=1, counter=6)"
    with pytest.raises(OverflowError, match="every stream below 2\\*\\*31"):
        ft.RandomStream(1, counter=2**31 - 1, world_size=2, rank=1).next()
    with pytest.raises(ValueError, match=r"rank=3 must be an int in 0..2"):
        ft.RandomStream(1, rank=3, world_size=3)
    with pytest.raises(KeyError, match="state lacks \\['counter'\\]"):
        rs.load_state_dict({"seed": 1})


FORMATS = [fs.format(n) for n in fs.registry.CANONICAL] + [
    fs.p3109(8, 3), fs.p3109(6, 2, signed=False), fs.Format(ebits=3, mbits=2, bias=5, subnormals=False),
    fs.Format(ebits=5, mbits=2, overflow="saturate"),
]


def test_format_encodings_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    for f in FORMATS:
        ints = spec.format_ints(f)
        assert len(ints) == spec.FORMAT_LEN and all(isinstance(i, int) for i in ints)
        back = spec.format_from_ints(list(ints))
        assert back == f and back.overflow == f.overflow
        monkeypatch.setattr(spec, "_SEEN", {})  # decoded from the ints alone
        assert spec.format_from_ints(list(ints)) == f
    blocks = [fs.blocks.format(n) for n in fs.blocks.names()] + [
        fs.blocks.BlockFormat(element="e4m3", scale="ue5m3", block=(16, None), rule="rceil"),
        fs.blocks.scaled("e5m2", "float32"), fs.blocks.bfp(6, 16),
    ]
    for bf in blocks:
        ints = spec.block_ints(bf)
        monkeypatch.setattr(spec, "_SEEN", {})
        assert spec.block_from_ints(list(ints)) == bf
    for axis in (None, -1, 2, (0,), (1, 0)):
        assert spec.axis_from_ints(spec.axis_ints(axis)) == axis
    g = spec.GradSpec(True, fs.blocks.format("mxfp8_e5m2"), fs.Rounding.STOCHASTIC, 5, (0, 1))
    assert spec.grad_from_ints(spec.grad_ints(g)) == g
    assert spec.grad_from_ints(spec.grad_ints(spec.GradSpec())) == spec.GradSpec()


def test_backend_table_entry() -> None:
    from torch_backend import TorchBackend

    b = TorchBackend()
    x = np.random.default_rng(2).standard_normal(300).astype(np.float32) * 100
    for mode, kw in (("rne", {}), ("sr", {"seed": 4, "stream": 2, "sr_bits": 6}),
                     ("rtz", {"overflow": "saturate"})):
        for dt in (np.float32, np.float64, np.float16, ml_dtypes.bfloat16):
            xd = x.astype(dt)
            got = b.quantize(xd, "e4m3", mode, **kw)
            assert got.dtype == xd.dtype
            assert np.array_equal(got.view(f"u{got.itemsize}"),
                                  fs.quantize(xd, "e4m3", mode, **kw).view(f"u{got.itemsize}"))
            assert np.array_equal(b.encode(xd, "e5m2", mode, **kw), fs.encode(xd, "e5m2", mode, **kw))
    codes = np.arange(256, dtype=np.uint8)
    assert np.array_equal(b.decode(codes, "e4m3", np.float32).view(np.uint32),
                          fs.decode(codes, "e4m3", np.float32).view(np.uint32))
    assert b.name == "torch-cpu"
