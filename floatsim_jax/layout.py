"""Where the blocks are: an array's axes cut into blocks, as rows of
blocks ``(others..., nblocks..., block size)`` and back, with the core's
rules for axes, tiles and whole axes (``floatsim.blocks``' Layout, for jax
arrays: transpose, pad, reshape).

Example:
    >>> import jax.numpy as jnp
    >>> lay = Blocks((3, 40), (32,), -1)
    >>> lay.scale_shape, lay.gather(jnp.ones((3, 40))).shape
    ((3, 2), (3, 2, 32))
"""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp
import numpy as np

from floatsim.blocks.layout import norm_axis

from .cast import static

__all__ = ["Blocks"]

Array = Any


def _norm_axis(a: object, ndim: int) -> int:
    static(a, "axis")   # a traced axis cannot shape the computation
    return norm_axis(a, ndim)


class Blocks:
    """An array shape cut into blocks along some axes: rows of blocks
    ``(others..., nblocks..., block size)`` and back.  Zero padding fills
    the last block of an axis that is not a multiple of the block (it
    changes no amax, and padded positions are dropped again)."""

    def __init__(self, shape: tuple[int, ...], block: tuple[int | None, ...] | None,
                 axis: Any) -> None:
        self.shape = tuple(int(s) for s in shape)
        ndim = len(self.shape)
        if block is None:
            raw = tuple(range(ndim)) if axis is None else (
                axis if isinstance(axis, tuple) else (axis,))
            sizes: tuple[int | None, ...] = (None,) * len(raw)
        else:
            k = len(block)
            if axis is None:
                raise ValueError(
                    f"axis=None (every axis) needs a block format with block=None; this one "
                    f"has block={block}: pass the axis (or {k} axes) the blocks run along")
            if isinstance(axis, tuple):
                raw = axis
            elif k > 1 and axis == -1:
                raw = tuple(range(-k, 0))
            else:
                raw = (axis,)
            if len(raw) != k:
                raise ValueError(
                    f"block={block} is a rank-{k} tile but axis={axis!r} names {len(raw)} "
                    f"ax{'es' if len(raw) != 1 else 'is'}; pass {k} axes")
            if ndim < k:
                raise ValueError(f"block={block} is a rank-{k} tile; x has only {ndim} dimension(s)")
            sizes = block
        self.axes = tuple(_norm_axis(a, ndim) for a in raw)
        if len(set(self.axes)) != len(self.axes):
            raise ValueError(f"axis={axis!r} names an axis twice")
        self.bsz = tuple(max(self.shape[a], 1) if b is None else int(b)
                         for a, b in zip(self.axes, sizes))
        self.nblk = tuple(-(-self.shape[a] // b) for a, b in zip(self.axes, self.bsz))
        self.others = tuple(d for d in range(ndim) if d not in self.axes)
        self.perm = self.others + self.axes
        sshape = list(self.shape)
        for a, nb in zip(self.axes, self.nblk):
            sshape[a] = nb
        self.scale_shape = tuple(sshape)
        self.bs = math.prod(self.bsz)

    def _key(self) -> tuple:
        return (self.shape, self.axes, self.bsz)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Blocks) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def gather(self, a: Array) -> Array:
        """(others..., nblocks..., bs) rows of an array of this shape."""
        no, k = len(self.others), len(self.axes)
        t = jnp.transpose(a, self.perm)
        pads = [(0, 0)] * no + [(0, nb * b - self.shape[ax])
                                for ax, nb, b in zip(self.axes, self.nblk, self.bsz)]
        if any(p[1] for p in pads):
            t = jnp.pad(t, pads)
        split = [self.shape[d] for d in self.others]
        for nb, b in zip(self.nblk, self.bsz):
            split += [nb, b]
        t = t.reshape(split)
        order = list(range(no)) + [no + 2 * i for i in range(k)] + [no + 2 * i + 1 for i in range(k)]
        t = jnp.transpose(t, order)
        return t.reshape(t.shape[:no + k] + (self.bs,))

    def scatter(self, rows: Array) -> Array:
        """The inverse of gather."""
        no, k = len(self.others), len(self.axes)
        t = rows.reshape(rows.shape[:no + k] + self.bsz)
        order = list(range(no))
        for i in range(k):
            order += [no + i, no + k + i]
        t = jnp.transpose(t, order).reshape(
            [self.shape[d] for d in self.others] + [nb * b for nb, b in zip(self.nblk, self.bsz)])
        t = t[tuple([slice(None)] * no + [slice(0, self.shape[a]) for a in self.axes])]
        return jnp.transpose(t, np.argsort(self.perm))

    def scales_out(self, s: Array) -> Array:
        """Per-block values (others..., nblocks...) in the scale shape."""
        return jnp.transpose(s, np.argsort(self.perm))

    def scales_in(self, s: Array) -> Array:
        """Per-block values in the scale shape as (others..., nblocks...)."""
        return jnp.transpose(s, self.perm)


