"""The exact oracle for the arithmetic-unit models: rational arithmetic, step by step.

Written from docs/mac.md alone with :class:`fractions.Fraction` and the core
oracle :func:`floatsim.reference.round_value` (every rounding into a format
goes through it); it never imports the Numba models, which the tests check
against it bit for bit.  Slow and obvious.

Values are Fractions when finite and nonzero, Python floats for NaN, +-inf
and the signed zeros (as in :mod:`floatsim.reference`).  Stochastic rounding
takes its random integers explicitly: ``random_bits[s]`` is the word of the
accumulator rounding of step ``s`` (the models draw word ``elem * steps + s``
of the spec's Philox stream; docs/mac.md).

Example:
    >>> from fractions import Fraction
    >>> import floatsim.mac as mac
    >>> from floatsim.mac import reference as ref
    >>> ref.fma(1.125, 1.125, -1.25, "e4m3")   # one rounding: 2**-6 (two would give 0)
    Fraction(1, 64)
    >>> ref.dot([1.0, 2.0**-20], [1.0, 1.0], mac.spec("hopper_fp8"))  # cut below 2**-13
    Fraction(1, 1)
    >>> ref.dot([1.0, 2.0**-20], [1.0, 1.0], mac.spec("fp32"))
    Fraction(1048577, 1048576)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

from ..formats import Format
from ..reference import round_value
from ..registry import format as _format
from ..rounding import Rounding
from .spec import AccumulatorSpec, FixedPoint
from .spec import spec as _spec

__all__ = ["fma", "dot", "mx_dot", "exact_dot", "steps"]

Value = Fraction | float
_F32 = _format("float32")


# ---- values -------------------------------------------------------------------------------
def _value(x: object) -> Value:
    """A number as an exact Fraction, or the float itself when NaN, inf or zero."""
    f = float(x)  # type: ignore[arg-type]
    if math.isnan(f) or math.isinf(f) or f == 0:
        return f
    return Fraction(f)


def _finite(v: Value) -> bool:
    return isinstance(v, Fraction) or (v == v and not math.isinf(v))


def _exact(v: Value) -> Fraction:
    """A finite value as a Fraction (the signed zeros are 0)."""
    return v if isinstance(v, Fraction) else Fraction(0)


def _special_sum(values: Sequence[Value]) -> float:
    """The IEEE sum of values of which at least one is NaN or an infinity."""
    if any(isinstance(v, float) and v != v for v in values):
        return math.nan
    infs = {v for v in values if isinstance(v, float) and math.isinf(v)}
    return math.nan if len(infs) > 1 else infs.pop()


def _floor_log2(q: Fraction) -> int:
    """floor(log2 q) of a positive Fraction."""
    e = q.numerator.bit_length() - q.denominator.bit_length()
    return e if Fraction(2) ** e <= q else e - 1


def _round_int(q: Fraction, mode: Rounding, r: int = 0, k: int = 0) -> int:
    """q rounded to an integer: the table of docs/semantics.md applied to the
    magnitude, ties to the even integer, k-bit SR with the integer r."""
    a = abs(q)
    lo = math.floor(a)
    frac = a - lo
    neg = q < 0
    if frac == 0:
        up = False
    elif mode is Rounding.NEAREST_EVEN:
        up = frac > Fraction(1, 2) or (frac == Fraction(1, 2) and lo % 2 == 1)
    elif mode is Rounding.NEAREST_AWAY:
        up = frac >= Fraction(1, 2)
    elif mode is Rounding.TOWARD_ZERO:
        up = False
    elif mode is Rounding.UP:
        up = not neg
    elif mode is Rounding.DOWN:
        up = neg
    elif mode is Rounding.ODD:
        up = lo % 2 == 0
    else:
        up = math.floor(frac * (1 << k)) + (r % (1 << k)) >= (1 << k)
    n = lo + up
    return -n if neg else n


def _round(v: Value, fmt: Format, mode: Rounding, r: int | None = None, k: int | None = None) -> Value:
    """One rounding into fmt (the core oracle); an exact zero sum is +0."""
    if mode is Rounding.STOCHASTIC:
        return round_value(v, fmt, mode, random_bits=r, sr_bits=k)
    return round_value(v, fmt, mode)


def _sum_round(terms: Sequence[Value], fmt: Format, mode: Rounding, r: int | None = None,
               k: int | None = None) -> Value:
    """The exact sum of the terms, rounded once; a zero sum of nonzero or
    mixed terms is +0 (docs/mac.md, "Zeros")."""
    if not all(_finite(t) for t in terms):
        return _round(_special_sum(terms), fmt, mode, r, k)
    return _round(sum((_exact(t) for t in terms), Fraction(0)), fmt, mode, r, k)


# ---- FMA -------------------------------------------------------------------------------------
def fma(a: float, b: float, c: float, fmt: Format | str, rounding: Rounding | str = "nearest_even",
        *, random_bits: int | None = None, sr_bits: int | None = None) -> Value:
    """``a * b + c`` rounded once to ``fmt``, IEEE 754's fusedMultiplyAdd:
    NaN from any NaN, ``0 * inf`` and ``inf - inf``; an exact zero is +0
    (-0 when rounding down), but ``(-0) + (-0)`` stays -0.

    Example:
        >>> fma(-1.0, 0.0, -0.0, "float16"), fma(1.0, 1.0, -1.0, "float16", "down")
        (-0.0, -0.0)
    """
    fmt = _format(fmt)
    mode = Rounding.parse(rounding)
    va, vb, vc = _value(a), _value(b), _value(c)
    if not (_finite(va) and _finite(vb)):
        if any(isinstance(v, float) and v != v for v in (va, vb)) or 0.0 in (va, vb):
            p: Value = math.nan  # NaN, or 0 * inf
        else:
            p = math.copysign(math.inf, float(va) * float(vb))
    elif va == 0 or vb == 0:
        p = math.copysign(0.0, math.copysign(1.0, float(va)) * math.copysign(1.0, float(vb)))
    else:
        p = _exact(va) * _exact(vb)
    if not (_finite(p) and _finite(vc)):
        return _round(_special_sum([p, vc]), fmt, mode, random_bits, sr_bits)
    s = _exact(p) + _exact(vc)
    if s == 0:
        both_neg = (isinstance(p, float) and math.copysign(1.0, p) < 0
                    and isinstance(vc, float) and math.copysign(1.0, vc) < 0)
        zero = -0.0 if both_neg or mode is Rounding.DOWN else 0.0
        return _round(zero, fmt, mode, random_bits, sr_bits)
    return _round(s, fmt, mode, random_bits, sr_bits)


# ---- dot products ------------------------------------------------------------------------------
def steps(k: int, spec: AccumulatorSpec | str) -> int:
    """How many accumulator roundings (and SR words) a dot product of length
    ``k`` takes: one per group, ``ceil(k / group)`` (one per product without
    groups).

    Example:
        >>> steps(100, "hopper_fp8"), steps(100, "fp32")
        (4, 100)
    """
    g = _spec(spec).group or 1
    return -(-k // g)


def _product(a: object, b: object, scale: Value, spec: AccumulatorSpec) -> Value:
    """The exact product a*b*scale, then rounded once to spec.product."""
    va, vb = _value(a), _value(b)
    if not all(_finite(v) for v in (va, vb, scale)):
        vals = (va, vb, scale)
        if any(isinstance(v, float) and v != v for v in vals) or any(v == 0 for v in vals):
            p: Value = math.nan
        else:
            p = math.copysign(math.inf, float(va) * float(vb) * float(scale))
    else:
        p = _exact(va) * _exact(vb) * _exact(scale)
        if p == 0:
            p = 0.0
    if spec.product is not None:
        p = _round(p, spec.product, spec.product_rounding)
    return p


def _aligned_sum(terms: list[Value], spec: AccumulatorSpec) -> Fraction:
    """The exact sum of the finite terms, each first cut onto the grid
    2**(E - kept_bits) of the group's largest exponent E (docs/mac.md)."""
    nonzero = [_exact(t) for t in terms if _exact(t) != 0]
    if not nonzero:
        return Fraction(0)
    assert spec.kept_bits is not None
    big = max(_floor_log2(abs(t)) for t in nonzero)
    q = Fraction(2) ** (big - spec.kept_bits)
    return sum((_round_int(t / q, spec.align_rounding) * q for t in nonzero), Fraction(0))


