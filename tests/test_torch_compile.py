"""The floatsim ops as torch operators: torch.library.opcheck on every op
(schema, fake implementation, autograd registration, AOT dispatch with
dynamic shapes), torch.compile(fullgraph=True) equal to eager bit for bit
(forward and backward), no recompilation per stochastic-rounding stream, and
autocast.  Inductor compiles are slow on CI's two cores: one small graph."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch_support import assert_same_bits, core_array  # noqa: E402

import floatsim as fs  # noqa: E402
import floatsim_torch as ft  # noqa: E402
from floatsim_torch import block_ops, ops  # noqa: E402
from floatsim_torch.spec import axis_ints, block_ints, format_ints  # noqa: E402

_RNG = np.random.default_rng(3)


def _f(name: str) -> list[int]:
    return list(format_ints(fs.format(name)))


def _b(name: str) -> list[int]:
    return list(block_ints(fs.blocks.format(name)))


def _x(*shape: int, grad: bool = False) -> torch.Tensor:
    return torch.from_numpy(_RNG.standard_normal(shape) * 20).float().requires_grad_(grad)


def _opcheck_cases() -> list:
    e4m3, e5m2, ax = _f("e4m3"), _f("e5m2"), list(axis_ints(-1))
    grad_fmt = [1, 1, 6, 0, 2, 1, -1, *e5m2]  # clipped; E5M2 gradient with SR
    x, xg = _x(4, 40), _x(4, 40, grad=True)
    codes = torch.from_numpy(_RNG.integers(0, 256, (4, 40), dtype=np.uint8))
    codes[(codes & 0x7F) == 0x7F] = 0  # no E4M3 NaN: opcheck compares outputs with NaN != NaN
    enc = ft.blocks.encode(x, "nvfp4")
    mm = ft.blocks.encode(x, "int4_asym")
    return [
        (ops.quantize, (xg, e4m3, 0, -1, -1, False, None, 0, None, 0, None, [0, 0], None, 0)),
        (ops.quantize, (xg, e4m3, 6, 0, -1, False, -3, 7, None, 4, torch.float64, grad_fmt, 11, 2)),
        (ops.quantize, (xg, e4m3, 6, -1, -1, False, 5, 0, None, 0, None, grad_fmt, 5, -1,
                        torch.tensor(9))),  # a stream tensor, and the backward's taken from it
        (ops.quantize_out, (x, e4m3, 2, -1, 0, True, None, 0, None, 0, torch.empty(4, 40))),
        (ops.encode, (x, e5m2, 6, -1, -1, False, 5, 1, None, 0)),
        (ops.encode_out, (x, e4m3, 0, -1, -1, False, None, 0, None, 0,
                          torch.empty(4, 40, dtype=torch.uint8))),
        (ops.decode, (codes, e4m3, torch.bfloat16)),
        (ops.pack, (codes & 15, 4)),
        (ops.unpack, (ops.pack(codes & 15, 4), 4, 160)),
        (block_ops.quantize, (xg, _b("mxfp8"), 0, ax, None, 0, 0, None, None, None, [1, 0], None, 0)),
        (block_ops.quantize, (xg, _b("nvfp4"), 6, ax, 3, 2, 0, None, torch.tensor(0.5), None,
                              grad_fmt, 4, 0)),
        (block_ops.quantize_out, (x, _b("mxfp4"), 0, list(axis_ints(0)), None, 0, 0, None, None,
                                  torch.empty(4, 40, dtype=torch.float64))),
        (block_ops.encode, (x, _b("nvfp4"), 0, ax, None, 0, 0, None, None)),
        (block_ops.quantize, (xg, _b("mxfp4"), 6, ax, 3, 0, 0, None, None, None, grad_fmt, 3, -1,
                              torch.tensor(4))),
        (block_ops.encode, (x, _b("int4_asym"), 0, ax, None, 0, 0, None, None)),
        (block_ops.decode, (enc.elements, enc.scales, _b("nvfp4"), ax, enc.tensor_scale, None,
                            torch.float32)),
        (block_ops.decode, (mm.elements, mm.scales, _b("int4_asym"), ax, None, mm.zero_points,
                            torch.float16)),
    ]


@pytest.mark.parametrize("case", range(len(_opcheck_cases())))
def test_opcheck(case: int) -> None:
    op, args = _opcheck_cases()[case]
    torch.library.opcheck(op, args)


def test_compiled_equals_eager_forward_and_backward() -> None:
    """One inductor graph: element-wise SR with a gradient format, a block
    quantize with a clipped gradient, a matmul between them."""

    def f(x: torch.Tensor, w: torch.Tensor, stream: int) -> torch.Tensor:
        xq = ft.quantize(x * 2, "e4m3", "sr", seed=7, stream=stream, grad_format="e5m2",
                         grad_rounding="sr")
        wq = ft.blocks.quantize(w, "nvfp4", ste="clipped")
        return torch.relu(xq @ wq.t())

    x, w = _x(4, 32, grad=True), _x(8, 32, grad=True)
    g = _x(4, 8)
    torch._dynamo.reset()
    cf = torch.compile(f, fullgraph=True)
    for stream in (1, 2):
        outs = []
        for fn in (f, cf):
            x.grad = w.grad = None
            y = fn(x, w, stream)
            y.backward(g)
            outs.append((y.detach(), x.grad.clone(), w.grad.clone()))
        for a, b in zip(*outs):
            assert_same_bits(b, a.numpy())
    # and the forward against the core
    want_x = fs.quantize((x.detach() * 2).numpy(), "e4m3", "sr", seed=7, stream=2)
    assert_same_bits(ft.quantize(x.detach() * 2, "e4m3", "sr", seed=7, stream=2), want_x)


def test_one_recompile_for_changing_streams_and_no_graph_break() -> None:
    from torch._dynamo.testing import CompileCounter

    torch._dynamo.reset()
    counter = CompileCounter()

    @torch.compile(fullgraph=True, backend=counter)
    def step(x: torch.Tensor, seed: int, stream: int) -> tuple:
        e = ft.blocks.encode(x, "mxfp4", "sr", seed=seed, stream=stream)
        y = ft.blocks.decode(e, "mxfp4")
        c = ft.encode(x, "e2m1")
        return ft.quantize(x, "e5m2", "sr", seed=seed, stream=stream) + y, ft.decode(c, "e2m1")

    x = _x(2, 64)
    rs = ft.RandomStream(99)
    for _ in range(5):
        seed, stream = rs.next()
        y, d = step(x, seed, stream)
        xn = x.numpy()
        want = (fs.quantize(xn, "e5m2", "sr", seed=seed, stream=stream)
                + fs.blocks.quantize(xn, "mxfp4", "sr", seed=seed, stream=stream))
        assert_same_bits(y, want)
        assert_same_bits(d, fs.quantize(xn, "e2m1"))
    assert counter.frame_count <= 2  # the first stream is specialised, then it is a symbol


def test_stream_tensors_compile_once() -> None:
    """A stream passed as a tensor is a graph input: one compilation for every
    stream, the core's bits forward and (the default ``stream ^ 2**31``) backward."""
    from torch._dynamo.testing import CompileCounterWithBackend

    torch._dynamo.reset()
    counter = CompileCounterWithBackend("aot_eager")

    @torch.compile(fullgraph=True, backend=counter)
    def step(x: torch.Tensor, stream: torch.Tensor) -> torch.Tensor:
        y = ft.quantize(x, "e4m3", "sr", seed=7, stream=stream, grad_format="e5m2",
                        grad_rounding="sr")
        return y + ft.blocks.quantize(x, "mxfp4", "sr", seed=3, stream=stream + 1)

    x, g = _x(2, 64, grad=True), _x(2, 64)
    xn, gn = x.detach().numpy(), g.numpy()
    for stream in (0, 5, 2**31 - 1):
        x.grad = None
        y = step(x, torch.tensor(stream))
        y.backward(g)
        want = (fs.quantize(xn, "e4m3", "sr", seed=7, stream=stream)
                + fs.blocks.quantize(xn, "mxfp4", "sr", seed=3, stream=stream + 1))
        assert_same_bits(y, want)
        assert_same_bits(x.grad, fs.quantize(gn, "e5m2", "sr", seed=7, stream=stream ^ 2**31)
                         + gn)
    assert counter.frame_count == 1
    with pytest.raises(TypeError, match=r"stream is a tensor of dtype torch.float32"):
        ft.quantize(x, "e4m3", "sr", seed=1, stream=torch.tensor(1.0))
    with pytest.raises(ValueError, match=r"stream=-1 must be an int in 0..2\*\*32-1"):
        ft.quantize(x.detach(), "e4m3", "sr", seed=1, stream=torch.tensor(-1))


