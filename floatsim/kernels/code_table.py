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

:func:`floatsim.cpu.tables.encode_table` builds the entries from the CPU decode of every code
and checks that rule against every one of them, so a format whose codes do
not follow it (none registered, but a user's might) gets ``None`` and the
general kernel.  The rule applied to the fast path's value equals the
general encode because the fast path equals ``decode(encode(x))`` and
decode is one to one on non-NaN values (checked here too).

Example:
    >>> import numpy as np, floatsim as fs
    >>> from floatsim.kernels.code_table import code_of_f32_py
    >>> from floatsim.cpu.tables import encode_table
    >>> t = encode_table(fs.format("e2m1"))
    >>> one_half = int(np.float32(1.5).view(np.uint32))
    >>> int(code_of_f32_py(one_half, 0, t)), int(code_of_f32_py(one_half | 1 << 31, 1, t))
    (3, 11)
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["NAN_ENTRY", "NO_ENTRY", "SHIFT_ALL", "TABLE_SIZE", "code_of_f32_py"]

#: Entries: 512 for (sign, float32 exponent), then NaN's code for a positive
#: and for a negative input.
TABLE_SIZE = 514
#: The entry of NaN's code for a positive input (the next: a negative one).
NAN_ENTRY = 512
#: A shift that drops the whole significand.
SHIFT_ALL = 23 << 16
#: An all-ones code: never read for a value of the format.
NO_ENTRY = 0xFFFF | SHIFT_ALL


def code_of_f32_py(r: Any, neg: Any, table: Any) -> Any:
    """The code of the float32 bits ``r`` (a value of the table's format, or
    NaN) for an input of sign ``neg`` (0 or 1). 32-bit arithmetic throughout,
    which the GPU keeps in 32-bit instructions."""
    r = np.uint32(r)
    nan = (r & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    ent = np.uint32(table[np.uint32(NAN_ENTRY) + np.uint32(neg) if nan else r >> np.uint32(23)])
    return (ent & np.uint32(0xFFFF)) + ((r & np.uint32(0x7FFFFF)) >> (ent >> np.uint32(16)))
