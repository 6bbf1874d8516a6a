"""Value-scale block formats (NVFP4 and other AMAX / RCEIL rules into a scale
type with a significand, with or without a tensor scale) for jax arrays,
bit-exact with ``floatsim.blocks``.  Needs ``jax_enable_x64``.

The core rounds the exact quotients ``amax / (max * T)`` (a block's scale)
and ``x / (s * T)`` (its elements) through float64 values rounded to odd
(``floatsim.kernels.blocks_cpu.div_odd``; docs/blocks.md, "Arithmetic").
Here, as there, the significands' quotient is one float64 division, and
the exact residual's sign (from 128-bit integer products, which no FMA
contraction or flushing can touch) rounds it to odd; the scale and the
elements then go through the core's general cast
(:mod:`floatsim_jax.general`) with the scale's and the element's
parameters, and the dequantized value ``e * s * T`` (an exact float64
product) is rounded once into the output dtype.

Example:
    >>> import jax, jax.numpy as jnp, floatsim_jax as fj
    >>> with jax.enable_x64(True):
    ...     e, s, t, _ = fj.blocks.encode(jnp.array([[3.0, -1.5] * 8]), "nvfp4")
    ...     e[0, :2].tolist(), s.tolist(), float(t)
    ([7, 13], [[126]], 0.0011160714784637094)
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import floatsim as fs
from floatsim import Overflow, Rounding
from floatsim.blocks import BlockFormat, ScaleRule
from floatsim.kernels.abi import P_MAX_MAG, P_NAN_CODE, make_params

from .bits import materialize, to_bits64
from .general import compose_bits, decode_parts, encode_bits, require_x64

__all__ = ["div_rto", "Plan", "run", "decode_values", "scale_params"]

Array = Any
_ABS = 0x7FFFFFFFFFFFFFFF
_INF = 0x7FF0000000000000
_FRAC = (1 << 52) - 1
_HUGE = (600 + 1023) << 52  # 2**600
_TINY = 1 << 4  # 2**-1070


def _exp_sig(b: Array) -> tuple[Array, Array]:
    """(E, 53-bit significand) of positive finite nonzero float64 bits ``b``."""
    ef = b >> 52
    top = 63 - lax.clz(b)
    sub_sig = lax.shift_left(b & _FRAC, jnp.clip(52 - top, 0, 63))
    return (jnp.where(ef > 0, ef - 1023, top - 1074),
            jnp.where(ef > 0, (b & _FRAC) | (1 << 52), sub_sig))


def _mul128(a: Array, b: Array) -> tuple[Array, Array]:
    """(high, low) 64-bit words of the product of uint64 ``a`` and ``b``."""
    m32 = np.uint64(0xFFFFFFFF)
    a0, a1 = a & m32, a >> np.uint64(32)
    b0, b1 = b & m32, b >> np.uint64(32)
    ll, lh, hl, hh = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (ll >> np.uint64(32)) + (lh & m32) + (hl & m32)
    hi = hh + (lh >> np.uint64(32)) + (hl >> np.uint64(32)) + (mid >> np.uint64(32))
    return hi, (mid << np.uint64(32)) | (ll & m32)


def div_rto(a: Array, t: Array) -> Array:
    """float64 bits of a / t rounded to odd (blocks_cpu.div_odd) for positive
    finite float64 bits ``a`` (0 gives 0) and ``t`` (nonzero).

    As the core: the quotient of the significands (both in [1, 2), so
    normal whatever a and t are: XLA flushes subnormal operands) by one
    float64 division, correctly rounded; then the exact residual's sign,
    here by comparing the 106-bit integers sa * 2**(52 - e) and q * st (the
    core uses Dekker's product, which an FMA contraction could break), moves
    an even quotient one step towards the exact one.  Beyond 2**+-600 the
    quotient is 2**600 / 2**-1070, as in the core."""
    ea, sa = _exp_sig(jnp.where(a == 0, 1 << 52, a))
    et, st = _exp_sig(t)
    one = np.int64(1023 << 52)
    qm = _f64(one | (sa & _FRAC)) / _f64(one | (st & _FRAC))  # in (1/2, 2)
    qb = _bits(qm)
    d = (52 - ((qb >> 52) - 1023)).astype(jnp.uint64)  # 52 or 53
    qs = ((qb & _FRAC) | (1 << 52)).astype(jnp.uint64)
    su = sa.astype(jnp.uint64)
    a_hi, a_lo = su >> (np.uint64(64) - d), su << d
    p_hi, p_lo = _mul128(qs, st.astype(jnp.uint64))
    above = (a_hi > p_hi) | ((a_hi == p_hi) & (a_lo > p_lo))
    exact = (a_hi == p_hi) & (a_lo == p_lo)
    qb = jnp.where(~exact & ((qb & 1) == 0), qb + jnp.where(above, 1, -1), qb)
    e = ea - et + ((qb >> 52) - 1023)
    bits = ((jnp.clip(e, -1022, 1023) + 1023) << 52) | (qb & _FRAC)
    bits = jnp.where(e > 600, _HUGE, jnp.where(e < -600, _TINY, bits))
    return jnp.where(a == 0, 0, bits)


def _f64(bits: Array) -> Array:
    return lax.bitcast_convert_type(bits, jnp.float64)


def _bits(v: Array) -> Array:
    return lax.bitcast_convert_type(v, jnp.int64)


def _round_code(bits: Array, p: Any) -> Array:
    """The code of the float64 ``bits`` (rounded by ``p``'s mode)."""
    return encode_bits(bits, p, 0, 0)


def _value_bits(code: Array, p: Any) -> Array:
    """float64 bits of a code's value."""
    return lax.bitcast_convert_type(compose_bits(*decode_parts(code, p), np.float64), jnp.int64)


def scale_params(bf: BlockFormat) -> np.ndarray:
    """The scale's rounding (up for RCEIL, else nearest even) and overflow
    policy as make_params' vector (the core's _Plan.scale_rounding)."""
    rnd = Rounding.UP if bf.rule is ScaleRule.RCEIL else Rounding.NEAREST_EVEN
    ov = Overflow.NAN if bf.scale_overflow == "nan" else Overflow.SATURATE
    return make_params(bf.scale, rnd, overflow=ov)


@dataclasses.dataclass(frozen=True)
class Plan:
    """The static part of one value-scale call."""

    bf: BlockFormat
    rounding: Rounding
    sr_bits: int | None
    rmode: int
    wide: bool
    blocks: Any  # blocks.Blocks


def _tensor_scale(plan: Plan, a: Array, tscale: Array | None) -> Array:
    """float64 bits of T: amax over the finite |x| / (scale_bound * max),
    rounded to nearest even into the tensor format; 1 for an all-zero
    tensor, its smallest subnormal where it rounds to 0 (the core's
    _Plan._tensor_scale); a given ``tscale`` rounded into the format."""
    bf = plan.bf
    tf = bf.tensor_format
    if tf is None:
        return jnp.asarray(np.float64(1.0).view(np.int64))
    tp = make_params(tf, Rounding.NEAREST_EVEN)
    if tscale is not None:
        return _value_bits(_round_code(to_bits64(jnp.asarray(tscale)), tp), tp)
    amax = jnp.max(jnp.where(a < _INF, a, 0))
    den = np.float64(bf.scale_bound) * np.float64(bf.element.max)
    q = div_rto(amax, jnp.asarray(np.float64(den).view(np.int64)))
    t = _value_bits(_round_code(q, tp), tp)
    tiny = np.float64(tf.min_subnormal).view(np.int64)
    return jnp.where(amax == 0, np.float64(1.0).view(np.int64), jnp.where(t == 0, tiny, t))


def run(plan: Plan, rows: Array, r_hi: Array, r_lo: Array, tscale: Array | None,
        want_codes: bool) -> tuple[Array, Array, Array]:
    """Rows (others..., nblocks..., bs) of float64 bits (int64) -> (element
    codes or values' float64 bits, scale codes, T's float64 bits)."""
    require_x64(f"block format {plan.bf} (a value scale)")
    bf = plan.bf
    el, sc = bf.element, bf.scale
    ep = make_params(el, plan.rounding, overflow=bf.element_overflow, sr_bits=int(plan.sr_bits or 0),
                     wide_random=plan.wide)
    sp = scale_params(bf)
    a = rows & _ABS
    isnan = a > _INF
    t = _tensor_scale(plan, a, tscale)
    # the block's scale: amax / (max * T) rounded into the scale format
    amax = jnp.max(jnp.where(isnan, 0, a), axis=-1)
    nan_block = jnp.any(isnan, axis=-1) & sc.has_nan
    den = _bits(_f64(t) * np.float64(el.max))  # exact: the formats' significands fit 53 bits
    ratio = div_rto(jnp.where(amax >= _INF, 0, amax), den)
    scode = _round_code(ratio, sp)
    over_code = jnp.where(bf.scale_overflow == "nan", int(sp[P_NAN_CODE]), int(sp[P_MAX_MAG]))
    scode = jnp.where(amax >= _INF, over_code, jnp.where(amax == 0, 0, scode))
    scode = jnp.where(nan_block, max(int(sp[P_NAN_CODE]), 0), scode)
    sv = _value_bits(scode, sp)
    sv_nan = ((sv & _ABS) > _INF) | nan_block
    sv_zero = (sv & _ABS) == 0
    scode, sv, sv_nan, sv_zero = materialize((scode, sv, sv_nan, sv_zero), amax)
    # the elements: x / (s * T) rounded to odd, then the element cast
    tt = _bits(_f64(sv) * _f64(t))[..., None]
    scaled = ~(sv_nan | sv_zero)[..., None]
    q = div_rto(jnp.where((a >= _INF) | (a == 0) | ~scaled, 0, a), jnp.where(scaled, tt, 1 << 62))
    q = jnp.where((a >= _INF) | (a == 0), a, q) | (rows & ~_ABS)
    # a zero scale: signed zeros (NaN stays NaN), no random bits
    q = jnp.where(sv_zero[..., None] & (a <= _INF), rows & ~_ABS, q)
    zero = jnp.zeros((), jnp.int64)
    rh = zero if r_hi is None else jnp.where(scaled, r_hi.astype(jnp.int64), 0)
    rl = zero if r_lo is None else jnp.where(scaled, r_lo.astype(jnp.int64), 0)
    # materialised: fused into the general cast, whose input feeds many terms, XLA
    # recomputed the division per use (5x slower than the two apart)
    q = materialize(q, a)
    code = encode_bits(q, ep, rh, rl)
    scode = jnp.where(sv_nan, max(int(sp[P_NAN_CODE]), 0), scode)
    if want_codes:
        el_nan = max(int(ep[P_NAN_CODE]), 0)
        return jnp.where(sv_nan[..., None], el_nan, code), scode, t
    ev = _value_bits(materialize(code, a), ep)
    mult = jnp.where(scaled, tt, np.float64(1.0).view(np.int64))
    v = _bits(_f64(ev) * _f64(mult))  # exact: at most 53 significand bits
    v = jnp.where(sv_nan[..., None], np.float64(np.nan).view(np.int64), v)
    return v, scode, t


def decode_values(ev: Array, sv: Array, t: Array) -> Array:
    """float64 bits of element value * scale value * T (float64 bits in;
    exact products)."""
    return _bits(_f64(ev) * _f64(sv) * _f64(t))


@functools.lru_cache(maxsize=64)
def value_table(fmt: fs.Format) -> np.ndarray:
    """float64 bits of every code's value (the core's decode)."""
    return fs.decode(np.arange(fmt.num_codes, dtype=fs.code_dtype(fmt)), fmt,
                     np.float64).view(np.int64)


def check_tensor_scale(bf: BlockFormat, tensor_scale: Any) -> Any:
    """``tensor_scale`` as a float64 array (checked where concrete)."""
    if tensor_scale is None:
        return None
    if bf.tensor_format is None:
        raise ValueError(f"tensor_scale= applies to two-level formats only; {bf} has no tensor_format")
    if not isinstance(tensor_scale, jax.core.Tracer):
        v = np.asarray(tensor_scale, dtype=np.float64)
        if v.shape != () or not np.isfinite(v) or v <= 0:
            raise ValueError(f"tensor_scale={tensor_scale!r} must be one finite positive number")
    return jnp.asarray(tensor_scale, jnp.float64)
