"""The scalar golden models in Numba: one FMA, one dot product, on integers.

Each product of two float32 values is exact in float64 (24 + 24 significant
bits), so it is formed by one float64 multiply and then taken apart into an
integer significand and an exponent; everything after that is integer
arithmetic (alignment shifts, the group's fixed-point sum, a fixed-point
register) until a value must be rounded into a format.  That rounding is the
core's scalar cast (:func:`floatsim.kernels.scalar.encode_bits`) applied to
the round-to-odd float64 of the exact sum: rounding to odd at 53 bits and
then to a format of at most 50 mantissa bits (51 minus the SR bits) gives the
correctly rounded result in every mode, k-bit SR included (Boldo and
Melquiond, "Emulation of FMA and correctly rounded sums: proved algorithms
using rounding to odd", IEEE TC 57(4), 2008), so the rounding rules exist
once, in the core.

The functions are ``njit`` helpers that the CPU GEMM
(:mod:`floatsim.mac.cpu`) and the CUDA GEMM (:mod:`floatsim.gpu.mac`) call;
every spec field is a runtime value (:mod:`floatsim.mac.abi`), so there is
one compiled specialisation per argument types, not per spec.

Example:
    >>> import numpy as np
    >>> from floatsim.mac.scalar import ro_f64, shift_round
    >>> ro_f64((1 << 60) + 1, 0) == 2.0**60 + 2**8   # rounded to odd at 53 bits
    True
    >>> [int(shift_round(m, 2, 0, 0, 0)) for m in (6, 10, -6)]  # /4, ties to even
    [2, 2, -2]
"""

from __future__ import annotations

import numba
import numpy as np

from ..kernels.abi import (
    P_BIAS,
    P_DAZ,
    P_INF_MAG,
    P_MAG_BITS,
    P_MBITS,
    P_OVERFLOW,
    P_ROUNDING,
    P_SIGNED,
    P_SUBNORMALS,
)
from ..kernels.intrinsics import f64_bits, f64_from_bits
from ..kernels.philox import random_word32
from ..kernels.scalar import decode_code, encode_bits
from .abi import (
    C_ACC_RND,
    C_ALIGN_ACC,
    C_ALIGN_RND,
    C_FIX_BITS,
    C_FIX_FRAC,
    C_FIX_WRAP,
    C_FIXED,
    C_GROUP,
    C_KAHAN,
    C_KEPT,
    C_PROD,
    C_PROMOTE,
    C_SEED_HI,
    C_SEED_LO,
    C_SR,
    C_SR_BITS,
    C_STREAM,
)

__all__ = [
    "bitlen", "shift_round", "ro_f64", "ro_sum", "add_ro", "ro_add", "ro_add_g", "parts",
    "round_fmt", "rsum", "special", "special_flags", "product", "scan", "term", "acc_exp", "acc_term", "random_step",
    "acc_step", "promote", "finish", "fma_model", "dot_model", "dot_words", "NO_EXP", "NAN_SCALE",
]

_FRAC = (1 << 52) - 1
_IMPLICIT = 1 << 52
_SIGN = np.int64(-9223372036854775808)
_EXP = 0x7FF
RNE, RNA, RTZ, RUP, RDN, ODD, SR = 0, 1, 2, 3, 4, 5, 6
#: The exponent of a group with no nonzero term (below every real one).
NO_EXP = -(1 << 20)
#: A block scale exponent at or above this marks a NaN scale.
NAN_SCALE = 1 << 16
# special-value flags of a group
F_NAN, F_PINF, F_NINF = 1, 2, 4

#: The models' decorator: compiled once each and called, not inlined at
#: Numba-IR level (the core's ``scalar_jit`` inlines; inlining the cast into
#: every call site of a dot product took minutes to compile) ...
mac_jit = numba.njit(cache=True, nogil=True)
#: ... but for the small helpers of the per-product loop, where a call costs
#: more than the work.
small_jit = numba.njit(cache=True, nogil=True, inline="always")


