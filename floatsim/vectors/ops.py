"""Operations: what a vector set tests.  Each is one small pluggable entry.

An :class:`Operation` says which fields its cases have, how to choose the
inputs (:mod:`floatsim.vectors.cases`), how floatsim's kernels compute the
expected outputs (``compute``), and how the exact oracle
:mod:`floatsim.reference` computes one case (``oracle``: the test suite
checks a sample of every set against it, so the vectors are golden, not
merely self-consistent).  :func:`register` adds an operation; the FMA and
dot-product vectors of ``floatsim.mac`` plug in that way
(:mod:`floatsim.vectors.fmaop`, :mod:`floatsim.vectors.dotops`).

Registered here:

* ``convert``: an IEEE float (float16, bfloat16, float32, float64) or a code
  of another format -> a code of ``format``, in any rounding mode and
  overflow policy; stochastic rounding takes an explicit random word ``r``
  per case (k bits for k-bit SR, W = 32 or 64 bits for exact SR).
* ``sr``: ``convert`` with ``rounding='stochastic'``; from a format of up to
  8 bits with ``sr_bits`` up to 8 it is exhaustive over every (code, word)
  pair (65,536 cases for two 8-bit operands).
* ``decode``: a code -> its value as float32 (float64 where float32 cannot
  hold the format).
* ``block`` (:mod:`floatsim.vectors.blockops`): MX / NVFP4 block
  quantization, elements and scales.
* ``fma`` (:mod:`floatsim.vectors.fmaop`): ``a*b + c`` rounded once;
  ``dot`` and ``mx_dot`` (:mod:`floatsim.vectors.dotops`): dot products under
  a floatsim.mac accumulator spec.

Example:
    >>> import floatsim.vectors as fv
    >>> vs = fv.generate("convert", src="float32", format="e4m3", level=1)
    >>> [f.name for f in vs.fields], vs.n > 1000
    (['x', 'y'], True)
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, ClassVar

import numpy as np

from .. import reference as ref
from ..cast import decode, encode
from ..formats import Format
from ..registry import format as lookup
from ..rounding import Rounding
from . import cases
from .classify import class_id, classify_codes, classify_floats
from .fileio import lane_values
from .vectorset import FieldSpec, VectorSet

__all__ = ["Convert", "Decode", "Operation", "SR", "format_name", "operation", "operation_names",
           "register", "LEVEL_RANDOM"]

#: Random cases per level (level 1 has a few, so every set sees random inputs).
LEVEL_RANDOM = {0: 0, 1: 1000, 2: 100_000, 3: 1_000_000}

_FLOAT = {"float16": np.float16, "float32": np.float32, "float64": np.float64}
_UINT = {"float16": np.uint16, "float32": np.uint32, "float64": np.uint64}


def format_name(fmt: Format | str) -> str:
    """A name :func:`floatsim.format` reads back to an equal format (for headers)."""
    f = lookup(fmt)
    for cand in (f.name, f.spec()):
        try:
            if cand and lookup(cand) == f:
                return cand
        except ValueError:
            continue
    raise ValueError(
        f"format {f!r} has no name that floatsim.format reads back; vectors need a "
        "registered name or an e<E>m<M> spec (overflow and subnormals are separate parameters)"
    )


def _rounding(value: Rounding | str) -> str:
    return Rounding.parse(value).name.lower()


class Operation:
    """Base class of an operation (subclass, then :func:`register` an instance)."""

    #: The name on the command line and in headers.
    name: ClassVar[str] = ""
    #: One line for ``floatsim vectors --help``.
    summary: ClassVar[str] = ""
    #: Whether ``format=`` is required (``floatsim vectors OP --format ...``).
    needs_format: ClassVar[bool] = True
    #: Whether a NaN result matches any NaN code of the output format (IEEE 754
    #: leaves the sign and payload of an arithmetic NaN result open; the files
    #: hold the canonical NaN code).  Conversions compare codes exactly.
    nan_any: ClassVar[bool] = False

    def configure(self, **params: Any) -> dict[str, Any]:
        """Validate and normalise the parameters (JSON-able values)."""
        raise NotImplementedError

    def fields(self, params: dict[str, Any]) -> tuple[FieldSpec, ...]:
        raise NotImplementedError

    def cases(self, params: dict[str, Any], level: int, seed: int) -> dict[str, np.ndarray]:
        """The input columns."""
        raise NotImplementedError

    def compute(self, params: dict[str, Any], inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The expected output columns, by floatsim's kernels."""
        raise NotImplementedError

    def oracle(self, params: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
        """The expected outputs of one case (ints, or lists for lanes), by
        :mod:`floatsim.reference` alone."""
        raise NotImplementedError

    def output_format(self, params: dict[str, Any]) -> Format | None:
        """The format of the main code output (what profiles and the checker's
        classes refer to), or None."""
        return None

    def classify(self, vs: VectorSet, got: dict[str, np.ndarray], idx: np.ndarray,
                 unknown: np.ndarray) -> np.ndarray:
        """The class of each mismatching case ``idx`` given the device's outputs
        ``got``: indices into :data:`floatsim.vectors.classify.CLASS_NAMES` (int8)."""
        return np.where(unknown, class_id("unknown_output"), class_id("mismatch")).astype(np.int8)

    def candidates(self, vs: VectorSet) -> list[tuple[str, Any]]:
        """Behaviours the checker tries on a device's results: (label, run) pairs,
        ``run(sel)`` giving (codes of the main output ``y``, care mask, whether any
        NaN code matches any NaN) for the cases ``sel``
        (:func:`floatsim.vectors.diagnose.diagnose_codes`).  Conversions have
        their own (profiles and parameter variants)."""
        return []

    def named(self, vs: VectorSet) -> set[str]:
        """The labels among :meth:`candidates` that name a known behaviour (a
        profile, a preset): reported as matches even where the cases cannot tell
        them from the set's own parameters."""
        return set()


_REGISTRY: dict[str, Operation] = {}


def register(op: Operation) -> Operation:
    """Add ``op`` under ``op.name`` (replacing one of the same name)."""
    if not op.name:
        raise ValueError("an operation needs a name")
    _REGISTRY[op.name] = op
    return op


def operation(name: str) -> Operation:
    """The registered operation called ``name``."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown operation {name!r}; registered: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def operation_names() -> list[str]:
    """Every registered operation's name."""
    return sorted(_REGISTRY)


# ---- convert ---------------------------------------------------------------------------
class Convert(Operation):
    """``x`` (an IEEE float or a code of ``src``) -> ``y`` (a code of ``format``)."""

    name = "convert"
    summary = "a float32/float16/bfloat16/float64 value or another format's code -> a code"

    def configure(self, *, format: Format | str, src: Format | str = "float32",  # noqa: A002
                  rounding: Rounding | str = "nearest_even", overflow: str | None = None,
                  subnormals: bool | None = None, sr_bits: int | None = None,
                  random: int | None = None) -> dict[str, Any]:
        dst = lookup(format)
        src_name = src if isinstance(src, str) and src in cases.DTYPES else format_name(src)
        if src_name not in cases.DTYPES:
            s = lookup(src_name)
            if s.bits > 16:
                raise ValueError(f"src={src_name!r} has {s.bits} bits; code inputs go up to 16 bits "
                                 "(use src='float32' or 'float64' for wider values)")
            decode(np.zeros(1, np.uint8), s, np.float64)  # raises unless float64 holds s
        mode = _rounding(rounding)
        ov = None if overflow is None else dst.check_overflow(overflow).value
        if mode != "stochastic" and sr_bits is not None:
            raise ValueError(f"sr_bits={sr_bits!r} applies to rounding='stochastic' only")
        if sr_bits is not None and not (isinstance(sr_bits, int) and 1 <= sr_bits <= 32):
            raise ValueError(f"sr_bits={sr_bits!r} is out of range; allowed: 1..32 or None")
        if subnormals is False and dst.ebits == 0:
            raise ValueError("subnormals=False needs a format with ebits >= 1")
        if random is not None and not (isinstance(random, int) and random >= 0):
            raise ValueError(f"random={random!r} must be a count >= 0")
        return {"src": src_name, "format": format_name(dst), "rounding": mode, "overflow": ov,
                "subnormals": subnormals, "sr_bits": sr_bits, "random": random}

    # -- layout
    @staticmethod
    def word_bits(params: dict[str, Any]) -> int | None:
        """Width of the random word ``r``: k for k-bit SR, W for exact SR, None without SR."""
        if params["rounding"] != "stochastic":
            return None
        if params["sr_bits"] is not None:
            return int(params["sr_bits"])
        return 64 if params["src"] == "float64" else 32

    def fields(self, params: dict[str, Any]) -> tuple[FieldSpec, ...]:
        src, dst = params["src"], lookup(params["format"])
        if src in cases.DTYPES:
            x = FieldSpec("x", "in", src, cases.DTYPES[src][0])
        else:
            x = FieldSpec("x", "in", "code", lookup(src).bits, fmt=src)
        out = [x]
        w = self.word_bits(params)
        if w is not None:
            out.append(FieldSpec("r", "in", "uint", w))
        out.append(FieldSpec("y", "out", "code", dst.bits, fmt=params["format"]))
        return tuple(out)

    def output_format(self, params: dict[str, Any]) -> Format:
        return lookup(params["format"])

    # -- inputs
    def input_values(self, params: dict[str, Any], x: np.ndarray) -> np.ndarray:
        """The inputs as an array floatsim casts exactly (float16/32/64)."""
        src = params["src"]
        if src in _FLOAT:
            return x.astype(_UINT[src]).view(_FLOAT[src])
        if src == "bfloat16":
            return (x.astype(np.uint32) << np.uint32(16)).view(np.float32)
        return decode(x.astype(np.int64), lookup(src), np.float64)

    def _x_cases(self, params: dict[str, Any], level: int, seed: int) -> np.ndarray:
        src, dst = params["src"], lookup(params["format"])
        if src not in cases.DTYPES:
            return np.arange(lookup(src).num_codes, dtype=np.uint64)  # every code
        bits = cases.DTYPES[src][0]
        if bits <= 16 and level >= 2:
            return np.arange(1 << bits, dtype=np.uint64)  # every input
        xs = cases.boundary_inputs(src, dst)
        n_rand = params["random"] if params["random"] is not None else LEVEL_RANDOM.get(level, 0)
        if n_rand:  # random cases are kept as drawn (a repeat is harmless)
            xs = np.concatenate([xs, cases.random_inputs(src, dst, n_rand, seed)])
        return xs

    def cases(self, params: dict[str, Any], level: int, seed: int) -> dict[str, np.ndarray]:
        dst = lookup(params["format"])
        xs = self._x_cases(params, level, seed)
        if not dst.has_nan:  # NaN has no code there (floatsim.encode refuses it)
            xs = xs[~np.isnan(self.input_values(params, xs))]
        w = self.word_bits(params)
        if w is None:
            return {"x": xs}
        src = params["src"]
        if src not in cases.DTYPES and lookup(src).bits <= 8 and w <= 8:
            ii = np.repeat(np.arange(xs.size), 1 << w)  # every (code, word) pair
            ww = np.tile(np.arange(1 << w, dtype=np.uint64), xs.size)
        else:
            vals = cases.widen(self.input_values(params, xs))
            ii, ww = cases.sr_words(vals, dst, w, params["sr_bits"], seed, extra=max(1, level))
        x2, r2 = xs[ii], ww
        if x2.size <= 1 << 22:  # (0, all ones and the threshold words coincide at times)
            x2, r2 = cases.dedupe(x2, r2)
        return {"x": x2, "r": r2}

    # -- outputs
    def _kwargs(self, params: dict[str, Any]) -> dict[str, Any]:
        kw: dict[str, Any] = {"overflow": params["overflow"], "subnormals": params["subnormals"]}
        if params["rounding"] == "stochastic":
            kw["sr_bits"] = params["sr_bits"]
        return kw

    def compute(self, params: dict[str, Any], inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = self.input_values(params, inputs["x"])
        kw = self._kwargs(params)
        w = self.word_bits(params)
        if w is not None:
            kw["random_bits"] = inputs["r"].astype(np.uint64 if w == 64 else np.uint32)
        y = encode(x, lookup(params["format"]), params["rounding"], **kw)
        return {"y": y.astype(np.uint64)}

    def classify(self, vs: VectorSet, got: dict[str, np.ndarray], idx: np.ndarray,
                 unknown: np.ndarray) -> np.ndarray:
        p = vs.params
        x = self.input_values(p, vs.data["x"][idx])
        return classify_codes(x, vs.data["y"][idx], got["y"][idx], self.output_format(p),
                              p["rounding"], src=p["src"], stochastic=p["rounding"] == "stochastic",
                              unknown=unknown)

    def oracle_input(self, params: dict[str, Any], x: int) -> Any:
        """One input as the oracle takes it (a numpy float of the input type, or
        the exact value of a code)."""
        src = params["src"]
        if src in cases.DTYPES:
            v = self.input_values(params, np.array([x], dtype=np.uint64))[0]
            return v if src != "bfloat16" else np.float32(v)
        return ref.decode_code(int(x), src)

    def oracle(self, params: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
        kw = self._kwargs(params)
        w = self.word_bits(params)
        if w is not None:
            kw["random_bits"] = int(row["r"])
            kw["random_width"] = None if params["sr_bits"] is not None else w
        y = ref.encode_value(self.oracle_input(params, row["x"]), params["format"],
                             params["rounding"], **kw)
        return {"y": y}


class SR(Convert):
    """``convert`` with stochastic rounding and explicit random words."""

    name = "sr"
    summary = "stochastic rounding with an explicit random word per case (exhaustive pairs <= 8 bits)"

    def configure(self, **params: Any) -> dict[str, Any]:
        mode = params.pop("rounding", "stochastic")
        if _rounding(mode) != "stochastic":
            raise ValueError(f"the sr operation rounds stochastically; got rounding={mode!r}")
        return super().configure(rounding="stochastic", **params)


# ---- decode ----------------------------------------------------------------------------
class Decode(Operation):
    """``c`` (a code) -> ``v`` (its value: float32 bits, or float64 where needed)."""

    name = "decode"
    summary = "a code -> its value as float32 (float64 where float32 cannot hold the format)"

    def configure(self, *, format: Format | str, out: str | None = None) -> dict[str, Any]:  # noqa: A002
        fmt = lookup(format)
        if fmt.bits > 16:
            raise ValueError(f"decode vectors list every code; {fmt} has {fmt.bits} bits (max 16)")
        if out is None:
            try:
                decode(np.zeros(1, np.uint8), fmt, np.float32)
                out = "float32"
            except ValueError:
                out = "float64"
        if out not in ("float32", "float64"):
            raise ValueError(f"out={out!r}; allowed: 'float32', 'float64'")
        decode(np.zeros(1, np.uint8), fmt, _FLOAT[out])  # raises if out cannot hold fmt
        return {"format": format_name(fmt), "out": out}

    def fields(self, params: dict[str, Any]) -> tuple[FieldSpec, ...]:
        fmt = lookup(params["format"])
        return (FieldSpec("c", "in", "code", fmt.bits, fmt=params["format"]),
                FieldSpec("v", "out", params["out"], 32 if params["out"] == "float32" else 64))

    def output_format(self, params: dict[str, Any]) -> Format:
        return lookup(params["format"])

    def cases(self, params: dict[str, Any], level: int, seed: int) -> dict[str, np.ndarray]:
        return {"c": np.arange(lookup(params["format"]).num_codes, dtype=np.uint64)}

    def classify(self, vs: VectorSet, got: dict[str, np.ndarray], idx: np.ndarray,
                 unknown: np.ndarray) -> np.ndarray:
        f = vs.spec("v")
        return classify_floats(lane_values(f, vs.data["v"][idx]), lane_values(f, got["v"][idx]),
                               self.output_format(vs.params), unknown=unknown)

    def compute(self, params: dict[str, Any], inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        dt = _FLOAT[params["out"]]
        v = decode(inputs["c"].astype(np.int64), params["format"], dt)
        return {"v": v.view(np.uint32 if dt is np.float32 else np.uint64).astype(np.uint64)}

    def oracle(self, params: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
        v = ref.decode_code(int(row["c"]), params["format"])
        f = float(v) if isinstance(v, Fraction) else v
        if params["out"] == "float32":
            return {"v": int(np.array([f], np.float32).view(np.uint32)[0])}
        return {"v": int(np.array([f], np.float64).view(np.uint64)[0])}


register(Convert())
register(SR())
register(Decode())
