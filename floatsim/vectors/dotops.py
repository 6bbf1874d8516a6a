"""The ``dot`` and ``mx_dot`` operations: dot products of length N as an arithmetic
unit with an accumulator spec computes them (floatsim.mac).

``dot``: fields ``a`` (N lanes of the operand type ``src``), ``b`` (N lanes of
``src_b``), [``r``: one k-bit random word per accumulator rounding, ``steps``
lanes, when the spec rounds stochastically], ``y``: the result as a code of
the spec's output format.  ``mx_dot`` (the OCP MX dot product of
:func:`floatsim.mac.mx_dot`): ``a`` (N element codes of the block format
``format``), ``sa`` (one E8M0 scale code per block of a), ``b``, ``sb`` (of
``format_b``), [``r``], ``y``.  The spec is any :mod:`floatsim.mac` preset by
name or a custom one (a dict of AccumulatorSpec fields, with ``base``: a
preset they change); the header holds every field.  The spec's SR seed and
stream are not used: each case carries its words.

The expected results come from floatsim.mac's models
(:func:`floatsim.mac.dot`; with explicit words or block scales, the same
pipeline in :func:`floatsim.vectors.macmodel.dots`); ``fv.verify`` recomputes
any sample with :mod:`floatsim.mac.reference` (Fractions).  The cases
(:mod:`floatsim.vectors.dotcases`) are chosen to tell accumulators apart.

Example:
    >>> import floatsim.vectors as fv
    >>> vs = fv.generate("dot", src="e4m3", spec="hopper_fp8", level=0)
    >>> [(f.name, f.lanes) for f in vs.fields], fv.verify(vs, sample=5)
    ([('a', 64), ('b', 64), ('y', 1)], [])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import blocks, cast
from .. import reference as ref
from ..formats import Format
from ..rounding import Rounding
from . import cases
from .dotcases import VectorBuilder, cut_points, dot_vectors, on_grid, random_vectors
from .operands import operand_bits, operand_field, operand_format, operand_type, operand_values
from .ops import LEVEL_RANDOM, Operation, format_name, register
from .vectorset import FieldSpec, VectorSet

__all__ = ["Dot", "MXDot", "MAX_N"]

#: The longest dot product a vectors file holds.
MAX_N = 4096


def _spec(params: dict[str, Any]) -> Any:
    from .macmodel import spec_from

    return spec_from({k: v for k, v in params["spec"].items()})


def _configure_spec(spec: Any, n: int | None, unit: int) -> tuple[dict[str, Any], int]:
    """The spec as header JSON and the length N (default: two promotion intervals,
    else two groups, else two ``unit``)."""
    from .macmodel import spec_dict, spec_from, spec_label

    s = spec_from(spec)
    d = spec_dict(s)
    d["name"] = spec_label(s)
    if n is None:
        n = 2 * (s.promote_every or max(s.group or 1, unit))
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N:
        raise ValueError(f"n={n!r} is out of range; allowed: 1..{MAX_N} (the dot product's length)")
    return d, n


def _rows(values: np.ndarray, lanes: int) -> np.ndarray:
    """A field's column as (cases, lanes) (a one-lane field is stored as (cases,))."""
    return np.asarray(values).reshape(-1, lanes)


def _words_of(inputs: dict[str, np.ndarray], steps: int) -> np.ndarray | None:
    """The random words of the cases as (cases, steps), or None without SR."""
    r = inputs.get("r")
    return None if r is None else _rows(r, steps)


def _row_words(row: dict[str, Any]) -> list[int] | None:
    """One case's random words as the oracle takes them (a list, one per step)."""
    r = row.get("r")
    return None if r is None else [int(x) for x in np.ravel(r)]


def _check_random(random: int | None) -> None:
    if random is not None and not (isinstance(random, int) and random >= 0):
        raise ValueError(f"random={random!r} must be a count >= 0")


