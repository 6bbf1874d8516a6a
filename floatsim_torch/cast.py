"""``floatsim_torch.quantize / encode / decode / pack / unpack``: the core's
element-wise casts on torch tensors, as torch operators with autograd.

Same names, arguments and results as :func:`floatsim.quantize` and friends
(docs/casting.md), on CPU and CUDA tensors; the results are tensors on the
input's device.  What is added: autograd (``ste=``, ``grad_*=``, see
:mod:`floatsim_torch.autograd`) and ``torch.compile`` support (the casts are
``floatsim::*`` operators, :mod:`floatsim_torch.ops`).  What is left out:
``cuda_stream=`` (the ops run on torch's current stream; use
``torch.cuda.stream(...)``).

Example:
    >>> import torch, floatsim_torch as ft
    >>> x = torch.tensor([0.3, 460.0, 1000.0])
    >>> ft.quantize(x, "e4m3").tolist()
    [0.3125, 448.0, nan]
    >>> codes = ft.encode(x, "e4m3", overflow="saturate"); codes.tolist(), codes.dtype
    ([42, 126, 126], torch.uint8)
    >>> ft.decode(codes, "e4m3").tolist()
    [0.3125, 448.0, 448.0]
"""

from __future__ import annotations

from typing import Any

import torch

import floatsim as fs
from floatsim.blocks import BlockFormat

from . import autograd, ops, views
from .dispatch import FUNCTION, KERNEL, OP, memo, route
from .spec import format_ints, overflow_int

__all__ = ["decode", "element_format", "encode", "pack", "unpack", "quantize"]

_UNSIGNED = {torch.int32: torch.uint32, torch.int64: torch.uint64,
             torch.uint32: torch.uint32, torch.uint64: torch.uint64}


def element_format(fmt: Any, what: str = "fmt") -> fs.Format:
    """``fmt`` as a Format; a block format is refused with a pointer to
    :mod:`floatsim_torch.blocks`."""
    if isinstance(fmt, BlockFormat) or (isinstance(fmt, str)
                                        and fmt.strip().lower() in fs.blocks.names()):
        raise TypeError(
            f"{what}={fmt!r} is a block format; the element-wise casts take a Format: use "
            "floatsim_torch.blocks.quantize / encode / decode for block formats"
        )
    return fs.format(fmt)


def _random_bits(rb: Any, x: torch.Tensor) -> torch.Tensor | None:
    if rb is None:
        return None
    rb = views.check_tensor(rb, "random_bits")
    if rb.dtype not in _UNSIGNED:
        raise TypeError(
            f"random_bits has dtype {rb.dtype}; allowed: uint32 or int32 (32-bit words), "
            "uint64 or int64 (64-bit words)"
        )
    if rb.device != x.device and rb.device.type != "cpu":
        raise ValueError(f"random_bits is on {rb.device} but x is on {x.device}")
    return rb.view(_UNSIGNED[rb.dtype])


@memo
def _static(fmt: Any, rounding: Any, overflow: Any, subnormals: Any, daz: Any,
            sr_bits: Any) -> tuple[fs.Format, list[int], int, int, int, bool, int, dict[str, Any]]:
    """The call-independent arguments checked and converted, and the core's
    keyword arguments they make (:func:`floatsim_torch.ops.core_kwargs`; cached)."""
    f = element_format(fmt)
    r = fs.Rounding.parse(rounding)
    ov = overflow_int(None if overflow is None else f.check_overflow(overflow))
    if subnormals is not None and not isinstance(subnormals, bool):
        raise TypeError(f"subnormals={subnormals!r} must be None, True or False")
    if not isinstance(daz, bool):
        raise TypeError(f"daz={daz!r} must be True or False")
    sub = -1 if subnormals is None else int(subnormals)
    fints, sr = format_ints(f), ops.check_sr_bits(sr_bits)
    kw = ops.core_kwargs(fints, r.value, ov, sub, daz, sr)[1]
    return f, list(fints), r.value, ov, sub, daz, sr, kw


