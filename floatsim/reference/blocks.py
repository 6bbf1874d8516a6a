"""The exact oracle of block formats: every block's scale and every element,
with Fractions, from docs/blocks.md alone.

It walks the blocks with its own index arithmetic, computes each block's
scale exactly by its rule, and rounds every element with
:func:`floatsim.reference.round_value`; stochastic rounding draws its words
from :mod:`floatsim.reference.random`.  Slow, obvious, exact; it never
imports the kernels.

Example:
    >>> from fractions import Fraction
    >>> import floatsim as fs
    >>> block_scale(fs.blocks.format("mxfp4_e2m1"), [0.5, -3.0, 100.0, 7.0], Fraction(1))
    (Fraction(16, 1), 0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

import numpy as np

from ..blocks.format import BlockFormat, IntFormat
from ..blocks.format import format as _bformat
from ..formats import Format
from ..rounding import ScaleRule
from .elements import round_value
from .random import element_word

__all__ = ["block_scale", "element_value", "quantize"]


def _flog2(q: Fraction) -> int:
    """floor(log2(q)) of q > 0, exactly."""
    n, d = q.numerator, q.denominator
    e = n.bit_length() - d.bit_length()
    return e if Fraction(2) ** e <= q else e - 1


def _rna_bits(q: Fraction, p: int) -> Fraction:
    """q > 0 rounded to p significant bits, ties away."""
    step = Fraction(2) ** (_flog2(q) - p + 1)
    return math.floor(q / step + Fraction(1, 2)) * step


def _cast_fmt(bf: BlockFormat) -> Format:
    """The float format an element is rounded in (an integer's cast format)."""
    el = bf.element
    return el.cast_format if isinstance(el, IntFormat) else el


def _blocks(shape: tuple[int, ...], bsz: tuple[int, ...], axes: tuple[int, ...]) -> Iterator[list[int]]:
    """Yield each block as a list of flat C-order indices (own arithmetic)."""
    nd = len(shape)
    nblk = [-(-shape[a] // b) for a, b in zip(axes, bsz)]
    others = [d for d in range(nd) if d not in axes]
    strides = [math.prod(shape[d + 1:]) for d in range(nd)]
    for o in np.ndindex(*[shape[d] for d in others]):
        for bi in np.ndindex(*nblk):
            idx = []
            ranges = [range(b * s, min((b + 1) * s, shape[a])) for a, b, s in zip(axes, bi, bsz)]
            for inner in np.ndindex(*[len(r) for r in ranges]):
                pos = [0] * nd
                for d, v in zip(others, o):
                    pos[d] = v
                for a, r, i in zip(axes, ranges, inner):
                    pos[a] = r[i]
                idx.append(sum(p * s for p, s in zip(pos, strides)))
            yield idx


def block_scale(bf: BlockFormat, vals: list[float], T: Fraction,
                quant: Callable[[int, float, Fraction], Any] | None = None) -> tuple[Any, int]:
    """The scale of one block of values ``vals`` (floats) in ``bf``, with
    tensor scale ``T``: a Fraction, 'nan', or Fraction(0); and the zero point
    (rule 'minmax'; else 0).

    ``quant(j, v, X)`` rounds element j of the block with the call's mode and
    random bits (4-over-6 compares candidates quantized as the call does).
    """
    sc, el, rule = bf.scale, bf.element, bf.rule
    has_nan = any(math.isnan(v) for v in vals)
    if has_nan and sc.has_nan:
        return "nan", 0
    fin = [v for v in vals if not math.isnan(v)]
    inf = any(math.isinf(v) for v in fin)
    amax = max((abs(Fraction(v)) for v in fin if not math.isinf(v)), default=Fraction(0))
    sov = bf.scale_overflow
    if rule.is_pow2:
        kmin, kmax = _flog2(Fraction(sc.min_subnormal)), sc.emax
        over = inf
        k = kmin
        if not inf and amax > 0:
            v = amax / T
            if rule is ScaleRule.FLOOR:
                k = _flog2(v) - el.emax
            elif rule is ScaleRule.CEIL:
                k = _flog2(v) + (v != Fraction(2) ** _flog2(v)) - el.emax
            elif rule is ScaleRule.EVEN:
                k = _flog2(_rna_bits(v, el.mbits + 1)) - el.emax
            else:  # NEAREST: significand >= sqrt(2)
                E = _flog2(v)
                k = E + (v * v >= 2 * Fraction(4) ** E) - el.emax
            k = max(k, kmin)
            over = k > kmax
        if over:
            if sov == "nan":
                return "nan", 0
            k = kmax
        return Fraction(2) ** k, 0
    pol = "nan" if sov == "nan" else "saturate"
    if rule is ScaleRule.MINMAX:
        finite = [Fraction(v) for v in fin if not math.isinf(v)]
        hi = max([Fraction(0)] + finite)
        lo = min([Fraction(0)] + finite)
        if inf:
            if sov == "nan":
                return "nan", 0
            if any(v == -math.inf for v in fin):
                return Fraction(sc.max), el.qmax
            s = Fraction(sc.max)
        else:
            rng = hi - lo
            if rng == 0:
                return Fraction(0), 0
            s = round_value(rng / (el.qmax * T), sc, overflow=pol)
            if not isinstance(s, Fraction):
                return ("nan" if s != s else Fraction(0)), 0
        t = -lo / (s * T)
        z = math.floor(t)
        if t - z > Fraction(1, 2) or (t - z == Fraction(1, 2) and z % 2):
            z += 1
        return s, min(max(z, 0), el.qmax)

    def rnd(den: Fraction):
        if inf:  # the scale overflows
            return "nan" if sov == "nan" else Fraction(sc.max)
        if amax == 0:
            v = sc.value_exact(0)
            return v if isinstance(v, Fraction) else Fraction(0)
        mode = "up" if rule is ScaleRule.RCEIL else "nearest_even"
        s = round_value(amax / den, sc, mode, overflow=pol)
        return "nan" if (isinstance(s, float) and s != s) else Fraction(s)

    s6 = rnd(el.max * T)
    if rule is not ScaleRule.FOUR_OVER_SIX:
        return s6, 0
    s4 = rnd(Fraction(2) ** el.emax * T)
    if s6 == "nan" or s4 == "nan" or s6 == 0 or s4 == 0 or s6 == s4:
        return s6, 0

    def err(s):
        e = Fraction(0)
        for j, v in enumerate(vals):
            q = quant(j, v, s * T)
            if not math.isfinite(v):
                return math.inf
            if isinstance(q, float) and not math.isfinite(q):
                return math.inf
            e += (Fraction(q) - Fraction(v)) ** 2
        return e

    return (s4 if err(s4) < err(s6) else s6), 0


def element_value(v: float, X: Fraction, bf: BlockFormat, rounding: str, r: int | None,
                  width: int, sr_bits: int | None, zp: int) -> Any:
    """The exact fake-quantized value of one element (Fraction or special float)."""
    el = bf.element
    cf = _cast_fmt(bf)
    kw = dict(overflow=bf.element_overflow)
    if rounding == "stochastic":
        kw.update(random_bits=r, random_width=None if sr_bits else width, sr_bits=sr_bits)
    if math.isnan(v):
        return math.nan
    q = v if (math.isinf(v) or v == 0) else Fraction(v) / X
    out = round_value(q, cf, rounding, **kw)
    if isinstance(el, IntFormat):
        if isinstance(out, float) and math.isnan(out):
            return math.nan
        n = Fraction(out) * 2**el.frac_bits
        if el.signed:
            n = min(max(n, el.qmin), el.qmax)
            return Fraction(n, 2**el.frac_bits) * X if n else 0.0
        return (min(max(n + zp, 0), el.qmax) - zp) * X
    if isinstance(out, Fraction):
        return out * X
    return out  # nan, +-inf, +-0.0


def quantize(x: Any, bf: BlockFormat | str, rounding: str = "nearest_even", axis: Any = -1,
             seed: int | None = None, stream: int = 0, sr_bits: int | None = None,
             tensor_scale: float | None = None) -> np.ndarray:
    """Exact fake-quantized values of x (an object array of Fractions and
    floats: NaN, +-inf, +-0.0), as :func:`floatsim.blocks.quantize` defines them.

    Example:
        >>> import numpy as np
        >>> quantize(np.array([[0.5, -3.0, 100.0, 7.0]]), "mxfp4_e2m1").tolist()
        [[0.0, -0.0, Fraction(96, 1), Fraction(8, 1)]]
    """
    bf = _bformat(bf)
    x = np.asarray(x)
    shape = x.shape
    flat = x.reshape(-1)
    nd = x.ndim
    if bf.block is None:
        axes = tuple(range(nd)) if axis is None else tuple(
            a % nd for a in (axis if isinstance(axis, tuple) else (axis,)))
        bsz = tuple(max(shape[a], 1) for a in axes)
    else:
        k = len(bf.block)
        raw = axis if isinstance(axis, tuple) else (tuple(range(-k, 0)) if k > 1 else (axis,))
        axes = tuple(a % nd for a in raw)
        bsz = tuple(max(shape[a], 1) if b is None else b for a, b in zip(axes, bf.block))
    T = Fraction(1)
    if bf.tensor_format is not None:
        if tensor_scale is not None:
            T = Fraction(round_value(float(tensor_scale), bf.tensor_format))
        else:
            fin = [abs(Fraction(float(v))) for v in flat if np.isfinite(v)]
            a = max(fin, default=Fraction(0))
            if a == 0:
                T = Fraction(1)
            else:
                t = round_value(a / (Fraction(bf.scale_bound) * Fraction(bf.element_max)),
                                    bf.tensor_format)
                T = Fraction(t) if isinstance(t, Fraction) else Fraction(bf.tensor_format.min_subnormal)
    wide = x.dtype == np.float64
    out = np.empty(flat.size, dtype=object)
    def word(i: int) -> int | None:
        if rounding != "stochastic":
            return None
        # k-bit SR draws 32-bit words (docs/semantics.md)
        return element_word(seed, i, stream, wide=wide and not sr_bits)

    for idx in _blocks(shape, bsz, axes):
        vals = [float(flat[i]) for i in idx]

        def quant(j, v, X, idx=idx):
            return element_value(v, X, bf, rounding, word(idx[j]), 64 if wide else 32, sr_bits, 0)

        s, zp = block_scale(bf, vals, T, quant)
        for i, v in zip(idx, vals):
            if s == "nan":
                out[i] = math.nan
            elif s == 0:
                if isinstance(bf.element, IntFormat) or math.isnan(v):
                    out[i] = math.nan if math.isnan(v) else 0.0
                else:
                    out[i] = round_value(math.copysign(0.0, v), bf.element)
            else:
                out[i] = element_value(v, s * T, bf, rounding, word(i), 64 if wide else 32, sr_bits, zp)
    return out.reshape(shape)
