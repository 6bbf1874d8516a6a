"""quantize / encode / decode of jax arrays, bit-exact with ``floatsim``.

Each call is validated here (formats, modes and options are static Python
values; seeds, streams and random bits may be traced), then runs one jitted
function whose format constants are arguments, so one compile serves every
format of a dtype and mode:

* the float32 fast path (:mod:`floatsim_jax.fast32`) for float32 / float16 /
  bfloat16 inputs in formats whose values are float32 values (every
  registered format but E8M0 and float64), codes by the core's code table;
* the general cast (:mod:`floatsim_jax.general`) for float64 input, the
  other formats and 64-bit SR words; it needs ``jax_enable_x64``.

``quantize`` is differentiable: its VJP is straight-through by default
(``grad='ste'``), or clipped (``grad='clipped'``: zero where ``|x| > max``), and
the cotangent may itself be rounded to a format (``grad_format=``).

Example:
    >>> import jax, jax.numpy as jnp, floatsim_jax as fj
    >>> x = jnp.array([0.3, 460.0, 1000.0])
    >>> fj.quantize(x, "e4m3").tolist()
    [0.3125, 448.0, nan]
    >>> fj.encode(x, "e4m3", overflow="saturate").tolist()
    [42, 126, 126]
    >>> jax.grad(lambda v: fj.quantize(v, "e4m3").sum())(x).tolist()
    [1.0, 1.0, 1.0]
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
from floatsim import Format, Overflow, Rounding
from floatsim.kernels.abi import make_params
from floatsim.kernels.forms import fits_fast32

from . import fast32 as F
from . import ste
from .bits import (
    FLOATS,
    daz_bits,
    float_kind,
    from_bits32,
    materialize,
    to_bits32,
    to_bits64,
    uint_of,
)
from .general import compose_bits, decode_parts, encode_bits, require_x64
from .philox import words32, words64

__all__ = ["quantize", "encode", "decode", "code_dtype", "seed_words", "static_format", "static",
           "stream_word", "float_input", "random_words", "Cast"]

Array = Any
_ALLOWED = "float64 (with jax_enable_x64), float32, float16, bfloat16"
_SR = Rounding.STOCHASTIC.value


def static(value: Any, what: str) -> Any:
    """``value``, refusing a tracer where a static value is needed."""
    if isinstance(value, jax.core.Tracer):
        raise TypeError(
            f"{what} must be a static Python value, got a traced array ({value!r}); pass it as "
            "a constant, or mark it static (jax.jit(..., static_argnames=...))"
        )
    return value


def static_format(fmt: Any, what: str = "fmt") -> Format:
    """``fmt`` as a Format (a Format or a registered name), refusing tracers."""
    return fs.format(static(fmt, what))


def code_dtype(fmt: Format | str) -> np.dtype:
    """The unsigned dtype ``encode`` returns for ``fmt`` (as ``floatsim.code_dtype``).

    Example:
        >>> code_dtype("e2m1"), code_dtype("bf16")
        (dtype('uint8'), dtype('uint16'))
    """
    dt = fs.code_dtype(static_format(fmt))
    if dt.itemsize == 8:
        require_x64(f"format {fmt} (64-bit codes)")
    return dt


def float_input(x: Any, what: str = "x") -> Array:
    """``x`` as a jax float array of a dtype the casts take, else TypeError."""
    if isinstance(x, (float, int, list, tuple)) and not isinstance(x, bool):
        x = jnp.asarray(x, jnp.float32 if not isinstance(x, int) else None)
    if not hasattr(x, "dtype"):
        x = jnp.asarray(x)
    dt = float_kind(x.dtype)
    if dt is None:
        raise TypeError(
            f"{what} has dtype {x.dtype}; floatsim_jax rounds floating-point arrays of "
            f"{_ALLOWED} (convert with {what}.astype(jnp.float32))"
        )
    return jnp.asarray(x)


def _holds(dt: np.dtype, fmt: Format) -> bool:
    d = fs.format({np.dtype(np.float64): "float64", np.dtype(np.float32): "float32",
                   np.dtype(np.float16): "float16"}.get(dt, "bfloat16"))
    return fmt.mbits <= d.mbits and fmt.emax <= d.emax and fmt.emin - fmt.mbits >= d.emin - d.mbits


def _out_dtype(dtype: Any, fmt: Format) -> np.dtype:
    dt = float_kind(static(dtype, "out_dtype"))
    if dt is None:
        raise TypeError(f"out_dtype={dtype!r} is not supported; allowed: {_ALLOWED}")
    if not _holds(dt, fmt):
        wider = next((str(d) for d in FLOATS if _holds(d, fmt)), None)
        fix = f"pass out_dtype=jnp.{wider}" if wider else "use floatsim.reference"
        raise ValueError(
            f"{dt} cannot hold every value of {fmt} (max 2^{fmt.emax}, {fmt.mbits} mantissa "
            f"bits, smallest 2^{fmt.emin - fmt.mbits}); {fix}"
        )
    return dt


def seed_words(seed: Any) -> tuple[Array, Array]:
    """(seed_lo, seed_hi) uint32 words of a seed: an int in 0..2**64-1, an
    integer array (may be traced), or a ``jax.random`` key.

    A key maps to the seed ``data[0] * 2**32 + data[1]`` of its key data
    (``jax.random.key_data``): ``jax.random.key(s)`` and ``PRNGKey(s)`` give
    the words of the integer seed ``s``; a split or folded key gives whatever
    its data says (reproducible, but not the parent's seed).

    Example:
        >>> import jax
        >>> [int(w) for w in seed_words(jax.random.key(7))], [int(w) for w in seed_words(7)]
        ([7, 0], [7, 0])
    """
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"seed={seed!r} must be an int, an integer array or a jax.random key")
    if isinstance(seed, (int, np.integer)):
        if not 0 <= int(seed) < 2**64:
            raise ValueError(f"seed={seed!r} must be an int in 0..2**64-1")
        return jnp.uint32(int(seed) & 0xFFFFFFFF), jnp.uint32(int(seed) >> 32)
    s = jnp.asarray(seed) if not hasattr(seed, "dtype") else seed
    if jnp.issubdtype(s.dtype, jax.dtypes.prng_key):
        if s.shape != ():
            raise ValueError(f"seed is a batch of {s.shape} keys; pass one key (vmap over a batch)")
        data = jax.random.key_data(s).astype(jnp.uint32).reshape(-1)
        return data[1], data[0]
    if s.dtype == jnp.uint32 and s.shape == (2,):  # a raw (legacy) PRNGKey
        return s[1], s[0]
    if not jnp.issubdtype(s.dtype, jnp.integer) or s.shape != ():
        raise TypeError(
            f"seed has dtype {s.dtype} and shape {s.shape}; allowed: an int, an integer scalar "
            "array, or a jax.random key"
        )
    lo = s.astype(jnp.uint32)
    hi = (s >> 32).astype(jnp.uint32) if s.dtype.itemsize == 8 else jnp.zeros((), jnp.uint32)
    return lo, hi


def stream_word(stream: Any) -> Array:
    """The Philox stream id as a uint32 scalar (int or traced integer)."""
    if isinstance(stream, (bool, np.bool_)) or not isinstance(stream, (int, np.integer)):
        s = jnp.asarray(stream)
        if not jnp.issubdtype(s.dtype, jnp.integer) or s.shape != ():
            raise ValueError(f"stream={stream!r} must be an int in 0..2**32-1 or an integer scalar")
        return s.astype(jnp.uint32)
    if not 0 <= int(stream) < 2**32:
        raise ValueError(f"stream={stream!r} must be an int in 0..2**32-1")
    return jnp.uint32(int(stream))


@dataclasses.dataclass(frozen=True)
class Cast:
    """One validated element cast: the static part (format, mode, options,
    path) and what each path's compiled function takes."""

    fmt: Format
    rounding: Rounding
    overflow: Overflow | None
    subnormals: bool | None
    daz: bool
    sr_bits: int
    rmode: int  # 0 none, 1 seed, 2 explicit words
    wide: bool
    fast: bool

    @classmethod
    def make(cls, in_dtype: np.dtype, fmt: Any, rounding: Any = "nearest_even", *,
             overflow: Any = None, subnormals: Any = None, daz: Any = False, seed: Any = None,
             random_bits: Any = None, sr_bits: Any = None, out_dtype: np.dtype | None = None) -> Cast:
        f = static_format(fmt)
        rnd = Rounding.parse(static(rounding, "rounding"))
        ov = None if static(overflow, "overflow") is None else f.check_overflow(overflow)
        subnormals = static(subnormals, "subnormals")
        if subnormals is False and f.ebits == 0:
            raise ValueError(
                f"subnormals=False needs a format with ebits >= 1; {f.name or f} has ebits=0 "
                "(allowed: None or True)"
            )
        daz = bool(static(daz, "daz"))
        sr_bits = static(sr_bits, "sr_bits")
        if rnd is not Rounding.STOCHASTIC:
            if seed is not None or random_bits is not None or sr_bits is not None:
                raise ValueError(
                    "seed=, random_bits= and sr_bits= apply to rounding='stochastic' only "
                    f"(rounding is {rnd.name.lower()!r})"
                )
            rmode, wide = 0, False
        else:
            if (seed is None) == (random_bits is None):
                raise ValueError(
                    "rounding='stochastic' needs exactly one of seed= (an int or a jax.random "
                    "key) or random_bits= (an array of random integers, one per element)"
                )
            if sr_bits is not None and not (
                    isinstance(sr_bits, (int, np.integer)) and not isinstance(sr_bits, bool)
                    and 1 <= sr_bits <= 32):
                raise ValueError(f"sr_bits={sr_bits!r} is out of range; allowed: 1..32 or None")
            if seed is not None:
                rmode, wide = 1, in_dtype == np.float64 and sr_bits is None
            else:
                rb = random_bits
                if not hasattr(rb, "dtype") or rb.dtype not in (jnp.uint32, jnp.uint64):
                    raise TypeError(
                        f"random_bits has dtype {getattr(rb, 'dtype', type(rb).__name__)}; "
                        "allowed: uint32 (32-bit words) or uint64 (64-bit words, x64)"
                    )
                rmode, wide = 2, rb.dtype == jnp.uint64
        out = in_dtype if out_dtype is None else out_dtype
        fast = (in_dtype != np.float64 and out != np.float64 and not wide and fits_fast32(f))
        if not fast:
            require_x64(f"quantize/encode of {in_dtype} into {f}"
                        + (" with 64-bit random words" if wide else ""))
        return cls(f, rnd, ov, subnormals, daz, int(sr_bits or 0), rmode, wide, fast)

    def consts(self) -> np.ndarray:
        return F.consts_array(self.fmt, self.rounding, self.overflow, self.subnormals, self.sr_bits)

    def params(self) -> np.ndarray:
        return make_params(self.fmt, self.rounding, overflow=self.overflow,
                           subnormals=self.subnormals, sr_bits=self.sr_bits, wide_random=self.wide)


def random_words(x_shape: tuple[int, ...], rmode: int, wide: bool, seed_lo: Array, seed_hi: Array,
            stream: Array, rbits: Array) -> tuple[Array, Array]:
    """(r_hi, r_lo) words of every element (uint32, x's shape)."""
    n = int(np.prod(x_shape, dtype=np.int64))
    if rmode == 2:
        if rbits.dtype == jnp.uint64:
            return (rbits >> np.uint64(32)).astype(jnp.uint32), rbits.astype(jnp.uint32)
        return jnp.zeros(x_shape, jnp.uint32), rbits
    if wide:
        hi, lo = words64(n, seed_lo, seed_hi, stream)
        return hi.reshape(x_shape), lo.reshape(x_shape)
    return jnp.zeros(x_shape, jnp.uint32), words32(n, seed_lo, seed_hi, stream).reshape(x_shape)


@functools.partial(jax.jit, static_argnames=("rnd", "rmode", "wide", "daz", "out", "want_codes",
                                             "code_dt"))
def _run_fast(x: Array, consts: Array, table: Array, seed_lo: Array, seed_hi: Array, stream: Array,
              rbits: Array, *, rnd: int, rmode: int, wide: bool, daz: bool, out: np.dtype,
              want_codes: bool, code_dt: Any) -> Array:
    b = lax.bitcast_convert_type(x, uint_of(x.dtype))
    if daz:
        x = lax.bitcast_convert_type(daz_bits(b, x.dtype), x.dtype)
    u = to_bits32(x)
    r_lo = random_words(x.shape, rmode, wide, seed_lo, seed_hi, stream, rbits)[1] if rnd == _SR else None
    r = F.quantize_f32_bits(u, consts, rnd, r_lo)
    if want_codes:
        return F.code_of_f32(r, u, table).astype(code_dt)
    return from_bits32(r, out)


@functools.partial(jax.jit, static_argnames=("rmode", "wide", "daz", "out", "want_codes",
                                             "code_dt"))
def _run_general(x: Array, params: Array, seed_lo: Array, seed_hi: Array, stream: Array,
                 rbits: Array, *, rmode: int, wide: bool, daz: bool, out: np.dtype,
                 want_codes: bool, code_dt: Any) -> Array:
    if daz:
        b = lax.bitcast_convert_type(x, uint_of(x.dtype))
        x = lax.bitcast_convert_type(daz_bits(b, x.dtype), x.dtype)
    u = to_bits64(x)
    if rmode:
        r_hi, r_lo = random_words(x.shape, rmode, wide, seed_lo, seed_hi, stream, rbits)
        r_hi, r_lo = r_hi.astype(jnp.int64), r_lo.astype(jnp.int64)
    else:
        r_hi = r_lo = jnp.zeros((), jnp.int64)
    code = encode_bits(u, params, r_hi, r_lo)
    if want_codes:
        return code.astype(code_dt)
    # kept in memory: fused into the decode, whose input feeds many terms, the cast
    # would be recomputed per use
    code = materialize(code, u & 0x7FFFFFFFFFFFFFFF)
    bits = compose_bits(*decode_parts(code, params), out)
    return lax.bitcast_convert_type(bits, out)


def _dispatch(x: Array, cast: Cast, seed: Any, stream: Any, random_bits: Any, out: np.dtype,
              want_codes: bool) -> Array:
    seed_lo, seed_hi = seed_words(seed) if seed is not None else (jnp.uint32(0), jnp.uint32(0))
    stream_w = stream_word(stream)
    if random_bits is not None:
        if tuple(random_bits.shape) != tuple(x.shape):
            raise ValueError(f"random_bits has shape {random_bits.shape}; it needs x's shape {x.shape}")
        rbits = random_bits
    else:
        rbits = jnp.zeros((), jnp.uint32)
    code_dt = code_dtype(cast.fmt) if want_codes else None
    if cast.fast:
        table = F.code_table(cast.fmt) if want_codes else None
        if want_codes and table is None:
            require_x64(f"encode into {cast.fmt} (no code table)")
            cast = dataclasses.replace(cast, fast=False)
        else:
            return _run_fast(x, cast.consts(), np.zeros(1, np.uint32) if table is None else table,
                             seed_lo, seed_hi, stream_w, rbits, rnd=cast.rounding.value,
                             rmode=cast.rmode, wide=cast.wide, daz=cast.daz, out=out,
                             want_codes=want_codes, code_dt=code_dt)
    return _run_general(x, cast.params(), seed_lo, seed_hi, stream_w, rbits, rmode=cast.rmode,
                        wide=cast.wide, daz=cast.daz, out=out, want_codes=want_codes,
                        code_dt=code_dt)


# ---- the differentiable quantize --------------------------------------------------------
_GRADS = ("ste", "clipped")


@dataclasses.dataclass(frozen=True)
class _QuantizeOp:
    """quantize's forward and its gradient rule (ste.Spec)."""

    cast: Cast
    in_dtype: np.dtype
    out: np.dtype
    grad: str  # "ste" | "clipped"
    grad_cast: Cast | None  # rounds the cotangent

    @property
    def needs_x(self) -> bool:
        return self.grad == "clipped"

    def forward(self, x: Array, rand: tuple) -> Array:
        return _dispatch(x, self.cast, rand[0], rand[1], rand[2], self.out, False)

    def backward(self, x: Array, g: Array, rand: tuple) -> Array:
        if self.grad == "clipped":
            g = jnp.where(jnp.abs(x) <= self.cast.fmt.max, g, jnp.zeros_like(g))
        if self.grad_cast is not None:
            g = _dispatch(g, self.grad_cast, rand[3], rand[4], None, np.dtype(g.dtype), False)
        return g.astype(self.in_dtype)


def quantize(
    x: Any,
    fmt: Format | str,
    rounding: Rounding | str = "nearest_even",
    *,
    overflow: Overflow | str | None = None,
    subnormals: bool | None = None,
    daz: bool = False,
    seed: Any = None,
    stream: Any = 0,
    random_bits: Any = None,
    sr_bits: int | None = None,
    out_dtype: Any = None,
    grad: str = "ste",
    grad_format: Format | str | None = None,
    grad_rounding: Rounding | str = "nearest_even",
    grad_seed: Any = None,
    grad_stream: Any = 0,
) -> Array:
    """Round every element of ``x`` to ``fmt`` (fake quantization), as
    ``floatsim.quantize`` does, bit for bit.

    Args:
        x: float32, float16, bfloat16 (or float64 with x64) jax array.
        fmt, rounding, overflow, subnormals, daz, sr_bits: as in
            ``floatsim.quantize``; static.
        seed: for SR, an int, an integer array (may be traced) or a
            ``jax.random`` key (:func:`seed_words`). The word of element i is
            that of its flat C-order index, as in the core; under ``vmap``
            each mapped slice counts from 0, as a loop would.
        stream: Philox stream id (int or traced integer).
        random_bits: explicit words instead of a seed: uint32 (x's shape),
            or uint64 (64-bit words, x64).
        out_dtype: result dtype (default x's); must hold every value of fmt.
        grad: the VJP: 'ste' (straight-through, identity) or 'clipped'
            (zero where ``|x| > fmt.max``).
        grad_format, grad_rounding, grad_seed, grad_stream: round the
            cotangent to a format too (SR needs ``grad_seed``).

    Example:
        >>> import jax.numpy as jnp, floatsim_jax as fj
        >>> fj.quantize(jnp.full(4, 1.0625), "e4m3", "sr", seed=7).tolist()
        [1.0, 1.0, 1.125, 1.125]
    """
    x = float_input(x)
    in_dt = np.dtype(x.dtype)
    out = in_dt if out_dtype is None else float_kind(static(out_dtype, "out_dtype"))
    f = static_format(fmt)
    out = _out_dtype(out if out is not None else out_dtype, f)
    cast = Cast.make(in_dt, f, rounding, overflow=overflow, subnormals=subnormals, daz=daz,
                     seed=seed, random_bits=random_bits, sr_bits=sr_bits, out_dtype=out)
    grad = static(grad, "grad")
    if grad not in _GRADS:
        raise ValueError(f"grad={grad!r} is not a gradient rule; allowed: {', '.join(_GRADS)}")
    gcast = None
    if grad_format is not None:
        gf = static_format(grad_format, "grad_format")
        _out_dtype(out, gf)
        gcast = Cast.make(out, gf, grad_rounding, seed=grad_seed, out_dtype=out)
    elif grad_seed is not None:
        raise ValueError("grad_seed= applies with grad_format= and grad_rounding='stochastic'")
    # seeds and streams become arrays here so that the custom_vjp sees only arrays
    rand = (_as_array_seed(seed), stream_word(stream), random_bits, _as_array_seed(grad_seed),
            stream_word(grad_stream))
    return ste.apply(_QuantizeOp(cast, in_dt, out, grad, gcast), x, rand)


def _as_array_seed(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        if not 0 <= int(v) < 2**64:
            raise ValueError(f"seed={v!r} must be an int in 0..2**64-1")
        return np.array([int(v) >> 32, int(v) & 0xFFFFFFFF], np.uint32)  # a raw key: same words
    return v


def encode(
    x: Any,
    fmt: Format | str,
    rounding: Rounding | str = "nearest_even",
    *,
    overflow: Overflow | str | None = None,
    subnormals: bool | None = None,
    daz: bool = False,
    seed: Any = None,
    stream: Any = 0,
    random_bits: Any = None,
    sr_bits: int | None = None,
) -> Array:
    """The codes of ``x`` rounded to ``fmt`` (``code_dtype(fmt)``), as
    ``floatsim.encode``.  NaN into a format without NaN gives the all-ones
    code (the core raises; a jitted function cannot), as the core's GPU does.

    Example:
        >>> import jax.numpy as jnp, floatsim_jax as fj
        >>> fj.encode(jnp.array([6.0, -0.5, 5.0]), "e2m1").tolist()
        [7, 9, 6]
    """
    x = float_input(x)
    cast = Cast.make(np.dtype(x.dtype), fmt, rounding, overflow=overflow, subnormals=subnormals,
                     daz=daz, seed=seed, random_bits=random_bits, sr_bits=sr_bits,
                     out_dtype=np.dtype(np.float32) if x.dtype != np.float64 else None)
    return _dispatch(x, cast, _as_array_seed(seed), stream, random_bits, np.dtype(np.float32), True)


@functools.lru_cache(maxsize=256)
def _value_bits(fmt: Format, dt: np.dtype) -> np.ndarray:
    """Every code's value in ``dt``, as bits, by the core's decode (the table
    the core's CPU decode reads), then NaN for codes past the end."""
    vals = fs.decode(np.arange(fmt.num_codes, dtype=fs.code_dtype(fmt)), fmt, dt)
    return vals.view(np.dtype(f"u{dt.itemsize}"))


@functools.partial(jax.jit, static_argnames=("out",))
def _run_lookup(codes: Array, table: Array, nan_bits: Array, *, out: np.dtype) -> Array:
    idx = codes.astype(jnp.int32) if codes.dtype.itemsize < 4 else codes
    ok = (idx >= 0) & (idx < table.shape[0])
    bits = jnp.where(ok, table[jnp.clip(idx, 0, table.shape[0] - 1)], nan_bits)
    return lax.bitcast_convert_type(bits, out)


@functools.partial(jax.jit, static_argnames=("out",))
def _run_decode_general(codes: Array, params: Array, *, out: np.dtype) -> Array:
    it = jnp.int64 if jax.config.jax_enable_x64 else jnp.int32
    c = codes.astype(it)
    parts = decode_parts(c, params.astype(it))
    nan, inf, neg, sig, ex = parts
    if np.dtype(out) == np.float64:
        sig, ex = sig.astype(jnp.uint64), ex.astype(jnp.int64)
    else:
        sig, ex = sig.astype(jnp.uint32), ex.astype(jnp.int32)
    return lax.bitcast_convert_type(compose_bits(nan, inf, neg, sig, ex, out), out)


_TABLE_CODES = 1 << 16


def decode(codes: Any, fmt: Format | str, dtype: Any = jnp.float32) -> Array:
    """The values of integer ``codes`` of ``fmt`` as ``dtype`` (as
    ``floatsim.decode``); codes out of range give NaN (the core raises).

    Example:
        >>> import jax.numpy as jnp, floatsim_jax as fj
        >>> fj.decode(jnp.arange(8, dtype=jnp.uint8), "e2m1").tolist()
        [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
    """
    f = static_format(fmt)
    c = jnp.asarray(codes) if not hasattr(codes, "dtype") else codes
    if not jnp.issubdtype(c.dtype, jnp.integer):
        raise TypeError(f"codes has dtype {c.dtype}; decode needs an integer array")
    out = _out_dtype(dtype, f)
    if f.num_codes <= _TABLE_CODES:
        table = _value_bits(f, out)
        nan = np.array(np.nan, out).view(table.dtype)
        return _run_lookup(c, table, nan, out=out)
    if f.bits > 31 or out == np.float64:
        require_x64(f"decode of {f} into {out}")
    return _run_decode_general(c, make_params(f), out=out)
