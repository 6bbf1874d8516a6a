"""The one place floatsim_torch's training layer calls the tensor casts.

Everything in ``emulate`` / ``optim`` / ``telemetry`` quantizes through the
functions here, and only through them: ``quantize`` and ``blocks_quantize``
(the GEMM operands), ``encode`` / ``decode`` / ``blocks_encode`` /
``blocks_decode`` (optimizer states stored as codes).

INTERIM VERSION. The real PyTorch ops (``floatsim_torch.quantize`` and
``floatsim_torch.blocks.quantize``, torch.library custom ops with CPU zero-copy
and CUDA kernels; issue 22) are being built on another branch.  Until they
land, each function below is a round trip through the core's numpy API:

* ``quantize`` / ``blocks_quantize`` are two ``torch.library.custom_op``\\ s in
  the ``floatsim_interim`` namespace whose CPU kernel views the tensor as a
  numpy array (no copy for float32 / float64) and calls ``fs.quantize`` /
  ``fs.blocks.quantize``; a CUDA tensor is handed to the same core functions,
  which run the core's GPU kernels on it (``amax`` / ``tensor_scale`` are then
  copied to the host: a sync).  They carry a fake implementation, so
  ``torch.compile(fullgraph=True)`` traces through them with no graph break;
  they have no autograd formula (the training layer calls them inside its
  own autograd.Functions, under no_grad).  Formats travel through the op
  schema as a string key into a per-process table (``format_key``), which the
  training layer computes once per layer, outside the trace: torch.compile
  cannot trace into the formats' frozen slots dataclasses (reading a
  BlockFormat's fields inside a compiled region fails in torch 2.13).
* ``encode`` / ``decode`` / ``blocks_*`` are eager no_grad round trips.

When the real ops land, replace the bodies of ``quantize`` and
``blocks_quantize`` by calls to ``floatsim_torch.quantize`` /
``floatsim_torch.blocks.quantize`` (same arguments) and the four code
functions by ``floatsim_torch.encode`` / ``decode`` / ``blocks.encode`` /
``blocks.decode``, then delete the ``floatsim_interim`` ops.  One thing the
real ops must accept for SR under ``torch.compile``: ``stream`` as a 0-d int64
tensor (it advances every step; a Python int would recompile each step).
"""

from __future__ import annotations

import ast
import os
from typing import Any

import numba
import numpy as np
import torch

import floatsim as fs
from floatsim.blocks import BlockFormat
from floatsim.formats import Format

__all__ = ["blocks_decode", "blocks_encode", "blocks_quantize", "decode", "encode", "format_key",
           "quantize"]

_FORMATS: dict[str, Format | BlockFormat] = {}


def _prefer_workqueue() -> None:
    """Run the core's parallel CPU kernels on Numba's 'workqueue' threading layer
    when nothing chose one yet (NUMBA_THREADING_LAYER unset, no kernel run).

    Numba's default 'omp' layer leaves its OpenMP threads spinning after each
    kernel; interleaved with torch's own operators on the same cores they
    starve them: a training step of a small GPT on 2 cores took 0.75 s against
    0.08 s with the workqueue layer (or with OMP_WAIT_POLICY=PASSIVE), and large
    casts were no slower (MXFP8 of 2**22 values: 24 ms against 36 ms).  Keep this
    when the real ops replace the interim casts below.
    """
    if "NUMBA_THREADING_LAYER" in os.environ:
        return
    try:
        numba.threading_layer()       # raises until a parallel kernel has run
    except ValueError:
        numba.config.THREADING_LAYER = "workqueue"


_prefer_workqueue()


def format_key(fmt: Format | BlockFormat | str) -> str:
    """The string that names ``fmt`` in an op schema (one table per process).
    Callers compute it once, outside torch.compile's trace, and pass the key in
    place of the format (the functions below take either).

    Example:
        >>> import floatsim as fs
        >>> format_key(format_key(fs.format("e4m3"))) == format_key(fs.format("e4m3"))
        True
    """
    if isinstance(fmt, str):
        if fmt not in _FORMATS:
            raise ValueError(f"{fmt!r} is not a format key from format_key()")
        return fmt
    k = repr(fmt)
    _FORMATS.setdefault(k, fmt)
    return k


def _np_stream(stream: torch.Tensor | None) -> int:
    return 0 if stream is None else int(stream)


def _host(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().to("cpu", torch.float64).numpy()


def _call(x: torch.Tensor, fn: Any, *args: Any, **kw: Any) -> torch.Tensor:
    if x.device.type == "cuda":
        return fn(x.detach(), *args, **kw)   # the core's GPU kernels, same device
    return torch.from_numpy(np.asarray(fn(np.from_dlpack(x.detach()), *args, **kw)))


@torch.library.custom_op("floatsim_interim::quantize", mutates_args=())
def _quantize_op(x: torch.Tensor, fmt: str, rounding: str, seed: int,
                 stream: torch.Tensor | None, sr_bits: int) -> torch.Tensor:
    kw: dict[str, Any] = {}
    if rounding == "stochastic":
        kw = dict(seed=seed, stream=_np_stream(stream), sr_bits=None if sr_bits < 0 else sr_bits)
    return _call(x, fs.quantize, _FORMATS[fmt], rounding, **kw)


@_quantize_op.register_fake
def _(x, fmt, rounding, seed, stream, sr_bits):  # noqa: ANN001, ANN202 - torch's signature
    return torch.empty_like(x)


@torch.library.custom_op("floatsim_interim::blocks_quantize", mutates_args=())
def _blocks_quantize_op(x: torch.Tensor, fmt: str, rounding: str, axis: str, seed: int,
                        stream: torch.Tensor | None, sr_bits: int, amax: torch.Tensor | None,
                        tensor_scale: torch.Tensor | None) -> torch.Tensor:
    kw: dict[str, Any] = {}
    if rounding == "stochastic":
        kw = dict(seed=seed, stream=_np_stream(stream), sr_bits=None if sr_bits < 0 else sr_bits)
    return _call(x, fs.blocks.quantize, _FORMATS[fmt], rounding, axis=ast.literal_eval(axis),
                 amax=_host(amax), tensor_scale=_host(tensor_scale), **kw)


@_blocks_quantize_op.register_fake
def _(x, fmt, rounding, axis, seed, stream, sr_bits, amax, tensor_scale):  # noqa: ANN001, ANN202
    return torch.empty_like(x)


def _check(x: torch.Tensor) -> torch.Tensor:
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"x has dtype {x.dtype}; the training layer casts float32 or float64 "
                        "operands (bfloat16 / float16 are widened first, exactly)")
    return x


