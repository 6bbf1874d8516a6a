"""The core's float32 fast path (:func:`floatsim.kernels.fast32.quantize_f32_bits`)
in ``lax`` uint32 operations, with the constants of
:func:`floatsim.kernels.fast32.make_consts` (one source: this module derives
nothing from a Format itself).

It is the integer form of the core's sequence (the CUDA kernels' form below
the normal range: results rebuilt from integer bits, no float product), so
that XLA's flushing of float32 subnormals on the CPU (it runs with FTZ/DAZ)
never touches a value: every step is a uint32 operation.  The rounding mode
is a Python constant (one traced rule per mode, as the core's kernels have
one loop per mode); the constants are arrays, so one compiled function
serves every format.

Example:
    >>> import numpy as np, floatsim as fs
    >>> from floatsim_jax.fast32 import consts_array, quantize_f32_bits
    >>> c = consts_array(fs.format("e4m3"), fs.Rounding.NEAREST_EVEN)
    >>> u = np.float32([460.0, 0.3]).view(np.uint32)
    >>> np.asarray(quantize_f32_bits(u, c, 0)).view(np.float32).tolist()
    [448.0, 0.3125]
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from floatsim import Format, Overflow, Rounding
from floatsim.cpu.tables import encode_table
from floatsim.kernels.abi import ODD, RDN, RNA, RNE, RTZ, RUP, SR
from floatsim.kernels.fast32 import (
    C_EMIN_B,
    C_FTZ,
    C_HAS_ZERO,
    C_INF_IN,
    C_M,
    C_MAX_BITS,
    C_MIN_BITS,
    C_NEG_RESULT,
    C_OVF_NEAR,
    C_OVF_TRUNC,
    C_SIGNED,
    C_SR_BITS,
    C_SUB_SCALE,
    C_TRUNC_CODE_OFF,
    C_ZERO_IN,
    C_ZERO_SIGNED,
    make_consts,
)

__all__ = ["N_CONSTS", "consts_array", "quantize_f32_bits", "code_of_f32", "shift_consts"]

U = np.uint32
N_CONSTS = C_SUB_SCALE + 1
_NAN32, _INF32 = U(0x7FC00000), U(0x7F800000)


def consts_array(fmt: Format, rounding: Rounding, overflow: Overflow | None = None,
                 subnormals: bool | None = None, sr_bits: int = 0) -> np.ndarray:
    """make_consts' tuple as uint32: signed entries as two's complement, the
    float C_SUB_SCALE (2**(emin - M), a float32 value) as its float32 bits."""
    c = make_consts(fmt, rounding, overflow, subnormals, sr_bits)
    vals = [int(v) & 0xFFFFFFFF for v in c[:C_SUB_SCALE]]
    vals.append(int(np.float32(c[C_SUB_SCALE]).view(np.uint32)))
    return np.array(vals, dtype=np.uint32)


def _pow2_bits(e: Any) -> Any:
    """float32 bits of 2**e (int32 e, -149 <= e <= 127), subnormals included."""
    normal = (jnp.maximum(e, -126) + 127).astype(jnp.uint32) << U(23)
    sub = U(1) << jnp.clip(e + 149, 0, 22).astype(jnp.uint32)
    return jnp.where(e >= -126, normal, sub)


def shift_consts(c: Any, k: Any) -> list[Any]:
    """The constants of the element format with its range shifted by 2**k
    (``k`` int32, broadcast), as ``floatsim.kernels.blocks_cpu.shift_consts``
    builds them; valid while emin + k >= -126 and emax + k <= 127."""
    c = [c[i] for i in range(N_CONSTS)]
    ku = k.astype(jnp.uint32)
    d = ku << U(23)
    mx = c[C_MAX_BITS] + d
    mn = c[C_MIN_BITS] + d
    out = list(c)
    out[C_EMIN_B] = c[C_EMIN_B] + ku
    out[C_MAX_BITS] = mx
    out[C_OVF_TRUNC] = mx
    out[C_OVF_NEAR] = jnp.where(c[C_OVF_NEAR] == c[C_MAX_BITS], mx, c[C_OVF_NEAR])
    out[C_INF_IN] = jnp.where(c[C_INF_IN] == c[C_MAX_BITS], mx, c[C_INF_IN])
    out[C_MIN_BITS] = mn
    out[C_ZERO_IN] = jnp.where(c[C_ZERO_IN] == c[C_MIN_BITS], mn, c[C_ZERO_IN])
    out[C_TRUNC_CODE_OFF] = c[C_TRUNC_CODE_OFF] + ku
    # 2**(emin - M + k): emin - M from the unshifted constants
    step_e = c[C_EMIN_B].astype(jnp.int32) - 127 - c[C_M].astype(jnp.int32) + k
    out[C_SUB_SCALE] = _pow2_bits(step_e)
    return out


def _round_up(rnd: int, c: Any, neg: Any, rem: Any, d: Any, odd: Any, r_lo: Any) -> Any:
    """fast32._round_up's rule for any ``d`` (its general form)."""
    inexact = rem != 0
    if rnd in (RNE, RNA):
        two_rem = rem << U(1)
        step = U(1) << jnp.minimum(d, U(31))
        if rnd == RNE:
            return (two_rem + odd.astype(jnp.uint32)) > step
        return two_rem >= step
    if rnd == RUP:
        return inexact & ~neg
    if rnd == RDN:
        return inexact & neg
    if rnd == ODD:
        return inexact & ~odd
    if rnd == SR:
        k = c[C_SR_BITS]
        r = r_lo
        d32 = jnp.minimum(jnp.maximum(d, U(32)) - U(32), U(24))
        big = jnp.where(k > 0, r << (U(32) - jnp.minimum(k, U(32))), ~r)
        cadd = jnp.where(k > 0, U(0), (U(1) << d32) - U(1))
        frac = (rem + cadd) >> d32
        s = jnp.minimum(U(32) - jnp.minimum(d, U(32)), U(31))
        return (big >> s) > ((U(0xFFFFFFFF) >> s) - frac)
    return jnp.zeros_like(inexact)