@small_jit
def bitlen(u):  # noqa: ANN001, ANN201
    """The bit length of ``0 <= u < 2**63``."""
    if u == 0:
        return np.int64(0)
    e = (f64_bits(np.float64(u)) >> 52) - 1023  # float64(u) may round up to a power of two
    if (u >> e) == 0:
        e -= 1
    return e + 1


@small_jit
def shift_round(m, sh, mode, k, r):  # noqa: ANN001, ANN201
    """``m / 2**sh`` rounded to an integer (``sh <= 0``: the exact ``m << -sh``,
    which the caller keeps below 2**62); ``mode`` a Rounding code applied to the
    magnitude, ties to the even integer, k-bit SR with the word ``r``."""
    if sh <= 0:
        return m << min(-sh, 62)
    neg = m < 0
    a = -m if neg else m
    if mode == RTZ:  # truncation, the common alignment: no remainder needed
        q = a >> sh if sh < 63 else np.int64(0)
        return -q if neg else q
    if sh >= 63:  # a < 2**62 < half: everything is below half
        lo = np.int64(0)
        rem = a
        gt_half = False
        eq_half = False
        t = a >> min(sh - k, 63) if sh - k < 63 else np.int64(0)
    else:
        lo = a >> sh
        rem = a & ((np.int64(1) << sh) - 1)
        half = np.int64(1) << (sh - 1)
        gt_half = rem > half
        eq_half = rem == half
        t = rem >> (sh - k) if sh >= k else rem << (k - sh)
    inexact = rem != 0
    odd = (lo & 1) != 0
    up = False
    if mode == RNE:
        up = gt_half or (eq_half and odd)
    elif mode == RNA:
        up = gt_half or eq_half
    elif mode == RUP:
        up = inexact and not neg
    elif mode == RDN:
        up = inexact and neg
    elif mode == ODD:
        up = inexact and not odd
    elif mode == SR:
        up = t + (r & ((np.int64(1) << k) - 1)) >= (np.int64(1) << k)
    q = lo + up
    return -q if neg else q


@small_jit
def ro_f64(m, x):  # noqa: ANN001, ANN201
    """``m * 2**x`` (``|m| < 2**63``) rounded to odd into a float64; the
    callers keep it inside float64's normal range."""
    if m == 0:
        return 0.0
    neg = m < 0
    a = -m if neg else m
    n = bitlen(a)
    if n > 53:
        sh = n - 53
        lo = a >> sh
        if (a & ((np.int64(1) << sh) - 1)) != 0:
            lo |= 1
        x += sh
    else:
        lo = a << (53 - n)
        x -= 53 - n
    u = ((x + 52 + 1023) << 52) | (lo & _FRAC)
    if neg:
        u |= _SIGN
    return f64_from_bits(u)


@mac_jit
def add_ro(m1, x1, m2, x2):  # noqa: ANN001, ANN201
    """``m1 * 2**x1 + m2 * 2**x2`` (``|m1|, |m2| < 2**59``) rounded to odd
    into a float64.  Both are normalised to 59 bits; the smaller, shifted
    right by more than two places, leaves only a sticky unit, which keeps the
    53-bit round-to-odd result because the sum then has at least 61 bits."""
    if m2 == 0:
        return ro_f64(m1, x1)
    if m1 == 0:
        return ro_f64(m2, x2)
    a1 = -m1 if m1 < 0 else m1
    a2 = -m2 if m2 < 0 else m2
    s1 = 59 - bitlen(a1)
    s2 = 59 - bitlen(a2)
    m1 <<= s1
    x1 -= s1
    m2 <<= s2
    x2 -= s2
    if x1 < x2:
        m1, x1, m2, x2 = m2, x2, m1, x1
    d = x1 - x2
    big = m1 << 2
    x = x1 - 2
    if d <= 2:
        return ro_f64(big + (m2 << (2 - d)), x)
    neg2 = m2 < 0
    a2 = -m2 if neg2 else m2
    sh = d - 2
    if sh >= 62:
        small = np.int64(0)
        sticky = True
    else:
        small = a2 >> sh
        sticky = (a2 & ((np.int64(1) << sh) - 1)) != 0
    s = big + (-small if neg2 else small)
    if sticky:
        return ro_f64(2 * s + (-1 if neg2 else 1), x - 1)
    return ro_f64(s, x)


