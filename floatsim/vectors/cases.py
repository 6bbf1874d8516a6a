"""Case generation: the inputs of golden vectors, as bit patterns.

TestFloat-style, in levels.  For a cast from an IEEE input type ``D`` into a
format ``F`` the boundary cases are (both signs of each):

* every value of ``F`` (formats up to 12 bits) or, per binade of ``F``, its
  first, second, last values and the ties around them; every tie between
  neighbours (``F`` up to 12 bits) or the ties next to each binade boundary;
* the overflow threshold: ``max``, the tie above it, the next would-be
  value, ``2**(emax+1)``; the underflow thresholds: half the smallest
  subnormal (a tie with 0), the smallest subnormal and 3/2 of it, the tie
  between the largest subnormal and the smallest normal;
* each of those points' neighbours in ``D``: the nearest ``D`` value and 2
  more on each side (so 1 and 2 ulp above and below every point);
* ``D``'s own specials: signed zeros, infinities, NaN payloads (quiet,
  signalling, all-ones, both signs), its smallest and largest subnormal,
  smallest normal and largest finite value.

Random cases draw from numpy's PCG64 *raw* stream seeded with the set's
seed (its bit stream is stable across numpy versions, NEP 19): half
uniform bit patterns of ``D``, half values whose exponent is uniform over
``F``'s range.  Stochastic-rounding words sit on each input's threshold
(the word that rounds up and the one just below it), at 0, at all ones and
at random.

Example:
    >>> import numpy as np, floatsim as fs
    >>> b = boundary_inputs("float32", fs.format("e2m1"))
    >>> x = b.astype(np.uint32).view(np.float32)
    >>> bool(np.isin([5.0, -5.0, 0.25, 6.0, 7.0, 8.0], x).all())   # ties, underflow, max, overflow
    True
"""

from __future__ import annotations

import numpy as np

from ..formats import Format

__all__ = ["DTYPES", "boundary_inputs", "dedupe", "from_bits", "random_inputs",
           "random_words", "special_inputs", "sr_words", "to_bits", "widen"]

#: IEEE input types: (total bits, exponent bits, mantissa bits).
DTYPES: dict[str, tuple[int, int, int]] = {
    "float16": (16, 5, 10),
    "bfloat16": (16, 8, 7),
    "float32": (32, 8, 23),
    "float64": (64, 11, 52),
}

_U64 = np.uint64


def _dtype(name: str) -> tuple[int, int, int]:
    if name not in DTYPES:
        raise ValueError(f"input type {name!r} is not supported; allowed: {', '.join(DTYPES)}")
    return DTYPES[name]


def widen(a: np.ndarray) -> np.ndarray:
    """``a`` as float64 (exact; signalling NaNs become quiet without a warning)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(a).astype(np.float64)


def from_bits(bits: np.ndarray, dtype: str) -> np.ndarray:
    """float64 values of ``dtype`` bit patterns (exact)."""
    b = np.asarray(bits, dtype=np.uint64)
    if dtype == "float64":
        return b.view(np.float64).copy()
    if dtype == "float32":
        return widen(b.astype(np.uint32).view(np.float32))
    if dtype == "float16":
        return widen(b.astype(np.uint16).view(np.float16))
    _dtype(dtype)
    return widen((b.astype(np.uint32) << np.uint32(16)).view(np.float32))


def to_bits(values: np.ndarray, dtype: str) -> np.ndarray:
    """``dtype`` bit patterns (uint64) of float64 ``values`` rounded to nearest
    (bfloat16 through float32: near enough for choosing cases)."""
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore"):
        if dtype == "float64":
            return v.view(np.uint64).copy()
        if dtype == "float16":
            return v.astype(np.float16).view(np.uint16).astype(np.uint64)
        u = v.astype(np.float32).view(np.uint32).astype(np.uint64)
    if dtype == "float32":
        return u
    _dtype(dtype)
    nan = (u & _U64(0x7FFFFFFF)) > _U64(0x7F800000)
    rne = (u + _U64(0x7FFF) + ((u >> _U64(16)) & _U64(1))) >> _U64(16)
    return np.where(nan, (u >> _U64(16)) | _U64(0x40), rne)


def dedupe(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Rows of the column arrays with duplicates dropped, in first-occurrence order.

    (By sorting, then the smallest index of each run of equal rows: numpy's own
    ``unique(return_index=True)`` takes minutes on 10**7 rows on a 2-core machine.)
    """
    cols = [np.asarray(a, dtype=np.uint64) for a in arrays]
    n = cols[0].size
    if n == 0:
        return tuple(cols)
    order = np.argsort(cols[0], kind="quicksort") if len(cols) == 1 else np.lexsort(cols[::-1])
    new = np.zeros(n, dtype=bool)
    new[0] = True
    for c in cols:
        sc = c[order]
        new[1:] |= sc[1:] != sc[:-1]
    first = np.minimum.reduceat(order, np.flatnonzero(new))
    first.sort()
    return tuple(c[first] for c in cols)


