"""Parallel CPU kernels of the element-wise cast: the scalar cast mapped over
flat arrays with prange.

Each kernel takes the flat input, the flat output, the parameter vector and
the random-bit source; ``rmode`` selects it (0: none, 1: Philox from the
seed, 2: explicit words).  ``offset`` is the flat index of element 0, so a
caller that splits an array still draws the same words.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import types
from numba.extending import overload

from ..kernels.abi import ODD, P_WIDE_RANDOM, RDN, RNA, RNE, ROUNDING_CODE, RTZ, RUP, SR
from ..kernels.code_table import code_of_f32_py
from ..kernels.fast32 import quantize_f32_bits
from ..kernels.philox import random_word32, random_words
from ..kernels.scalar import as_tuple, decode_code, encode_bits
from ..rounding import Rounding
from .launch import launch

_LO32 = np.uint64(0xFFFFFFFF)

_S32 = np.uint64(32)


@numba.njit(cache=True, nogil=True, inline="always")
def _words(i, p, rmode, seed_lo, seed_hi, stream, offset, rbits):  # noqa: ANN001, ANN201
    if rmode == 1:
        return random_words(seed_lo, seed_hi, i + offset, stream, p[P_WIDE_RANDOM])
    if rmode == 2:
        w = rbits[i]
        return np.int64(w >> _S32), np.int64(w & _LO32)
    return np.int64(0), np.int64(0)


@numba.njit(parallel=True, cache=True, nogil=True)
def quantize_flat(x, out, pv, rmode, seed_lo, seed_hi, stream, offset, rbits):  # noqa: ANN001, ANN201
    """out[i] = value of x[i] rounded to the format (fake quantization)."""
    p = as_tuple(pv)
    if rmode == 0:
        for i in numba.prange(x.size):
            out[i] = decode_code(encode_bits(np.float64(x[i]).view(np.int64), p, 0, 0), p)
    else:
        for i in numba.prange(x.size):
            r_hi, r_lo = _words(i, p, rmode, seed_lo, seed_hi, stream, offset, rbits)
            code = encode_bits(np.float64(x[i]).view(np.int64), p, r_hi, r_lo)
            out[i] = decode_code(code, p)


@numba.njit(parallel=True, cache=True, nogil=True)
def encode_flat(x, out, pv, rmode, seed_lo, seed_hi, stream, offset, rbits):  # noqa: ANN001, ANN201
    """out[i] = code of x[i]; NO_CODE (-1) wraps to all ones in unsigned out."""
    p = as_tuple(pv)
    for i in numba.prange(x.size):
        r_hi, r_lo = _words(i, p, rmode, seed_lo, seed_hi, stream, offset, rbits)
        out[i] = encode_bits(np.float64(x[i]).view(np.int64), p, r_hi, r_lo)


@numba.njit(parallel=True, cache=True, nogil=True)
def decode_flat(codes, out, pv):  # noqa: ANN001, ANN201
    """out[i] = value of codes[i]."""
    p = as_tuple(pv)
    for i in numba.prange(codes.size):
        out[i] = decode_code(np.int64(codes[i]), p)


@numba.njit(parallel=True, cache=True, nogil=True)
def lookup_flat(codes, table, out):  # noqa: ANN001, ANN201
    """out[i] = table[codes[i]] (codes checked in range by the caller; the
    arrays are raw unsigned views, so any output dtype takes this one loop)."""
    for i in numba.prange(codes.size):
        out[i] = table[codes[i]]


_code_of = numba.njit(cache=True, nogil=True, inline="always")(code_of_f32_py)


def _emit(r, u, table):  # noqa: ANN001, ANN202 - typed by the overload below
    """What the fast-path kernels store for the result bits ``r`` of the input
    bits ``u``: ``r`` itself (quantize: ``table`` None), or its code by
    code_table (encode, fused into the same loop: 2x the two-pass speed)."""


@overload(_emit)
def _emit_impl(r, u, table):  # noqa: ANN001, ANN202
    if isinstance(table, types.NoneType):
        def value(r, u, table):  # noqa: ANN001, ANN202, ARG001
            return r

        return value

    def code(r, u, table):  # noqa: ANN001, ANN202
        return _code_of(r, u >> np.uint32(31), table)

    return code


@numba.njit(cache=True, nogil=True, inline="always")
def _f32_loop(xu, ou, c, rnd, table):  # noqa: ANN001, ANN201
    for i in numba.prange(xu.size):
        u = xu[i]
        ou[i] = _emit(quantize_f32_bits(u, c, rnd, 0), u, table)


# The float32 fast path over uint32 views of x and out (see fast32.py), one
# kernel per deterministic mode: with the mode a constant, each loop holds only
# its own rule and LLVM vectorises it (about twice as fast as one kernel that
# tests the mode per element).  Numba's `literally` would do the same but
# re-runs type inference on every call (seconds), hence these six kernels.
# ``table`` None stores the float32 bits (quantize); a code table (uint32)
# stores codes into a uint8 / uint16 ``ou`` (encode).
@numba.njit(parallel=True, cache=True, nogil=True)
def f32_rne(xu, ou, c, table):  # noqa: ANN001, ANN201
    _f32_loop(xu, ou, c, RNE, table)


@numba.njit(parallel=True, cache=True, nogil=True)
def f32_rna(xu, ou, c, table):  # noqa: ANN001, ANN201
    _f32_loop(xu, ou, c, RNA, table)


@numba.njit(parallel=True, cache=True, nogil=True)
def f32_rtz(xu, ou, c, table):  # noqa: ANN001, ANN201
    _f32_loop(xu, ou, c, RTZ, table)


@numba.njit(parallel=True, cache=True, nogil=True)
def f32_rup(xu, ou, c, table):  # noqa: ANN001, ANN201
    _f32_loop(xu, ou, c, RUP, table)


@numba.njit(parallel=True, cache=True, nogil=True)
def f32_rdn(xu, ou, c, table):  # noqa: ANN001, ANN201
    _f32_loop(xu, ou, c, RDN, table)


@numba.njit(parallel=True, cache=True, nogil=True)
def f32_odd(xu, ou, c, table):  # noqa: ANN001, ANN201
    _f32_loop(xu, ou, c, ODD, table)


@numba.njit(parallel=True, cache=True, nogil=True)
def f32_sr(xu, ou, c, rmode, seed_lo, seed_hi, stream, offset, rbits, table):  # noqa: ANN001, ANN201
    """Stochastic rounding on the fast path: Philox words (rmode 1) or explicit
    words (rmode 2), 32 bits each."""
    if rmode == 1:
        for i in numba.prange(xu.size):
            u = xu[i]
            r_lo = random_word32(seed_lo, seed_hi, i + offset, stream)
            ou[i] = _emit(quantize_f32_bits(u, c, SR, r_lo), u, table)
    else:
        for i in numba.prange(xu.size):
            u = xu[i]
            ou[i] = _emit(quantize_f32_bits(u, c, SR, np.int64(rbits[i] & _LO32)), u, table)


#: Fast-path kernels indexed by rounding code (kernels.abi.ROUNDING_CODE; SR last).
F32_KERNELS = (f32_rne, f32_rna, f32_rtz, f32_rup, f32_rdn, f32_odd, f32_sr)


# ---- running a validated call ------------------------------------------------------------


def fast32_args(spec: Any, table: np.ndarray | None = None) -> tuple[Any, tuple]:
    """The float32 fast-path kernel of ``spec`` and its arguments after the
    input and output views (Philox seed words and stream at 2, 3, 4 under
    stochastic rounding, as in :func:`general_args`)."""
    kernel = F32_KERNELS[ROUNDING_CODE[spec.rounding]]
    if spec.rounding is Rounding.STOCHASTIC:
        return kernel, (spec.consts(), spec.rmode, spec.seed_lo, spec.seed_hi, spec.stream, 0,
                        spec.rbits, table)
    return kernel, (spec.consts(), table)


def general_args(spec: Any) -> tuple:
    """The arguments of the general routine (``quantize_flat`` or
    ``encode_flat``) after the input and output: the parameter vector, the
    random-bit source, Philox seed words and stream (at 2, 3, 4), offset 0."""
    return (spec.params, spec.rmode, spec.seed_lo, spec.seed_hi, spec.stream, 0, spec.rbits)


def run_fast32(spec: Any, out_flat: np.ndarray, table: np.ndarray | None = None) -> None:
    """The float32 fast path of ``spec`` (a :class:`floatsim.spec.CastSpec`
    whose ``fast32`` holds) into float32 ``out_flat``, or with a code
    ``table`` (:func:`floatsim.cpu.tables.code_table_for`) its codes into
    ``out_flat`` of the code dtype."""
    xu = spec.flat_input().view(np.uint32)
    ou = out_flat if table is not None else out_flat.view(np.uint32)
    kernel, args = fast32_args(spec, table)
    launch(kernel, xu.size, xu, ou, *args)


def run_general(spec: Any, kernel: Any, out_flat: np.ndarray) -> None:
    """The general routine (``quantize_flat`` or ``encode_flat``) of ``spec``
    into ``out_flat`` (float64 / float32 values, or codes)."""
    x = spec.flat_input()
    launch(kernel, x.size, x, out_flat, *general_args(spec))
