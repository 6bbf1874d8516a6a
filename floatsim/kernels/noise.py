"""Pseudo-quantization noise, one element at a time: the scalar routines the
CPU loop (:mod:`floatsim.cpu.noise`) and the CUDA kernel
(:mod:`floatsim.gpu.noise`) share.

For a value ``w`` (float64: every input dtype widens to it exactly), the
tensor's scale exponent ``k``, a noise numerator ``n`` and an extra-precision
count ``j`` (both drawn from 32-bit Philox words), the result is

    round_S( clip( w + n * 2**(E - f - j) ) )

with ``E`` the exponent of the target's spacing at ``w / 2**k`` (plus ``k``),
``f`` the noise's fractional bits, ``clip`` to ``+-max * 2**k`` (optional)
and ``round_S`` one rounding into the storage format.  The sum is formed
exactly: float64's TwoSum gives the rounded sum and its error, which make
the sum rounded to odd (:func:`sum_rto_bits`); rounded to odd again into
float32 it keeps every bit that decides a rounding to a format of at most 22
significant bits, which the float32 fast path (:mod:`.fast32`) then does.
docs/pqt.md states the definition; ``floatsim.reference.noise`` is its oracle.

Random words (docs/pqt.md, "Random words"): element ``i`` takes word ``i % 4``
of Philox counter ``(i // 4, 0, stream, 2)`` for its noise and of
``(i // 4, 0, stream, 3)`` for its precision annealing; stochastic rounding
into the storage format takes the cast's own word (counter ``(..., 0)``).

Example:
    >>> import numpy as np
    >>> from floatsim.kernels.noise import step_exponent, tensor_exponent
    >>> step_exponent(-1, 0, -2, 4, 2, 1)      # e3m2 at 0.6: spacing 2**-3
    -3
    >>> int(tensor_exponent(np.float64(0.05).view(np.int64), 4, 3 << 50, -60, 60))  # amax 0.05 vs max 28
    -9
"""

from __future__ import annotations

import numpy as np

from .blocksteps import mul_rn, pow2, rto_f32_bits
from .fast32 import quantize_f32_bits
from .intrinsics import f64_bits, f64_from_bits, scalar_jit
from .philox import philox4x32

__all__ = [
    "C3_ANNEAL",
    "C3_NOISE",
    "JMAX",
    "N_Q",
    "Q_CLIP",
    "Q_EMAX",
    "Q_EMIN",
    "Q_FRAC",
    "Q_G",
    "Q_KIND",
    "Q_KMAX",
    "Q_KMIN",
    "Q_MAXFRAC",
    "Q_MBITS",
    "Q_SUB",
    "anneal_count",
    "element_bits",
    "group_draws",
    "group_words",
    "level",
    "step_exponent",
    "sum_rto_bits",
    "tensor_exponent",
]

#: The fourth Philox counter word of the noise's words and of the annealing's.
C3_NOISE, C3_ANNEAL = 2, 3
#: The most extra bits of precision annealing gives an element.
JMAX = 8
# The int64 parameter tuple: target (mbits, emin, emax, subnormals, 52-bit
# fraction of max), noise (kind, g or bits, fractional bits), clip, the
# scale exponent's bounds.
Q_MBITS, Q_EMIN, Q_EMAX, Q_SUB, Q_MAXFRAC, Q_KIND, Q_G, Q_FRAC, Q_CLIP, Q_KMIN, Q_KMAX = range(11)
N_Q = 11

_ABS = 0x7FFFFFFFFFFFFFFF
_FRAC = (1 << 52) - 1


@scalar_jit
def group_words(seed_lo, seed_hi, group, stream, c3):  # noqa: ANN001, ANN201
    """The four 32-bit words of elements ``4*group .. 4*group+3`` for counter word ``c3``."""
    return philox4x32(group & 0xFFFFFFFF, group >> 32, stream, c3, seed_lo, seed_hi)


@scalar_jit
def group_draws(seed_lo, seed_hi, group, stream, annealed, draw_sr):  # noqa: ANN001, ANN201
    """The random words of elements ``4*group .. 4*group+3``, each Philox result
    as two 64-bit halves (lanes 0-1, 2-3): the noise, the annealing words
    (zero unless ``annealed``) and the SR words (zero unless ``draw_sr``).  One
    definition for the CPU and GPU loops, so both draw the same counters."""
    w0, w1, w2, w3 = group_words(seed_lo, seed_hi, group, stream, C3_NOISE)
    nlo, nhi = (w1 << 32) | w0, (w3 << 32) | w2
    alo = ahi = rlo = rhi = np.int64(0)
    if annealed:
        w0, w1, w2, w3 = group_words(seed_lo, seed_hi, group, stream, C3_ANNEAL)
        alo, ahi = (w1 << 32) | w0, (w3 << 32) | w2
    if draw_sr:
        w0, w1, w2, w3 = group_words(seed_lo, seed_hi, group, stream, 0)
        rlo, rhi = (w1 << 32) | w0, (w3 << 32) | w2
    return nlo, nhi, alo, ahi, rlo, rhi


