"""The core's general cast (:func:`floatsim.kernels.scalar.encode_bits` and
``decode_code``) in ``lax`` 64-bit integer operations, with the parameter
vector of :func:`floatsim.kernels.abi.make_params` (one source).

It takes float64 bit patterns (float64 inputs round once from their exact
value), every format the core's kernels take, every mode (read from the
parameters at run time: one compiled function serves every format and
mode), 64-bit SR words.  It needs ``jax_enable_x64`` (int64 arrays).  Values
are composed from their bits (:func:`compose_bits`), never by a float
product, because XLA flushes subnormals on the CPU.

Example:
    >>> import jax, numpy as np, floatsim as fs
    >>> from floatsim.kernels.abi import make_params
    >>> from floatsim_jax.general import encode_bits
    >>> u = np.float64([460.0, -0.3]).view(np.int64)
    >>> with jax.enable_x64(True):
    ...     [hex(int(c)) for c in encode_bits(u, make_params(fs.format("e4m3")), 0, 0)]
    ['0x7e', '0xaa']
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from floatsim.kernels.abi import (
    N_PARAMS,
    ODD,
    P_BIAS,
    P_EMAX,
    P_EMIN,
    P_HAS_NEGZERO,
    P_HAS_ZERO,
    P_HIGH_NAN_START,
    P_INF_MAG,
    P_MAG_BITS,
    P_MAX_MAG,
    P_MBITS,
    P_NAN_AT_NEGZERO,
    P_NAN_CODE,
    P_NAN_SIGNED,
    P_OVERFLOW,
    P_ROUNDING,
    P_SIGNED,
    P_SR_BITS,
    P_SUBNORMALS,
    P_WIDE_RANDOM,
    RDN,
    RNA,
    RNE,
    RTZ,
    RUP,
    SR,
)

__all__ = ["encode_bits", "decode_parts", "param_list", "shift_params", "compose_bits", "FLOAT_LAYOUT", "require_x64"]

I64 = jnp.int64
_ABS = 0x7FFFFFFFFFFFFFFF
_INF_BITS = 0x7FF0000000000000
_FRAC52 = (1 << 52) - 1
_IMPLICIT = 1 << 52

#: (exponent bits, mantissa bits) of the float dtypes the casts write.
FLOAT_LAYOUT = {
    np.dtype(np.float64): (11, 52),
    np.dtype(np.float32): (8, 23),
    np.dtype(np.float16): (5, 10),
    np.dtype(jnp.bfloat16): (8, 7),
}


def require_x64(what: str) -> None:
    """Raise where the general path is needed and 64-bit types are off."""
    if not jax.config.jax_enable_x64:
        raise ValueError(
            f"{what} takes floatsim's general (64-bit) cast, which needs 64-bit types in JAX: "
            "jax.config.update('jax_enable_x64', True) (or the jax.enable_x64() context)"
        )


def _i(v: Any) -> Any:
    return jnp.asarray(v, I64)


def _shl(x: Any, n: Any) -> Any:
    return lax.shift_left(x, jnp.clip(n, 0, 63).astype(x.dtype))


def _shr(x: Any, n: Any) -> Any:
    return lax.shift_right_logical(x, jnp.clip(n, 0, 63).astype(x.dtype))


def _frac_bits(rem: Any, sh: Any, k: Any) -> tuple[Any, Any]:
    """scalar._frac_bits: floor(rem * 2**(k - sh)) and whether bits were dropped."""
    d = jnp.minimum(sh - k, 62)
    low = sh <= k
    t = jnp.where(low, _shl(rem, k - sh), _shr(rem, d))
    dropped = jnp.where(low, False, (rem & (_shl(_i(1), d) - 1)) != 0)
    return t, dropped


def param_list(p: Any) -> list[Any]:
    """make_params' vector as a list of int64 entries; a list (entries that
    are per-element arrays, e.g. per-block shifted formats) is taken as is."""
    if isinstance(p, (list, tuple)):
        return [jnp.asarray(v, I64) for v in p]
    p = jnp.asarray(p, I64)
    return [p[i] for i in range(N_PARAMS)]


def shift_params(p: Any, k: Any) -> list[Any]:
    """The params of the format with its exponent range shifted by 2**k
    (as ``floatsim.kernels.blocks_cpu.shift_params``)."""
    P = param_list(p)
    k = jnp.asarray(k, I64)
    P[P_BIAS], P[P_EMIN], P[P_EMAX] = P[P_BIAS] - k, P[P_EMIN] + k, P[P_EMAX] + k
    return P


def encode_bits(u: Any, p: Any, r_hi: Any, r_lo: Any) -> Any:
    """scalar.encode_bits on int64 arrays: the code (int64; -1 for NaN into a
    format without NaN) of the float64 with bits ``u``; ``p`` is
    make_params' vector (an array: its entries are read at run time, or a
    :func:`param_list`), r_hi / r_lo the random words (int64, or 0)."""
    P = param_list(p)
    u = jnp.asarray(u, I64)
    r_hi, r_lo = _i(r_hi), _i(r_lo)
    M, mag_bits, emin = P[P_MBITS], P[P_MAG_BITS], P[P_EMIN]
    neg = u < 0
    a = u & _ABS
    ef = a >> 52
    f52 = a & _FRAC52
    sub = ef == 0
    top = 63 - lax.clz(f52)  # floor(log2) of a subnormal's fraction
    e = jnp.where(sub, top - 1074, ef - 1023)
    sig = jnp.where(sub, f52, f52 | _IMPLICIT)
    e0 = jnp.where(sub, -1022, ef - 1023)
    big = e > P[P_EMAX] + 1
    ee = jnp.maximum(jnp.minimum(e, P[P_EMAX] + 1), emin)
    sh = ee - M - e0 + 52
    rsh = jnp.clip(sh, 0, 62)
    lsh = jnp.clip(-sh, 0, 62)
    lo = _shl(_shr(sig, rsh), lsh)
    rem = sig & (_shl(_i(1), rsh) - 1)
    half = _shl(_i(1), jnp.clip(sh - 1, 0, 61))
    inexact = rem != 0
    gt_half = (sh >= 1) & (rem > half)
    eq_half = (sh >= 1) & (rem == half)
    zoff = jnp.where(P[P_HAS_ZERO] != 0, 0, _shl(_i(1), M))
    trunc_code = _shl(ee - emin, M) + lo - zoff
    odd = (trunc_code & 1) != 0

    # stochastic rounding: k-bit, exact with 32-bit words, exact with 64-bit words
    shc = jnp.minimum(sh, 200)
    k = P[P_SR_BITS]
    t, _ = _frac_bits(rem, shc, k)
    up_k = t + (r_lo & (_shl(_i(1), k) - 1)) >= _shl(_i(1), k)
    ahi, sa = _frac_bits(rem, shc, _i(32))
    up_w32 = r_lo < ahi + sa.astype(I64)
    rem2 = rem & (_shl(_i(1), jnp.clip(shc - 32, 0, 62)) - 1)
    blo, sb = _frac_bits(rem2, shc - 32, _i(32))
    blo = jnp.where(shc > 32, blo, 0)
    sb = jnp.where(shc > 32, sb, False)
    up_w64 = (r_hi < ahi) | ((r_hi == ahi) & (r_lo < blo + sb.astype(I64)))
    up_sr = jnp.where(k > 0, up_k, jnp.where(P[P_WIDE_RANDOM] == 0, up_w32, up_w64))

    rnd = P[P_ROUNDING]
    up = jnp.select(
        [rnd == RNE, rnd == RNA, rnd == RUP, rnd == RDN, rnd == ODD, rnd == SR],
        [gt_half | (eq_half & odd), gt_half | eq_half, inexact & ~neg, inexact & neg,
         inexact & ~odd, up_sr],
        False,
    )
    code = trunc_code + up.astype(I64)
    code = jnp.where((P[P_HAS_ZERO] == 0) & (e < emin), 0, code)
    code = jnp.where(big, P[P_MAX_MAG] + 1, code)

    # Rule 7: overflow, with IEEE's direction rule for truncating modes
    ov = P[P_OVERFLOW]
    over = code > P[P_MAX_MAG]
    toward = (rnd == RTZ) | (rnd == ODD) | ((rnd == RDN) & ~neg) | ((rnd == RUP) & neg)
    nan_out = over & ~toward & (ov == 2)
    code = jnp.where(over & (toward | (ov == 0)), P[P_MAX_MAG],
                     jnp.where(over & (ov == 1), P[P_INF_MAG], code))
    # Rule 8: flush results below the smallest normal after rounding
    code = jnp.where((P[P_SUBNORMALS] == 0) & (P[P_HAS_ZERO] != 0) & (code < _shl(_i(1), M)),
                     0, code)

    # Rules 1, 3, 4, 5: specials
    is_nan = a > _INF_BITS
    uneg = (P[P_SIGNED] == 0) & neg & (a != 0)
    is_inf = a == _INF_BITS
    is_zero = a == 0
    has_nan = P[P_NAN_CODE] >= 0
    inf_code = jnp.where((P[P_INF_MAG] >= 0) & (ov != 0), P[P_INF_MAG], P[P_MAX_MAG])
    inf_nan = ~((P[P_INF_MAG] >= 0) & (ov != 0)) & (ov == 2)
    nan_out = jnp.select([is_nan, uneg, is_inf, is_zero],
                         [True, has_nan, inf_nan, (P[P_HAS_ZERO] == 0) & has_nan], nan_out)
    code = jnp.select([is_nan, uneg, is_inf, is_zero], [code, 0, inf_code, 0], code)
    neg = neg & (P[P_SIGNED] != 0)
    nan_code = jnp.where(neg & (P[P_NAN_SIGNED] != 0), P[P_NAN_CODE] | _shl(_i(1), mag_bits),
                         P[P_NAN_CODE])
    nan_code = jnp.where(has_nan, nan_code, -1)
    # Rule 9: the sign
    signed = neg & ((code != 0) | (P[P_HAS_NEGZERO] != 0) | (P[P_HAS_ZERO] == 0))
    code = jnp.where(signed, code | _shl(_i(1), mag_bits), code)
    return jnp.where(nan_out, nan_code, code)


def decode_parts(code: Any, p: Any) -> tuple[Any, Any, Any, Any, Any]:
    """scalar.decode_code's value of ``code`` as (nan, inf, neg, sig, ex):
    the value is (-1)**neg * sig * 2**ex.  Works in the code's integer dtype
    (int32 where the format's magnitudes fit, so that decoding needs no x64)."""
    dt = code.dtype
    P = [v.astype(dt) for v in param_list(p)] if isinstance(p, (list, tuple)) else [
        jnp.asarray(p[i]).astype(dt) for i in range(N_PARAMS)]
    one = jnp.ones((), dt)
    M, mag_bits = P[P_MBITS], P[P_MAG_BITS]
    width = np.iinfo(dt).bits - 1
    mag = code & (lax.shift_left(one, jnp.minimum(mag_bits, width)) - 1)
    neg = (P[P_SIGNED] != 0) & (lax.shift_right_logical(code, jnp.minimum(mag_bits, width)) != 0)
    nan = (code < 0) | (neg & (mag == 0) & (P[P_NAN_AT_NEGZERO] != 0)) | (mag > P[P_HIGH_NAN_START])
    inf = mag == P[P_INF_MAG]
    ef = lax.shift_right_logical(mag, M)
    mf = mag & (lax.shift_left(one, M) - 1)
    subn = (ef == 0) & (P[P_HAS_ZERO] != 0)
    sig = jnp.where(subn, mf, mf | lax.shift_left(one, M))
    ex = jnp.where(subn, P[P_EMIN] - M, ef - P[P_BIAS] - M)
    return nan, inf & ~nan, neg & ~nan, sig, ex  # NaN decodes positive, as the core's


def compose_bits(nan: Any, inf: Any, neg: Any, sig: Any, ex: Any, dtype: Any) -> Any:
    """The bits of the float ``dtype`` value (-1)**neg * sig * 2**ex, which
    must be exact in ``dtype`` (sig >= 0 integer; NaN as the quiet NaN of
    sign ``neg``, as numpy's widening keeps it).
    Built from integer bits: no float arithmetic, so no flushing."""
    dt = np.dtype(dtype)
    E, Mo = FLOAT_LAYOUT[dt]
    width = dt.itemsize * 8
    it = sig.dtype
    bias = (1 << (E - 1)) - 1
    top = (np.iinfo(it).bits - 1) - lax.clz(sig).astype(ex.dtype)  # floor(log2 sig)
    e = top + ex
    frac = jnp.where(top <= Mo, lax.shift_left(sig, jnp.clip(Mo - top, 0, Mo).astype(it)),
                     lax.shift_right_logical(sig, jnp.clip(top - Mo, 0, 63).astype(it)))
    frac = frac & ((1 << Mo) - 1)
    wide = jnp.uint64 if width == 64 or np.dtype(it).itemsize == 8 else jnp.uint32
    normal = lax.shift_left((e + bias).astype(wide), wide(Mo)) | frac.astype(wide)
    # below the normal range the bit pattern is sig shifted to the unit 2**(1 - bias - Mo)
    sub_sh = ex - (1 - bias - Mo)
    sw = sig.astype(wide)
    top_sh = np.iinfo(wide).bits - 1  # wide is at least sig's width
    subn = jnp.where(sub_sh >= 0, lax.shift_left(sw, jnp.clip(sub_sh, 0, top_sh).astype(wide)),
                     lax.shift_right_logical(sw, jnp.clip(-sub_sh, 0, top_sh).astype(wide)))
    mag = jnp.where(sig == 0, wide(0), jnp.where(e >= 1 - bias, normal, subn))
    inf_bits = wide(((1 << E) - 1) << Mo)
    mag = jnp.where(inf, inf_bits, mag)
    bits = jnp.where(neg, mag | wide(1 << (width - 1)), mag)
    bits = jnp.where(nan, (bits & wide(1 << (width - 1))) | inf_bits | wide(1 << (Mo - 1)), bits)
    return bits.astype({64: jnp.uint64, 32: jnp.uint32, 16: jnp.uint16}[width])
