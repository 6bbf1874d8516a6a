"""floatsim_torch.noise.pseudo_quantize on CPU tensors: bit for bit the core's
numpy result for the same seed and stream (which tests/test_noise.py checks
against the exact oracle), and a sample of elements against the oracle
itself; strided inputs, every input dtype, the roundings, annealing, fixed
and tensor scales, stream tensors; the straight-through gradient; the
operator's registration (opcheck); refusals."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch_support import DTYPES, assert_same_bits, core_array  # noqa: E402

import floatsim as fs  # noqa: E402
from floatsim import noise as N  # noqa: E402
from floatsim.reference import noise as R  # noqa: E402
from floatsim_torch.noise import config_key, pseudo_quantize  # noqa: E402

_RNG = np.random.default_rng(27)


def _weights(n: int = 301) -> np.ndarray:
    """Weight-like values plus zeros, tiny and huge magnitudes, specials."""
    x = _RNG.standard_normal(n) * 0.03
    x[:9] = [0.0, -0.0, 1e-30, -2.0 ** -130, 0.0731, 50.0, np.inf, -np.inf, np.nan]
    return x


# (fmt, noise, storage, rounding, scale, anneal, dtype, out_dtype)
CASES = [
    ("e3m2", "gaussian", "bfloat16", "nearest_even", "tensor", 0.0, torch.float32, None),
    ("e2m3", "r", "bfloat16", "nearest_even", "tensor", 0.0, torch.bfloat16, None),
    ("e4m3", "uniform", "bfloat16", "stochastic", -6, 0.5, torch.float64, None),
    ("e3m2", N.Noise.r(6), "float16", "toward_zero", "none", 0.0, torch.float16, None),
    ("e2m1", "r", "bfloat16", "up", "tensor", 0.3, torch.float16, torch.float32),
    ("e3m2", "gaussian", "bfloat16", "odd", "tensor", 0.0, torch.float64, torch.bfloat16),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{getattr(c[1], 'name', c[1])}-{c[3]}")
def test_equals_the_numpy_result(case: tuple) -> None:
    fmt, noise, storage, rounding, scale, anneal, dt, odt = case
    kw = dict(seed=2**63 + 11, stream=123, storage=storage, rounding=rounding, scale=scale,
              anneal=anneal)
    t = torch.from_numpy(_weights()).to(dt)
    want = N.pseudo_quantize(core_array(t), fmt, noise,
                             out_dtype=None if odt is None else DTYPES[odt], **kw)
    got = pseudo_quantize(t, fmt, noise, out_dtype=odt, **kw)
    assert got.dtype == (dt if odt is None else odt)
    assert_same_bits(got, want, str(case))


def test_strided_and_shaped_tensors_take_the_c_order_index() -> None:
    base = torch.from_numpy(_weights(8 * 9)).float().reshape(8, 9)
    for t in (base.t(), base[::2, 1::3], base.reshape(2, 4, 9).permute(2, 0, 1)):
        want = N.pseudo_quantize(np.ascontiguousarray(core_array(t)), "e3m2", "r", seed=4, stream=2)
        got = pseudo_quantize(t, "e3m2", "r", seed=4, stream=2)
        assert got.shape == t.shape and got.is_contiguous()
        assert_same_bits(got, want, f"shape {tuple(t.shape)} strides {t.stride()}")
    empty = torch.empty(0, 3)
    assert pseudo_quantize(empty, "e3m2").shape == (0, 3)


def test_elements_equal_the_oracle() -> None:
    """A sample computed by floatsim.reference.noise from the definition."""
    x = _weights(64)
    x = x[np.isfinite(x)]
    t = torch.from_numpy(x).float()
    xs = core_array(t).astype(np.float64)
    for fmt, noise in (("e3m2", N.Noise.r(9)), ("e2m3", N.Noise.uniform(4))):
        got = pseudo_quantize(t, fmt, noise, seed=77, stream=5, anneal=0.25).numpy()
        k = R.tensor_k(max(abs(Fraction(float(v))) for v in xs), fs.format(fmt), noise)
        for i, v in enumerate(xs):
            e = float(R.element(float(v), i, fmt, noise, seed=77, stream=5, k=k, anneal=0.25))
            g = float(got[i])
            assert g == e and math.copysign(1, g) == math.copysign(1, e), (fmt, i, v, g, e)


def test_seed_and_stream_change_the_noise_and_stream_tensors_equal_ints() -> None:
    t = torch.from_numpy(_weights()[9:]).float()  # finite: torch.equal says NaN != NaN
    a = pseudo_quantize(t, "e3m2", seed=1, stream=7)
    assert torch.equal(a, pseudo_quantize(t, "e3m2", seed=1, stream=torch.tensor(7)))
    assert not torch.equal(a, pseudo_quantize(t, "e3m2", seed=1, stream=8))
    assert not torch.equal(a, pseudo_quantize(t, "e3m2", seed=2, stream=7))
    cfg = N.PQTConfig("e3m2", "r")
    assert torch.equal(pseudo_quantize(t, cfg, seed=1), pseudo_quantize(t, "e3m2", "r", seed=1))


@pytest.mark.parametrize("dt", [torch.float32, torch.bfloat16])
def test_gradient_passes_straight_through(dt: torch.dtype) -> None:
    w = torch.from_numpy(_weights(40)[9:]).to(dt).requires_grad_()
    g = torch.from_numpy(_RNG.standard_normal(31)).to(dt)
    y = pseudo_quantize(w, "e3m2", "gaussian", seed=3, out_dtype=torch.float32)
    assert y.requires_grad
    y.backward(g.float())
    assert w.grad.dtype == dt and torch.equal(w.grad, g.float().to(dt))
    with torch.no_grad():
        assert not pseudo_quantize(w, "e3m2").requires_grad


def test_operator_registration() -> None:
    w = torch.from_numpy(_weights(20)[9:]).float().requires_grad_()
    key = config_key(N.PQTConfig("e3m2", "r"))
    torch.library.opcheck(torch.ops.floatsim.pseudo_quantize, (w, key, 5, 1, 0, False, None))
    torch.library.opcheck(torch.ops.floatsim.pseudo_quantize,
                          (w.detach(), key, 5, 1, -4, True, torch.bfloat16, torch.tensor(3)))
    # the op and the eager route give the same values
    y = torch.ops.floatsim.pseudo_quantize(w, key, 5, 1, 0, False, None)
    assert torch.equal(y, pseudo_quantize(w, "e3m2", "r", seed=5, stream=1))


def test_bad_arguments_are_refused() -> None:
    t = torch.ones(4)
    with pytest.raises(TypeError, match="integer tensor"):
        pseudo_quantize(torch.ones(4, dtype=torch.int32), "e3m2")
    with pytest.raises(ValueError, match="noise='laplace'"):
        pseudo_quantize(t, "e3m2", "laplace")
    with pytest.raises(ValueError, match="scale=500"):
        pseudo_quantize(t, "e3m2", scale=500)
    with pytest.raises(ValueError, match="seed"):
        pseudo_quantize(t, "e3m2", seed=-1)
    with pytest.raises(ValueError, match="hold"):
        pseudo_quantize(t.half(), "e3m2")  # float16 cannot hold every bfloat16 result
    with pytest.raises(ValueError, match="no registered"):
        torch.ops.floatsim.pseudo_quantize(t, "nope", 0, 0, 0, False, None)
