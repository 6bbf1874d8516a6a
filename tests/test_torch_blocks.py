"""floatsim_torch.blocks on CPU tensors, bit for bit against floatsim.blocks
(which tests/test_blocks.py checks against the exact oracle): every named
block format, 1-D blocks along either axis, tiles, whole-axis scaling,
two-level NVFP4, MINMAX zero points, delayed scaling, stochastic rounding,
four dtypes; the torch-side decode (the CUDA path) and the scale shapes the
fake implementations give, against the core."""

from __future__ import annotations

import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch_support import DTYPES, assert_same_bits, core_array  # noqa: E402

import floatsim as fs  # noqa: E402
import floatsim_torch as ft  # noqa: E402
from floatsim_torch import block_ops  # noqa: E402

NAMES = [n for n in fs.blocks.names() if n not in ("mxfp8", "mxfp6", "mxfp4")]  # no aliases
_RNG = np.random.default_rng(7)


def _x(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    v = _RNG.standard_normal(shape) * np.exp(_RNG.uniform(-6, 6, size=shape[:-1] + (1,)))
    v.reshape(-1)[::37] = 0.0
    return torch.from_numpy(v).to(dtype)


def _axes(bf: fs.blocks.BlockFormat) -> list:
    if bf.block is not None and len(bf.block) == 2:
        return [-1, (1, 0)]
    return [-1, 0]


def _check(x: torch.Tensor, bf: fs.blocks.BlockFormat, axis: object, **kw: object) -> None:
    xn = core_array(x)
    what = f"{bf.name} axis={axis} {x.dtype} {kw}"
    assert_same_bits(ft.blocks.quantize(x, bf, axis=axis, **kw),
                     fs.blocks.quantize(xn, bf, axis=axis, **kw), what)
    enc = ft.blocks.encode(x, bf, axis=axis, **kw)
    want = fs.blocks.encode(xn, bf, axis=axis, **kw)
    assert_same_bits(enc.elements, want.elements, what)
    assert_same_bits(enc.scales, want.scales, what)
    if bf.tensor_format is not None:
        assert enc.tensor_scale.shape == () and enc.tensor_scale.item() == want.tensor_scale
        assert enc.zero_points is None
    elif bf.rule is fs.blocks.ScaleRule.MINMAX:
        assert_same_bits(enc.zero_points, want.zero_points, what)
        assert enc.tensor_scale is None
    else:
        assert enc.tensor_scale is None and enc.zero_points is None
    for dtype, np_dtype in DTYPES.items():
        core = fs.blocks.decode(want.elements, want.scales, bf, axis=axis, dtype=np_dtype,
                                tensor_scale=want.tensor_scale, zero_points=want.zero_points)
        assert_same_bits(ft.blocks.decode(enc, bf, axis=axis, dtype=dtype), core, what)
        # the torch-side decode that CUDA tensors take, here on the CPU
        torch_side = block_ops.decode_torch(enc.elements, enc.scales, bf, axis, enc.tensor_scale,
                                            enc.zero_points, dtype)
        assert_same_bits(torch_side, core, f"decode_torch {what} {dtype}")


@pytest.mark.parametrize("name", NAMES)
def test_named_formats_equal_core(name: str) -> None:
    bf = fs.blocks.format(name)
    for axis in _axes(bf):
        _check(_x((20, 40), torch.float32), bf, axis)
    _check(_x((3, 35), torch.bfloat16), bf, -1)
    _check(_x((3, 35), torch.float64), bf, -1, rounding="rtz")
    _check(_x((18, 33), torch.float32), bf, -1, rounding="sr", seed=2**63 + 5, stream=9)


@pytest.mark.parametrize("dtype", list(DTYPES), ids=str)
def test_layouts_equal_core(dtype: torch.dtype) -> None:
    x = _x((4, 6, 40), dtype)
    mx, nv = fs.blocks.format("mxfp8_e4m3"), fs.blocks.format("nvfp4")
    _check(x, mx, 1)
    _check(x.permute(2, 0, 1), mx, -1)  # strided input
    _check(x, mx.with_(block=(2, 4, 8)), (0, 1, 2))  # 3-D tiles
    _check(x, fs.blocks.scaled("e4m3"), None)  # per tensor
    _check(x, fs.blocks.scaled("e4m3"), (0, 2))  # per channel over two axes
    _check(x, nv, -1, rounding="sr", seed=3, sr_bits=5)
    _check(x[0, 0, 0], mx, -1)  # 0-d
    _check(x[:0], nv, -1)  # empty


def test_delayed_scaling_and_out() -> None:
    x = _x((8, 64), torch.float32)
    xn = x.numpy()
    mx, nv = fs.blocks.format("mxfp8_e4m3"), fs.blocks.format("nvfp4")
    amax = np.abs(xn).reshape(8, 2, 32).max(-1) * 0.5
    for a in (torch.from_numpy(amax), amax, 3.0):
        assert_same_bits(ft.blocks.quantize(x, mx, amax=a),
                         fs.blocks.quantize(xn, mx, amax=np.asarray(a)), str(type(a)))
    for t in (torch.tensor(0.01), 0.01, torch.tensor([[0.01]], dtype=torch.float64)):
        assert_same_bits(ft.blocks.quantize(x, nv, tensor_scale=t),
                         fs.blocks.quantize(xn, nv, tensor_scale=0.01), str(t))
        enc = ft.blocks.encode(x, nv, tensor_scale=t)
        assert enc.tensor_scale.item() == fs.blocks.encode(xn, nv, tensor_scale=0.01)[2]
    want = fs.blocks.quantize(xn, nv)
    for out in (torch.empty(8, 64), torch.zeros(8, 128)[:, ::2]):
        assert ft.blocks.quantize(x, nv, out=out) is out
        assert_same_bits(out, want)
    out = torch.empty(8, 64, dtype=torch.float64)
    ft.blocks.quantize(x, nv, out=out)
    assert_same_bits(out, fs.blocks.quantize(xn, nv, out_dtype=np.float64))


def test_decode_call_forms() -> None:
    x = _x((4, 32), torch.float32)
    xn = x.numpy()
    for name in ("mxfp4_e2m1", "nvfp4", "int4_asym"):
        bf = fs.blocks.format(name)
        want = fs.blocks.quantize(xn, bf)
        core = fs.blocks.encode(xn, bf)
        enc = ft.blocks.encode(x, bf)
        as_tensors = tuple(None if v is None else torch.as_tensor(v) for v in core)
        forms = [enc, tuple(enc), as_tensors]  # ours, a 4-tuple, the core's BlockCodes
        for form in forms:
            assert_same_bits(ft.blocks.decode(form, name), want, f"{name} {type(form)}")
        kw = ({"tensor_scale": enc.tensor_scale} if bf.tensor_format is not None else
              {"zero_points": enc.zero_points} if enc.zero_points is not None else {})
        assert_same_bits(ft.blocks.decode(enc.elements, enc.scales, name, **kw), want, name)


SHAPE_CASES = [
    ((5, 70), "mxfp8", -1), ((5, 70), "mxfp8", 0), ((5, 70), "mxfp8", (0,)), ((40, 33), "nvfp4_16x16", -1),
    ((40, 33), "nvfp4_16x16", (1, 0)), ((2, 3, 4), "mxfp8", 1), ((), "mxfp8", -1), ((0, 7), "nvfp4", -1),
    ((3, 4, 5), fs.blocks.scaled("e4m3"), None), ((3, 4, 5), fs.blocks.scaled("e4m3"), (0, 2)),
    ((3, 4, 5), fs.blocks.scaled("e4m3"), 1),
]
BAD_SHAPES = [((5, 70), "mxfp8", 2), ((5, 70), "mxfp8", None), ((5, 70), "nvfp4_16x16", 0),
              ((5,), "nvfp4_16x16", -1), ((5, 70), "mxfp8", (0, 0)),
              ((5, 70), fs.blocks.scaled("e4m3"), (0, 0))]


@pytest.mark.parametrize("shape,name,axis", SHAPE_CASES)
def test_scale_shape_equals_core(shape: tuple, name: object, axis: object) -> None:
    bf = fs.blocks.format(name)
    x = np.ones(shape, np.float32)
    want = fs.blocks.encode(x, bf, axis=axis)[1].shape
    assert block_ops.scale_shape(shape, bf, axis) == want
    s = torch.ones(want, dtype=torch.float64)
    exp = block_ops.expand_scales(s, shape, bf, axis)
    assert tuple(exp.shape) == tuple(shape)


@pytest.mark.parametrize("shape,name,axis", BAD_SHAPES)
def test_bad_axes_raise_as_the_core(shape: tuple, name: object, axis: object) -> None:
    bf = fs.blocks.format(name)
    with pytest.raises((ValueError, TypeError)) as core:
        fs.blocks.quantize(np.ones(shape, np.float32), bf, axis=axis)
    first_words = re.escape(str(core.value).split(";")[0].split(" is ")[0])
    with pytest.raises(type(core.value), match=first_words):
        ft.blocks.quantize(torch.ones(shape), bf, axis=axis)