@small_jit
def parts(v):  # noqa: ANN001, ANN201
    """A finite float64 as ``(m, x)`` with ``v == m * 2**x`` (``|m| < 2**53``)."""
    u = f64_bits(v)
    ef = (u >> 52) & _EXP
    if ef == 0:
        m = u & _FRAC
        x = np.int64(-1074)
    else:
        m = (u & _FRAC) | _IMPLICIT
        x = ef - 1075
    return (-m if u < 0 else m), x


@small_jit
def _finite(v):  # noqa: ANN001, ANN201
    return ((f64_bits(v) >> 52) & _EXP) != _EXP


@small_jit
def _is_f32_rne(p):  # noqa: ANN001, ANN201
    """Whether ``p`` is float32 itself (IEEE, inf on overflow, subnormals) with
    nearest-even rounding: the hardware's float64 -> float32 conversion."""
    return (p[P_MBITS] == 23 and p[P_MAG_BITS] == 31 and p[P_BIAS] == 127 and p[P_SIGNED] != 0
            and p[P_ROUNDING] == RNE and p[P_SUBNORMALS] != 0 and p[P_OVERFLOW] == 1
            and p[P_INF_MAG] == 0x7F800000 and p[P_DAZ] == 0)


@mac_jit
def _round_cast(v, p, r):  # noqa: ANN001, ANN201
    return decode_code(encode_bits(f64_bits(v), p, np.int64(0), r), p)


@small_jit
def round_fmt(v, p, r):  # noqa: ANN001, ANN201
    """The float64 ``v`` rounded to the format of ``p`` (the core's cast),
    as a float64 (NaN where the result is NaN).  Into float32 with nearest
    even: the conversion instruction, which rounds the same way (tests/
    test_mac.py compares the two routes over every binade)."""
    if _is_f32_rne(p):
        return np.float64(np.float32(v))
    return _round_cast(v, p, r)


@small_jit
def ro_sum(a, b):  # noqa: ANN001, ANN201
    """``a + b`` (finite float64s) rounded to odd into a float64: the
    nearest-even sum ``s`` and its exact error ``e`` (Knuth's TwoSum, exact
    without overflow), then ``s`` moved to the odd neighbour on ``e``'s side
    when the sum is inexact."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    if e == 0 or (f64_bits(s) & 1) != 0:
        return s
    u = f64_bits(s)
    return f64_from_bits(u + 1 if (e > 0) == (s > 0) else u - 1)


@mac_jit
def special(v, flags):  # noqa: ANN001, ANN201
    """The IEEE sum of ``v`` and values with the special ``flags`` (NaN,
    +inf, -inf), when any of them is NaN or infinite."""
    u = f64_bits(v)
    if ((u >> 52) & _EXP) == _EXP:
        if (u & _FRAC) != 0:
            flags |= F_NAN
        elif u < 0:
            flags |= F_NINF
        else:
            flags |= F_PINF
    if (flags & F_NAN) != 0 or (flags & (F_PINF | F_NINF)) == (F_PINF | F_NINF):
        return np.nan
    return np.inf if (flags & F_PINF) != 0 else -np.inf


@small_jit
def ro_add(u, v):  # noqa: ANN001, ANN201
    """``u + v`` (float64 values) exactly, rounded to odd into a float64, or
    IEEE's special sum when either is NaN or infinite."""
    if _finite(u) and _finite(v):
        return ro_sum(u, v)
    return special(u, special_flags(v))


@small_jit
def ro_add_g(u, S, X):  # noqa: ANN001, ANN201
    """``u + S * 2**X`` (u a float64 value, maybe not finite), rounded to odd."""
    if not _finite(u):
        return u
    m, x = parts(u)
    return add_ro(m, x, S, X)


