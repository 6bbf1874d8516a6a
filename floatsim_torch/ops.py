"""The element-wise casts as torch operators (namespace ``floatsim``).

``floatsim::quantize``, ``quantize_out``, ``encode``, ``encode_out``,
``decode``, ``pack`` and ``unpack`` are registered with
:func:`torch.library.custom_op`, each with a fake (meta) implementation, so
that they run under ``torch.compile(fullgraph=True)`` as single nodes and
pass :func:`torch.library.opcheck`.  Formats travel as ints
(:mod:`floatsim_torch.spec`); the public wrappers in
:mod:`floatsim_torch.cast` build those from Format objects.

The kernels: a CPU tensor goes to the core's Numba kernels as a numpy view
of its memory (:func:`~floatsim_torch.views.host_view`), results are written
into a tensor allocated here, so nothing is copied; a CUDA tensor goes to
``floatsim.quantize`` itself, which runs the CUDA kernels on torch's current
stream and allocates the result with torch's caching allocator (strided
inputs are first made contiguous by torch, so that no allocation happens
outside torch).  Every result is C-contiguous.

Example:
    >>> import torch
    >>> from floatsim_torch import ops, spec
    >>> import floatsim as fs
    >>> e4m3 = list(spec.format_ints(fs.format("e4m3")))
    >>> torch.ops.floatsim.quantize(torch.tensor([0.3, 460.0]), e4m3, 0, -1, -1, False,
    ...                             None, 0, None, 0, None, [0, 0], None, 0).tolist()
    [0.3125, 448.0]
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

import floatsim as fs

from . import views
from .dispatch import memo
from .spec import format_from_ints, overflow_from_int

__all__ = [
    "SEED_MOD",
    "call_kwargs",
    "cast_kwargs",
    "check_seed",
    "check_sr_bits",
    "check_stream",
    "check_stream_arg",
    "core_kwargs",
    "seed_from_int",
    "seed_int",
    "to_dtype",
]

#: Seeds are 64-bit; the schema's ints are signed, so seeds >= 2**63 travel wrapped.
SEED_MOD = 1 << 64


def seed_int(seed: int | None) -> int | None:
    """A 64-bit seed as the schema's signed int."""
    if seed is None:
        return None
    return seed - SEED_MOD if seed >= SEED_MOD >> 1 else seed


def seed_from_int(seed: int | None) -> int | None:
    """The inverse of :func:`seed_int`."""
    return None if seed is None else int(seed) % SEED_MOD


def check_seed(seed: Any, what: str = "seed") -> int | None:
    """``seed`` (None or an int in 0..2**64-1) as the schema's int."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_MOD:
        raise ValueError(f"{what}={seed!r} must be an int in 0..2**64-1")
    return seed_int(seed)


def check_sr_bits(sr_bits: Any, what: str = "sr_bits") -> int:
    """``sr_bits`` (None or 1..32) as the schema's int (0: exact stochastic rounding)."""
    if sr_bits is None:
        return 0
    if isinstance(sr_bits, bool) or not isinstance(sr_bits, int) or not 1 <= sr_bits <= 32:
        raise ValueError(f"{what}={sr_bits!r} is out of range; allowed: 1..32 or None")
    return sr_bits


def check_stream(stream: Any, what: str = "stream") -> int:
    """``stream``, an int in 0..2**32-1 (a Philox stream id)."""
    if isinstance(stream, bool) or not isinstance(stream, int) or not 0 <= stream < 1 << 32:
        raise ValueError(f"{what}={stream!r} must be an int in 0..2**32-1")
    return stream


def stream_value(stream: int, stream_tensor: torch.Tensor | None) -> int:
    """The stream a kernel uses: ``stream_tensor``'s value when given (a
    device-to-host read for a CUDA tensor), else ``stream``."""
    if stream_tensor is None:
        return int(stream)
    return check_stream(int(stream_tensor.reshape(())), "stream")


