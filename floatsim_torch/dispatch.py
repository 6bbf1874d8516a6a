"""When an eager call may run a kernel without going through the dispatcher.

A ``torch.library.custom_op`` call costs tens of microseconds of host time
in its Python layers (autograd wrapper, argument defaults, alias checks,
redispatch): several times the cast of a small tensor.  An eager call on
plain tensors that nothing traces or transforms runs the op's own kernel
function directly, with the same arguments (:data:`KERNEL`), or, where a
gradient is to be recorded, through a ``torch.autograd.Function`` whose
forward is that kernel and whose backward is the registered one
(:data:`FUNCTION`, :mod:`floatsim_torch.autograd`): the same results and
gradients by construction.  Everything else goes through the registered op
(:data:`OP`): ``torch.compile`` and export (Dynamo sees the op), vmap and
other functorch transforms, ``__torch_function__`` and
``__torch_dispatch__`` modes, and tensor subclasses (FakeTensor,
FunctionalTensor, DTensor).

Example:
    >>> import torch
    >>> from floatsim_torch.dispatch import route, KERNEL, FUNCTION
    >>> route(torch.ones(2)) == KERNEL, route(torch.ones(2, requires_grad=True)) == FUNCTION
    (True, True)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["FUNCTION", "KERNEL", "OP", "memo", "route"]

#: Call the registered operator.
OP = 0
#: Call the operator's kernel function (no gradient to record).
KERNEL = 1
#: Call the kernel through the autograd.Function of the registered backward.
FUNCTION = 2

_PLAIN = (torch.Tensor, torch.nn.Parameter)
_C = torch._C


def route(*tensors: torch.Tensor | None) -> int:
    """How an eager call with these tensor arguments runs: OP, KERNEL or FUNCTION."""
    if torch.compiler.is_compiling() or _C._len_torch_dispatch_stack():
        return OP
    if _C._is_torch_function_mode_enabled() or _C._are_functorch_transforms_active():
        return OP  # e.g. `with torch.device(...)`, vmap: let them see the op
    grad = False
    for t in tensors:
        if t is None:
            continue
        if type(t) not in _PLAIN or t.is_meta:  # meta tensors: the fake implementation
            return OP
        grad = grad or t.requires_grad
    return FUNCTION if grad and _C.is_grad_enabled() else KERNEL


def memo(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with its results cached by (hashable) arguments: the argument
    checks and conversions that repeat at every call of a training step.
    Under ``torch.compile`` the plain function is traced instead."""
    cached = functools.lru_cache(maxsize=4096)(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        if torch.compiler.is_compiling():
            return fn(*args)
        try:
            return cached(*args)
        except TypeError:  # an unhashable argument (or fn's own TypeError, raised again)
            return fn(*args)

    return wrapper
