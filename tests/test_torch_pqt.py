"""floatsim_torch.pqt: the noisy weight each training forward reads is the
core's numpy pseudo_quantize of the stored parameter (key from the layer's
name, stream the step), the gradient reaches the parameter straight through,
eval reads the parameter, finalize casts to the target's grid with the
oracle's scale exponent, and a small model's loss decreases."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch_support import assert_same_bits, core_array  # noqa: E402

import floatsim as fs  # noqa: E402
import floatsim_torch as ft  # noqa: E402
from floatsim.noise import PQTConfig  # noqa: E402
from floatsim.reference import noise as R  # noqa: E402
from floatsim_torch.pqtrain import layer_seed  # noqa: E402


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))


def test_forward_reads_the_noisy_weight_and_gradients_pass_straight_through() -> None:
    cfg = PQTConfig("e3m2", "r")
    m = ft.pqt(_model(), cfg, seed=9)
    first = m[0]
    orig = first.parametrizations.weight.original
    assert orig.dtype == torch.bfloat16 and m[2].parametrizations.weight.original.dtype == torch.bfloat16
    seen = []
    first.register_forward_hook(lambda mod, a, out: seen.append(mod.weight.detach().clone()))
    x = torch.randn(4, 6)
    for step in range(2):
        m.zero_grad()
        h = torch.relu(m[0](x))
        y = m(x)
        g = torch.randn_like(y)
        y.backward(g)
        # the weight of this step: the numpy core's result for key and stream
        want = fs.noise.pseudo_quantize(core_array(orig), cfg, seed=layer_seed(9, "0"), stream=step,
                                        out_dtype=np.float32)
        assert_same_bits(seen[-1], want, f"step {step}")
        # the gradient of Linear 2 wrt its weight reaches the stored bf16 parameter as it is
        w2 = m[2].weight.detach()  # reads the same noise again (same step)
        gw2 = g.t() @ torch.relu(x @ seen[-1].t() + m[0].bias.detach())
        got = m[2].parametrizations.weight.original.grad
        assert got.dtype == torch.bfloat16
        assert torch.allclose(got.float(), gw2, rtol=2**-7, atol=1e-6)  # bf16 of the same matmul
        assert w2.dtype == torch.float32 and h.shape == (4, 5)
    # seen: m[0] alone, then m, per step; m[0] alone reads the last counted step
    assert torch.equal(seen[1], seen[2]) and not torch.equal(seen[1], seen[3])


def test_eval_reads_the_parameter_and_finalize_casts_to_the_target() -> None:
    m = ft.pqt(_model(), "e2m3", "uniform", seed=1, param_dtype="float32")
    m.eval()
    orig = m[0].parametrizations.weight.original
    assert torch.equal(m[0].weight, orig)
    w = core_array(orig).astype(np.float64)
    k = R.tensor_k(max(abs(Fraction(float(v))) for v in w.ravel()), fs.format("e2m3"),
                   fs.noise.parse("uniform"))
    ft.pqt.finalize(m)
    assert not hasattr(m[0], "parametrizations") and isinstance(m[0].weight, torch.nn.Parameter)
    from floatsim.reference import round_value

    want = np.array([float(round_value(Fraction(float(v)) / Fraction(2) ** k, "e2m3")
                           * Fraction(2) ** k) for v in w.ravel()], np.float32).reshape(w.shape)
    assert_same_bits(m[0].weight, want, "finalize")
    with pytest.raises(ValueError, match="not under"):
        ft.pqt.finalize(m)


def test_finalize_leaves_a_model_that_runs_in_its_own_dtype() -> None:
    # BF16 parameters (the default) under an FP32 layer: after finalize the layer must run
    # again, with weights on the target's grid in FP32 (exact: e3m2 values fit)
    m = ft.pqt(_model(), "e3m2", "r", seed=2)
    before = m[0].parametrizations.weight.original.float()
    ft.pqt.finalize(m)
    assert m[0].weight.dtype == torch.float32
    assert m(torch.ones(3, m[0].in_features)).dtype == torch.float32
    k = R.tensor_k(max(abs(Fraction(float(v))) for v in before.ravel().tolist()), fs.format("e3m2"),
                   fs.noise.parse("r"))
    from floatsim.reference import round_value

    want = np.array([float(round_value(Fraction(float(v)) / Fraction(2) ** k, "e3m2")
                           * Fraction(2) ** k) for v in before.ravel().tolist()],
                    np.float32).reshape(before.shape)
    assert_same_bits(m[0].weight, want, "finalize from bf16")


def test_a_small_model_learns_under_pqt() -> None:
    torch.manual_seed(1)
    x = torch.randn(64, 6)
    target = x @ torch.randn(6, 3)
    m = ft.pqt(_model(), PQTConfig("e3m2", "gaussian"), seed=2)
    opt = torch.optim.Adam(m.parameters(), lr=0.02)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(m(x), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    with pytest.raises(ValueError, match="already"):
        ft.pqt(m, "e3m2")


def test_qat_rounds_every_forward_and_finalize_applies_the_same_cast() -> None:
    m = ft.pqt.qat(_model(), "e2m3", param_dtype="float32")
    orig = m[0].parametrizations.weight.original
    cfg = PQTConfig("e2m3")
    k = fs.noise.scale_exponent(core_array(orig).astype(np.float64), cfg)
    want = fs.quantize(core_array(orig) * 2.0 ** -k, "e2m3", overflow="saturate") * 2.0 ** k
    for mode in (m.train, m.eval):
        mode()
        assert_same_bits(m[0].weight, want, "qat forward")
    m.train()
    x = torch.randn(4, 6)
    m(x).sum().backward()                        # straight through: dL/dW of the rounded W
    ref = torch.nn.Linear(6, 5)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(want))
        ref.bias.copy_(m[0].bias)
    h = ref(x)
    h.retain_grad()
    torch.nn.functional.linear(torch.relu(h), m[2].weight, m[2].bias).sum().backward()
    torch.testing.assert_close(orig.grad, ref.weight.grad)
    ft.pqt.finalize(m)
    assert_same_bits(m[0].weight, want, "finalize after qat")


def test_emulate_applies_a_recipes_weight_noise_and_unemulate_removes_it() -> None:
    from floatsim import recipes

    m = ft.emulate(_model(), "pqt_e3m2", seed=3, modules=lambda mod, name: name != "2")
    assert hasattr(m[0], "parametrizations") and not hasattr(m[2], "parametrizations")
    assert m[0].parametrizations.weight[0].seed == layer_seed(3, "0")
    trained = m[0].parametrizations.weight.original.detach().clone()
    ft.unemulate(m)
    assert type(m[0]) is torch.nn.Linear and m[0].weight.dtype == torch.float32
    assert torch.equal(m[0].weight, trained.float())    # as trained, not cast
    both = recipes.get("mxfp8").replace(weight_noise=PQTConfig("e3m2"))
    with pytest.raises(NotImplementedError, match="weight_noise and quantized operands"):
        ft.emulate(_model(), both)
