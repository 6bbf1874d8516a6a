"""Which behaviour a device's conversion results match: profiles and parameter variants.

For a conversion set (``convert`` / ``sr``) the checker tries every named
profile for the set's input type and format (:mod:`floatsim.vectors.profiles`)
and floatsim's own cast with one thing changed: another rounding mode, another
overflow policy (and both), subnormal results flushed, denormal inputs flushed,
``-0`` results lost; for stochastic rounding the word off by one either way,
one random bit fewer or more, the top bits of the word instead of the low
ones, or the word ignored.

Large sets are screened first: every candidate runs on a sample of
:data:`SCREEN` cases (every 1/m-th case, plus the first mismatching ones), and
only those that agree with the device there, the three closest others, and
(when the device agrees with the golden results) those that agree with the
golden results, run on every case.  Counts of the others are over the sample.

Example:
    >>> import numpy as np, floatsim as fs, floatsim.vectors as fv
    >>> vs = fv.generate("convert", format="e5m2")
    >>> x = vs.data["x"].astype(np.uint32).view(np.float32)
    >>> matches, closest, counts, alike = diagnose_codes(vs, fs.encode(x, "e5m2", "rtz"))
    >>> matches[0]
    'rounding=toward_zero'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..cast import code_dtype, encode
from ..formats import Format
from ..rounding import Rounding
from .fileio import code_values
from .ops import Convert, operation
from .profiles import all_profiles, profiles_for
from .vectorset import VectorSet

__all__ = ["SCREEN", "candidates", "diagnose_codes", "negzero_lost", "other_policies"]

#: Cases a candidate is first tried on (sets larger than this are screened).
SCREEN = 1 << 17

#: A candidate: the cases to run on (an index array or ``slice(None)``) ->
#: (codes, care, nan_any).
Run = Callable[[Any], tuple[np.ndarray, np.ndarray, bool]]


def candidates(vs: VectorSet) -> list[tuple[str, Run]]:
    """(label, run) pairs; ``run(sel)`` gives (codes, care, nan_any) for the cases ``sel``."""
    op = operation(vs.op)
    if not isinstance(op, Convert):
        return op.candidates(vs)
    p = vs.params
    fmt: Format = op.output_format(p)
    x = op.input_values(p, vs.data["x"])
    src = p["src"]
    sr = p["rounding"] == "stochastic"
    r = vs.data.get("r")
    w = op.word_bits(p)
    out: list[tuple[str, Run]] = []

    def enc(rounding: str, overflow: str | None, subnormals: bool | None = p["subnormals"],
            daz: bool = False, sr_bits: int | None = p["sr_bits"],
            word: Callable[[np.ndarray], np.ndarray] | None = None) -> Run:
        def run(sel: Any) -> tuple[np.ndarray, np.ndarray, bool]:
            kw: dict[str, Any] = {"overflow": overflow, "subnormals": subnormals}
            if rounding == "stochastic":
                rr = r[sel] if word is None else word(r[sel])
                kw.update(sr_bits=sr_bits, random_bits=rr.astype(np.uint64 if w == 64 else np.uint32))
            xx = x[sel]
            if daz:  # the same as encode(..., daz=True), on the fast path
                tiny = np.abs(xx) < np.finfo(xx.dtype).smallest_normal
                xx = np.where(tiny, np.copysign(np.zeros_like(xx), xx), xx)
            return encode(xx, fmt, rounding, **kw), np.ones(xx.shape, bool), False
        return run

    for prof in profiles_for(fmt, src if src in ("float32", "float16", "bfloat16", "float64")
                             else "float64", sr):
        def run_p(sel: Any, prof=prof) -> tuple[np.ndarray, np.ndarray, bool]:
            codes, care = prof.expected(x[sel], None if r is None else r[sel], dtype=src)
            return codes, care, prof.nan_any
        out.append((prof.name, run_p))
    ov0 = p["overflow"] or fmt.overflow.value
    policies = other_policies(fmt, ov0)
    if not sr:
        modes = [m.name.lower() for m in Rounding if m is not Rounding.STOCHASTIC
                 and m.name.lower() != p["rounding"]]
        out += [(f"rounding={m}", enc(m, p["overflow"])) for m in modes]
        out += [(f"overflow={o}", enc(p["rounding"], o)) for o in policies]
        out += [(f"rounding={m}, overflow={o}", enc(m, o)) for m in modes for o in policies]
    else:
        k = p["sr_bits"]
        top = np.uint64((1 << w) - 1) if w < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)
        one = np.uint64(1)
        out += [("random word + 1 (threshold off by one)",
                 enc("stochastic", p["overflow"], word=lambda rr: (rr + one) & top)),
                ("random word - 1 (threshold off by one)",
                 enc("stochastic", p["overflow"], word=lambda rr: (rr - one) & top))]
        if k is not None:
            out += [(f"sr_bits={kk} (one bit {'fewer' if kk < k else 'more'})",
                     enc("stochastic", p["overflow"], sr_bits=kk))
                    for kk in (k - 1, k + 1) if 1 <= kk <= min(32, w)]
            if k > 1:
                out.append((f"sr_bits={k - 1} from the word's top bits (shifted right by one)",
                            enc("stochastic", p["overflow"], sr_bits=k - 1, word=lambda rr: rr >> one)))
        out += [(f"overflow={o}", enc("stochastic", o)) for o in policies]
        out += [(f"rounding={m} (the word ignored)", enc(m, p["overflow"]))
                for m in ("toward_zero", "nearest_even")]
    if fmt.ebits >= 1 and fmt.has_zero:
        out.append(("subnormals flushed (subnormals=False)",
                    enc(p["rounding"], p["overflow"], subnormals=False)))
    if src in ("float32", "float16", "bfloat16", "float64"):
        out.append(("denormal inputs flushed (daz=True)", enc(p["rounding"], p["overflow"], daz=True)))
    if fmt.has_negzero:
        out.append(("-0 results become +0", negzero_lost(vs, fmt, nan_any=False)))
    return out


def other_policies(fmt: Format, current: str) -> list[str]:
    """The overflow policies ``fmt`` allows other than ``current``."""
    return [o for o in ("saturate", "inf", "nan") if o != current and _allowed(fmt, o)]


def negzero_lost(vs: VectorSet, fmt: Format, nan_any: bool) -> Run:
    """The candidate whose ``-0`` results (code ``y``) are ``+0``."""
    def run(sel: Any) -> tuple[np.ndarray, np.ndarray, bool]:
        y = vs.data["y"][sel].copy()
        y[y == np.uint64(1 << (fmt.bits - 1))] = 0
        return y, np.ones(y.shape, bool), nan_any
    return run


def _allowed(fmt: Format, policy: str) -> bool:
    try:
        fmt.check_overflow(policy)
        return True
    except ValueError:
        return False


def diagnose_codes(vs: VectorSet, got: np.ndarray, unknown: np.ndarray | None = None,
                   progress: bool = False
                   ) -> tuple[list[str], list[tuple[str, int]], dict[str, int], list[str]]:
    """(matching profiles and variants, the three closest others with their counts,
    every candidate's count, the variants indistinguishable from the golden results
    on these cases) for the codes ``got`` of a conversion set."""
    cands = candidates(vs)
    if not cands:
        return [], [], {}, []
    fmt = operation(vs.op).output_format(vs.params)
    dt = code_dtype(fmt)
    n = vs.n
    unknown = np.zeros(n, bool) if unknown is None else unknown
    bad_code = np.asarray(got) >= fmt.num_codes
    got = np.where(bad_code, 0, got).astype(dt)  # out-of-range codes never match (see `unknown`)
    unknown = unknown | bad_code
    expected = vs.data["y"].astype(dt)
    nan_of = np.isnan(fmt.values()) if fmt.bits <= 16 else None

    def is_nan(codes: np.ndarray) -> np.ndarray:
        return nan_of[codes] if nan_of is not None else np.isnan(code_values(fmt, codes))

    def count(run: Run, sel: Any) -> tuple[int, bool] | None:
        try:
            codes, care, nan_any = run(sel)
        except ValueError:
            return None  # a variant the format does not allow
        codes = codes.astype(dt)
        d = (codes != got[sel]) | unknown[sel]
        d0 = codes != expected[sel]
        if nan_any:
            nan_c = is_nan(codes)
            d &= ~(nan_c & is_nan(got[sel]) & ~unknown[sel])
            d0 &= ~(nan_c & is_nan(expected[sel]))
        return int(np.count_nonzero(d & care)), not (d0 & care).any()

    everything = slice(None)  # a view, not a copy, of each column
    sample: Any = everything
    if n > SCREEN:
        mask = np.zeros(n, bool)
        mask[:: max(1, n // SCREEN)] = True
        mask[np.flatnonzero((got != expected) | unknown)[: SCREEN // 2]] = True
        sample = np.flatnonzero(mask)
    counts: dict[str, int] = {}
    same: set[str] = set()
    screened: list[tuple[str, Run, int, bool]] = []
    for label, run in tqdm(cands, desc="profiles and variants", disable=not progress):
        res = count(run, sample)
        if res is not None:
            screened.append((label, run, *res))
    if sample is not everything:
        # On every case run: the candidates that agree with the device on the sample, the
        # three closest others, and (only when the device agrees with the golden results)
        # those that agree with the golden results; the rest keep their sample counts and
        # are not called indistinguishable.
        ok = not ((got[sample] != expected[sample]) | unknown[sample]).any()
        ranked = [t[0] for t in sorted(screened, key=lambda t: t[2]) if t[2]]
        keep = {t[0] for t in screened if t[2] == 0 or (ok and t[3])} | set(ranked[:3])
        screened = [(lbl, run, *(count(run, everything) or (c, s))) if lbl in keep else
                    (lbl, run, c, False) for lbl, run, c, s in screened]
    for lbl, _, c, s in screened:
        counts[lbl] = c
        if s:
            same.add(lbl)
    profiles = {p.name for p in all_profiles()} | operation(vs.op).named(vs)
    alike = [k for k in counts if k in same and k not in profiles]
    matches = [k for k, v in counts.items() if v == 0 and k not in alike]
    closest = sorted(((k, v) for k, v in counts.items() if v and k not in same),
                     key=lambda kv: kv[1])[:3]
    return matches, closest, counts, alike
