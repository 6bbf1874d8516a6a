"""Codes from float32 values by table: how the GPU's fast ``encode`` turns
the float32 fast path's result into the format's code.

In every format the float32 fast path takes, the codes of the values that
share a float32 sign and exponent are consecutive and ordered by the float32
significand: a binade of a normal format holds ``2**m`` codes, a subnormal
binade fewer, zero one.  So with one 32-bit entry per (sign, exponent), 512
in all, ``code = base + (significand >> shift)``, where the entry packs
``base`` (16 bits) and ``shift``.  Two more entries hold the codes of NaN by
the input's sign (the all-ones code where the format has no NaN, as the GPU's
general ``encode`` gives), with shift 23, so that a NaN takes the same
arithmetic as a value and the lookup has no branch (which let the CPU's loop
vectorise: encode 2x faster).

:func:`encode_table` builds the entries from the CPU decode of every code
and checks that rule against every one of them, so a format whose codes do
not follow it (none registered, but a user's might) gets ``None`` and the
general kernel.  The rule applied to the fast path's value equals the
general encode because the fast path equals ``decode(encode(x))`` and
decode is one to one on non-NaN values (checked here too).

Example:
    >>> import numpy as np, floatsim as fs
    >>> from floatsim.kernels.code_table import encode_table, code_of_f32_py
    >>> t = encode_table(fs.format("e2m1"))
    >>> one_half = int(np.float32(1.5).view(np.uint32))
    >>> int(code_of_f32_py(one_half, 0, t)), int(code_of_f32_py(one_half | 1 << 31, 1, t))
    (3, 11)
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..formats import Format
from .fast32 import fits_fast32

__all__ = ["TABLE_SIZE", "encode_table", "code_of_f32_py"]

#: Entries: 512 for (sign, float32 exponent), then NaN's code for a positive
#: and for a negative input.
TABLE_SIZE = 514
_NAN = 512
_SHIFT_ALL = 23 << 16  # a shift that drops the whole significand
_NO_ENTRY = 0xFFFF | _SHIFT_ALL  # an all-ones code: never read for a value of the format


@functools.cache
def encode_table(fmt: Format) -> np.ndarray | None:
    """The table of :func:`code_of_f32_py` for ``fmt`` (uint32, read-only),
    or None where the fast path does not take ``fmt`` or its codes do not
    follow the rule of the module docstring."""
    from ..cast import _encode_general, code_dtype, decode

    if not fits_fast32(fmt) or fmt.num_codes > 2**16:
        return None
    codes = np.arange(fmt.num_codes, dtype=np.int64)
    v = decode(codes.astype(code_dtype(fmt)), fmt, np.float32).view(np.uint32).astype(np.int64)
    keep = (v & 0x7FFFFFFF) <= 0x7F800000
    codes, v = codes[keep], v[keep]
    if np.unique(v).size != v.size:
        return None
    table = np.full(TABLE_SIZE, _NO_ENTRY, dtype=np.uint32)
    idx, sig = v >> 23, v & 0x7FFFFF
    for i in np.unique(idx):
        sel = idx == i
        shift = 23 - int(sel.sum() - 1).bit_length()
        base = int(codes[sel][np.argmin(sig[sel])])
        if not np.array_equal(base + (sig[sel] >> shift), codes[sel]):
            return None
        table[i] = base | shift << 16
    if fmt.has_nan:
        # the CPU's codes of NaN; they must depend on the sign alone
        nans = np.array([0x7FC00000, 0x7F800001, 0x7FFFFFFF, 0xFFC00000, 0xFF800001, 0xFFFFFFFF],
                        dtype=np.uint32).view(np.float32)
        got = _encode_general(nans, fmt)
        if len(set(got[:3].tolist())) != 1 or len(set(got[3:].tolist())) != 1:
            return None
        table[_NAN], table[_NAN + 1] = int(got[0]) | _SHIFT_ALL, int(got[3]) | _SHIFT_ALL
    else:
        table[_NAN] = table[_NAN + 1] = int(np.iinfo(code_dtype(fmt)).max) | _SHIFT_ALL
    table.flags.writeable = False
    return table


def code_of_f32_py(r: Any, neg: Any, table: Any) -> Any:
    """The code of the float32 bits ``r`` (a value of the table's format, or
    NaN) for an input of sign ``neg`` (0 or 1). 32-bit arithmetic throughout,
    which the GPU keeps in 32-bit instructions."""
    r = np.uint32(r)
    nan = (r & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    ent = np.uint32(table[np.uint32(_NAN) + np.uint32(neg) if nan else r >> np.uint32(23)])
    return (ent & np.uint32(0xFFFF)) + ((r & np.uint32(0x7FFFFF)) >> (ent >> np.uint32(16)))
