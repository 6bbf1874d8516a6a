"""``matmul`` for torch tensors with an emulated accumulator (floatsim.mac).

``matmul(a, b, accumulator=...)`` computes ``a @ b`` with every output element
as the unit ``accumulator`` (an :class:`floatsim.mac.AccumulatorSpec` or a
preset name: "hopper_fp8", "bf16", ...) computes it, bit for bit with
:func:`floatsim.mac.matmul`: on the CPU through zero-copy numpy views of the
tensors, on CUDA tensors through the numba-cuda GEMM (no host round trip).
The op is registered with ``torch.library`` (``floatsim_mac::matmul``), with a
fake implementation, so ``torch.compile`` traces through it (with a preset
name; a spec object is looked up by its repr, which breaks the graph).

**Operands** hold values of the operand formats (quantize them first, e.g.
with a recipe's operand formats): float32, float16 or bfloat16 tensors;
float64 tensors are accepted on the CPU when every value is a float32 value.
``a`` may have leading batch dimensions, ``b`` is (K, N).  The result is
float32 (values of the spec's output format); ``out_dtype`` casts it.

**Gradients** are computed in FP32 by default (``torch.matmul`` of the
float32 operands: ``grad_a = grad @ b.T``, ``grad_b = a.T @ grad``), as the
training recipes of torchao and TransformerEngine do for the emulated
forward GEMM; ``grad_accumulator=`` computes both with the model instead
(the incoming gradient must then hold float32 values, which it does).
Gradients come back in the operands' dtypes.

Example:
    >>> import torch
    >>> from floatsim_torch.mac import matmul
    >>> a = torch.tensor([[1.0, 2.0**-9, 2.0**-9]], requires_grad=True)
    >>> b = torch.ones(3, 1)
    >>> y = matmul(a, b, accumulator="bf16")     # 1 + 2**-9 + 2**-9: each lost in bf16
    >>> y.item(), matmul(a, b, accumulator="fp32").item()
    (1.0, 1.00390625)
    >>> y.sum().backward(); a.grad
    tensor([[1., 1., 1.]])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import floatsim.mac as fmac
from floatsim.mac.spec import PRESETS, AccumulatorSpec

__all__ = ["matmul", "matmul_op", "spec_key"]

# The op takes specs by key (a torch.library schema holds strings, not
# objects): a preset's name, or the repr of a spec object (registered here).
_SPECS: dict[str, AccumulatorSpec] = dict(PRESETS)


def spec_key(spec: AccumulatorSpec | str | None) -> str:
    """The op's key of ``spec`` ("" for None).  A preset name is its own key
    (traceable by torch.compile); a spec object's key is its repr."""
    if spec is None:
        return ""
    if isinstance(spec, str):
        if spec not in PRESETS:
            fmac.spec(spec)  # raises, listing the names
        return spec
    s = fmac.spec(spec)
    key = repr(s)
    _SPECS.setdefault(key, s)
    return key


def _check(t: Any, name: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if not t.dtype.is_floating_point or t.dtype.itemsize > 8:
        raise TypeError(f"{name} has dtype {t.dtype}; matmul takes float32, float16, bfloat16 "
                        "(and, on the CPU, float64 holding float32 values)")


def _mm(a: torch.Tensor, b: torch.Tensor, key: str) -> torch.Tensor:
    """The model's GEMM of 2-D tensors: (M, K) @ (K, N) -> float32 (M, N)."""
    spec = _SPECS[key]
    if a.is_cuda:
        return fmac.matmul(a.contiguous(), b.contiguous(), spec)
    # zero-copy numpy views of CPU float32 tensors (half types are widened first)
    an = a.detach().contiguous()
    bn = b.detach().contiguous()
    if an.dtype in (torch.float16, torch.bfloat16):
        an = an.float()
    if bn.dtype in (torch.float16, torch.bfloat16):
        bn = bn.float()
    return torch.from_numpy(np.asarray(fmac.matmul(an.numpy(), bn.numpy(), spec)))


@torch.library.custom_op("floatsim_mac::matmul", mutates_args=())
def matmul_op(a: torch.Tensor, b: torch.Tensor, key: str, grad_key: str) -> torch.Tensor:
    """The registered op: (M, K) @ (K, N) by the spec of ``key``
    (:func:`spec_key`), gradients by ``grad_key``'s spec ("" for FP32)."""
    return _mm(a, b, key)


@matmul_op.register_fake
def _(a: torch.Tensor, b: torch.Tensor, key: str, grad_key: str) -> torch.Tensor:
    return a.new_empty((a.shape[0], b.shape[1]), dtype=torch.float32)


def _setup(ctx: Any, inputs: tuple, output: torch.Tensor) -> None:
    a, b, _key_, grad_key = inputs
    ctx.save_for_backward(a, b)
    ctx.grad_key = grad_key


def _backward(ctx: Any, grad: torch.Tensor) -> tuple:
    a, b = ctx.saved_tensors
    g = grad.float()
    ga = gb = None
    if ctx.grad_key:
        if ctx.needs_input_grad[0]:
            ga = _mm(g, b.float().t().contiguous(), ctx.grad_key)
        if ctx.needs_input_grad[1]:
            gb = _mm(a.float().t().contiguous(), g, ctx.grad_key)
    else:
        if ctx.needs_input_grad[0]:
            ga = g @ b.float().t()
        if ctx.needs_input_grad[1]:
            gb = a.float().t() @ g
    return (None if ga is None else ga.to(a.dtype), None if gb is None else gb.to(b.dtype),
            None, None)


matmul_op.register_autograd(_backward, setup_context=_setup)


def matmul(a: torch.Tensor, b: torch.Tensor, accumulator: AccumulatorSpec | str = "fp32", *,
           grad_accumulator: AccumulatorSpec | str | None = None,
           out_dtype: torch.dtype | None = None) -> torch.Tensor:
    """``a @ b`` with the accumulator ``accumulator`` (see the module
    docstring): ``a`` (..., M, K) or (K,), ``b`` (K, N); float32 result of
    shape (..., M, N) (``out_dtype`` casts it).  Gradients in FP32, or by
    the model with ``grad_accumulator``.

    Example:
        >>> import torch
        >>> x = torch.ones(2, 4, 8, dtype=torch.bfloat16)
        >>> matmul(x, torch.full((8, 3), 0.5), "hopper_fp8").shape
        torch.Size([2, 4, 3])
    """
    _check(a, "a")
    _check(b, "b")
    if b.dim() != 2 or a.dim() < 1 or a.shape[-1] != b.shape[0]:
        raise ValueError(f"matmul needs a of shape (..., M, K) and b of shape (K, N); got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if a.device != b.device:
        raise ValueError(f"a is on {a.device} and b on {b.device}; they must be on one device")
    key, grad_key = spec_key(accumulator), spec_key(grad_accumulator)
    lead = a.shape[:-1]
    y = matmul_op(a.reshape(-1, a.shape[-1]), b, key, grad_key)
    y = y.reshape(*lead, b.shape[1])
    return y if out_dtype is None else y.to(out_dtype)
