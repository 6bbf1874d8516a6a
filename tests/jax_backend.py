"""floatsim_jax as a backend of the cast suite (tests/backends.py's
``Adapter("jax_backend")`` reads :data:`BACKEND`): numpy in, numpy out,
through the jitted floatsim_jax functions.

Inputs are padded to a power-of-two length (at least 2**15) so that cases of
different lengths share XLA compiles; padding sits after the real elements,
whose flat indices, and so SR words, are unchanged.  Calls that need 64-bit
types (float64 in or out, formats beyond float32's range) run inside
``jax.enable_x64()``; the others without it, so that the 32-bit forms
(Philox's 16-bit partial products) are the ones tested.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

import floatsim as fs
from floatsim.kernels.forms import fits_fast32

__all__ = ["BACKEND", "JaxBackend"]


def _bucket(n: int) -> int:
    return max(1 << 15, 1 << max(n - 1, 0).bit_length())


class JaxBackend:
    """The cast of floatsim_jax on numpy arrays."""

    name = "jax"

    def _x64(self, fmt: Any, *dtypes: Any, codes: bool = False) -> Any:
        import jax

        f = fs.format(fmt)
        need = (any(np.dtype(d) == np.float64 for d in dtypes) or not fits_fast32(f)
                or f.bits > 32 or (codes and f.num_codes > 2**16))  # no code table
        return jax.enable_x64(True) if need else contextlib.nullcontext()

    @staticmethod
    def _pad(x: np.ndarray) -> tuple[Any, int]:
        import jax.numpy as jnp

        flat = np.ascontiguousarray(x).reshape(-1)
        n = flat.size
        return jnp.asarray(np.pad(flat, (0, _bucket(n) - n))), n

    def quantize(self, x: np.ndarray, fmt: Any, rounding: Any = "nearest_even", *,
                 seed: int | None = None, stream: int = 0, sr_bits: int | None = None,
                 random_bits: np.ndarray | None = None, overflow: Any = None) -> np.ndarray:
        import floatsim_jax as fj

        with self._x64(fmt, x.dtype):
            xj, n = self._pad(x)
            rb = None if random_bits is None else self._pad(random_bits)[0]
            y = fj.quantize(xj, fmt, rounding, seed=seed, stream=stream, sr_bits=sr_bits,
                            random_bits=rb, overflow=overflow)
            return np.asarray(y)[:n].reshape(x.shape)

    def encode(self, x: np.ndarray, fmt: Any, rounding: Any = "nearest_even", *,
               seed: int | None = None, stream: int = 0, sr_bits: int | None = None,
               random_bits: np.ndarray | None = None, overflow: Any = None) -> np.ndarray:
        import floatsim_jax as fj

        with self._x64(fmt, x.dtype, codes=True):
            xj, n = self._pad(x)
            rb = None if random_bits is None else self._pad(random_bits)[0]
            c = fj.encode(xj, fmt, rounding, seed=seed, stream=stream, sr_bits=sr_bits,
                          random_bits=rb, overflow=overflow)
            return np.asarray(c)[:n].reshape(x.shape)

    def decode(self, codes: np.ndarray, fmt: Any, dtype: Any = np.float32) -> np.ndarray:
        import floatsim_jax as fj

        with self._x64(fmt, dtype):
            cj, n = self._pad(codes)
            return np.asarray(fj.decode(cj, fmt, dtype))[:n].reshape(codes.shape)


BACKEND = JaxBackend()