def cast_args(x: Any, fmt: Any, rounding: Any, overflow: Any, subnormals: Any, daz: Any,
              seed: Any, stream: Any, random_bits: Any,
              sr_bits: Any) -> tuple[tuple, fs.Format, torch.Tensor | None, dict[str, Any]]:
    """Validate the arguments shared by quantize and encode; return them as
    the ops take them (x, fmt ints, rounding, ..., sr_bits), the Format, the
    stream tensor (the ops' last argument; None for an int stream) and the
    core's call-independent keyword arguments (what the ops' kernels make of
    those ints: :func:`floatsim_torch.ops.core_kwargs`)."""
    x = views.check_float(x, "x")
    f, fints, r, ov, sub, daz, sr, kw = _static(fmt, rounding, overflow, subnormals, daz, sr_bits)
    st_int, st = ops.check_stream_arg(stream)
    args = (x, fints, r, ov, sub, daz, ops.check_seed(seed), st_int, _random_bits(random_bits, x),
            sr)
    return args, f, st, kw


def quantize(
    x: torch.Tensor,
    fmt: fs.Format | str,
    rounding: fs.Rounding | str = "nearest_even",
    *,
    overflow: fs.Overflow | str | None = None,
    subnormals: bool | None = None,
    daz: bool = False,
    seed: int | None = None,
    stream: int | torch.Tensor = 0,
    random_bits: torch.Tensor | None = None,
    sr_bits: int | None = None,
    out: torch.Tensor | None = None,
    out_dtype: torch.dtype | None = None,
    ste: str = "identity",
    grad_format: fs.Format | str | None = None,
    grad_block: BlockFormat | str | None = None,
    grad_axis: int | tuple[int, ...] | None = None,
    grad_rounding: fs.Rounding | str | None = None,
    grad_sr_bits: int | None = None,
    grad_seed: int | None = None,
    grad_stream: int | None = None,
) -> torch.Tensor:
    """Round every element of ``x`` to ``fmt``; the values as floats (fake quantization).

    Arguments as for :func:`floatsim.quantize`: ``x`` a float64 / float32 /
    float16 / bfloat16 tensor on the CPU or a CUDA device (any shape and
    strides), rounded once from its exact value; ``fmt`` a Format or a name
    (a BlockFormat belongs to :func:`floatsim_torch.blocks.quantize`);
    ``seed`` and ``stream`` address the counter-based generator of stochastic
    rounding exactly as the core does (same bits as ``fs.quantize`` on the
    same values; ``stream`` may be a one-element integer tensor, read when
    the cast runs: under ``torch.compile`` a stream that changes every step
    then recompiles nothing); ``random_bits`` a uint32/int32 (or uint64/int64) tensor of
    x's shape; ``out`` a tensor of x's shape and device (any strides) to
    write into; ``out_dtype`` a torch float dtype (default x's).

    Autograd (:mod:`floatsim_torch.autograd`): ``ste="identity"`` passes the
    gradient straight through; ``"clipped"`` zeroes it where the forward
    saturated or overflowed; ``grad_format=`` (a Format) or ``grad_block=`` (a
    BlockFormat, blocks along ``grad_axis``, default -1) rounds the incoming
    gradient with ``grad_rounding`` (default nearest-even), ``grad_sr_bits``,
    ``grad_seed`` and ``grad_stream`` (default: ``seed`` and ``stream ^ 2**31``).

    Example:
        >>> import torch, floatsim_torch as ft
        >>> ft.quantize(torch.full((4,), 1.0625, dtype=torch.float64), "e4m3", "sr", seed=7).tolist()
        [1.125, 1.125, 1.0, 1.0]
        >>> x = torch.tensor([1.0625, 3.0], requires_grad=True)
        >>> y = ft.quantize(x, "e4m3", grad_format="e5m2")
        >>> y.backward(torch.tensor([0.3, 0.7])); x.grad.tolist()
        [0.3125, 0.75]
    """
    args, f, st, kw = cast_args(x, fmt, rounding, overflow, subnormals, daz, seed, stream,
                                random_bits, sr_bits)
    x, rb = args[0], args[8]
    odt = None if out_dtype is None else views.float_dtype(out_dtype)
    grad, gseed, gstream = autograd.grad_args(ste, grad_format, grad_block, grad_axis,
                                              grad_rounding, grad_sr_bits, grad_seed, grad_stream,
                                              seed, args[7], stream_is_tensor=st is not None)
    if out is not None:
        out = views.check_out(out, x, tuple(x.shape), odt)
        views.float_dtype(out.dtype, "out.dtype")
        views.check_no_grad_out(x)
        if route(x, rb, out, st) != OP:
            # what quantize_out_kernel does with args
            ops.quantize_into(x, f, ops.call_kwargs(kw, args[6], args[7], st), rb, out)
        else:
            ops.quantize_out(*args, out, st)
        return out
    full = (*args, odt, grad, gseed, gstream, st)
    how = route(x, rb, st)
    if how == KERNEL:
        # what quantize_kernel does with full
        return ops.quantize_new(x, f, ops.call_kwargs(kw, args[6], args[7], st), rb, odt)
    if how == FUNCTION:
        return autograd.QuantizeFunction.apply(*full)
    return ops.quantize(*full)


