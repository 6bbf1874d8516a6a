"""Per-call plans: the fast host path of :func:`floatsim.quantize` for CPU
arrays, the counterpart of :mod:`floatsim.gpu.plans`.

Training code and the adapters (``floatsim_torch`` views each CPU tensor as
a numpy array and calls ``fs.quantize`` on it) cast the same few (format,
mode, dtype) combinations thousands of times, often on small arrays, where
the general path's checks and derivations (:class:`floatsim.spec.CastSpec`,
the fast path's constants, the kernel choice) cost several times the kernel
itself.  Here the first call of a combination is validated by that general
path's own code and leaves a *plan*: the kernel and its arguments.  Later
calls check only what changes per call (the seed and stream are plain ints
in range, ``out=`` is a writeable C-contiguous array of x's shape and dtype),
allocate the result and launch (through :func:`.launch.launch`, so small
arrays run serially on the calling thread).

**What it takes.** A C-contiguous float32 or float64 numpy array, no
``out_dtype=``, ``random_bits=`` or ``cuda_stream=``, ``out=`` absent or as
above, a seed that is a plain ``int``.  Anything else, and any combination
the general path refuses, goes through the general path (with its checks and
messages); the results are the same bits either way.

Example:
    >>> import numpy as np
    >>> quantize(np.array([0.3, 460.0], np.float32), "e4m3", "rne", None, None, False, None, 0,
    ...          None, None).tolist()
    [0.3125, 448.0]
    >>> quantize(np.zeros(2, np.float16), "e4m3", "rne", None, None, False, None, 0, None, None) is None
    True
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from ..dtypes import check_out_dtype
from ..spec import CastSpec
from . import elementwise as E
from .launch import launch

__all__ = ["Plan", "plan", "quantize"]

_PLANNED = (np.dtype(np.float32), np.dtype(np.float64))
_RAW32 = np.dtype(np.uint32)
_MAX_SEED, _MAX_STREAM, _LO32 = 1 << 64, 1 << 32, 0xFFFFFFFF


class Plan(NamedTuple):
    """One combination's kernel and its arguments after (x, out)."""

    kernel: Any
    args: tuple
    raw: np.dtype | None  # the views the kernel takes of x and out (uint32: the fast path)
    philox: bool  # args[2:5] are the Philox seed words and stream, set per call


@functools.lru_cache(maxsize=1024)
def plan(fmt: Any, rounding: Any, overflow: Any, subnormals: Any, daz: Any, has_seed: bool,
         sr_bits: Any, dtype: np.dtype) -> Plan | None:
    """The plan of a combination, validated by the general path's own code
    (:class:`~floatsim.spec.CastSpec` on an empty array of ``dtype``); None
    where that code refuses it or the dtype is not planned (the general path
    then says what is wrong, or handles it)."""
    if dtype not in _PLANNED:
        return None
    try:
        spec = CastSpec(np.empty(0, dtype), fmt, rounding, overflow=overflow,
                        subnormals=subnormals, daz=daz, seed=0 if has_seed else None,
                        sr_bits=sr_bits)
        check_out_dtype(dtype, spec.fmt)
    except (TypeError, ValueError):
        return None
    if spec.fast32(dtype):
        kernel, args = E.fast32_args(spec)
        return Plan(kernel, args, _RAW32, has_seed)
    return Plan(E.quantize_flat, E.general_args(spec), None, True)


def quantize(x: Any, fmt: Any, rounding: Any, overflow: Any, subnormals: Any, daz: Any,
             seed: Any, stream: Any, sr_bits: Any, out: Any) -> np.ndarray | None:
    """``fs.quantize(x, ...)`` of a C-contiguous float32 / float64 array into
    a new array or ``out``, or None where this path does not take the call
    (see the module docstring)."""
    if type(x) is not np.ndarray or not x.flags.c_contiguous:
        return None
    try:
        p = plan(fmt, rounding, overflow, subnormals, daz, seed is not None, sr_bits, x.dtype)
    except TypeError:  # an unhashable argument: the general path says what is wrong
        return None
    if p is None or type(stream) is not int or not 0 <= stream < _MAX_STREAM:
        return None
    if out is None:
        out = np.empty(x.shape, x.dtype)
    elif (type(out) is not np.ndarray or out.dtype != x.dtype or out.shape != x.shape
          or not out.flags.c_contiguous or not out.flags.writeable):
        return None
    args = p.args
    if p.philox:
        if seed is None:
            seed = 0
        elif type(seed) is not int or not 0 <= seed < _MAX_SEED:
            return None
        args = (args[0], args[1], seed & _LO32, seed >> 32, stream, *args[5:])
    xf, of = x.reshape(-1), out.reshape(-1)
    if p.raw is not None:
        xf, of = xf.view(p.raw), of.view(p.raw)
    launch(p.kernel, xf.size, xf, of, *args)
    return out
