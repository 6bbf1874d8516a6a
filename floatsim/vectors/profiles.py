"""Hardware and library conversion profiles: named, cited, checkable.

A :class:`Profile` is what one instruction or library call does when it
converts a float into a narrow format: a floatsim ``Format``, a rounding
mode, an overflow policy, the random bits it uses for stochastic rounding,
and its *quirks* (:data:`QUIRKS`): the places where it departs from
floatsim's semantics (docs/semantics.md) or where its documentation leaves
the result open.  :meth:`Profile.expected` computes its codes for any
inputs, so the checker can say "the device matches
``cvt.rn.satfinite.e4m3x2.f32``" or not.  Each profile cites where its
behaviour is documented, and lists the cases that documentation names
(:attr:`Profile.documented`; the tests check each).  docs/vectors.md has
the table with the citations.

Example:
    >>> import numpy as np
    >>> p = profile("ptx_cvt_rn_satfinite_e2m1")
    >>> codes, care = p.expected(np.array([np.nan, 7.0, -100.0, 2.5], np.float32))
    >>> codes.tolist(), bool(care.all())    # NaN -> +MAX_NORM, |x| > 6 -> +-6, tie -> even
    ([7, 7, 15, 4], True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import reference as ref
from ..cast import encode
from ..formats import Format
from ..registry import format as lookup
from ..rounding import Rounding

__all__ = ["QUIRKS", "Case", "Profile", "Quirk", "all_profiles", "profile", "profile_names",
           "profiles_for", "special_codes"]


# ---- quirks -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Quirk:
    """One departure from floatsim's semantics.  ``before`` rewrites the input
    values (float64) before the cast; ``after`` rewrites codes and the
    ``care`` mask (False: the documentation leaves the result open)."""

    name: str
    text: str
    before: Callable[[np.ndarray, str], np.ndarray] | None = None
    after: Callable[[np.ndarray, np.ndarray, np.ndarray, Format], None] | None = None


def special_codes(fmt: Format) -> tuple[int, int, int]:
    """(+max, canonical positive NaN or -1, +inf or -1) codes of ``fmt``, by the oracle."""
    top = ref.encode_value(fmt.max, fmt)
    nan = ref.encode_value(math.nan, fmt) if fmt.has_nan else -1
    inf = ref.encode_value(math.inf, fmt, overflow="inf") if fmt.has_inf else -1
    return top, nan, inf


def _f64_via_f32(v: np.ndarray, dtype: str) -> np.ndarray:
    if dtype != "float64":
        return v
    with np.errstate(over="ignore", invalid="ignore"):
        return v.astype(np.float32)


def _nan_to_pos_max(v: np.ndarray, codes: np.ndarray, care: np.ndarray, fmt: Format) -> None:
    codes[np.isnan(v)] = special_codes(fmt)[0]


def _nan_all_ones(v: np.ndarray, codes: np.ndarray, care: np.ndarray, fmt: Format) -> None:
    nan = np.isnan(v)
    top = (1 << (fmt.ebits + fmt.mbits)) - 1
    codes[nan] = top | np.where(np.signbit(v[nan]), 1 << (fmt.ebits + fmt.mbits), 0)


def _inf_to_nan(v: np.ndarray, codes: np.ndarray, care: np.ndarray, fmt: Format) -> None:
    codes[np.isinf(v)] = special_codes(fmt)[1]


def _zero_to_smallest(v: np.ndarray, codes: np.ndarray, care: np.ndarray, fmt: Format) -> None:
    codes[v == 0] = 0


def _e8m0_subnormal_up(v: np.ndarray, codes: np.ndarray, care: np.ndarray, fmt: Format) -> None:
    a = np.abs(v)
    codes[(a > 2.0**-127) & (a < 1.5 * 2.0**-127)] = 1  # 2**-126


def _overflow_to_inf_pattern(v: np.ndarray, codes: np.ndarray, care: np.ndarray,
                             fmt: Format) -> None:
    over = np.isfinite(v) & (codes == special_codes(fmt)[1])  # finite, overflowed to NaN
    pattern = ((1 << fmt.ebits) - 1) << fmt.mbits
    codes[over] = pattern | np.where(v[over] < 0, 1 << (fmt.ebits + fmt.mbits), 0)


def _unspecified(pred: Callable[[np.ndarray], np.ndarray]) -> Callable[..., None]:
    def after(v: np.ndarray, codes: np.ndarray, care: np.ndarray, fmt: Format) -> None:
        care &= ~pred(v)
    return after


#: Every quirk, by name.
QUIRKS: dict[str, Quirk] = {q.name: q for q in [
    Quirk("f64_via_f32", "float64 inputs are rounded to float32 (nearest even) first: two roundings",
          before=_f64_via_f32),
    Quirk("abs_input", "the input's sign is ignored (|x| is converted)",
          before=lambda v, dtype: np.abs(v)),
    Quirk("nan_to_pos_max", "NaN gives +max (the format has no NaN)", after=_nan_to_pos_max),
    Quirk("nan_all_ones", "NaN gives the all-ones magnitude code with the input's sign (an IEEE "
          "format's NaN with every mantissa bit set, not floatsim's quiet NaN)", after=_nan_all_ones),
    Quirk("inf_to_nan", "+-inf gives NaN, although finite overflow saturates", after=_inf_to_nan),
    Quirk("zero_to_smallest", "+-0 gives code 0 (the smallest value), not NaN",
          after=_zero_to_smallest),
    Quirk("e8m0_subnormal_up", "inputs in (2**-127, 1.5 * 2**-127) (float32 subnormals) round up "
          "to 2**-126 although 2**-127 is nearer", after=_e8m0_subnormal_up),
    Quirk("overflow_to_inf_pattern", "finite overflow returns the IEEE infinity bit pattern "
          "(exponent all ones, mantissa 0), which the FNUZ format reads as +-2**(2**ebits-1-bias)",
          after=_overflow_to_inf_pattern),
    Quirk("nan_unspecified", "the result of a NaN input is not specified",
          after=_unspecified(np.isnan)),
    Quirk("negative_unspecified", "the result of a negative input is not specified",
          after=_unspecified(lambda v: np.signbit(v) & ~np.isnan(v))),
    Quirk("zero_unspecified", "the result of a zero input is not specified",
          after=_unspecified(lambda v: v == 0)),
]}


# ---- profiles ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """A case a profile's documentation names: input, its type, the random
    word (stochastic profiles), the expected code and what the source says."""

    x: float
    dtype: str
    code: int
    text: str
    r: int = 0


@dataclass(frozen=True)
class Profile:
    """A named conversion behaviour (see the module docstring).

    Args:
        name: identifier (``ptx_cvt_rn_satfinite_e4m3``).
        title: the instruction or call, as its users write it.
        format: the destination format's name.
        rounding: floatsim rounding mode name.
        overflow: floatsim overflow policy name.
        sr_bits: k for k-bit stochastic rounding (the low k bits of each
            case's random word are used), None otherwise.
        quirks: names in :data:`QUIRKS`.
        inputs: the input types it converts from.
        nan_any: any NaN code of the format counts as the documented NaN.
        source: where the behaviour is documented.
        version: which versions behave so ("" when not versioned).
        documented: the cases the documentation names (:class:`Case`).
    """

    name: str
    title: str
    format: str
    rounding: str
    overflow: str
    sr_bits: int | None = None
    quirks: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ("float32",)
    nan_any: bool = False
    source: str = ""
    version: str = ""
    documented: tuple[Case, ...] = field(default=(), repr=False)

    @property
    def fmt(self) -> Format:
        return lookup(self.format)

    @property
    def stochastic(self) -> bool:
        return self.rounding == Rounding.STOCHASTIC.name.lower()

    def expected(self, x: np.ndarray, r: np.ndarray | None = None, dtype: str | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
        """``(codes, care)`` for float inputs ``x`` (and random words ``r``
        for stochastic profiles).  ``care`` is False where the documentation
        leaves the result open.  ``dtype``: the inputs' type name (default:
        x's dtype; bfloat16 inputs come as their exact float32 values)."""
        x = np.asarray(x)
        dtype = dtype or x.dtype.name
        # float16 / bfloat16 (given as float32) / float32 stay float32: floatsim's fast path
        if x.dtype in (np.float32, np.float64):
            v = x
        else:
            with np.errstate(invalid="ignore"):
                v = x.astype(np.float32)
        for q in self.quirks:
            if QUIRKS[q].before is not None:
                v = QUIRKS[q].before(v, dtype)
        fmt = self.fmt
        kw: dict[str, Any] = {"overflow": self.overflow}
        if self.stochastic:
            if r is None:
                raise ValueError(f"profile {self.name} rounds stochastically: pass r= (random words)")
            kw.update(sr_bits=self.sr_bits, random_bits=np.asarray(r).astype(np.uint32))
        nan = np.isnan(v)
        safe = np.where(nan, 0.0, v) if not fmt.has_nan else v
        codes = encode(safe, fmt, self.rounding, **kw).astype(np.int64)
        care = np.ones(codes.shape, dtype=bool)
        if not fmt.has_nan:
            care &= ~nan  # floatsim gives no code; a quirk may define one
        for q in self.quirks:
            if QUIRKS[q].after is not None:
                QUIRKS[q].after(v, codes, care, fmt)
                if q == "nan_to_pos_max":
                    care |= nan
        return codes, care

    def describe(self) -> str:
        """Several lines: title, behaviour, quirks, source."""
        lines = [f"{self.name}: {self.title}",
                 f"  {self.format}, {self.rounding}, overflow {self.overflow}"
                 + (f", {self.sr_bits} random bits (the word's low bits)" if self.sr_bits else ""),
                 f"  inputs: {', '.join(self.inputs)}"]
        lines += [f"  quirk: {QUIRKS[q].text}" for q in self.quirks]
        if self.version:
            lines.append(f"  versions: {self.version}")
        lines.append(f"  source: {self.source}")
        return "\n".join(lines)


_PTX = ("NVIDIA PTX ISA (9.x), cvt: 'Floating Point Notes', '.satfinite' and the .rs "
        "rounding modifier; docs.nvidia.com/cuda/parallel-thread-execution/"
        "#data-movement-and-conversion-instructions-cvt")
_HIP = ("AMD HIP amd_hip_fp8.h (ROCm 6.2): __hip_cvt_float_to_fp8 / internal::cast_to_f8 "
        "(negative_zero_nan, clip) and, on gfx942, fmed3 clamp + v_cvt_pk_fp8_f32; as vendored in "
        "triton-lang/triton third_party/amd/backend/include/hip/amd_detail/amd_hip_fp8.h")
_TORCH = ("PyTorch c10/util/Float8_*.h (fp8*_from_fp32_value); saturating e4m3fn casts since "
          "pytorch/pytorch#178817 (2.12); measured on torch 2.13.0 CPU")
_ML = "ml_dtypes casts (.astype), tests/ml_support.py and docs/semantics.md of floatsim"
_INF, _NAN = math.inf, math.nan
_SUB = float(np.uint32(0x00400001).view(np.float32))  # a float32 subnormal just above 2**-127
_REGISTRY: dict[str, Profile] = {}


def _add(p: Profile) -> None:
    for q in p.quirks:
        if q not in QUIRKS:
            raise ValueError(f"profile {p.name}: unknown quirk {q!r}")
    _REGISTRY[p.name] = p


# NVIDIA: cvt.rn.satfinite (sm_89+ for e4m3/e5m2, sm_100a/sm_120a for the 6- and 4-bit types)
for _short, _fmt, _nan_quirk, _maxc in [("e4m3", "float8_e4m3fn", (), 0x7E),
                                        ("e5m2", "float8_e5m2", (), 0x7B),
                                        ("e2m3", "float6_e2m3fn", ("nan_to_pos_max",), 0x1F),
                                        ("e3m2", "float6_e3m2fn", ("nan_to_pos_max",), 0x1F),
                                        ("e2m1", "float4_e2m1fn", ("nan_to_pos_max",), 0x7)]:
    _sign = 1 << (lookup(_fmt).bits - 1)
    _nan_code = _maxc if _nan_quirk else special_codes(lookup(_fmt))[1]
    _doc = (Case(_NAN, "float32", _nan_code, "NaN input: NaN in the destination format"
                 if not _nan_quirk else "NaN results are converted to positive MAX_NORM"),
            Case(1e30, "float32", _maxc, "|x| > MAX_NORM: sign-preserved MAX_NORM"),
            Case(-1e30, "float32", _maxc | _sign, "|x| > MAX_NORM: sign-preserved MAX_NORM"),
            Case(-_INF, "float32", _maxc | _sign, "infinity exceeds MAX_NORM"))
    _add(Profile(f"ptx_cvt_rn_satfinite_{_short}", f"cvt.rn.satfinite.{_short}x2.f32",
                 _fmt, "nearest_even", "saturate", quirks=_nan_quirk,
                 inputs=("float32", "float16", "bfloat16"), nan_any=not _nan_quirk, source=_PTX,
                 documented=_doc))
    _k = 8 if _short == "e2m1" else 16
    _add(Profile(f"ptx_cvt_rs_satfinite_{_short}", f"cvt.rs.satfinite.{_short}x4.f32 (rbits)",
                 _fmt, "stochastic", "saturate", sr_bits=_k, quirks=_nan_quirk, nan_any=not _nan_quirk,
                 source=_PTX + f"; each operand gets {_k} bits of rbits (which bits: the ISA's "
                 "figure); floatsim aligns them with the top of the discarded mantissa bits",
                 version="sm_100a, sm_103a", documented=_doc[:3]))

for _short, _fmt, _k, _sat in [("bf16", "bfloat16", 16, True), ("bf16", "bfloat16", 16, False),
                               ("f16", "float16", 13, True), ("f16", "float16", 13, False)]:
    _f = lookup(_fmt)
    _add(Profile(f"ptx_cvt_rs{'_satfinite' if _sat else ''}_{_short}",
                 f"cvt.rs{'.satfinite' if _sat else ''}.{_short}x2.f32 (rbits)", _fmt, "stochastic",
                 "saturate" if _sat else "inf", sr_bits=_k, nan_any=True,
                 source=_PTX + f"; {_k} random bits per operand ({'13 LSBs of each 16-bit half' if _k == 13 else 'one 16-bit half each'})",
                 version="sm_100a, sm_103a",
                 documented=(Case(_INF, "float32", special_codes(_f)[0 if _sat else 2],
                                  "beyond MAX_NORM: MAX_NORM with .satfinite, else inf"),)))

for _rnd, _mode in (("rp", "up"), ("rz", "toward_zero")):
    _add(Profile(f"ptx_cvt_{_rnd}_satfinite_ue8m0", f"cvt.{_rnd}.satfinite.ue8m0x2.f32",
                 "float8_e8m0fnu", _mode, "saturate",
                 quirks=("negative_unspecified", "zero_unspecified"),
                 inputs=("float32", "bfloat16"), nan_any=True, source=_PTX,
                 version="sm_100a, sm_120a (PTX 8.6)",
                 documented=(Case(_NAN, "float32", 0xFF, "NaN: NaN in the destination format"),
                             Case(3.0e38, "float32", 0xFE, "|x| > MAX_NORM: positive MAX_NORM (2**127)"),
                             Case(1.5, "float32", 0x80 if _rnd == "rp" else 0x7F,
                                  "rounding toward +inf / toward zero"),
                             Case(_INF, "float32", 0xFE, "infinity exceeds MAX_NORM"))))

# AMD: HIP FNUZ conversions (MI300, gfx942)
for _short, _fmt, _maxc, _k, _top, _one in [("e4m3", "float8_e4m3fnuz", 0x7F, 20, 0x78, 0x40),
                                            ("e5m2", "float8_e5m2fnuz", 0x7F, 21, 0x7C, 0x40)]:
    _interp = "__HIP_E4M3_FNUZ" if _short == "e4m3" else "__HIP_E5M2_FNUZ"
    _half = 1.0 + 2.0 ** -(lookup(_fmt).mbits + 1)  # half a step above 1.0
    _add(Profile(f"hip_{_short}_fnuz_satfinite",
                 f"__hip_cvt_float_to_fp8(x, __HIP_SATFINITE, {_interp})", _fmt, "nearest_even",
                 "saturate", quirks=("inf_to_nan",), inputs=("float32", "float16", "bfloat16", "float64"),
                 source=_HIP, documented=(Case(_INF, "float32", 0x80, "inf / NaN propagate (no clipping)"),
                                          Case(_NAN, "float32", 0x80, "NaN is 0x80"),
                                          Case(1e30, "float32", _maxc, "clamped to the largest value"),
                                          Case(-1e30, "float32", _maxc | 0x80, "clamped"),
                                          Case(-0.0, "float32", 0x00, "zero is unsigned"))))
    _add(Profile(f"hip_{_short}_fnuz_nosat_host",
                 f"__hip_cvt_float_to_fp8(x, __HIP_NOSAT, {_interp}) on the host",
                 _fmt, "nearest_even", "nan", quirks=("overflow_to_inf_pattern",),
                 inputs=("float32", "float16", "bfloat16", "float64"),
                 source=_HIP + " (cast_to_f8 returns its 'signed_inf' pattern on overflow)",
                 documented=(Case(1e30, "float32", _top, "overflow: the infinity bit pattern"),
                             Case(-1e30, "float32", _top | 0x80, "overflow, negative"),
                             Case(_INF, "float32", 0x80, "inf is NaN"))))
    _add(Profile(f"hip_{_short}_fnuz_sr_satfinite",
                 f"cast_to_f8_from_f32<true>(x, true, {_interp}, rng) "
                 f"(v_cvt_sr_{'fp8' if _short == 'e4m3' else 'bf8'}_f32)",
                 _fmt, "stochastic", "saturate", sr_bits=_k, quirks=("inf_to_nan",),
                 source=_HIP + f"; adds rng & drop_mask ({_k} low bits of the word)",
                 documented=(Case(_half, "float32", _one, "half a step, low bits "
                                  "0b0111...1 of the word: no carry", r=(1 << (_k - 1)) - 1),
                             Case(_half, "float32", _one + 1, "half a step, "
                                  "low bits 0b1000...0: carry", r=1 << (_k - 1)),
                             Case(_half, "float32", _one, f"bits above the low {_k} are ignored",
                                  r=((0xFFFFFFFF << _k) & 0xFFFFFFFF) | ((1 << (_k - 1)) - 1)))))

# PyTorch eager casts (Tensor.to), CPU and CUDA
_T = ("float32", "float16", "bfloat16", "float64")
_add(Profile("torch_float8_e4m3fn", "Tensor.to(torch.float8_e4m3fn)", "float8_e4m3fn",
             "nearest_even", "saturate", quirks=("f64_via_f32",), inputs=_T, source=_TORCH,
             version="torch >= 2.12",
             documented=(Case(1e30, "float32", 0x7E, "finite overflow saturates to 448"),
                         Case(_INF, "float32", 0x7E, "inf saturates too (measured)"),
                         Case(_NAN, "float32", 0x7F, "NaN stays NaN"),
                         Case(1.0625 + 2.0**-30, "float64", 0x38, "float64 rounds through float32"))))
_add(Profile("torch_float8_e4m3fn_legacy", "Tensor.to(torch.float8_e4m3fn)", "float8_e4m3fn",
             "nearest_even", "nan", quirks=("f64_via_f32",), inputs=_T, source=_TORCH,
             version="torch < 2.12",
             documented=(Case(1e30, "float32", 0x7F, "f_bits >= fp8_max: NaN"),
                         Case(_INF, "float32", 0x7F, "inf: NaN"))))
_add(Profile("torch_float8_e5m2", "Tensor.to(torch.float8_e5m2)", "float8_e5m2", "nearest_even",
             "inf", quirks=("f64_via_f32", "nan_all_ones"), inputs=_T, source=_TORCH,
             documented=(Case(1e30, "float32", 0x7C, "overflow: inf"),
                         Case(-_INF, "float32", 0xFC, "-inf"),
                         Case(-_NAN, "float32", 0xFF, "NaN: 0x7F with the sign (f_bits > fp32_inf)"))))
for _short in ("e4m3fnuz", "e5m2fnuz"):
    _add(Profile(f"torch_float8_{_short}", f"Tensor.to(torch.float8_{_short})", f"float8_{_short}",
                 "nearest_even", "nan", quirks=("f64_via_f32",), inputs=_T, source=_TORCH,
                 documented=(Case(1e30, "float32", 0x80, "overflow: NaN"),
                             Case(_INF, "float32", 0x80, "inf: NaN"),
                             Case(-0.0, "float32", 0x00, "zero is unsigned"))))
_add(Profile("torch_float8_e8m0fnu", "Tensor.to(torch.float8_e8m0fnu)", "float8_e8m0fnu",
             "nearest_away", "nan",
             quirks=("f64_via_f32", "abs_input", "zero_to_smallest", "e8m0_subnormal_up"),
             inputs=_T, source="PyTorch c10/util/Float8_e8m0fnu-inl.h (fp8e8m0fnu_from_fp32_value: "
             "the exponent field plus a round-up bit, ties up, no sign, 0xFF past 2**127); measured on "
             "torch 2.13.0 CPU",
             documented=(Case(-1.0, "float32", 0x7F, "the sign is dropped"),
                         Case(0.0, "float32", 0x00, "zero gives 2**-127"),
                         Case(3.0, "float32", 0x81, "a tie rounds up"),
                         Case(_INF, "float32", 0xFF, "inf is NaN"),
                         Case(1.5 * 2.0**127, "float32", 0xFF, "rounding up past 2**127 gives NaN"),
                         Case(_SUB, "float32", 0x01, "float32 subnormal just above 2**-127 rounds up"))))

# ml_dtypes (numpy .astype)
from ..registry import ML_DTYPES_NAMES  # noqa: E402  (the list of types ml_dtypes has)

for _n in ML_DTYPES_NAMES:
    if _n == "float16":
        continue
    _f = lookup(_n)
    _q = () if _f.has_nan else ("nan_unspecified",)
    _add(Profile(f"ml_dtypes_{_n}", f"np.asarray(x).astype(ml_dtypes.{_n})", _n,
                 "nearest_away" if _n == "float8_e8m0fnu" else "nearest_even", _f.overflow.value,
                 quirks=_q, inputs=_T, source=_ML, version="ml_dtypes >= 0.7",
                 documented=(Case(3.0, "float32", 0x81, "ties round up (away)"),) if _n == "float8_e8m0fnu"
                 else (Case(_INF, "float32", special_codes(_f)[2] if _f.has_inf else (
                       special_codes(_f)[1] if _f.has_nan else special_codes(_f)[0]),
                       "inf follows the format's own overflow rule"),)))
_add(Profile("ml_dtypes_float8_e8m0fnu_pre07", "np.asarray(x).astype(ml_dtypes.float8_e8m0fnu)",
             "float8_e8m0fnu", "nearest_away", "nan", quirks=("e8m0_subnormal_up",), inputs=_T,
             source=_ML, version="ml_dtypes < 0.7",
             documented=(Case(_SUB, "float32", 0x01, "float32 subnormals above 2**-127 round up"),)))
_add(Profile("ml_dtypes_bfloat16_pre07", "np.asarray(x).astype(ml_dtypes.bfloat16)", "bfloat16",
             "nearest_even", "inf", quirks=("f64_via_f32",), inputs=_T,
             source=_ML + "; jax-ml/ml_dtypes#401 (float64 narrowed to float32 first)",
             version="ml_dtypes < 0.7",
             documented=(Case(1 + 2.0**-8 + 2.0**-40, "float64", 0x3F80, "double rounding: 1.0"),)))


def profile(name: str) -> Profile:
    """The profile called ``name``."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown profile {name!r}; floatsim.vectors.profile_names() lists them")
    return _REGISTRY[name]


def profile_names() -> list[str]:
    """Every profile's name."""
    return list(_REGISTRY)


def all_profiles() -> list[Profile]:
    """Every profile."""
    return list(_REGISTRY.values())


def profiles_for(fmt: Format | str, src: str, stochastic: bool) -> list[Profile]:
    """The profiles that convert ``src`` inputs into ``fmt`` (stochastic or not)."""
    f = lookup(fmt)
    return [p for p in _REGISTRY.values()
            if p.fmt == f and src in p.inputs and p.stochastic == stochastic]