@scalar_jit
def tensor_exponent(amax_bits, emax_t, max_frac, kmin, kmax):  # noqa: ANN001, ANN201
    """The smallest k with amax <= max * 2**k (the RCEIL rule of E8M0 scales),
    clamped to [kmin, kmax]; ``amax_bits`` are a float64's bits, ``max_frac``
    the 52-bit fraction of the target's max, ``emax_t`` its exponent.  amax 0
    (or below float64's normal range) gives kmin, +inf kmax, NaN 0."""
    a = amax_bits & _ABS
    ef = a >> 52
    if ef == 2047:
        return kmax if (a & _FRAC) == 0 else 0
    if ef == 0:
        return kmin
    k = ef - 1023 - emax_t + ((a & _FRAC) > max_frac)
    return min(max(k, kmin), kmax)


@scalar_jit
def step_exponent(ew, k, emin_t, emax_t, mbits_t, sub):  # noqa: ANN001, ANN201
    """log2 of the target's spacing at a value whose binade is ``ew`` (floor
    log2 of its magnitude; anything below the target's range for zero), the
    target scaled by 2**k: inside the range 2**(e - mbits); below it the
    subnormal spacing, or the gap to min_normal without subnormals; above
    max the top binade's."""
    ex = ew - k
    if ex < emin_t:
        e = emin_t - mbits_t if sub != 0 else emin_t
    else:
        e = min(ex, emax_t) - mbits_t
    return e + k


@scalar_jit
def level(u, kind, g, tab):  # noqa: ANN001, ANN201
    """The noise numerator drawn by the 32-bit word ``u``: kind 0 (uniform,
    ``g`` bits): ``2 * (u >> (32 - g)) + 1 - 2**g``; kind 1: the packed alias
    table's (column ``u >> (32 - g)``: its own level where the low bits are
    below its threshold, else its alias; floatsim.noise.dist)."""
    u = np.int64(u) & 0xFFFFFFFF
    c = u >> (32 - g)
    if kind == 0:
        return 2 * c + 1 - (np.int64(1) << g)
    e = tab[c]
    v = (e >> 16) if (u & ((np.int64(1) << (32 - g)) - 1)) < (e >> 32) else e
    return np.int64(np.int16(v & 0xFFFF))


@scalar_jit
def anneal_count(u, athr):  # noqa: ANN001, ANN201
    """Extra bits of precision: the number of thresholds (descending) above ``u``
    (so P(j >= i) = athr[i-1] / 2**32)."""
    u = np.int64(u) & 0xFFFFFFFF
    j = 0
    for i in range(athr.size):
        j += u < np.int64(athr[i])
    return j


@scalar_jit
def sum_rto_bits(w, n, e):  # noqa: ANN001, ANN201
    """float64 bits of ``w + n * 2**e`` (w finite float64, |n| < 2**53,
    -1022 <= e) rounded to odd: TwoSum's rounded sum, moved one step toward
    its error where that is nonzero and the last bit even."""
    eta = mul_rn(np.float64(n), pow2(e))  # exact; never fused into the add (GPU)
    s = w + eta
    bb = s - w
    err = (w - (s - bb)) + (eta - bb)
    b = f64_bits(s)
    if err != 0.0 and (b & 1) == 0:
        # sign-magnitude bits: +1 moves away from zero, -1 toward it
        b += 1 if (err > 0.0) == (s > 0.0) else -1
    return b


@scalar_jit
def element_bits(wd, n, j, usr, k, q, c, rnd):  # noqa: ANN001, ANN201
    """float32 bits of one element's result (see the module docstring): ``wd``
    the value (float64), ``n`` its noise numerator, ``j`` its extra bits of
    precision, ``usr`` its stochastic-rounding word, ``k`` its tensor's scale
    exponent, ``q`` the parameter tuple, ``c`` the storage format's fast32
    constants and ``rnd`` its rounding code.  NaN and +-inf take no noise."""
    b = f64_bits(wd)
    a = b & _ABS
    sign = np.uint32((b >> 32) & 0x80000000)
    if a >= 0x7FF0000000000000:
        return quantize_f32_bits(np.uint32(rto_f32_bits(f64_from_bits(a)) | sign), c, rnd, usr)
    ew = (a >> 52) - 1023  # float64 subnormals and zero: -1023, below every target's range
    e = step_exponent(ew, k, q[Q_EMIN], q[Q_EMAX], q[Q_MBITS], q[Q_SUB]) - q[Q_FRAC] - j
    s = sum_rto_bits(wd, n, e)
    sign = np.uint32((s >> 32) & 0x80000000)
    mag = s & _ABS
    if q[Q_CLIP] != 0:
        top = f64_bits(_max_of(q) * pow2(k))
        if mag > top:
            mag = top
    r = rto_f32_bits(f64_from_bits(mag)) if mag != 0 else np.uint32(0)
    return quantize_f32_bits(np.uint32(r | sign), c, rnd, usr)


@scalar_jit
def _max_of(q):  # noqa: ANN001, ANN201
    """The target's max as a float64, from its exponent and 52-bit fraction."""
    return f64_from_bits(((q[Q_EMAX] + 1023) << 52) | q[Q_MAXFRAC])
