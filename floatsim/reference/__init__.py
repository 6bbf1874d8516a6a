"""The exact oracle: rounding to any format, and block formats, with rational
arithmetic.

Every cast path of floatsim (Numba CPU and CUDA kernels, the adapters, the
C++ header) is checked bit for bit against this package.  It is written from
``docs/semantics.md`` and ``docs/blocks.md`` alone, in pure Python with
:class:`fractions.Fraction`, and never imports the kernels: slow, obvious,
exact.

* :mod:`.elements`: one value into any format (``round_value``,
  ``encode_value``, ``decode_code``, ``neighbours``).
* :mod:`.blocks`: block scales and block-quantized values.
* :mod:`.random`: the counter-based random words, from their definition.

Example:
    >>> from floatsim import reference as ref
    >>> ref.round_value(464.0, "float8_e4m3fn")        # tie to the even code 448
    Fraction(448, 1)
"""

from __future__ import annotations

from . import blocks, random
from .elements import decode_code, encode_value, neighbours, round_value

__all__ = ["blocks", "decode_code", "encode_value", "neighbours", "random", "round_value"]
