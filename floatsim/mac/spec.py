"""Accumulator specs: how an arithmetic unit multiplies, aligns, adds and rounds.

An :class:`AccumulatorSpec` is plain data (a frozen dataclass) that says, step
by step, how a dot product ``sum(a[i] * b[i])`` is computed by a unit: the
exact oracle (:mod:`floatsim.mac.reference`), the Numba scalar models, the CPU
and GPU GEMMs all read the same fields.  The pipeline, for products
``p[0..K-1]`` in order (docs/mac.md has the full definition):

1. **Product**: ``p = a*b`` exactly, or rounded once to ``product``.
2. **Groups**: the products are taken ``group`` at a time (``None``: one at
   a time, added exactly).  In a group, every term (the products, and the
   incoming accumulator when ``align_accumulator``) is put on the grid
   ``2**(E - kept_bits)``, ``E`` the largest ``floor(log2|term|)`` of the
   group, by ``align_rounding`` (truncation: ``toward_zero``); the aligned
   terms are added exactly (the unit's fixed-point adder).
3. **Accumulator**: the group sum is added to the accumulator and rounded
   once to ``accumulator`` (a floating :class:`~floatsim.Format` with
   ``acc_rounding``, optionally k-bit stochastic with Philox words, or
   Kahan-compensated), or added into a :class:`FixedPoint` register.
4. **Promotion**: every ``promote_every`` products the accumulator is added
   to an FP32 total (round to nearest even) and reset to zero.
5. **Output**: the total (or the accumulator) rounded to ``output``.

Example:
    >>> import floatsim.mac as mac
    >>> s = mac.spec("hopper_fp8")
    >>> s.group, s.kept_bits, s.align_rounding.name, s.is_fp32()
    (32, 13, 'TOWARD_ZERO', False)
    >>> mac.spec("fp32").is_fp32()
    True
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass

import numpy as np

from ..formats import Format
from ..registry import format as _format
from ..rounding import Rounding

__all__ = ["AccumulatorSpec", "FixedPoint", "spec", "names", "PRESETS", "check_float_format"]

#: Internal integers stay below 2**59 (see docs/mac.md, "What is exact").
SUM_BITS = 59
#: Largest group of products aligned together.
MAX_GROUP = 4096
#: Widest fixed-point accumulator.
MAX_FIXED_BITS = 59
_F32 = _format("float32")


def _is_int(v: object) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def check_float_format(fmt: Format, what: str, *, extra_bits: int = 0) -> None:
    """A format the models round into: signed, with zero, its values exact in
    float64 and its rounding exact from a round-to-odd float64 (docs/mac.md)."""
    if not fmt.signed or not fmt.has_zero:
        raise ValueError(f"{what}={fmt} must be a signed format with a zero")
    if fmt.mbits + extra_bits > 50:
        more = f" + sr_bits={extra_bits}" if extra_bits else ""
        raise ValueError(f"{what}={fmt} has mbits={fmt.mbits}{more} > 50; the models round "
                         "into formats of at most 50 mantissa bits (51 with the SR bits)")
    if fmt.emax > 1000 or fmt.emin - fmt.mbits < -1000:
        raise ValueError(f"{what}={fmt} spans 2**{fmt.emin - fmt.mbits}..2**{fmt.emax}; the "
                         "models allow exponents within -1000..1000")


@dataclass(frozen=True, slots=True, kw_only=True)
class FixedPoint:
    """A two's-complement fixed-point accumulator register.

    It holds ``A * 2**-frac_bits`` with ``A`` an integer of ``bits`` bits
    (sign included).  A group sum is rounded onto that grid by the spec's
    ``acc_rounding`` and added; a result outside ``[-2**(bits-1),
    2**(bits-1) - 1]`` saturates there (``overflow="saturate"``) or wraps
    modulo ``2**bits`` (``"wrap"``).  It has no inf or NaN: a non-finite
    product makes the dot product NaN.

    Example:
        >>> FixedPoint(bits=8, frac_bits=2).max
        31.75
    """

    bits: int
    frac_bits: int = 0
    overflow: str = "saturate"

    def __post_init__(self) -> None:
        if not _is_int(self.bits) or not 2 <= self.bits <= MAX_FIXED_BITS:
            raise ValueError(f"FixedPoint bits={self.bits!r} is out of range; allowed: "
                             f"2..{MAX_FIXED_BITS}")
        if not _is_int(self.frac_bits) or not -1000 <= self.frac_bits <= 1000:
            raise ValueError(f"FixedPoint frac_bits={self.frac_bits!r} is out of range; "
                             "allowed: -1000..1000")
        if self.overflow not in ("saturate", "wrap"):
            raise ValueError(f"FixedPoint overflow={self.overflow!r} is not valid; "
                             "allowed: 'saturate', 'wrap'")
        object.__setattr__(self, "bits", int(self.bits))
        object.__setattr__(self, "frac_bits", int(self.frac_bits))

    @property
    def max(self) -> float:
        """The largest value the register holds."""
        return float(((1 << (self.bits - 1)) - 1) * 2.0**-self.frac_bits)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccumulatorSpec:
    """How a unit computes a dot product; every field is one decision.

    Args:
        name: display name (not part of equality).
        product: None for exact products, or the Format each product is
            rounded to (once, by ``product_rounding``; not stochastic).
        product_rounding: rounding of the products into ``product``.
        group: N, how many consecutive products are aligned together; None:
            no alignment, each product is added to the accumulator exactly
            (a chain of fused multiply-adds).  Groups restart at every
            promotion boundary.
        kept_bits: B, the bits kept below the group's largest exponent E:
            every term is rounded to a multiple of ``2**(E - B)`` (so the
            largest term keeps B + 1 significant bits).  Required with
            ``group``.
        align_rounding: how the shifted-out bits are dropped: ``toward_zero``
            (truncation of the magnitude, the default), ``down`` (truncation
            of a two's-complement significand), ``nearest_even``, ...; not
            stochastic.
        align_accumulator: whether the incoming accumulator is one of the
            group's terms: it takes part in the max-exponent search and is
            itself aligned and cut, then the sum is rounded into the
            accumulator (as Fasi et al. model the V100/A100 tensor cores,
            and as DeepSeek-V3 describes Hopper's FP8 accumulation).  False:
            the group sum is added to the accumulator exactly, then rounded.
        accumulator: the Format (or :class:`FixedPoint`) of the running sum.
        acc_rounding: rounding into the accumulator; ``stochastic`` is k-bit
            SR with ``sr_bits`` random bits per rounding, drawn from
            floatsim's Philox generator keyed by ``seed`` on ``stream``.
        sr_bits: k (1..32) for stochastic ``acc_rounding``.
        seed, stream: the Philox key and stream of the SR words.
        kahan: Kahan-compensated accumulation (floating accumulator, no SR,
            no ``align_accumulator``): every step computes ``y = g - c``,
            ``t = acc + y``, ``c = (t - acc) - y``, ``acc = t``, each
            operation an exact sum rounded once into ``accumulator``.
        promote_every: K, promotion to FP32 every K products: the
            accumulator is added to an FP32 total (nearest even) and reset
            to zero, as DeepSeek-V3's CUDA-core promotion does.  A multiple
            of ``group``.  None: no promotion.
        output: the Format the result is rounded to (at most float32's
            precision and range: results are float32 arrays).
        output_rounding: rounding into ``output`` (not stochastic).

    Example:
        >>> s = AccumulatorSpec(group=16, kept_bits=20, accumulator="float32")
        >>> s.accumulator.name, s.align_rounding.name
        ('float32', 'TOWARD_ZERO')
        >>> AccumulatorSpec(group=4)
        Traceback (most recent call last):
        ...
        ValueError: kept_bits=None: a spec with group=4 needs kept_bits (the bits kept below the group's largest exponent)
    """

    name: str = dataclasses.field(default="custom", compare=False)
    product: Format | str | None = None
    product_rounding: Rounding | str = Rounding.NEAREST_EVEN
    group: int | None = None
    kept_bits: int | None = None
    align_rounding: Rounding | str = Rounding.TOWARD_ZERO
    align_accumulator: bool = False
    accumulator: Format | FixedPoint | str = "float32"
    acc_rounding: Rounding | str = Rounding.NEAREST_EVEN
    sr_bits: int | None = None
    seed: int = 0
    stream: int = 0
    kahan: bool = False
    promote_every: int | None = None
    output: Format | str = "float32"
    output_rounding: Rounding | str = Rounding.NEAREST_EVEN

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for field in ("product_rounding", "align_rounding", "acc_rounding", "output_rounding"):
            set_(self, field, Rounding.parse(getattr(self, field)))
            if field != "acc_rounding" and getattr(self, field) is Rounding.STOCHASTIC:
                raise ValueError(f"{field}='stochastic' is not modelled; stochastic rounding "
                                 "is available for the accumulator (acc_rounding)")
        for field in ("product", "output"):
            v = getattr(self, field)
            if v is not None:
                set_(self, field, _format(v))
        if self.output is None:
            raise ValueError("output=None: give the output Format (e.g. 'float32')")
        if isinstance(self.accumulator, str | Format):
            set_(self, "accumulator", _format(self.accumulator))
        elif not isinstance(self.accumulator, FixedPoint):
            raise TypeError(f"accumulator={self.accumulator!r} must be a Format, a format "
                            "name or a FixedPoint")
        if self.product is not None:
            check_float_format(self.product, "product")
        check_float_format(self.output, "output")
        out = self.output
        if out.mbits > 23 or out.emax > 127 or out.emin - out.mbits < -149:
            raise ValueError(f"output={out} is wider than float32 (results are float32 arrays)")
        self._check_alignment()
        self._check_accumulator()
        pe = self.promote_every
        if pe is not None:
            if not _is_int(pe) or pe < 1:
                raise ValueError(f"promote_every={pe!r} must be a positive int or None")
            if self.group is not None and pe % self.group:
                raise ValueError(f"promote_every={pe} must be a multiple of group={self.group}")
        for field in ("seed", "stream"):
            v = getattr(self, field)
            if not _is_int(v) or not 0 <= v < (1 << 64 if field == "seed" else 1 << 32):
                top = "2**64 - 1" if field == "seed" else "2**32 - 1"
                raise ValueError(f"{field}={v!r} is out of range; allowed: 0..{top}")

    def _check_alignment(self) -> None:
        g, b = self.group, self.kept_bits
        if g is None:
            if b is not None or self.align_accumulator:
                raise ValueError(f"kept_bits={b!r} / align_accumulator={self.align_accumulator}"
                                 " need group= (the products aligned together)")
            return
        if not _is_int(g) or not 1 <= g <= MAX_GROUP:
            raise ValueError(f"group={g!r} is out of range; allowed: 1..{MAX_GROUP} or None")
        if b is None:
            raise ValueError(f"kept_bits=None: a spec with group={g} needs kept_bits (the bits "
                             "kept below the group's largest exponent)")
        # |group sum| <= (g + 1) * 2**(b + 1) must stay below 2**SUM_BITS
        limit = SUM_BITS - 1 - (g + 1).bit_length()
        if not _is_int(b) or not 0 <= b <= limit:
            raise ValueError(f"kept_bits={b!r} is out of range for group={g}; allowed: "
                             f"0..{limit} (the group sum must fit {SUM_BITS} bits)")

    def _check_accumulator(self) -> None:
        acc = self.accumulator
        sr = self.acc_rounding is Rounding.STOCHASTIC
        k = self.sr_bits
        if sr:
            if not _is_int(k) or not 1 <= k <= 32:
                raise ValueError(f"sr_bits={k!r}: acc_rounding='stochastic' needs sr_bits in "
                                 "1..32 (k-bit SR)")
        elif k is not None:
            raise ValueError(f"sr_bits={k!r} needs acc_rounding='stochastic'")
        if isinstance(acc, FixedPoint):
            if self.kahan or self.align_accumulator:
                raise ValueError("kahan / align_accumulator need a floating accumulator, not "
                                 f"{acc}")
            return
        check_float_format(acc, "accumulator", extra_bits=k or 0)
        if self.kahan and (sr or self.align_accumulator):
            raise ValueError("kahan=True does not combine with stochastic acc_rounding or "
                             "align_accumulator=True")

    # ---- derived ---------------------------------------------------------------------------
    def is_fp32(self) -> bool:
        """Whether this is plain FP32 accumulation: exact (or FP32-rounded)
        products added one at a time into an FP32 accumulator, nearest even,
        FP32 output, no Kahan, no SR (promotion to FP32 changes nothing but
        the order).  A library FP32 GEMM does the same arithmetic up to its
        own summation order and use of fused multiply-adds, so callers that
        accept that may use it instead of the model.

        Example:
            >>> AccumulatorSpec(accumulator="bfloat16").is_fp32()
            False
        """
        rne = Rounding.NEAREST_EVEN
        return (self.group is None and self.accumulator == _F32 and self.acc_rounding is rne
                and not self.kahan and self.output == _F32 and self.output_rounding is rne
                and (self.product is None or (self.product == _F32 and self.product_rounding is rne)))

    def replace(self, **changes: object) -> AccumulatorSpec:
        """A copy with some fields changed (validated again).

        Example:
            >>> spec("hopper_fp8").replace(kept_bits=20).kept_bits
            20
        """
        return dataclasses.replace(self, **changes)

    def __str__(self) -> str:
        fields = [f"{f.name}={_show(getattr(self, f.name))}" for f in dataclasses.fields(self)
                  if f.name != "name" and getattr(self, f.name) != f.default]
        return f"AccumulatorSpec[{self.name}]({', '.join(fields)})"


def _show(v: object) -> str:
    if isinstance(v, Rounding):
        return v.name.lower()
    if isinstance(v, Format):
        return v.name or v.spec()
    return repr(v)


def _presets() -> dict[str, AccumulatorSpec]:
    S = AccumulatorSpec
    hopper = S(
        name="hopper_fp8", group=32, kept_bits=13, align_rounding="toward_zero",
        align_accumulator=True, accumulator="float32", acc_rounding="toward_zero",
    )
    v100 = S(
        name="v100_fp16", group=4, kept_bits=23, align_rounding="toward_zero",
        align_accumulator=True, accumulator="float32", acc_rounding="toward_zero",
    )
    return {
        # Plain FP32 accumulation: each exact product added into an FP32
        # accumulator with one rounding to nearest even (a chain of FP32 FMAs).
        "fp32": S(name="fp32"),
        # Hopper FP8 tensor cores (wgmma): DeepSeek-V3 Technical Report
        # (arXiv:2412.19437), section 3.5.2: "after aligning 32 mantissa
        # products by right-shifting based on the maximum exponent, the Tensor
        # Core only uses the highest 14 bits of each mantissa product for
        # addition, and truncates bits exceeding this range", and the
        # accumulation into registers also keeps 14 bits (hence the incoming
        # accumulator is aligned with the group).  B = 13 below the leading bit
        # of the largest term, 14 bits with it.
        "hopper_fp8": hopper,
        # The same, promoted to FP32 on CUDA cores every 128 products (4 WGMMAs):
        # DeepSeek-V3 section 3.3.2, "Increasing Accumulation Precision" (N_C = 128).
        "hopper_fp8_promote128": hopper.replace(name="hopper_fp8_promote128", promote_every=128),
        # Blackwell FP8/FP4: about 25 bits kept after alignment (reported, see
        # docs/mac.md; Khattak & Mikaitis, arXiv:2512.07004, model the B200).
        # B = 24 below the leading bit.
        "blackwell_fp8": hopper.replace(name="blackwell_fp8", kept_bits=24),
        # V100 FP16 tensor cores, Fasi, Higham, Mikaitis & Pranesh, "Numerical
        # behavior of NVIDIA tensor cores", PeerJ Comput. Sci. 7:e330 (2021):
        # exact products, 4 products and c aligned to the largest magnitude
        # with no guard bits (24-bit binary32 significand kept), truncated, the
        # sum normalised into binary32 with truncation.
        "v100_fp16": v100,
        # A100 FP16/BF16 tensor cores, the same paper: as the V100 but 8
        # products per fused step.
        "a100_fp16": v100.replace(name="a100_fp16", group=8),
        # Narrow floating accumulators (no alignment; each product added exactly
        # and rounded to nearest even into the accumulator), as mptorch's
        # float_mm with fma=True and an (8, 7) / (5, 10) adder format.
        "bf16": S(name="bf16", accumulator="bfloat16"),
        "fp16": S(name="fp16", accumulator="float16"),
    }


#: The named specs (see :func:`spec`), each with its source in _presets.
PRESETS: dict[str, AccumulatorSpec] = _presets()


def names() -> list[str]:
    """The names :func:`spec` accepts.

    Example:
        >>> names()[:3]
        ['fp32', 'hopper_fp8', 'hopper_fp8_promote128']
    """
    return list(PRESETS)


def spec(name: str | AccumulatorSpec) -> AccumulatorSpec:
    """The preset ``name`` (an AccumulatorSpec passes through).

    Example:
        >>> spec("a100_fp16").group
        8
        >>> spec("h100")
        Traceback (most recent call last):
        ...
        ValueError: unknown accumulator spec 'h100'; known: fp32, hopper_fp8, hopper_fp8_promote128, blackwell_fp8, v100_fp16, a100_fp16, bf16, fp16
    """
    if isinstance(name, AccumulatorSpec):
        return name
    if not isinstance(name, str):
        raise TypeError(f"spec must be a name or an AccumulatorSpec, got {type(name).__name__}")
    try:
        return PRESETS[name]
    except KeyError:
        close = difflib.get_close_matches(name, PRESETS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown accumulator spec {name!r}; known: {', '.join(PRESETS)}"
                         f"{hint}") from None
