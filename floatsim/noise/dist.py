"""Noise distributions of pseudo-quantization, in units of the target's spacing.

A :class:`Noise` is a discrete distribution of values ``z = n * 2**-f`` (``n``
an integer, ``f`` the distribution's fractional bits) with probabilities that
are exact multiples of ``2**-32``: the noise added to a value ``x`` is
``z * Delta(x)``, ``Delta(x)`` the target format's spacing at ``x``
(docs/pqt.md).  Everything a kernel needs is derived here, once, on the host,
in exact integer arithmetic (the Gaussian's CDF in 60-digit decimal
arithmetic), so every backend samples from the same tables and a test can
compute any moment exactly (:meth:`Noise.pmf`, :meth:`Noise.mean`,
:meth:`Noise.variance`).

The kinds:

* ``uniform(bits)``: DiffQ-style noise of one quantization step, the ``2**bits``
  midpoints ``(2i + 1 - 2**bits) / 2**(bits+1)`` of (-1/2, 1/2), equally likely
  (variance ``(1 - 4**-bits) / 12``).
* ``gaussian(sigma, resolution)``: a normal distribution N(0, sigma**2)
  discretised to the grid ``2**-resolution``: level ``k`` has the normal
  mass of ``[(k - 1/2), (k + 1/2)) * 2**-resolution``, rounded to ``2**-32``
  (cumulatively, so the masses sum to one; levels whose mass rounds to zero,
  beyond about 6.2 sigma, are absent).
* ``r(bits, sigma)``: the FP-friendly distribution R (our reading of Ahn &
  Yoo, arXiv 2505.11170, whose text we did not have: see docs/pqt.md): a
  ``bits``-bit two's complement fixed-point number ``n / 2**(bits-1)`` with
  ``|n| <= 2**(bits-1) - 1``, so ``|z| < 1``, distributed as N(0, sigma**2)
  discretised to that grid, the tails beyond the outermost levels folded
  into them.  Every value has at most ``bits - 1`` significant bits, so
  ``z * Delta`` is a BF16 number up to ``bits = 9``: the addition that
  follows is then the only rounding, as in a BF16 adder.
* ``table(values, probabilities)``: any distribution on a dyadic grid, to
  match another definition of R.

Sampling (the kernels, :func:`_alias`): Walker's alias method on one 32-bit
word ``u``: column ``c = u >> (32 - g)`` of ``2**g`` columns, then the
column's own level if ``u mod 2**(32-g)`` is below its threshold, else its
alias: one table load an element.  The tables realise the masses exactly
(tests check it column by column).  Numerators are at most 2**15 - 1 in
magnitude (they travel as 16-bit fields).

Example:
    >>> from floatsim.noise import Noise
    >>> Noise.uniform(2).pmf()
    [(Fraction(-3, 8), Fraction(1, 4)), (Fraction(-1, 8), Fraction(1, 4)), (Fraction(1, 8), Fraction(1, 4)), (Fraction(3, 8), Fraction(1, 4))]
    >>> float(Noise.r(9).variance()) < 1 / 12
    True
"""

from __future__ import annotations

import decimal
import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

__all__ = ["KIND_TABLE", "KIND_UNIFORM", "MAX_LEVELS", "MAX_NUMERATOR", "Noise", "SIGMA_DEFAULT",
           "parse"]

#: Kernel codes of the sampling method: the uniform formula, or an alias table.
KIND_UNIFORM, KIND_TABLE = 0, 1
#: The most levels a table distribution may have (the alias table's columns).
MAX_LEVELS = 1 << 16
#: The largest |numerator| of a value (values are n * 2**-f).
MAX_NUMERATOR = (1 << 15) - 1
#: The default standard deviation of the Gaussian and R noises, in units of
#: the spacing: 1/sqrt(12), the standard deviation of the rounding error of
#: values spread evenly over a step (and of the uniform noise).
SIGMA_DEFAULT = 1 / math.sqrt(12)
_ONE = 1 << 32
_KINDS = ("uniform", "gaussian", "r", "table")


