"""Block formats (MX, block floating point with power-of-two scales) for jax
arrays, bit-exact with ``floatsim.blocks``.

A block's scale 2**k comes from its amax by the core's rule
(``floatsim.blocks.ScaleRule``: FLOOR, CEIL, EVEN, NEAREST, and RCEIL into a
power-of-two scale type), computed from amax's bits as
``floatsim.kernels.blocks_cpu.rule_exponent`` does; the elements are then
rounded by the float32 fast path with the element format's range shifted
by k (the core's ``shift_consts``), which is the same as rounding x / 2**k
and multiplying back.  Blocks whose shifted range leaves float32's normal
range (amax below about 2**-112 for MXFP8, or CEIL-type rules near
float32's max) are rounded at a shift inside it, with the input and the
result moved by the difference in integer bit operations (exact, and
rounded once to nearest even where a result falls below float32's normal
range, as the core's float32 output is).  float64 input (with x64) takes
the core's general cast with shifted parameters.

Value scales (NVFP4 and other AMAX rules: a scale with a significand, a
tensor scale) take :mod:`floatsim_jax.nvfp4`.

Example:
    >>> import jax.numpy as jnp, floatsim_jax as fj
    >>> x = jnp.array([[0.5, -3.0, 100.0, 7.0]])
    >>> fj.blocks.quantize(x, "mxfp4_e2m1").tolist()
    [[0.0, -0.0, 96.0, 8.0]]
    >>> codes = fj.blocks.encode(x, "mxfp4_e2m1")
    >>> codes.elements.tolist(), codes.scales.tolist()
    ([[0, 8, 7, 1]], [[131]])
    >>> fj.blocks.decode(codes, "mxfp4_e2m1").tolist()
    [[0.0, -0.0, 96.0, 8.0]]
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import floatsim as fs
from floatsim import Format, Overflow, Rounding
from floatsim.blocks import BlockCodes, BlockFormat, IntFormat, ScaleRule
from floatsim.kernels.abi import P_NAN_CODE, RULE_CODE, make_params
from floatsim.kernels.forms import fits_fast32

from . import fast32 as F
from . import nvfp4 as V
from . import ste
from .bits import float_kind, from_bits32, materialize, to_bits32, to_bits64
from .cast import Cast, float_input, random_words, seed_words, static, stream_word
from .general import compose_bits, decode_parts, encode_bits, require_x64, shift_params
from .layout import Blocks

__all__ = ["quantize", "encode", "decode", "block_amax", "supported"]

Array = Any
U = np.uint32
_MASK23 = U(0x7FFFFF)
_INF32 = U(0x7F800000)
_NAN32 = U(0x7FC00000)
_POW2_RULES = (ScaleRule.FLOOR, ScaleRule.CEIL, ScaleRule.EVEN, ScaleRule.NEAREST)


# ---- integer helpers ------------------------------------------------------------------------
def _exp_frac23(m: Array) -> tuple[Array, Array]:
    """(E, F) with value (1 + F / 2**23) * 2**E of finite nonzero float32
    magnitude bits ``m`` (subnormals normalised)."""
    ef = (m >> U(23)).astype(jnp.int32)
    top = 31 - lax.clz(m).astype(jnp.int32)
    sub_f = (m << jnp.clip(23 - top, 0, 31).astype(jnp.uint32)) & _MASK23
    return jnp.where(ef > 0, ef - 127, top - 149), jnp.where(ef > 0, m & _MASK23, sub_f)


def _exp_frac52(m: Array) -> tuple[Array, Array]:
    """_exp_frac23 for float64 magnitude bits (int64)."""
    frac = (1 << 52) - 1
    ef = m >> 52
    top = 63 - lax.clz(m)
    sub_f = lax.shift_left(m, jnp.clip(52 - top, 0, 63)) & frac
    return jnp.where(ef > 0, ef - 1023, top - 1074), jnp.where(ef > 0, m & frac, sub_f)


def _scale_bits(b: Array, t: Array, sticky: bool = False) -> Array:
    """float32 magnitude bits ``b`` times 2**t (int32 t of any sign): exact
    where the product is a float32; below float32's normal range rounded to
    nearest even, or with ``sticky`` truncated with the last bit set when
    bits are lost (a nonzero value stays nonzero); inf past float32's range.
    Zero, inf and NaN are unchanged.  Integer operations only."""
    e = (b >> U(23)).astype(jnp.int32)
    m = b & _MASK23
    sig = jnp.where(e > 0, m | U(0x800000), m)
    top = 31 - lax.clz(sig).astype(jnp.int32)  # 23 for normals
    sig_n = sig << jnp.clip(23 - top, 0, 31).astype(jnp.uint32)
    ne = jnp.maximum(e, 1) - (23 - top) + t  # the biased exponent of the result
    normal = (jnp.clip(ne, 1, 254).astype(jnp.uint32) << U(23)) | (sig_n & _MASK23)
    sh = jnp.clip(1 - ne, 0, 32).astype(jnp.uint32)
    shc = jnp.minimum(sh, U(31))
    q = jnp.where(sh >= 32, U(0), sig_n >> shc)
    rem = jnp.where(sh >= 32, sig_n, sig_n & ((U(1) << shc) - U(1)))
    if sticky:
        low = q | (rem != 0).astype(jnp.uint32)
    else:
        half = jnp.where(sh >= 32, U(0xFFFFFFFF), U(1) << (shc - U(1)))
        up = (rem > half) | ((rem == half) & ((q & U(1)) != 0))
        low = q + up.astype(jnp.uint32)
    r = jnp.where(ne >= 255, _INF32, jnp.where(ne >= 1, normal, low))
    return jnp.where((b == 0) | (e == 255), b, r)


def _signed(f: Any, u: Array, *args: Any, **kw: Any) -> Array:
    s = u & U(0x80000000)
    return f(u ^ s, *args, **kw) | s


# ---- the scale rules ------------------------------------------------------------------------
# The rule's constants (the core's bp / fp vectors, as blocks_cpu reads them) are a runtime
# vector, so one compiled function serves every block format of a layout and mode.
(R_RULE, R_EMAX_E, R_KMIN, R_KMAX, R_NAN_POLICY, R_KEEP_NAN, R_EVEN, R_NEAREST, R_RCEIL,
 R_LOW, R_HIGH, R_NAN_CODE) = range(12)
N_R = 12


def rule_vector(bf: BlockFormat, fbits: int) -> np.ndarray:
    """The power-of-two rule's constants for amax fractions of ``fbits`` bits
    (23: float32 input, 52: float64): rule code, emax_e, the scale's k range,
    its overflow and NaN policy, the thresholds of EVEN (F >= thr: amax
    rounded to mbits+1 bits reaches the next binade), NEAREST (significand
    >= sqrt(2)) and RCEIL (F above the element max's fraction), the shifts
    that keep the element inside float32's normal range, the element's NaN
    code (0 where it has none)."""
    el, sc = bf.element, bf.scale
    m = el.mbits
    even = -(-(2**52 - 2 ** (51 - m)) // 2 ** (52 - fbits)) if m < 52 else 2**fbits
    nearest = math.isqrt(2 ** (2 * fbits + 1) - 1) + 1 - 2**fbits
    fmax = (int(np.float64(el.max).view(np.int64)) & ((1 << 52) - 1)) >> (52 - fbits)
    vals = [RULE_CODE[bf.rule], el.emax, int(np.log2(sc.min_subnormal)), sc.emax,
            bf.scale_overflow == "nan", sc.has_nan, even, nearest, fmax,
            -126 - el.emin, 127 - el.emax, max(int(make_params(el)[P_NAN_CODE]), 0)]
    return np.array(vals, dtype=np.int64 if fbits == 52 else np.int32)


def block_k(rv: Array, m: Array, nan: Array, wide: bool) -> tuple[Array, Array]:
    """(k, nan_block) of blocks whose maxima have the magnitude bits ``m``
    (finite or inf; rule_vector ``rv``) and that hold a NaN (``nan``):
    blocks_cpu.rule_exponent, the clamp to the scale's range and its
    overflow policy."""
    inf = m == (0x7FF0000000000000 if wide else _INF32)
    nz = (m != 0) & ~inf
    E, Fr = (_exp_frac52 if wide else _exp_frac23)(jnp.where(nz, m, 1))
    Fr = Fr.astype(rv.dtype)
    rule = rv[R_RULE]
    bump = jnp.select(
        [rule == RULE_CODE[ScaleRule.CEIL], rule == RULE_CODE[ScaleRule.EVEN],
         rule == RULE_CODE[ScaleRule.NEAREST], rule == RULE_CODE[ScaleRule.RCEIL]],
        [Fr != 0, Fr >= rv[R_EVEN], Fr >= rv[R_NEAREST], Fr > rv[R_RCEIL]], False)
    k = E.astype(jnp.int32) - rv[R_EMAX_E].astype(jnp.int32) + bump.astype(jnp.int32)
    kmin, kmax = rv[R_KMIN].astype(jnp.int32), rv[R_KMAX].astype(jnp.int32)
    k = jnp.where(nz, jnp.maximum(k, kmin), kmin)
    over = inf | (k > kmax)
    nan_block = (nan & (rv[R_KEEP_NAN] != 0)) | (over & (rv[R_NAN_POLICY] != 0))
    return jnp.where(over, kmax, k), nan_block


def supported(bf: BlockFormat | str) -> str:
    """Which route takes ``bf`` ('pow2' or 'value'); raises NotImplementedError
    naming what is supported where neither does.

    Example:
        >>> supported("mxfp8_e4m3"), supported("nvfp4")
        ('pow2', 'value')
    """
    bf = fs.blocks.format(static(bf, "bfmt"))
    el, rule = bf.element, bf.rule
    what = ("element formats (floatsim.Format, not IntFormat) with the power-of-two rules "
            "FLOOR, CEIL, EVEN, NEAREST, RCEIL into a power-of-two scale type (every MX format), "
            "or the AMAX / RCEIL value rules with a tensor scale or none (NVFP4)")
    if isinstance(el, IntFormat) or rule in (ScaleRule.FOUR_OVER_SIX, ScaleRule.MINMAX):
        raise NotImplementedError(
            f"floatsim_jax.blocks does not take {bf} (element {el}, rule {rule.value!r}) yet; "
            f"it takes {what}; use floatsim.blocks on numpy arrays")
    if bf.scale_overflow == "raise":
        raise ValueError(
            f"{bf} has scale_overflow='raise', which a jitted function cannot check; use "
            "bf.with_(scale_overflow='nan') or 'saturate'")
    if (rule in _POW2_RULES or (rule is ScaleRule.RCEIL and bf.scale.mbits == 0)) and (
            bf.tensor_format is None):
        return "pow2"
    if rule in (ScaleRule.AMAX, ScaleRule.RCEIL):
        return "value"
    raise NotImplementedError(f"floatsim_jax.blocks does not take {bf}; it takes {what}")


# ---- the power-of-two route -----------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Plan:
    """The static part of one block call (no format constants: those are
    the runtime arrays of :func:`_consts`)."""

    rnd: int
    rmode: int
    wide: bool
    blocks: Blocks
    scale_codes: int  # the scale format's number of codes (its tables' sizes)


def _consts(bf: BlockFormat, cast: Cast, f64: bool) -> dict[str, np.ndarray]:
    """The format's constants, as arrays: the element's fast-path constants
    (or general parameters), the rule vector, the element's code table, the
    scale's codes of 2**k (k = kmin..) and NaN code."""
    el, sc = bf.element, bf.scale
    rv = rule_vector(bf, 52 if f64 else 23)
    kmin, kmax = int(rv[R_KMIN]), int(rv[R_KMAX])
    ks = np.arange(kmin, kmax + 1, dtype=np.int64)
    table = np.zeros(sc.num_codes, np.int64)  # code of 2**k at index k - kmin
    table[:ks.size] = fs.encode(np.ldexp(1.0, ks), sc).astype(np.int64)
    snan = int(fs.encode(np.array([np.nan]), sc)[0]) if sc.has_nan else 0
    out = {"rv": rv, "scale_table": table, "scale_nan": np.int64(snan)}
    if f64:
        out["params"] = cast.params()
    else:
        out["c"] = F.consts_array(el, cast.rounding, cast.overflow, None, cast.sr_bits)
        t = F.code_table(el)
        out["table"] = np.zeros(1, np.uint32) if t is None else t
    return out


def _pow2_f32(k_const: dict, rnd: int, u: Array, r_lo: Array, want_codes: bool
              ) -> tuple[Array, Array, Array]:
    """Rows of float32 bits ``u`` -> (result rows, k, nan_block): the result
    is the value's float32 bits, or the element's codes (int32) with
    ``want_codes``."""
    rv = k_const["rv"]
    a = u & U(0x7FFFFFFF)
    isnan = a > _INF32
    m = jnp.max(jnp.where(isnan, U(0), a), axis=-1)
    k, nan_block = block_k(rv, m, jnp.any(isnan, axis=-1), False)
    # the element cast at a shift kk inside float32's normal range; x and the
    # result moved by s = k - kk in integer bits
    kk = jnp.clip(k, rv[R_LOW], rv[R_HIGH])
    ck = F.shift_consts(k_const["c"], kk)
    k, kk, nan_block, ck = materialize((k, kk, nan_block, ck), m)
    s = (k - kk)[..., None]
    ck = [v[..., None] if v.ndim else v for v in ck]

    def moved(u: Array) -> Array:
        us = jnp.where(s < 0, _signed(_scale_bits, u, -s),
                       jnp.where(s > 0, _signed(_scale_bits, u, -s, sticky=True), u))
        r = F.quantize_f32_bits(us, ck, rnd, r_lo)
        return r if want_codes else jnp.where(s != 0, _signed(_scale_bits, r, s), r)

    def direct(u: Array) -> Array:
        return F.quantize_f32_bits(u, ck, rnd, r_lo)

    # blocks outside float32's normal range are rare: the common case skips moving them
    r = lax.cond(jnp.any(s != 0), moved, direct, u)
    if want_codes:
        rel = _signed(_scale_bits, r, -kk[..., None])  # the element's own value: exact
        codes = F.code_of_f32(rel, u, k_const["table"]).astype(jnp.int32)
        return jnp.where(nan_block[..., None], rv[R_NAN_CODE], codes), k, nan_block
    return jnp.where(nan_block[..., None], _NAN32, r), k, nan_block


def _pow2_f64(k_const: dict, b: Array, r_hi: Array, r_lo: Array, want_codes: bool, out: np.dtype
              ) -> tuple[Array, Array, Array]:
    """_pow2_f32 for float64 bit rows (int64): the general cast with the
    element's parameters shifted by k."""
    rv = k_const["rv"]
    a = b & 0x7FFFFFFFFFFFFFFF
    isnan = a > 0x7FF0000000000000
    m = jnp.max(jnp.where(isnan, 0, a), axis=-1)
    k, nan_block = block_k(rv, m, jnp.any(isnan, axis=-1), True)
    p = shift_params(k_const["params"], k[..., None])
    zero = jnp.zeros((), jnp.int64)
    code = encode_bits(b, p, zero if r_hi is None else r_hi.astype(jnp.int64),
                       zero if r_lo is None else r_lo.astype(jnp.int64))
    if want_codes:
        return jnp.where(nan_block[..., None], rv[R_NAN_CODE], code), k, nan_block
    bits = _round_into(compose_bits(*decode_parts(code, p), np.float64), out)
    nan = np.array(np.nan, out).view(f"u{out.itemsize}")
    return jnp.where(nan_block[..., None], nan, bits), k, nan_block


def _round_into(bits64: Array, out: np.dtype) -> Array:
    """float64 bits rounded to nearest even into ``out`` (its bits), by the
    general cast into that dtype's format (whose codes are its bit patterns)."""
    if out == np.float64:
        return bits64
    name = {np.dtype(np.float32): "float32", np.dtype(np.float16): "float16"}.get(out, "bfloat16")
    p = make_params(fs.format(name), Rounding.NEAREST_EVEN, overflow=Overflow.INF)
    code = encode_bits(lax.bitcast_convert_type(bits64, jnp.int64), p, 0, 0)
    return code.astype(jnp.uint32 if out == np.float32 else jnp.uint16)


def _narrow32(r: Array, out: np.dtype) -> Array:
    """float32 bits rounded to nearest even into ``out`` as an array of it."""
    if out == np.float32:
        return lax.bitcast_convert_type(r, jnp.float32)
    if out == np.float64:
        return from_bits32(r, out)
    name = "float16" if out == np.float16 else "bfloat16"
    c = F.consts_array(fs.format(name), Rounding.NEAREST_EVEN, Overflow.INF)
    return from_bits32(F.quantize_f32_bits(r, c, Rounding.NEAREST_EVEN.value), out)


@functools.partial(jax.jit, static_argnames=("plan", "out", "want_codes", "el_dt", "sc_dt"))
def _run(x: Array, k_const: dict, seed_lo: Array, seed_hi: Array, stream: Array, *, plan: _Plan,
         out: np.dtype, want_codes: bool, el_dt: Any = None, sc_dt: Any = None) -> Any:
    lay = plan.blocks
    xs = x.reshape(lay.shape)
    r_hi = r_lo = None
    if plan.rmode:
        hi, lo = random_words(lay.shape, 1, plan.wide, seed_lo, seed_hi, stream, None)
        r_hi, r_lo = lay.gather(hi), lay.gather(lo)
    if x.dtype == np.float64:
        rows, k, nan_block = _pow2_f64(k_const, lay.gather(to_bits64(xs)), r_hi, r_lo,
                                       want_codes, out)
        if not want_codes:
            vals = lax.bitcast_convert_type(rows, out)
    else:
        rows, k, nan_block = _pow2_f32(k_const, plan.rnd, lay.gather(to_bits32(xs)), r_lo,
                                       want_codes)
        if not want_codes:
            vals = _narrow32(rows, out)
    if not want_codes:
        return lay.scatter(vals).reshape(x.shape)
    elems = lay.scatter(rows.astype(el_dt)).reshape(x.shape)
    rv = k_const["rv"]
    scodes = k_const["scale_table"][jnp.clip(k - rv[R_KMIN].astype(jnp.int32), 0,
                                             plan.scale_codes - 1)]
    scodes = jnp.where(nan_block, k_const["scale_nan"], scodes)
    return elems, lay.scales_out(scodes.astype(sc_dt))


@functools.partial(jax.jit, static_argnames=("plan", "out", "want_codes", "el_dt", "sc_dt"))
def _run_value(x: Array, tscale: Array, seed_lo: Array, seed_hi: Array, stream: Array, *,
               plan: Any, out: np.dtype, want_codes: bool, el_dt: Any = None, sc_dt: Any = None
               ) -> Any:
    lay = plan.blocks
    xs = x.reshape(lay.shape)
    r_hi = r_lo = None
    if plan.rmode:
        hi, lo = random_words(lay.shape, 1, plan.wide, seed_lo, seed_hi, stream, None)
        r_hi, r_lo = lay.gather(hi), lay.gather(lo)
    rows = lay.gather(to_bits64(xs))
    rows = materialize(rows, rows & 0x7FFFFFFFFFFFFFFF)  # one widening, not one per use
    vals, scode, t = V.run(plan, rows, r_hi, r_lo, tscale, want_codes)
    if want_codes:
        elems = lay.scatter(vals.astype(el_dt)).reshape(x.shape)
        return elems, lay.scales_out(scode.astype(sc_dt)), lax.bitcast_convert_type(t, jnp.float64)
    vals = materialize(vals, vals & 0x7FFFFFFFFFFFFFFF)  # the rounding reads it many times
    y = lax.bitcast_convert_type(_round_into(vals, out), out)
    return lay.scatter(y).reshape(x.shape)


def _prepare(x: Any, bfmt: Any, rounding: Any, axis: Any, seed: Any, stream: Any,
             sr_bits: Any) -> tuple[Array, BlockFormat, Any, dict, tuple]:
    """Validated arguments: x, the block format, the static plan, the
    format's constant arrays and the random-word arguments."""
    x = float_input(x)
    bf = fs.blocks.format(static(bfmt, "bfmt"))
    in_dt = np.dtype(x.dtype)
    if supported(bf) == "value":
        require_x64(f"block format {bf} (a value scale)")
        cast = Cast.make(np.dtype(np.float64) if in_dt == np.float64 else np.dtype(np.float32),
                         bf.element, rounding, overflow=bf.element_overflow, seed=seed,
                         sr_bits=sr_bits)
        lay = Blocks(x.shape if x.ndim else (1,), bf.block, static(axis, "axis"))
        plan = V.Plan(bf, cast.rounding, cast.sr_bits or None, cast.rmode,
                      in_dt == np.float64 and cast.rmode == 1 and not cast.sr_bits, lay)
        lo, hi = seed_words(seed) if seed is not None else (jnp.uint32(0), jnp.uint32(0))
        return x, bf, plan, {}, (lo, hi, stream_word(stream))
    f64 = in_dt == np.float64
    cast = Cast.make(in_dt if f64 else np.dtype(np.float32), bf.element, rounding,
                     overflow=bf.element_overflow, seed=seed, sr_bits=sr_bits)
    if not f64 and not fits_fast32(bf.element):
        require_x64(f"block format {bf} (element {bf.element} is outside float32's range)")
    shape = x.shape if x.ndim else (1,)
    plan = _Plan(cast.rounding.value, cast.rmode, cast.wide,
                 Blocks(shape, bf.block, static(axis, "axis")), bf.scale.num_codes)
    lo, hi = seed_words(seed) if seed is not None else (jnp.uint32(0), jnp.uint32(0))
    return x, bf, plan, _consts(bf, cast, f64), (lo, hi, stream_word(stream))


@dataclasses.dataclass(frozen=True)
class _BlockOp:
    """Block quantize as an ste.Spec (straight-through).  ``rand`` carries
    the format's constants, the random-word arguments and a zero-size array
    of x's dtype (for the cotangent's dtype)."""

    plan: _Plan
    out: np.dtype
    needs_x: bool = False

    def forward(self, x: Array, rand: tuple) -> Array:
        if isinstance(self.plan, V.Plan):
            return _run_value(x, rand[0], *rand[1:4], plan=self.plan, out=self.out,
                              want_codes=False)
        return _run(x, rand[0], *rand[1:4], plan=self.plan, out=self.out, want_codes=False)

    def backward(self, x: Array, g: Array, rand: tuple) -> Array:
        return g.astype(rand[4].dtype)


def quantize(x: Any, bfmt: BlockFormat | str, rounding: Rounding | str = "nearest_even", *,
             axis: Any = -1, seed: Any = None, stream: Any = 0, sr_bits: int | None = None,
             tensor_scale: Any = None, out_dtype: Any = None) -> Array:
    """Fake-quantize ``x`` in a block format, as ``floatsim.blocks.quantize``
    (same arguments; seeds may be traced or ``jax.random`` keys).  The
    gradient is straight-through.

    Example:
        >>> import jax.numpy as jnp, floatsim_jax as fj
        >>> x = jnp.linspace(-1, 1, 64).reshape(2, 32)
        >>> bool(jnp.abs(fj.blocks.quantize(x, "mxfp8_e4m3") - x).max() < 2**-4)
        True
    """
    x, bf, plan, consts, rand = _prepare(x, bfmt, rounding, axis, seed, stream, sr_bits)
    if isinstance(plan, V.Plan):
        consts = V.check_tensor_scale(bf, tensor_scale)
    elif tensor_scale is not None:
        raise ValueError(f"tensor_scale= applies to two-level formats only; {bf} has none")
    out = np.dtype(x.dtype) if out_dtype is None else float_kind(static(out_dtype, "out_dtype"))
    if out is None:
        raise TypeError(f"out_dtype={out_dtype!r} is not a float dtype floatsim_jax writes")
    if x.size == 0:
        return x.astype(out)
    # the zero-size marker carries x's dtype to the backward rule
    return ste.apply(_BlockOp(plan, out), x, (consts, *rand, jnp.zeros((0,), x.dtype)))


def encode(x: Any, bfmt: BlockFormat | str, rounding: Rounding | str = "nearest_even", *,
           axis: Any = -1, seed: Any = None, stream: Any = 0, sr_bits: int | None = None,
           tensor_scale: Any = None) -> BlockCodes:
    """The codes of ``x`` in a block format, as ``floatsim.blocks.encode``: a
    ``floatsim.blocks.BlockCodes`` of jax arrays (``tensor_scale`` set for
    two-level formats; ``zero_points`` None: rule 'minmax' is not supported
    here).

    Example:
        >>> import jax.numpy as jnp, floatsim_jax as fj
        >>> codes = fj.blocks.encode(jnp.ones((2, 32)), "mxfp8")
        >>> codes.elements.shape, codes.scales.shape, int(codes.scales[0, 0])
        ((2, 32), (2, 1), 119)
    """
    x, bf, plan, consts, rand = _prepare(x, bfmt, rounding, axis, seed, stream, sr_bits)
    dts = {"el_dt": fs.code_dtype(bf.element), "sc_dt": fs.code_dtype(bf.scale)}
    if isinstance(plan, V.Plan):
        ts = V.check_tensor_scale(bf, tensor_scale)
        e, s, t = _run_value(x, ts, *rand, plan=plan, out=np.dtype(np.float64), want_codes=True,
                             **dts)
        return BlockCodes(e, s, t if bf.tensor_format is not None else None)
    if tensor_scale is not None:
        raise ValueError(f"tensor_scale= applies to two-level formats only; {bf} has none")
    e, s = _run(x, consts, *rand, plan=plan, out=np.dtype(np.float32), want_codes=True, **dts)
    return BlockCodes(e, s)


@functools.lru_cache(maxsize=64)
def _scale_exponents(sc: Format) -> tuple[np.ndarray, bool]:
    """k of every code of a power-of-two scale format (log2 of its value),
    and whether all its values are powers of two; NaN codes get a marker."""
    v = fs.decode(np.arange(sc.num_codes, dtype=fs.code_dtype(sc)), sc, np.float64)
    ok = np.isfinite(v) & (v > 0)
    mant, ex = np.frexp(np.where(ok, v, 1.0))
    pow2 = bool(np.all(mant[ok] == 0.5))
    return np.where(ok, ex - 1, np.iinfo(np.int32).min).astype(np.int32), pow2


@functools.partial(jax.jit, static_argnames=("el", "lay", "out"))
def _run_decode(e: Array, s: Array, ks: Array, *, el: Format, lay: Blocks, out: np.dtype) -> Array:
    table = np.asarray(fs.decode(np.arange(el.num_codes, dtype=fs.code_dtype(el)), el,
                                 np.float32)).view(np.uint32)
    ev = jnp.asarray(table)[jnp.clip(e.astype(jnp.int32), 0, table.size - 1)]
    k = ks[jnp.clip(s.astype(jnp.int32), 0, ks.size - 1)]
    kr = lay.scales_in(k)[..., None]
    rows = lay.gather(ev)
    r = _signed(_scale_bits, rows, jnp.where(kr == np.iinfo(np.int32).min, 0, kr))
    r = jnp.where(kr == np.iinfo(np.int32).min, _NAN32, r)
    return _narrow32(lay.scatter(r), out).reshape(e.shape)


@functools.partial(jax.jit, static_argnames=("lay", "out"))
def _run_decode_value(e: Array, s: Array, et: Array, st: Array, t: Array, *, lay: Blocks,
                      out: np.dtype) -> Array:
    ev = et[jnp.clip(e.astype(jnp.int32), 0, et.size - 1)]
    sv = lay.gather(lay.scatter(st[jnp.clip(lay.scales_in(s).astype(jnp.int32), 0, st.size - 1)]
                                [..., None] * jnp.ones((lay.bs,), jnp.int64)))
    v = V.decode_values(lay.gather(ev.reshape(lay.shape)), sv, to_bits64(t))
    y = lax.bitcast_convert_type(_round_into(v, out), out)
    return lay.scatter(y).reshape(e.shape)


def decode(elements: Any, scales: Any = None, bfmt: BlockFormat | str | None = None, *,
           axis: Any = -1, tensor_scale: Any = None, dtype: Any = jnp.float32) -> Array:
    """The values of encoded blocks, element * scale [* tensor_scale],
    rounded once into ``dtype`` (as ``floatsim.blocks.decode``): called as
    ``decode(codes, bfmt)`` with what :func:`encode` returned, or as
    ``decode(elements, scales, bfmt, tensor_scale=...)``.  Value scales
    (NVFP4) need x64.

    Example:
        >>> import jax.numpy as jnp, floatsim_jax as fj
        >>> fj.blocks.decode(jnp.array([[7, 9]], jnp.uint8), jnp.array([[130]], jnp.uint8),
        ...                  fs.blocks.format("mxfp4").with_(block=2)).tolist()
        [[48.0, -4.0]]
    """
    if isinstance(elements, BlockCodes):
        if bfmt is not None or tensor_scale is not None:
            raise TypeError("decode(codes, bfmt): with a BlockCodes, pass the format second; "
                            "its tensor_scale comes from codes")
        elements, scales, bfmt, tensor_scale = (
            elements.elements, elements.scales, scales, elements.tensor_scale)
    if bfmt is None or scales is None:
        raise TypeError("decode takes (codes, bfmt) or (elements, scales, bfmt)")
    bf = fs.blocks.format(static(bfmt, "bfmt"))
    route = supported(bf)
    e, s = jnp.asarray(elements), jnp.asarray(scales)
    for what, a in (("elements", e), ("scales", s)):
        if not jnp.issubdtype(a.dtype, jnp.integer):
            raise TypeError(f"{what} has dtype {a.dtype}; decode needs integer codes")
    out = float_kind(static(dtype, "dtype"))
    if out is None:
        raise TypeError(f"dtype={dtype!r} is not supported; allowed: float32, float16, bfloat16, "
                        "float64 (x64)")
    lay = Blocks(e.shape if e.ndim else (1,), bf.block, static(axis, "axis"))
    if tuple(s.shape) != lay.scale_shape:
        raise ValueError(
            f"scales has shape {tuple(s.shape)}; elements of shape {tuple(e.shape)} in blocks of "
            f"{bf.block} along axis={axis!r} need scales of shape {lay.scale_shape}")
    if route == "value":
        require_x64(f"decode of {bf} (a value scale)")
        if bf.tensor_format is not None and tensor_scale is None:
            raise ValueError(f"{bf} is a two-level format: pass tensor_scale= (encode's third result)")
        t = V.check_tensor_scale(bf, tensor_scale) if tensor_scale is not None else jnp.float64(1.0)
        return _run_decode_value(e, s, V.value_table(bf.element), V.value_table(bf.scale), t,
                                 lay=lay, out=out)
    if tensor_scale is not None:
        raise ValueError(f"tensor_scale= applies to two-level formats only; {bf} has none")
    if not fits_fast32(bf.element):
        raise NotImplementedError(f"decode of {bf.element} elements (beyond float32) in jax")
    ks, _ = _scale_exponents(bf.scale)
    return _run_decode(e, s, ks, el=bf.element, lay=lay, out=out)


def block_amax(x: Any, bfmt: BlockFormat | str, *, axis: Any = -1) -> Array:
    """The largest magnitude of every block (the scales' shape; NaN where a
    block holds NaN), as ``floatsim.blocks.block_amax``.

    Example:
        >>> import jax.numpy as jnp, floatsim_jax as fj
        >>> fj.blocks.block_amax(jnp.array([[1.0, -4.0, 2.0]]), "mxfp8").tolist()
        [[4.0]]
    """
    x = float_input(x)
    bf = fs.blocks.format(static(bfmt, "bfmt"))
    lay = Blocks(x.shape if x.ndim else (1,), bf.block, static(axis, "axis"))
    rows = jnp.abs(lay.gather(x.reshape(lay.shape)))
    return lay.scales_out(jnp.max(rows, axis=-1))
