"""Arithmetic-unit models: FMA, dot-product units and GEMMs with an emulated accumulator.

* :class:`AccumulatorSpec` / :class:`FixedPoint`: how a unit multiplies,
  aligns, adds and rounds (plain data); :func:`spec` / :func:`names`: the
  presets (FP32, Hopper and Blackwell FP8, V100/A100 FP16, bf16 and fp16
  accumulators), each citing its source.
* :func:`fma`, :func:`dot`, :func:`mx_dot`: the scalar golden models (Numba,
  integer arithmetic on exact products), bit-exact with the rational
  oracle :mod:`floatsim.mac.reference`.
* :func:`matmul`: a GEMM whose every element is the scalar model, as a
  parallel tiled Numba loop on the CPU or a numba-cuda kernel on GPU arrays.

See docs/mac.md for the definition of every step and what is exact.

Example:
    >>> import numpy as np, floatsim.mac as mac
    >>> a = np.float32([[1.0, 2.0**-12, 2.0**-12, 2.0**-12, 2.0**-12]])
    >>> b = np.ones((5, 1), np.float32)
    >>> float(mac.matmul(a, b, "fp32")[0, 0]), float(mac.matmul(a, b, "bf16")[0, 0])
    (1.0009765625, 1.0)
"""

from . import reference
from .ops import dot, fma, matmul, mx_dot
from .spec import AccumulatorSpec, FixedPoint, names, spec

__all__ = ["AccumulatorSpec", "FixedPoint", "dot", "fma", "matmul", "mx_dot", "names",
           "reference", "spec"]
