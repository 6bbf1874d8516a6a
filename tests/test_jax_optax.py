"""floatsim_jax.optax.quantized_states: the stored moments are really codes
(the core's encode of the moments the inner optimizer computes from the
decoded previous ones), a model learns with them, and they survive
``flax.nnx.Optimizer``, which wraps every leaf of an optimizer state in a
Variable and rebuilds the state after each jitted step."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
optax = pytest.importorskip("optax")

import floatsim as fs  # noqa: E402
import floatsim_jax as fj  # noqa: E402


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 32)).astype(np.float32)
    w = rng.standard_normal((32, 8)).astype(np.float32) / 6
    return x, np.tanh(x @ w)


def test_states_are_the_cores_codes_step_after_step() -> None:
    params = {"w": jnp.asarray(np.random.default_rng(2).standard_normal((4, 32)).astype(np.float32)),
              "n": jnp.asarray(3)}   # an integer leaf is kept as it is
    grads = [{"w": params["w"] * (0.1 * k + 0.3), "n": jnp.asarray(0)} for k in range(3)]
    opt = fj.optax.quantized_states(optax.adam(1e-2), m="e4m3", v="mxfp8_e5m2")
    inner = optax.adam(1e-2)
    state = opt.init(params)
    ref = inner.init(params)
    for g in grads:
        _, state = opt.update(g, state, params)
        _, ref = inner.update(g, ref, params)
        mu, nu = ref[0].mu["w"], ref[0].nu["w"]
        got = state.inner[0]
        assert got.mu.codes["w"].dtype == np.uint8
        assert np.array_equal(np.asarray(got.mu.codes["w"]), fs.encode(np.asarray(mu), "e4m3"))
        e, s = fs.blocks.encode(np.asarray(nu), "mxfp8_e5m2")[:2]
        assert np.array_equal(np.asarray(got.nu.codes["w"]), e)
        assert np.array_equal(np.asarray(got.nu.scales["w"]), s)
        assert int(got.mu.codes["n"]) == int(ref[0].mu["n"])
        # the reference continues from the decoded state, as the wrapper does
        ref = (ref[0]._replace(mu=got.mu.value(), nu=got.nu.value()), ref[1])


def test_a_model_learns_with_sr_coded_states_and_bad_formats_are_refused() -> None:
    x, y = _data()
    params = {"w": jnp.zeros((32, 8))}
    # the second moment spans many binades: a block format keeps it (e5m2 alone flushes
    # small nu to zero and the step diverges)
    opt = fj.optax.quantized_states(optax.adam(3e-2), m="e4m3", v="mxfp8_e5m2", rounding="sr",
                                    seed=4)
    state = opt.init(params)

    @jax.jit
    def step(params, state):
        loss, g = jax.value_and_grad(lambda p: jnp.mean((jnp.asarray(x) @ p["w"] - y) ** 2))(params)
        upd, state = opt.update(g, state, params)
        return optax.apply_updates(params, upd), state, loss

    losses = []
    for _ in range(12):
        params, state, loss = step(params, state)
        losses.append(float(loss))
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.7 * losses[0], losses
    with pytest.raises(ValueError, match="m='nope' is neither a format nor a block format"):
        fj.optax.quantized_states(optax.sgd(0.1), m="nope")


def test_states_survive_nnx_optimizer_steps_under_jit() -> None:
    nnx = pytest.importorskip("flax.nnx")

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.embed = nnx.Embed(10, 32, rngs=rngs)
            self.lin = nnx.Linear(32, 4, rngs=rngs)

        def __call__(self, i):
            return self.lin(self.embed(i))

    def loss_fn(m):
        return jnp.mean((m(jnp.arange(6)) - 1.0) ** 2)

    # the same steps with and without nnx.Optimizer give the same codes
    model = Net(nnx.Rngs(0))
    params = jax.tree.map(jnp.asarray, nnx.to_pure_dict(nnx.state(model, nnx.Param)))
    tx = fj.optax.quantized_states(optax.adam(1e-2), m="e4m3", v="mxfp8_e5m2")
    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)

    @nnx.jit
    def step(model, opt):
        loss, g = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, g)
        return loss

    losses = [float(step(model, opt)) for _ in range(3)]   # the 2nd step failed before
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    got = nnx.to_pure_dict(nnx.state(opt.opt_state))
    plain = Net(nnx.Rngs(0))
    state = tx.init(params)
    for _ in range(3):
        g = nnx.to_pure_dict(nnx.grad(loss_fn)(plain))
        upd, state = tx.update(g, state, params)
        params = optax.apply_updates(params, upd)
        nnx.update(plain, params)
    want = state.inner[0].nu.codes["lin"]["kernel"]
    got_nu = jax.tree.leaves(got)
    assert any(np.array_equal(np.asarray(a), np.asarray(want)) for a in got_nu
               if getattr(a, "shape", None) == want.shape and a.dtype == np.uint8)
