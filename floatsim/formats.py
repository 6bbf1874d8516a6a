"""The Format value object: the single source of truth for a number format.

A :class:`Format` describes any binary floating-point format by its field
widths, bias, signedness and special-value convention.  Everything else in
floatsim (the exact oracle, the CPU and CUDA kernels, block formats) reads
its parameters from here.

Example:
    >>> import floatsim as fs
    >>> f = fs.Format(ebits=4, mbits=3, specials="fn")
    >>> f.max, f.min_subnormal, f.eps
    (448.0, 0.001953125, 0.125)
    >>> fs.Format.parse("e3m4").bits
    8
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

import numpy as np

__all__ = ["Format", "Overflow", "Specials"]

MAX_EBITS = 15
MAX_MBITS = 52
MAX_ABS_BIAS = 1 << 16


class Specials(enum.Enum):
    """Where a format keeps its special values (NaN, infinity, negative zero)."""

    #: IEEE 754: the all-ones exponent holds +-inf (mantissa 0) and NaN (others).
    IEEE = "ieee"
    #: "Finite, NaN": no infinity; NaN only at the all-ones magnitude code
    #: (E4M3FN, and unsigned scale types such as E8M0 and UE4M3 at 0xFF/0x7F).
    FN = "fn"
    #: "Finite, NaN, unsigned zero": the negative-zero code is the only NaN;
    #: no infinity and no -0 (float8_e4m3fnuz, float8_e5m2fnuz; signed only).
    FNUZ = "fnuz"
    #: No NaN and no infinity: every code is a finite number (E2M1, E3M2, E2M3).
    FINITE = "finite"
    #: IEEE P3109 extended domain: NaN at the negative-zero code (signed) or at
    #: the all-ones code (unsigned); +-inf at the largest remaining magnitude
    #: code.  P3109's finite domain is FNUZ (signed) or FN (unsigned).
    P3109 = "p3109"


class Overflow(enum.Enum):
    """What a finite value beyond the format's range becomes."""

    #: Clamp to +-max (the value of largest magnitude with the input's sign).
    SATURATE = "saturate"
    #: Round to +-inf (formats with infinities only).
    INF = "inf"
    #: Become NaN (formats with NaN only).
    NAN = "nan"


def _enum_value(enum_cls: type[enum.Enum], value: object, what: str) -> enum.Enum:
    if isinstance(value, enum_cls):
        return value
    if isinstance(value, str):
        for member in enum_cls:
            if value.lower() in (member.value, member.name.lower()):
                return member
    allowed = ", ".join(repr(m.value) for m in enum_cls)
    raise ValueError(f"{what}={value!r} is not valid; allowed: {allowed}")


