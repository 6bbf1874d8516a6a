"""The ``fma`` operation: ``a*b + c`` rounded once into a format (fusedMultiplyAdd).

One case is three operands and the result: ``a`` and ``b`` of the operand
types ``src`` / ``src_b`` (an IEEE type's bits or a format's code; their
values must be float32 values), ``c`` of ``src_c`` (any type; default the
result format, or float64 for results wider than 16 bits that are not an
IEEE type), [``r``: the k-bit random word of stochastic rounding], ``y``: the
code of ``a*b + c`` rounded once into ``format`` by ``rounding``, with IEEE
754's specials and signs of zero (docs/mac.md).  The expected results come
from :func:`floatsim.mac.fma`; :func:`floatsim.vectors.verify` recomputes
any sample with :func:`floatsim.mac.reference.fma` (Fractions).

**Cases** (docs/vectors.md, "FMA and dot-product vectors"):

* **every (a, b) pair** when both operand types have at most 8 bits
  (65,536 pairs for two 8-bit types), ``c`` chosen per pair by the rule
  ``c=``: ``zero`` (``-0``, the additive identity: the case is the product
  rounded once, its zero sign kept; ``+0`` where ``src_c`` has no -0),
  ``random`` (a uniformly random code of ``src_c``; for IEEE types half
  uniform bit patterns, half exponents over the result's range),
  ``boundary`` (the default: one of :data:`ADDENDS`, picked per pair by the
  seed's random words, each a function of the exact product ``p``) or
  ``every`` (every code of ``src_c``: all (a, b, c) triples, for code
  operands of up to :data:`MAX_TRIPLES` triples; 4,096 for E2M1);
* otherwise **targeted products** over the result format's whole range
  (every exponent from below its smallest subnormal to above its largest
  value, short and long significands), each with every one of
  :data:`ADDENDS`: cancellation (exact and with a residue), doubling,
  overflow into inf, subnormal results, ties of the result format;
* **specials**: every triple of signed zeros, infinities, NaN, +-1, +-max
  and +-the smallest value of each type (all levels);
* **random** triples (level 1: 1,000, 2: 10**5, 3: 10**6; ``random=``):
  half uniform codes / bit patterns, half a product exponent uniform over
  the result's range with ``c`` within ``mbits + 4`` binades of it;
* with stochastic rounding, per triple the words 0, all ones, the threshold
  word and its neighbours and random words (as ``sr``).

Example:
    >>> import floatsim.vectors as fv
    >>> vs = fv.generate("fma", format="e4m3", level=0)     # every (a, b) pair of E4M3
    >>> [f.name for f in vs.fields], vs.n >= 65536, fv.verify(vs, sample=20)
    (['a', 'b', 'c', 'y'], True, [])
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .. import cast
from .. import reference as ref
from ..formats import Format
from ..registry import format as lookup
from ..rounding import Rounding
from . import cases
from .classify import class_id, classify_codes
from .operands import operand_bits, operand_field, operand_format, operand_type, operand_values
from .ops import LEVEL_RANDOM, Operation, format_name, register
from .vectorset import FieldSpec, VectorSet

__all__ = ["ADDENDS", "C_RULES", "FMA", "MAX_TRIPLES", "addends", "all_addends"]

#: The rules that choose ``c`` for every (a, b) pair (``every``: every code of
#: ``src_c`` with every pair: all triples, for up to :data:`MAX_TRIPLES`).
C_RULES = ("zero", "boundary", "random", "every")

#: The most (a, b, c) triples ``c='every'`` writes (e3m2 or e2m3 cubed: 2**18).
MAX_TRIPLES = 1 << 20

#: The boundary addends, as functions of the exact product p (sign s = sign(p),
#: rounded into c's type with overflow saturating; docs/vectors.md).
ADDENDS = (
    "+0",
    "-0",
    "-p toward zero (cancellation: exact zero, or the residue below c's precision)",
    "-p away from zero (cancellation, a residue of the other sign)",
    "p to nearest (doubling: a binade up, overflow near max)",
    "s * max(c) (overflow into inf / saturation)",
    "-s * max(c) (cancellation at the top)",
    "-s * min(c) (a sticky bit below p; subnormal results)",
    "s * min(c)",
    "s * half an ulp of the result at p (a tie when p is on the result's grid)",
    "-s * half an ulp of the result at p (the tie below)",
    "a random value of c's type",
)


def _quantizer(name: str):  # noqa: ANN202
    if name == "float64":
        return lambda x, mode: np.asarray(x, np.float64)
    fmt = operand_format(name)
    return lambda x, mode: cast.quantize(np.asarray(x, np.float64), fmt, mode, overflow="saturate")


def _random_values(name: str, fmt: Format, n: int, seed: int, stream: int) -> np.ndarray:
    """Random values of type ``name``: codes uniformly, or (IEEE types) half uniform
    bit patterns, half exponents over ``fmt``'s range."""
    if name in cases.DTYPES:
        return cases.from_bits(cases.random_inputs(name, fmt, n, seed, stream), name)
    f = operand_format(name)
    w = cases.random_words(seed, n, stream)
    return operand_values(w % np.uint64(f.num_codes), name)


