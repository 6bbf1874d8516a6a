"""One custom_vjp for every fake-quantize op of the adapter: the forward is
the op, the backward is the op's gradient rule (straight-through by
default), both given by a static, hashable spec.

Example:
    >>> import jax, jax.numpy as jnp, floatsim_jax as fj
    >>> jax.grad(lambda x: fj.quantize(x, "e2m1").sum())(jnp.array([0.3, 9.0])).tolist()
    [1.0, 1.0]
"""

from __future__ import annotations

import functools
from typing import Any, Protocol

import jax

__all__ = ["Spec", "apply"]


class Spec(Protocol):
    """What :func:`apply` needs of an op (a frozen dataclass: hashable)."""

    needs_x: bool

    def forward(self, x: Any, rand: Any) -> Any: ...  # noqa: D102

    def backward(self, x: Any, g: Any, rand: Any) -> Any: ...  # noqa: D102


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def apply(spec: Spec, x: Any, rand: Any) -> Any:
    """``spec.forward(x, rand)``, differentiated by ``spec.backward``.
    ``rand`` (seeds, streams, random words) gets no cotangent."""
    return spec.forward(x, rand)


def _fwd(spec: Spec, x: Any, rand: Any) -> tuple[Any, Any]:
    return spec.forward(x, rand), (x if spec.needs_x else None, rand)


def _bwd(spec: Spec, res: Any, g: Any) -> tuple[Any, None]:
    x, rand = res
    return spec.backward(x, g, rand), None


apply.defvjp(_fwd, _bwd)
