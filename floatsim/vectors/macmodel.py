"""floatsim.mac's models as the FMA and dot-product vectors call them.

* :func:`dots` runs :func:`floatsim.mac.dot`'s pipeline on a batch of cases,
  each with its own **explicit random words** (one per accumulator
  rounding) and its own **block scale exponents** (``mx_dot``).  The vectors
  carry the words a device uses, so the model must take them as inputs,
  where :func:`floatsim.mac.dot` draws them from Philox.  Each row is
  ``floatsim.mac.scalar.dot_words``, the golden model ``dot_model`` with
  the word of step ``s`` read from the case's row instead of drawn;
  tests/test_vectors_mac.py checks it against ``mac.dot`` and ``mac.mx_dot``
  (given the Philox words) and against the rational oracle.
* :func:`ro_sum`: ``p + c`` of float64 arrays rounded to odd at 53 bits
  (TwoSum), the value the FMA classifier judges a result against, and the
  first step of :func:`fma_rounded`, an FMA whose product is given
  (rounded first, for the "not fused" variants).
* :func:`spec_dict` / :func:`spec_from`: an AccumulatorSpec as the JSON a
  vectors header holds, and back.

Example:
    >>> import numpy as np, floatsim.mac as mac
    >>> a = np.float32([[1.0, 2.0**-20, 2.0**-20]]); b = np.ones_like(a)
    >>> float(dots(a, b, mac.spec("hopper_fp8"))[0]), float(dots(a, b, mac.spec("fp32"))[0])
    (1.0, 1.0000019073486328)
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numba
import numpy as np

from .. import cast
from ..formats import Format
from ..mac.abi import C_GROUP, pack
from ..mac.scalar import dot_words
from ..mac.spec import PRESETS, AccumulatorSpec, FixedPoint
from ..rounding import Rounding

__all__ = ["dots", "fma_rounded", "ro_sum", "spec_dict", "spec_from", "spec_label"]

_log = logging.getLogger("floatsim.vectors")


@numba.njit(cache=True, nogil=True)
def _dots(A, B, R, K, S, nb, sblk, W, ns, cfg, pp, pa, po, pf, out):  # noqa: ANN001, ANN202, PLR0913
    """``out[r]``: the golden model's dot of rows r of A and B (R x K float32),
    the products of block k // sblk scaled by 2**S[r, k // sblk], the
    accumulator rounding of step s drawing the word W[r, s] (``ns`` words a
    row; none: W is empty)."""
    buf = np.empty(max(cfg[C_GROUP], 1), np.float64)
    for r in range(R):
        out[r] = dot_words(A, r * K, B, r * K, K, S[r * nb:(r + 1) * nb], sblk, cfg, pp, pa, po,
                           pf, r, W, r * ns, buf)


def dots(a: np.ndarray, b: np.ndarray, spec: AccumulatorSpec, *, words: np.ndarray | None = None,
         scale_exp: np.ndarray | None = None, block: int | None = None) -> np.ndarray:
    """The dot product of each row of ``a`` and ``b`` (float32, (R, K)) as the
    unit ``spec`` computes it, as float64 values of ``spec.output``.

    ``words``: (R, steps) integers, the random word of each accumulator
    rounding (stochastic ``acc_rounding``; steps = ceil(K / group)).
    ``scale_exp``: (R, ceil(K / block)) int64 block scale exponents, the
    products of block j scaled by 2**scale_exp[:, j] (``NAN_SCALE`` or more:
    a NaN scale), as :func:`floatsim.mac.mx_dot`.

    Example:
        >>> import floatsim.mac as mac
        >>> s = mac.spec("bf16").replace(acc_rounding="stochastic", sr_bits=4)
        >>> a = np.float32([[1.0, 2.0**-9]]); b = np.ones_like(a)
        >>> dots(a, b, s, words=[[0, 0]]).tolist(), dots(a, b, s, words=[[0, 12]]).tolist()
        ([1.0], [1.0078125])
    """
    A = np.ascontiguousarray(a, dtype=np.float32)
    B = np.ascontiguousarray(b, dtype=np.float32)
    R, K = A.shape
    if scale_exp is None:
        S, nb, sblk = np.zeros(max(R, 1), np.int64), 1, K + 1
    else:
        S = np.ascontiguousarray(scale_exp, dtype=np.int64)
        nb, sblk = S.shape[1], int(block or K + 1)
    steps = -(-K // (spec.group or 1))
    if words is None or spec.acc_rounding is not Rounding.STOCHASTIC:
        W, ns = np.zeros(0, np.int64), 0
    else:
        W = np.ascontiguousarray(words, dtype=np.int64).reshape(R, -1)
        if W.shape[1] < steps:
            raise ValueError(f"words has {W.shape[1]} columns; a dot product of length {K} under "
                             f"this spec takes {steps} accumulator roundings (one word each)")
        ns = W.shape[1]
        W = W.reshape(-1)
    out = np.empty(R, np.float64)
    if R and K:
        if not _dots.signatures:
            _log.info("floatsim.vectors: first call of the dot model with explicit words: "
                      "compiling it (once; cached on disk)")
        _dots(A.reshape(-1), B.reshape(-1), R, K, S.reshape(-1), nb, sblk, W, ns, *pack(spec), out)
    elif R:
        out[:] = dots(np.zeros((R, 1), np.float32), np.zeros((R, 1), np.float32), spec)
    return out


# ---- FMA helpers --------------------------------------------------------------------------------
def ro_sum(p: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``p + c`` (float64 arrays) rounded to odd at 53 bits: the nearest-even sum
    moved to its odd neighbour on the error's side when inexact (TwoSum: exact
    for finite p, c whose sum does not overflow).  NaN and inf sums are IEEE's.

    Example:
        >>> float(ro_sum(np.float64([1.0]), np.float64([2.0**-60]))[0]) == 1 + 2.0**-52
        True
    """
    p = np.asarray(p, np.float64)
    c = np.asarray(c, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        s = p + c
        bb = s - p
        e = (p - (s - bb)) + (c - bb)
        fix = np.isfinite(s) & (e != 0) & ((s.view(np.uint64) & np.uint64(1)) == 0)
        toward = np.where((e > 0) == (s > 0), 1, -1).astype(np.int64)
        bits = s.view(np.int64) + np.where(fix, toward, 0)
    return bits.view(np.float64)


def fma_rounded(p: np.ndarray, c: np.ndarray, fmt: Format, rounding: str,
                random_bits: np.ndarray | None = None, sr_bits: int | None = None) -> np.ndarray:
    """Codes of ``p + c`` rounded once into ``fmt`` for float64 ``p`` (a product,
    maybe rounded already) and ``c``, with IEEE's specials and zero signs
    (an exact zero sum is +0, -0 when rounding down or when both are -0).
    Round to odd at 53 bits, then the core's cast: correctly rounded for
    ``fmt.mbits <= 50`` (Boldo and Melquiond).

    Example:
        >>> import floatsim as fs
        >>> fma_rounded(np.float64([1.25, -0.0]), np.float64([0.25, -0.0]), fs.format("e2m1"),
        ...             "nearest_even").tolist()   # 1.5; (-0) + (-0) stays -0
        [3, 8]
    """
    s = ro_sum(p, c)
    zero = s == 0
    both_neg = (p == 0) & (c == 0) & np.signbit(p) & np.signbit(c)
    neg0 = both_neg | (Rounding.parse(rounding) is Rounding.DOWN)
    s = np.where(zero, np.where(neg0, -0.0, 0.0), s)
    s = np.where(np.isnan(s), np.nan, s)  # NaN results are +NaN, as the models give them
    kw: dict[str, Any] = {}
    if random_bits is not None:
        kw = {"random_bits": np.asarray(random_bits).astype(np.uint32), "sr_bits": sr_bits}
    return cast.encode(s, fmt, rounding, **kw).astype(np.uint64)


# ---- specs as JSON ------------------------------------------------------------------------------
def _fmt_name(f: Format) -> str:
    from .ops import format_name

    return format_name(f)


def spec_dict(spec: AccumulatorSpec) -> dict[str, Any]:
    """Every field of ``spec`` as JSON values (formats by name, roundings by
    their names, a FixedPoint as a dict), ``name`` first.

    Example:
        >>> spec_dict(PRESETS["hopper_fp8"])["kept_bits"]
        13
    """
    out: dict[str, Any] = {}
    for f in dataclasses.fields(AccumulatorSpec):
        v = getattr(spec, f.name)
        if isinstance(v, Rounding):
            v = v.name.lower()
        elif isinstance(v, Format):
            v = _fmt_name(v)
        elif isinstance(v, FixedPoint):
            v = {"bits": v.bits, "frac_bits": v.frac_bits, "overflow": v.overflow}
        out[f.name] = v
    return out


def spec_from(value: AccumulatorSpec | str | dict[str, Any]) -> AccumulatorSpec:
    """An AccumulatorSpec from a preset name, a spec, or a dict of fields (the
    JSON of :func:`spec_dict`; ``base``: a preset the fields replace).

    Example:
        >>> spec_from({"base": "hopper_fp8", "kept_bits": 12}).kept_bits
        12
    """
    from ..mac.spec import spec as preset

    if isinstance(value, AccumulatorSpec | str):
        return preset(value)
    if not isinstance(value, dict):
        raise TypeError(f"spec={value!r}: pass a preset name, an AccumulatorSpec or a dict of "
                        "its fields")
    d = dict(value)
    base = preset(d.pop("base")) if "base" in d else AccumulatorSpec()
    names = {f.name for f in dataclasses.fields(AccumulatorSpec)}
    bad = sorted(set(d) - names)
    if bad:
        raise ValueError(f"spec fields {bad} are not AccumulatorSpec fields; allowed: "
                         f"{', '.join(sorted(names))}")
    if isinstance(d.get("accumulator"), dict):
        d["accumulator"] = FixedPoint(**d["accumulator"])
    return base.replace(**d)


def spec_label(spec: AccumulatorSpec) -> str:
    """The preset name ``spec`` equals, else its name if that is no preset's,
    else ``custom``."""
    for name, s in PRESETS.items():
        if s == spec:
            return name
    return spec.name if spec.name not in PRESETS else "custom"
