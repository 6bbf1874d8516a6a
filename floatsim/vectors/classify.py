"""Why a result differs from the golden one: a class for every mismatch.

The classes (:data:`CLASSES`) name the usual ways a converter goes wrong.
(The tie between the largest value and the next would-be value counts as a
tie: rounding it away overflows.)
They are judged from the input's exact value, the two neighbours of that
value in the format (toward zero and away from zero, never flushed or
saturated), the expected code and the code the device gave, in this order:

====================  ======================================================
``unknown_output``    the result line holds ``x`` / ``z`` digits
``invalid_code``      the result is not a code of the format (too wide)
``nan_code``          both NaN, but another NaN code (sign or payload)
``nan_input``         a NaN input gave something else than expected
``inf_input``         an infinite input was handled differently
``sr_decision``       stochastic rounding chose the other neighbour (overflow and
                      underflow neighbours included)
``ties_away``         at a tie, away from zero where ties-to-even went to zero
``ties_even``         at a tie, to the even neighbour where ties-away was expected
``ties_toward_zero``  at a tie, toward zero where the expected result was away
``overflow_policy``   beyond the largest value: saturation / inf / NaN differ
``nan_for_number``    NaN where a number was expected
``number_for_nan``    a number where NaN was expected (e.g. E8M0's zero)
``signed_zero``       a zero of the wrong sign (a lost -0)
``daz_input``         zero for an input subnormal in its own type (DAZ)
``flushed_subnormal`` zero where a subnormal (or rounding up to the smallest
                      normal) was expected
``rounding_direction`` not a tie; the other neighbour of the input
``wrong_sign``        the right magnitude with the wrong sign
``wrong_value``       not a neighbour of the input at all
====================  ======================================================

Example:
    >>> import numpy as np, floatsim as fs
    >>> x = np.array([1.0625, 1e-3, -1e-5], np.float32)          # a tie, a subnormal, a -0
    >>> exp = fs.encode(x, "e4m3"); got = np.array([0x39, 0x00, 0x00])
    >>> [CLASS_NAMES[c] for c in classify_codes(x, exp, got, fs.format("e4m3"), "nearest_even")]
    ['ties_away', 'flushed_subnormal', 'signed_zero']
"""

from __future__ import annotations

import numpy as np

from ..cast import encode
from ..formats import Format
from .fileio import code_values

__all__ = ["CLASSES", "CLASS_NAMES", "class_id", "classify_codes", "classify_floats"]

#: Every class with its one-line explanation (the order is the order of the checks).
CLASSES: dict[str, str] = {
    "unknown_output": "the result holds x / z digits (an undriven output)",
    "invalid_code": "the result is not a code of the format",
    "nan_code": "NaN as expected, but another NaN code (sign or payload)",
    "nan_input": "a NaN input was handled differently",
    "inf_input": "an infinite input was handled differently",
    "sr_decision": "stochastic rounding chose the other neighbour (see the variants it matches)",
    "ties_away": "at a tie, rounded away from zero where ties-to-even keeps the even neighbour",
    "ties_even": "at a tie, rounded to the even neighbour where ties-away was expected",
    "ties_toward_zero": "at a tie, rounded toward zero where the expected result was away",
    "overflow_policy": "beyond the largest value: saturation / infinity / NaN differ",
    "nan_for_number": "NaN where a number was expected",
    "number_for_nan": "a number where NaN was expected",
    "signed_zero": "a zero of the wrong sign (a lost -0)",
    "daz_input": "zero for an input that is subnormal in its own type (denormals-are-zero)",
    "flushed_subnormal": "zero where a subnormal result was expected (flush to zero)",
    "rounding_direction": "not a tie: the other neighbour of the input (wrong rounding direction)",
    "wrong_sign": "the right magnitude with the wrong sign",
    "wrong_value": "not a neighbour of the input",
    "block_scale": "the block's scale differs",
    "product_rounded": "the product was rounded before c was added (two roundings, not fused)",
    "product_rounding": "the products are rounded otherwise (another product format or mode)",
    "align_rounding": "alignment truncated where the spec rounds, or rounded where it truncates",
    "kept_bits_fewer": "fewer bits kept after alignment (the result of a smaller kept_bits)",
    "kept_bits_more": "more bits kept after alignment (the result of a larger kept_bits)",
    "group_size": "another number of products aligned together (group)",
    "accumulator_precision": "another accumulator precision (format, Kahan, or its alignment)",
    "accumulator_rounding": "the accumulator rounds another way (truncation for nearest, or back)",
    "promotion": "no promotion to FP32, or promotion at another interval",
    "output_rounding": "the result is rounded into the output format another way",
    "dot_value": "the dot product differs and no one-field change of the spec reproduces it",
    "mismatch": "the result differs (no classifier for this operation)",
}