def addends(rule: str, p: np.ndarray, result: Format, src_c: str, seed: int) -> np.ndarray:
    """Values of ``c`` (on ``src_c``'s grid) for the exact products ``p`` by ``rule``
    (:data:`C_RULES` but ``every``): ``zero``, ``random``, or ``boundary`` (one
    of :data:`ADDENDS` per product, picked by the seed).

    Example:
        >>> import floatsim as fs
        >>> addends("zero", np.array([1.5, 3.0]), fs.format("e4m3"), "e4m3", 0).tolist()
        [-0.0, -0.0]
    """
    C = operand_format(src_c)
    n = p.size
    if rule == "zero":
        return np.full(n, -0.0 if C.has_negzero else 0.0)
    if rule == "random":
        return _random_values(src_c, result, n, seed, stream=12)
    j = (cases.random_words(seed, n, stream=11) % np.uint64(len(ADDENDS))).astype(np.intp)
    return np.choose(j, all_addends(p, result, src_c, seed))


def all_addends(p: np.ndarray, result: Format, src_c: str, seed: int) -> list[np.ndarray]:
    """Each of :data:`ADDENDS` for every product ``p`` (NaN / inf products take
    those of 1.0: the case then tests the special product).

    Example:
        >>> import floatsim as fs
        >>> cs = all_addends(np.array([1.25]), fs.format("e2m1"), "e2m1", 0)
        >>> [float(c[0]) for c in cs[2:6]]   # -p toward zero, away, p to nearest, max
        [-1.0, -1.5, 1.0, 6.0]
    """
    C = operand_format(src_c)
    q = _quantizer(src_c)
    pf = np.where(np.isfinite(p), p, 1.0)
    s = np.where(np.signbit(pf), -1.0, 1.0)
    ap = np.abs(pf)
    _, e = np.frexp(np.where(ap > 0, ap, 1.0))
    half = np.ldexp(1.0, np.maximum(e - 1, result.emin) - result.mbits - 1)
    cmax = C.max if src_c != "float64" else np.finfo(np.float64).max
    cmin = C.min_subnormal if src_c != "float64" else 5e-324
    zero = np.zeros(p.size)
    with np.errstate(over="ignore"):
        return [zero, -zero,  # (-0 becomes +0 where c's type has no -0)
                -q(pf, "toward_zero"), -s * q(ap, "up"), q(pf, "nearest_even"),
                s * cmax, -s * cmax, -s * cmin, s * cmin,
                s * q(half, "nearest_even"), -s * q(half, "nearest_even"),
                _random_values(src_c, result, p.size, seed, stream=13)]