def _grid_points(fmt: Format) -> np.ndarray:
    """Positive magnitudes worth testing around ``fmt``'s grid (float64, may
    exceed a narrow input type's range: those become inf or 0 there)."""
    m, emin, emax = fmt.mbits, fmt.emin, fmt.emax
    pts: list[np.ndarray] = []
    if fmt.bits <= 12:
        v = fmt.values()
        v = np.unique(np.abs(v[np.isfinite(v)]))
        pts += [v, (v[:-1] + v[1:]) / 2]
    else:
        lo = max(emin, -1100)
        e = np.arange(lo, min(emax, 1100) + 1, dtype=np.float64)
        q = np.ldexp(1.0, (e - m).astype(int))
        p2 = np.ldexp(1.0, e.astype(int))
        # first, second and last value of each binade, and the ties next to them:
        # above 2**e with an even (down) and an odd (up) lower code, below 2**(e+1)
        pts += [p2, p2 + q, 2 * p2 - q, p2 + q / 2, p2 + 3 * q / 2, 2 * p2 - q / 2, p2 - q / 4]
        sub = np.ldexp(1.0, emin - m)
        pts += [np.array([sub, 2 * sub, 3 * sub / 2, 5 * sub / 2, np.ldexp(1.0, emin) - sub,
                          np.ldexp(1.0, emin) - sub / 2])]
    top = fmt.max
    qtop = np.ldexp(1.0, fmt.emax - m)
    small = fmt.min_subnormal if fmt.has_zero else fmt.min_normal
    pts += [np.array([top, top + qtop / 2, top + qtop, np.ldexp(1.0, fmt.emax + 1),
                      1.5 * np.ldexp(1.0, fmt.emax + 1), small / 2, small / 4, 3 * small / 4,
                      small, 3 * small / 2])]
    with np.errstate(over="ignore"):
        out = np.concatenate(pts)
    return out[np.isfinite(out) & (out > 0)]


def special_inputs(dtype: str) -> np.ndarray:
    """Signed zeros, infinities, NaN payloads and the extremes of ``dtype``, as bits."""
    bits, eb, mb = _dtype(dtype)
    sign = _U64(1) << _U64(bits - 1)
    inf = ((_U64(1) << _U64(eb)) - _U64(1)) << _U64(mb)
    quiet = inf | (_U64(1) << _U64(mb - 1))
    ones = inf | ((_U64(1) << _U64(mb)) - _U64(1))
    mags = [_U64(0), inf, quiet, inf | _U64(1), ones, quiet | _U64(0x5),
            _U64(1), (_U64(1) << _U64(mb)) - _U64(1), _U64(1) << _U64(mb), inf - _U64(1)]
    m = np.array(mags, dtype=np.uint64)
    return np.concatenate([m, m | sign])