def _phi_dec(x: Fraction) -> decimal.Decimal:
    """The standard normal CDF at ``x`` (a Fraction, x <= 0), in 60-digit decimal
    arithmetic: the same digits on every machine (a libm's ``erfc`` may differ
    in its last bit between platforms, and so could a 32-bit rounding of it)."""
    ctx = decimal.Context(prec=60)
    t = ctx.divide(decimal.Decimal(x.numerator), decimal.Decimal(x.denominator))
    t = ctx.divide(-t, ctx.sqrt(decimal.Decimal(2)))  # erfc argument, >= 0
    if t < 3:
        # erf(t) = 2/sqrt(pi) * sum (-1)^n t^(2n+1) / (n! (2n+1)); t < 3 keeps
        # the terms below 1e4, far inside 60 digits
        term, total, n = t, t, 0
        t2 = ctx.multiply(t, t)
        while abs(term) > decimal.Decimal(10) ** -55:
            n += 1
            term = ctx.divide(ctx.multiply(-term, t2), n)
            total = ctx.add(total, ctx.divide(term, 2 * n + 1))
        erf = ctx.multiply(ctx.divide(2, _SQRT_PI), total)
        return ctx.divide(ctx.subtract(1, erf), 2)
    # erfc(t) = exp(-t^2)/(t sqrt(pi)) * (1 / (1 + 1/(2t^2) / (1 + 2/(2t^2) / (1 + ...))))
    # (the continued fraction of Laplace, evaluated from a fixed depth)
    frac = decimal.Decimal(0)
    z = ctx.multiply(2, ctx.multiply(t, t))
    for k in range(400, 0, -1):
        frac = ctx.divide(ctx.divide(k, z), ctx.add(1, frac))
    erfc = ctx.divide(ctx.exp(-ctx.multiply(t, t)), ctx.multiply(ctx.multiply(t, _SQRT_PI), ctx.add(1, frac)))
    return ctx.divide(erfc, 2)


_SQRT_PI = decimal.Context(prec=70).sqrt(decimal.Decimal(
    "3.14159265358979323846264338327950288419716939937510582097494459230781640628620899863"))


def _mass_at(x: Fraction) -> int:
    """round(2**32 * Phi(x)) for x < 0 (ties up: they cannot occur at 60 digits)."""
    v = _phi_dec(x) * _ONE
    return int(v.to_integral_value(rounding=decimal.ROUND_HALF_UP))


def _gaussian_masses(sigma: float, f: int, limit: int | None) -> tuple[list[int], list[int]]:
    """(numerators, masses) of N(0, sigma^2) on the grid 2**-f: level k takes
    the mass of [k - 1/2, k + 1/2) * 2**-f; with ``limit`` the levels stop at
    +-limit and the tails fold into them.  Cumulative rounding of the lower
    half's CDF, mirrored: the masses sum to 2**32 and are symmetric."""
    s = Fraction(sigma)
    h = Fraction(1, 1 << f)
    kmax = limit if limit is not None else math.ceil(7 * sigma / float(h)) + 1
    # CDF at the lower boundaries (k - 1/2) h for k = -kmax+1 .. 0 (all negative)
    cdf = {k: _mass_at((k - Fraction(1, 2)) * h / s) for k in range(-kmax + 1, 1)}
    levels, masses = [], []
    for k in range(-kmax, kmax + 1):
        lo = 0 if k == -kmax else (cdf[k] if k <= 0 else _ONE - cdf[1 - k])
        hi = _ONE if k == kmax else (cdf[k + 1] if k + 1 <= 0 else _ONE - cdf[-k])
        if hi > lo:
            levels.append(k)
            masses.append(hi - lo)
    return levels, masses