def check_stream_arg(stream: Any, what: str = "stream") -> tuple[int, torch.Tensor | None]:
    """``stream`` as the ops take it: ``(int, None)`` for an int, ``(0, t)``
    for a one-element integer tensor ``t`` (read when the kernel runs, so that
    a stream that changes every step is a graph input under torch.compile,
    not a constant to recompile for)."""
    if type(stream) is int and 0 <= stream < 1 << 32:  # the common case, first (no isinstance)
        return stream, None
    if not isinstance(stream, torch.Tensor):
        return check_stream(stream, what), None
    if stream.is_floating_point() or stream.is_complex() or stream.dtype == torch.bool \
            or stream.numel() != 1:
        raise TypeError(f"{what} is a tensor of dtype {stream.dtype} and shape "
                        f"{tuple(stream.shape)}; a stream tensor holds one integer "
                        "(e.g. torch.tensor(3))")
    return 0, stream


@memo
def core_kwargs(fmt: tuple[int, ...], rounding: int, overflow: int, subnormals: int, daz: bool,
                sr_bits: int) -> tuple[fs.Format, dict[str, Any]]:
    """The Format and the core's call-independent keyword arguments from the
    ops' primitive ones (cached)."""
    return format_from_ints(fmt), dict(
        rounding=fs.Rounding(rounding), overflow=overflow_from_int(overflow),
        subnormals=None if subnormals < 0 else bool(subnormals), daz=bool(daz),
        sr_bits=int(sr_bits) or None)


def call_kwargs(kw: dict[str, Any], seed: int | None, stream: int,
                stream_tensor: torch.Tensor | None = None) -> dict[str, Any]:
    """:func:`core_kwargs`' ``kw`` with this call's seed (the schema's int)
    and stream."""
    return {**kw, "seed": seed_from_int(seed), "stream": stream_value(stream, stream_tensor)}


def cast_kwargs(fmt: list[int], rounding: int, overflow: int, subnormals: int, daz: bool,
                seed: int | None, stream: int, sr_bits: int,
                stream_tensor: torch.Tensor | None = None) -> tuple[fs.Format, dict[str, Any]]:
    """The Format and the core's keyword arguments from the ops' primitive ones."""
    f, kw = core_kwargs(tuple(fmt), rounding, overflow, subnormals, daz, sr_bits)
    return f, call_kwargs(kw, seed, stream, stream_tensor)


def _holds(dtype: torch.dtype, fmt: fs.Format) -> bool:
    """Whether ``dtype`` holds every value of ``fmt`` (the core's rule for out_dtype)."""
    d = fs.format(str(dtype).removeprefix("torch."))
    return fmt.mbits <= d.mbits and fmt.emax <= d.emax and fmt.emin - fmt.mbits >= d.emin - d.mbits


def _check_bf16_detour(fmt: fs.Format) -> None:
    if not _holds(torch.bfloat16, fmt):
        raise ValueError(
            f"bfloat16 cannot hold every value of {fmt} (max 2^{fmt.emax}, {fmt.mbits} mantissa "
            "bits); pass out_dtype=torch.float32"
        )



@functools.cache
def _cpu_plans() -> Any:
    """:mod:`floatsim.cpu.plans`, imported at the first CPU cast (it defines kernels)."""
    from floatsim.cpu import plans

    return plans


def _rbits_view(random_bits: torch.Tensor | None) -> np.ndarray | None:
    return None if random_bits is None else views.host_view(random_bits)


# ---- quantize ------------------------------------------------------------------------


