"""Tensors as the core's arrays: dtypes, zero-copy numpy views, argument checks.

CPU tensors reach floatsim's Numba kernels as numpy arrays that share their
memory (:func:`host_view`): no copy in, none out.  bfloat16 has no numpy
dtype of its own; where ml_dtypes is installed (floatsim's tests and extras
install it) a bfloat16 tensor is viewed as uint16 and then as
``ml_dtypes.bfloat16``, still without a copy.  Without ml_dtypes, the ops
take an exact detour instead: bfloat16 -> float32 is exact, the cast reads
the same value (and the same random words: the core reads half and bfloat16
inputs as float32 too), and the float32 result holds a value of the format,
which bfloat16 holds exactly when ``out_dtype`` is allowed at all.

Example:
    >>> import torch
    >>> from floatsim_torch.views import host_view
    >>> t = torch.arange(6, dtype=torch.float32).reshape(2, 3)[:, ::2]
    >>> a = host_view(t); a.shape, a.strides
    ((2, 2), (12, 8))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = [
    "BF16_NUMPY",
    "FLOAT_DTYPES",
    "KERNEL_DEVICES",
    "bf16_detour",
    "bf16_exact",
    "check_codes",
    "check_device",
    "check_float",
    "check_no_grad_out",
    "check_out",
    "check_tensor",
    "code_torch_dtype",
    "float_dtype",
    "host_view",
    "numpy_dtype",
]

try:
    import ml_dtypes as _ml

    #: numpy's bfloat16 (ml_dtypes), or None without ml_dtypes.
    BF16_NUMPY: np.dtype | None = np.dtype(_ml.bfloat16)
except ImportError:  # pragma: no cover - exercised by monkeypatching in the tests
    BF16_NUMPY = None

#: The float dtypes the casts read and write.
FLOAT_DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)
_FLOAT_NAMES = "float64, float32, float16, bfloat16"
#: Devices with a floatsim kernel ('meta' runs the fake implementations).
KERNEL_DEVICES = ("cpu", "cuda", "meta")

_NUMPY = {
    torch.float64: np.dtype(np.float64),
    torch.float32: np.dtype(np.float32),
    torch.float16: np.dtype(np.float16),
    torch.uint8: np.dtype(np.uint8),
    torch.uint16: np.dtype(np.uint16),
    torch.uint32: np.dtype(np.uint32),
    torch.uint64: np.dtype(np.uint64),
    torch.int8: np.dtype(np.int8),
    torch.int16: np.dtype(np.int16),
    torch.int32: np.dtype(np.int32),
    torch.int64: np.dtype(np.int64),
}
_TYPESTR = {t: d.str for t, d in _NUMPY.items()}
_CODES = {1: torch.uint8, 2: torch.uint16, 4: torch.uint32, 8: torch.uint64}


def numpy_dtype(dtype: torch.dtype) -> np.dtype:
    """The numpy dtype of a torch dtype (bfloat16: ml_dtypes' where installed)."""
    if dtype == torch.bfloat16:
        if BF16_NUMPY is None:
            raise TypeError("bfloat16 has no numpy dtype without ml_dtypes")
        return BF16_NUMPY
    return _NUMPY[dtype]


def code_torch_dtype(np_dtype: np.dtype) -> torch.dtype:
    """The torch dtype of the core's unsigned code dtype (uint8 .. uint64)."""
    return _CODES[np.dtype(np_dtype).itemsize]


def bf16_detour(*dtypes: torch.dtype) -> bool:
    """Whether a call with these dtypes takes the float32 detour (bfloat16
    among them and no ml_dtypes)."""
    return BF16_NUMPY is None and torch.bfloat16 in dtypes


def bf16_exact(t: torch.Tensor) -> torch.Tensor:
    """float32 values that bfloat16 holds (and NaN) as bfloat16, by their top
    16 bits: torch's ``.to(torch.bfloat16)`` would turn NaN into 0xFFFF."""
    return (t.view(torch.int32) >> 16).to(torch.int16).view(torch.bfloat16)


class _Memory:
    """A CPU tensor's memory as numpy's ``__array_interface__``; the array
    made from it keeps this object, and so the tensor, alive (its ``base``)."""

    __slots__ = ("__array_interface__", "tensor")


def host_view(t: torch.Tensor) -> np.ndarray:
    """A numpy array sharing ``t``'s memory (a CPU tensor, any strides).

    Through numpy's ``__array_interface__`` (the tensor's data pointer, shape
    and strides), not ``Tensor.numpy()``: ``numpy()`` marks the tensor's
    storage as not resizable for good, and FSDP2 frees an all-gathered
    weight after its layer's forward by resizing that storage to 0
    ("Trying to resize storage that is not resizable").  Nor DLPack
    (``np.from_dlpack``), which leaves the storage alone too but costs three
    times as much per call (6-9 us against 2-3 us on the 2-core machine).
    The array keeps the tensor alive, as a DLPack capsule would.

    bfloat16 needs ml_dtypes (:data:`BF16_NUMPY`); callers without it take
    the float32 detour described in the module docstring.
    """
    m = _Memory()
    m.tensor, dt = t, t.dtype
    m.__array_interface__ = {
        "version": 3, "shape": tuple(t.shape), "data": (t.data_ptr(), False),
        "typestr": _TYPESTR[torch.uint16 if dt == torch.bfloat16 else dt],
        "strides": None if t.is_contiguous() else tuple(s * t.element_size() for s in t.stride()),
    }
    a = np.asarray(m)
    return a.view(numpy_dtype(dt)) if dt == torch.bfloat16 else a


def check_tensor(t: Any, what: str) -> torch.Tensor:
    """``t`` if it is a dense (strided, not nested) tensor, else TypeError."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(t).__name__}")
    if t.is_nested:
        raise TypeError(
            f"{what} is a nested tensor; floatsim_torch takes dense (strided) tensors: "
            f"cast each component, or {what}.to_padded_tensor(0.0)"
        )
    if t.layout != torch.strided:
        raise TypeError(
            f"{what} has layout {t.layout}; floatsim_torch takes dense (strided) tensors: "
            f"pass {what}.to_dense() (or cast {what}.values() of a sparse tensor)"
        )
    return t


def check_device(t: torch.Tensor, what: str) -> None:
    """ValueError unless ``t`` lives where a floatsim kernel runs."""
    if not (t.is_cpu or t.is_cuda or t.is_meta):
        raise ValueError(
            f"{what} is on device '{t.device}', which has no floatsim kernel; allowed: "
            f"cpu and cuda tensors (move it with {what}.cpu())"
        )


def check_float(t: Any, what: str = "x") -> torch.Tensor:
    """``t`` if it is a dense float tensor on a kernel device, else a clear error."""
    t = check_tensor(t, what)
    if t.dtype not in FLOAT_DTYPES:
        kind = ("a bool" if t.dtype == torch.bool else "a complex" if t.is_complex()
                else "an integer" if not t.is_floating_point() else "a")
        raise TypeError(
            f"{what} is {kind} tensor ({t.dtype}); floatsim_torch rounds floating-point "
            f"tensors of {_FLOAT_NAMES} (convert with {what}.float())"
        )
    check_device(t, what)
    return t


def check_codes(codes: Any, what: str) -> torch.Tensor:
    """``codes`` if it is a dense integer tensor on a kernel device, else a clear error."""
    codes = check_tensor(codes, what)
    if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
        raise TypeError(f"{what} has dtype {codes.dtype}; it must hold integer codes "
                        "(uint8, uint16, ..., int64)")
    check_device(codes, what)
    return codes


def check_no_grad_out(x: torch.Tensor) -> None:
    """ValueError where ``out=`` is asked of a call that would record a gradient."""
    if torch.is_grad_enabled() and x.requires_grad:
        raise ValueError(
            "out= does not support autograd (x requires grad); call without out=, or under "
            "torch.no_grad()"
        )


def float_dtype(dtype: Any, what: str = "out_dtype") -> torch.dtype:
    """``dtype`` if it is one of :data:`FLOAT_DTYPES`, else TypeError."""
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"{what}={dtype} is not supported; allowed: torch.{_FLOAT_NAMES.replace(', ', ', torch.')}")
    return dtype


def check_out(out: Any, like: torch.Tensor, shape: tuple[int, ...], dtype: torch.dtype | None,
              what: str = "out") -> torch.Tensor:
    """``out=`` checked against the result it must receive: a dense tensor on
    ``like``'s device, of ``shape`` and (when given) ``dtype``."""
    out = check_tensor(out, what)
    if out.device != like.device:
        raise ValueError(f"{what}= is on {out.device} but x is on {like.device}; they must match")
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"{what}= has shape {tuple(out.shape)}; needed {tuple(shape)} (x's shape)")
    if dtype is not None and out.dtype != dtype:
        raise ValueError(f"{what}= has dtype {out.dtype}; needed {dtype}")
    return out
