"""The ``block`` operation: MX and NVFP4 block quantization, elements and scales.

One case is one block of ``B`` float32 values (``x``, B lanes) and, for a
two-level format such as NVFP4, the float32 tensor scale ``t`` as an input;
the outputs are the block's scale code ``s`` and its element codes ``e``
(B lanes), as :func:`floatsim.blocks.encode` gives them (docs/blocks.md).
1-D blocks of float elements with the scale rules FLOOR (OCP MX), RCEIL and
AMAX (NVFP4) have an exact oracle here (``rule=`` replaces a registered
format's rule); rounding is any deterministic mode.

Cases: for every float32 exponent the block maximum can have, a block whose
largest element has that exponent (significands 1, 1.5, 1.75 and the largest
below 2), the other lanes on the element grid scaled by the block's scale
(every element value and tie between neighbours, 1 float32 ulp off them, both
signs) for a spread of exponents; blocks of zeros and -0, with NaN, +-inf,
float32 subnormals; NVFP4 blocks over the whole UE4M3 scale range (zero,
subnormal and saturating scales) under several tensor scales; and random
blocks (normal values times a random power of two).

Example:
    >>> import floatsim.vectors as fv
    >>> vs = fv.generate("block", format="mxfp4_e2m1")
    >>> [(f.name, f.lanes) for f in vs.fields]
    [('x', 32), ('s', 1), ('e', 32)]
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from .. import blocks
from .. import reference as ref
from ..blocks import BlockFormat, ScaleRule
from ..formats import Format
from ..rounding import Rounding
from . import cases
from .classify import class_id, classify_codes
from .fileio import code_values
from .ops import LEVEL_RANDOM, Operation, format_name, register
from .vectorset import FieldSpec, VectorSet

__all__ = ["Block"]

_RULES = (ScaleRule.FLOOR, ScaleRule.RCEIL, ScaleRule.AMAX)
#: NVFP4 tensor scales the cases cycle through: 1, a power of two, the scale of a
#: tensor whose amax is 448*6, and an arbitrary float32.
_TENSOR_SCALES = (1.0, 2.0**-10, 1.0 / (448 * 6), 0.0123456789)


def _bformat(name: str, rule: str | None = None) -> BlockFormat:
    """The block format of a set: a registered name, with its scale rule replaced."""
    bf = blocks.format(name)
    if rule is not None and ScaleRule.parse(rule) is not bf.rule:
        bf = bf.with_(rule=rule)
    if not isinstance(bf.element, Format):
        raise ValueError(f"block vectors take float elements; {bf} has {bf.element} elements")
    if bf.block is None or len(bf.block) != 1 or bf.block[0] is None:
        raise ValueError(f"block vectors take 1-D blocks; {bf} has block {bf.block}")
    if bf.rule not in _RULES:
        raise ValueError(f"block vectors take rules {', '.join(r.value for r in _RULES)}; "
                         f"{bf} has rule {bf.rule.value!r}")
    return bf


class Block(Operation):
    """``x`` (a block of float32 values) [, ``t``] -> ``s`` (scale code), ``e`` (element codes)."""

    name = "block"
    summary = "MX / NVFP4 block quantization of one block of float32 values: scale and elements"

    def configure(self, *, format: str, rounding: Rounding | str = "nearest_even",  # noqa: A002
                  rule: str | None = None, random: int | None = None) -> dict[str, Any]:
        named = blocks.format(format)
        if not named.name or blocks.format(named.name) != named:
            raise ValueError(f"block vectors need a registered block format name; got {named!r}")
        rule = None if rule is None else ScaleRule.parse(rule).value
        _bformat(named.name, rule)
        mode = Rounding.parse(rounding)
        if mode is Rounding.STOCHASTIC:
            raise ValueError("block vectors use the deterministic rounding modes; "
                             "stochastic rounding of blocks draws seeded Philox words")
        if random is not None and not (isinstance(random, int) and random >= 0):
            raise ValueError(f"random={random!r} must be a count >= 0")
        return {"format": named.name, "rule": rule, "rounding": mode.name.lower(), "random": random}

    def fields(self, params: dict[str, Any]) -> tuple[FieldSpec, ...]:
        bf = _bformat(params["format"], params["rule"])
        el, sc = bf.element, bf.scale
        out = [FieldSpec("x", "in", "float32", 32, bf.block[0])]
        if bf.tensor_format is not None:
            out.append(FieldSpec("t", "in", "float32", 32))
        out += [FieldSpec("s", "out", "code", sc.bits, fmt=_name(sc)),
                FieldSpec("e", "out", "code", el.bits, bf.block[0], fmt=_name(el))]
        return tuple(out)

    def output_format(self, params: dict[str, Any]) -> Format:
        return _bformat(params["format"], params["rule"]).element

    # ---- cases ------------------------------------------------------------------------------
    def cases(self, params: dict[str, Any], level: int, seed: int) -> dict[str, np.ndarray]:
        bf = _bformat(params["format"], params["rule"])
        B = bf.block[0]
        el = bf.element
        grid = np.abs(el.values())
        grid = np.unique(grid[np.isfinite(grid)])
        pts = np.concatenate([grid, (grid[:-1] + grid[1:]) / 2, [1.5 * 2.0**el.emax * 1.25]])
        two = bf.tensor_format is not None
        rows: list[np.ndarray] = []
        ts: list[float] = []
        w = cases.random_words(seed, 1 << 16, stream=3)
        # every exponent the block maximum can take, four significands each
        sig = np.array([1.0, 1.5, 1.75, 2.0 - 2.0**-23])
        for a in range(-149, 128):
            t = _TENSOR_SCALES[a % len(_TENSOR_SCALES)] if two else 1.0
            X = 2.0**(a - el.emax)
            k = (a + 149) * 7
            lanes = pts[(w[k:k + B] % np.uint64(pts.size)).astype(np.intp)] * X
            lanes = np.where(w[k + 1:k + 1 + B] & np.uint64(1), -lanes, lanes)
            for m in sig:
                blk = lanes.copy()
                blk[0] = m * 2.0**a
                rows.append(blk * t)
                ts.append(t)
        # the whole element grid, scaled, for a spread of exponents
        full = np.concatenate([pts, -pts])
        ulp = np.concatenate([np.nextafter(full.astype(np.float32), np.float32(np.inf)),
                              np.nextafter(full.astype(np.float32), np.float32(-np.inf))])
        full = np.concatenate([full, ulp.astype(np.float64)])
        for a in (-140, -126, -120, -60, -1, 0, 1, 60, 120, 127):
            X = 2.0**(a - el.emax)
            for i in range(0, full.size, B - 1):
                chunk = full[i:i + B - 1] * X
                blk = np.concatenate([[2.0**a * 1.25], chunk, np.zeros(B - 1 - chunk.size)])
                t = _TENSOR_SCALES[i % len(_TENSOR_SCALES)] if two else 1.0
                rows.append(blk * t)
                ts.append(t)
        # specials: zeros and -0, NaN, +-inf, float32 subnormals and max
        z = np.zeros(B)
        specials = [z, -z, np.where(np.arange(B) % 2, -0.0, 0.0)]
        for v in (np.nan, np.inf, -np.inf, 3.4028234663852886e38):
            b = np.linspace(-1, 1, B)
            b[B // 2] = v
            specials.append(b)
        specials.append(np.ldexp(np.linspace(-1, 1, B), -130))
        for s in specials:
            for t in (_TENSOR_SCALES if two else (1.0,)):
                rows.append(s)
                ts.append(t)
        if two:  # block maxima across UE4M3's whole range, from zero scale to saturation
            for sexp in range(-12, 11):
                for t in _TENSOR_SCALES:
                    blk = np.linspace(-1, 1, B) * 6 * t * 2.0**sexp * 1.3
                    rows.append(blk)
                    ts.append(t)
        n_rand = params["random"] if params["random"] is not None else LEVEL_RANDOM.get(level, 0) // 10
        if n_rand:
            g = cases.random_words(seed, n_rand * (B + 2), stream=4)
            u = (g[:n_rand * B] >> np.uint64(11)).astype(np.float64) * 2.0**-53
            normal = np.sqrt(-2 * np.log1p(-u)) * np.cos(2 * np.pi * u[::-1])
            e = (g[n_rand * B:n_rand * B + n_rand] % np.uint64(200)).astype(np.int64) - 100
            rb = normal.reshape(n_rand, B) * np.ldexp(1.0, e)[:, None]
            tt = np.array(_TENSOR_SCALES)[(g[-n_rand:] % np.uint64(4)).astype(np.intp)]
            rows += list(rb * (tt[:, None] if two else 1.0))
            ts += list(tt if two else np.ones(n_rand))
        with np.errstate(over="ignore"):
            x = np.array(rows, dtype=np.float64).astype(np.float32).view(np.uint32)
        out = {"x": x.astype(np.uint64)}
        if two:
            out["t"] = np.array(ts, dtype=np.float32).view(np.uint32).astype(np.uint64)
        uniq = cases.dedupe(*([out["x"][:, j] for j in range(B)] + ([out["t"]] if two else [])))
        out["x"] = np.stack(uniq[:B], axis=1)
        if two:
            out["t"] = uniq[B]
        return out

    def classify(self, vs: VectorSet, got: dict[str, np.ndarray], idx: np.ndarray,
                 unknown: np.ndarray) -> np.ndarray:
        """``block_scale`` where the scale differs; otherwise the class of the
        first differing element, judged on ``x / (scale * t)``."""
        bf = _bformat(vs.params["format"], vs.params["rule"])
        s_exp, s_got = vs.data["s"][idx], got["s"][idx]
        e_exp, e_got = vs.data["e"][idx], got["e"][idx]
        lane = np.argmax(e_exp != e_got, axis=1)
        rows = np.arange(idx.size)
        x = cases.from_bits(vs.data["x"][idx, lane], "float32")
        t = cases.from_bits(vs.data["t"][idx], "float32") if "t" in vs.data else 1.0
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            scaled = x / (code_values(bf.scale, s_exp) * t)
        cls = classify_codes(scaled, e_exp[rows, lane], e_got[rows, lane], bf.element,
                             vs.params["rounding"], unknown=unknown)
        cls[(s_exp != s_got) & ~unknown] = class_id("block_scale")
        return cls

    # ---- expected values ---------------------------------------------------------------------
    def compute(self, params: dict[str, Any], inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        bf = _bformat(params["format"], params["rule"])
        x = inputs["x"].astype(np.uint32).view(np.float32)
        s = np.zeros((x.shape[0],), np.uint64)
        e = np.zeros(x.shape, np.uint64)
        if bf.tensor_format is None:
            groups = [(None, np.arange(x.shape[0]))]
        else:
            t = inputs["t"].astype(np.uint32).view(np.float32)
            groups = [(float(v), np.flatnonzero(t == v)) for v in np.unique(t)]
        for t, idx in groups:
            kw = {} if t is None else {"tensor_scale": t}
            res = blocks.encode(x[idx], bf, params["rounding"], axis=-1, **kw)
            e[idx] = res[0].astype(np.uint64)
            s[idx] = res[1][:, 0].astype(np.uint64)
        return {"s": s, "e": e}

    def oracle(self, params: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
        bf = _bformat(params["format"], params["rule"])
        el, sc = bf.element, bf.scale
        xs = [float(np.uint32(v).view(np.float32)) for v in row["x"]]
        T = Fraction(float(np.uint32(row["t"]).view(np.float32))) if "t" in row else Fraction(1)
        ov = (bf.element_overflow or el.overflow).value
        nan = math.nan
        nan_block = {"s": ref.encode_value(nan, sc),
                     "e": [ref.encode_value(nan, el) if el.has_nan else 0] * len(xs)}
        if any(math.isnan(v) for v in xs) and sc.has_nan:
            return nan_block
        finite = [abs(Fraction(v)) for v in xs if math.isfinite(v)]
        amax = math.inf if any(math.isinf(v) for v in xs) else max(finite, default=Fraction(0))
        if bf.rule is ScaleRule.AMAX or (bf.rule is ScaleRule.RCEIL and sc.mbits > 0):
            mode = "up" if bf.rule is ScaleRule.RCEIL else "nearest_even"
            sov = "nan" if bf.scale_overflow == "nan" else "saturate"
            if amax == math.inf:
                scale = ref.round_value(math.inf, sc, mode, overflow=sov)
            else:
                scale = ref.round_value(amax / (Fraction(el.max) * T), sc, mode, overflow=sov)
        else:
            scale = self._pow2_scale(bf, amax, T)
        if isinstance(scale, float) and math.isnan(scale):
            return nan_block
        s_code = ref.encode_value(scale, sc)
        X = Fraction(scale) * T
        codes = []
        for v in xs:
            if X == 0 or v == 0:  # a zero keeps its sign (a Fraction would lose it)
                codes.append(ref.encode_value(math.copysign(0.0, v), el))
            elif math.isfinite(v):
                codes.append(ref.encode_value(Fraction(v) / X, el, params["rounding"], overflow=ov))
            else:
                codes.append(ref.encode_value(v, el, params["rounding"], overflow=ov))
        return {"s": s_code, "e": codes}

    @staticmethod
    def _pow2_scale(bf: BlockFormat, amax: Fraction | float, T: Fraction) -> Fraction | float:
        """The power-of-two scale of FLOOR / RCEIL (scale formats without a
        significand), or NaN where it overflows a NaN-policy scale format."""
        sc, el = bf.scale, bf.element
        kmin = int(math.log2(sc.min_subnormal))
        if amax == 0:
            return Fraction(2) ** kmin
        if amax == math.inf:
            k = None
        elif bf.rule is ScaleRule.RCEIL:  # 2**ceil(log2(amax / (max T)))
            r = amax / (Fraction(el.max) * T)
            c = _floor_log2(r)
            k = max(c if Fraction(2) ** c == r else c + 1, kmin)
        else:
            k = max(_floor_log2(amax / T) - el.emax, kmin)
        if k is None or k > sc.emax:
            return math.nan if bf.scale_overflow == "nan" else Fraction(2) ** sc.emax
        return Fraction(2) ** k


def _floor_log2(q: Fraction) -> int:
    e = q.numerator.bit_length() - q.denominator.bit_length()
    return e if Fraction(2) ** e <= q else e - 1


def _name(fmt: Format) -> str:
    return format_name(fmt)


register(Block())