def boundary_inputs(dtype: str, fmt: Format, spread: int = 2) -> np.ndarray:
    """The boundary cases of a cast from ``dtype`` into ``fmt`` (bits, uint64):
    see the module docstring.  ``spread``: neighbours taken on each side."""
    bits, eb, mb = _dtype(dtype)
    inf = ((_U64(1) << _U64(eb)) - _U64(1)) << _U64(mb)
    centre = to_bits(_grid_points(fmt), dtype).astype(np.int64)
    steps = np.arange(-spread, spread + 1, dtype=np.int64)
    near = (centre[:, None] + steps[None, :]).reshape(-1)
    near = np.clip(near, 0, int(inf)).astype(np.uint64)
    sign = _U64(1) << _U64(bits - 1)
    return dedupe(np.concatenate([special_inputs(dtype), near, near | sign]))[0]


def random_words(seed: int, n: int, stream: int = 0) -> np.ndarray:
    """``n`` 64-bit words of PCG64's raw stream for (seed, stream)."""
    bg = np.random.PCG64(np.random.SeedSequence([int(seed), int(stream)]))
    return bg.random_raw(n).astype(np.uint64)


def random_inputs(dtype: str, fmt: Format, n: int, seed: int, stream: int = 1) -> np.ndarray:
    """``n`` random ``dtype`` bit patterns: half uniform, half with an exponent
    uniform over ``fmt``'s range (2 binades beyond it on each side)."""
    bits, eb, mb = _dtype(dtype)
    w = random_words(seed, 2 * n, stream)
    half = n // 2
    mask = _U64((1 << bits) - 1) if bits < 64 else _U64(0xFFFFFFFFFFFFFFFF)
    uniform = w[:half] & mask
    lo = fmt.emin - fmt.mbits - 2
    hi = fmt.emax + 2
    e = lo + (w[half:n] % _U64(hi - lo + 1)).astype(np.int64)
    frac = (w[n + half:2 * n] >> _U64(11)).astype(np.float64) * 2.0**-53
    with np.errstate(over="ignore"):
        v = np.ldexp(1.0 + frac, e)
    v = np.where(w[n:n + n - half] & _U64(1), -v, v)
    return np.concatenate([uniform, to_bits(v, dtype)])


def sr_words(x: np.ndarray, fmt: Format, width: int, sr_bits: int | None, seed: int,
             extra: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (index into ``x``, random word) for stochastic rounding of the
    float64 values ``x`` into ``fmt``: per input the words 0, all ones, the
    threshold word (the smallest that rounds away from zero under k-bit SR,
    the largest that does under exact SR) and its two neighbours, and
    ``extra`` random words.  ``width`` is the word's width: k for k-bit SR,
    W (32 or 64) for exact SR."""
    a = np.abs(np.asarray(x, dtype=np.float64))
    finite = np.isfinite(a) & (a > 0)
    _, e = np.frexp(np.where(finite, a, 1.0))
    q = np.ldexp(1.0, np.maximum(e - 1, fmt.emin) - fmt.mbits)
    scaled = np.where(finite, a, 0.0) / q
    frac = scaled - np.floor(scaled)
    top = _U64((1 << width) - 1)
    with np.errstate(over="ignore", invalid="ignore"):
        if sr_bits is None:  # exact: away iff r < frac * 2**W
            t = np.ceil(np.ldexp(frac, width))
        else:                # k-bit: away iff floor(frac * 2**k) + r >= 2**k
            t = np.ldexp(1.0, width) - np.floor(np.ldexp(frac, width))
    # below 2**width as a float64 (exact for width <= 53), then clamped to the word
    t = np.minimum(np.nan_to_num(t), np.nextafter(2.0**width, 0.0))
    thr = np.minimum(t.astype(np.uint64), top)
    one = _U64(1)
    words = [np.zeros(a.size, np.uint64), np.full(a.size, top, np.uint64), thr,
             np.where(thr > 0, thr - one, thr), np.minimum(thr + one, top)]
    rnd = random_words(seed, a.size * extra, stream=7)
    if width < 64:
        rnd = rnd & top
    words += list(rnd.reshape(extra, a.size))
    ii = np.tile(np.arange(a.size), len(words))
    ww = np.concatenate(words)
    return ii, ww
