"""kernels.code_table (the fast encode on the CPU and the GPU: the fast
path's float32 value, then its code by table) against the general encode
kernel (``cast._encode_general``: scalar.encode_bits from the exact value).

The GPU kernels themselves are checked in tests/cuda_sim_check.py (simulator)
and on a GPU (all 2**32 float32 inputs, every mode: docs/benchmarks.md);
here the rule, on the CPU, for every registered format it takes, and
``fs.encode``'s CPU fast path.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

import floatsim as fs
from floatsim.cpu.tables import encode_general, encode_table
from floatsim.kernels.code_table import TABLE_SIZE, code_of_f32_py
from floatsim.kernels.forms import fits_fast32
from floatsim.registry import names

_code_of = numba.njit(code_of_f32_py)


@numba.njit
def _codes(r: np.ndarray, x: np.ndarray, table: np.ndarray) -> np.ndarray:
    out = np.empty(r.size, dtype=np.int64)
    for i in range(r.size):
        out[i] = _code_of(r[i], x[i] >> 31, table)
    return out


def _formats() -> list[fs.Format]:
    seen: list[fs.Format] = []
    for f in [fs.format(n) for n in names()] + [fs.p3109(8, 3), fs.p3109(8, 1), fs.p3109(6, 2)]:
        if f not in seen:
            seen.append(f)
    return seen


# strided over all float32 bit patterns, plus every pattern near the specials
_BITS = np.unique(np.concatenate([
    np.arange(7, 2**32, 4093, dtype=np.uint64),
    *(np.arange(c - 300, c + 300, dtype=np.uint64) for c in (0x300, 0x7F800000, 0x80000300, 0xFF800000)),
]).astype(np.uint32))


@pytest.mark.parametrize("fmt", _formats(), ids=str)
def test_table_codes_match_encode(fmt: fs.Format) -> None:
    table = encode_table(fmt)
    if table is None:
        # only where the fast path does not apply or the codes need more than 16 bits
        assert not fits_fast32(fmt) or fmt.num_codes > 2**16, fmt
        return
    assert table.shape == (TABLE_SIZE,) and table.dtype == np.uint32 and not table.flags.writeable
    x_all = _BITS.view(np.float32)
    keep = slice(None) if fmt.has_nan else ~np.isnan(x_all)  # the CPU refuses NaN there
    x, bits = x_all[keep], _BITS[keep]
    rb = (bits * np.uint32(2654435761)).astype(np.uint32)
    rb[0::4], rb[1::4] = 0, 0xFFFFFFFF
    for mode in fs.Rounding:
        for kw in ([{}] if mode is not fs.Rounding.STOCHASTIC
                   else [{"random_bits": rb}, {"random_bits": rb, "sr_bits": 3}]):
            for overflow in (None, "saturate"):
                want = encode_general(x, fmt, mode, overflow=overflow, **kw)
                r = fs.quantize(x, fmt, mode, overflow=overflow, **kw).view(np.uint32)
                got = _codes(r, bits, table)
                bad = np.flatnonzero(got != want)
                assert bad.size == 0, (fmt, mode, kw, overflow, hex(bits[bad[0]]), got[bad[0]], want[bad[0]])
                # fs.encode takes the table on the CPU too
                fast = fs.encode(x, fmt, mode, overflow=overflow, **kw)
                assert fast.dtype == want.dtype and np.array_equal(fast, want), (fmt, mode, kw, overflow)


def test_nan_codes_without_nan_are_all_ones() -> None:
    # the GPU's encode of NaN into a format without NaN (the CPU raises)
    table = encode_table(fs.format("e2m1"))
    nan = int(np.float32(np.nan).view(np.uint32))
    assert _code_of(nan, 0, table) == _code_of(nan | 1 << 31, 1, table) == 0xFF


def test_formats_outside_the_rule_have_no_table() -> None:
    assert encode_table(fs.format("tf32")) is None  # 19-bit codes
    assert encode_table(fs.format("e8m0")) is None  # not on the float32 fast path
