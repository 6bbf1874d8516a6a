"""Optax: keep an optimizer's moment estimates as codes of a low-precision
format between steps (COAT-style optimizer-state quantization).

:func:`quantized_states` wraps any ``optax.GradientTransformation``: after
each update the inner state's first (``mu``) and second (``nu``) moments are
encoded into a :class:`floatsim.Format` (uint8 / uint16 codes) or a
:class:`floatsim.blocks.BlockFormat` (element codes plus scale codes, blocks
along the last axis), and decoded before the next one.  What the state holds
is really the codes (each moment tree becomes a :class:`Coded`, whose
``codes`` and ``scales`` trees have the moments' structure), so its memory
is that of the format.  It works under ``flax.nnx.Optimizer`` as under plain
Optax.

Example:
    >>> import jax.numpy as jnp, optax, floatsim_jax as fj
    >>> opt = fj.optax.quantized_states(optax.adam(1e-2), m="e4m3", v="mxfp8_e5m2")
    >>> params = {"w": jnp.ones((2, 32))}
    >>> state = opt.init(params)
    >>> upd, state = opt.update({"w": jnp.full((2, 32), 0.5)}, state, params)
    >>> inner = state.inner[0]
    >>> inner.mu.codes["w"].dtype, inner.nu.codes["w"].dtype, inner.nu.scales["w"].shape
    (dtype('uint8'), dtype('uint8'), (2, 1))
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import floatsim as fs
from floatsim import Format
from floatsim.blocks import BlockFormat

from . import blocks as B
from .cast import decode, encode, static

__all__ = ["Coded", "QuantizedState", "quantized_states"]

Spec = Format | BlockFormat | str | None


_NO_SCALES = np.zeros((0,), np.uint8)


@jax.tree_util.register_pytree_node_class
class Coded:
    """One moment tree (an optimizer's ``mu`` or ``nu``) stored as codes:
    ``codes``, a tree of the moments' structure holding each array's codes,
    and ``scales``, the same tree holding its block scale codes (an empty
    array for element formats and for leaves kept as they are); the format and
    each leaf's dtype are static data.

    The codes sit in plain arrays at the moments' own positions, so that
    frameworks that wrap every leaf of an optimizer state (``flax.nnx.Optimizer``
    wraps each in a Variable) carry them from step to step unchanged.
    """

    def __init__(self, codes: Any, scales: Any, fmt: Format | BlockFormat,
                 dtypes: tuple[Any, ...]) -> None:
        self.codes, self.scales, self.fmt, self.dtypes = codes, scales, fmt, dtypes

    def tree_flatten(self) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
        return (self.codes, self.scales), (self.fmt, self.dtypes)

    @classmethod
    def tree_unflatten(cls, aux: tuple[Any, Any], children: tuple[Any, Any]) -> Coded:
        return cls(children[0], children[1], *aux)

    def value(self) -> Any:
        """The decoded moment tree."""
        codes, treedef = jax.tree_util.tree_flatten(self.codes)
        scales = jax.tree_util.tree_leaves(self.scales)
        out = []
        for c, s, dt in zip(codes, scales, self.dtypes, strict=True):
            if dt is None:
                out.append(c)   # kept as it was (not floating point, or a scalar with no block)
            elif isinstance(self.fmt, BlockFormat):
                out.append(B.decode(c, s, self.fmt, dtype=dt))
            else:
                out.append(decode(c, self.fmt, dt))
        return jax.tree_util.tree_unflatten(treedef, out)

    def __repr__(self) -> str:
        return f"Coded({self.fmt}, {len(self.dtypes)} arrays)"


class QuantizedState(NamedTuple):
    """The wrapped optimizer's state with its moments as :class:`Coded` leaves,
    and the step count that picks each step's SR stream."""

    inner: Any
    step: Any


def _spec(v: Spec, what: str) -> Format | BlockFormat | None:
    v = static(v, what)
    if v is None or isinstance(v, (Format, BlockFormat)):
        return v
    try:
        return fs.format(v)
    except ValueError:
        try:
            return fs.blocks.format(v)
        except ValueError:
            raise ValueError(
                f"{what}={v!r} is neither a format nor a block format (floatsim.names(), "
                "floatsim.blocks.names() list them)") from None


def _encode_tree(tree: Any, fmt: Format | BlockFormat, rounding: str, seed: int | None,
                 stream: Any) -> Coded:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    kw = {"seed": seed, "stream": stream} if rounding in ("sr", "stochastic") else {}
    codes, scales, dtypes = [], [], []
    for x in leaves:
        floating = hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating)
        if not floating or (isinstance(fmt, BlockFormat) and x.ndim == 0):
            codes.append(x)   # a count, or a scalar (no block): kept as it is
            scales.append(_NO_SCALES)
            dtypes.append(None)
            continue
        if isinstance(fmt, BlockFormat):
            e, sc = B.encode(x, fmt, rounding, axis=-1, **kw)[:2]
        else:
            e, sc = encode(x, fmt, rounding, **kw), _NO_SCALES
        codes.append(e)
        scales.append(sc)
        dtypes.append(np.dtype(x.dtype))
    return Coded(jax.tree_util.tree_unflatten(treedef, codes),
                 jax.tree_util.tree_unflatten(treedef, scales), fmt, tuple(dtypes))


