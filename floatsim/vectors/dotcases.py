"""Case families of the dot-product vectors (``dot``, ``mx_dot``): vectors that tell
accumulators apart.

A case is a pair of vectors of length N.  The families, as values (the
operation turns them into codes; docs/vectors.md lists them too):

* **cut**: one large product and small ones a gap ``d`` binades below it, for
  every ``d`` from 0 to 3 past the largest cut point (:func:`cut_points`:
  the spec's kept bits and accumulator precision and those of every preset):
  a power-of-two product exactly half a unit below the cut (a tie of the
  alignment rounding), long significands that straddle the cut (kept-bit
  truncation), sparse and dense, all positive, all negative and mixed (sign-
  magnitude vs two's-complement truncation), at a high and a middle exponent;
* **segments**: large products up to a split point and small ones after it
  (and the reverse), split at every multiple of the group and at the
  promotion interval: promotion to FP32 keeps the small segment, an aligned
  or narrow accumulator drops it;
* **absorption**: 1 then N - 1 terms half an ulp (and a quarter) of a
  bfloat16 / float16 / float32 accumulator below it, in both orders: what
  Kahan compensation and the accumulator's precision decide;
* **cancellation**: products that cancel exactly (a zero sum is +0), with a
  remainder at several gaps; all products ``-0``; one nonzero product;
* **range**: products near the operands' largest values, all of one sign
  (the accumulator or output overflows) or alternating; products near the
  smallest values (subnormal sums);
* **specials**: NaN, +-inf, ``0 * inf``, ``inf - inf`` at the first, a middle
  and the last position (where the operand types have them);
* **random**: half every lane a uniformly random code / bit pattern, half
  products whose exponents lie up to twice the largest cut point below the
  largest, random signs and significands.

Example:
    >>> import floatsim.mac as mac
    >>> cut_points(mac.spec("hopper_fp8"))
    [7, 10, 13, 23, 24]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import cast
from ..formats import Format
from . import cases
from .operands import operand_format

__all__ = ["VectorBuilder", "cut_points", "dot_vectors", "on_grid", "random_vectors"]


def cut_points(spec: Any) -> list[int]:
    """Bit positions below the largest term where units cut: the spec's kept bits,
    its accumulator's and product format's mantissa bits, and those of the
    presets (7, 10, 13, 23, 24)."""
    pts = {7, 10, 13, 23, 24}
    if spec.kept_bits is not None:
        pts.add(int(spec.kept_bits))
    for f in (spec.accumulator, spec.product):
        if isinstance(f, Format):
            pts.add(f.mbits)
    return sorted(pts)


class VectorBuilder:
    """Vectors of products of chosen exponents, as operand values of types A and B."""

    def __init__(self, A: str, B: str, n: int, seed: int, stream: int = 20) -> None:
        self.A, self.B, self.n = A, B, n
        self.fa, self.fb = operand_format(A), operand_format(B)
        self.pmin = (self.fa.emin - self.fa.mbits) + (self.fb.emin - self.fb.mbits)
        self.pmax = self.fa.emax + self.fb.emax
        self.seed, self.stream = seed, stream

    def words(self, n: int) -> np.ndarray:
        self.stream += 1
        return cases.random_words(self.seed, n, self.stream)

    def sig(self, shape: tuple[int, ...]) -> np.ndarray:
        """Random significands in [1, 2)."""
        return 1.0 + (self.words(int(np.prod(shape))) >> np.uint64(11)).astype(np.float64).reshape(shape) * 2.0**-53

    def signs(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.where(self.words(int(np.prod(shape))).reshape(shape) & np.uint64(1), -1.0, 1.0)

    def products(self, ep: np.ndarray, sgn: np.ndarray, long: bool | np.ndarray,
                 zero: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Operands (a, b) whose products have exponents ``ep`` and signs ``sgn``;
        significands 1 x 1 (a power of two) or random ones (``long``); ``zero``
        marks lanes whose a is 0."""
        ep = np.asarray(ep, np.int64)
        shape = ep.shape
        ea = np.clip(ep // 2, self.fa.emin - self.fa.mbits, self.fa.emax)
        eb = np.clip(ep - ea, self.fb.emin - self.fb.mbits, self.fb.emax)
        ea = np.clip(ep - eb, self.fa.emin - self.fa.mbits, self.fa.emax)
        lg = np.broadcast_to(long, shape)
        sa = np.where(lg, self.sig(shape), 1.0)
        sb = np.where(lg, self.sig(shape), 1.0)
        a = on_grid(sgn * np.ldexp(sa, ea), self.fa)
        b = on_grid(np.ldexp(sb, eb), self.fb)
        if zero is not None:
            a = np.where(zero, 0.0, a)
        return a, b


def on_grid(x: np.ndarray, fmt: Format) -> np.ndarray:
    """``x`` rounded onto ``fmt``'s grid (nearest even, saturating).

    Example:
        >>> from floatsim import format
        >>> on_grid(np.array([1.3, 100.0]), format("e2m1")).tolist()
        [1.5, 6.0]
    """
    if fmt.bits > 32:
        return x
    with np.errstate(over="ignore"):
        return cast.quantize(np.asarray(x, np.float64), fmt, "nearest_even", overflow="saturate")


def _top(vb: VectorBuilder, spec: Any) -> list[int]:
    """Exponents of the largest product: high (below the accumulator's and the
    output's overflow for N such products) and middle."""
    lim = vb.pmax - 1
    for f in (spec.accumulator, spec.output):
        if isinstance(f, Format):
            lim = min(lim, f.emax - int(np.ceil(np.log2(vb.n + 1))) - 1)
    mid = int(np.clip(0, vb.pmin + 2, lim))
    return sorted({max(lim, vb.pmin), mid})


def dot_vectors(vb: VectorBuilder, spec: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """The structured families (cut, segments, absorption, cancellation, range,
    specials) as lists of (a, b) value arrays of shape (rows, n)."""
    out: list[tuple[np.ndarray, np.ndarray]] = []
    pts = cut_points(spec)
    g = spec.group or 1
    for e0 in _top(vb, spec):
        gaps = [d for d in range(0, pts[-1] + 4) if e0 - d >= vb.pmin]
        out += _cut(vb, e0, gaps)
        out += _segments(vb, e0, g, spec.promote_every, pts)
    out += _absorption(vb)
    out += _cancellation(vb, _top(vb, spec)[-1], pts)
    out += _range(vb)
    out += _specials(vb)
    return out


def _cut(vb: VectorBuilder, e0: int, gaps: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    n, out = vb.n, []
    d = np.array(gaps, np.int64)[:, None]
    m = d.shape[0]
    i0 = (vb.words(m) % np.uint64(n)).astype(np.intp)
    j0 = (i0 + 1 + (vb.words(m) % np.uint64(max(n - 1, 1))).astype(np.intp)) % n
    lane = np.arange(n)[None, :]
    big = lane == i0[:, None]
    for long in (False, True):  # sparse: the large product and one small one
        ep = np.where(big, e0, e0 - d)
        sgn = np.where(big, 1.0, vb.signs((m, n)))
        out.append(vb.products(ep, sgn, long, zero=~big & (lane != j0[:, None])))
    jitter = (vb.words(m * n) % np.uint64(3)).astype(np.int64).reshape(m, n) - 1
    ep = np.where(big, e0, e0 - d + jitter)  # dense: every lane near the cut
    for sgn in (np.ones((m, n)), -np.ones((m, n)), vb.signs((m, n))):
        out.append(vb.products(ep, sgn, True))
    out.append(vb.products(ep, vb.signs((m, n)), False))
    return out


def _segments(vb: VectorBuilder, e0: int, g: int, promote: int | None, pts: list[int]
              ) -> list[tuple[np.ndarray, np.ndarray]]:
    n = vb.n
    splits = sorted({s for s in range(g, n, g)} | ({promote} if promote and promote < n else set())
                    | {n // 2} - {0})
    if len(splits) > 16:
        keep = np.unique(np.linspace(0, len(splits) - 1, 16).astype(int))
        splits = sorted({splits[i] for i in keep} | ({promote} if promote and promote < n else set()))
    gaps = sorted({p + k for p in pts for k in (-2, 1, 3)} & set(range(1, e0 - vb.pmin + 1)))
    if not splits or not gaps:
        return []
    S = np.array(splits)[:, None, None]
    D = np.array(gaps)[None, :, None]
    lane = np.arange(n)[None, None, :]
    out = []
    for first_big in (True, False):
        big = (lane < S) if first_big else (lane >= S)
        ep = np.broadcast_to(np.where(big, e0, e0 - D), (len(splits), len(gaps), n)).reshape(-1, n)
        out.append(vb.products(ep, np.ones(ep.shape), True))
    return out


def _absorption(vb: VectorBuilder) -> list[tuple[np.ndarray, np.ndarray]]:
    n, out = vb.n, []
    e0 = int(np.clip(0, vb.pmin + 30, vb.pmax - 1))
    for p in (8, 11, 24):  # bfloat16, float16, float32 significands
        for gap, long in ((p, False), (p + 1, False), (p, True)):
            if e0 - gap < vb.pmin:
                continue
            ep = np.full((2, n), e0 - gap)  # the large term first, then last
            ep[0, 0], ep[1, -1] = e0, e0
            out.append(vb.products(ep, np.ones((2, n)), long))
    return out


def _cancellation(vb: VectorBuilder, e0: int, pts: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    n, out = vb.n, []
    half = (n - 1) // 2  # lanes i and half + i cancel; the last lane holds the remainder
    gaps = [d for d in [0, 1] + [p + 1 for p in pts] if e0 - d >= vb.pmin]
    rows = len(gaps) + 2
    ep = np.full((rows, n), e0)
    a, b = vb.products(ep, np.ones((rows, n)), True)
    a[:, half:2 * half] = -a[:, :half]  # each product cancelled exactly
    b[:, half:2 * half] = b[:, :half]
    a[:, 2 * half:] = 0.0
    for r, d in enumerate(gaps):  # a remainder d binades down
        ra, rb = vb.products(np.array([[e0 - d]]), np.ones((1, 1)), True)
        a[r, -1], b[r, -1] = ra[0, 0], rb[0, 0]
    out.append((a, b))
    z = np.zeros((3, n))
    za, zb = -z, np.ones((3, n))  # all products -0; then one nonzero product of each sign
    one_a, one_b = vb.products(np.full((1, n), e0), np.ones((1, n)), True)
    za[1, 0], zb[1, 0] = one_a[0, 0], one_b[0, 0]
    za[2, -1], zb[2, -1] = -one_a[0, 0], one_b[0, 0]
    out.append((za, zb))
    return out


def _range(vb: VectorBuilder) -> list[tuple[np.ndarray, np.ndarray]]:
    n = vb.n
    fa, fb = vb.fa, vb.fb
    top = np.vstack([np.full(n, fa.max), np.full(n, fa.max), np.full(n, fa.max)])
    topb = np.vstack([np.full(n, fb.max), np.where(np.arange(n) % 2, -fb.max, fb.max),
                      np.full(n, fb.max)])
    topb[2, -1] = -fb.max  # overflow, then a step back
    tiny_a = np.vstack([np.full(n, fa.min_subnormal), np.full(n, fa.min_normal)])
    tiny_b = np.vstack([np.full(n, fb.min_subnormal), np.full(n, -fb.min_subnormal)])
    return [(on_grid(top, fa), on_grid(topb, fb)), (on_grid(tiny_a, fa), on_grid(tiny_b, fb))]


def _specials(vb: VectorBuilder) -> list[tuple[np.ndarray, np.ndarray]]:
    n = vb.n
    fa, fb = vb.fa, vb.fb
    vals = []
    if fa.has_nan:
        vals.append((np.nan, 1.0))
    if fa.has_inf:
        vals += [(np.inf, 1.0), (-np.inf, 1.0), (np.inf, 0.0)]
    if fb.has_inf:
        vals.append((0.0, np.inf))
    rows_a, rows_b = [], []
    for va, vb_ in vals:
        for pos in (0, n // 2, n - 1):
            a, b = np.ones(n), np.ones(n)
            a[pos], b[pos] = va, vb_
            rows_a.append(a)
            rows_b.append(b)
    if fa.has_inf and n > 1:  # inf - inf
        a, b = np.ones(n), np.ones(n)
        a[0], a[-1] = np.inf, -np.inf
        rows_a.append(a)
        rows_b.append(b)
    if not rows_a:
        return []
    return [(on_grid(np.array(rows_a), fa), on_grid(np.array(rows_b), fb))]


def random_vectors(vb: VectorBuilder, spec: Any, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random vectors: half every lane a uniformly random code / bit
    pattern, half products up to twice the largest cut point below the largest."""
    from .operands import operand_values

    n = vb.n
    h = count // 2
    uni = []
    for name, f in ((vb.A, vb.fa), (vb.B, vb.fb)):
        w = vb.words(h * n)
        if name in cases.DTYPES:
            bits = w & np.uint64((1 << cases.DTYPES[name][0]) - 1)
        else:
            bits = w % np.uint64(f.num_codes)
        uni.append(operand_values(bits, name).reshape(h, n))
    m = count - h
    span = 2 * cut_points(spec)[-1]
    e0 = _top(vb, spec)[-1]
    gap = (vb.words(m * n) % np.uint64(span + 1)).astype(np.int64).reshape(m, n)
    ep = np.maximum(e0 - gap, vb.pmin)
    a, b = vb.products(ep, vb.signs((m, n)), True)
    return np.vstack([uni[0], a]), np.vstack([uni[1], b])