def test_autocast() -> None:
    lin = torch.nn.Linear(16, 8)
    x = _x(4, 16, grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = lin(x)
        y = ft.quantize(h, "e4m3")
        z = ft.blocks.quantize(h, "mxfp8")
    assert h.dtype == y.dtype == z.dtype == torch.bfloat16  # the casts keep autocast's dtype
    assert_same_bits(y, fs.quantize(core_array(h), "e4m3"))
    assert_same_bits(z, fs.blocks.quantize(core_array(h), "mxfp8"))
    (y.float().sum() + z.float().sum()).backward()
    assert lin.weight.grad is not None and torch.isfinite(lin.weight.grad).all()


def test_dynamic_shapes_out_and_tensor_scale() -> None:
    """Symbolic shapes reach the fake implementations (scale shapes, packed
    sizes); out= is functionalised; a tensor scale is a graph input."""
    torch._dynamo.reset()

    @torch.compile(fullgraph=True, dynamic=True, backend="aot_eager")
    def f(x: torch.Tensor, out: torch.Tensor, t: torch.Tensor) -> tuple:
        ft.quantize(x, "e4m3", out=out)
        e = ft.blocks.encode(x, "nvfp4", tensor_scale=t)
        packed = ft.pack(e.elements, "e2m1")
        return out * 2, e.scales, ft.blocks.decode(e, "nvfp4"), ft.unpack(packed, "e2m1", x.numel())

    for shape in ((4, 40), (6, 33)):
        x = _x(*shape)
        out = torch.empty(shape)
        o2, s, d, u = f(x, out, torch.tensor(0.01))
        xn = x.numpy()
        assert_same_bits(out, fs.quantize(xn, "e4m3"))
        assert_same_bits(o2, fs.quantize(xn, "e4m3") * 2)
        codes = fs.blocks.encode(xn, "nvfp4", tensor_scale=0.01)
        elems, scales = codes.elements, codes.scales
        assert_same_bits(s, scales)
        assert_same_bits(d, fs.blocks.quantize(xn, "nvfp4", tensor_scale=0.01))
        assert_same_bits(u, elems.reshape(-1))
