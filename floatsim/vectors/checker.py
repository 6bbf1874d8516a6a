"""Check a device's results against golden vectors: count, show, classify, diagnose.

:func:`check` takes a vector set (or its file) and the device's results (a
results file, arrays, or a Python callable under test) and returns a
:class:`CheckReport`:

* the number of mismatching cases (a case mismatches when any output lane
  differs; float outputs compare NaN-equal, codes compare exactly);
* the first mismatching cases with inputs, expected and actual outputs in
  hex and in value;
* a class for every mismatch (:data:`floatsim.vectors.classify.CLASSES`)
  and the count per class;
* which behaviours the results match exactly: the named hardware profiles
  (:mod:`floatsim.vectors.profiles`) and floatsim's own casts with other
  parameters (another rounding mode, overflow policy, flush to zero,
  denormals-are-zero, ``-0`` lost, and for stochastic rounding the word
  off by one or one bit more or fewer), with the closest ones when none
  matches.

Example:
    >>> import numpy as np, floatsim as fs, floatsim.vectors as fv
    >>> vs = fv.generate("convert", src="float32", format="e4m3", overflow="saturate")
    >>> x = vs.data["x"].astype(np.uint32).view(np.float32)
    >>> rep = fv.check(vs, lambda x: fs.encode(x.astype(np.uint32).view(np.float32), "e4m3",
    ...                                       "nearest_away", overflow="saturate"))
    >>> rep.mismatches > 0, set(rep.classes), "rounding=nearest_away" in rep.matches
    (True, {'ties_away'}, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..registry import format as lookup
from .classify import CLASS_NAMES, CLASSES
from .diagnose import diagnose_codes
from .fileio import lane_values, read, read_results
from .ops import operation
from .vectorset import FieldSpec, VectorSet

__all__ = ["CheckReport", "Record", "check"]

#: Above this many cases the checker shows progress bars (progress=None).
PROGRESS_MIN = 1_000_000


@dataclass
class Record:
    """One mismatching case: its index, class, and each field as (name, hex, value)."""

    index: int
    cls: str
    inputs: list[tuple[str, str, str]]
    expected: list[tuple[str, str, str]]
    got: list[tuple[str, str, str]]

    def __str__(self) -> str:
        def cells(items: list[tuple[str, str, str]]) -> str:
            return " ".join(f"{n}={h}" + (f" ({v})" if v else "") for n, h, v in items)

        return (f"case {self.index} [{self.cls}]\n    in:       {cells(self.inputs)}\n"
                f"    expected: {cells(self.expected)}\n    got:      {cells(self.got)}")


@dataclass
class CheckReport:
    """What :func:`check` found (``str(report)`` is the readable report)."""

    summary: str
    cases: int
    mismatches: int
    classes: dict[str, int]
    first: list[Record]
    matches: list[str] = field(default_factory=list)
    closest: list[tuple[str, int]] = field(default_factory=list)
    compared: dict[str, int] = field(default_factory=dict)
    #: Variants that give the golden results on every case of this set (the cases
    #: cannot tell them apart from the set's own parameters).
    indistinguishable: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every case matches."""
        return self.mismatches == 0

    def __str__(self) -> str:
        pct = 100.0 * self.mismatches / self.cases if self.cases else 0.0
        lines = [f"vectors: {self.summary}",
                 f"mismatches: {self.mismatches} of {self.cases} cases ({pct:.4g}%)"]
        if self.classes:
            lines.append("by class:")
            w = max(len(c) for c in self.classes)
            lines += [f"  {c:<{w}}  {k:>9}  {CLASSES.get(c, '')}" for c, k in self.classes.items()]
        if self.first:
            lines.append(f"first {len(self.first)} mismatches:")
            lines += ["  " + str(r).replace("\n", "\n  ") for r in self.first]
        if self.matches:
            lines.append("the results match: " + "; ".join(self.matches))
        if self.indistinguishable:
            lines.append("(these cases cannot tell apart: " + "; ".join(self.indistinguishable) + ")")
        elif self.compared and not self.matches:
            lines.append("the results match no profile or variant tried")
        if self.closest and not self.ok:
            lines.append("closest: " + "; ".join(f"{n} ({k} mismatches)" for n, k in self.closest))
        return "\n".join(lines)


# ---- results -------------------------------------------------------------------------------
def _results(vs: VectorSet, results: Any, batch: int | None, progress: bool
             ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    unknown = np.zeros(vs.n, dtype=bool)
    outs = vs.outputs
    if isinstance(results, VectorSet):
        return {f.name: results.data[f.name] for f in outs}, unknown
    if isinstance(results, (str, Path)):
        return read_results(results, vs)
    if callable(results):
        return _call(vs, results, batch, progress), unknown
    if isinstance(results, dict):
        data = {f.name: np.asarray(results[f.name]) for f in outs}
    elif len(outs) == 1:
        data = {outs[0].name: np.asarray(results)}
    else:
        raise TypeError(f"results for {[f.name for f in outs]}: pass a dict of arrays by field name")
    for f in outs:
        want = (vs.n,) if f.lanes == 1 else (vs.n, f.lanes)
        a = data[f.name]
        if a.dtype.kind not in "ui" or a.shape != want:
            raise ValueError(f"results[{f.name!r}] has dtype {a.dtype} and shape {a.shape}; "
                             f"needed unsigned/signed integer bits of shape {want}")
        data[f.name] = a.astype(np.uint64)
    return data, unknown


def _uint(f: FieldSpec) -> type:
    return next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if f.bits <= 8 * np.dtype(t).itemsize)


