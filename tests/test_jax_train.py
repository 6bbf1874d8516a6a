"""floatsim_jax's Flax dot_general / einsum: the three GEMMs of a layer
rounded per a ``floatsim.recipes`` recipe (checked against the core's casts
of each operand), small linen and nnx models training under the named MXFP8
and MXFP4 recipes.  (The Optax wrapper: tests/test_jax_optax.py.)
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
optax = pytest.importorskip("optax")
nn = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")

import floatsim as fs  # noqa: E402
import floatsim_jax.flax as fjf  # noqa: E402
from floatsim import recipes  # noqa: E402

#: mxfp4 with stochastic rounding of the output gradient (both dy operands): a
#: Recipe derived from a named one, as users build theirs.
MXFP4_SR = recipes.get("mxfp4").replace(name="mxfp4_sr_dy").with_operands("dy", rounding="sr")


# ---- the GEMMs against the core ------------------------------------------------------------
def test_three_gemms_round_each_operand_per_recipe() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 40)).astype(np.float32)  # (batch, tokens, K)
    w = rng.standard_normal((40, 24)).astype(np.float32)  # (K, N), as a Dense kernel
    dy = rng.standard_normal((2, 3, 24)).astype(np.float32)
    dg = fjf.dot_general(MXFP4_SR, seed=3)
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
    ein = fjf.einsum("mxfp8")
    got = ein("bmk,kn->bmn", jnp.asarray(x), jnp.asarray(w))
    ref = np.einsum("bmk,kn->bmn", q(x, "mxfp8", -1), q(w, "mxfp8", 0))
    np.testing.assert_allclose(np.asarray(got), ref, **tol)


def test_row_and_tile_operands_follow_the_reduction_dim() -> None:
    """fp8_rowwise: one E8M0 scale per row along K (the core's whole-axis block
    format); a 2-D tile format (nvfp4_16x16's layout, with MX scales) covers W's
    (K, N) tiles whatever the GEMM."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 40)).astype(np.float32)
    w = rng.standard_normal((40, 24)).astype(np.float32)
    dims = (((1,), (0,)), ((), ()))
    row = recipes.get("fp8_rowwise")
    bf = row.forward.lhs.block_format
    ref = fs.blocks.quantize(x, bf, axis=-1) @ fs.blocks.quantize(w, bf, axis=0)
    got = fjf.dot_general(row)(jnp.asarray(x), jnp.asarray(w), dims)
    np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-5, atol=1e-5)
    tile = fs.blocks.BlockFormat(element="e2m1", scale="e8m0", block=(8, 8))
    tiled = recipes.get("mxfp8").with_operands("w", format=tile)
    ref = fs.blocks.quantize(x, "mxfp8", axis=-1) @ fs.blocks.quantize(w, tile, axis=(0, 1))
    got = fjf.dot_general(tiled)(jnp.asarray(x), jnp.asarray(w), dims)
    np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-5, atol=1e-5)


def test_recipe_errors() -> None:
    with pytest.raises(NotImplementedError, match="recipe 'fp8_delayed': operand forward.lhs "
                       "has scaling='tensor_delayed'.*with_operands"):
        fjf.dot_general("fp8_delayed")
    for name, role in (("mxfp4_quartet", "forward.lhs"), ("nvfp4", "wgrad.lhs")):
        with pytest.raises(NotImplementedError,
                           match=f"recipe '{name}': operand {role} has hadamard=.*hadamard=None"):
            fjf.dot_general(name)
    with pytest.raises(NotImplementedError, match="forward.lhs has margin=1"):
        fjf.dot_general(recipes.get("fp8_current").with_operands(margin=1))
    with pytest.raises(ValueError, match="unknown recipe 'mxfp5'"):
        fjf.dot_general("mxfp5")
    with pytest.raises(TypeError, match="a recipe is a floatsim.recipes.Recipe or a name"):
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
@pytest.mark.parametrize("recipe", ["mxfp8", pytest.param("mxfp4", marks=pytest.mark.slow)])
def test_linen_mlp_trains(recipe: str) -> None:
    x, y = _data()

    class MLP(nn.Module):
        dg: object = None   # None: lax.dot_general

        @nn.compact
        def __call__(self, v):
            v = nn.relu(nn.Dense(64, dot_general=self.dg)(v))
            return nn.Dense(8, dot_general=self.dg)(v)

    # the same parameters without the quantized GEMMs: linen's init runs the model
    # eagerly, which would compile each cast by itself (the step compiles them together)
    params = MLP().init(jax.random.key(0), jnp.asarray(x))
    model = MLP(fjf.dot_general(recipe))
    _assert_learns(_train(lambda p: jnp.mean((model.apply(p, x) - y) ** 2), params))


@pytest.mark.parametrize("recipe", [pytest.param("mxfp8", marks=pytest.mark.slow), "mxfp4",
                                    pytest.param(MXFP4_SR, marks=pytest.mark.slow, id="mxfp4_sr_dy")])
def test_nnx_mlp_trains(recipe: str | recipes.Recipe) -> None:
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