def quantize_f32_bits(u: Any, c: Any, rnd: int, r_lo: Any = None) -> Any:
    """Float32 bits of the float32 values with bits ``u`` (uint32) rounded per
    the constants ``c`` (:func:`consts_array`, or per-element arrays from
    :func:`shift_consts`) in mode ``rnd`` (a Python int, the core's mode
    code); ``r_lo`` holds the 32-bit random words for SR."""
    u = jnp.asarray(u, jnp.uint32)
    c = [c[i] for i in range(N_CONSTS)]
    a = u & U(0x7FFFFFFF)
    s = u ^ a
    neg = s != 0
    e = a >> U(23)
    M, emin_b, off = c[C_M], c[C_EMIN_B], c[C_TRUNC_CODE_OFF]
    d0 = jnp.minimum(U(23) - M, U(31))
    eb = jnp.maximum(e, U(1))
    sig = a - ((eb - U(1)) << U(23))
    d = jnp.minimum(d0 + (jnp.maximum(emin_b, eb) - eb), U(56))
    dc = jnp.minimum(d, U(31))
    lo = sig >> dc
    rem = sig - (lo << dc)
    tc = lo + jnp.where(M > 0, U(0), jnp.maximum(eb, off) - off)
    up = _round_up(rnd, c, neg, rem, d, (tc & U(1)) != 0, r_lo).astype(jnp.uint32)
    # up to 23 dropped bits the result keeps a's leading bit (bit patterns are
    # linear in the value through the subnormals); beyond, it is 0 or one step
    r = jnp.where(d <= 23, (a - rem) + (up << dc), jnp.where(up != 0, c[C_SUB_SCALE], U(0)))
    return _finish(r, a, s, c, rnd, neg)


def _finish(r: Any, a: Any, s: Any, c: Any, rnd: int, neg: Any) -> Any:
    """fast32._finish: overflow, flushing, specials and sign."""
    if rnd in (RTZ, ODD):
        toward = jnp.ones_like(neg)
    elif rnd == RDN:
        toward = ~neg
    elif rnd == RUP:
        toward = neg
    else:
        toward = jnp.zeros_like(neg)
    r = jnp.where(r > c[C_MAX_BITS], jnp.where(toward, c[C_OVF_TRUNC], c[C_OVF_NEAR]), r)
    low_limit = jnp.where((c[C_FTZ] != 0) | (c[C_HAS_ZERO] == 0), c[C_MIN_BITS], U(0))
    r = jnp.where(r < low_limit, jnp.where(c[C_FTZ] != 0, U(0), c[C_MIN_BITS]), r)
    r = jnp.where(a == 0, c[C_ZERO_IN], jnp.where(a == _INF32, c[C_INF_IN], r))
    s = jnp.where(((r == 0) & (c[C_ZERO_SIGNED] == 0)) | (r == _NAN32), U(0), s)
    unsigned_neg = neg & (c[C_SIGNED] == 0) & (a != 0)
    r = jnp.where(unsigned_neg, c[C_NEG_RESULT], r)
    s = jnp.where(unsigned_neg, U(0), s)
    r = jnp.where(a > _INF32, _NAN32, r)
    return r | s


def code_table(fmt: Format) -> np.ndarray | None:
    """The core's encode table for ``fmt`` (kernels.code_table), or None."""
    return encode_table(fmt)


def code_of_f32(r: Any, u: Any, table: Any) -> Any:
    """The code of the fast path's result bits ``r`` for the input bits ``u``
    (its sign picks NaN's code), by the core's table (code_table's rule)."""
    nan = (r & U(0x7FFFFFFF)) > _INF32
    neg = u >> U(31)
    ent = jnp.asarray(table)[jnp.where(nan, U(512) + neg, r >> U(23))]
    return (ent & U(0xFFFF)) + ((r & U(0x7FFFFF)) >> (ent >> U(16)))
