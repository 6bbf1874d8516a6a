"""floatsim_torch.emulate: bit-identity under fp32, the GEMM axes, every recipe trains,
torch.compile, autocast, convolutions, attention, state dicts, bad input.

Exactness is checked against the core (`fs.blocks.quantize` on hand-transposed
numpy operands) and against torch's own unemulated ops, never against the
emulation itself.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import floatsim as fs  # noqa: E402
import floatsim_torch as fst  # noqa: E402
from floatsim import recipes  # noqa: E402
from floatsim.recipes import Gemm, Operand, Recipe  # noqa: E402
from floatsim_torch import block_ops, gemm  # noqa: E402
from floatsim_torch.gpt import GPT, GPTConfig  # noqa: E402
from floatsim_torch.spec import block_ints  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Two cores shared with other processes: one intra-op thread is faster and steadier.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(),
                         nn.Linear(64, 32))


def tiny_gpt() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=16, block_size=16, n_layer=2, n_head=2, n_embd=32))


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(4, 32, 3, padding="same", padding_mode="reflect")
        self.c2 = nn.Conv2d(2, 32, (3, 2), stride=2, dilation=(1, 2), padding=1)
        self.head = nn.Linear(32, 4)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        a = F.gelu(self.c1(x1)).mean(-1)
        b = F.gelu(self.c2(x2)).mean((-1, -2))
        return self.head(a + b)


def conv_net() -> ConvNet:
    torch.manual_seed(0)
    return ConvNet()


def batch(kind: str, seed: int = 1) -> tuple:
    g = torch.Generator().manual_seed(seed)
    if kind == "mlp":
        return (torch.randn(16, 32, generator=g),), torch.randint(0, 32, (16,), generator=g)
    if kind == "gpt":
        idx = torch.randint(0, 16, (4, 16), generator=g)
        return (idx,), torch.roll(idx, -1, 1)
    if kind == "attn":
        return (torch.randn(2, 16, 32, generator=g),), torch.randint(0, 32, (2, 16), generator=g)
    return ((torch.randn(4, 4, 20, generator=g), torch.randn(4, 2, 9, 10, generator=g)),
            torch.randint(0, 4, (4,), generator=g))


def loss_of(model: nn.Module, kind: str, seed: int = 1) -> torch.Tensor:
    xs, y = batch(kind, seed)
    out = model(*xs)
    return F.cross_entropy(out.flatten(0, -2), y.flatten())


def grads(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters()}


def attention() -> nn.Module:
    from floatsim_torch.gpt import SelfAttention

    torch.manual_seed(0)
    return nn.Sequential(SelfAttention(GPTConfig(n_head=2, n_embd=32)), nn.Linear(32, 32))


MODELS = {"mlp": mlp, "gpt": tiny_gpt, "conv": conv_net, "attn": attention}


# ---- fp32 changes no bit ----------------------------------------------------------------
@pytest.mark.parametrize("kind", list(MODELS))
@pytest.mark.parametrize("attention", [False, True])
def test_fp32_recipe_is_bit_identical(kind: str, attention: bool) -> None:
    plain = MODELS[kind]()
    em = fst.emulate(copy.deepcopy(plain), recipes.get("fp32").replace(attention=attention))
    l1, l2 = loss_of(plain, kind), loss_of(em, kind)
    l1.backward()
    l2.backward()
    assert torch.equal(l1, l2)
    g1, g2 = grads(plain), grads(em)
    assert g1.keys() == g2.keys() and all(torch.equal(g1[k], g2[k]) for k in g1)


@pytest.mark.parametrize("shape", [(8, 16), (2, 5, 16), (3, 2, 5, 16), (96, 64)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("autocast", [False, True])
def test_gemm_with_nothing_quantized_matches_nn_linear(shape: tuple, bias: bool,
                                                       autocast: bool) -> None:
    # The emulated GEMM's own path (not the layer's shortcut): F.linear and mm as torch runs
    # them, in the autocast dtype where autocast is on.
    plan = gemm.make_plan("l", recipes.get("fp32"), 0)
    torch.manual_seed(0)
    lin = nn.Linear(shape[-1], 40, bias=bias)
    x = torch.randn(*shape, requires_grad=True)
    outs = []
    for use in (False, True):
        x.grad = None
        lin.zero_grad(set_to_none=True)
        with torch.autocast("cpu", torch.bfloat16, enabled=autocast):
            y = gemm.apply(plan, x, lin.weight, lin.bias, step=torch.zeros((), dtype=torch.int64)) \
                if use else lin(x)
        y.backward(torch.linspace(-1, 1, y.numel()).reshape(y.shape).to(y.dtype))
        outs.append([y.detach(), x.grad, lin.weight.grad] + ([lin.bias.grad] if bias else []))
    for a, b in zip(*outs):
        assert a.dtype == b.dtype and torch.equal(a, b)


# ---- each GEMM's operands on the GEMM's reduction axis ----------------------------------
def _mx(name: str) -> Operand:
    return Operand(name, scaling="block")


AXES = Recipe("axes_test", forward=Gemm(_mx("mxfp8_e4m3"), _mx("mxfp6_e3m2")),
              dgrad=Gemm(_mx("mxfp8_e5m2"), _mx("mxfp6_e2m3")),
              wgrad=Gemm(_mx("mxfp4_e2m1"), _mx("mxfp8_e4m3")))


def _q(a: np.ndarray, name: str) -> np.ndarray:
    """fs.blocks.quantize along the last axis of a C-contiguous copy."""
    return fs.blocks.quantize(np.ascontiguousarray(a), fs.blocks.format(name), axis=-1)


def test_each_gemm_quantizes_its_operands_along_its_reduction_dim(monkeypatch) -> None:
    seen = []
    real = block_ops.quantize_kernel   # what the eager GEMM calls: the block_quantize op's kernel

    def spy(x, bfmt, *a):
        y = real(x, bfmt, *a)
        seen.append((x.clone(), y.clone(), tuple(bfmt)))
        return y

    monkeypatch.setattr(block_ops, "quantize_kernel", spy)
    rng = np.random.default_rng(0)
    # Magnitudes spread over rows and columns, so that blocks along the wrong axis differ.
    xn = (rng.standard_normal((2, 40, 64)) * np.exp2(rng.integers(-6, 6, (2, 40, 1)))
          * np.exp2(rng.integers(-4, 4, 64))).astype(np.float32)
    wn = (rng.standard_normal((48, 64)) * np.exp2(rng.integers(-5, 5, (48, 1)))).astype(np.float32)
    gn = (rng.standard_normal((2, 40, 48)) * np.exp2(rng.integers(-6, 6, 48))).astype(np.float32)
    lin = nn.Linear(64, 48, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(wn))
    fst.emulate(lin, AXES)
    x = torch.from_numpy(xn).requires_grad_()
    y = lin(x)
    y.backward(torch.from_numpy(gn))
    x2, g2 = xn.reshape(80, 64), gn.reshape(80, 48)          # tokens are every leading index
    want = {   # role: (operand as quantized along the last axis of this hand-made copy, name)
        "forward.lhs": (_q(x2, "mxfp8_e4m3"), x2),
        "forward.rhs": (_q(wn, "mxfp6_e3m2"), wn),
        "dgrad.lhs": (_q(g2, "mxfp8_e5m2"), g2),
        "dgrad.rhs": (_q(wn.T, "mxfp6_e2m3").T, wn),           # W blocked along N (axis 0)
        "wgrad.lhs": (_q(g2.T, "mxfp4_e2m1").T, g2),           # dy blocked along tokens
        "wgrad.rhs": (_q(x2.T, "mxfp8_e4m3").T, x2),           # x blocked along tokens
    }
    assert [key for _, _, key in seen] == [
        block_ints(fs.blocks.format(n)) for n in ("mxfp8_e4m3", "mxfp6_e3m2", "mxfp8_e5m2",
                                                          "mxfp6_e2m3", "mxfp4_e2m1", "mxfp8_e4m3")]
    for (inp, out, _), (role, (q, orig)) in zip(seen, want.items()):
        assert np.array_equal(inp.numpy(), orig), role
        assert np.array_equal(out.numpy(), q), role
        assert not np.array_equal(q, _q(orig, role_fmt := AXES.operand(role).format.name)) \
            or role.startswith(("forward", "dgrad.lhs")), f"{role} ({role_fmt}): axis untested"
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))   # noqa: E731
    fwd = F.linear(t(want["forward.lhs"][0]), t(want["forward.rhs"][0])).reshape(2, 40, 48)
    dx = t(want["dgrad.lhs"][0]).matmul(t(want["dgrad.rhs"][0])).reshape(2, 40, 64)
    dw = t(want["wgrad.lhs"][0]).T.matmul(t(want["wgrad.rhs"][0]))
    assert torch.equal(y.detach(), fwd) and torch.equal(x.grad, dx)
    assert torch.equal(lin.weight.grad, dw)


def test_conv_is_the_unfolded_gemm() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 8, (3, 3), stride=(2, 1), padding=(1, 2), dilation=(2, 1))
    x = torch.randn(2, 3, 9, 7)
    plain = copy.deepcopy(conv)
    fst.emulate(conv, "mxfp8")
    cols = F.unfold(x, (3, 3), dilation=(2, 1), padding=(1, 2), stride=(2, 1)).transpose(1, 2)
    k = cols.shape[-1]
    qx = _q(cols.reshape(-1, k).numpy(), "mxfp8_e4m3")
    qw = _q(plain.weight.detach().reshape(8, -1).numpy(), "mxfp8_e4m3")
    want = F.linear(torch.from_numpy(qx), torch.from_numpy(qw), plain.bias.detach())
    assert torch.equal(conv(x), want.reshape(2, -1, 8).transpose(1, 2).reshape(plain(x).shape))


FP32_OPERANDS = Recipe("fp32_values", **{g: Gemm(Operand("float32"), Operand("float32"))
                                         for g in ("forward", "dgrad", "wgrad")},
                       attention=True)


@pytest.mark.parametrize("kind", ["conv", "gpt"])
def test_lowering_with_exact_casts_matches_torch(kind: str) -> None:
    # Every operand "quantized" to float32 (an exact cast): what remains is the lowering
    # (unfold for 'same' / reflect / strided / dilated convolutions, SDPA as two GEMMs
    # and a softmax), equal to torch's own ops up to float32 summation order.
    plain = MODELS[kind]()
    em = fst.emulate(copy.deepcopy(plain), FP32_OPERANDS)
    l1, l2 = loss_of(plain, kind), loss_of(em, kind)
    l1.backward()
    l2.backward()
    torch.testing.assert_close(l2, l1, rtol=1e-5, atol=1e-6)
    g1, g2 = grads(plain), grads(em)
    for k in g1:
        torch.testing.assert_close(g2[k], g1[k], rtol=1e-4, atol=1e-6, msg=k)


# ---- every recipe trains ----------------------------------------------------------------
TRAINED = [n for n in recipes.names() if n != "fp32"]


@pytest.mark.parametrize("name", TRAINED)
def test_every_recipe_trains_an_mlp_and_a_transformer(name: str) -> None:
    for kind in ("mlp", "gpt"):
        # the head's 16 outputs cannot take mxfp4_quartet's 32-wide Hadamard in dgrad
        model = fst.emulate(MODELS[kind](), name, modules=lambda m, n: n != "lm_head")
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        losses = []
        for _ in range(8):
            loss = loss_of(model, kind)   # one fixed batch: memorising it must work
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        assert all(np.isfinite(losses)), (kind, losses)
        assert np.mean(losses[-3:]) < losses[0] - 0.1, (kind, losses)


def test_attention_gemms_are_emulated() -> None:
    model = fst.emulate(tiny_gpt(), recipes.get("mxfp4").replace(attention=True), telemetry=True)
    loss_of(model, "gpt").backward()
    kinds = {(r["layer"], r["kind"], r["role"]) for r in fst.telemetry(model)}
    for blk in ("blocks.0.attn", "blocks.1.attn"):
        for kind in ("qk", "pv"):
            for role in ("forward.lhs", "forward.rhs", "dgrad.lhs", "dgrad.rhs", "wgrad.lhs",
                         "wgrad.rhs"):
                assert (blk, kind, role) in kinds
    assert ("blocks.0.attn.qkv", "linear", "forward.lhs") in kinds
    plain = fst.emulate(tiny_gpt(), "mxfp4")
    assert not torch.equal(loss_of(plain, "gpt"), loss_of(model, "gpt"))


# ---- torch.compile, autocast ------------------------------------------------------------
def _train(model: nn.Module, kind: str, steps: int, compiled: bool,
           backend: object = "aot_eager") -> list[torch.Tensor]:
    def fn(y: torch.Tensor, *xs: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(*xs).flatten(0, -2), y.flatten())

    step = torch.compile(fn, fullgraph=True, backend=backend) if compiled else fn
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    out = []
    for i in range(steps):
        xs, y = batch(kind, i + 1)
        loss = step(y, *xs)
        opt.zero_grad()
        loss.backward()
        opt.step()
        out.append(loss.detach())
    return out


@pytest.mark.parametrize(("name", "kind"), [
    ("fp8_delayed", "mlp"), ("nvfp4", "mlp"), ("mxfp4_quartet", "attn"),
    pytest.param("mxfp4_quartet", "gpt", marks=pytest.mark.slow),   # 80 s of tracing here
])
def test_compiled_training_step_equals_eager(name: str, kind: str) -> None:
    # fullgraph=True: no graph break in forward, loss or (AOTAutograd) backward; the
    # delayed amax histories and the SR step counters are buffers mutated in place.
    # One compilation for every step: the SR stream is a tensor computed from the step
    # counter (a stream that Dynamo saw as a constant would recompile, or, specialised,
    # repeat the first step's bits and part from eager after it).
    from torch._dynamo.testing import CompileCounterWithBackend

    torch._dynamo.reset()
    r = recipes.get(name).replace(attention=kind in ("gpt", "attn"))
    eager, comp = (fst.emulate(MODELS[kind](), r, modules=lambda m, n: n != "lm_head")
                   for _ in range(2))
    counter = CompileCounterWithBackend("aot_eager")
    le, lc = _train(eager, kind, 3, False), _train(comp, kind, 3, True, backend=counter)
    assert counter.frame_count == 1
    assert all(torch.equal(a, b) for a, b in zip(le, lc)), (le, lc)
    for (n, a), b in zip(eager.state_dict().items(), comp.state_dict().values()):
        assert torch.equal(a, b), n
    if name == "fp8_delayed":
        assert float(comp[0].floatsim_amax[2, 0]) > 0    # dy's amax recorded in backward


@pytest.mark.slow
def test_compiled_with_inductor() -> None:
    torch._dynamo.reset()
    model = fst.emulate(mlp(), "mxfp8")
    losses = _train(model, "mlp", 3, True, backend="inductor")
    assert all(torch.isfinite(x) for x in losses)


def test_autocast_bf16() -> None:
    lin = nn.Linear(64, 32)
    fst.emulate(lin, "mxfp8")
    x = torch.randn(8, 64, requires_grad=True)
    with torch.autocast("cpu", torch.bfloat16):
        y = lin(x)
    assert y.dtype == torch.bfloat16
    y.float().sum().backward()
    assert x.grad.dtype == torch.float32 and lin.weight.grad.dtype == torch.float32
    # the GEMM multiplies the MX values exactly in float32, then rounds once to bfloat16
    qx = _q(x.detach().numpy(), "mxfp8_e4m3")
    qw = _q(lin.weight.detach().numpy(), "mxfp8_e4m3")
    want = F.linear(torch.from_numpy(qx), torch.from_numpy(qw), lin.bias.detach())
    assert torch.equal(y, want.to(torch.bfloat16))


# ---- state dicts and undoing -------------------------------------------------------------
def test_state_dict_histories_and_unemulate() -> None:
    plain = tiny_gpt()
    keys = set(plain.state_dict())
    em = fst.emulate(copy.deepcopy(plain), "fp8_delayed")
    loss_of(em, "gpt").backward()
    sd = em.state_dict()
    extra = set(sd) - keys
    assert extra and all(k.rsplit(".", 1)[1] in ("floatsim_step", "floatsim_amax") for k in extra)
    assert float(sd["blocks.0.fc.floatsim_amax"][0, 0]) > 0   # x's amax, recorded in forward
    other = fst.emulate(tiny_gpt(), "fp8_delayed")
    other.load_state_dict(sd)                                  # histories load with the model
    assert torch.equal(other.blocks[0].fc.floatsim_amax, em.blocks[0].fc.floatsim_amax)
    other.load_state_dict(plain.state_dict())                  # a plain checkpoint loads too
    fst.unemulate(em)
    assert set(em.state_dict()) == keys
    assert all(type(m).__name__ != "EmulatedLinear" for m in em.modules())
    assert not any(hasattr(p, "_floatsim_layer") or hasattr(p, "_floatsim_hp")
                   for p in em.parameters())
    with fst.emulated(em, "mxfp4") as m:
        assert type(m.lm_head).__name__ == "EmulatedLinear"
    assert type(em.lm_head) is nn.Linear


def test_module_filters() -> None:
    m = mlp()
    fst.emulate(m, "mxfp8", modules=fst.all_but_ends(m))
    assert [type(x).__name__ for x in m] == ["Linear", "GELU", "EmulatedLinear", "GELU", "Linear"]
    fst.unemulate(m)
    fst.emulate(m, "mxfp8", modules="[24]")
    assert [type(x).__name__ for x in m][::2] == ["Linear", "EmulatedLinear", "EmulatedLinear"]
    fst.unemulate(m)
    fst.emulate(m, "mxfp8", modules=lambda mod, name: name == "0")
    assert type(m[0]).__name__ == "EmulatedLinear" and type(m[2]) is nn.Linear


# ---- bad input --------------------------------------------------------------------------
def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"unknown recipe 'mxfp5'.*Known recipes: fp32"):
        fst.emulate(mlp(), "mxfp5")
    grouped = nn.Sequential(nn.Conv1d(4, 8, 3, groups=2))
    with pytest.raises(ValueError, match=r"cannot emulate 0 \(Conv1d, groups=2\)"):
        fst.emulate(grouped, "mxfp8")
    rnn = nn.Sequential(nn.LSTM(8, 8), nn.Linear(8, 8))
    with pytest.raises(ValueError, match=r"cannot emulate 0 \(LSTM\)"):
        fst.emulate(rnn, "mxfp8", modules="*")
    with pytest.raises(ValueError, match=r"cannot emulate 0 \(Conv3d\)"):
        fst.emulate(nn.Sequential(nn.Conv3d(2, 2, 1)), "mxfp8", modules=nn.Conv3d)
    # 48 input features: the forward GEMM's 32-wide Hadamard blocks cannot tile them
    with pytest.raises(ValueError, match=r"layer 0 \(Linear\) has 48 input features.*32-wide"):
        fst.emulate(nn.Sequential(nn.Linear(48, 64)), "mxfp4_quartet")
    with pytest.raises(ValueError, match="40 output features"):
        fst.emulate(nn.Sequential(nn.Linear(64, 40)), "mxfp4_quartet")
    m = fst.emulate(mlp(), "mxfp8")
    with pytest.raises(ValueError, match="emulated already"):
        fst.emulate(m, "mxfp4")
    with pytest.raises(NotImplementedError, match="accumulator 'hopper_fp8'"):
        fst.emulate(mlp(), recipes.get("mxfp8").replace(accumulator="hopper_fp8"))
    with pytest.raises(TypeError, match="modules=3"):
        fst.emulate(mlp(), "mxfp8", modules=3)
    with pytest.raises(ValueError, match="seed=-1"):
        fst.emulate(mlp(), "mxfp8", seed=-1)

    class Custom(nn.Linear):
        def forward(self, x):   # noqa: ANN001, ANN202
            return super().forward(x) * 2

    with pytest.raises(ValueError, match=r"overrides Linear.forward"):
        fst.emulate(nn.Sequential(Custom(4, 4)), "mxfp8")
    with pytest.warns(UserWarning, match="MultiheadAttention"):
        fst.emulate(nn.Sequential(nn.MultiheadAttention(8, 2)), "mxfp8")