def _alias(levels: list[int], masses: list[int]) -> tuple[int, np.ndarray]:
    """Walker/Vose alias tables realising integer ``masses`` (sum 2**32) exactly,
    packed one int64 a column: ``threshold << 32 | own << 16 | alias`` (the two
    levels' numerators as 16-bit two's complement), over 2**g columns (g >= 2)
    of capacity 2**(32 - g) each."""
    n = len(masses)
    g = max(2, (n - 1).bit_length())
    cols, cap = 1 << g, 1 << (32 - g)
    work = list(masses) + [0] * (cols - n)
    lv = list(levels) + [0] * (cols - n)
    other = list(range(cols))
    thr = [cap if w == cap else 0 for w in work]
    small = [i for i in range(cols) if work[i] < cap]
    large = [i for i in range(cols) if work[i] > cap]
    while small:
        s = small.pop()
        thr[s] = work[s]
        if not large:
            raise AssertionError("alias construction out of balance")
        big = large[-1]
        other[s] = big
        work[big] -= cap - work[s]
        if work[big] <= cap:
            large.pop()
            if work[big] < cap:
                small.append(big)
            else:
                thr[big] = cap
    if large:
        raise AssertionError("alias construction out of balance")
    tab = np.array([(thr[c] << 32) | ((lv[c] & 0xFFFF) << 16) | (lv[other[c]] & 0xFFFF)
                    for c in range(cols)], np.int64)
    return g, tab


