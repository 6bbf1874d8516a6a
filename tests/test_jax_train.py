"""floatsim_jax's Flax dot_general / einsum: the three GEMMs of a layer
rounded per a recipe (checked against the core's casts of each operand),
small linen and nnx models training under MXFP8 and MXFP4.  (The Optax
wrapper: tests/test_jax_optax.py.)

The recipe classes below are a minimal local stand-in for
``floatsim.recipes`` (its agreed shape: Recipe / Gemm / Operand / Scaling),
which lands separately; floatsim_jax.flax reads recipes by their attributes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
optax = pytest.importorskip("optax")
nn = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")

import floatsim as fs  # noqa: E402
import floatsim_jax.flax as fjf  # noqa: E402
from floatsim import Rounding  # noqa: E402


# ---- stand-in for floatsim.recipes (test only) ------------------------------------------------
class Scaling(enum.Enum):
    NONE = "none"
    TENSOR_CURRENT = "tensor_current"
    TENSOR_DELAYED = "tensor_delayed"
    BLOCK = "block"


@dataclass(frozen=True)
class Operand:
    format: object = None
    rounding: Rounding = Rounding.NEAREST_EVEN
    scaling: Scaling = Scaling.NONE
    sr_bits: int | None = None
    hadamard: int | None = None


@dataclass(frozen=True)
class Gemm:
    lhs: Operand = field(default_factory=Operand)
    rhs: Operand = field(default_factory=Operand)


@dataclass(frozen=True)
class Recipe:
    name: str
    forward: Gemm
    dgrad: Gemm
    wgrad: Gemm


def _mx(name: str, elem: str, grad: str, grad_rounding: Rounding = Rounding.NEAREST_EVEN) -> Recipe:
    f = Operand(fs.blocks.format(elem), scaling=Scaling.BLOCK)
    g = Operand(fs.blocks.format(grad), grad_rounding, Scaling.BLOCK)
    return Recipe(name, Gemm(f, f), Gemm(g, f), Gemm(g, f))


MXFP8 = _mx("mxfp8", "mxfp8_e4m3", "mxfp8_e5m2")
MXFP4 = _mx("mxfp4", "mxfp4_e2m1", "mxfp4_e2m1", Rounding.STOCHASTIC)


# ---- the GEMMs against the core ------------------------------------------------------------
def test_three_gemms_round_each_operand_per_recipe() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 40)).astype(np.float32)  # (batch, tokens, K)
    w = rng.standard_normal((40, 24)).astype(np.float32)  # (K, N), as a Dense kernel
    dy = rng.standard_normal((2, 3, 24)).astype(np.float32)
    dg = fjf.dot_general(MXFP4, seed=3)
    dims = (((2,), (0,)), ((), ()))
    y, vjp = jax.vjp(lambda a, b: dg(a, b, dims), jnp.asarray(x), jnp.asarray(w))
    dx, dw = vjp(jnp.asarray(dy))
    q = lambda v, bf, ax, **kw: fs.blocks.quantize(v, bf, axis=ax, **kw)
    x2, dy2 = x.reshape(6, 40), dy.reshape(6, 24)
    y_ref = q(x2, "mxfp4", -1) @ q(w, "mxfp4", 0)
    # dgrad: dy (SR, stream 2) along N, W along N; wgrad: dy (stream 4) and x along M
    dx_ref = q(dy2, "mxfp4", -1, rounding="sr", seed=3, stream=2) @ q(w, "mxfp4", 1).T
    dw_ref = q(x2, "mxfp4", 0).T @ q(dy2, "mxfp4", 0, rounding="sr", seed=3, stream=4)
    tol = dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(y).reshape(6, 24), y_ref, **tol)
    np.testing.assert_allclose(np.asarray(dx).reshape(6, 40), dx_ref, **tol)
    np.testing.assert_allclose(np.asarray(dw), dw_ref, **tol)
    # the einsum counterpart takes the same path (a batch dim included)
    ein = fjf.einsum(MXFP8)
    got = ein("bmk,kn->bmn", jnp.asarray(x), jnp.asarray(w))
    ref = np.einsum("bmk,kn->bmn", q(x, "mxfp8", -1), q(w, "mxfp8", 0))
    np.testing.assert_allclose(np.asarray(got), ref, **tol)


def test_recipe_errors() -> None:
    bad = Recipe("t", Gemm(Operand(fs.format("e4m3"), scaling=Scaling.TENSOR_DELAYED)), Gemm(), Gemm())
    with pytest.raises(NotImplementedError, match="forward.lhs has scaling='tensor_delayed'"):
        fjf.dot_general(bad)
    with pytest.raises(TypeError, match="has no 'forward'"):
        fjf.dot_general(object())
    with pytest.raises(NotImplementedError, match="recipe 'pqt_e3m2' has weight_noise"):
        fjf.dot_general("pqt_e3m2")


# ---- training --------------------------------------------------------------------------------
def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 32)).astype(np.float32)
    w = rng.standard_normal((32, 8)).astype(np.float32) / 6
    return x, np.tanh(x @ w)


def _train(loss_fn, params, steps: int = 12, opt=None) -> list[float]:
    opt = opt or optax.adam(3e-2)
    state = opt.init(params)

    @jax.jit
    def step(params, state):
        loss, g = jax.value_and_grad(loss_fn)(params)
        upd, state = opt.update(g, state, params)
        return optax.apply_updates(params, upd), state, loss

    losses = []
    for _ in range(steps):
        params, state, loss = step(params, state)
        losses.append(float(loss))
    return losses


def _assert_learns(losses: list[float]) -> None:
    assert all(np.isfinite(losses)), losses
    assert losses[-1] < 0.7 * losses[0], losses


# one model kind per recipe by default (CI time); the other two pairs are slow
@pytest.mark.parametrize("recipe", [MXFP8, pytest.param(MXFP4, marks=pytest.mark.slow)],
                         ids=lambda r: r.name)
def test_linen_mlp_trains(recipe: Recipe) -> None:
    x, y = _data()
    dg = fjf.dot_general(recipe)

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, v):
            v = nn.relu(nn.Dense(64, dot_general=dg)(v))
            return nn.Dense(8, dot_general=dg)(v)

    model = MLP()
    params = model.init(jax.random.key(0), jnp.asarray(x))
    _assert_learns(_train(lambda p: jnp.mean((model.apply(p, x) - y) ** 2), params))


@pytest.mark.parametrize("recipe", [pytest.param(MXFP8, marks=pytest.mark.slow), MXFP4],
                         ids=lambda r: r.name)
def test_nnx_mlp_trains(recipe: Recipe) -> None:
    x, y = _data()
    dg = fjf.dot_general(recipe)
    rngs = nnx.Rngs(0)

    class MLP(nnx.Module):
        def __init__(self):
            self.a = nnx.Linear(32, 64, dot_general=dg, rngs=rngs)
            self.b = nnx.Einsum("bk,kn->bn", (64, 8), (8,), einsum_op=fjf.einsum(recipe), rngs=rngs)

        def __call__(self, v):
            return self.b(nnx.relu(self.a(v)))

    graphdef, params = nnx.split(MLP())

    def loss(p):
        return jnp.mean((nnx.merge(graphdef, p)(jnp.asarray(x)) - y) ** 2)

    _assert_learns(_train(loss, params))
