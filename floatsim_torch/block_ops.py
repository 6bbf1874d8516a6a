"""The block casts as torch operators: ``floatsim::block_quantize``,
``block_quantize_out``, ``block_encode`` and ``block_decode``.

As in :mod:`floatsim_torch.ops`: block formats and axes travel as ints
(:mod:`floatsim_torch.spec`), CPU tensors reach the core as numpy views of
their memory, CUDA tensors go to ``floatsim.blocks`` itself (its CUDA
kernels, torch's current stream and allocator).

``block_encode`` always returns four tensors: element codes, scale codes, the
tensor scale (a 0-d float64 tensor; shape (0,) for one-level formats) and the
zero points (int64 in the scales' shape; shape (0,) unless the rule is
'minmax').  The public wrapper turns the placeholders into None.

``block_decode`` of CUDA tensors is computed here from torch operations (the
core decodes block codes on the host only): element and scale codes are
decoded by ``floatsim.decode`` on the device into float64, multiplied exactly
in float64, and rounded once into the result dtype, as the core does; the
same code is tested against the core on the CPU.  On CUDA it does not range-
check integer element codes (that would need a device-to-host sync).

Example:
    >>> import torch, floatsim as fs
    >>> from floatsim_torch.block_ops import scale_shape
    >>> scale_shape((4, 64), fs.blocks.format("mxfp8"), -1)
    (4, 2)
    >>> scale_shape((48, 40), fs.blocks.format("nvfp4_16x16"), -1)
    (3, 3)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import floatsim as fs
from floatsim.blocks import BlockFormat, IntFormat, ScaleRule

from . import autograd, ops, views
from .dispatch import memo
from .spec import axis_from_ints, block_from_ints

__all__ = ["decode_torch", "element_code_dtype", "expand_scales", "scale_shape"]


# ---- shapes ----------------------------------------------------------------------------


def _axes(shape: tuple, bf: BlockFormat, axis: Any) -> tuple[tuple[int, ...], tuple]:
    """The block axes (normalised) and their block sizes (None: the whole axis),
    checked as floatsim.blocks checks them."""
    ndim = max(len(shape), 1)  # a 0-d tensor is blocked as shape (1,)
    if bf.block is None:
        raw = tuple(range(ndim)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
        sizes: tuple = (None,) * len(raw)
    else:
        k = len(bf.block)
        if axis is None:
            raise ValueError(f"axis=None (every axis) needs a block format with block=None; this one "
                             f"has block={bf.block}: pass the axis (or {k} axes) the blocks run along")
        raw = axis if isinstance(axis, tuple) else (tuple(range(-k, 0)) if k > 1 and axis == -1
                                                    else (axis,))
        if len(raw) != k:
            raise ValueError(f"block={bf.block} is a rank-{k} tile but axis={axis!r} names "
                             f"{len(raw)} axes; pass {k} axes (e.g. axis={tuple(range(-k, 0))})")
        if ndim < k:
            raise ValueError(f"block={bf.block} is a rank-{k} tile; x has only {ndim} dimension(s)")
        sizes = bf.block
    axes = []
    for a in raw:
        if isinstance(a, bool) or not isinstance(a, int) or not -ndim <= a < ndim:
            raise ValueError(f"axis={axis!r} is out of range for a tensor of {ndim} dimension(s); "
                             f"allowed: {-ndim}..{ndim - 1}")
        axes.append(a % ndim)
    if len(set(axes)) != len(axes):
        raise ValueError(f"axis={axis!r} names an axis twice")
    return tuple(axes), tuple(sizes)


def scale_shape(shape: Any, bf: BlockFormat, axis: Any) -> tuple:
    """The shape of the scales of a tensor of ``shape``: each block axis
    shortened to its number of blocks (sizes may be symbolic)."""
    full = tuple(shape) if len(shape) else (1,)
    axes, sizes = _axes(tuple(shape), bf, axis)
    out = list(full)
    for a, b in zip(axes, sizes):
        out[a] = 1 if b is None else -(-full[a] // b)
    return tuple(out)


def expand_scales(s: torch.Tensor, shape: Any, bf: BlockFormat, axis: Any) -> torch.Tensor:
    """Per-block values (the scales' shape) repeated over each block's
    elements, in ``shape`` (torch operations, any device)."""
    full = tuple(shape) if len(shape) else (1,)
    axes, sizes = _axes(tuple(shape), bf, axis)
    for a, b in zip(axes, sizes):
        n = full[a]
        if b is None:
            s = s.expand(*s.shape[:a], n, *s.shape[a + 1:])
        else:
            s = s.repeat_interleave(b, dim=a).narrow(a, 0, n)
    return s.reshape(tuple(shape))


def element_code_dtype(bf: BlockFormat) -> torch.dtype:
    """The torch dtype of a block format's element codes."""
    el = bf.element
    if isinstance(el, IntFormat):  # two's complement / unsigned codes of el.bits bits
        return next(dt for dt in (torch.uint8, torch.uint16, torch.uint32, torch.uint64)
                    if el.bits <= dt.itemsize * 8)
    return views.code_torch_dtype(fs.code_dtype(el))


# ---- argument conversion ---------------------------------------------------------------


def _host(t: torch.Tensor | None) -> np.ndarray | None:
    # the core's GPU block path takes amax= from the host (it checks it there and copies it
    # to the device): a CUDA amax costs a device-to-host copy, as a tensor scale does
    if t is None:
        return None
    return views.host_view(t) if t.is_cpu else t.detach().cpu().numpy()


def _tscale(t: torch.Tensor | None) -> float | None:
    # a CUDA tensor scale costs a device-to-host copy: the core takes it as a number
    return None if t is None else float(t.reshape(()).item())


@memo
def _static(bfmt: tuple[int, ...], rounding: int, axis: tuple[int, ...],
            sr_bits: int) -> tuple[BlockFormat, dict[str, Any]]:
    return block_from_ints(bfmt), dict(rounding=fs.Rounding(rounding), axis=axis_from_ints(axis),
                                       sr_bits=int(sr_bits) or None)


def _call_kw(bfmt: list[int], rounding: int, axis: list[int], seed: int | None, stream: int,
             sr_bits: int, amax: torch.Tensor | None, tensor_scale: torch.Tensor | None,
             stream_tensor: torch.Tensor | None = None) -> tuple[BlockFormat, dict[str, Any]]:
    """The BlockFormat and the core's keyword arguments from the ops' primitive ones."""
    bf, kw = _static(tuple(bfmt), rounding, tuple(axis), sr_bits)
    return bf, {**kw, "seed": ops.seed_from_int(seed),
                "stream": ops.stream_value(stream, stream_tensor), "amax": _host(amax),
                "tensor_scale": _tscale(tensor_scale)}



# ---- quantize --------------------------------------------------------------------------


def quantize_into(x: torch.Tensor, bf: BlockFormat, kw: dict[str, Any], out: torch.Tensor) -> None:
    """Write ``fs.blocks.quantize(x, bf, **kw)`` into ``out`` (x's device and shape)."""
    views.check_device(x, "x")
    if views.bf16_detour(x.dtype, out.dtype) or not out.is_contiguous():
        out.copy_(quantize_new(x, bf, kw, out.dtype))
    elif x.is_cpu:
        fs.blocks.quantize(views.host_view(x), bf, out=views.host_view(out), **kw)
    else:
        fs.blocks.quantize(x.contiguous(), bf, out=out, **kw)


def quantize_new(x: torch.Tensor, bf: BlockFormat, kw: dict[str, Any],
                 out_dtype: torch.dtype | None) -> torch.Tensor:
    """``fs.blocks.quantize(x, bf, **kw)`` as a new contiguous tensor."""
    views.check_device(x, "x")
    dt = x.dtype if out_dtype is None else out_dtype
    if views.bf16_detour(x.dtype, dt):  # through float64: the result is rounded once into dt
        xf = x.float() if x.dtype == torch.bfloat16 else x
        return ops.to_dtype(quantize_new(xf, bf, kw, torch.float64), dt)
    if x.is_cuda:  # out_dtype=None where it is x's: the core's per-call path
        odt = None if dt == x.dtype else views.numpy_dtype(dt)
        return fs.blocks.quantize(x.contiguous(), bf, out_dtype=odt, **kw)
    out = torch.empty(x.shape, dtype=dt, device=x.device)
    fs.blocks.quantize(views.host_view(x), bf, out=views.host_view(out), **kw)
    return out


def quantize_kernel(x: torch.Tensor, bfmt: list[int], rounding: int, axis: list[int], seed: int | None,
             stream: int, sr_bits: int, amax: torch.Tensor | None,
             tensor_scale: torch.Tensor | None, out_dtype: torch.dtype | None, grad: list[int],
             grad_seed: int | None, grad_stream: int,
             stream_tensor: torch.Tensor | None = None) -> torch.Tensor:
    """``fs.blocks.quantize`` of a tensor; ``grad*`` tell the backward what to do;
    ``stream_tensor``, when given, is the stream (in place of ``stream``)."""
    bf, kw = _call_kw(bfmt, rounding, axis, seed, stream, sr_bits, amax, tensor_scale,
                      stream_tensor)
    return quantize_new(x, bf, kw, out_dtype)


quantize = torch.library.custom_op("floatsim::block_quantize", quantize_kernel, mutates_args=())


@quantize.register_fake
def _(x, bfmt, rounding, axis, seed, stream, sr_bits, amax, tensor_scale, out_dtype, grad,
      grad_seed, grad_stream, stream_tensor=None):
    scale_shape(x.shape, block_from_ints(bfmt), axis_from_ints(axis))  # checks the axes
    return x.new_empty(x.shape, dtype=x.dtype if out_dtype is None else out_dtype)


def quantize_out_kernel(x: torch.Tensor, bfmt: list[int], rounding: int, axis: list[int],
                 seed: int | None, stream: int, sr_bits: int, amax: torch.Tensor | None,
                 tensor_scale: torch.Tensor | None, out: torch.Tensor,
                 stream_tensor: torch.Tensor | None = None) -> None:
    """``fs.blocks.quantize(..., out=out)`` of a tensor."""
    bf, kw = _call_kw(bfmt, rounding, axis, seed, stream, sr_bits, amax, tensor_scale,
                      stream_tensor)
    quantize_into(x, bf, kw, out)


quantize_out = torch.library.custom_op("floatsim::block_quantize_out", quantize_out_kernel, mutates_args=("out",))


@quantize_out.register_fake
def _(x, bfmt, rounding, axis, seed, stream, sr_bits, amax, tensor_scale, out,
      stream_tensor=None):
    scale_shape(x.shape, block_from_ints(bfmt), axis_from_ints(axis))
    return None


autograd.register_block()


# ---- encode ----------------------------------------------------------------------------


def _from_host(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.require(a, requirements="C"))


def encode_kernel(x: torch.Tensor, bfmt: list[int], rounding: int, axis: list[int], seed: int | None,
           stream: int, sr_bits: int, amax: torch.Tensor | None,
           tensor_scale: torch.Tensor | None, stream_tensor: torch.Tensor | None = None
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``fs.blocks.encode`` of a tensor: (elements, scales, tensor scale, zero points)."""
    bf, kw = _call_kw(bfmt, rounding, axis, seed, stream, sr_bits, amax, tensor_scale,
                      stream_tensor)
    views.check_device(x, "x")
    if views.bf16_detour(x.dtype):
        x = x.float()  # exact; the core reads bfloat16 as float32
    if x.is_cuda:
        res = fs.blocks.encode(x.contiguous(), bf, **kw)
        elems, scales, zps = res.elements, res.scales, res.zero_points
    else:
        res = fs.blocks.encode(views.host_view(x), bf, **kw)
        elems, scales, zps = (None if r is None else _from_host(r)
                              for r in (res.elements, res.scales, res.zero_points))
    dev = x.device
    t = torch.zeros(0, dtype=torch.float64, device=dev)
    z = torch.zeros(0, dtype=torch.int64, device=dev)
    if res.tensor_scale is not None:
        t = torch.as_tensor(res.tensor_scale, dtype=torch.float64, device=dev).reshape(())
    if zps is not None:
        z = zps
    return elems, scales, t, z


encode = torch.library.custom_op("floatsim::block_encode", encode_kernel, mutates_args=())


@encode.register_fake
def _(x, bfmt, rounding, axis, seed, stream, sr_bits, amax, tensor_scale, stream_tensor=None):
    bf = block_from_ints(bfmt)
    sshape = scale_shape(x.shape, bf, axis_from_ints(axis))
    elems = x.new_empty(x.shape, dtype=element_code_dtype(bf))
    scales = x.new_empty(sshape, dtype=views.code_torch_dtype(fs.code_dtype(bf.scale)))
    t = x.new_empty(() if bf.tensor_format is not None else (0,), dtype=torch.float64)
    z = x.new_empty(sshape if bf.rule is ScaleRule.MINMAX else (0,), dtype=torch.int64)
    return elems, scales, t, z


# ---- decode ----------------------------------------------------------------------------


def _element_values(elements: torch.Tensor, bf: BlockFormat) -> torch.Tensor:
    el = bf.element
    if isinstance(el, IntFormat):
        q = elements.to(torch.int64)
        if el.signed:
            q = torch.where(q >= 1 << (el.bits - 1), q - (1 << el.bits), q)
        return q.to(torch.float64) * 2.0**-el.frac_bits
    return ops.decode_new(elements, el, torch.float64)


def decode_torch(elements: torch.Tensor, scales: torch.Tensor, bf: BlockFormat, axis: Any,
                 tensor_scale: torch.Tensor | None, zero_points: torch.Tensor | None,
                 dtype: torch.dtype) -> torch.Tensor:
    """``fs.blocks.decode`` in torch operations (the CUDA path; see the module
    docstring).  It runs inside an op's kernel, on real tensors."""
    ev = _element_values(elements, bf)
    sv = expand_scales(ops.decode_new(scales, bf.scale, torch.float64), elements.shape, bf, axis)
    if bf.rule is ScaleRule.MINMAX:
        ev = ev - expand_scales(zero_points.to(torch.float64), elements.shape, bf, axis)
    v = ev * sv
    if bf.tensor_format is not None:
        v = v * tensor_scale.to(device=v.device, dtype=torch.float64)
    return ops.to_dtype(v, dtype)


def decode_kernel(elements: torch.Tensor, scales: torch.Tensor, bfmt: list[int], axis: list[int],
           tensor_scale: torch.Tensor | None, zero_points: torch.Tensor | None,
           dtype: torch.dtype) -> torch.Tensor:
    """``fs.blocks.decode``: ``element * scale [* tensor_scale]`` as ``dtype``."""
    bf = block_from_ints(bfmt)
    ax = axis_from_ints(axis)
    views.check_device(elements, "elements")
    if elements.is_cuda:
        return decode_torch(elements, scales, bf, ax, tensor_scale, zero_points, dtype)
    kdt = torch.float64 if views.bf16_detour(dtype) else dtype
    y = fs.blocks.decode(views.host_view(elements), views.host_view(scales), bf, axis=ax,
                         tensor_scale=_tscale(tensor_scale), zero_points=_host(zero_points),
                         dtype=views.numpy_dtype(kdt))
    if kdt == torch.bfloat16:
        t = torch.from_numpy(np.require(y, requirements="C").view(np.uint16)).view(torch.bfloat16)
    else:
        t = torch.from_numpy(np.require(y, requirements="C"))
    return ops.to_dtype(t, dtype)


decode = torch.library.custom_op("floatsim::block_decode", decode_kernel, mutates_args=())


@decode.register_fake
def _(elements, scales, bfmt, axis, tensor_scale, zero_points, dtype):
    return elements.new_empty(elements.shape, dtype=dtype)