def quantize_into(x: torch.Tensor, fmt: fs.Format, kw: dict[str, Any],
                  random_bits: torch.Tensor | None, out: torch.Tensor) -> None:
    """Write ``fs.quantize(x, fmt, **kw)`` into ``out`` (a tensor on x's device,
    x's shape, any float dtype that holds the format, any strides)."""
    views.check_device(x, "x")
    if x.is_cpu:
        if views.bf16_detour(x.dtype, out.dtype):
            xf = x.float() if x.dtype == torch.bfloat16 else x
            if out.dtype == torch.bfloat16:
                _check_bf16_detour(fmt)
                tmp = torch.empty(x.shape, dtype=torch.float32, device=x.device)
                quantize_into(xf, fmt, kw, random_bits, tmp)
                out.copy_(views.bf16_exact(tmp))  # bfloat16 holds every value of fmt
            else:
                quantize_into(xf, fmt, kw, random_bits, out)
            return
        if not out.is_contiguous():
            tmp = torch.empty(x.shape, dtype=out.dtype, device=x.device)
            quantize_into(x, fmt, kw, random_bits, tmp)
            out.copy_(tmp)
            return
        xv, ov = views.host_view(x), views.host_view(out)
        if random_bits is not None or _cpu_plans().quantize(
                xv, fmt, kw["rounding"], kw["overflow"], kw["subnormals"], kw["daz"], kw["seed"],
                kw["stream"], kw["sr_bits"], ov) is None:  # the core's per-call plans first
            fs.quantize(xv, fmt, out=ov, random_bits=_rbits_view(random_bits), **kw)
        return
    xc = x.contiguous()  # CUDA: strided inputs made dense by torch (its allocator, capturable)
    if views.bf16_detour(x.dtype, out.dtype):
        y = fs.quantize(xc.float(), fmt, out_dtype=np.float32, random_bits=random_bits, **kw)
        if out.dtype == torch.bfloat16:
            _check_bf16_detour(fmt)
            y = views.bf16_exact(y)
        out.copy_(y)
    elif out.is_contiguous():
        fs.quantize(xc, fmt, out=out, random_bits=random_bits, **kw)
    else:
        out.copy_(fs.quantize(xc, fmt, out_dtype=views.numpy_dtype(out.dtype),
                              random_bits=random_bits, **kw))


def quantize_new(x: torch.Tensor, fmt: fs.Format, kw: dict[str, Any],
                 random_bits: torch.Tensor | None, out_dtype: torch.dtype | None) -> torch.Tensor:
    """``fs.quantize(x, fmt, **kw)`` as a new contiguous tensor of ``out_dtype``
    (default x's dtype)."""
    dt = x.dtype if out_dtype is None else out_dtype
    views.check_device(x, "x")
    if x.is_cuda and not views.bf16_detour(x.dtype, dt):
        # out_dtype=None where it is x's: the core's per-call path takes only that
        odt = None if dt == x.dtype else views.numpy_dtype(dt)
        return fs.quantize(x.contiguous(), fmt, out_dtype=odt, random_bits=random_bits,
                           **kw)
    out = torch.empty_like(x, dtype=dt, memory_format=torch.contiguous_format)
    quantize_into(x, fmt, kw, random_bits, out)
    return out


def quantize_kernel(x: torch.Tensor, fmt: list[int], rounding: int, overflow: int, subnormals: int,
             daz: bool, seed: int | None, stream: int, random_bits: torch.Tensor | None,
             sr_bits: int, out_dtype: torch.dtype | None, grad: list[int],
             grad_seed: int | None, grad_stream: int,
             stream_tensor: torch.Tensor | None = None) -> torch.Tensor:
    """``fs.quantize`` of a tensor; ``grad``, ``grad_seed``, ``grad_stream``
    tell the backward what to do (:mod:`floatsim_torch.autograd`);
    ``stream_tensor``, when given, is the stream (in place of ``stream``)."""
    f, kw = cast_kwargs(fmt, rounding, overflow, subnormals, daz, seed, stream, sr_bits,
                        stream_tensor)
    return quantize_new(x, f, kw, random_bits, out_dtype)


quantize = torch.library.custom_op("floatsim::quantize", quantize_kernel, mutates_args=())


@quantize.register_fake
def _(x, fmt, rounding, overflow, subnormals, daz, seed, stream, random_bits, sr_bits, out_dtype,
      grad, grad_seed, grad_stream, stream_tensor=None):
    return x.new_empty(x.shape, dtype=x.dtype if out_dtype is None else out_dtype)


