"""floatsim_torch as a backend of the shared backend table (tests/backends.py):
numpy in, numpy out, through CPU tensors and the torch ops (the registered
operators, not the eager shortcut, so the table checks what torch.compile
runs).  Importing it needs torch; the table skips it without.

Example (numpy in and out):
    >>> import numpy as np
    >>> from torch_backend import TorchBackend
    >>> TorchBackend().quantize(np.array([0.3, 460.0], np.float32), "e4m3", "rne").tolist()
    [0.3125, 448.0]
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np
import torch

import floatsim as fs
import floatsim_torch as ft
from floatsim_torch import cast, dispatch

_BF16 = np.dtype(ml_dtypes.bfloat16)
_TORCH = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32,
          np.dtype(np.float16): torch.float16, _BF16: torch.bfloat16}


def to_tensor(a: np.ndarray) -> torch.Tensor:
    """A CPU tensor of a numpy array (bfloat16 through its bits; codes as uint tensors)."""
    a = np.asarray(a)
    if a.dtype == _BF16:
        return torch.from_numpy(np.require(a, requirements="C").view(np.int16).copy()).view(
            torch.bfloat16)
    return torch.from_numpy(np.require(a, requirements="C").copy())


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A numpy array of a CPU tensor (bfloat16 as ml_dtypes.bfloat16)."""
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().copy().view(_BF16)
    return t.numpy().copy()


class TorchBackend:
    """The torch CPU ops behind the backend table's interface."""

    name = "torch-cpu"

    def _op_route(self) -> Any:
        """Force the registered operators (tests/test_torch_autograd.py runs
        both routes; they share the kernels)."""
        from unittest import mock

        return mock.patch.object(cast, "route", lambda *t: dispatch.OP)

    def quantize(self, x: np.ndarray, fmt: Any, rounding: Any, *, seed: int | None = None,
                 stream: int = 0, sr_bits: int | None = None, overflow: Any = None) -> np.ndarray:
        with self._op_route():
            y = ft.quantize(to_tensor(x), fmt, rounding, seed=seed, stream=stream, sr_bits=sr_bits,
                            overflow=overflow)
        return to_numpy(y)

    def encode(self, x: np.ndarray, fmt: Any, rounding: Any, *, seed: int | None = None,
               stream: int = 0, sr_bits: int | None = None, overflow: Any = None) -> np.ndarray:
        with self._op_route():
            codes = ft.encode(to_tensor(x), fmt, rounding, seed=seed, stream=stream,
                              sr_bits=sr_bits, overflow=overflow)
        return codes.numpy().astype(fs.code_dtype(fmt))

    def decode(self, codes: np.ndarray, fmt: Any, dtype: Any) -> np.ndarray:
        with self._op_route():
            y = ft.decode(to_tensor(np.asarray(codes)), fmt, _TORCH[np.dtype(dtype)])
        return to_numpy(y)