@small_jit
def rsum(u, v, p, r):  # noqa: ANN001, ANN201
    """``u + v`` (float64 values) exactly, rounded once to ``p``'s format."""
    return round_fmt(ro_add(u, v), p, r)


@small_jit
def special_flags(v):  # noqa: ANN001, ANN201
    """The special flags (NaN, +inf, -inf) of the float64 ``v`` (0 when finite)."""
    u = f64_bits(v)
    if ((u >> 52) & _EXP) != _EXP:
        return np.int64(0)
    if (u & _FRAC) != 0:
        return np.int64(F_NAN)
    return np.int64(F_NINF) if u < 0 else np.int64(F_PINF)


@small_jit
def product(x, y, s, cfg, pp):  # noqa: ANN001, ANN201
    """The product of the float32 values ``x`` and ``y`` times ``2**s`` (a
    block scale; ``s >= NAN_SCALE``: NaN), exact, then rounded once to the
    product format when the spec has one."""
    p = np.float64(x) * np.float64(y)  # exact: 48 significant bits
    if s != 0:
        u = f64_bits(p)
        if s >= NAN_SCALE:
            p = np.nan
        elif (u & 0x7FFFFFFFFFFFFFFF) != 0 and ((u >> 52) & _EXP) != _EXP:
            p = f64_from_bits(u + (s << 52))  # stays normal: |s| <= 254 (see mac.ops)
    if cfg[C_PROD] != 0:
        p = round_fmt(p, pp, np.int64(0))
    return p


@small_jit
def scan(p, E, flags):  # noqa: ANN001, ANN201
    """Pass 1 over a group: the largest exponent of the nonzero finite terms
    and the special flags."""
    u = f64_bits(p)
    ef = (u >> 52) & _EXP
    if ef == _EXP:
        flags |= F_NAN if (u & _FRAC) != 0 else (F_NINF if u < 0 else F_PINF)
    elif (u & 0x7FFFFFFFFFFFFFFF) != 0:
        e = ef - 1023 if ef != 0 else bitlen(u & _FRAC) - 1075
        E = max(E, e)
    return E, flags


@small_jit
def term(p, E, cfg):  # noqa: ANN001, ANN201
    """Pass 2: the finite term ``p`` on the grid ``2**(E - kept_bits)``, by the
    alignment rounding (0 for zeros and specials)."""
    if not _finite(p) or p == 0:
        return np.int64(0)
    m, x = parts(p)
    return shift_round(m, E - cfg[C_KEPT] - x, cfg[C_ALIGN_RND], np.int64(0), np.int64(0))


@mac_jit
def _fixed_add(A, S, X, cfg, r):  # noqa: ANN001, ANN201
    """The fixed-point register after adding ``S * 2**X`` (rounded onto its grid)."""
    W = cfg[C_FIX_BITS]
    top = (np.int64(1) << (W - 1)) - 1
    mask = (np.int64(1) << W) - 1
    lsh = X + cfg[C_FIX_FRAC]  # S * 2**X on the grid 2**-F is S * 2**lsh
    wrap = cfg[C_FIX_WRAP] != 0
    if S == 0:
        q = np.int64(0)
    elif lsh <= 0:
        q = shift_round(S, -lsh, cfg[C_ACC_RND], cfg[C_SR_BITS], r)
    elif wrap:
        q = ((S & mask) << lsh) & mask if lsh < W else np.int64(0)  # modulo 2**W
    else:
        a = -S if S < 0 else S
        if bitlen(a) + lsh <= 61:
            q = S << lsh
        else:  # beyond any register: saturates below
            q = -(np.int64(1) << 61) if S < 0 else np.int64(1) << 61
    A = A + q
    if wrap:
        A &= mask
        return A - (mask + 1) if A > top else A
    return min(max(A, -top - 1), top)