def _call(vs: VectorSet, dut: Callable[..., Any], batch: int | None, progress: bool
          ) -> dict[str, np.ndarray]:
    """Run a callable under test on the inputs (bit arrays by field name), in batches."""
    outs = vs.outputs
    step = batch or vs.n or 1
    parts: dict[str, list[np.ndarray]] = {f.name: [] for f in outs}
    for lo in tqdm(range(0, max(vs.n, 1), step), desc="device", disable=not progress or step >= vs.n):
        args = {f.name: vs.data[f.name][lo:lo + step].astype(_uint(f)) for f in vs.inputs}
        res = dut(**args)
        if not isinstance(res, dict):
            if len(outs) != 1:
                raise TypeError(f"the device returned one array; {vs.op} has outputs "
                                f"{[f.name for f in outs]}: return a dict")
            res = {outs[0].name: res}
        for f in outs:
            parts[f.name].append(np.asarray(res[f.name]).astype(np.uint64))
    return {k: np.concatenate(v) if v else np.zeros(0, np.uint64) for k, v in parts.items()}


# ---- comparison ------------------------------------------------------------------------------
def _differs(f: FieldSpec, e: np.ndarray, g: np.ndarray, nan_any: bool = False) -> np.ndarray:
    """Where the lanes differ: floats NaN-equal; codes exactly, or NaN-equal
    (``nan_any``: any NaN code for a NaN result) among valid codes."""
    d = e != g
    if f.kind in ("float32", "float64", "float16", "bfloat16") or (nan_any and f.kind == "code"):
        at = np.nonzero(d)  # only the differing lanes are decoded (few, and codes of
        de, dg = e[at], g[at]  # formats over 16 bits decode one by one)
        valid = np.ones(dg.shape, bool)
        if f.kind == "code":  # a code beyond the format never matches
            valid = dg < np.uint64(lookup(f.fmt).num_codes)
            dg = np.where(valid, dg, 0)
        d[at] = ~(np.isnan(lane_values(f, de)) & np.isnan(lane_values(f, dg)) & valid)
    return d if d.ndim == 1 else d.any(axis=1)


def _classify(vs: VectorSet, got: dict[str, np.ndarray], idx: np.ndarray, unknown: np.ndarray
              ) -> np.ndarray:
    return operation(vs.op).classify(vs, got, idx, unknown[idx])


def _cell(f: FieldSpec, raw: Any) -> tuple[str, str, str]:
    a = np.asarray(raw, dtype=np.uint64).reshape(-1)
    hexes = ",".join(format(int(v), f"0{f.digits}x") for v in a)
    vals = lane_values(f, a)
    txt = "" if vals is None else ",".join(_num(v) for v in vals)
    return f.name, "0x" + hexes if a.size == 1 else "[" + hexes + "]", txt


def _num(v: float) -> str:
    return "nan" if math.isnan(v) else repr(float(v))


def _record(vs: VectorSet, got: dict[str, np.ndarray], i: int, cls: str) -> Record:
    ins = [_cell(f, vs.data[f.name][i]) for f in vs.inputs]
    exp = [_cell(f, vs.data[f.name][i]) for f in vs.outputs]
    gg = [_cell(f, got[f.name][i]) for f in vs.outputs]
    return Record(int(i), cls, ins, exp, gg)


# ---- the checker -----------------------------------------------------------------------------
def check(vectors: VectorSet | str | Path, results: Any, *, show: int = 10, diagnose: bool = True,
          progress: bool | None = None, batch: int | None = None) -> CheckReport:
    """Compare a device's results with golden vectors.

    Args:
        vectors: a :class:`VectorSet` or the path of a vectors file.
        results: the device's outputs: a results file (hex lines of the
            output fields as a test bench writes them, a CSV, an .npz, or a
            whole vectors file), a dict of arrays by output field name, one
            array (single-output operations), another VectorSet, or a callable
            taking the input fields as keyword arguments (unsigned bit arrays:
            ``x.view(np.float32)`` for float32 inputs) and returning the outputs.
        show: how many mismatching cases to list.
        diagnose: also find the profiles and parameter variants the results match.
        progress: show progress bars (default: from 10**6 cases on).
        batch: call a callable on this many cases at a time.

    Example:
        >>> import floatsim.vectors as fv
        >>> vs = fv.generate("decode", format="e5m2")
        >>> print(fv.check(vs, vs))  # doctest: +ELLIPSIS
        vectors: decode (format=float8_e5m2, out=float32): 256 cases, ...
        mismatches: 0 of 256 cases (0%)
    """
    vs = read(vectors) if isinstance(vectors, (str, Path)) else vectors
    progress = vs.n >= PROGRESS_MIN if progress is None else progress
    got, unknown = _results(vs, results, batch, progress)
    bad = unknown.copy()
    for f in vs.outputs:
        bad |= _differs(f, vs.data[f.name], got[f.name], operation(vs.op).nan_any)
    idx = np.flatnonzero(bad)
    classes: dict[str, int] = {}
    first: list[Record] = []
    if idx.size:
        cls = _classify(vs, got, idx, unknown)
        counts = np.bincount(cls, minlength=len(CLASS_NAMES))
        classes = {CLASS_NAMES[c]: int(k) for c, k in enumerate(counts) if k}
        first = [_record(vs, got, int(i), CLASS_NAMES[c]) for i, c in zip(idx[:show], cls[:show])]
    matches: list[str] = []
    closest: list[tuple[str, int]] = []
    compared: dict[str, int] = {}
    alike: list[str] = []
    if diagnose and "y" in got:
        matches, closest, compared, alike = diagnose_codes(vs, got["y"], unknown, progress)
        if not idx.size:
            matches.insert(0, "floatsim (this set's parameters)")
    return CheckReport(vs.summary(), vs.n, int(idx.size), classes, first, matches, closest,
                       compared, alike)
