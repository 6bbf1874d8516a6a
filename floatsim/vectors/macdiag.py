"""What the checker tries on FMA and dot-product results: variants, classes, presets.

For a **dot** / **mx_dot** set the checker recomputes the cases under the
set's accumulator spec with one field changed (:func:`spec_variants`) and
under every :mod:`floatsim.mac` preset (with the set's output format), and
reports which of them the device matches on every case (as profiles do for
conversions).  Each mismatching case gets the class of the first group of
variants that reproduces it (:data:`DOT_CLASSES`, in order); when one
variant reproduces every mismatch, every mismatch gets its class.  Before
them come the value classes (an x/z digit, not a code, NaN for a number
and back, the sign of a zero), after them ``wrong_sign`` and ``dot_value``.

For an **fma** set: floatsim.mac.fma with another rounding mode, overflow
policy (and both), subnormal results flushed, ``-0`` lost, the product
rounded into the result format (or float32) before the addition, and for
stochastic rounding the word off by one, one bit fewer or more, its top bits,
or ignored.

Example:
    >>> import floatsim.mac as mac
    >>> from floatsim.vectors import operation
    >>> vs_params = operation("dot").configure(src="e4m3", spec="hopper_fp8")
    >>> [label for cls, label, _, _ in spec_variants(operation("dot"), vs_params)][:3]
    ['products rounded to float8_e4m3fn', 'products rounded to float16', 'align_rounding=nearest_even']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import cast
from ..formats import Format
from ..rounding import Rounding
from .classify import class_id
from .diagnose import negzero_lost, other_policies
from .vectorset import VectorSet

__all__ = ["DOT_CLASSES", "dot_candidates", "dot_classify", "fma_candidates", "preset_labels",
           "spec_variants"]

#: The dot-product classes judged by recomputing with one spec field changed, in order.
DOT_CLASSES = ("product_rounding", "align_rounding", "kept_bits_fewer", "kept_bits_more",
               "group_size", "accumulator_precision", "accumulator_rounding", "promotion",
               "sr_decision", "output_rounding")

Words = Callable[[np.ndarray], np.ndarray] | None
Run = Callable[[Any], tuple[np.ndarray, np.ndarray, bool]]


def preset_labels() -> set[str]:
    """The labels of the presets among the candidates.

    Example:
        >>> sorted(preset_labels())[:2]
        ['preset a100_fp16', 'preset bf16']
    """
    from ..mac.spec import PRESETS

    return {f"preset {name}" for name in PRESETS}


def spec_variants(op: Any, params: dict[str, Any]) -> list[tuple[str, str, Any, Words]]:
    """(class, label, spec, words) for each one-field change of the set's spec
    that the spec validation allows; ``words`` rewrites the random words."""
    s = op.spec(params)
    out: list[tuple[str, str, Any, Words]] = []

    def add(cls: str, label: str, words: Words = None, **changes: Any) -> None:
        try:
            v = s.replace(**changes)
        except (ValueError, TypeError):
            return
        if v != s or words is not None:
            out.append((cls, label, v, words))

    if s.product is None:
        for name in dict.fromkeys([*op.operand_names(params), "bfloat16", "float16", "float32"]):
            if not _holds_products(op, params, name):
                add("product_rounding", f"products rounded to {name}", product=name)
    else:
        add("product_rounding", "exact products (product=None)", product=None)
        for m in ("nearest_even", "toward_zero"):
            add("product_rounding", f"product_rounding={m}", product_rounding=m)
    if s.group is not None:
        for m in ("toward_zero", "nearest_even", "down", "nearest_away"):
            add("align_rounding", f"align_rounding={m}", align_rounding=m)
        b = s.kept_bits
        others = {b + d for d in (-3, -2, -1, 1, 2, 3)} | _preset_kept_bits()
        for kb in sorted(others - {b}, key=lambda v: (abs(v - b), v)):
            add("kept_bits_fewer" if kb < b else "kept_bits_more", f"kept_bits={kb}", kept_bits=kb)
        for g in (s.group // 2, s.group * 2):
            if g >= 1:
                add("group_size", f"group={g}", group=g)
        add("accumulator_precision", f"align_accumulator={not s.align_accumulator}",
            align_accumulator=not s.align_accumulator)
    if isinstance(s.accumulator, Format):
        for name in ("float32", "bfloat16", "float16"):
            add("accumulator_precision", f"accumulator={name}", accumulator=name)
        add("accumulator_precision", f"kahan={not s.kahan}", kahan=not s.kahan)
    sr = s.acc_rounding is Rounding.STOCHASTIC
    for m in ("nearest_even", "toward_zero"):
        add("sr_decision" if sr else "accumulator_rounding",
            f"acc_rounding={m}" + (" (the words ignored)" if sr else ""), acc_rounding=m, sr_bits=None)
    g = s.group or 1
    if s.promote_every is not None:
        add("promotion", "no promotion (promote_every=None)", promote_every=None)
    for K in sorted({g, 2 * g, 4 * g, 8 * g, 128, 256}):
        if K < params["n"] and K % g == 0 and K != s.promote_every:
            add("promotion", f"promote_every={K}", promote_every=K)
    if sr:
        k = s.sr_bits
        top = np.uint64((1 << k) - 1)
        one = np.uint64(1)
        add("sr_decision", "random word + 1", words=lambda w: (w + one) & top)
        add("sr_decision", "random word - 1", words=lambda w: (w - one) & top)
        for kk in (k - 1, k + 1):
            add("sr_decision", f"sr_bits={kk} (one bit {'fewer' if kk < k else 'more'})", sr_bits=kk)
        if k > 1:
            add("sr_decision", f"sr_bits={k - 1} from the word's top bits", words=lambda w: w >> one,
                sr_bits=k - 1)
    for m in ("nearest_even", "toward_zero"):
        add("output_rounding", f"output_rounding={m}", output_rounding=m)
    return out


def _preset_kept_bits() -> set[int]:
    from ..mac.spec import PRESETS

    return {p.kept_bits for p in PRESETS.values() if p.kept_bits is not None}


def _holds_products(op: Any, params: dict[str, Any], name: str) -> bool:
    """Whether the format ``name`` holds every product of the operand types exactly
    (so rounding the products into it changes nothing; never with block scales)."""
    from ..registry import format as lookup
    from .operands import operand_format

    if op.name != "dot":
        return False
    fa, fb = (operand_format(t) for t in op.operand_names(params))
    f = lookup(name)
    bits = fa.mbits + fb.mbits + 2
    return (f.mbits + 1 >= bits and f.emax >= fa.emax + fb.emax + 1
            and f.emin - f.mbits <= (fa.emin - fa.mbits) + (fb.emin - fb.mbits))


def _preset_specs(op: Any, params: dict[str, Any]) -> list[tuple[str, Any]]:
    from ..mac.spec import PRESETS

    s = op.spec(params)
    out = []
    for name, p in PRESETS.items():
        try:
            out.append((f"preset {name}", p.replace(output=s.output, output_rounding=s.output_rounding)))
        except ValueError:
            continue
    return out


def _dot_run(op: Any, params: dict[str, Any], ops: dict[str, Any], spec: Any, words: Words) -> Run:
    """A candidate on the decoded cases ``ops`` (see ``operands`` of the dot operations)."""
    def run(sel: Any) -> tuple[np.ndarray, np.ndarray, bool]:
        sub = {k: v if v is None or np.ndim(v) == 0 else v[sel] for k, v in ops.items()}
        w = None if words is None else words(sub["r"])
        codes = op.result_codes(params, op.evaluate(params, sub, spec=spec, words=w), spec)
        return codes, np.ones(codes.shape, bool), True
    return run


def dot_candidates(op: Any, vs: VectorSet) -> list[tuple[str, Run]]:
    """Every preset, then every variant of :func:`spec_variants`."""
    p = vs.params
    ops = op.operands(p, vs.data)
    out = [(label, _dot_run(op, p, ops, s, None)) for label, s in _preset_specs(op, p)]
    out += [(label, _dot_run(op, p, ops, s, w)) for _, label, s, w in spec_variants(op, p)]
    return out


def _value_classes(exp: np.ndarray, got: np.ndarray, fmt: Format, unknown: np.ndarray
                   ) -> np.ndarray:
    """-1 where no value class applies, else the class of the mismatch."""
    valid = got < np.uint64(fmt.num_codes)
    ve = cast.decode(exp.astype(np.int64), fmt, np.float64)
    vg = cast.decode(np.where(valid, got, 0).astype(np.int64), fmt, np.float64)
    with np.errstate(invalid="ignore"):
        conds = [unknown, ~valid, np.isnan(ve) & np.isnan(vg), np.isnan(vg), np.isnan(ve),
                 (ve == 0) & (vg == 0) & (np.signbit(ve) != np.signbit(vg))]
    names = ["unknown_output", "invalid_code", "nan_code", "nan_for_number", "number_for_nan",
             "signed_zero"]
    cls = np.select(conds, [class_id(c) for c in names], default=-1).astype(np.int8)
    late = (np.abs(vg) == np.abs(ve)) & (np.signbit(ve) != np.signbit(vg))
    return cls, late


def dot_classify(op: Any, vs: VectorSet, got: dict[str, np.ndarray], idx: np.ndarray,
                 unknown: np.ndarray) -> np.ndarray:
    """The class of each mismatching dot-product case (see the module docstring)."""
    p = vs.params
    fmt = op.output_format(p)
    exp, g = vs.data["y"][idx], got["y"][idx]
    cls, late = _value_classes(exp, g, fmt, np.asarray(unknown, bool))
    judge = np.flatnonzero(cls != class_id("unknown_output")) if idx.size else idx
    judge = judge[g[judge] < np.uint64(fmt.num_codes)]
    if not judge.size:
        return cls
    ops = op.operands(p, {f.name: vs.data[f.name][idx[judge]] for f in vs.inputs})
    rows = []
    for c, _, s, w in spec_variants(op, p):
        codes = _dot_run(op, p, ops, s, w)(slice(None))[0]
        rows.append((c, codes == g[judge]))
    for c, m in rows:  # one variant reproduces every mismatch: that is the class of each
        if m.all():
            cls[judge] = class_id(c)
            return cls
    open_ = cls[judge] < 0
    out = np.where(late[judge], class_id("wrong_sign"), class_id("dot_value")).astype(np.int8)
    done = np.zeros(judge.size, bool)
    for c, m in rows:
        new = m & ~done
        out[new] = class_id(c)
        done |= new
    cls[judge[open_]] = out[open_]
    return cls


# ---- FMA ---------------------------------------------------------------------------------------
def fma_candidates(op: Any, vs: VectorSet) -> list[tuple[str, Run]]:
    """The FMA variants (see the module docstring)."""
    p = vs.params
    F = op.result_format(p)
    sr = p["rounding"] == "stochastic"

    def model(fmt: Format = F, rounding: str | None = None, sr_bits: int | None = None,
              words: Words = None) -> Run:
        def run(sel: Any) -> tuple[np.ndarray, np.ndarray, bool]:
            sub = {f.name: vs.data[f.name][sel] for f in vs.inputs}
            w = None if words is None else words(sub["r"])
            v = op._model(p, sub, fmt=fmt, rounding=rounding, sr_bits=sr_bits, words=w)
            codes = cast.encode(v, fmt).astype(np.uint64)
            return codes, np.ones(codes.shape, bool), True
        return run

    def unfused(target: Format) -> Run:
        def run(sel: Any) -> tuple[np.ndarray, np.ndarray, bool]:
            sub = {f.name: vs.data[f.name][sel] for f in vs.inputs}
            codes = op.unfused(p, sub, target)
            return codes, np.ones(codes.shape, bool), True
        return run

    policies = other_policies(F, F.overflow.value)
    out: list[tuple[str, Run]] = []
    with_ov = {o: dataclasses.replace(F, overflow=o) for o in policies}
    if not sr:
        modes = [m.name.lower() for m in Rounding if m is not Rounding.STOCHASTIC
                 and m.name.lower() != p["rounding"]]
        out += [(f"rounding={m}", model(rounding=m)) for m in modes]
        out += [(f"overflow={o}", model(with_ov[o])) for o in policies]
        out += [(f"rounding={m}, overflow={o}", model(with_ov[o], m)) for m in modes for o in policies]
    else:
        k = p["sr_bits"]
        top, one = np.uint64((1 << k) - 1), np.uint64(1)
        out += [("random word + 1 (threshold off by one)", model(words=lambda w: (w + one) & top)),
                ("random word - 1 (threshold off by one)", model(words=lambda w: (w - one) & top))]
        out += [(f"sr_bits={kk} (one bit {'fewer' if kk < k else 'more'})", model(sr_bits=kk))
                for kk in (k - 1, k + 1) if 1 <= kk <= 32]
        if k > 1:
            out.append((f"sr_bits={k - 1} from the word's top bits (shifted right by one)",
                        model(sr_bits=k - 1, words=lambda w: w >> one)))
        out += [(f"overflow={o}", model(with_ov[o])) for o in policies]
        out += [(f"rounding={m} (the word ignored)", model(rounding=m))
                for m in ("toward_zero", "nearest_even")]
    for target in op._unfused_targets(p):
        out.append((f"product rounded to {target.name or target.spec()} before the addition "
                    "(not fused)", unfused(target)))
    if F.ebits >= 1 and F.subnormals:
        out.append(("subnormals flushed (subnormals=False)",
                    model(dataclasses.replace(F, subnormals=False))))
    if F.has_negzero:
        out.append(("-0 results become +0", negzero_lost(vs, F, nan_any=True)))
    return out
