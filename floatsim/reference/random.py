"""The counter-based random words, written again in plain Python integers.

docs/semantics.md defines which Philox-4x32-10 word (Salmon et al., SC'11)
element ``i`` of a call draws from ``(seed, stream)``.  The kernels compute
it with :mod:`floatsim.kernels.philox`; the oracle computes it here, from the
definition, so that the tests check the kernels' words too rather than
borrow them.

Example:
    >>> [hex(w) for w in philox4x32((0, 0, 0, 0), (0, 0))]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    >>> element_word(7, 20, 0), element_word(7, 20, 0, wide=True) >> 32 != 0
    (1454331580, True)
"""

from __future__ import annotations

__all__ = ["element_word", "philox4x32"]

_M0, _M1 = 0xD2511F53, 0xCD9E8D57  # round multipliers
_W0, _W1 = 0x9E3779B9, 0xBB67AE85  # Weyl key increments
_MASK = 0xFFFFFFFF


def philox4x32(counter: tuple[int, int, int, int], key: tuple[int, int]) -> tuple[int, int, int, int]:
    """Ten Philox rounds on a 128-bit counter (four 32-bit words) and a
    64-bit key (two words)."""
    x0, x1, x2, x3 = (c & _MASK for c in counter)
    k0, k1 = (k & _MASK for k in key)
    for _ in range(10):
        p0, p1 = _M0 * x0, _M1 * x2
        x0, x1, x2, x3 = (p1 >> 32) ^ x1 ^ k0, p1 & _MASK, (p0 >> 32) ^ x3 ^ k1, p0 & _MASK
        k0, k1 = (k0 + _W0) & _MASK, (k1 + _W1) & _MASK
    return x0, x1, x2, x3


def element_word(seed: int, index: int, stream: int = 0, *, wide: bool = False) -> int:
    """The random word of element ``index`` (its flat C-order index in the
    call's array) for ``seed`` and ``stream``: 32 bits, or 64 with ``wide``
    (exact stochastic rounding of float64 inputs)."""
    key = (seed & _MASK, seed >> 32)
    if not wide:  # W = 32: word i % 4 of counter (i // 4, stream, 0)
        j = index >> 2
        return philox4x32((j & _MASK, j >> 32, stream, 0), key)[index & 3]
    j = index >> 1  # W = 64: words (2k+1, 2k) of counter (i // 2, stream, 1), k = i % 2
    w = philox4x32((j & _MASK, j >> 32, stream, 1), key)
    k = 2 * (index & 1)
    return w[k + 1] << 32 | w[k]
