"""Formats, block formats, axes and gradient options as primitive values.

A torch operator's schema holds only tensors, ints, floats, bools and dtypes,
so the ops of :mod:`floatsim_torch.ops` carry a :class:`floatsim.Format` as a
tuple of ints and a :class:`floatsim.blocks.BlockFormat` as a longer one.
This module is the one place that writes and reads those tuples; the public
wrappers take Format objects and the ops' kernels turn the ints back into
them.  Every encoding round-trips exactly: ``format_from_ints(format_ints(f))
== f``, and a format seen before comes back as the same (named) object, so
error messages still show its name.

Layouts (all ints; a list in the schema):

* Format: ``(ebits, mbits, signed, bias, subnormals, has_zero, specials,
  overflow)``, the last two as the index of the member in
  :class:`floatsim.Specials` / :class:`floatsim.Overflow`.
* IntFormat (a block element): ``(-1, bits, signed, narrow, frac_bits, 0, 0, 0)``
  (a negative first entry, which no Format has).
* BlockFormat: element (8), scale (8), ``len(block)`` (-1 for ``None``), the
  block entries (0 for a whole axis), the rule's index, the tensor format (8;
  all -2 without one), ``scale_bound`` as ``(m, e)`` with ``m * 2**e`` exact,
  the element overflow's index (-1: None), the scale overflow's index.
* axis: ``(0,)`` for None, ``(1, a)`` for an int, ``(2, a1, ..., ak)`` for a tuple.

Example:
    >>> import floatsim as fs
    >>> from floatsim_torch.spec import block_from_ints, block_ints, format_from_ints, format_ints
    >>> format_ints(fs.format("e4m3"))
    (4, 3, 1, 7, 1, 1, 1, 2)
    >>> format_from_ints([4, 3, 1, 7, 1, 1, 1, 2]).name
    'float8_e4m3fn'
    >>> block_from_ints(block_ints(fs.blocks.format("nvfp4"))).name
    'nvfp4'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import floatsim as fs
from floatsim.blocks import BlockFormat, IntFormat, ScaleRule

__all__ = [
    "FORMAT_LEN",
    "GradSpec",
    "axis_from_ints",
    "axis_ints",
    "block_from_ints",
    "block_ints",
    "format_from_ints",
    "format_ints",
    "grad_from_ints",
    "grad_ints",
    "overflow_from_int",
    "overflow_int",
]

#: Ints per Format (and per IntFormat).
FORMAT_LEN = 8
_SPECIALS = list(fs.Specials)
_OVERFLOWS = list(fs.Overflow)
_RULES = list(ScaleRule)
_SCALE_OVERFLOWS = ("saturate", "nan", "raise")
_NO_TENSOR = (-2,) * FORMAT_LEN

# Objects seen by the encoders, so that decoding gives back the named original.
_SEEN: dict[tuple[int, ...], object] = {}


def format_ints(fmt: fs.Format | IntFormat) -> tuple[int, ...]:
    """A Format (or a block's IntFormat element) as FORMAT_LEN ints."""
    if isinstance(fmt, IntFormat):
        key = (-1, fmt.bits, int(fmt.signed), int(fmt.narrow), fmt.frac_bits, 0, 0, 0)
    else:
        key = (fmt.ebits, fmt.mbits, int(fmt.signed), fmt.bias, int(fmt.subnormals),
               int(fmt.has_zero), _SPECIALS.index(fmt.specials), _OVERFLOWS.index(fmt.overflow))
    _SEEN[key] = fmt  # decoding gives this object back (its name shows in messages)
    return key


def format_from_ints(ints: Sequence[int]) -> fs.Format | IntFormat:
    """The inverse of :func:`format_ints`."""
    return _format_from_key(tuple(int(i) for i in ints))


def _format_from_key(key: tuple[int, ...]) -> fs.Format | IntFormat:
    seen = _SEEN.get(key)
    if seen is not None:
        return seen  # type: ignore[return-value]
    if len(key) != FORMAT_LEN:
        raise ValueError(f"a format is {FORMAT_LEN} ints; got {len(key)}: {key}")
    if key[0] == -1:
        f: fs.Format | IntFormat = IntFormat(bits=key[1], signed=bool(key[2]),
                                             narrow=bool(key[3]), frac_bits=key[4])
    else:
        e, m, signed, bias, sub, zero, sp, ov = key
        f = fs.Format(ebits=e, mbits=m, signed=bool(signed), bias=bias, subnormals=bool(sub),
                      has_zero=bool(zero), specials=_SPECIALS[sp], overflow=_OVERFLOWS[ov])
    return _SEEN.setdefault(key, f)  # type: ignore[return-value]


def _float_ints(v: float) -> tuple[int, int]:
    """A finite float as (integer significand, exponent), exactly: v = m * 2**e.
    (Plain int arithmetic, which Dynamo traces; it loops on struct.pack.)"""
    m, e = math.frexp(v)
    return int(m * (1 << 53)), e - 53


def _ints_float(m: int, e: int) -> float:
    return math.ldexp(m, e)


def block_ints(bf: BlockFormat) -> tuple[int, ...]:
    """A BlockFormat as ints (layout in the module docstring)."""
    block = bf.block
    shape = (-1,) if block is None else (len(block), *(0 if b is None else b for b in block))
    tensor = _NO_TENSOR if bf.tensor_format is None else format_ints(bf.tensor_format)
    eov = -1 if bf.element_overflow is None else _OVERFLOWS.index(bf.element_overflow)
    key = (*format_ints(bf.element), *format_ints(bf.scale), *shape, _RULES.index(bf.rule),
           *tensor, *_float_ints(bf.scale_bound), eov, _SCALE_OVERFLOWS.index(bf.scale_overflow))
    _SEEN[key] = bf
    return key


def block_from_ints(ints: Sequence[int]) -> BlockFormat:
    """The inverse of :func:`block_ints`."""
    key = tuple(int(i) for i in ints)
    seen = _SEEN.get(key)
    if isinstance(seen, BlockFormat):
        return seen
    n = FORMAT_LEN
    element, scale = _format_from_key(key[:n]), _format_from_key(key[n:2 * n])
    k = key[2 * n]
    block = None if k == -1 else tuple(None if b == 0 else b for b in key[2 * n + 1:2 * n + 1 + k])
    i = 2 * n + 1 + max(k, 0)
    rule = _RULES[key[i]]
    tkey = key[i + 1:i + 1 + n]
    tensor = None if tkey == _NO_TENSOR else _format_from_key(tkey)
    bm, be, eov, sov = key[i + 1 + n:i + 5 + n]
    bf = BlockFormat(element=element, scale=scale, block=block, rule=rule, tensor_format=tensor,
                     scale_bound=_ints_float(bm, be),
                     element_overflow=None if eov == -1 else _OVERFLOWS[eov],
                     scale_overflow=_SCALE_OVERFLOWS[sov])
    return _SEEN.setdefault(key, bf)  # type: ignore[return-value]


def overflow_int(overflow: fs.Overflow | None) -> int:
    """An overflow policy (already validated) as an int; -1 for None."""
    return -1 if overflow is None else _OVERFLOWS.index(overflow)


def overflow_from_int(code: int) -> fs.Overflow | None:
    """The inverse of :func:`overflow_int`."""
    return None if code < 0 else _OVERFLOWS[code]


def axis_ints(axis: int | tuple[int, ...] | None) -> tuple[int, ...]:
    """A block call's ``axis=`` as ints (see the module docstring)."""
    if axis is None:
        return (0,)
    if isinstance(axis, tuple):
        return (2, *(int(a) for a in axis))
    return (1, int(axis))


def axis_from_ints(ints: Sequence[int]) -> int | tuple[int, ...] | None:
    """The inverse of :func:`axis_ints`."""
    tag = int(ints[0])
    if tag == 0:
        return None
    if tag == 1:
        return int(ints[1])
    return tuple(int(a) for a in ints[1:])


class GradSpec(NamedTuple):
    """What the backward of a quantize op does with the incoming gradient.

    ``clipped``: zero it where the forward saturated or overflowed;
    ``fmt``: None (pass it through), a Format (round it element-wise) or a
    BlockFormat (round it in blocks along ``axis``) with ``rounding`` and
    ``sr_bits`` (0: exact stochastic rounding).
    """

    clipped: bool = False
    fmt: fs.Format | BlockFormat | None = None
    rounding: fs.Rounding = fs.Rounding.NEAREST_EVEN
    sr_bits: int = 0
    axis: int | tuple[int, ...] | None = -1


def grad_ints(g: GradSpec) -> tuple[int, ...]:
    """A GradSpec as ints: ``(clipped, kind, rounding, sr_bits, len(axis),
    *axis, *format)`` with kind 0 (none), 1 (element) or 2 (block)."""
    if g.fmt is None:
        return (int(g.clipped), 0)
    ax = axis_ints(g.axis)
    if isinstance(g.fmt, BlockFormat):
        return (int(g.clipped), 2, g.rounding.value, g.sr_bits, len(ax), *ax, *block_ints(g.fmt))
    return (int(g.clipped), 1, g.rounding.value, g.sr_bits, len(ax), *ax, *format_ints(g.fmt))


def grad_from_ints(ints: Sequence[int]) -> GradSpec:
    """The inverse of :func:`grad_ints`."""
    key = tuple(int(i) for i in ints)
    clipped, kind = bool(key[0]), key[1]
    if kind == 0:
        return GradSpec(clipped=clipped)
    rounding, sr_bits, na = fs.Rounding(key[2]), key[3], key[4]
    axis = axis_from_ints(key[5:5 + na])
    rest = key[5 + na:]
    fmt = block_from_ints(rest) if kind == 2 else format_from_ints(rest)
    return GradSpec(clipped, fmt, rounding, sr_bits, axis)