#: The classes in order; the classifiers return indices into this tuple (int8).
CLASS_NAMES: tuple[str, ...] = tuple(CLASSES)
_ID = {name: i for i, name in enumerate(CLASS_NAMES)}


def class_id(name: str) -> int:
    """The index of class ``name`` in :data:`CLASS_NAMES`."""
    return _ID[name]


def _select(conds: list[np.ndarray], names: list[str]) -> np.ndarray:
    return np.select(conds, [_ID[c] for c in names], default=_ID["wrong_value"]).astype(np.int8)


_MIN_SUBNORMAL_OF = {"float16": 2.0**-14, "bfloat16": 2.0**-126, "float32": 2.0**-126,
                     "float64": 2.0**-1022}


def _neighbours(x: np.ndarray, fmt: Format) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the format's values next to ``x`` toward zero and away from zero
    (clamped to max, subnormals kept; x must be finite)."""
    kw = {"overflow": "saturate", "subnormals": None if fmt.ebits == 0 else True}
    tz = encode(x, fmt, "toward_zero", **kw)
    up = encode(x, fmt, "up", **kw)
    down = encode(x, fmt, "down", **kw)
    return tz, np.where(x < 0, down, up)


def classify_codes(x: np.ndarray, exp: np.ndarray, got: np.ndarray, fmt: Format, rounding: str,
                   *, src: str | None = None, stochastic: bool = False,
                   unknown: np.ndarray | None = None) -> np.ndarray:
    """The class of each mismatch of a conversion into ``fmt``: indices into
    :data:`CLASS_NAMES` (int8).

    ``x``: the inputs' exact values (any float dtype), ``exp`` / ``got``: codes,
    ``rounding``: the expected rounding mode's name, ``src``: the input
    type's name (for denormals-are-zero), ``unknown``: cases with x/z digits.
    """
    x = np.asarray(x)
    if x.dtype not in (np.float16, np.float32, np.float64):
        x = x.astype(np.float64)
    n = x.size
    valid = np.asarray(got) < fmt.num_codes
    cdt = np.int32 if fmt.bits <= 30 else np.int64  # halves the memory traffic of the codes
    exp = np.asarray(exp).astype(cdt)
    got = np.where(valid, got, 0).astype(cdt)
    table = fmt.values() if fmt.bits <= 16 else None

    def values(codes: np.ndarray) -> np.ndarray:
        return table[codes] if table is not None else code_values(fmt, codes)

    ve, vg = values(exp), values(got)
    finite = np.isfinite(x)
    xs = np.where(finite, x, 0)  # x's own dtype: the neighbours come from the fast path
    if not fmt.signed:
        xs = np.where(xs < 0, 0, xs)
    tz, aw = (c.astype(cdt) for c in _neighbours(xs, fmt))
    vtz, vaw = np.abs(values(tz)), np.abs(values(aw))
    ax = np.abs(xs).astype(np.float64)
    top = fmt.max
    with np.errstate(invalid="ignore"):
        # the tie between max and the next would-be value decides overflow in nearest modes
        otie = finite & (ax == top + np.ldexp(1.0, fmt.emax - fmt.mbits) / 2)
        beyond_g = np.isnan(vg) | np.isinf(vg)
        beyond_e = np.isnan(ve) | np.isinf(ve)
        tie = finite & (((tz != aw) & (ax - vtz == vaw - ax)) | otie)
        got_aw = np.where(otie, beyond_g, got == aw)
        exp_aw = np.where(otie, beyond_e, exp == aw)
        got_tz = np.where(otie, np.abs(vg) == top, got == tz)
        exp_tz = np.where(otie, np.abs(ve) == top, exp == tz)
        over = finite & (ax > top)
        big = beyond_e | beyond_g | (np.abs(ve) == top) | (np.abs(vg) == top)
        both_nb = ((got == tz) | (got == aw)) & ((exp == tz) | (exp == aw)) & (tz != aw)
        # beyond max the away neighbour is the overflow result (inf / NaN)
        at_top_g, at_top_e = np.abs(vg) == top, np.abs(ve) == top
        both_nb |= over & ((at_top_g & beyond_e) | (beyond_g & at_top_e))
        zero_e, zero_g = ve == 0, vg == 0
        sign_e, sign_g = np.signbit(ve), np.signbit(vg)
        tiny_e = ~zero_e & (np.abs(ve) <= fmt.min_normal)
    sub_in = np.zeros(n, dtype=bool)
    if src in _MIN_SUBNORMAL_OF:
        sub_in = finite & (x != 0) & (np.abs(x) < _MIN_SUBNORMAL_OF[src])
    nearest = rounding in ("nearest_even", "nearest_away")
    tz_even = tz % 2 == 0  # the magnitude code's last bit (the sign bit is the top one)
    conds = [
        np.zeros(n, bool) if unknown is None else np.asarray(unknown, bool),
        ~valid,
        np.isnan(ve) & np.isnan(vg),
        np.isnan(x),
        np.isinf(x),
        stochastic & both_nb,
        nearest & tie & got_aw & exp_tz,
        nearest & tie & got_tz & exp_aw & (rounding == "nearest_away") & tz_even,
        nearest & tie & got_tz & exp_aw,
        over & big,
        np.isnan(vg),
        np.isnan(ve),
        zero_e & zero_g & (sign_e != sign_g),
        zero_g & ~zero_e & sub_in,
        zero_g & tiny_e,
        both_nb,
        (np.abs(vg) == np.abs(ve)) & (sign_e != sign_g),
    ]
    names = ["unknown_output", "invalid_code", "nan_code", "nan_input", "inf_input", "sr_decision",
             "ties_away", "ties_even", "ties_toward_zero", "overflow_policy", "nan_for_number",
             "number_for_nan", "signed_zero", "daz_input", "flushed_subnormal", "rounding_direction",
             "wrong_sign"]
    return _select(conds, names)


def classify_floats(exp: np.ndarray, got: np.ndarray, fmt: Format,
                    unknown: np.ndarray | None = None) -> np.ndarray:
    """The class of each mismatch of a decode (float64 values of ``fmt``'s codes), as
    indices into :data:`CLASS_NAMES`."""
    ve = np.asarray(exp, dtype=np.float64)
    vg = np.asarray(got, dtype=np.float64)
    n = ve.size
    with np.errstate(invalid="ignore"):
        conds = [
            np.zeros(n, bool) if unknown is None else np.asarray(unknown, bool),
            np.isnan(vg) & ~np.isnan(ve),
            np.isnan(ve) & ~np.isnan(vg),
            (ve == 0) & (vg == 0) & (np.signbit(ve) != np.signbit(vg)),
            (vg == 0) & (ve != 0) & (np.abs(ve) < fmt.min_normal),
            (np.abs(vg) == np.abs(ve)) & (np.signbit(ve) != np.signbit(vg)),
        ]
    names = ["unknown_output", "nan_for_number", "number_for_nan", "signed_zero",
             "flushed_subnormal", "wrong_sign"]
    return _select(conds, names)