class _Acc:
    """The accumulator's state: a value of the accumulator format (or the
    fixed-point register's integer), and the Kahan compensation."""

    def __init__(self, spec: AccumulatorSpec) -> None:
        self.spec = spec
        self.reset()

    def reset(self) -> None:
        self.v: Value = 0.0
        self.c: Value = 0.0
        self.fixed = 0
        self.bad = False

    def add(self, products: list[Value], r: int | None) -> None:
        """One step: a group of products (one product without groups)."""
        spec = self.spec
        acc = spec.accumulator
        finite = all(_finite(p) for p in products)
        if isinstance(acc, FixedPoint):
            self._add_fixed(products if finite else [_special_sum(products)], r)
            return
        mode, k = spec.acc_rounding, spec.sr_bits
        if not (finite and _finite(self.v)) and not spec.kahan:
            self.v = _sum_round([self.v, *products], acc, mode, r, k)  # IEEE's specials
        elif spec.align_accumulator:
            self.v = _sum_round([_aligned_sum([*products, self.v], spec)], acc, mode, r, k)
        else:
            g: Value = _group_value(products, spec) if finite else _special_sum(products)
            if spec.kahan:
                y = _sum_round([g, -self.c], acc, mode)
                t = _sum_round([self.v, y], acc, mode)
                d = _sum_round([t, -self.v], acc, mode)
                self.c = _sum_round([d, -y], acc, mode)
                self.v = t
            else:
                self.v = _sum_round([self.v, g], acc, mode, r, k)

    def _add_fixed(self, products: list[Value], r: int | None) -> None:
        spec = self.spec
        fx = spec.accumulator
        assert isinstance(fx, FixedPoint)
        if not _finite(products[0]):
            self.bad = True
            return
        g = _group_value(products, spec)
        q = _round_int(_exact(g) * Fraction(2) ** fx.frac_bits, spec.acc_rounding, r or 0,
                       spec.sr_bits or 0)
        a = self.fixed + q
        lo, hi = -(1 << (fx.bits - 1)), (1 << (fx.bits - 1)) - 1
        if fx.overflow == "wrap":
            a = (a - lo) % (1 << fx.bits) + lo
        else:
            a = min(max(a, lo), hi)
        self.fixed = a

    def value(self) -> Value:
        """The accumulator's value."""
        if isinstance(self.spec.accumulator, FixedPoint):
            if self.bad:
                return math.nan
            v = Fraction(self.fixed) / Fraction(2) ** self.spec.accumulator.frac_bits
            return v if v else 0.0
        return self.v


