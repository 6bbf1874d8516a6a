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
per-tensor, per-row) need ``jax_enable_x64``.  TENSOR_DELAYED and Hadamard
transforms raise NotImplementedError.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

import floatsim as fs
from floatsim import Format, Rounding
from floatsim.blocks import BlockFormat

from . import blocks as B
from .cast import quantize

__all__ = ["DotGeneral", "dot_general", "einsum", "OperandSpec", "GemmSpec"]

#: The recipe roles in the order of their SR streams.
ROLES = ("forward.lhs", "forward.rhs", "dgrad.lhs", "dgrad.rhs", "wgrad.lhs", "wgrad.rhs")
_SUPPORTED = ("none", "block", "tensor_current", "row")


@dataclasses.dataclass(frozen=True)
class OperandSpec:
    """How one operand of one GEMM is rounded (from a recipe's Operand)."""

    fmt: Format | BlockFormat | None
    rounding: Rounding
    sr_bits: int | None
    stream: int
    per_tensor: bool = False

    @classmethod
    def of(cls, op: Any, role: str, stream: int) -> OperandSpec:
        fmt = getattr(op, "format", None) if op is not None else None
        if fmt is None:
            return cls(None, Rounding.NEAREST_EVEN, None, stream)
        scaling = getattr(getattr(op, "scaling", None), "value", getattr(op, "scaling", "none"))
        scaling = str(scaling or "none").lower()
        if scaling not in _SUPPORTED:
            raise NotImplementedError(
                f"recipe operand {role} has scaling={scaling!r}; floatsim_jax.flax takes "
                f"{', '.join(repr(s) for s in _SUPPORTED)} (delayed scaling needs an amax "
                "history kept outside the GEMM)")
        if getattr(op, "hadamard", None):
            raise NotImplementedError(f"recipe operand {role} has a Hadamard transform; "
                                      "floatsim_jax.flax does not apply it yet")
        if scaling == "block" and not isinstance(fmt, BlockFormat):
            fmt = fs.blocks.format(fmt)
        if scaling == "none" and not isinstance(fmt, Format):
            fmt = fs.format(fmt)
        if scaling in ("tensor_current", "row"):
            # one FP32 scale amax / max per tensor, or per row along the reduction dim
            fmt = fs.blocks.scaled(fs.format(fmt) if not isinstance(fmt, Format) else fmt)
        if isinstance(fmt, BlockFormat):
            B.supported(fmt)
        rnd = Rounding.parse(getattr(op, "rounding", Rounding.NEAREST_EVEN))
        return cls(fmt, rnd, getattr(op, "sr_bits", None), stream, scaling == "tensor_current")

    def __call__(self, x: Any, axis: int, seed: int) -> Any:
        """``x`` rounded, blocks along ``axis``."""
        if self.fmt is None:
            return x
        kw: dict[str, Any] = {}
        if self.rounding is Rounding.STOCHASTIC:
            kw = {"seed": seed, "stream": self.stream, "sr_bits": self.sr_bits}
        if isinstance(self.fmt, BlockFormat):
            return B.quantize(x, self.fmt, self.rounding, axis=None if self.per_tensor else axis,
                              **kw)
        return quantize(x, self.fmt, self.rounding, **kw)


@dataclasses.dataclass(frozen=True)
class GemmSpec:
    """The six operands of a recipe (static, hashable) and the SR seed."""

    ops: tuple[OperandSpec, ...]
    seed: int

    @classmethod
    def of(cls, recipe: Any, seed: int = 0) -> GemmSpec:
        r = _recipe(recipe)
        ops = []
        for i, role in enumerate(ROLES):
            gemm, side = role.split(".")
            ops.append(OperandSpec.of(getattr(getattr(r, gemm), side), role, i))
        return cls(tuple(ops), int(seed))


def _recipe(recipe: Any) -> Any:
    if isinstance(recipe, str):
        try:
            from floatsim.recipes import get
        except ImportError as exc:  # pragma: no cover - until floatsim.recipes lands
            raise ImportError("recipes by name need floatsim.recipes; pass a Recipe object") from exc
        recipe = get(recipe)
    for gemm in ("forward", "dgrad", "wgrad"):
        if not hasattr(recipe, gemm):
            raise TypeError(
                f"recipe must be a floatsim.recipes.Recipe (or its name); {type(recipe).__name__} "
                f"has no {gemm!r}")
    if getattr(recipe, "weight_noise", None) is not None:
        raise NotImplementedError(
            f"recipe {recipe.name!r} has weight_noise (pseudo-quantization); floatsim_jax.flax "
            "does not apply it yet: add the noise to the weights with "
            "floatsim_jax.noise.pseudo_quantize")
    return recipe


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


class DotGeneral:
    """A ``lax.dot_general`` replacement quantizing its GEMMs per ``recipe``
    (also usable as Flax's ``dot_general_cls`` with functools.partial).

    Example:
        >>> import jax.numpy as jnp
        >>> dg = DotGeneral(_Demo())
        >>> dg(jnp.ones((2, 32)), jnp.full((32, 3), 0.3), (((1,), (0,)), ((), ()))).tolist()[0]
        [10.0, 10.0, 10.0]
    """

    def __init__(self, recipe: Any, *, seed: int = 0) -> None:
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
        y = _gemm(self.spec, x, w)
        shape = ([lhs.shape[d] for d in lb] + [lhs.shape[d] for d in lf]
                 + [rhs.shape[d] for d in rf])
        out_dt = preferred_element_type or jnp.result_type(lhs.dtype, rhs.dtype)
        return y.reshape(shape).astype(out_dt)


def dot_general(recipe: Any, *, seed: int = 0) -> DotGeneral:
    """A dot_general for ``flax.linen.Dense(dot_general=...)`` and
    ``flax.nnx.Linear(dot_general=...)``: ``recipe`` is a
    ``floatsim.recipes.Recipe`` or its name; SR operands draw from ``seed``
    with one stream per role (:data:`ROLES`), the same words at every step
    (pass a new dot_general, or a new seed, to change them)."""
    return DotGeneral(recipe, seed=seed)


def einsum(recipe: Any, *, seed: int = 0) -> Any:
    """An ``einsum`` (jnp.einsum's signature) whose contractions go through
    :func:`dot_general`: ``flax.nnx.Einsum(..., einsum_op=einsum(recipe))``.

    Example:
        >>> import jax.numpy as jnp
        >>> einsum(_Demo())("bk,kn->bn", jnp.ones((2, 32)), jnp.full((32, 3), 0.3)).tolist()[0]
        [10.0, 10.0, 10.0]
    """
    dg = dot_general(recipe, seed=seed)

    def op(subscripts: str, *operands: Any, precision: Any = None,
           preferred_element_type: Any = None, **kw: Any) -> Any:
        return jnp.einsum(subscripts, *operands, precision=precision,
                          preferred_element_type=preferred_element_type, _dot_general=dg, **kw)

    return op


@dataclasses.dataclass(frozen=True)
class _DemoOperand:
    format: Any = "mxfp8_e4m3"
    rounding: Any = "nearest_even"
    scaling: str = "block"


@dataclasses.dataclass(frozen=True)
class _DemoGemm:
    lhs: _DemoOperand = _DemoOperand()
    rhs: _DemoOperand = _DemoOperand()


@dataclasses.dataclass(frozen=True)
class _Demo:
    """The shape of a floatsim.recipes.Recipe, for this module's examples."""

    forward: _DemoGemm = _DemoGemm()
    dgrad: _DemoGemm = _DemoGemm()
    wgrad: _DemoGemm = _DemoGemm()