@dataclass(frozen=True)
class Noise:
    """A pseudo-quantization noise distribution (see the module docstring).

    Build one with :meth:`uniform`, :meth:`gaussian`, :meth:`r` or
    :meth:`table`, or by name with :func:`parse` ('uniform', 'gaussian', 'r').

    Example:
        >>> Noise.gaussian(0.25, resolution=6).frac_bits, Noise.r(9).bits
        (6, 9)
    """

    kind: str
    bits: int | None = None
    sigma: float | None = None
    resolution: int | None = None
    values: tuple[Fraction, ...] = field(default=(), repr=False)
    probabilities: tuple[Fraction, ...] = field(default=(), repr=False)
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"kind={self.kind!r} is not valid; allowed: {', '.join(_KINDS)}")

    # ---- constructors -------------------------------------------------------------------
    @classmethod
    def uniform(cls, bits: int = 16) -> Noise:
        """One step of uniform noise: the 2**bits midpoints of (-1/2, 1/2) (1 <= bits <= 24).

        Example:
            >>> Noise.uniform(16).frac_bits
            17
        """
        _check_int(bits, "bits", 1, 24)
        return cls("uniform", bits=bits, name=f"uniform{bits}")

    @classmethod
    def gaussian(cls, sigma: float = SIGMA_DEFAULT, resolution: int = 8) -> Noise:
        """N(0, sigma**2) on the grid 2**-resolution (0 < sigma <= 4, 1 <= resolution <= 16).

        Example:
            >>> n = Noise.gaussian()
            >>> abs(float(n.variance()) - 1 / 12) < 1e-4
            True
        """
        sigma = _check_sigma(sigma)
        _check_int(resolution, "resolution", 1, 16)
        if (7 * sigma + 1) * (1 << resolution) >= MAX_NUMERATOR:
            raise ValueError(f"gaussian(sigma={sigma}, resolution={resolution}) reaches values "
                             f"over {MAX_NUMERATOR} steps of 2**-{resolution}; lower the "
                             "resolution or sigma")
        return cls("gaussian", sigma=sigma, resolution=resolution, name="gaussian")

    @classmethod
    def r(cls, bits: int = 9, sigma: float = SIGMA_DEFAULT) -> Noise:
        """The FP-friendly R: a ``bits``-bit fixed-point Gaussian in (-1, 1) (2 <= bits <= 16).

        Example:
            >>> Noise.r(4).pmf()[0]
            (Fraction(-7, 8), Fraction(10488445, 4294967296))
        """
        _check_int(bits, "bits", 2, 16)  # |n| <= 2**15 - 1
        return cls("r", bits=bits, sigma=_check_sigma(sigma), name=f"r{bits}")

    @classmethod
    def table(cls, values: Any, probabilities: Any, name: str = "table") -> Noise:
        """Any distribution: ``values`` (in units of the spacing, multiples of
        some 2**-f, each at most 32767 * 2**-f in magnitude) with
        ``probabilities`` (non-negative, normalised here; rounded cumulatively
        to multiples of 2**-32).

        Example:
            >>> Noise.table([-0.5, 0.5], [1, 1]).mean()
            Fraction(0, 1)
        """
        vals = tuple(Fraction(v) for v in values)
        probs = tuple(Fraction(p) for p in probabilities)
        if not vals or len(vals) != len(probs):
            raise ValueError(f"table(): values and probabilities need the same, nonzero length; "
                             f"got {len(vals)} and {len(probs)}")
        if len(vals) > MAX_LEVELS:
            raise ValueError(f"table(): {len(vals)} values; at most {MAX_LEVELS}")
        if len(set(vals)) != len(vals):
            raise ValueError("table(): values must be distinct")
        if any(p < 0 for p in probs) or sum(probs) <= 0:
            raise ValueError("table(): probabilities must be non-negative with a positive sum")
        f = 0
        for v in vals:
            if v.denominator & (v.denominator - 1):
                raise ValueError(f"table(): value {v} is not a dyadic fraction (a multiple of "
                                 "a power of two)")
            f = max(f, v.denominator.bit_length() - 1)
        if max(abs(v) for v in vals) * (1 << f) > MAX_NUMERATOR:
            raise ValueError(f"table(): the values need {f} fractional bits and then exceed "
                             f"{MAX_NUMERATOR} steps of 2**-{f}")
        order = sorted(range(len(vals)), key=vals.__getitem__)
        return cls("table", values=tuple(vals[i] for i in order),
                   probabilities=tuple(probs[i] for i in order), name=name)

    # ---- derived ------------------------------------------------------------------------
    @property
    def code(self) -> int:
        """The kernels' sampling method: :data:`KIND_UNIFORM` or :data:`KIND_TABLE`."""
        return KIND_UNIFORM if self.kind == "uniform" else KIND_TABLE

    @cached_property
    def frac_bits(self) -> int:
        """``f``: every value is an integer times 2**-f."""
        if self.kind == "uniform":
            return self.bits + 1
        if self.kind == "gaussian":
            return self.resolution
        if self.kind == "r":
            return self.bits - 1
        return max(v.denominator.bit_length() - 1 for v in self.values)

    @cached_property
    def _levels_masses(self) -> tuple[list[int], list[int]]:
        if self.kind == "uniform":
            b = self.bits
            return [2 * i + 1 - (1 << b) for i in range(1 << b)], [1 << (32 - b)] * (1 << b)
        if self.kind == "gaussian":
            return _gaussian_masses(self.sigma, self.resolution, None)
        if self.kind == "r":
            return _gaussian_masses(self.sigma, self.bits - 1, (1 << (self.bits - 1)) - 1)
        f = self.frac_bits
        total = sum(self.probabilities)
        cum, acc, masses = 0, Fraction(0), []
        for p in self.probabilities:
            acc += p / total
            nxt = round(acc * _ONE)
            masses.append(nxt - cum)
            cum = nxt
        keep = [i for i, m in enumerate(masses) if m > 0]
        return [int(self.values[i] * (1 << f)) for i in keep], [masses[i] for i in keep]

    def pmf(self) -> list[tuple[Fraction, Fraction]]:
        """The exact distribution: (value, probability) pairs, ascending values."""
        levels, masses = self._levels_masses
        f = Fraction(1, 1 << self.frac_bits)
        return [(n * f, Fraction(m, _ONE)) for n, m in zip(levels, masses)]

    def mean(self) -> Fraction:
        """The exact mean (0 for the built-in kinds: their masses are symmetric)."""
        return sum((v * p for v, p in self.pmf()), Fraction(0))

    def variance(self) -> Fraction:
        """The exact variance, in units of the spacing squared."""
        m = self.mean()
        return sum(((v - m) ** 2 * p for v, p in self.pmf()), Fraction(0))

    def moment(self, k: int) -> Fraction:
        """The exact k-th central moment."""
        m = self.mean()
        return sum(((v - m) ** k * p for v, p in self.pmf()), Fraction(0))

    @property
    def max_abs(self) -> Fraction:
        """The largest absolute value (the noise moves a value by at most this many steps)."""
        pm = self.pmf()
        return max(abs(pm[0][0]), abs(pm[-1][0]))

    @property
    def max_numerator(self) -> int:
        """The largest ``abs(n)`` (values are ``n * 2**-frac_bits``)."""
        levels, _ = self._levels_masses
        return max(abs(levels[0]), abs(levels[-1]))

    def significant_bits(self) -> int:
        """The most significant bits of any value (what a storage format must hold
        for ``z * Delta`` to be exact in it)."""
        levels, _ = self._levels_masses
        sig = 0
        for n in levels:
            n = abs(n)
            if n:
                n >>= (n & -n).bit_length() - 1
                sig = max(sig, n.bit_length())
        return sig

    def kernel_tables(self) -> tuple[int, np.ndarray]:
        """(g, table) for the kernels: the uniform kind's ``bits`` and a
        one-element dummy, or the packed alias table (see :func:`_alias`)."""
        return _kernel_tables(self)

    def describe(self) -> str:
        """One line: kind, parameters, variance.

        Example:
            >>> Noise.r(9).describe()
            'r (9-bit fixed point, sigma 0.2887), variance 0.08325 step^2'
        """
        var = f"variance {float(self.variance()):.4g} step^2"
        if self.kind == "uniform":
            return f"uniform ({self.bits} bits), {var}"
        if self.kind == "gaussian":
            return f"gaussian (sigma {self.sigma:.4g}, grid 2^-{self.resolution}), {var}"
        if self.kind == "r":
            return f"r ({self.bits}-bit fixed point, sigma {self.sigma:.4g}), {var}"
        return f"{self.name} ({len(self.values)} values), {var}"


