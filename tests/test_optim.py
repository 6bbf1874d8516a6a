"""floatsim_torch.optim.wrap: states stored as codes, COAT's range expansion, master weights."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import floatsim as fs  # noqa: E402
import floatsim_torch as fst  # noqa: E402
from floatsim import recipes  # noqa: E402

GROUPED = fs.blocks.BlockFormat(element="e4m3", scale="float32", block=128, rule="amax")


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(256, 64)


def _grads(model: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    model.zero_grad()
    model(torch.randn(16, 256, generator=g)).square().mean().backward()


def _core(t: torch.Tensor, bf: fs.blocks.BlockFormat) -> torch.Tensor:
    """The state as the core quantizes it: flattened, in blocks along the flat index."""
    q = fs.blocks.quantize(t.detach().reshape(-1).numpy(), bf, axis=-1)
    return torch.from_numpy(q).reshape(t.shape)


def test_adamw_states_are_the_core_codes_and_steps_match() -> None:
    model, ref = _model(), _model()
    opt = fst.optim.wrap(torch.optim.AdamW(model.parameters(), lr=1e-2), m="e4m3", v="e4m3")
    ropt = torch.optim.AdamW(ref.parameters(), lr=1e-2)
    for step in range(3):
        _grads(model, step)
        _grads(ref, step)
        opt.step()
        ropt.step()
        for p, rp in zip(model.parameters(), ref.parameters()):
            assert torch.equal(p, rp)        # same float32 step from the same decoded states
        # the wrapped optimizer holds codes: what it decodes is the core's quantization of
        # the states torch computed; give the reference the same states for the next step
        full = opt.state_dict()["state"]
        for i, rp in enumerate(ref.parameters()):
            for key in ("exp_avg", "exp_avg_sq"):
                want = _core(ropt.state[rp][key], GROUPED)
                assert torch.equal(full[i][key], want), (step, key)
                ropt.state[rp][key] = want.clone()
    stored = list(opt._stored.values())
    assert stored and all(s.codes.elements.dtype == torch.uint8 for s in stored)
    n = sum(p.numel() for p in model.parameters())
    per = sum(p.numel() + 4 * math.ceil(p.numel() / 128) for p in model.parameters()) / n
    b = opt.bytes_per_param()
    assert b["m"] == pytest.approx(per) and b["v"] == pytest.approx(per)
    assert b["float32 states"] == 8.0 and b["master"] == 4.0


def test_block_format_states_sgd_momentum_and_checkpoints() -> None:
    model = _model()
    opt = fst.optim.wrap(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), m="mxfp8")
    _grads(model, 0)
    opt.step()
    assert opt.bytes_per_param()["m"] == pytest.approx(1 + 1 / 32)
    sd = opt.state_dict()
    plain = torch.optim.SGD(copy.deepcopy(model).parameters(), lr=0.1, momentum=0.9)
    plain.load_state_dict(sd)                      # a checkpoint any torch optimizer loads
    buf = sd["state"][0]["momentum_buffer"]
    assert torch.equal(buf, _core(buf, fs.blocks.format("mxfp8")))   # on the MX grid
    opt.load_state_dict(sd)
    assert opt.optimizer.state[model.weight]["momentum_buffer"].numel() == 0   # held as codes
    _grads(model, 1)
    opt.step()


def test_coat_range_expansion() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.exp(torch.empty(4, 128).uniform_(math.log(1e-3), math.log(1e-2), generator=g))
    x[1] *= -1
    model = nn.Linear(128, 4, bias=False)
    errs = {}
    for expand in (False, True):
        opt = fst.optim.wrap(torch.optim.Adam(model.parameters()), m="e4m3", expand_range=expand)
        s = opt._encode(x, GROUPED)
        y = opt._decode(s, GROUPED)
        errs[expand] = float(((y - x) / x).abs().mean())
        if expand:   # k = log(R_fmt) / log(R_x) per group of 128, R_fmt = 448 / 2**-9
            a = x.abs().double().numpy()
            k = np.log(448 / 2.0**-9) / np.log(a.max(1) / a.min(1))
            np.testing.assert_allclose(s.k.numpy(), k, rtol=1e-6)
            assert s.nbytes == x.numel() + 4 * 4 + 4 * 4   # codes, FP32 scales, FP32 k
    assert errs[True] < errs[False] / 3


def test_master_weights_bf16_and_stochastic_rounding() -> None:
    # w += 1e-4 per step on weights of 1.0 held in bfloat16 (spacing 2**-7 there): nearest
    # rounding never moves them; stochastic rounding follows the float32 sum on average.
    finals = {}
    for rounding in ("nearest_even", "stochastic"):
        w = nn.Parameter(torch.ones(1000))
        opt = fst.optim.wrap(torch.optim.SGD([w], lr=1e-4), master="bf16",
                             master_rounding=rounding, seed=3)
        for _ in range(200):
            w.grad = torch.full_like(w, -1.0)
            opt.step()
        assert torch.equal(w.detach(), w.detach().bfloat16().float())   # on the bf16 grid
        finals[rounding] = float(w.detach().mean())
    assert finals["nearest_even"] == 1.0
    # the mean of 1000 independent SR walks: std about 4e-4 around 1.02
    assert abs(finals["stochastic"] - 1.02) < 3e-3


def test_from_a_recipe_and_bad_input() -> None:
    r = recipes.get("fp32").replace(name="states", optimizer_m="e4m3", optimizer_v="e5m2",
                                    master_weights="bf16", master_rounding="sr")
    opt = fst.optim.wrap(torch.optim.Adam(_model().parameters()), r)
    assert opt.formats["v"].element.name == "float8_e5m2" and opt.master.name == "bfloat16"
    assert opt.master_rounding is fs.Rounding.STOCHASTIC
    with pytest.raises(TypeError, match="takes torch.optim.Adam, AdamW or SGD, got RMSprop"):
        fst.optim.wrap(torch.optim.RMSprop(_model().parameters()))
    with pytest.raises(ValueError, match="v= applies to Adam"):
        fst.optim.wrap(torch.optim.SGD(_model().parameters(), lr=1), v="e4m3")
    with pytest.raises(ValueError, match="master weights take an element Format"):
        fst.optim.wrap(torch.optim.Adam(_model().parameters()), master="mxfp8")
    with pytest.raises(ValueError, match="1-D blocks"):
        fst.optim.wrap(torch.optim.Adam(_model().parameters()), m="nvfp4_16x16")
    with pytest.raises(ValueError, match="group=0"):
        fst.optim.wrap(torch.optim.Adam(_model().parameters()), m="e4m3", group=0)
