"""floatsim_jax.mac: the emulated-accumulator GEMM for jax arrays (a host
callback into the CPU GEMM): values bit for bit with floatsim.mac.matmul
under jit, gradients in FP32 or by the model."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = jax.numpy

import floatsim as fs  # noqa: E402
import floatsim.mac as mac  # noqa: E402
from floatsim_jax.mac import matmul  # noqa: E402


def values(shape: tuple[int, ...], seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return fs.quantize(x, "e4m3")


def test_values_and_gradients() -> None:
    A, B, G = values((3, 40), 0), values((40, 2), 1), values((3, 2), 2)
    f = jax.jit(lambda a, b: matmul(a, b, "hopper_fp8"))
    assert np.array_equal(np.asarray(f(A, B)), mac.matmul(A, B, "hopper_fp8"))
    ga, gb = jax.vjp(lambda a, b: matmul(a, b, "hopper_fp8"), A, B)[1](jnp.asarray(G))
    assert np.array_equal(np.asarray(ga), G @ B.T) and np.array_equal(np.asarray(gb), A.T @ G)
    ga, gb = jax.vjp(lambda a, b: matmul(a, b, "hopper_fp8", grad_accumulator="bf16"), A, B)[1](
        jnp.asarray(G))
    assert np.array_equal(np.asarray(ga), mac.matmul(G, np.ascontiguousarray(B.T), "bf16"))
    with pytest.raises(ValueError, match=r"a of shape \(..., M, K\)"):
        matmul(jnp.ones((2, 3)), jnp.ones((2, 3)))
