"""Where the blocks are: an array's axes cut into blocks, and the rows the kernels read.

The kernels take 2-D rows ``(R, n)`` cut into blocks of ``bs`` consecutive
elements.  1-D blocks along the last axis of a C-contiguous array are such
rows already (no copy; a short last block stays short).  Every other layout
(blocks along another axis, 2-D / 3-D tiles, whole axes) is gathered: the
block axes move to the end, are zero-padded up to a multiple of the block,
and each block becomes one row.  Zero padding changes no block's amax, no
4-over-6 error and no min/max range, and padded positions are never written
back, so padding never changes the unpadded values.

Scales have the array's shape with each block axis ``a`` shortened to
``ceil(shape[a] / block[a])`` (torchao's ``(M, K // 32)`` for MX along the
last axis).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

AxisArg = int | tuple[int, ...] | None


def norm_axis(a: object, ndim: int) -> int:
    """Axis ``a`` of an ``ndim``-dimensional array as 0..ndim-1, or a clear error
    (also the JAX adapter's check).

    Example:
        >>> norm_axis(-1, 3)
        2
    """
    if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
        raise TypeError(f"axis entries must be ints, got {a!r}")
    if not -ndim <= a < ndim:
        raise ValueError(
            f"axis={int(a)} is out of range for an array of {ndim} dimension"
            f"{'s' if ndim != 1 else ''}; allowed: {-ndim}..{ndim - 1}"
        )
    return int(a) % ndim


class Layout:
    """The blocking of one array shape by one block shape along some axes."""

    def __init__(self, shape: tuple[int, ...], block: tuple[int | None, ...] | None,
                 axis: AxisArg) -> None:
        self.shape = tuple(int(s) for s in shape)
        ndim = len(self.shape)
        if block is None:
            if axis is None:
                axes: tuple[int, ...] = tuple(range(ndim))
            else:
                raw = (axis,) if not isinstance(axis, tuple) else axis
                axes = tuple(norm_axis(a, ndim) for a in raw)
            sizes: tuple[int | None, ...] = (None,) * len(axes)
        else:
            k = len(block)
            if axis is None:
                raise ValueError(
                    f"axis=None (every axis) needs a block format with block=None; this one "
                    f"has block={block}: pass the axis (or {k} axes) the blocks run along"
                )
            if isinstance(axis, tuple):
                raw = axis
            elif k > 1 and axis == -1:
                raw = tuple(range(-k, 0))  # the default axis: a k-D tile over the last k axes
            else:
                raw = (axis,)
            if len(raw) != k:
                raise ValueError(
                    f"block={block} is a rank-{k} tile but axis={axis!r} names {len(raw)} "
                    f"ax{'es' if len(raw) != 1 else 'is'}; pass {k} axes (e.g. axis="
                    f"{tuple(range(-k, 0))})"
                )
            if ndim < k:
                raise ValueError(
                    f"block={block} is a rank-{k} tile; x has only {ndim} dimension(s)"
                )
            axes = tuple(norm_axis(a, ndim) for a in raw)
            sizes = block
        if len(set(axes)) != len(axes):
            raise ValueError(f"axis={axis!r} names an axis twice")
        self.axes = axes
        self.bsz = tuple(
            max(self.shape[a], 1) if b is None else int(b) for a, b in zip(axes, sizes)
        )
        self.nblk = tuple(-(-self.shape[a] // b) for a, b in zip(axes, self.bsz))
        sshape = list(self.shape)
        for a, nb in zip(axes, self.nblk):
            sshape[a] = nb
        self.scale_shape = tuple(sshape)
        self.others = tuple(d for d in range(ndim) if d not in axes)
        self.perm = self.others + axes
        self.direct = axes == (ndim - 1,)
        if self.direct:
            self.R = math.prod(self.shape[:-1])
            self.n = self.shape[-1]
            self.bs = self.bsz[0]
        else:
            self.R = math.prod(self.shape[d] for d in self.others) * math.prod(self.nblk)
            self.n = math.prod(self.bsz)
            self.bs = self.n
        self.nb = -(-self.n // self.bs) if self.n else 0
        if self.direct and self.n == 0:
            self.nb = 0

    @property
    def padded(self) -> bool:
        """Whether some block axis is not a multiple of its block."""
        return any(self.shape[a] % b for a, b in zip(self.axes, self.bsz))

    # ---- elements ----------------------------------------------------------------------
    def gather(self, a: np.ndarray, fill: Any = 0) -> np.ndarray:
        """The rows (R, n) of an array of the layout's shape (a view where possible)."""
        if self.direct:
            return np.ascontiguousarray(a).reshape(self.R, self.n)
        t = a.transpose(self.perm)
        no = len(self.others)
        pads = [(0, 0)] * no + [
            (0, nb * b - self.shape[ax]) for ax, nb, b in zip(self.axes, self.nblk, self.bsz)
        ]
        if any(p[1] for p in pads):
            t = np.pad(t, pads, constant_values=fill)
        split = [self.shape[d] for d in self.others]
        for nb, b in zip(self.nblk, self.bsz):
            split += [nb, b]
        t = t.reshape(split)
        k = len(self.axes)
        order = list(range(no)) + [no + 2 * i for i in range(k)] + [no + 2 * i + 1 for i in range(k)]
        return np.ascontiguousarray(t.transpose(order)).reshape(self.R, self.n)

    def scatter(self, rows: np.ndarray) -> np.ndarray:
        """The inverse of gather: rows (R, n) back to the layout's shape (may be a view)."""
        if self.direct:
            return rows.reshape(self.shape)
        no = len(self.others)
        k = len(self.axes)
        t = rows.reshape([self.shape[d] for d in self.others] + list(self.nblk) + list(self.bsz))
        order = list(range(no))
        for i in range(k):
            order += [no + i, no + k + i]
        t = t.transpose(order).reshape(
            [self.shape[d] for d in self.others]
            + [nb * b for nb, b in zip(self.nblk, self.bsz)]
        )
        t = t[tuple([slice(None)] * no + [slice(0, self.shape[a]) for a in self.axes])]
        return t.transpose(np.argsort(self.perm))

    def indices(self) -> np.ndarray:
        """Each row element's flat C-order index in the original array (int64)."""
        size = math.prod(self.shape)
        return self.gather(np.arange(size, dtype=np.int64).reshape(self.shape), fill=0)

    # ---- scales ------------------------------------------------------------------------
    def scales_out(self, s2: np.ndarray) -> np.ndarray:
        """Per-block values (R, nb) in the scale shape (the array's axis order)."""
        if self.direct:
            return s2.reshape(self.scale_shape)
        t = s2.reshape([self.shape[d] for d in self.others] + list(self.nblk))
        return np.ascontiguousarray(t.transpose(np.argsort(self.perm)))

    def scales_in(self, s: np.ndarray) -> np.ndarray:
        """Per-block values in the scale shape as (R, nb) rows (contiguous)."""
        if self.direct:
            return np.ascontiguousarray(s).reshape(self.R, self.nb)
        return np.ascontiguousarray(s.transpose(self.perm)).reshape(self.R, 1)

    def expand(self, s: np.ndarray) -> np.ndarray:
        """A per-block array (scale shape) repeated over each block's elements."""
        for a, b in zip(self.axes, self.bsz):
            s = np.repeat(s, b, axis=a)[(slice(None),) * a + (slice(0, self.shape[a]),)]
        return s