def quantize_out_kernel(x: torch.Tensor, fmt: list[int], rounding: int, overflow: int, subnormals: int,
                 daz: bool, seed: int | None, stream: int, random_bits: torch.Tensor | None,
                 sr_bits: int, out: torch.Tensor, stream_tensor: torch.Tensor | None = None) -> None:
    """``fs.quantize(..., out=out)`` of a tensor: written into ``out``."""
    f, kw = cast_kwargs(fmt, rounding, overflow, subnormals, daz, seed, stream, sr_bits,
                        stream_tensor)
    quantize_into(x, f, kw, random_bits, out)


quantize_out = torch.library.custom_op("floatsim::quantize_out", quantize_out_kernel, mutates_args=("out",))


@quantize_out.register_fake
def _(x, fmt, rounding, overflow, subnormals, daz, seed, stream, random_bits, sr_bits, out,
      stream_tensor=None):
    return None


# ---- encode --------------------------------------------------------------------------


def encode_into(x: torch.Tensor, fmt: fs.Format, kw: dict[str, Any],
                random_bits: torch.Tensor | None, out: torch.Tensor) -> None:
    """Write ``fs.encode(x, fmt, **kw)`` into ``out`` (codes of the core's dtype)."""
    views.check_device(x, "x")
    if views.bf16_detour(x.dtype):
        x = x.float()  # exact, and the core reads bfloat16 as float32 too
    if x.is_cpu:
        if not out.is_contiguous():
            tmp = torch.empty(x.shape, dtype=out.dtype, device=x.device)
            encode_into(x, fmt, kw, random_bits, tmp)
            out.copy_(tmp)
            return
        fs.encode(views.host_view(x), fmt, out=views.host_view(out),
                  random_bits=_rbits_view(random_bits), **kw)
        return
    xc = x.contiguous()
    if out.is_contiguous():
        fs.encode(xc, fmt, out=out, random_bits=random_bits, **kw)
    else:
        out.copy_(fs.encode(xc, fmt, random_bits=random_bits, **kw))


def _code_dtype(fmt: fs.Format) -> torch.dtype:
    return views.code_torch_dtype(fs.code_dtype(fmt))


def encode_kernel(x: torch.Tensor, fmt: list[int], rounding: int, overflow: int, subnormals: int,
           daz: bool, seed: int | None, stream: int, random_bits: torch.Tensor | None,
           sr_bits: int, stream_tensor: torch.Tensor | None = None) -> torch.Tensor:
    """``fs.encode`` of a tensor: codes as uint8 / uint16 / uint32 / uint64."""
    f, kw = cast_kwargs(fmt, rounding, overflow, subnormals, daz, seed, stream, sr_bits,
                        stream_tensor)
    views.check_device(x, "x")
    if x.is_cuda and not views.bf16_detour(x.dtype):
        return fs.encode(x.contiguous(), f, random_bits=random_bits, **kw)
    out = torch.empty_like(x, dtype=_code_dtype(f), memory_format=torch.contiguous_format)
    encode_into(x, f, kw, random_bits, out)
    return out


encode = torch.library.custom_op("floatsim::encode", encode_kernel, mutates_args=())


@encode.register_fake
def _(x, fmt, rounding, overflow, subnormals, daz, seed, stream, random_bits, sr_bits,
      stream_tensor=None):
    return x.new_empty(x.shape, dtype=_code_dtype(format_from_ints(fmt)))


def encode_out_kernel(x: torch.Tensor, fmt: list[int], rounding: int, overflow: int, subnormals: int,
               daz: bool, seed: int | None, stream: int, random_bits: torch.Tensor | None,
               sr_bits: int, out: torch.Tensor, stream_tensor: torch.Tensor | None = None) -> None:
    """``fs.encode(..., out=out)`` of a tensor: written into ``out``."""
    f, kw = cast_kwargs(fmt, rounding, overflow, subnormals, daz, seed, stream, sr_bits,
                        stream_tensor)
    encode_into(x, f, kw, random_bits, out)


