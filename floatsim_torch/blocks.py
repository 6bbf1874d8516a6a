"""``floatsim_torch.blocks.quantize / encode / decode``: block formats (MX,
NVFP4, BFP, INTn, per-tensor / per-channel scaling) on torch tensors.

Same arguments and semantics as :mod:`floatsim.blocks` (docs/blocks.md): any
:class:`~floatsim.blocks.BlockFormat`, blocks along any axis, 2-D / 3-D
tiles, two-level formats (NVFP4's per-tensor scale), delayed scaling through
``amax=`` and ``tensor_scale=`` (tensors or numbers).  ``encode`` returns a
:class:`BlockEncoding` and ``decode`` takes one back.  ``quantize`` has the
autograd options of :func:`floatsim_torch.quantize`.

On CUDA, ``amax=`` must be a CPU tensor (the core reads it on the host) and a
CUDA ``tensor_scale=`` is read back to the host (a sync); the tensor scale
that ``encode`` computes itself stays on the device.

Example:
    >>> import torch, floatsim_torch as ft
    >>> x = torch.tensor([[0.5, -3.0, 100.0, 7.0]])
    >>> ft.blocks.quantize(x, "mxfp4_e2m1").tolist()
    [[0.0, -0.0, 96.0, 8.0]]
    >>> enc = ft.blocks.encode(x, "mxfp4_e2m1")
    >>> enc.elements.tolist(), enc.scales.tolist(), enc.tensor_scale
    ([[0, 8, 7, 1]], [[131]], None)
    >>> ft.blocks.decode(enc, "mxfp4_e2m1").tolist()
    [[0.0, -0.0, 96.0, 8.0]]
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

import floatsim as fs
from floatsim.blocks import BlockFormat, ScaleRule

from . import autograd, block_ops, ops, views
from .dispatch import FUNCTION, KERNEL, OP, memo, route
from .spec import axis_ints, block_ints

__all__ = ["BlockEncoding", "decode", "encode", "quantize"]

Axis = int | tuple[int, ...] | None


class BlockEncoding(NamedTuple):
    """What :func:`encode` returns: element codes (x's shape), scale codes
    (x's shape with each block axis shortened to its number of blocks), the
    tensor scale of a two-level format (a 0-d float64 tensor; None for one
    level) and the zero points of rule 'minmax' (int64, the scales' shape;
    None otherwise)."""

    elements: torch.Tensor
    scales: torch.Tensor
    tensor_scale: torch.Tensor | None = None
    zero_points: torch.Tensor | None = None


def _block_format(bfmt: Any) -> BlockFormat:
    if isinstance(bfmt, fs.Format):
        raise TypeError(
            f"bfmt={bfmt} is an element Format; block casts take a BlockFormat or a block "
            "format name (floatsim.blocks.names()); use floatsim_torch.quantize for element-wise casts"
        )
    return fs.blocks.format(bfmt)


def _scalar_tensor(v: Any, what: str, x: torch.Tensor) -> torch.Tensor | None:
    """``amax=`` / ``tensor_scale=`` as a float64 tensor (a number or array becomes one on the CPU)."""
    if v is None:
        return None
    if isinstance(v, torch.Tensor):
        v = views.check_tensor(v, what)
        if v.device != x.device and v.device.type != "cpu":
            raise ValueError(f"{what} is on {v.device} but x is on {x.device}")
        if v.is_complex() or v.dtype == torch.bool:
            raise TypeError(f"{what} has dtype {v.dtype}; it must hold real numbers")
        return v.to(torch.float64)
    return torch.as_tensor(v, dtype=torch.float64)


def block_args(x: Any, bfmt: Any, rounding: Any, axis: Any, seed: Any, stream: Any,
               sr_bits: Any, amax: Any,
               tensor_scale: Any) -> tuple[tuple, BlockFormat, torch.Tensor | None]:
    """Validate the arguments shared by quantize and encode; return them as
    the block ops take them, the BlockFormat and the stream tensor (the ops'
    last argument; None for an int stream)."""
    x = views.check_float(x, "x")
    bf, bints, r, axints, sr = _static(bfmt, rounding, axis, sr_bits)
    _check_axes(tuple(x.shape), bf, axis)
    st_int, st = ops.check_stream_arg(stream)
    args = (x, bints, r, axints, ops.check_seed(seed), st_int, sr,
            _scalar_tensor(amax, "amax", x), _scalar_tensor(tensor_scale, "tensor_scale", x))
    return args, bf, st


@memo
def _static(bfmt: Any, rounding: Any, axis: Any,
            sr_bits: Any) -> tuple[BlockFormat, list[int], int, list[int], int]:
    """The call-independent arguments checked and converted (cached)."""
    bf = _block_format(bfmt)
    r = fs.Rounding.parse(rounding)
    if axis is not None and not isinstance(axis, (int, tuple)) or isinstance(axis, bool):
        raise TypeError(f"axis={axis!r} must be an int, a tuple of ints or None")
    return bf, list(block_ints(bf)), r.value, list(axis_ints(axis)), ops.check_sr_bits(sr_bits)


@memo
def _check_axes(shape: tuple, bf: BlockFormat, axis: Any) -> None:
    block_ops.scale_shape(shape, bf, axis)  # raises, as the core would, for axes x lacks


def quantize(
    x: torch.Tensor,
    bfmt: BlockFormat | str,
    rounding: fs.Rounding | str = "nearest_even",
    *,
    axis: Axis = -1,
    seed: int | None = None,
    stream: int | torch.Tensor = 0,
    sr_bits: int | None = None,
    amax: Any = None,
    tensor_scale: Any = None,
    out: torch.Tensor | None = None,
    out_dtype: torch.dtype | None = None,
    ste: str = "identity",
    grad_format: fs.Format | str | None = None,
    grad_block: BlockFormat | str | None = None,
    grad_axis: Axis = None,
    grad_rounding: fs.Rounding | str | None = None,
    grad_sr_bits: int | None = None,
    grad_seed: int | None = None,
    grad_stream: int | None = None,
) -> torch.Tensor:
    """Fake-quantize ``x`` in a block format: every value becomes ``element *
    scale [* tensor_scale]``, as :func:`floatsim.blocks.quantize` gives it.

    Arguments as for :func:`floatsim.blocks.quantize`, plus the autograd
    options of :func:`floatsim_torch.quantize` (``ste="clipped"`` zeroes the
    gradient outside each block's range; ``grad_axis`` defaults to ``axis``
    for ``grad_block=``).

    Example:
        >>> import torch, floatsim_torch as ft
        >>> x = torch.linspace(-1, 1, 64).reshape(2, 32)
        >>> y = ft.blocks.quantize(x, "mxfp8_e4m3")
        >>> bool((y - x).abs().max() < 2**-4)
        True
    """
    args, bf, st = block_args(x, bfmt, rounding, axis, seed, stream, sr_bits, amax, tensor_scale)
    x = args[0]
    odt = None if out_dtype is None else views.float_dtype(out_dtype)
    grad, gseed, gstream = autograd.grad_args(
        ste, grad_format, grad_block, grad_axis, grad_rounding, grad_sr_bits, grad_seed,
        grad_stream, seed, args[5], default_axis=axis, stream_is_tensor=st is not None)
    tensors = (x, args[7], args[8], st)
    if out is not None:
        out = views.check_out(out, x, tuple(x.shape), odt)
        views.float_dtype(out.dtype, "out.dtype")
        views.check_no_grad_out(x)
        if route(*tensors, out) != OP:
            block_ops.quantize_out_kernel(*args, out, st)
        else:
            block_ops.quantize_out(*args, out, st)
        return out
    full = (*args, odt, grad, gseed, gstream, st)
    how = route(*tensors)
    if how == KERNEL:
        return block_ops.quantize_kernel(*full)
    if how == FUNCTION:
        return autograd.BlockQuantizeFunction.apply(*full)
    return block_ops.quantize(*full)


def encode(
    x: torch.Tensor,
    bfmt: BlockFormat | str,
    rounding: fs.Rounding | str = "nearest_even",
    *,
    axis: Axis = -1,
    seed: int | None = None,
    stream: int | torch.Tensor = 0,
    sr_bits: int | None = None,
    amax: Any = None,
    tensor_scale: Any = None,
) -> BlockEncoding:
    """Encode ``x`` in a block format: a :class:`BlockEncoding` of codes.

    Arguments as for :func:`quantize`.  As in the core, NaN in a block whose
    scale type has NaN makes its scale NaN; elsewhere NaN into an element
    format without NaN raises ValueError on the CPU (the all-ones code on CUDA).

    Example:
        >>> import torch, floatsim_torch as ft
        >>> e = ft.blocks.encode(torch.tensor([[3.0, -1.5] * 8]), "nvfp4")
        >>> e.elements[0, :2].tolist(), e.scales.tolist(), e.tensor_scale.item()
        ([7, 13], [[126]], 0.0011160714784637094)
    """
    args, bf, st = block_args(x, bfmt, rounding, axis, seed, stream, sr_bits, amax, tensor_scale)
    if route(args[0], args[7], args[8], st) != OP:
        e, s, t, z = block_ops.encode_kernel(*args, st)
    else:
        e, s, t, z = block_ops.encode(*args, st)
    return BlockEncoding(e, s, t if bf.tensor_format is not None else None,
                         z if bf.rule is ScaleRule.MINMAX else None)


def decode(
    encoded: Any,
    scales_or_bfmt: Any,
    bfmt: BlockFormat | str | None = None,
    /,
    *,
    axis: Axis = -1,
    tensor_scale: Any = None,
    zero_points: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The values of encoded blocks, ``element * scale [* tensor_scale]``
    (``(q - zero_point) * scale`` for 'minmax'), exact in float64 and rounded
    once into ``dtype``.

    Two call forms: ``decode(encoded, bfmt)`` with what :func:`encode`
    returned (a :class:`BlockEncoding`, any object with ``elements`` and
    ``scales`` attributes, or the core's tuple), or the core's
    ``decode(elements, scales, bfmt, tensor_scale=..., zero_points=...)``.

    Example:
        >>> import torch, floatsim_torch as ft, floatsim as fs
        >>> e = torch.tensor([[7, 9]], dtype=torch.uint8); s = torch.tensor([[130]], dtype=torch.uint8)
        >>> bf = fs.blocks.format("mxfp4_e2m1").with_(block=2)
        >>> ft.blocks.decode(e, s, bf).tolist()
        [[48.0, -4.0]]
    """
    if isinstance(scales_or_bfmt, torch.Tensor):
        scales = scales_or_bfmt
        if bfmt is None:
            raise TypeError("decode(elements, scales, bfmt): the block format is missing")
    else:
        scales, bfmt = None, scales_or_bfmt if bfmt is None else bfmt
    bf = _block_format(bfmt)
    elements, scales, tensor_scale, zero_points = _parts(encoded, bf, scales, tensor_scale,
                                                         zero_points)
    elements = views.check_codes(elements, "elements")
    scales = views.check_codes(scales, "scales")
    if scales.device != elements.device:
        raise ValueError(f"scales is on {scales.device} but elements is on {elements.device}")
    want = block_ops.scale_shape(elements.shape, bf, axis)
    if tuple(scales.shape) != tuple(want):
        raise ValueError(
            f"scales has shape {tuple(scales.shape)}; elements of shape {tuple(elements.shape)} in "
            f"blocks of {bf.block} along axis={axis!r} need scales of shape {tuple(want)}"
        )
    if bf.tensor_format is not None and tensor_scale is None:
        raise ValueError(f"{bf} is a two-level format: pass its tensor_scale (encode's third result)")
    if bf.tensor_format is None and tensor_scale is not None:
        raise ValueError(f"tensor_scale= applies to two-level formats only; {bf} has none")
    if bf.rule is ScaleRule.MINMAX:
        if zero_points is None:
            raise ValueError("rule='minmax' blocks need zero_points= (encode's fourth result)")
        zero_points = views.check_codes(zero_points, "zero_points")
    elif zero_points is not None:
        raise ValueError("zero_points= applies to rule='minmax' formats only")
    t = _scalar_tensor(tensor_scale, "tensor_scale", elements)
    dt = views.float_dtype(dtype, "dtype")
    args = (elements, scales, list(block_ints(bf)), list(axis_ints(axis)), t, zero_points, dt)
    if route(elements, scales, t, zero_points) != OP:
        return block_ops.decode_kernel(*args)
    return block_ops.decode(*args)


def _parts(encoded: Any, bf: BlockFormat, scales: Any, tensor_scale: Any,
           zero_points: Any) -> tuple:
    """(elements, scales, tensor_scale, zero_points) from decode's arguments."""
    if isinstance(encoded, torch.Tensor):
        if scales is None:
            raise TypeError("decode(elements, bfmt) needs the scales: decode(elements, scales, "
                            "bfmt), or pass encode()'s result")
        return encoded, scales, tensor_scale, zero_points
    if hasattr(encoded, "elements") and hasattr(encoded, "scales"):
        e, s = encoded.elements, encoded.scales
        t = getattr(encoded, "tensor_scale", None)
        z = getattr(encoded, "zero_points", None)
    elif isinstance(encoded, tuple) and len(encoded) in (2, 3, 4):
        e, s, *rest = encoded
        t = z = None
        if len(rest) == 2:
            t, z = rest
        elif rest:  # the core's 3-tuples: (e, s, tensor_scale) or (e, s, zero_points)
            t, z = (rest[0], None) if bf.tensor_format is not None else (None, rest[0])
    else:
        raise TypeError(
            f"encoded must be encode()'s result (a BlockEncoding or tuple) or element codes; got "
            f"{type(encoded).__name__}"
        )
    return (e, s, tensor_scale if tensor_scale is not None else t,
            zero_points if zero_points is not None else z)
