"""Optax: keep an optimizer's moment estimates as codes of a low-precision
format between steps (COAT-style optimizer-state quantization).

:func:`quantized_states` wraps any ``optax.GradientTransformation``: after
each update the inner state's first (``mu``) and second (``nu``) moments are
encoded into a :class:`floatsim.Format` (uint8 / uint16 codes) or a
:class:`floatsim.blocks.BlockFormat` (element codes plus scale codes, blocks
along the last axis), and decoded before the next one.  What the state holds
is really the codes (:class:`Coded` leaves), so its memory is that of the
format.

Example:
    >>> import jax.numpy as jnp, optax, floatsim_jax as fj
    >>> opt = fj.optax.quantized_states(optax.adam(1e-2), m="e4m3", v="mxfp8_e5m2")
    >>> params = {"w": jnp.ones((2, 32))}
    >>> state = opt.init(params)
    >>> upd, state = opt.update({"w": jnp.full((2, 32), 0.5)}, state, params)
    >>> inner = state.inner[0]
    >>> inner.mu["w"].codes.dtype, inner.nu["w"].codes.dtype, inner.nu["w"].scales.shape
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


@jax.tree_util.register_pytree_node_class
class Coded:
    """One state array stored as codes: ``codes`` (and block ``scales``) with
    the format and the dtype it decodes to as static data."""

    def __init__(self, codes: Any, scales: Any, fmt: Format | BlockFormat, dtype: Any) -> None:
        self.codes, self.scales, self.fmt, self.dtype = codes, scales, fmt, np.dtype(dtype)

    def tree_flatten(self) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
        return (self.codes, self.scales), (self.fmt, self.dtype)

    @classmethod
    def tree_unflatten(cls, aux: tuple[Any, Any], children: tuple[Any, Any]) -> Coded:
        return cls(children[0], children[1], *aux)

    def value(self) -> Any:
        """The decoded array."""
        if isinstance(self.fmt, BlockFormat):
            return B.decode(self.codes, self.scales, self.fmt, dtype=self.dtype)
        return decode(self.codes, self.fmt, self.dtype)

    def __repr__(self) -> str:
        return f"Coded({self.fmt}, shape={tuple(self.codes.shape)}, dtype={self.dtype})"


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


def _encode(x: Any, fmt: Format | BlockFormat, rounding: str, seed: int | None, stream: Any
            ) -> Any:
    if not hasattr(x, "dtype") or not jnp.issubdtype(x.dtype, jnp.floating):
        return x
    kw = {"seed": seed, "stream": stream} if rounding in ("sr", "stochastic") else {}
    if isinstance(fmt, BlockFormat):
        if x.ndim == 0:
            return x  # a scalar has no block: kept as it is
        e, s = B.encode(x, fmt, rounding, axis=-1, **kw)[:2]
        return Coded(e, s, fmt, x.dtype)
    return Coded(encode(x, fmt, rounding, **kw), None, fmt, x.dtype)


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
            return jax.tree_util.tree_map(lambda x: _encode(x, f, rounding, seed, stream), tree)
        return _map_moments(state, fn)

    def expand(state: Any) -> Any:
        def fn(_name: str, tree: Any) -> Any:
            return jax.tree_util.tree_map(lambda x: x.value() if isinstance(x, Coded) else x, tree,
                                          is_leaf=lambda x: isinstance(x, Coded))
        return _map_moments(state, fn)

    def init(params: Any) -> QuantizedState:
        step = jnp.zeros((), jnp.uint32)
        return QuantizedState(compress(inner.init(params), step), step)

    def update(updates: Any, state: QuantizedState, params: Any = None, **extra: Any
               ) -> tuple[Any, QuantizedState]:
        new_updates, new_inner = inner.update(updates, expand(state.inner), params, **extra)
        step = state.step + jnp.uint32(1)
        return new_updates, QuantizedState(compress(new_inner, step), step)

    return optax.GradientTransformationExtraArgs(init, update)