def _map_moments(state: Any, fn: Any) -> Any:
    """Apply ``fn(name, subtree)`` to the ``mu`` and ``nu`` fields of every
    NamedTuple in an optax state."""
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        changes = {f: fn(f, getattr(state, f)) for f in ("mu", "nu") if f in state._fields}
        rest = {f: _map_moments(getattr(state, f), fn) for f in state._fields if f not in changes}
        return state._replace(**changes, **rest)
    if isinstance(state, (tuple, list)):
        return type(state)(_map_moments(s, fn) for s in state)
    return state


def quantized_states(inner: optax.GradientTransformation, *, m: Spec = None, v: Spec = None,
                     rounding: str = "nearest_even", seed: int = 0) -> optax.GradientTransformation:
    """Wrap ``inner`` so that its first moments (``mu``) are stored in ``m``
    and its second moments (``nu``) in ``v``: Formats or BlockFormats (or
    names; None keeps float32).  ``rounding='stochastic'`` draws step t's
    bits from ``seed`` and stream t (moments: streams t and t + 2**31).

    Example:
        >>> import optax, floatsim_jax as fj
        >>> fj.optax.quantized_states(optax.sgd(0.1, momentum=0.9), m="bf16")  # doctest: +ELLIPSIS
        GradientTransformationExtraArgs(init=<function ...>, update=<function ...>)
    """
    mf, vf = _spec(m, "m"), _spec(v, "v")
    fmts = {"mu": mf, "nu": vf}
    if not hasattr(inner, "init") or not hasattr(inner, "update"):
        raise TypeError(f"inner must be an optax.GradientTransformation, got {type(inner).__name__}")

    def compress(state: Any, step: Any) -> Any:
        def fn(name: str, tree: Any) -> Any:
            f = fmts[name]
            if f is None:
                return tree
            stream = step + np.uint32(0 if name == "mu" else 2**31)
            return _encode_tree(tree, f, rounding, seed, stream)
        return _map_moments(state, fn)

    def expand(state: Any) -> Any:
        return _map_moments(state, lambda _name, tree: tree.value() if isinstance(tree, Coded) else tree)

    def init(params: Any) -> QuantizedState:
        step = jnp.zeros((), jnp.uint32)
        return QuantizedState(compress(inner.init(params), step), step)

    def update(updates: Any, state: QuantizedState, params: Any = None, **extra: Any
               ) -> tuple[Any, QuantizedState]:
        new_updates, new_inner = inner.update(updates, expand(state.inner), params, **extra)
        step = state.step + jnp.uint32(1)
        return new_updates, QuantizedState(compress(new_inner, step), step)

    return optax.GradientTransformationExtraArgs(init, update)