class _DotBase(Operation):
    """What ``dot`` and ``mx_dot`` share: the spec, the words, the result, the checker."""

    needs_format = False
    nan_any = True

    def spec(self, params: dict[str, Any]) -> Any:
        """The set's AccumulatorSpec."""
        return _spec(params)

    def steps(self, params: dict[str, Any]) -> int:
        """Accumulator roundings per case (random words per case under SR)."""
        g = params["spec"]["group"] or 1
        return -(-params["n"] // g)

    def stochastic(self, params: dict[str, Any]) -> bool:
        return params["spec"]["acc_rounding"] == "stochastic"

    def output_format(self, params: dict[str, Any]) -> Format:
        return self.spec(params).output

    def _word_field(self, params: dict[str, Any]) -> list[FieldSpec]:
        if not self.stochastic(params):
            return []
        return [FieldSpec("r", "in", "uint", params["spec"]["sr_bits"], self.steps(params))]

    def _out_field(self, params: dict[str, Any]) -> FieldSpec:
        out = self.spec(params).output
        return FieldSpec("y", "out", "code", out.bits, fmt=format_name(out))

    def operands(self, params: dict[str, Any], inputs: dict[str, np.ndarray]) -> dict[str, Any]:
        """The cases as the models take them: ``a``, ``b`` (float32, (R, N)), ``x``
        (block scale exponents or None), ``r`` (the words or None)."""
        raise NotImplementedError

    def evaluate(self, params: dict[str, Any], ops: dict[str, Any], spec: Any = None,
                 words: np.ndarray | None = None) -> np.ndarray:
        """float64 values of the results of :meth:`operands` under ``spec`` (default
        the set's) with ``words`` (default the set's)."""
        from .. import mac
        from .macmodel import dots

        spec = spec or self.spec(params)
        w = None
        if spec.acc_rounding is Rounding.STOCHASTIC:
            w = ops["r"] if words is None else words
        elif ops["x"] is None:
            return mac.dot(ops["a"], ops["b"], spec).astype(np.float64)
        return dots(ops["a"], ops["b"], spec, words=w, scale_exp=ops["x"], block=ops["block"])

    def model(self, params: dict[str, Any], inputs: dict[str, np.ndarray], spec: Any = None,
              words: np.ndarray | None = None) -> np.ndarray:
        """float64 values of the results of the cases ``inputs`` (codes)."""
        return self.evaluate(params, self.operands(params, inputs), spec, words)

    def compute(self, params: dict[str, Any], inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"y": self.result_codes(params, self.model(params, inputs))}

    def result_codes(self, params: dict[str, Any], values: np.ndarray, spec: Any = None) -> np.ndarray:
        """Codes of result values (already values of the output format)."""
        out = (spec or self.spec(params)).output
        return cast.encode(values, out).astype(np.uint64)

    def _words(self, params: dict[str, Any], rows: int, seed: int, structured: int
               ) -> np.ndarray | None:
        """Random words: uniform k-bit words per case; the first ``structured``
        cases repeat with all-zero and all-one words (added by the caller)."""
        if not self.stochastic(params):
            return None
        k = params["spec"]["sr_bits"]
        w = cases.random_words(seed, rows * self.steps(params), stream=30)
        return (w & np.uint64((1 << k) - 1)).reshape(rows, self.steps(params))

    def _finish(self, params: dict[str, Any], cols: dict[str, np.ndarray], seed: int,
                n_structured: int) -> dict[str, np.ndarray]:
        """Words, dedupe (structured rows), and cases with NaN results dropped where
        the output format has no NaN."""
        rows = next(iter(cols.values())).shape[0]
        words = self._words(params, rows, seed, n_structured)
        if words is not None:
            k = params["spec"]["sr_bits"]
            m = min(n_structured, 256)
            extra = {f: np.concatenate([v[:m], v[:m]]) for f, v in cols.items()}
            cols = {f: np.concatenate([v, extra[f]]) for f, v in cols.items()}
            words = np.concatenate([words, np.zeros((m, words.shape[1]), np.uint64),
                                    np.full((m, words.shape[1]), (1 << k) - 1, np.uint64)])
            cols["r"] = words
        names = list(cols)
        lanes = [(f, cols[f].shape[1]) for f in names]
        flat = [cols[f][:, j] for f, w in lanes for j in range(w)]
        struct = np.arange(next(iter(cols.values())).shape[0]) < n_structured
        if words is not None:
            struct[-2 * min(n_structured, 256):] = True
        keep_rows = np.flatnonzero(struct)
        uniq = cases.dedupe(*[c[keep_rows] for c in flat])
        flat = [np.concatenate([u, c[~struct]]) for u, c in zip(uniq, flat)]
        out, i = {}, 0
        for f, w in lanes:  # (cases, lanes), or (cases,) for a one-lane field
            out[f] = np.stack(flat[i:i + w], axis=1) if w > 1 else flat[i]
            i += w
        if not self.spec(params).output.has_nan:
            keep = ~np.isnan(self.model(params, out))
            out = {f: v[keep] for f, v in out.items()}
        return out

    def classify(self, vs: VectorSet, got: dict[str, np.ndarray], idx: np.ndarray,
                 unknown: np.ndarray) -> np.ndarray:
        from .macdiag import dot_classify

        return dot_classify(self, vs, got, idx, unknown)

    def candidates(self, vs: VectorSet) -> list[tuple[str, Any]]:
        from .macdiag import dot_candidates

        return dot_candidates(self, vs)

    def named(self, vs: VectorSet) -> set[str]:
        from .macdiag import preset_labels

        return preset_labels()


# ---- dot --------------------------------------------------------------------------------------------
class Dot(_DotBase):
    """``a``, ``b`` (N lanes) [, ``r``] -> ``y``: the dot product under an accumulator spec."""

    name = "dot"
    summary = "a dot product of length N under an accumulator spec (floatsim.mac presets or custom)"

    def configure(self, *, src: Format | str = "float32", src_b: Format | str | None = None,
                  spec: Any = "fp32", n: int | None = None, random: int | None = None
                  ) -> dict[str, Any]:
        a = operand_type(src, "src")
        b = a if src_b is None else operand_type(src_b, "src_b")
        d, n = _configure_spec(spec, n, 8)
        _check_random(random)
        return {"src": a, "src_b": b, "spec": d, "n": n, "random": random}

    def fields(self, params: dict[str, Any]) -> tuple[FieldSpec, ...]:
        n = params["n"]
        return (operand_field("a", params["src"], n), operand_field("b", params["src_b"], n),
                *self._word_field(params), self._out_field(params))

    def cases(self, params: dict[str, Any], level: int, seed: int) -> dict[str, np.ndarray]:
        spec = self.spec(params)
        vb = VectorBuilder(params["src"], params["src_b"], params["n"], seed)
        fam = dot_vectors(vb, spec)
        count = params["random"]
        if count is None:
            count = LEVEL_RANDOM.get(level, 0) * 16 // max(params["n"], 16)
        ra, rb = random_vectors(vb, spec, count)
        a = np.vstack([f[0] for f in fam])
        b = np.vstack([f[1] for f in fam])
        cols = {"a": np.vstack([self._bits(a, vb.fa, params["src"]), self._bits(ra, vb.fa, params["src"])]),
                "b": np.vstack([self._bits(b, vb.fb, params["src_b"]), self._bits(rb, vb.fb, params["src_b"])])}
        return self._finish(params, cols, seed, a.shape[0])

    @staticmethod
    def _bits(v: np.ndarray, fmt: Format, name: str) -> np.ndarray:
        return operand_bits(on_grid(v, fmt).reshape(-1), name).reshape(v.shape)

    def operands(self, params: dict[str, Any], inputs: dict[str, np.ndarray]) -> dict[str, Any]:
        n = params["n"]
        return {"a": _rows(operand_values(inputs["a"], params["src"]), n).astype(np.float32),
                "b": _rows(operand_values(inputs["b"], params["src_b"]), n).astype(np.float32),
                "x": None, "block": None, "r": _words_of(inputs, self.steps(params))}

    def oracle(self, params: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
        from ..mac import reference as mref

        spec = self.spec(params)
        a, b = (operand_values(np.array(row[f], np.uint64).reshape(-1), params[k]).tolist()
                for f, k in (("a", "src"), ("b", "src_b")))
        v = mref.dot(a, b, spec, random_bits=_row_words(row))
        return {"y": ref.encode_value(v, spec.output)}

    def operand_names(self, params: dict[str, Any]) -> list[str]:
        """The operand types (for the product-rounding variants)."""
        return [params["src"], params["src_b"]]


# ---- mx_dot -----------------------------------------------------------------------------------------
def _mx_format(name: str, what: str) -> Any:
    bf = blocks.format(name)
    if not bf.name or blocks.format(bf.name) != bf:
        raise ValueError(f"{what}={name!r}: mx_dot vectors need a registered block format name")
    el, sc = bf.element, bf.scale
    if not isinstance(el, Format):
        raise ValueError(f"{what}={bf.name!r} has {el} elements; mx_dot vectors take float elements")
    if bf.block is None or len(bf.block) != 1 or bf.block[0] is None or bf.tensor_format is not None:
        raise ValueError(f"{what}={bf.name!r}: mx_dot vectors take 1-D blocks with one level of "
                         "scales (OCP MX)")
    if sc.mbits != 0 or sc.has_zero:
        raise ValueError(f"{what}={bf.name!r} has {sc} scales; floatsim.mac.mx_dot takes power-of-"
                         "two scales (E8M0)")
    operand_type(format_name(el), what)
    return bf


class MXDot(_DotBase):
    """``a``, ``sa``, ``b``, ``sb`` [, ``r``] -> ``y``: the OCP MX dot product."""

    name = "mx_dot"
    summary = "the OCP MX dot product (elements and E8M0 block scales) under an accumulator spec"

    def configure(self, *, format: str, format_b: str | None = None,  # noqa: A002
                  spec: Any = "fp32", n: int | None = None, random: int | None = None
                  ) -> dict[str, Any]:
        fa = _mx_format(format, "format")
        fb = _mx_format(format_b or fa.name, "format_b")
        if fa.block != fb.block:
            raise ValueError(f"format={fa.name!r} and format_b={fb.name!r} have blocks {fa.block} "
                             f"and {fb.block}; they must be equal")
        d, n = _configure_spec(spec, n, int(fa.block[0]))
        _check_random(random)
        return {"format": fa.name, "format_b": fb.name, "spec": d, "n": n, "random": random}

    def block(self, params: dict[str, Any]) -> int:
        return int(blocks.format(params["format"]).block[0])

    def nblk(self, params: dict[str, Any]) -> int:
        return -(-params["n"] // self.block(params))

    def _types(self, params: dict[str, Any]) -> tuple[str, str, str, str]:
        fa, fb = blocks.format(params["format"]), blocks.format(params["format_b"])
        return (format_name(fa.element), format_name(fa.scale), format_name(fb.element),
                format_name(fb.scale))

    def operand_names(self, params: dict[str, Any]) -> list[str]:
        ea, _, eb, _ = self._types(params)
        return [ea, eb]

    def fields(self, params: dict[str, Any]) -> tuple[FieldSpec, ...]:
        n, nb = params["n"], self.nblk(params)
        ea, sa, eb, sb = self._types(params)
        return (operand_field("a", ea, n), FieldSpec("sa", "in", "code", 8, nb, fmt=sa),
                operand_field("b", eb, n), FieldSpec("sb", "in", "code", 8, nb, fmt=sb),
                *self._word_field(params), self._out_field(params))

    def cases(self, params: dict[str, Any], level: int, seed: int) -> dict[str, np.ndarray]:
        spec = self.spec(params)
        ea, sa, eb, sb = self._types(params)
        n, nb, blk = params["n"], self.nblk(params), self.block(params)
        vb = VectorBuilder(ea, eb, n, seed)
        fam = dot_vectors(vb, spec)
        a = np.vstack([f[0] for f in fam])
        b = np.vstack([f[1] for f in fam])
        xa = np.zeros((a.shape[0], nb), np.int64)  # scale exponents: 1 for the families
        xb = np.zeros_like(xa)
        ga, gb, gxa, gxb = self._scale_gaps(vb, spec, nb, blk)
        count = params["random"]
        if count is None:
            count = LEVEL_RANDOM.get(level, 0) * 16 // max(n, 16)
        ra, rb = random_vectors(vb, spec, count)
        rw = cases.random_words(seed, 2 * count * nb, stream=40).reshape(2, count, nb)
        near = (rw % np.uint64(33)).astype(np.int64) - 16
        wide = (rw % np.uint64(255)).astype(np.int64) - 127
        rx = np.where((np.arange(count) % 4 == 3)[None, :, None], wide, near)
        A = np.vstack([a, ga, ra])
        B = np.vstack([b, gb, rb])
        XA = np.vstack([xa, gxa, rx[0]])
        XB = np.vstack([xb, gxb, rx[1]])
        SA = self._scale_codes(XA, sa)
        SB = self._scale_codes(XB, sb)
        nan_a, nan_b = self._nan_scale_rows(A.shape[0], nb, sa, sb)
        cols = {"a": Dot._bits(A, vb.fa, ea), "sa": SA, "b": Dot._bits(B, vb.fb, eb), "sb": SB}
        nstruct = a.shape[0] + ga.shape[0]
        if nan_a is not None:  # NaN scales in the first, last block of the first cut rows
            m = min(8, a.shape[0])
            extra = {f: v[:m].copy() for f, v in cols.items()}
            extra["sa"][:, 0] = nan_a
            extra["sb"][:, -1] = nan_b
            cols = {f: np.concatenate([v[:nstruct], extra[f], v[nstruct:]]) for f, v in cols.items()}
            nstruct += m
        return self._finish(params, cols, seed, nstruct)

    @staticmethod
    def _scale_codes(x: np.ndarray, name: str) -> np.ndarray:
        x = np.clip(x, -127, 127)
        return operand_bits(np.ldexp(1.0, x).reshape(-1), name).reshape(x.shape)

    @staticmethod
    def _nan_scale_rows(rows: int, nb: int, sa: str, sb: str) -> tuple[int | None, int | None]:
        fa, fb = operand_format(sa), operand_format(sb)
        if not (fa.has_nan and fb.has_nan):
            return None, None
        return (int(cast.encode(np.array([math.nan]), fa)[0]),
                int(cast.encode(np.array([math.nan]), fb)[0]))

    def _scale_gaps(self, vb: VectorBuilder, spec: Any, nb: int, blk: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Blocks whose scales put their products a gap below block 0's (every gap
        up to 3 past the largest cut point), elements of one binade: power-of-two
        and long significands; and the extreme scales (2**+-127 on both sides)."""
        n = vb.n
        gaps = list(range(0, cut_points(spec)[-1] + 4))
        rows_a, rows_b, xa, xb = [], [], [], []
        for long in (False, True):
            for d in gaps:
                ep = np.zeros((1, n), np.int64)
                a, b = vb.products(ep, np.ones((1, n)), long)
                x = np.where(np.arange(nb) == 0, 0, -d)
                rows_a.append(a[0])
                rows_b.append(b[0])
                xa.append(x)
                xb.append(np.zeros(nb, np.int64))
        for ea, eb in ((127, 127), (-127, -127), (127, -127), (120, 0), (-120, -10)):
            a, b = vb.products(np.zeros((1, n), np.int64), vb.signs((1, n)), True)
            rows_a.append(a[0])
            rows_b.append(b[0])
            xa.append(np.full(nb, ea))
            xb.append(np.full(nb, eb))
        return np.array(rows_a), np.array(rows_b), np.array(xa), np.array(xb)

    @staticmethod
    def scale_exponents(codes: np.ndarray, name: str) -> np.ndarray:
        """int64 exponents of scale codes (NAN_SCALE for NaN)."""
        from ..mac.scalar import NAN_SCALE

        v = operand_values(codes, name)
        _, e = np.frexp(np.where(np.isnan(v), 1.0, v))
        return np.where(np.isnan(v), NAN_SCALE, e - 1).astype(np.int64)

    def operands(self, params: dict[str, Any], inputs: dict[str, np.ndarray]) -> dict[str, Any]:
        from ..mac.scalar import NAN_SCALE

        ea, sa, eb, sb = self._types(params)
        n, nb = params["n"], self.nblk(params)
        xa = _rows(self.scale_exponents(inputs["sa"], sa), nb)
        xb = _rows(self.scale_exponents(inputs["sb"], sb), nb)
        return {"a": _rows(operand_values(inputs["a"], ea), n).astype(np.float32),
                "b": _rows(operand_values(inputs["b"], eb), n).astype(np.float32),
                "x": np.where((xa >= NAN_SCALE) | (xb >= NAN_SCALE), NAN_SCALE, xa + xb),
                "block": self.block(params), "r": _words_of(inputs, self.steps(params))}

    def oracle(self, params: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
        from ..mac import reference as mref

        spec = self.spec(params)
        ea, sa, eb, sb = self._types(params)
        vals = [operand_values(np.array(row[f], np.uint64).reshape(-1), t).tolist()
                for f, t in (("a", ea), ("sa", sa), ("b", eb), ("sb", sb))]
        v = mref.mx_dot(*vals, spec, block=self.block(params), random_bits=_row_words(row))
        return {"y": ref.encode_value(v, spec.output)}


register(Dot())
register(MXDot())
