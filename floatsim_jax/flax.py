"""Flax: a ``dot_general`` (and an ``einsum``) whose three GEMMs are
quantized per a recipe of ``floatsim.recipes``.

A linear layer's forward GEMM and its two gradient GEMMs are quantized
separately, as TransformerEngine, torchao and AQT do (and as
``floatsim_torch`` does): with the recipe's operands for

* forward ``y = x . W`` (lhs x, rhs W, both along the reduction dim K),
* dgrad ``dx = dy . W^T`` (lhs dy, rhs W, along N),
* wgrad ``dW = x^T . dy`` (lhs dy, rhs x, along M: the batch and token axes),

through one ``custom_vjp``: the backward rounds dy and re-rounds the saved
high-precision x and W with the gradient GEMMs' own formats.  The block axis
of every operand is its GEMM's reduction dimension (never stored in the
recipe).  Products accumulate in float32 (``Precision.HIGHEST``).

Any ``dimension_numbers`` are taken: batch dims stay a batch, the free and
contracting dims of each operand are flattened into M, N and K (blocks then
run along the flattened K, which is the last axis of Dense / Linear inputs).

Usage::

    dg = floatsim_jax.flax.dot_general("mxfp8")          # or a Recipe
    flax.linen.Dense(64, dot_general=dg)
    flax.nnx.Linear(32, 64, dot_general=dg, rngs=rngs)
    flax.nnx.Einsum("btd,dh->bth", (32, 64), einsum_op=floatsim_jax.flax.einsum("mxfp4"), rngs=rngs)

A recipe operand takes ``scaling`` NONE (an element Format), BLOCK (a
BlockFormat: MX, NVFP4, ...), TENSOR_CURRENT (one FP32 scale amax / max per
tensor) or ROW (one per row along the reduction dim); value scales (NVFP4,
per-tensor, per-row) need ``jax_enable_x64``.  TENSOR_DELAYED scaling (the
named recipe ``fp8_delayed``), Hadamard transforms (``mxfp4_quartet``,
``nvfp4``) and a nonzero ``margin`` raise NotImplementedError naming the
recipe, the operand and a ``Recipe.with_operands`` call that removes it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from floatsim import Format, Rounding, recipes
from floatsim.blocks import BlockFormat
from floatsim.recipes import Operand, Recipe, Scaling

from . import blocks as B
from .cast import quantize

__all__ = ["DotGeneral", "dot_general", "einsum", "OperandSpec", "GemmSpec"]

#: The recipe roles in the order of their SR streams (floatsim.recipes.ROLES).
ROLES = recipes.ROLES
_SUPPORTED = (Scaling.NONE, Scaling.BLOCK, Scaling.TENSOR_CURRENT, Scaling.ROW)


@dataclasses.dataclass(frozen=True)
class OperandSpec:
    """How one operand of one GEMM is rounded (from a recipe's Operand).

    ``axes``: 'reduce' (blocks along the GEMM's reduction dim), 'tile' (2-D
    tiles over an operand's two matrix dims) or 'tensor' (one scale per tensor).
    """

    fmt: Format | BlockFormat | None
    rounding: Rounding
    sr_bits: int | None
    stream: int
    axes: str = "reduce"

    @classmethod
    def of(cls, op: Operand, role: str, stream: int, recipe: str = "") -> OperandSpec:
        if not op.quantized:
            return cls(None, Rounding.NEAREST_EVEN, None, stream)
        where = f"recipe {recipe!r}: operand {role}" if recipe else f"recipe operand {role}"
        if op.scaling not in _SUPPORTED:
            raise NotImplementedError(
                f"{where} has scaling={op.scaling.value!r}; floatsim_jax.flax takes "
                f"{', '.join(repr(s.value) for s in _SUPPORTED)} (delayed scaling needs an amax "
                "history kept outside the GEMM): use "
                "recipe.with_operands('all', scaling='tensor_current') for current scaling")
        if op.hadamard:
            raise NotImplementedError(
                f"{where} has hadamard={op.hadamard}; floatsim_jax.flax does not apply "
                "Hadamard transforms yet: use recipe.with_operands('all', hadamard=None)")
        if op.margin:
            raise NotImplementedError(
                f"{where} has margin={op.margin}; floatsim_jax.flax takes margin=0 only "
                "(its block casts take no amax=)")
        fmt = op.block_format or op.format
        if isinstance(fmt, BlockFormat):
            B.supported(fmt)
        axes = ("tensor" if op.scaling is Scaling.TENSOR_CURRENT else
                "tile" if isinstance(fmt, BlockFormat) and fmt.block is not None
                and len(fmt.block) == 2 else "reduce")
        return cls(fmt, op.rounding, op.sr_bits, stream, axes)

    def __call__(self, x: Any, axis: int, seed: int) -> Any:
        """``x`` (B, rows, cols) rounded, blocks along ``axis``."""
        if self.fmt is None:
            return x
        kw: dict[str, Any] = {}
        if self.rounding is Rounding.STOCHASTIC:
            kw = {"seed": seed, "stream": self.stream, "sr_bits": self.sr_bits}
        if isinstance(self.fmt, BlockFormat):
            ax = {"tensor": None, "tile": (-2, -1)}.get(self.axes, axis)
            return B.quantize(x, self.fmt, self.rounding, axis=ax, **kw)
        return quantize(x, self.fmt, self.rounding, **kw)


@dataclasses.dataclass(frozen=True)
class GemmSpec:
    """The six operands of a recipe (static, hashable) and the SR seed."""

    ops: tuple[OperandSpec, ...]
    seed: int

    @classmethod
    def of(cls, recipe: Recipe | str, seed: int = 0) -> GemmSpec:
        r = recipes.get(recipe)
        if r.weight_noise is not None:
            raise NotImplementedError(
                f"recipe {r.name!r} has weight_noise (pseudo-quantization); floatsim_jax.flax "
                "does not apply it yet: add the noise to the weights with "
                "floatsim_jax.noise.pseudo_quantize")
        ops = tuple(OperandSpec.of(r.operand(role), role, i, r.name)
                    for i, role in enumerate(ROLES))
        return cls(ops, int(seed))


def _mm(a: Any, b: Any, spec: str) -> Any:
    return jnp.einsum(spec, a, b, precision=lax.Precision.HIGHEST,
                      preferred_element_type=jnp.float32)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _gemm(spec: GemmSpec, x: Any, w: Any) -> Any:
    """(B, M, K) x (B, K, N) -> (B, M, N) with the forward operands rounded."""
    f_l, f_r = spec.ops[0], spec.ops[1]
    return _mm(f_l(x, -1, spec.seed), f_r(w, 1, spec.seed), "bmk,bkn->bmn")


def _gemm_fwd(spec: GemmSpec, x: Any, w: Any) -> tuple[Any, tuple[Any, Any]]:
    return _gemm(spec, x, w), (x, w)


def _gemm_bwd(spec: GemmSpec, res: tuple[Any, Any], dy: Any) -> tuple[Any, Any]:
    x, w = res
    d_l, d_r, w_l, w_r = spec.ops[2:]
    dy = dy.astype(jnp.float32)
    dx = _mm(d_l(dy, -1, spec.seed), d_r(w, -1, spec.seed), "bmn,bkn->bmk")
    dw = _mm(w_r(x, 1, spec.seed), w_l(dy, 1, spec.seed), "bmk,bmn->bkn")
    return dx.astype(x.dtype), dw.astype(w.dtype)


_gemm.defvjp(_gemm_fwd, _gemm_bwd)
# One XLA program per GEMM (and one for its backward) when called eagerly, as
# linen's init does: op by op, each cast and reshape would compile by itself.
# Inside a caller's jit this is inlined.
_gemm_jit = jax.jit(_gemm, static_argnums=0)


class DotGeneral:
    """A ``lax.dot_general`` replacement quantizing its GEMMs per ``recipe``
    (also usable as Flax's ``dot_general_cls`` with functools.partial).

    Example:
        >>> import jax.numpy as jnp
        >>> dg = DotGeneral("mxfp8")
        >>> dg(jnp.ones((2, 32)), jnp.full((32, 3), 0.3), (((1,), (0,)), ((), ()))).tolist()[0]
        [10.0, 10.0, 10.0]
    """

    def __init__(self, recipe: Recipe | str, *, seed: int = 0) -> None:
        self.spec = GemmSpec.of(recipe, seed)

    def __call__(self, lhs: Any, rhs: Any, dimension_numbers: Any, precision: Any = None,
                 preferred_element_type: Any = None, **_: Any) -> Any:
        (lc, rc), (lb, rb) = dimension_numbers
        lc, rc, lb, rb = (tuple(int(d) for d in t) for t in (lc, rc, lb, rb))
        lf = tuple(d for d in range(lhs.ndim) if d not in lc + lb)
        rf = tuple(d for d in range(rhs.ndim) if d not in rc + rb)
        size = lambda a, dims: math.prod(a.shape[d] for d in dims)
        Bn, M, K, N = size(lhs, lb), size(lhs, lf), size(lhs, lc), size(rhs, rf)
        x = jnp.transpose(lhs, lb + lf + lc).reshape(Bn, M, K)
        w = jnp.transpose(rhs, rb + rc + rf).reshape(Bn, K, N)
        y = _gemm_jit(self.spec, x, w)
        shape = ([lhs.shape[d] for d in lb] + [lhs.shape[d] for d in lf]
                 + [rhs.shape[d] for d in rf])
        out_dt = preferred_element_type or jnp.result_type(lhs.dtype, rhs.dtype)
        return y.reshape(shape).astype(out_dt)


def dot_general(recipe: Recipe | str, *, seed: int = 0) -> DotGeneral:
    """A dot_general for ``flax.linen.Dense(dot_general=...)`` and
    ``flax.nnx.Linear(dot_general=...)``: ``recipe`` is a
    ``floatsim.recipes.Recipe`` or its name; SR operands draw from ``seed``
    with one stream per role (:data:`ROLES`), the same words at every step
    (pass a new dot_general, or a new seed, to change them)."""
    return DotGeneral(recipe, seed=seed)


def einsum(recipe: Recipe | str, *, seed: int = 0) -> Any:
    """An ``einsum`` (jnp.einsum's signature) whose contractions go through
    :func:`dot_general`: ``flax.nnx.Einsum(..., einsum_op=einsum(recipe))``.

    Example:
        >>> import jax.numpy as jnp
        >>> einsum("mxfp8")("bk,kn->bn", jnp.ones((2, 32)), jnp.full((32, 3), 0.3)).tolist()[0]
        [10.0, 10.0, 10.0]
    """
    dg = dot_general(recipe, seed=seed)

    def op(subscripts: str, *operands: Any, precision: Any = None,
           preferred_element_type: Any = None, **kw: Any) -> Any:
        return jnp.einsum(subscripts, *operands, precision=precision,
                          preferred_element_type=preferred_element_type, _dot_general=dg, **kw)

    return op