@mac_jit
def acc_step(acc, kc, A, bad, S, E, g, flags, cfg, pa, r):  # noqa: ANN001, ANN201, PLR0913
    """One step of the accumulator: add the group, its aligned sum ``S`` on the
    grid ``2**(E - kept_bits)`` (``g``, when not NaN, is that value as a float64:
    a single product) or its special ``flags``; returns the new
    ``(acc, kc, A, bad)`` (float accumulator and Kahan term, fixed register and
    its NaN flag).  With ``align_accumulator`` the caller has already scanned
    and added the accumulator as a term.  Each sum is exact, rounded to odd,
    then rounded once into the accumulator (one call site of the cast per
    branch: the GPU kernel inlines each)."""
    X = E - cfg[C_KEPT]
    if cfg[C_FIXED] != 0:
        if flags != 0:
            return acc, kc, A, True
        return acc, kc, _fixed_add(A, S, X, cfg, r), bad
    if cfg[C_KAHAN] != 0:  # y = g - c, t = acc + y, d = t - acc, c = d - y
        y = 0.0
        t = 0.0
        d = 0.0
        for q in range(4):
            if q == 0:
                if flags != 0:
                    v = ro_add(special(0.0, flags), -kc)
                elif g == g:
                    v = ro_add(-kc, g)
                else:
                    v = ro_add_g(-kc, S, X)
            elif q == 1:
                v = ro_add(acc, y)
            elif q == 2:
                v = ro_add(t, -acc)
            else:
                v = ro_add(d, -y)
            w = round_fmt(v, pa, r)
            if q == 0:
                y = w
            elif q == 1:
                t = w
            elif q == 2:
                d = w
            else:
                kc = w
        return t, kc, A, bad
    if flags != 0 or not _finite(acc):
        v = special(acc, flags)
    elif cfg[C_ALIGN_ACC] != 0:
        v = ro_f64(S, X)
    elif g == g:
        v = ro_sum(acc, g)
    else:
        v = ro_add_g(acc, S, X)
    return round_fmt(v, pa, r), kc, A, bad


@mac_jit
def promote(total, acc, A, bad, cfg, pf):  # noqa: ANN001, ANN201
    """The FP32 total plus the accumulator's value, rounded to nearest even."""
    if cfg[C_FIXED] == 0:
        v = ro_add(total, acc)
    elif bad:
        v = np.nan
    else:
        v = ro_add_g(total, A, -cfg[C_FIX_FRAC])
    return round_fmt(v, pf, np.int64(0))


@mac_jit
def finish(total, acc, A, bad, cfg, po):  # noqa: ANN001, ANN201
    """The result: the total (with promotion) or the accumulator's value,
    rounded to the output format."""
    if cfg[C_PROMOTE] != 0:
        v = total
    elif cfg[C_FIXED] == 0:
        v = acc
    elif bad:
        v = np.nan
    else:
        v = ro_f64(A, -cfg[C_FIX_FRAC])
    return round_fmt(v, po, np.int64(0))


@small_jit
def random_step(cfg, elem, nsteps, s):  # noqa: ANN001, ANN201
    """The Philox word of step ``s`` of output element ``elem`` (0 without SR)."""
    if cfg[C_SR] == 0:
        return np.int64(0)
    return random_word32(cfg[C_SEED_LO], cfg[C_SEED_HI], elem * nsteps + s, cfg[C_STREAM])


@small_jit
def acc_exp(acc, cfg):  # noqa: ANN001, ANN201
    """The exponent the accumulator brings into a group's max (NO_EXP unless
    it is an aligned term)."""
    if cfg[C_ALIGN_ACC] == 0:
        return np.int64(NO_EXP)
    E, _f = scan(acc, np.int64(NO_EXP), np.int64(0))
    return E


@small_jit
def acc_term(acc, E, cfg):  # noqa: ANN001, ANN201
    """The accumulator's aligned term (0 unless it is one)."""
    if cfg[C_ALIGN_ACC] == 0:
        return np.int64(0)
    return term(acc, E, cfg)