def quantize(x: torch.Tensor, fmt: Format | str, rounding: str = "nearest_even", *,
             seed: int | None = None, stream: int | torch.Tensor = 0,
             sr_bits: int | None = None) -> torch.Tensor:
    """``fs.quantize`` on a float32 / float64 tensor (same values, same SR bits).

    Example:
        >>> import torch, floatsim as fs
        >>> quantize(torch.tensor([1.0625, 3.0]), fs.format("e4m3")).tolist()
        [1.0, 3.0]
    """
    st = torch.as_tensor(stream, dtype=torch.int64) if rounding == "stochastic" else None
    return _quantize_op(_check(x), format_key(fmt), rounding, 0 if seed is None else seed, st,
                        -1 if sr_bits is None else sr_bits)


def blocks_quantize(x: torch.Tensor, bfmt: BlockFormat | str, rounding: str = "nearest_even", *,
                    axis: int | tuple[int, ...] | None = -1, seed: int | None = None,
                    stream: int | torch.Tensor = 0, sr_bits: int | None = None,
                    amax: torch.Tensor | None = None,
                    tensor_scale: torch.Tensor | None = None) -> torch.Tensor:
    """``fs.blocks.quantize`` on a float32 / float64 tensor.

    Example:
        >>> import torch, floatsim as fs
        >>> x = torch.linspace(-1, 1, 64).reshape(2, 32)
        >>> bool((blocks_quantize(x, fs.blocks.format("mxfp8")) - x).abs().max() < 2**-4)
        True
    """
    st = torch.as_tensor(stream, dtype=torch.int64) if rounding == "stochastic" else None
    return _blocks_quantize_op(_check(x), format_key(bfmt), rounding, repr(axis),
                               0 if seed is None else seed, st,
                               -1 if sr_bits is None else sr_bits, amax, tensor_scale)


# ---- codes (optimizer states): eager, no autograd ---------------------------------------
def _to_torch(a: Any, device: torch.device) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.to(device)
    a = np.asarray(a)
    if a.dtype.kind == "u" and a.dtype.itemsize > 1:   # torch has no uint16/32 arithmetic
        a = a.view(a.dtype.str.replace("u", "i"))
    return torch.from_numpy(np.ascontiguousarray(a)).to(device)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


@torch.no_grad()
def encode(x: torch.Tensor, fmt: Format, rounding: str = "nearest_even", *,
           seed: int | None = None, stream: int = 0) -> torch.Tensor:
    """Codes of ``x`` in ``fmt`` (uint8, or int16 holding uint16 bit patterns)."""
    kw = dict(seed=seed, stream=stream) if rounding == "stochastic" else {}
    return _to_torch(fs.encode(_np(_check(x)), fmt, rounding, **kw), x.device)


@torch.no_grad()
def decode(codes: torch.Tensor, fmt: Format) -> torch.Tensor:
    """float32 values of ``codes`` (as :func:`encode` returns them)."""
    c = _np(codes)
    if c.dtype == np.int16:
        c = c.view(np.uint16)
    return _to_torch(fs.decode(c, fmt, np.float32), codes.device)


@torch.no_grad()
def blocks_encode(x: torch.Tensor, bfmt: BlockFormat, rounding: str = "nearest_even", *,
                  axis: int = -1, seed: int | None = None,
                  stream: int = 0) -> tuple[torch.Tensor, ...]:
    """(element codes, scale codes[, tensor scale]) of ``x`` in ``bfmt``."""
    kw = dict(seed=seed, stream=stream) if rounding == "stochastic" else {}
    out = fs.blocks.encode(_np(_check(x)), bfmt, rounding, axis=axis, **kw)
    parts = [out.elements, out.scales] + ([] if out.tensor_scale is None else [out.tensor_scale])
    return tuple(_to_torch(o, x.device) for o in parts)


@torch.no_grad()
def blocks_decode(parts: tuple[torch.Tensor, ...], bfmt: BlockFormat, *,
                  axis: int = -1) -> torch.Tensor:
    """float32 values of what :func:`blocks_encode` returned."""
    arrs = []
    for p in parts[:2]:
        a = _np(p)
        arrs.append(a.view(a.dtype.str.replace("i", "u")) if a.dtype.kind == "i" else a)
    kw = {"tensor_scale": float(parts[2])} if len(parts) > 2 else {}
    dev = parts[0].device
    return _to_torch(fs.blocks.decode(arrs[0], arrs[1], bfmt, axis=axis, dtype=np.float32,
                                      **kw), dev)
