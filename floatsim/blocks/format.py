"""Block formats as values: ScaleRule, IntFormat, BlockFormat and the named ones.

Example:
    >>> import floatsim as fs
    >>> mx = fs.blocks.format("mxfp4_e2m1")
    >>> mx.element.max, mx.scale.name, mx.block, mx.rule.name
    (6.0, 'float8_e8m0fnu', (32,), 'FLOOR')
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field, replace

from ..formats import Format, Overflow
from ..registry import format as _format
from ..registry import register_elsewhere
from ..rounding import ScaleRule

__all__ = ["BlockFormat", "IntFormat", "ScaleRule", "bfp", "format", "int_block", "names",
           "scaled"]

#: Formats whose values the block kernels handle exactly (see docs/blocks.md):
#: quotients are rounded to odd in float64, and dequantized values are exact
#: float64 products, which needs room on both sides of every format's range.
_EXP_LIMIT = 512


@dataclass(frozen=True, slots=True, kw_only=True)
class IntFormat:
    """An integer element type: the value of integer ``q`` is ``q * 2**-frac_bits``.

    Args:
        bits: width, 2..32.
        signed: two's complement codes; False: unsigned codes (only with the
            asymmetric MINMAX rule, which adds a zero point).
        narrow: signed only: drop ``-2**(bits-1)``, so the range is symmetric
            (the sign-magnitude mantissas of block floating point).
        frac_bits: implicit scale; OCP MXINT8 has 6 (values -2 .. 1 63/64).
        name: display name; not part of equality.

    Example:
        >>> i = IntFormat(bits=8, frac_bits=6)
        >>> i.qmin, i.qmax, i.max, i.emax
        (-128, 127, 1.984375, 0)
    """

    bits: int
    signed: bool = True
    narrow: bool = False
    frac_bits: int = 0
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for f in ("bits", "frac_bits"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"IntFormat.{f} must be an int, got {v!r}")
        if not 2 <= self.bits <= 32:
            raise ValueError(f"IntFormat.bits={self.bits} is out of range; allowed: 2..32")
        if not -64 <= self.frac_bits <= 64:
            raise ValueError(f"IntFormat.frac_bits={self.frac_bits} is out of range; allowed: -64..64")
        if self.narrow and not self.signed:
            raise ValueError("IntFormat(narrow=True) needs signed=True")

    @property
    def qmin(self) -> int:
        """Smallest integer."""
        if not self.signed:
            return 0
        return -(1 << (self.bits - 1)) + int(self.narrow)

    @property
    def qmax(self) -> int:
        """Largest integer."""
        return (1 << (self.bits - int(self.signed))) - 1

    @property
    def max(self) -> float:
        """Largest value, qmax * 2**-frac_bits."""
        return math.ldexp(self.qmax, -self.frac_bits)

    @property
    def emax(self) -> int:
        """floor(log2(max))."""
        return self.qmax.bit_length() - 1 - self.frac_bits

    @property
    def mbits(self) -> int:
        """Bits below the leading bit of qmax (the EVEN rule's precision)."""
        return self.qmax.bit_length() - 1

    @property
    def cast_format(self) -> Format:
        """The sign-magnitude fixed-point Format the element cast rounds to;
        its magnitudes reach past qmax so that clamping afterwards is the
        saturation (the asymmetric form also holds x / X before the zero point)."""
        m = self.bits + (1 if not self.signed else 0)
        return Format(ebits=0, mbits=m, signed=True, bias=1 - m + self.frac_bits,
                      specials="finite", overflow="saturate", name=f"{self}-cast")

    def __str__(self) -> str:
        if self.name:
            return self.name
        kind = "int" if self.signed else "uint"
        return f"{kind}{self.bits}" + ("n" if self.narrow else "") + (
            f"f{self.frac_bits}" if self.frac_bits else "")


Element = Format | IntFormat
BlockShape = tuple[int | None, ...] | None

_SCALE_OVERFLOWS = ("saturate", "nan", "raise")


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockFormat:
    """A block-scaled format: elements sharing one scale per block.

    A value is ``element * scale * tensor_scale`` (``tensor_scale`` only with
    a ``tensor_format``; asymmetric integers: ``(q - zero_point) * scale``).

    Args:
        element: element Format (or name), or an :class:`IntFormat`.
        scale: the scale's Format (or name): 'e8m0', 'ue4m3', 'ue5m3',
            'float32', ... Negative scales never arise.
        block: block shape: an int (1-D blocks along ``axis``), a tuple (2-D /
            3-D tiles over as many axes), None entries or None for whole axes
            (per-tensor, per-channel, per-token scaling).
        rule: a :class:`ScaleRule` (or its value).
        tensor_format: Format of an optional second-level (per-tensor) scale,
            e.g. 'float32' for NVFP4; None for one level.
        scale_bound: the block scale that the tensor amax maps to when the
            tensor scale is computed (``T = amax_tensor / (scale_bound *
            element.max)``): NVFP4 uses 448, or 256 with 4-over-6.  Default:
            the scale format's max.
        element_overflow: the element cast's overflow policy; default
            saturate (OCP MX section 6.3 clamps to the largest normal).
        scale_overflow: a needed scale beyond the scale format's largest
            value: 'nan' (the block becomes NaN), 'saturate', or 'raise'
            (ValueError).  Default: 'nan' where the scale type has NaN.
        name: display name; not part of equality.

    Example:
        >>> bf = BlockFormat(element="e4m3", scale="ue5m3", block=(16, 16), rule="rceil")
        >>> bf.block, bf.scale_overflow
        ((16, 16), 'nan')
    """

    element: Element | str
    scale: Format | str = "e8m0"
    block: int | BlockShape = 32
    rule: ScaleRule | str = ScaleRule.FLOOR
    tensor_format: Format | str | None = None
    scale_bound: float | None = None
    element_overflow: Overflow | str | None = Overflow.SATURATE
    scale_overflow: str | None = None
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        el = self.element if isinstance(self.element, IntFormat) else _format(self.element)
        set_(self, "element", el)
        sc = _format(self.scale)
        set_(self, "scale", sc)
        rule = ScaleRule.parse(self.rule)
        set_(self, "rule", rule)
        set_(self, "block", _check_block(self.block))
        tf = None if self.tensor_format is None else _format(self.tensor_format)
        set_(self, "tensor_format", tf)
        if isinstance(el, Format):
            if self.element_overflow is not None:
                set_(self, "element_overflow", el.check_overflow(self.element_overflow))
        else:
            set_(self, "element_overflow", Overflow.SATURATE)
            if el.signed == (rule is ScaleRule.MINMAX):
                raise ValueError(
                    f"rule='minmax' (asymmetric) needs an unsigned IntFormat and signed "
                    f"IntFormats need a symmetric rule; got element {el} with rule {rule.value!r}"
                )
        if rule is ScaleRule.MINMAX and not isinstance(el, IntFormat):
            raise ValueError(f"rule='minmax' needs an unsigned IntFormat element, got {el}")
        sov = self.scale_overflow
        if sov is None:
            sov = "nan" if sc.has_nan else "saturate"
        if sov not in _SCALE_OVERFLOWS:
            raise ValueError(
                f"scale_overflow={sov!r} is not valid; allowed: {', '.join(_SCALE_OVERFLOWS)}"
            )
        if sov == "nan" and not sc.has_nan:
            raise ValueError(f"scale_overflow='nan' needs a scale format with NaN; {sc} has none")
        set_(self, "scale_overflow", sov)
        for what, f in (("element", el), ("scale", sc), ("tensor_format", tf)):
            f = f.cast_format if isinstance(f, IntFormat) else f
            if f is not None and (f.emax > _EXP_LIMIT or f.emin - f.mbits < -_EXP_LIMIT):
                raise ValueError(
                    f"{what} format {f} reaches 2^{f.emax} / 2^{f.emin - f.mbits}; block "
                    f"formats take formats within 2^-{_EXP_LIMIT} .. 2^{_EXP_LIMIT}"
                )
        if sc.max < 1.0 or sc.min_subnormal > 1.0:
            raise ValueError(
                f"scale format {sc} cannot hold the needed exponent 0 (the scale 1 of a block "
                f"whose amax is the element's max); its range is {sc.min_subnormal!r} .. "
                f"{sc.max!r}: use a scale format whose range contains 1 (e.g. 'e8m0')"
            )
        sig = _sig_bits(el) + sc.mbits + 1 + (0 if tf is None else tf.mbits + 1)
        if sig > 53:
            raise ValueError(
                f"element {el}, scale {sc} and tensor_format {tf}: their significands need "
                f"{sig} bits together; at most 53 (dequantized values are exact float64 products)"
            )
        bound = self.scale_bound
        if bound is None:
            bound = sc.max
        elif not (isinstance(bound, (int, float)) and 0 < bound <= sc.max):
            raise ValueError(
                f"scale_bound={bound!r} is out of range; allowed: 0 < scale_bound <= {sc.max}"
            )
        set_(self, "scale_bound", float(bound))

    # ---- derived -----------------------------------------------------------------------
    @property
    def element_max(self) -> float:
        """Largest element value."""
        return self.element.max

    @property
    def element_emax(self) -> int:
        """floor(log2) of the largest element value (emax_elem of OCP MX)."""
        return self.element.emax

    @property
    def block_elems(self) -> int | None:
        """Elements per block, or None where the block spans whole axes."""
        if self.block is None or any(b is None for b in self.block):
            return None
        return math.prod(self.block)

    @property
    def bits_per_element(self) -> float | None:
        """Storage bits per element including the block scale (None: whole axes).

        Example:
            >>> format("mxfp4_e2m1").bits_per_element
            4.25
        """
        n = self.block_elems
        return None if n is None else self.element.bits + self.scale.bits / n

    def describe(self) -> dict[str, object]:
        """The block format's properties as a dict (what ``floatsim info`` prints).

        Example:
            >>> format("nvfp4").describe()["scale"]
            'ue4m3'
        """
        sc = self.scale
        return {
            "name": str(self),
            "element": str(self.element),
            "element max": self.element_max,
            "scale": str(sc),
            "scale range": f"{sc.min_subnormal!r} .. {sc.max!r}",
            "block": "whole axes" if self.block is None else " x ".join(
                "axis" if b is None else str(b) for b in self.block),
            "rule": self.rule.value,
            "tensor scale": str(self.tensor_format) if self.tensor_format else "none",
            "scale_bound": self.scale_bound,
            "element overflow": self.element_overflow.value,
            "scale overflow": self.scale_overflow,
            "bits per element": self.bits_per_element if self.bits_per_element else "-",
        }

    def with_(self, **changes: object) -> BlockFormat:
        """A copy with fields changed (validated again; the name is dropped).

        Example:
            >>> format("mxfp8_e4m3").with_(rule="rceil", block=64).block
            (64,)
        """
        changes.setdefault("name", "")
        if "scale" in changes:  # defaults that came from the old scale format follow the new one
            if "scale_bound" not in changes and self.scale_bound == self.scale.max:
                changes["scale_bound"] = None
            default_sov = "nan" if self.scale.has_nan else "saturate"
            if "scale_overflow" not in changes and self.scale_overflow == default_sov:
                changes["scale_overflow"] = None
        return replace(self, **changes)

    def __str__(self) -> str:
        if self.name:
            return self.name
        tl = f", tensor={self.tensor_format}" if self.tensor_format else ""
        return (f"BlockFormat({self.element} x {self.scale}, block={self.block}, "
                f"rule={self.rule.value}{tl})")


def _sig_bits(el: Element) -> int:
    return el.bits if isinstance(el, IntFormat) else el.mbits + 1


def _check_block(block: object) -> BlockShape:
    if block is None:
        return None
    parts = (block,) if isinstance(block, int) and not isinstance(block, bool) else block
    if not isinstance(parts, tuple) or not 1 <= len(parts) <= 8:
        raise TypeError(
            f"block={block!r} must be an int, a tuple of 1..8 ints / None, or None"
        )
    for b in parts:
        if b is None:
            continue
        if isinstance(b, bool) or not isinstance(b, int):
            raise TypeError(f"block={block!r}: sizes must be ints or None, got {b!r}")
        if b < 1:
            raise ValueError(f"block={block!r}: block sizes must be >= 1 (got {b})")
    return tuple(parts)


# ---- factories -------------------------------------------------------------------------
def scaled(element: Element | str, scale: Format | str = "float32", *,
           rule: ScaleRule | str = ScaleRule.AMAX, **kw: object) -> BlockFormat:
    """A format with one scale per whole axis (or per tensor): use it with
    ``axis=None`` (per tensor), ``axis=-1`` (per token of a (tokens, features)
    activation; per output channel of a (out, in) weight), or a tuple of axes.

    Example:
        >>> import numpy as np, floatsim as fs
        >>> w = np.array([[1.0, -2.0], [0.1, 0.3]], dtype=np.float32)
        >>> fs.blocks.quantize(w, scaled("e4m3"), axis=1).tolist()   # per row: X = amax / 448
        [[1.0, -2.0], [0.09642857313156128, 0.30000001192092896]]
    """
    return BlockFormat(element=element, scale=scale, block=None, rule=rule, **kw)


def bfp(bits: int, block: int | BlockShape = 32, *, scale: Format | str = "e8m0",
        rule: ScaleRule | str = ScaleRule.FLOOR, **kw: object) -> BlockFormat:
    """Block floating point: a shared power-of-two exponent and ``bits``-bit
    sign-magnitude integer mantissas (the largest element of a block keeps
    its leading bit at the top: X = 2**(floor(log2 amax) - 0) / 2**(bits-2)).

    Example:
        >>> bfp(8).element.max
        1.984375
    """
    el = IntFormat(bits=bits, narrow=True, frac_bits=bits - 2, name=f"sm{bits}")
    return BlockFormat(element=el, scale=scale, block=block, rule=rule, **kw)


def int_block(bits: int, block: int | BlockShape = 32, *, symmetric: bool = True,
              scale: Format | str = "float32", **kw: object) -> BlockFormat:
    """INTn with a scale per block: symmetric (``q`` in +-(2**(bits-1) - 1),
    X = amax / qmax rounded into ``scale``) or asymmetric (MINMAX: unsigned
    ``q`` and a zero point).

    Example:
        >>> int_block(4, symmetric=False).rule.value
        'minmax'
    """
    if symmetric:
        el = IntFormat(bits=bits, narrow=True, name=f"int{bits}")
        return BlockFormat(element=el, scale=scale, block=block, rule=ScaleRule.AMAX, **kw)
    el = IntFormat(bits=bits, signed=False, name=f"uint{bits}")
    return BlockFormat(element=el, scale=scale, block=block, rule=ScaleRule.MINMAX, **kw)


def _mx(name: str, element: Element | str) -> BlockFormat:
    return BlockFormat(element=element, scale="e8m0", block=32, rule=ScaleRule.FLOOR, name=name)


def _nvfp4(name: str, **kw: object) -> BlockFormat:
    base: dict[str, object] = dict(element="e2m1", scale="ue4m3", block=16, rule=ScaleRule.AMAX,
                                   tensor_format="float32", scale_bound=448.0,
                                   scale_overflow="saturate", name=name)
    base.update(kw)
    return BlockFormat(**base)  # type: ignore[arg-type]


#: Named block formats.  OCP MX v1.0 (section 5, Table 1): block 32, E8M0 scale,
#: FLOOR rule, saturating elements.  NVFP4: E2M1 in 1x16 blocks, UE4M3 scales
#: (saturating, as cvt.satfinite), an FP32 tensor scale amax / (448 * 6).
NAMED: dict[str, BlockFormat] = {
    f.name: f
    for f in [
        _mx("mxfp8_e4m3", "float8_e4m3fn"),
        _mx("mxfp8_e5m2", "float8_e5m2"),
        _mx("mxfp6_e3m2", "float6_e3m2fn"),
        _mx("mxfp6_e2m3", "float6_e2m3fn"),
        _mx("mxfp4_e2m1", "float4_e2m1fn"),
        _mx("mxint8", IntFormat(bits=8, frac_bits=6, name="int8 (x 2^-6)")),
        _nvfp4("nvfp4"),
        _nvfp4("nvfp4_16x16", block=(16, 16)),
        _nvfp4("nvfp4_4over6", rule=ScaleRule.FOUR_OVER_SIX, scale_bound=256.0),
        bfp(8).with_(name="bfp8"),
        bfp(4).with_(name="bfp4"),
        int_block(8).with_(name="int8_sym"),
        int_block(4).with_(name="int4_sym"),
        int_block(4, symmetric=False).with_(name="int4_asym"),
    ]
}

ALIASES: dict[str, str] = {
    "mxfp8": "mxfp8_e4m3",
    "mxfp6": "mxfp6_e3m2",
    "mxfp4": "mxfp4_e2m1",
}


register_elsewhere(
    [*NAMED, *ALIASES],
    "it is a block format: use floatsim.blocks.quantize / encode / decode "
    "(floatsim.blocks.format gives the BlockFormat)")


def names() -> list[str]:
    """Every named block format (then aliases).

    Example:
        >>> names()[:3]
        ['mxfp8_e4m3', 'mxfp8_e5m2', 'mxfp6_e3m2']
    """
    return [*NAMED, *ALIASES]


def format(spec: BlockFormat | str) -> BlockFormat:  # noqa: A001 - the public verb
    """A block format by name ('mxfp8_e4m3', 'nvfp4', ...), or ``spec`` itself.

    Example:
        >>> format("nvfp4").tensor_format.name, format("nvfp4").scale_bound
        ('float32', 448.0)
    """
    if isinstance(spec, BlockFormat):
        return spec
    if not isinstance(spec, str):
        raise TypeError(
            f"a block format is a floatsim.blocks.BlockFormat or a name (str), got "
            f"{type(spec).__name__}"
        )
    key = spec.strip().lower()
    key = ALIASES.get(key, key)
    if key in NAMED:
        return NAMED[key]
    close = difflib.get_close_matches(key, names(), n=4, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ValueError(
        f"unknown block format {spec!r}{hint} (floatsim.blocks.names() lists them; "
        "build others with floatsim.blocks.BlockFormat)"
    )