def _group_value(products: list[Value], spec: AccumulatorSpec) -> Value:
    """A group's exact value: its aligned sum, or the product itself without groups."""
    if spec.group is None:
        return products[0]
    return _aligned_sum(products, spec)


def _dot(products: Sequence[Value], spec: AccumulatorSpec, random_bits: Sequence[int] | None) -> Value:
    """The pipeline of docs/mac.md on the products, in order."""
    if spec.acc_rounding is Rounding.STOCHASTIC:
        need = steps(len(products), spec)
        if random_bits is None or len(random_bits) < need:
            raise ValueError(f"stochastic acc_rounding needs random_bits: one word per step "
                             f"({need} for {len(products)} products)")
    g = spec.group or 1
    chunk = spec.promote_every
    acc = _Acc(spec)
    total: Value = 0.0
    since = 0  # products since the last promotion
    for s, start in enumerate(range(0, len(products), g)):
        group = list(products[start:start + g])
        acc.add(group, None if random_bits is None else int(random_bits[s]))
        since += len(group)
        if chunk is not None and (since >= chunk or start + g >= len(products)):
            total = _sum_round([total, acc.value()], _F32, Rounding.NEAREST_EVEN)
            acc.reset()
            since = 0
    final = total if chunk is not None else acc.value()
    return _round(final, spec.output, spec.output_rounding)


def dot(a: Sequence[float], b: Sequence[float], spec: AccumulatorSpec | str,
        *, random_bits: Sequence[int] | None = None) -> Value:
    """The dot product of ``a`` and ``b`` as the unit ``spec`` computes it,
    exactly (docs/mac.md): products, groups, alignment, accumulator,
    promotion, output rounding.

    Example:
        >>> from floatsim import mac
        >>> dot([1.0] * 3, [2.0**-10] * 3, mac.spec("fp16"))
        Fraction(3, 1024)
    """
    spec = _spec(spec)
    if len(a) != len(b):
        raise ValueError(f"a and b have lengths {len(a)} and {len(b)}; they must be equal")
    return _dot([_product(x, y, Fraction(1), spec) for x, y in zip(a, b)], spec, random_bits)


def mx_dot(a: Sequence[float], a_scales: Sequence[float], b: Sequence[float],
           b_scales: Sequence[float], spec: AccumulatorSpec | str, *, block: int = 32,
           random_bits: Sequence[int] | None = None) -> Value:
    """The OCP MX dot product (OCP Microscaling Formats v1.0, section 6.1 Dot
    and 6.2 DotGeneral): ``sum_j X_a[j] X_b[j] sum_i P_a[i] P_b[i]`` over the
    blocks ``j`` of ``block`` elements, with the internal precision and order
    (implementation-defined there) given by ``spec``: every element product
    is multiplied by its block's two scales, exactly (a NaN scale makes the
    block's products NaN), and the scaled products go through ``spec``'s
    pipeline in order.  ``a``/``b`` are element values, ``a_scales``/``b_scales``
    one scale value per block (powers of two, as E8M0, or NaN).

    Example:
        >>> from floatsim import mac
        >>> mx_dot([1.0, 2.0], [2.0**-3], [3.0, 1.0], [4.0], mac.spec("fp32"), block=2)
        Fraction(5, 2)
    """
    spec = _spec(spec)
    if len(a) != len(b):
        raise ValueError(f"a and b have lengths {len(a)} and {len(b)}; they must be equal")
    nblk = -(-len(a) // block)
    if len(a_scales) != nblk or len(b_scales) != nblk:
        raise ValueError(f"{len(a)} elements in blocks of {block} need {nblk} scales each, got "
                         f"{len(a_scales)} and {len(b_scales)}")
    products = []
    for i, (x, y) in enumerate(zip(a, b)):
        sa, sb = _value(a_scales[i // block]), _value(b_scales[i // block])
        scale = sa * sb if _finite(sa) and _finite(sb) else math.nan
        products.append(_product(x, y, scale, spec))
    return _dot(products, spec, random_bits)


def exact_dot(a: Sequence[float], b: Sequence[float]) -> Fraction:
    """The exact dot product of finite values (no rounding at all).

    Example:
        >>> exact_dot([0.1, 3.0], [10.0, 1.0]) - 4
        Fraction(1, 18014398509481984)
    """
    return sum((Fraction(float(x)) * Fraction(float(y)) for x, y in zip(a, b)), Fraction(0))
