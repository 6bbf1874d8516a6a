"""Pseudo-quantization noise, one element at a time, from its definition
(docs/pqt.md) in rational arithmetic: the oracle of :mod:`floatsim.noise`.

It reads a distribution's *data* (its exact masses and its alias table, the
arrays the kernels receive) but computes everything else itself: the random
words (:mod:`.random`), the column and level a word picks, the annealing
count, the tensor's scale exponent, the spacing, the exact sum, the clip and
the one rounding (:func:`.elements.round_value`).  Slow and obvious.

Example:
    >>> from fractions import Fraction
    >>> from floatsim.noise import Noise
    >>> from floatsim.reference.noise import element, word
    >>> level_of(word(0, 0, 0), Noise.uniform(2))
    3
    >>> element(0.3, 0, "e4m3", Noise.r(9), seed=0, k=0)
    Fraction(155, 512)
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from ..formats import Format
from ..registry import format as _format
from ..rounding import Rounding
from .elements import round_value
from .random import philox4x32

__all__ = ["anneal_count", "combine", "element", "k_bounds", "level_of", "spacing", "tensor_k", "word"]

_MASK = 0xFFFFFFFF
_JMAX = 8
_FLOOR = -100


def word(seed: int, index: int, stream: int, c3: int = 2) -> int:
    """Word ``index % 4`` of Philox counter ``(index // 4, stream, c3)``: the
    noise's (c3 = 2), the annealing's (3) or the cast's (0)."""
    j = index >> 2
    return philox4x32((j & _MASK, j >> 32, stream, c3), (seed & _MASK, seed >> 32))[index & 3]


def level_of(u: int, noise: Any) -> int:
    """The numerator a 32-bit word draws (docs/pqt.md, "Sampling")."""
    if noise.kind == "uniform":
        b = noise.bits
        return 2 * (u >> (32 - b)) + 1 - (1 << b)
    g, tab = noise.kernel_tables()
    e = int(tab[u >> (32 - g)])
    thr, own, alias = e >> 32, (e >> 16) & 0xFFFF, e & 0xFFFF
    v = own if (u & ((1 << (32 - g)) - 1)) < thr else alias
    return v - (1 << 16) if v >= 1 << 15 else v


def anneal_count(u: int, a: float) -> int:
    """Extra bits of precision: #{i in 1..8 : u < floor(a**i * 2**32)}."""
    if a == 0:
        return 0
    fa = Fraction(a)
    return sum(u < int(fa ** i * (1 << 32)) for i in range(1, _JMAX + 1))


def k_bounds(fmt: Format, noise: Any) -> tuple[int, int]:
    """(kmin, kmax): the smallest noise step 2**(emin - mbits - f - 8 + kmin)
    is 2**-100; max * 2**kmax stays below 2**127."""
    return _FLOOR - (fmt.emin - fmt.mbits - noise.frac_bits - _JMAX), min(100, 126 - fmt.emax)


def tensor_k(amax: Fraction, fmt: Format, noise: Any) -> int:
    """The smallest k with amax <= max * 2**k, clamped (amax 0: kmin)."""
    kmin, kmax = k_bounds(fmt, noise)
    if amax == 0:
        return kmin
    mx = Fraction(fmt.max)
    k = kmin
    while amax > mx * Fraction(2) ** k and k < kmax:
        k += 1
    return k


def spacing(w: Fraction, fmt: Format, k: int) -> Fraction:
    """The target's spacing at w, the target scaled by 2**k."""
    x = abs(w) / Fraction(2) ** k
    if x < Fraction(2) ** fmt.emin:
        e = fmt.emin - fmt.mbits if fmt.subnormals else fmt.emin
    else:
        ex = x.numerator.bit_length() - x.denominator.bit_length()
        if Fraction(2) ** ex > x:
            ex -= 1
        e = min(ex, fmt.emax) - fmt.mbits
    return Fraction(2) ** (e + k)


def _rto32(v: Fraction) -> Fraction:
    """v rounded to odd into float32's grid (24 bits; subnormal steps 2**-149)."""
    if v == 0:
        return v
    a = abs(v)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    q = Fraction(2) ** (max(e, -126) - 23)
    lo = a // q
    r = lo * q
    if r != a and lo % 2 == 0:
        r += q
    return r if v > 0 else -r


def element(w: Any, index: int, fmt: Format | str, noise: Any, *, seed: int = 0, stream: int = 0,
            k: int = 0, storage: Format | str = "bfloat16",
            rounding: Rounding | str = "nearest_even", clip: bool = True,
            anneal: float = 0.0) -> Fraction | float:
    """The pseudo-quantized value of ``w`` (a float or Fraction) at flat index
    ``index``, the target scaled by ``2**k``: ``round(clip(w + n * 2**-f *
    2**-j * spacing))``; a zero sum is +0; stochastic rounding applies to the
    sum rounded to odd into float32 (docs/pqt.md)."""
    fmt, storage, rounding = _format(fmt), _format(storage), Rounding.parse(rounding)
    sr = dict(random_bits=word(seed, index, stream, 0), random_width=32) \
        if rounding is Rounding.STOCHASTIC else {}
    if isinstance(w, float) and (w != w or w in (float("inf"), float("-inf"))):
        return round_value(w, storage, rounding, **sr)
    n = level_of(word(seed, index, stream), noise)
    j = anneal_count(word(seed, index, stream, 3), anneal)
    return combine(w, n, j, fmt, noise, k=k, storage=storage, rounding=rounding, clip=clip, **sr)


def combine(w: Any, n: int, j: int, fmt: Format | str, noise: Any, *, k: int = 0,
            storage: Format | str = "bfloat16", rounding: Rounding | str = "nearest_even",
            clip: bool = True, random_bits: int | None = None,
            random_width: int | None = None) -> Fraction | float:
    """The result for a given noise numerator ``n`` and annealing count ``j``
    (finite ``w``): what :func:`element` computes once the words are drawn."""
    fmt, storage, rounding = _format(fmt), _format(storage), Rounding.parse(rounding)
    wq = Fraction(w)
    v = wq + n * spacing(wq, fmt, k) / Fraction(2) ** (noise.frac_bits + j)
    top = Fraction(fmt.max) * Fraction(2) ** k
    if clip and abs(v) > top:
        v = top if v > 0 else -top
    if rounding is Rounding.STOCHASTIC:
        v = _rto32(v)
    # an exact zero sum is +0, as IEEE addition gives it (-0 plus a +0 noise too)
    return round_value(v if v != 0 else 0.0, storage, rounding, random_bits=random_bits,
                       random_width=random_width)