encode_out = torch.library.custom_op("floatsim::encode_out", encode_out_kernel, mutates_args=("out",))


@encode_out.register_fake
def _(x, fmt, rounding, overflow, subnormals, daz, seed, stream, random_bits, sr_bits, out,
      stream_tensor=None):
    return None


# ---- decode --------------------------------------------------------------------------


def decode_new(codes: torch.Tensor, fmt: fs.Format, dtype: torch.dtype) -> torch.Tensor:
    """``fs.decode(codes, fmt, dtype)`` as a new contiguous tensor."""
    views.check_device(codes, "codes")
    if views.bf16_detour(dtype):
        _check_bf16_detour(fmt)
        return views.bf16_exact(decode_new(codes, fmt, torch.float32))
    if codes.is_cuda:
        return fs.decode(codes.contiguous(), fmt, views.numpy_dtype(dtype))
    y = fs.decode(views.host_view(codes), fmt, views.numpy_dtype(dtype))
    if dtype == torch.bfloat16:
        return torch.from_numpy(y.view(np.uint16)).view(torch.bfloat16)
    return torch.from_numpy(y)


def decode_kernel(codes: torch.Tensor, fmt: list[int], dtype: torch.dtype) -> torch.Tensor:
    """``fs.decode`` of integer codes: the values as ``dtype``."""
    return decode_new(codes, format_from_ints(fmt), dtype)


decode = torch.library.custom_op("floatsim::decode", decode_kernel, mutates_args=())


@decode.register_fake
def _(codes, fmt, dtype):
    return codes.new_empty(codes.shape, dtype=dtype)


def to_dtype(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``t`` converted to float ``dtype``, rounded once (to nearest even).

    torch converts float64 to float16 / bfloat16 through float32, which can
    round twice; those two go through floatsim's own cast instead.
    """
    if t.dtype == dtype:
        return t
    if t.dtype == torch.float64 and dtype in (torch.float16, torch.bfloat16):
        fmt = list(_SPEC_OF[dtype]())
        return quantize(t, fmt, 0, -1, -1, False, None, 0, None, 0, dtype, [0, 0], None, 0)
    return t.to(dtype)


def _dtype_spec(name: str) -> Any:
    from .spec import format_ints

    return lambda: format_ints(fs.format(name))


_SPEC_OF = {torch.float16: _dtype_spec("float16"), torch.bfloat16: _dtype_spec("bfloat16")}


# ---- pack / unpack -------------------------------------------------------------------


def pack_kernel(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """``fs.pack`` of codes (flattened in C order) into uint8 bytes."""
    views.check_device(codes, "codes")
    if codes.is_cuda:
        return fs.pack(codes.contiguous(), int(bits))
    return torch.from_numpy(np.require(fs.pack(views.host_view(codes), int(bits)), requirements="C"))


pack = torch.library.custom_op("floatsim::pack", pack_kernel, mutates_args=())


@pack.register_fake
def _(codes, bits):
    return codes.new_empty((fs.packed_size(codes.numel(), bits),), dtype=torch.uint8)


def unpack_kernel(packed: torch.Tensor, bits: int, count: int) -> torch.Tensor:
    """``fs.unpack``: ``count`` codes (uint8) from bytes written by ``pack``."""
    views.check_device(packed, "packed")
    if packed.is_cuda:
        return fs.unpack(packed.contiguous(), int(bits), int(count))
    codes = fs.unpack(views.host_view(packed), int(bits), int(count))
    return torch.from_numpy(np.require(codes, requirements="C"))


unpack = torch.library.custom_op("floatsim::unpack", unpack_kernel, mutates_args=())


@unpack.register_fake
def _(packed, bits, count):
    return packed.new_empty((count,), dtype=torch.uint8)