def _split(ep: np.ndarray, A: Format, B: Format) -> tuple[np.ndarray, np.ndarray]:
    """Exponents (ea, eb) with ea + eb = ep, each within its type's range where possible."""
    lo_a, lo_b = A.emin - A.mbits, B.emin - B.mbits
    ea = np.clip(ep // 2, lo_a, A.emax)
    eb = np.clip(ep - ea, lo_b, B.emax)
    ea = np.clip(ep - eb, lo_a, A.emax)
    return ea, eb


class FMA(Operation):
    """``a``, ``b``, ``c`` [, ``r``] -> ``y`` = the code of ``a*b + c`` rounded once."""

    name = "fma"
    summary = "a*b+c rounded once into a format (every (a, b) pair of 8-bit operands)"
    nan_any = True

    def configure(self, *, format: Format | str, src: Format | str | None = None,  # noqa: A002
                  src_b: Format | str | None = None, src_c: Format | str | None = None,
                  rounding: Rounding | str = "nearest_even", overflow: str | None = None,
                  subnormals: bool | None = None, sr_bits: int | None = None,
                  c: str = "boundary", random: int | None = None) -> dict[str, Any]:
        from ..mac.spec import check_float_format

        F = lookup(format)
        fname = format_name(F)
        mode = Rounding.parse(rounding)
        if mode is Rounding.STOCHASTIC:
            if not (isinstance(sr_bits, int) and 1 <= sr_bits <= 32):
                raise ValueError(f"sr_bits={sr_bits!r}: stochastic FMA vectors are k-bit SR "
                                 "(floatsim.mac.fma); give sr_bits in 1..32")
        elif sr_bits is not None:
            raise ValueError(f"sr_bits={sr_bits!r} applies to rounding='stochastic' only")
        check_float_format(F, "format", extra_bits=sr_bits or 0)
        if src is None:
            try:
                a = operand_type(fname, "src")
            except ValueError:
                a = "float32"
        else:
            a = operand_type(src, "src")
        b = a if src_b is None else operand_type(src_b, "src_b")
        if src_c is None:
            src_c = fname if fname in cases.DTYPES or F.bits <= 16 else "float64"
        cc = operand_type(src_c, "src_c", multiplicand=False)
        ov = None if overflow is None else F.check_overflow(overflow).value
        if subnormals is False and F.ebits == 0:
            raise ValueError("subnormals=False needs a format with ebits >= 1")
        if c not in C_RULES:
            raise ValueError(f"c={c!r} is not a rule for the addend; allowed: {', '.join(C_RULES)}")
        if c == "every":
            kinds = [t for t in (a, b, cc) if t in cases.DTYPES]
            n = np.prod([float(operand_format(t).num_codes) for t in (a, b, cc)])
            if kinds or n > MAX_TRIPLES:
                raise ValueError(f"c='every' (all (a, b, c) triples) needs code operands with at "
                                 f"most {MAX_TRIPLES} triples; src={a}, src_b={b}, src_c={cc} "
                                 f"{'are IEEE types' if kinds else f'give {n:.0f}'}")
        if random is not None and not (isinstance(random, int) and random >= 0):
            raise ValueError(f"random={random!r} must be a count >= 0")
        return {"src": a, "src_b": b, "src_c": cc, "format": fname, "rounding": mode.name.lower(),
                "overflow": ov, "subnormals": subnormals, "sr_bits": sr_bits, "c": c,
                "random": random}

    @staticmethod
    def result_format(params: dict[str, Any]) -> Format:
        """The result format with the set's overflow policy and subnormal setting."""
        F = lookup(params["format"])
        ch: dict[str, Any] = {}
        if params["overflow"] is not None:
            ch["overflow"] = params["overflow"]
        if params["subnormals"] is not None:
            ch["subnormals"] = params["subnormals"]
        return dataclasses.replace(F, **ch) if ch else F

    def output_format(self, params: dict[str, Any]) -> Format:
        return lookup(params["format"])

    def fields(self, params: dict[str, Any]) -> tuple[FieldSpec, ...]:
        out = [operand_field("a", params["src"]), operand_field("b", params["src_b"]),
               operand_field("c", params["src_c"])]
        if params["sr_bits"] is not None:
            out.append(FieldSpec("r", "in", "uint", params["sr_bits"]))
        F = lookup(params["format"])
        out.append(FieldSpec("y", "out", "code", F.bits, fmt=params["format"]))
        return tuple(out)

    # ---- cases ------------------------------------------------------------------------------
    def cases(self, params: dict[str, Any], level: int, seed: int) -> dict[str, np.ndarray]:
        A, B, C = params["src"], params["src_b"], params["src_c"]
        F = lookup(params["format"])
        fa, fb = operand_format(A), operand_format(B)
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        if params["c"] == "every":
            ta, tb, tc = np.meshgrid(*(np.arange(operand_format(t).num_codes, dtype=np.uint64)
                                       for t in (A, B, C)), indexing="ij")
            parts.append((ta.reshape(-1), tb.reshape(-1), tc.reshape(-1)))
        elif A not in cases.DTYPES and B not in cases.DTYPES and fa.bits <= 8 and fb.bits <= 8:
            a = np.repeat(np.arange(fa.num_codes, dtype=np.uint64), fb.num_codes)
            b = np.tile(np.arange(fb.num_codes, dtype=np.uint64), fa.num_codes)
            with np.errstate(invalid="ignore"):  # 0 * inf
                p = operand_values(a, A) * operand_values(b, B)
            parts.append((a, b, self._c_bits(addends(params["c"], p, F, C, seed), C)))
        else:
            parts.append(self._targeted(A, B, C, F, seed))
        parts.append(self._specials(A, B, C))
        structured = cases.dedupe(*(np.concatenate(col) for col in zip(*parts)))
        n_rand = params["random"] if params["random"] is not None else LEVEL_RANDOM.get(level, 0)
        cols = list(structured)
        if n_rand:
            rnd = self._random(A, B, C, F, n_rand, seed)
            cols = [np.concatenate([s, r]) for s, r in zip(cols, rnd)]
        out = {"a": cols[0], "b": cols[1], "c": cols[2]}
        if params["sr_bits"] is not None:
            k = params["sr_bits"]
            prod, c = self._values(params, out)
            from .macmodel import ro_sum

            ii, ww = cases.sr_words(ro_sum(prod, c), F, k, k, seed, extra=max(1, level))
            x = [out[f][ii] for f in "abc"]
            if ii.size <= 1 << 22:
                *x, ww = cases.dedupe(*x, ww)
            out = {"a": x[0], "b": x[1], "c": x[2], "r": ww}
        if not F.has_nan:  # a NaN result has no code there: such cases are left out
            keep = ~np.isnan(self._model(params, out))
            out = {k: v[keep] for k, v in out.items()}
        return out

    @staticmethod
    def _c_bits(c: np.ndarray, src_c: str) -> np.ndarray:
        C = operand_format(src_c)
        if not C.has_nan:
            c = np.where(np.isnan(c), 0.0, c)
        return operand_bits(c, src_c)

    def _targeted(self, A: str, B: str, C: str, F: Format, seed: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Products of every exponent of the result's range with short and long
        significands, each with every addend of :data:`ADDENDS`."""
        fa, fb = operand_format(A), operand_format(B)
        ep = np.arange(F.emin - F.mbits - 3, F.emax + 3)
        ea, eb = _split(ep, fa, fb)
        w = cases.random_words(seed, 2 * ep.size, stream=14)
        ra = 1.0 + (w[:ep.size] >> np.uint64(11)).astype(np.float64) * 2.0**-53
        rb = 1.0 + (w[ep.size:] >> np.uint64(11)).astype(np.float64) * 2.0**-53
        top_a, top_b = 2.0 - 2.0**-fa.mbits, 2.0 - 2.0**-fb.mbits
        sigs = [(1.0, 1.0), (1.5, 1.0), (1.5, 1.5), (1.75, 1.25), (top_a, top_b), (ra, rb)]
        qa, qb = _quantizer(A), _quantizer(B)
        av = np.concatenate([qa(np.ldexp(sa * np.ones(ep.size), ea), "nearest_even")
                             for sa, _ in sigs])
        bv = np.concatenate([qb(np.ldexp(sb * np.ones(ep.size), eb), "nearest_even")
                             for _, sb in sigs])
        neg = (cases.random_words(seed, av.size, stream=15) & np.uint64(3)).astype(np.intp)
        av = np.where(neg & 1, -av, av)
        bv = np.where(neg & 2, -bv, bv)
        cs = all_addends(av * bv, F, C, seed)
        m = len(cs)
        a_bits, b_bits = operand_bits(av, A), operand_bits(bv, B)
        return (np.tile(a_bits, m), np.tile(b_bits, m),
                np.concatenate([self._c_bits(c, C) for c in cs]))

    @staticmethod
    def _special_values(name: str) -> np.ndarray:
        f = operand_format(name)
        big = f.max if name != "float64" else np.finfo(np.float64).max
        small = f.min_subnormal if name != "float64" else 5e-324
        v = [0.0, 1.0, big, small]
        if f.has_negzero:
            v.append(-0.0)
        if f.signed:
            v += [-1.0, -big, -small]
        if f.has_inf:
            v += [np.inf, -np.inf]
        if f.has_nan:
            v.append(np.nan)
        return np.array(v)

    def _specials(self, A: str, B: str, C: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        va, vb, vc = (operand_bits(self._special_values(n), n) for n in (A, B, C))
        g = np.meshgrid(va, vb, vc, indexing="ij")
        return tuple(x.reshape(-1) for x in g)  # type: ignore[return-value]

    def _random(self, A: str, B: str, C: str, F: Format, n: int, seed: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Half uniform codes / bit patterns; half a product exponent over the
        result's range and ``c`` within ``mbits + 4`` binades of it."""
        h = n // 2
        uni = [operand_bits(_random_values(t, F, h, seed, stream=16 + i), t) if t not in cases.DTYPES
               else cases.random_words(seed, h, 16 + i) & np.uint64((1 << cases.DTYPES[t][0]) - 1)
               for i, t in enumerate((A, B, C))]
        m = n - h
        w = cases.random_words(seed, 6 * m, stream=19).reshape(6, m)
        ep = F.emin - F.mbits - 2 + (w[0] % np.uint64(F.emax - F.emin + F.mbits + 5)).astype(np.int64)
        ea, eb = _split(ep, operand_format(A), operand_format(B))
        sig = [1.0 + (x >> np.uint64(11)).astype(np.float64) * 2.0**-53 for x in w[1:4]]
        sgn = [np.where(w[4] & np.uint64(1 << i), -1.0, 1.0) for i in range(3)]
        span = F.mbits + 4
        d = (w[5] % np.uint64(2 * span + 1)).astype(np.int64) - span
        av = _quantizer(A)(sgn[0] * np.ldexp(sig[0], ea), "nearest_even")
        bv = _quantizer(B)(sgn[1] * np.ldexp(sig[1], eb), "nearest_even")
        with np.errstate(over="ignore"):
            cv = _quantizer(C)(sgn[2] * np.ldexp(sig[2], ep + d), "nearest_even")
        return tuple(np.concatenate([u, v]) for u, v in  # type: ignore[return-value]
                     zip(uni, (operand_bits(av, A), operand_bits(bv, B), self._c_bits(cv, C))))

    # ---- expected values -----------------------------------------------------------------------
    @staticmethod
    def _values(params: dict[str, Any], inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(the exact products a*b, c) as float64."""
        a = operand_values(inputs["a"], params["src"])
        b = operand_values(inputs["b"], params["src_b"])
        with np.errstate(invalid="ignore"):  # 0 * inf
            return a * b, operand_values(inputs["c"], params["src_c"])

    def _model(self, params: dict[str, Any], inputs: dict[str, np.ndarray], *,
               fmt: Format | None = None, rounding: str | None = None, sr_bits: int | None = None,
               words: np.ndarray | None = None) -> np.ndarray:
        """:func:`floatsim.mac.fma` on the cases (float64 values of the result)."""
        from .. import mac

        with np.errstate(invalid="ignore"):  # NaN payloads
            a = operand_values(inputs["a"], params["src"]).astype(np.float32)
            b = operand_values(inputs["b"], params["src_b"]).astype(np.float32)
        c = operand_values(inputs["c"], params["src_c"])
        mode = rounding or params["rounding"]
        kw: dict[str, Any] = {}
        if mode == "stochastic":
            kw = {"sr_bits": sr_bits or params["sr_bits"],
                  "random_bits": (inputs["r"] if words is None else words).astype(np.uint32)}
        return mac.fma(a, b, c, fmt or self.result_format(params), mode, **kw)

    def compute(self, params: dict[str, Any], inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        F = self.result_format(params)
        return {"y": cast.encode(self._model(params, inputs), F).astype(np.uint64)}

    def oracle(self, params: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
        from ..mac import reference as mref

        F = self.result_format(params)
        va, vb, vc = (float(operand_values(np.array([row[f]], np.uint64), params[k])[0])
                      for f, k in (("a", "src"), ("b", "src_b"), ("c", "src_c")))
        kw = {}
        if params["rounding"] == "stochastic":
            kw = {"random_bits": int(row["r"]), "sr_bits": params["sr_bits"]}
        return {"y": ref.encode_value(mref.fma(va, vb, vc, F, params["rounding"], **kw), F)}

    # ---- the checker ---------------------------------------------------------------------------
    def unfused(self, params: dict[str, Any], inputs: dict[str, np.ndarray], target: Format,
                words: np.ndarray | None = None) -> np.ndarray:
        """Codes of the result when the product is first rounded into ``target``
        (by the set's rounding; nearest even under SR), then added to ``c`` with a
        second rounding: what a multiply-then-add (not fused) unit gives."""
        from .macmodel import fma_rounded

        F = self.result_format(params)
        mode = params["rounding"]
        prod, c = self._values(params, inputs)
        pr = cast.quantize(prod, target, "nearest_even" if mode == "stochastic" else mode)
        r = None if mode != "stochastic" else (inputs["r"] if words is None else words)
        return fma_rounded(pr, c, F, mode, r, params["sr_bits"])

    def classify(self, vs: VectorSet, got: dict[str, np.ndarray], idx: np.ndarray,
                 unknown: np.ndarray) -> np.ndarray:
        """The conversion classes judged on the exact ``a*b + c``, except that when
        rounding the product first (into the result format or float32) explains
        every mismatch that is not an x/z, invalid-code or NaN/inf-input case,
        those are all ``product_rounded``."""
        from .macmodel import ro_sum

        p = vs.params
        sub = {k: v[idx] for k, v in vs.data.items()}
        prod, c = self._values(p, sub)
        exp, g = vs.data["y"][idx], got["y"][idx]
        cls = classify_codes(ro_sum(prod, c), exp, g, self.result_format(p), p["rounding"],
                             stochastic=p["rounding"] == "stochastic", unknown=unknown)
        two = np.zeros(idx.size, bool)
        for target in self._unfused_targets(p):
            two |= self.unfused(p, sub, target) == g
        keep = [class_id(n) for n in ("unknown_output", "invalid_code", "nan_code", "nan_input",
                                      "inf_input")]
        free = ~np.isin(cls, keep) & ~unknown
        if free.any() and two[free].all():  # every mismatch is explained so: say so for each
            cls[free] = class_id("product_rounded")
        return cls

    @staticmethod
    def _unfused_targets(params: dict[str, Any]) -> list[Format]:
        F = FMA.result_format(params)
        f32 = lookup("float32")
        return [F] if F == f32 else [F, f32]

    def candidates(self, vs: VectorSet) -> list[tuple[str, Any]]:
        from .macdiag import fma_candidates

        return fma_candidates(self, vs)


register(FMA())
