"""floatsim_jax.noise.pseudo_quantize: bit for bit the core's numpy result
(which tests/test_noise.py checks against the exact oracle) for the same seed
and stream, eagerly and under jit with a traced stream; per-slice under vmap;
the straight-through gradient; refusals."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402
import ml_dtypes  # noqa: E402

import floatsim as fs  # noqa: E402
from floatsim.noise import Noise  # noqa: E402
from floatsim_jax.noise import pseudo_quantize  # noqa: E402

_RNG = np.random.default_rng(7)


def _weights(n: int = 203) -> np.ndarray:
    x = _RNG.standard_normal(n) * 0.03
    x[:7] = [0.0, -0.0, 1e-30, 50.0, np.inf, -np.inf, np.nan]
    return x


def _same(got: jax.Array, want: np.ndarray) -> bool:
    g = np.asarray(got)
    return g.dtype == want.dtype and g.shape == want.shape and g.tobytes() == want.tobytes()


@pytest.mark.parametrize("case", [
    ("e3m2", "gaussian", "nearest_even", "tensor", 0.0, np.float32, None),
    ("e2m3", "r", "stochastic", "tensor", 0.4, ml_dtypes.bfloat16, None),
    ("e4m3", Noise.uniform(5), "toward_zero", -6, 0.0, np.float32, ml_dtypes.bfloat16),
], ids=["e3m2-gaussian", "e2m3-r-sr-bf16", "e4m3-uniform-rtz"])
def test_equals_the_numpy_result(case: tuple) -> None:
    fmt, noise, rnd, scale, anneal, dt, odt = case
    x = _weights().astype(dt).reshape(7, 29)
    kw = dict(seed=2**40 + 3, rounding=rnd, scale=scale, anneal=anneal, out_dtype=odt)
    want = fs.noise.pseudo_quantize(x, fmt, noise, stream=11, **kw)
    assert _same(pseudo_quantize(jnp.asarray(x), fmt, noise, stream=11, **kw), want)
    jitted = jax.jit(lambda v, s: pseudo_quantize(v, fmt, noise, stream=s, **kw))
    assert _same(jitted(jnp.asarray(x), jnp.uint32(11)), want)
    other = fs.noise.pseudo_quantize(x, fmt, noise, stream=12, **kw)
    assert _same(jitted(jnp.asarray(x), jnp.uint32(12)), other)  # the traced stream is read


def test_vmap_treats_each_slice_as_a_tensor() -> None:
    x = _weights(60)[7:].astype(np.float32).reshape(53, 1)[:52].reshape(4, 13)
    got = jax.vmap(lambda v: pseudo_quantize(v, "e3m2", "r", seed=5, stream=2))(jnp.asarray(x))
    want = np.stack([fs.noise.pseudo_quantize(row, "e3m2", "r", seed=5, stream=2) for row in x])
    assert _same(got, want)


def test_gradient_passes_straight_through() -> None:
    x = jnp.asarray(_weights(40)[7:].astype(ml_dtypes.bfloat16))
    g = jax.grad(lambda v: (pseudo_quantize(v, "e3m2", out_dtype=np.float32) * 3.0).sum())(x)
    assert g.dtype == x.dtype and np.all(np.asarray(g, np.float32) == 3.0)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="float"):
        pseudo_quantize(jnp.ones(3, jnp.int32), "e3m2")
    with pytest.raises(ValueError, match="noise="):
        pseudo_quantize(jnp.ones(3), "e3m2", "laplace")
    with pytest.raises(ValueError, match="seed"):
        pseudo_quantize(jnp.ones(3), "e3m2", seed=-2)