def encode(
    x: torch.Tensor,
    fmt: fs.Format | str,
    rounding: fs.Rounding | str = "nearest_even",
    *,
    overflow: fs.Overflow | str | None = None,
    subnormals: bool | None = None,
    daz: bool = False,
    seed: int | None = None,
    stream: int | torch.Tensor = 0,
    random_bits: torch.Tensor | None = None,
    sr_bits: int | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Round every element of ``x`` to ``fmt``; the integer codes.

    Codes are torch.uint8 up to 8 bits, uint16 up to 16, then uint32 /
    uint64 (as :func:`floatsim.code_dtype`).  Arguments as for
    :func:`quantize`.  NaN into a format without NaN raises ValueError on
    the CPU; on CUDA it gives the all-ones code (the core avoids a sync).

    Example:
        >>> import torch, floatsim_torch as ft
        >>> ft.encode(torch.tensor([6.0, -0.5, 5.0]), "e2m1").tolist()
        [7, 9, 6]
    """
    args, f, st, _kw = cast_args(x, fmt, rounding, overflow, subnormals, daz, seed, stream,
                                 random_bits, sr_bits)
    x, rb = args[0], args[8]
    if out is not None:
        out = views.check_out(out, x, tuple(x.shape),
                              views.code_torch_dtype(fs.code_dtype(f)))
        if route(x, rb, out, st) != OP:
            ops.encode_out_kernel(*args, out, st)
        else:
            ops.encode_out(*args, out, st)
        return out
    if route(x, rb, st) != OP:
        return ops.encode_kernel(*args, st)
    return ops.encode(*args, st)


def decode(codes: torch.Tensor, fmt: fs.Format | str,
           dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The values of integer ``codes`` of ``fmt`` as ``dtype`` floats.

    On CUDA, codes outside the format decode to NaN (the CPU raises).

    Example:
        >>> import torch, floatsim_torch as ft
        >>> ft.decode(torch.arange(8, dtype=torch.uint8), "e2m1").tolist()
        [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
    """
    codes = views.check_codes(codes, "codes")
    f = element_format(fmt)
    dt = views.float_dtype(dtype, "dtype")
    args = (codes, list(format_ints(f)), dt)
    if route(codes) != OP:
        return ops.decode_kernel(*args)
    return ops.decode(*args)


def _bits(fmt: Any) -> int:
    if isinstance(fmt, int) and not isinstance(fmt, bool):
        bits = fmt
    else:
        bits = element_format(fmt).bits
    if not 1 <= bits <= 8:
        raise ValueError(f"pack/unpack store codes of 1..8 bits; {fmt} has {bits} bits")
    return bits


def pack(codes: torch.Tensor, fmt: fs.Format | str | int) -> torch.Tensor:
    """Pack codes (flattened in C order) of ``fmt`` (or of that many bits) into
    uint8 bytes, as :func:`floatsim.pack` (4-bit codes two to a byte, low
    nibble first).

    Example:
        >>> import torch, floatsim_torch as ft
        >>> ft.pack(torch.tensor([1, 2, 3], dtype=torch.uint8), "e2m1").tolist()
        [33, 3]
    """
    codes = views.check_codes(codes, "codes")
    args = (codes, _bits(fmt))
    return ops.pack_kernel(*args) if route(codes) != OP else ops.pack(*args)


def unpack(packed: torch.Tensor, fmt: fs.Format | str | int, count: int) -> torch.Tensor:
    """``count`` codes (uint8) from bytes written by :func:`pack`.

    Example:
        >>> import torch, floatsim_torch as ft
        >>> ft.unpack(torch.tensor([33, 3], dtype=torch.uint8), "e2m1", 3).tolist()
        [1, 2, 3]
    """
    packed = views.check_tensor(packed, "packed")
    views.check_device(packed, "packed")
    if packed.dtype != torch.uint8:
        raise TypeError(f"packed has dtype {packed.dtype}; unpack reads uint8 bytes")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count={count!r} must be a non-negative int")
    args = (packed, _bits(fmt), count)
    return ops.unpack_kernel(*args) if route(packed) != OP else ops.unpack(*args)
