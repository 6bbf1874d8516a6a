"""Gradients of floatsim_torch.quantize and floatsim_torch.blocks.quantize:
each autograd option against a gradient known independently (the upstream
gradient itself, a mask computed here from the format's range and the core's
block scales, the core's rounding of the upstream gradient), through both
routes (the eager autograd.Function and the registered op's autograd), and
the refusal of double backward."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch_support import assert_same_bits  # noqa: E402

import floatsim as fs  # noqa: E402
import floatsim_torch as ft  # noqa: E402
from floatsim_torch import autograd, cast, dispatch  # noqa: E402
from floatsim_torch import blocks as tblocks  # noqa: E402

_RNG = np.random.default_rng(5)


@pytest.fixture(params=["function", "op"])
def route(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run each test through the eager autograd.Function and through the op."""
    if request.param == "op":
        monkeypatch.setattr(cast, "route", lambda *t: dispatch.OP)
        monkeypatch.setattr(tblocks, "route", lambda *t: dispatch.OP)
    return request.param


def _grad(f, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    y.backward(g)
    return x.grad


def test_straight_through(route: str) -> None:
    x = torch.from_numpy(_RNG.standard_normal(64) * 300).float()
    node = type(ft.quantize(x.clone().requires_grad_(), "e4m3").grad_fn).__name__
    assert node == {"function": "QuantizeFunctionBackward",
                    "op": "GeneratedBackwardFor_floatsim_quantize_defaultBackward"}[route]
    g = torch.from_numpy(_RNG.standard_normal(64)).float()
    assert_same_bits(_grad(lambda t: ft.quantize(t, "e4m3"), x, g), g.numpy())
    assert_same_bits(_grad(lambda t: ft.quantize(t, "e5m2", "sr", seed=1), x, g), g.numpy())
    # out_dtype wider than x: the float64 gradient comes back rounded once to float32
    g64 = torch.from_numpy(_RNG.standard_normal(64))
    assert_same_bits(_grad(lambda t: ft.quantize(t, "e4m3", out_dtype=torch.float64), x, g64),
                     g64.numpy().astype(np.float32))
    # ... and to bfloat16 through floatsim's cast (torch would round twice via float32)
    xb = x.bfloat16()
    got = _grad(lambda t: ft.quantize(t, "e4m3", out_dtype=torch.float64), xb, g64)
    assert got.dtype == torch.bfloat16
    assert_same_bits(got.float(), fs.quantize(g64.numpy(), "bfloat16", out_dtype=np.float32))
    xm = x.reshape(8, 8)
    assert_same_bits(_grad(lambda t: ft.blocks.quantize(t, "nvfp4"), xm, g.reshape(8, 8)),
                     g.reshape(8, 8).numpy())


def test_clipped_element_wise(route: str) -> None:
    x = torch.tensor([-500.0, -448.0, -1.0, -0.0, 0.0, 1.0, 448.0, 449.0, 500.0, math.inf,
                      -math.inf, math.nan])
    g = torch.full_like(x, 0.75)
    keep = [0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]  # the derivative of clamp(x, -448, 448)
    got = _grad(lambda t: ft.quantize(t, "e4m3", ste="clipped"), x, g)
    assert got.tolist() == [0.75 * k for k in keep]
    keep_u = [0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0]  # unsigned: 0 <= x <= 448
    got = _grad(lambda t: ft.quantize(t, "ue4m3", ste="clipped"), x, g)
    assert got.tolist() == [0.75 * k for k in keep_u]
    # float16's max 65504 is no bfloat16: the comparison is exact anyway (65536 > 65504)
    xb = torch.tensor([65280.0, 65536.0, -65536.0], dtype=torch.bfloat16)
    got = _grad(lambda t: ft.quantize(t, "fp16", ste="clipped", out_dtype=torch.float32), xb,
                torch.ones(3))
    assert got.tolist() == [1.0, 0.0, 0.0]


def _block_hi(x: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Each element's block range (lo, hi) from the core's scales, computed here."""
    bf = fs.blocks.format(name)
    enc = fs.blocks.encode(x, bf)
    r, c = x.shape
    s = fs.decode(enc.scales, bf.scale, np.float64)
    s = np.repeat(s, bf.block[0], axis=1)[:, :c]
    if bf.tensor_format is not None:
        s = s * enc.tensor_scale
    if bf.rule is fs.blocks.ScaleRule.MINMAX:
        z = np.repeat(enc.zero_points.astype(np.float64), bf.block[0], axis=1)[:, :c]
        return -z * s, (15 - z) * s
    el = bf.element
    if isinstance(el, fs.blocks.IntFormat):   # two's complement: -2**(bits-1) is held too
        return el.qmin * 2.0**-el.frac_bits * s, el.max * s
    return -el.max * s, el.max * s


@pytest.mark.parametrize("name", ["mxfp4_e2m1", "nvfp4", "int4_asym", "mxint8"])
def test_clipped_blocks(route: str, name: str) -> None:
    x = _RNG.standard_normal((6, 40)) * 4
    x[0, :32] = np.linspace(-3, 7.5, 32)  # mxfp4: X = 1, so 6.0 < x <= 7.5 saturate
    x[1, 3] = np.inf  # MX: a NaN scale, the whole block clipped
    x = x.astype(np.float32)
    g = torch.from_numpy(_RNG.standard_normal((6, 40))).float()
    got = _grad(lambda t: ft.blocks.quantize(t, name, ste="clipped"), torch.from_numpy(x), g)
    with np.errstate(invalid="ignore"):
        lo, hi = _block_hi(x, name)
        keep = (x >= lo) & (x <= hi)
    want = np.where(keep, g.numpy(), 0.0).astype(np.float32)
    assert_same_bits(got, want, name)
    if name == "mxfp4_e2m1":
        assert (~keep[0, :32]).sum() == int((x[0, :32] > 6.0).sum()) > 0
        assert not keep[1, :32].any()


def test_quantized_gradients(route: str) -> None:
    x = torch.from_numpy(_RNG.standard_normal((4, 64)) * 10).float()
    g = torch.from_numpy(_RNG.standard_normal((4, 64)) * 3).float()
    gn = g.numpy()
    got = _grad(lambda t: ft.quantize(t, "e4m3", grad_format="e5m2"), x, g)
    assert_same_bits(got, fs.quantize(gn, "e5m2"))
    got = _grad(lambda t: ft.quantize(t, "e4m3", grad_format="e5m2", grad_rounding="sr",
                                      grad_seed=9, grad_stream=4, grad_sr_bits=8), x, g)
    assert_same_bits(got, fs.quantize(gn, "e5m2", "sr", seed=9, stream=4, sr_bits=8))
    # a stochastic forward lends its seed; the backward's stream has the top bit flipped
    got = _grad(lambda t: ft.quantize(t, "e4m3", "sr", seed=5, stream=6, grad_format="e5m2",
                                      grad_rounding="sr"), x, g)
    assert_same_bits(got, fs.quantize(gn, "e5m2", "sr", seed=5, stream=6 ^ 2**31))
    got = _grad(lambda t: ft.quantize(t, "e4m3", grad_block="mxfp8_e5m2"), x, g)
    assert_same_bits(got, fs.blocks.quantize(gn, "mxfp8_e5m2", axis=-1))
    got = _grad(lambda t: ft.blocks.quantize(t, "mxfp8", axis=0, grad_block="mxfp8_e5m2",
                                             grad_rounding="sr", grad_seed=2), x.t(), g.t())
    assert_same_bits(got, fs.blocks.quantize(gn.T, "mxfp8_e5m2", "sr", axis=0, seed=2))
    # clipped, then quantized: zero where the forward saturated
    xs = x.clone()
    xs[0, 0] = 1000.0
    got = _grad(lambda t: ft.quantize(t, "e4m3", ste="clipped", grad_format="e5m2"), xs, g)
    want = fs.quantize(gn, "e5m2")
    want[0, 0] = 0.0
    assert_same_bits(got, want)


def test_double_backward_is_refused(route: str) -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    for y in (ft.quantize(x, "e4m3"), ft.blocks.quantize(x, "mxfp8")):
        # the upstream gradient 2y depends on x: a second derivative would go through the op
        (gx,) = torch.autograd.grad((y * y).sum(), x, create_graph=True)
        assert torch.equal(gx, 2 * y.detach())
        with pytest.raises(RuntimeError, match="double backward through a quantize op"):
            gx.sum().backward()


def test_gradient_option_errors() -> None:
    x = torch.ones(3, requires_grad=True)
    with pytest.raises(ValueError, match=r"ste='clip' is not valid; allowed: 'identity', 'clipped'"):
        ft.quantize(x, "e4m3", ste="clip")
    with pytest.raises(ValueError, match="grad_rounding='stochastic' needs grad_seed="):
        ft.quantize(x, "e4m3", grad_format="e5m2", grad_rounding="sr")
    with pytest.raises(ValueError, match="grad_rounding= needs grad_format= or grad_block="):
        ft.quantize(x, "e4m3", grad_rounding="sr")
    with pytest.raises(ValueError, match="pass grad_format= .* or grad_block= .*, not both"):
        ft.quantize(x, "e4m3", grad_format="e5m2", grad_block="mxfp8")
    with pytest.raises(TypeError, match="grad_format='mxfp8' is a block format; pass it as grad_block="):
        ft.quantize(x, "e4m3", grad_format="mxfp8")
    with pytest.raises(ValueError, match="grad_seed= and grad_sr_bits= apply to grad_rounding='stochastic'"):
        ft.quantize(x, "e4m3", grad_format="e5m2", grad_seed=1)
    with pytest.raises(ValueError, match=r"grad_stream=-1 must be an int in 0..2\*\*32-1"):
        ft.quantize(x, "e4m3", grad_format="e5m2", grad_rounding="sr", grad_seed=1, grad_stream=-1)
    with pytest.raises(ValueError, match="out= does not support autograd"):
        ft.quantize(x, "e4m3", out=torch.empty(3))
    assert autograd.STE_MODES == ("identity", "clipped")