@mac_jit
def fma_model(x, y, c, p, r):  # noqa: ANN001, ANN201
    """``x * y + c`` (x, y float32 values, c a float64) rounded once to the
    format of ``p``, with IEEE 754's special values and zero signs."""
    q = np.float64(x) * np.float64(y)  # exact
    if not (_finite(q) and _finite(c)):
        return round_fmt(special(q, special_flags(c)), p, r)
    v = ro_sum(q, c)
    if v == 0:  # an exact zero: IEEE 754's sign rule
        both_neg = q == 0 and c == 0 and f64_bits(q) < 0 and f64_bits(c) < 0
        v = -0.0 if both_neg or p[P_ROUNDING] == RDN else 0.0
    return round_fmt(v, p, r)


#: No explicit SR words: :func:`dot_words` draws them from Philox.
_NO_WORDS = np.zeros(0, dtype=np.int64)


@mac_jit
def dot_model(a, a0, b, b0, K, sexp, sblk, cfg, pp, pa, po, pf, elem, buf):  # noqa: ANN001, ANN201, PLR0913
    """The dot product of ``a[a0:a0+K]`` and ``b[b0:b0+K]`` (float32) as the
    spec in ``cfg`` computes it; the products of block ``k // sblk`` are scaled
    by ``2**sexp[k // sblk]``.  ``elem`` numbers the output element for the SR
    words; ``buf`` holds at least one group of products.  Returns the result
    as a float64 (a value of the output format)."""
    return dot_words(a, a0, b, b0, K, sexp, sblk, cfg, pp, pa, po, pf, elem, _NO_WORDS, 0, buf)


@mac_jit
def dot_words(a, a0, b, b0, K, sexp, sblk, cfg, pp, pa, po, pf, elem, words, w0, buf):  # noqa: ANN001, ANN201, PLR0913
    """:func:`dot_model` with the SR word of step ``s`` taken from
    ``words[w0 + s]`` (int64) when ``words`` is not empty and the spec rounds
    stochastically, instead of drawn from Philox (golden vectors carry the
    words a device uses)."""
    G = cfg[C_GROUP]
    chunk = cfg[C_PROMOTE]
    nsteps = (K + G - 1) // G
    acc = 0.0
    kc = 0.0
    A = np.int64(0)
    bad = False
    total = 0.0
    since = np.int64(0)
    k = np.int64(0)
    s = np.int64(0)
    exact = G == 1 and cfg[C_KEPT] == 52 and cfg[C_ALIGN_ACC] == 0  # one product a step, kept whole
    zero = np.int64(0)
    scaled = sexp.size > 1 or sexp[0] != 0  # block scales (mx_dot); else no division per product
    while k < K:
        n = min(G, K - k)
        if exact:  # the same step without the passes: the product's own grid
            p = product(a[a0 + k], b[b0 + k], sexp[k // sblk] if scaled else zero, cfg, pp)
            flags = special_flags(p)
            S, E = (np.int64(0), np.int64(NO_EXP)) if flags != 0 else parts(p)
            E += 52
            g = p
        else:
            E = acc_exp(acc, cfg)
            flags = np.int64(0)
            for t in range(n):
                p = product(a[a0 + k + t], b[b0 + k + t], sexp[(k + t) // sblk] if scaled else zero,
                            cfg, pp)
                buf[t] = p
                E, flags = scan(p, E, flags)
            S = acc_term(acc, E, cfg)
            for t in range(n):
                S += term(buf[t], E, cfg)
            g = np.nan
        if words.size == 0 or cfg[C_SR] == 0:
            r = random_step(cfg, elem, nsteps, s)
        else:
            r = words[w0 + s]
        acc, kc, A, bad = acc_step(acc, kc, A, bad, S, E, g, flags, cfg, pa, r)
        k += n
        s += 1
        since += n
        if chunk != 0 and (since >= chunk or k == K):
            total = promote(total, acc, A, bad, cfg, pf)
            acc = 0.0
            kc = 0.0
            A = np.int64(0)
            bad = False
            since = np.int64(0)
    return finish(total, acc, A, bad, cfg, po)
