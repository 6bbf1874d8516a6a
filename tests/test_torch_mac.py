"""floatsim_torch.mac: the emulated-accumulator GEMM for torch tensors.

Forward values are compared bit for bit with floatsim.mac.matmul (itself
tested against the scalar model and the exact reference); gradients with
FP32 torch.matmul (default) or with the model (``grad_accumulator``);
torch.library's opcheck and a torch.compile run cover the op registration.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import floatsim as fs  # noqa: E402
import floatsim.mac as mac  # noqa: E402
from floatsim_torch.mac import matmul, matmul_op, spec_key  # noqa: E402


def values(shape: tuple[int, ...], fmt: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * np.exp2(rng.integers(-6, 6, shape))
    return fs.quantize(x.astype(np.float32), fmt, overflow="saturate")


@pytest.mark.parametrize("spec", ["hopper_fp8", "bf16", "fp32"])
def test_forward_equals_floatsim_mac(spec: str) -> None:
    A, B = values((5, 40), "e4m3", 0), values((40, 3), "e4m3", 1)
    want = mac.matmul(A, B, spec)
    got = matmul(torch.from_numpy(A), torch.from_numpy(B), spec)
    assert got.dtype == torch.float32
    assert np.array_equal(got.numpy().view(np.uint32), want.view(np.uint32))
    # batched a, half-precision operands (exact in float32), out_dtype
    a3 = torch.from_numpy(A).reshape(5, 1, 40).expand(5, 2, 40).to(torch.bfloat16)
    got3 = matmul(a3, torch.from_numpy(B).to(torch.bfloat16), spec, out_dtype=torch.float64)
    want3 = mac.matmul(a3.float().reshape(10, 40).numpy(), B, spec).reshape(5, 2, 3)
    assert got3.dtype == torch.float64 and np.array_equal(got3.numpy(), want3.astype(np.float64))


def test_gradients_fp32_by_default_and_by_the_model() -> None:
    A, B = values((4, 33), "e5m2", 2), values((33, 6), "e5m2", 3)
    a = torch.from_numpy(A).requires_grad_()
    b = torch.from_numpy(B).requires_grad_()
    G = values((4, 6), "e5m2", 4)
    matmul(a, b, "hopper_fp8").backward(torch.from_numpy(G))
    assert torch.equal(a.grad, torch.from_numpy(G) @ torch.from_numpy(B).t())
    assert torch.equal(b.grad, torch.from_numpy(A).t() @ torch.from_numpy(G))
    a.grad = b.grad = None
    matmul(a, b, "hopper_fp8", grad_accumulator="bf16").backward(torch.from_numpy(G))
    assert np.array_equal(a.grad.numpy(), mac.matmul(G, np.ascontiguousarray(B.T), "bf16"))
    assert np.array_equal(b.grad.numpy(), mac.matmul(np.ascontiguousarray(A.T), G, "bf16"))
    # gradients come back in the operands' dtype
    ah = torch.from_numpy(A).to(torch.bfloat16).requires_grad_()
    matmul(ah, torch.from_numpy(B), "fp16").sum().backward()
    assert ah.grad.dtype == torch.bfloat16


def test_errors() -> None:
    x = torch.ones(2, 3)
    with pytest.raises(ValueError, match=r"a of shape \(..., M, K\) and b of shape \(K, N\); got \(2, 3\) and \(2, 3\)"):
        matmul(x, x)
    with pytest.raises(TypeError, match="b has dtype torch.int64"):
        matmul(x, torch.ones(3, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="unknown accumulator spec 'h100'"):
        matmul(x, torch.ones(3, 2), "h100")
    with pytest.raises(ValueError, match="not float32 values"):
        matmul(torch.full((1, 1), 0.1, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64))


def test_op_registration() -> None:
    a = torch.from_numpy(values((3, 8), "e4m3", 5)).requires_grad_()
    b = torch.from_numpy(values((8, 2), "e4m3", 6)).requires_grad_()
    torch.library.opcheck(matmul_op, (a, b, spec_key("hopper_fp8"), ""))


@pytest.mark.slow
def test_torch_compile_traces_the_op() -> None:
    a = torch.from_numpy(values((3, 8), "e4m3", 7))
    b = torch.from_numpy(values((8, 2), "e4m3", 8))
    f = torch.compile(lambda x, y: matmul(x, y, "hopper_fp8") * 2, fullgraph=True)
    assert torch.equal(f(a, b), matmul(a, b, "hopper_fp8") * 2)