@lru_cache(maxsize=64)
def _kernel_tables(noise: Noise) -> tuple[int, np.ndarray]:
    if noise.kind == "uniform":
        return noise.bits, np.zeros(1, np.int64)
    # left writeable: Numba types read-only arrays apart, which would compile
    # the kernels twice
    return _alias(*noise._levels_masses)


def _check_int(v: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
        raise ValueError(f"{name}={v!r} must be an int in {lo}..{hi}")
    return int(v)


def _check_sigma(sigma: Any) -> float:
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 < sigma <= 4:
        raise ValueError(f"sigma={sigma!r} must be a number in (0, 4] (units of the spacing)")
    return float(sigma)


def parse(spec: Noise | str) -> Noise:
    """A Noise, or one by name with its defaults: 'uniform', 'gaussian', 'r'.

    Example:
        >>> parse("r").name, parse("uniform").bits
        ('r9', 16)
        >>> parse("laplace")
        Traceback (most recent call last):
        ...
        ValueError: noise='laplace' is not valid; allowed: 'uniform', 'gaussian', 'r' or a floatsim.noise.Noise
    """
    if isinstance(spec, Noise):
        return spec
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key == "uniform":
            return Noise.uniform()
        if key == "gaussian":
            return Noise.gaussian()
        if key == "r":
            return Noise.r()
    raise ValueError(f"noise={spec!r} is not valid; allowed: 'uniform', 'gaussian', 'r' or a "
                     "floatsim.noise.Noise")