_PARSE_RE = re.compile(
    r"^(?P<u>u)?e(?P<e>\d+)m(?P<m>\d+)(?:b(?P<b>-?\d+))?(?P<s>fnuz|fn|finite|ieee|p3109)?$"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Format:
    """A binary floating-point format.

    Args:
        ebits: exponent field width, 0..15 (0 gives a fixed-point format).
        mbits: trailing significand (mantissa) field width, 0..52.
        signed: whether a sign bit is present.
        bias: exponent bias; default 2**(ebits-1) - 1 (0 when ebits is 0).
        subnormals: if False, results below the smallest normal are flushed
            to zero after rounding (the codes still exist; decode keeps them).
        has_zero: if False the format has no zero: the exponent field 0 is an
            ordinary binade (E8M0, whose code 0 is 2**-127).
        specials: where NaN / inf / -0 live (:class:`Specials` or its string).
        overflow: default overflow policy (:class:`Overflow` or its string);
            default: inf for IEEE and P3109, NaN for FN and FNUZ, saturate for
            FINITE -- what ml_dtypes and the standards do.
        name: display name; not part of equality.

    Example:
        >>> Format(ebits=5, mbits=2).max
        57344.0
        >>> float(Format(ebits=4, mbits=3, specials="fnuz").values()[128])
        nan
    """

    ebits: int
    mbits: int
    signed: bool = True
    bias: int | None = None
    subnormals: bool = True
    has_zero: bool = True
    specials: Specials | str = Specials.IEEE
    overflow: Overflow | str | None = None
    name: str = field(default="", compare=False)

    # ---- construction ---------------------------------------------------
    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for fname in ("ebits", "mbits"):
            v = getattr(self, fname)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{fname} must be an int, got {v!r}")
            set_(self, fname, int(v))
        if not 0 <= self.ebits <= MAX_EBITS:
            raise ValueError(f"ebits={self.ebits} is out of range; allowed: 0..{MAX_EBITS}")
        if not 0 <= self.mbits <= MAX_MBITS:
            raise ValueError(f"mbits={self.mbits} is out of range; allowed: 0..{MAX_MBITS}")
        set_(self, "signed", bool(self.signed))
        set_(self, "subnormals", bool(self.subnormals))
        set_(self, "has_zero", bool(self.has_zero))
        specials = _enum_value(Specials, self.specials, "specials")
        set_(self, "specials", specials)
        if self.bias is None:
            set_(self, "bias", (1 << (self.ebits - 1)) - 1 if self.ebits else 0)
        elif isinstance(self.bias, bool) or not isinstance(self.bias, (int, np.integer)):
            raise TypeError(f"bias must be an int or None, got {self.bias!r}")
        set_(self, "bias", int(self.bias))
        if abs(self.bias) > MAX_ABS_BIAS:
            raise ValueError(
                f"bias={self.bias} is out of range; allowed: -{MAX_ABS_BIAS}..{MAX_ABS_BIAS}"
            )
        if specials is Specials.FNUZ and not self.signed:
            raise ValueError(
                "specials='fnuz' needs a signed format (its NaN is the negative-zero "
                "code); for an unsigned format use specials='fn'"
            )
        if specials is Specials.IEEE and (self.ebits == 0 or self.mbits == 0):
            raise ValueError(
                f"specials='ieee' needs ebits >= 1 and mbits >= 1 to hold inf and NaN "
                f"(got ebits={self.ebits}, mbits={self.mbits}); use 'fn', 'finite' or 'p3109'"
            )
        if self.ebits == 0 and not self.subnormals:
            raise ValueError(
                "subnormals=False needs ebits >= 1: with ebits=0 every nonzero value is "
                "subnormal, so flushing would leave only zero"
            )
        if not self.has_zero:
            if self.ebits == 0:
                raise ValueError("has_zero=False needs ebits >= 1")
            if self.nan_at_negzero:
                raise ValueError(
                    f"has_zero=False does not combine with a signed specials='{specials.value}' "
                    "format: its NaN is the negative-zero code, which would take the place of "
                    "-2**-bias; use specials='fn' or 'finite'"
                )
            if not self.has_nan:
                raise ValueError(
                    "has_zero=False needs a NaN code (specials 'fn' or 'ieee'): zero and "
                    "inputs the format cannot approach round to NaN there"
                )
            # Without zero the exponent-0 binade is normal: nothing is subnormal.
            set_(self, "subnormals", False)
        if self.max_mag_code < (1 if self.has_zero else 0):
            raise ValueError(
                f"Format(ebits={self.ebits}, mbits={self.mbits}, specials="
                f"'{specials.value}') has no nonzero finite value: the format is empty"
            )
        overflow = self.overflow
        if overflow is None:
            overflow = {
                Specials.IEEE: Overflow.INF,
                Specials.P3109: Overflow.INF,
                Specials.FN: Overflow.NAN,
                Specials.FNUZ: Overflow.NAN,
                Specials.FINITE: Overflow.SATURATE,
            }[specials]
        overflow = self.check_overflow(overflow)
        set_(self, "overflow", overflow)

    def check_overflow(self, overflow: Overflow | str) -> Overflow:
        """Validate an overflow policy for this format and return it as an enum."""
        ov = _enum_value(Overflow, overflow, "overflow")
        if ov is Overflow.INF and not self.has_inf:
            raise ValueError(
                f"overflow='inf' is not possible: format {self} has no infinity; "
                "use 'saturate' or 'nan'"
            )
        if ov is Overflow.NAN and not self.has_nan:
            raise ValueError(
                f"overflow='nan' is not possible: format {self} has no NaN; use 'saturate'"
            )
        return ov

    @classmethod
    def parse(cls, spec: str) -> Format:
        """Parse 'e4m3', 'e5m2fnuz', 'ue8m0fn', 'e4m3b11fnuz', 'e3m4' etc.

        Grammar: ``[u]e<E>m<M>[b<bias>][fn|fnuz|finite|ieee|p3109]``.
        Without a suffix: IEEE specials when ebits >= 1 and mbits >= 1,
        otherwise FN.

        Example:
            >>> Format.parse("e5m2fnuz").bias
            16
        """
        if not isinstance(spec, str):
            raise TypeError(f"format spec must be a str, got {type(spec).__name__}")
        m = _PARSE_RE.match(spec.strip().lower())
        if m is None:
            raise ValueError(
                f"cannot parse format spec {spec!r}; expected '[u]e<E>m<M>[b<bias>]"
                "[fn|fnuz|finite|ieee|p3109]', e.g. 'e4m3fn' or 'e3m4'"
            )
        ebits, mbits = int(m["e"]), int(m["m"])
        specials = m["s"] or ("ieee" if ebits >= 1 and mbits >= 1 else "fn")
        bias = int(m["b"]) if m["b"] is not None else None
        if specials == "fnuz" and bias is None and ebits >= 1:
            bias = 1 << (ebits - 1)  # FNUZ types shift the bias by one
        return cls(
            ebits=ebits,
            mbits=mbits,
            signed=m["u"] is None,
            bias=bias,
            specials=specials,
            name=spec.strip(),
        )

    # ---- code layout ----------------------------------------------------
    @property
    def bits(self) -> int:
        """Total storage bits: sign + exponent + mantissa."""
        return int(self.signed) + self.ebits + self.mbits

    @property
    def num_codes(self) -> int:
        """Number of distinct codes, 2**bits."""
        return 1 << self.bits

    @property
    def mag_bits(self) -> int:
        """Bits of the magnitude (exponent + mantissa): the code without its sign bit."""
        return self.ebits + self.mbits

    @property
    def high_nans(self) -> int:
        """NaN codes at the top of each sign's magnitude range."""
        s = self.specials
        if s is Specials.IEEE:
            return (1 << self.mbits) - 1
        if s is Specials.FN or (s is Specials.P3109 and not self.signed):
            return 1
        return 0

    @property
    def has_inf(self) -> bool:
        """Whether +-inf (or +inf, unsigned) are encoded."""
        return self.specials in (Specials.IEEE, Specials.P3109)

    @property
    def nan_at_negzero(self) -> bool:
        """Whether the negative-zero code is NaN (FNUZ and signed P3109)."""
        return self.signed and self.specials in (Specials.FNUZ, Specials.P3109)

    @property
    def has_nan(self) -> bool:
        """Whether any code is NaN."""
        return self.high_nans > 0 or self.nan_at_negzero

    @property
    def has_negzero(self) -> bool:
        """Whether -0 is encoded."""
        return self.signed and self.has_zero and not self.nan_at_negzero

    @property
    def top_mag_code(self) -> int:
        """The all-ones magnitude code (a value, inf or NaN by ``specials``)."""
        return (1 << self.mag_bits) - 1

    @property
    def inf_mag_code(self) -> int:
        """Magnitude code of +inf, or -1 without infinities."""
        if not self.has_inf:
            return -1
        return self.top_mag_code - self.high_nans

    @property
    def max_mag_code(self) -> int:
        """Magnitude code of the largest finite value."""
        return self.top_mag_code - self.high_nans - int(self.has_inf)

    @property
    def nan_code(self) -> int:
        """Canonical (positive where possible) NaN code, or -1 without NaN."""
        if self.nan_at_negzero:
            return 1 << self.mag_bits
        if self.high_nans == 0:
            return -1
        if self.specials is Specials.IEEE:  # quiet NaN: exponent all ones, top mantissa bit
            return (((1 << self.ebits) - 1) << self.mbits) | (1 << (self.mbits - 1))
        return self.top_mag_code

    # ---- values -----------------------------------------------------------
    def value_exact(self, code: int) -> Fraction | float:
        """The exact value of ``code``: a Fraction, or float nan / +-inf / -0.0.

        Example:
            >>> Format(ebits=2, mbits=1, specials="finite").value_exact(7)
            Fraction(6, 1)
        """
        code = int(code)
        if not 0 <= code < self.num_codes:
            raise ValueError(f"code {code} is out of range for {self}; allowed: 0..{self.num_codes - 1}")
        mag = code & self.top_mag_code
        neg = self.signed and bool(code >> self.mag_bits)
        if neg and mag == 0 and self.nan_at_negzero:
            return math.nan
        if mag > self.top_mag_code - self.high_nans:
            return math.nan
        if mag == self.inf_mag_code:
            return -math.inf if neg else math.inf
        efield, mfield = mag >> self.mbits, mag & ((1 << self.mbits) - 1)
        if efield == 0 and self.has_zero:
            v = Fraction(mfield) * Fraction(2) ** (1 - self.bias - self.mbits)
        else:
            v = Fraction((1 << self.mbits) + mfield) * Fraction(2) ** (efield - self.bias - self.mbits)
        if neg:
            return -v if v else -0.0  # a Fraction has no negative zero
        return v

    def values(self) -> np.ndarray:
        """Every code's value as float64, in code order; NaN where a code is NaN.

        Formats over 16 bits are refused (2**bits entries).

        Example:
            >>> Format(ebits=2, mbits=1, specials="finite").values()[:8].tolist()
            [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
        """
        if self.bits > 16:
            raise ValueError(f"values() lists 2**bits codes; {self} has {self.bits} bits (max 16)")
        return _values_table(self).copy()

    def is_representable(self, v: float | Fraction) -> bool:
        """Whether ``v`` is exactly a value of this format (NaN: if it has NaN).

        Example:
            >>> Format(ebits=2, mbits=1, specials="finite").is_representable(1.5)
            True
        """
        if isinstance(v, float) and math.isnan(v):
            return self.has_nan
        if isinstance(v, float) and math.isinf(v):
            return self.has_inf and (v > 0 or self.signed)
        q = Fraction(v)
        if q < 0 and not self.signed:
            return False
        a = abs(q)
        if a == 0:
            return self.has_zero and (not (isinstance(v, float) and math.copysign(1, v) < 0) or self.has_negzero or not self.signed)
        if a > self._max_exact:
            return False
        e = _floor_log2(a)
        lo_e = 1 - self.bias if self.has_zero else -self.bias
        if e < lo_e:
            if not self.subnormals or not self.has_zero:
                return False
            e = lo_e
        step = Fraction(2) ** (e - self.mbits)
        return (a / step).denominator == 1

    # ---- derived numbers ------------------------------------------------
    @property
    def _max_exact(self) -> Fraction:
        return self.value_exact(self.max_mag_code)

    @property
    def max(self) -> float:
        """Largest finite value."""
        return float(self._max_exact)

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal value (1 - bias; -bias without zero)."""
        return 1 - self.bias if self.has_zero else -self.bias

    @property
    def emax(self) -> int:
        """Exponent of the largest finite value, floor(log2(max))."""
        return _floor_log2(self._max_exact)

    @property
    def min_normal(self) -> float:
        """Smallest positive normal value, 2**emin."""
        return math.ldexp(1.0, self.emin)

    @property
    def min_subnormal(self) -> float:
        """Smallest positive value (min_normal when there are no subnormals)."""
        if self.subnormals and self.has_zero and self.mbits > 0:
            return math.ldexp(1.0, self.emin - self.mbits)
        return self.min_normal

    @property
    def eps(self) -> float:
        """Spacing of values just above 1.0: 2**-mbits."""
        return math.ldexp(1.0, -self.mbits)

    # ---- display --------------------------------------------------------
    def __str__(self) -> str:
        if self.name:
            return self.name
        return self.spec()

    def spec(self) -> str:
        """A string that :meth:`parse` turns back into an equal format where possible."""
        u = "" if self.signed else "u"
        default_bias = (1 << (self.ebits - 1)) - 1 if self.ebits else 0
        if self.specials is Specials.FNUZ and self.ebits:
            default_bias = 1 << (self.ebits - 1)
        b = "" if self.bias == default_bias else f"b{self.bias}"
        return f"{u}e{self.ebits}m{self.mbits}{b}{self.specials.value}"

    def describe(self) -> dict[str, object]:
        """The format's properties as a dict (what ``floatsim info`` prints)."""
        return {
            "name": str(self),
            "bits": self.bits,
            "ebits": self.ebits,
            "mbits": self.mbits,
            "signed": self.signed,
            "bias": self.bias,
            "specials": self.specials.value,
            "overflow (default)": self.overflow.value,
            "subnormals": self.subnormals,
            "has_zero": self.has_zero,
            "has_inf": self.has_inf,
            "has_nan": self.has_nan,
            "has_negzero": self.has_negzero,
            "max": _fmt_num(self._max_exact),
            "min_normal": _fmt_pow2(self.emin),
            "min_subnormal": _fmt_pow2(_floor_log2(Fraction(self.min_subnormal))),
            "eps": _fmt_pow2(-self.mbits),
            "emax": self.emax,
            "emin": self.emin,
        }

    def table(self) -> str:
        """Every code of a format up to 8 bits: code, hex, binary fields, value.

        Example:
            >>> print(Format(ebits=2, mbits=1, specials="finite").table().splitlines()[1])
            0x00     0 00 0  0
        """
        if self.bits > 8:
            raise ValueError(f"table() lists formats up to 8 bits; {self} has {self.bits}")
        lines = [f"{'code':<8} {'s e m':<{self.bits + 2}}  value"]
        for c in range(self.num_codes):
            mag = c & self.top_mag_code
            s = str(c >> self.mag_bits) if self.signed else ""
            e = format(mag >> self.mbits, f"0{self.ebits}b") if self.ebits else ""
            m = format(mag & ((1 << self.mbits) - 1), f"0{self.mbits}b") if self.mbits else ""
            fields = " ".join(p for p in (s, e, m) if p)
            lines.append(f"0x{c:02X}     {fields}  {_fmt_num(self.value_exact(c))}")
        return "\n".join(lines)


@lru_cache(maxsize=256)
def _values_table(fmt: Format) -> np.ndarray:
    table = np.array([float(fmt.value_exact(c)) for c in range(fmt.num_codes)], dtype=np.float64)
    table.flags.writeable = False
    return table


def _floor_log2(q: Fraction) -> int:
    """floor(log2(q)) for a positive Fraction, exactly."""
    n, d = q.numerator, q.denominator
    e = n.bit_length() - d.bit_length()
    if (n << max(-e, 0)) < (d << max(e, 0)):
        e -= 1
    return e


def _fmt_pow2(e: int) -> str:
    v = math.ldexp(1.0, e) if -1074 <= e <= 1023 else None
    return f"2^{e}" + (f" = {v:.10g}" if v is not None else "")


def _fmt_num(v: Fraction | float) -> str:
    if isinstance(v, float):
        return str(v)
    if v == 0:
        return "0"
    f = float(v) if abs(v) < Fraction(2) ** 1023 else None
    if f is not None and Fraction(f) == v:
        return f"{f:.10g}" if Fraction(float(f"{f:.10g}")) == v else repr(f)
    return str(v)
