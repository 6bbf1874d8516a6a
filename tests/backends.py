"""One table of implementations of floatsim's element-wise cast.

Every backend and adapter of the cast registers here (:data:`BACKENDS`), and
tests/test_backends.py runs each of them against the exact oracle
(``floatsim.reference``) on one set of cases (:func:`cases`): every code of
each format, every midpoint between neighbours, each also one ulp of the
input dtype above and below, the overflow thresholds, the special values,
and a strided sample of all float32 bit patterns; in every rounding mode,
stochastic rounding from a seed (exact and k-bit) included; float64, float32,
float16 and bfloat16 inputs.

A backend takes numpy arrays and returns numpy arrays.  It runs a *batch*
of cases at once (:meth:`Backend.run`), so that a backend living in another
process (the CUDA simulator) or program (the C++ header's host build) pays
its start-up once.  To add a backend (a new adapter), subclass
:class:`Backend`, say which cases it takes (:meth:`Backend.supports`) and
append an instance to :data:`BACKENDS`.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import floatsim as fs
from floatsim.dtypes import bfloat16, holds
from floatsim.formats import Format
from floatsim.reference.random import element_word
from floatsim.registry import CANONICAL, p3109
from floatsim.rounding import Rounding

HERE = Path(__file__).resolve().parent

# ---- cases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One call: ``op`` ('quantize', 'encode', 'decode') of an input of
    ``dtype`` (decode: the output dtype) into ``fmt``."""

    op: str
    fmt: Format
    rounding: Rounding
    dtype: np.dtype
    seed: int | None = None
    stream: int = 0
    sr_bits: int | None = None

    def kwargs(self) -> dict[str, Any]:
        if self.rounding is not Rounding.STOCHASTIC:
            return {}
        return {"seed": self.seed, "stream": self.stream, "sr_bits": self.sr_bits}

    def label(self) -> str:
        sr = f" seed={self.seed} stream={self.stream} sr_bits={self.sr_bits}" if self.seed else ""
        return f"{self.op} {self.fmt} {self.rounding.name.lower()} {self.dtype}{sr}"


def formats() -> list[Format]:
    """Every registered format of up to 16 bits, and a few variants."""
    fmts = [f for f in CANONICAL.values() if f.bits <= 16]
    fmts += [p3109(8, 3), p3109(8, 4, extended=False), p3109(6, 2)]
    e5 = fs.format("e5m2")
    fmts += [
        Format(ebits=4, mbits=3, specials="fn", overflow="saturate", name="e4m3fn[saturate]"),
        Format(ebits=5, mbits=2, subnormals=False, name="e5m2[no subnormals]"),
        Format(ebits=e5.ebits, mbits=e5.mbits, overflow="nan", name="e5m2[overflow=nan]"),
    ]
    return fmts


def _float_dtypes() -> list[np.dtype]:
    dts = [np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.float16)]
    return dts + ([bfloat16()] if bfloat16() is not None else [])


def _stride_codes(fmt: Format) -> np.ndarray:
    """Every code up to 8 bits; beyond, a stride that still visits every binade."""
    n = fmt.num_codes
    return np.arange(n) if n <= 256 else np.unique(np.r_[np.arange(0, n, 61), np.arange(0, n, 1024) + 1])


def _next(v: np.ndarray, dtype: np.dtype, way: float) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return np.nextafter(v.astype(dtype), np.array(way, dtype=dtype))


def inputs(fmt: Format, dtype: np.dtype) -> np.ndarray:
    """The case set of ``fmt`` in ``dtype`` (see the module docstring)."""
    work = np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)
    vals = np.array([float(fmt.value_exact(int(c))) for c in _stride_codes(fmt)], dtype=np.float64)
    fin = np.unique(vals[np.isfinite(vals)])
    mids = (fin[:-1] + fin[1:]) / 2  # exact in float64: formats of <= 16 bits
    tops = np.array([fmt.max, fmt.max * (1 + 2.0**-(fmt.mbits + 1)), fmt.min_subnormal / 2])
    pts = np.concatenate([fin, mids, tops, -fin, -mids, -tops])
    with np.errstate(over="ignore"):
        pts = pts.astype(work)
    near = [pts, _next(pts, work, np.inf), _next(pts, work, -np.inf)]
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan], dtype=work)
    with np.errstate(over="ignore", invalid="ignore"):  # signalling NaN patterns among the sample
        sample = (np.arange(0, 2**32, 2**32 // 3001 + 7, dtype=np.uint64).astype(np.uint32)
                  .view(np.float32).astype(work))
        x = np.concatenate([*near, special, sample]).astype(dtype)
    return np.ascontiguousarray(x)


def cases(fmt: Format) -> list[Case]:
    """The calls of the suite for ``fmt``: every mode and input dtype that holds
    it (quantize), encode in nearest-even and SR, decode of every code."""
    out = []
    for dt in _float_dtypes():
        if not holds(dt, fmt):
            continue
        for r in Rounding:
            if r is Rounding.STOCHASTIC:
                out.append(Case("quantize", fmt, r, dt, seed=0x5EED, stream=3))
                out.append(Case("quantize", fmt, r, dt, seed=2**40 + 9, stream=0, sr_bits=5))
            else:
                out.append(Case("quantize", fmt, r, dt))
        if dt.itemsize >= 4:
            out.append(Case("encode", fmt, Rounding.NEAREST_EVEN, dt))
            out.append(Case("encode", fmt, Rounding.STOCHASTIC, dt, seed=77, stream=1))
    out.append(Case("decode", fmt, Rounding.NEAREST_EVEN, np.dtype(np.float64)))
    return out


def case_input(case: Case) -> np.ndarray:
    """The input of a case: values (quantize, encode) or codes (decode)."""
    if case.op == "decode":
        return np.arange(case.fmt.num_codes, dtype=fs.code_dtype(case.fmt))
    x = inputs(case.fmt, case.dtype)
    if case.op == "encode" and not case.fmt.has_nan:  # no code for NaN: the CPU raises
        with np.errstate(invalid="ignore"):
            x = x[~np.isnan(x.astype(np.float64))]
    return x


# ---- the oracle ---------------------------------------------------------------------------


def oracle(case: Case, x: np.ndarray) -> np.ndarray:
    """The exact results of a case: float64 values (quantize, decode) or codes
    as uint64 (encode)."""
    from floatsim import reference as ref

    fmt = case.fmt
    if case.op == "decode":
        return np.array([float(ref.decode_code(int(c), fmt)) for c in x], dtype=np.float64)
    kw: dict[str, Any] = {}
    wide = case.dtype == np.float64 and case.sr_bits is None
    out = []
    for i, v in enumerate(x.tolist() if x.dtype.itemsize >= 4 else x.astype(np.float64).tolist()):
        if case.rounding is Rounding.STOCHASTIC:
            w = element_word(case.seed, i, case.stream, wide=wide)
            kw = {"random_bits": w, "random_width": None if case.sr_bits else (64 if wide else 32),
                  "sr_bits": case.sr_bits}
        if case.op == "encode":
            out.append(ref.encode_value(v, fmt, case.rounding, **kw))
        else:
            out.append(float(ref.round_value(v, fmt, case.rounding, **kw)))
    return np.array(out, dtype=np.uint64 if case.op == "encode" else np.float64)


def mismatches(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Indices where ``got`` differs from ``want``: bit for bit, but any NaN
    equals any NaN (NaN payloads are the dtype's, not the format's)."""
    if want.dtype == np.uint64:
        return np.flatnonzero(got.astype(np.uint64) != want)
    g = got.astype(np.float64)
    both_nan = np.isnan(g) & np.isnan(want)
    return np.flatnonzero(~both_nan & (g.view(np.uint64) != want.view(np.uint64)))


# ---- the backends -------------------------------------------------------------------------


class Backend:
    """An implementation of the cast under test (see the module docstring)."""

    name = "backend"
    #: the backend takes every stride-th input of a case (1: all)
    stride = 1

    def skip_reason(self) -> str | None:
        """Why this backend cannot run here (None: it can)."""
        return None

    def supports(self, case: Case) -> bool:
        return True

    def call(self, case: Case, x: np.ndarray) -> np.ndarray:
        """One case: quantize (values of x's dtype), encode (codes), decode (values)."""
        raise NotImplementedError

    def run(self, batch: list[tuple[Case, np.ndarray]]) -> list[np.ndarray]:
        return [self.call(c, x) for c, x in batch]

    def __repr__(self) -> str:
        return self.name


class NumbaCPU(Backend):
    """The public functions on numpy arrays (the CPU kernels, fast paths included)."""

    name = "numba-cpu"

    def call(self, case: Case, x: np.ndarray) -> np.ndarray:
        if case.op == "decode":
            return fs.decode(x, case.fmt, case.dtype)
        fn = fs.encode if case.op == "encode" else fs.quantize
        return fn(x, case.fmt, case.rounding, **case.kwargs())


class NumbaCPUGeneral(Backend):
    """The general CPU kernel alone (scalar.encode_bits from the exact value),
    never the float32 fast path or the tables."""

    name = "numba-cpu-general"

    def supports(self, case: Case) -> bool:
        return case.op != "decode"

    def call(self, case: Case, x: np.ndarray) -> np.ndarray:
        from floatsim.cpu import elementwise as E
        from floatsim.spec import CastSpec

        spec = CastSpec(x, case.fmt, case.rounding, **case.kwargs())
        if case.op == "encode":
            out = np.empty(x.shape, fs.code_dtype(case.fmt))
            E.run_general(spec, E.encode_flat, out.reshape(-1))
            return out
        kdt = np.float64 if x.dtype == np.float64 else np.float32
        out = np.empty(x.shape, kdt)
        E.run_general(spec, E.quantize_flat, out.reshape(-1))
        return out


class Subprocess(Backend):
    """A backend whose calls run in another Python process (tests/backend_worker.py),
    all cases of a batch in one run."""

    env: dict[str, str] = {}

    def run(self, batch: list[tuple[Case, np.ndarray]]) -> list[np.ndarray]:
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "in.pkl", Path(tmp) / "out.pkl"
            src.write_bytes(pickle.dumps((self.name, batch)))
            env = dict(os.environ, **self.env, PYTHONPATH=os.pathsep.join(
                [str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
            proc = subprocess.run([sys.executable, str(HERE / "backend_worker.py"), str(src), str(dst)],
                                  env=env, capture_output=True, text=True, timeout=1800)
            if proc.returncode != 0:
                raise RuntimeError(f"{self.name} worker failed:\n{proc.stdout}\n{proc.stderr}")
            return pickle.loads(dst.read_bytes())


class CudaSimulator(Subprocess):
    """The CUDA kernels under Numba's CUDA simulator, on Numba device arrays
    (the same dispatch as any GPU array).  The simulator runs Python per GPU
    thread, so it takes a strided part of each case (:attr:`stride`)."""

    name = "cuda-simulator"
    env = {"NUMBA_ENABLE_CUDASIM": "1"}
    stride = 7

    def skip_reason(self) -> str | None:
        if importlib.util.find_spec("numba_cuda") is None:
            return "numba-cuda is not installed (the cuda extra)"
        return None

    def supports(self, case: Case) -> bool:
        return not (bfloat16() is not None and case.dtype == bfloat16())  # no bf16 device arrays


class Header(Backend):
    """cuda/floatsim.cuh's host build (the C++ reference model)."""

    name = "cpp-header"
    _driver: Any = None

    def skip_reason(self) -> str | None:
        return self._build() if isinstance(self._build(), str) else None

    def _build(self) -> Any:
        if self._driver is None:
            from header_driver import build

            Header._driver = build(Path(tempfile.mkdtemp(prefix="floatsim_cuh_")))
        return self._driver

    def supports(self, case: Case) -> bool:
        # the driver reads float32 / float64 inputs, and only the format's default overflow
        return case.op in ("quantize", "encode") and case.dtype.itemsize >= 4

    def call(self, case: Case, x: np.ndarray) -> np.ndarray:
        kw = {}
        if case.rounding is Rounding.STOCHASTIC:
            kw = {"seed": case.seed, "stream": case.stream, "sr_bits": case.sr_bits or 0,
                  "width": 0 if case.sr_bits else 8 * x.dtype.itemsize}
        codes, values = self._build().encode(x, case.fmt, case.rounding, **kw)
        return codes if case.op == "encode" else values


@dataclass
class Adapter(Backend):
    """An adapter's own backend (tests/torch_backend.py, tests/jax_backend.py): a
    ``BACKEND`` object or a ``*Backend`` class with per-call ``quantize``,
    ``encode``, ``decode`` on numpy arrays (and optionally ``supports(case)``)."""

    module: str
    impl: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.name = self.module.replace("_backend", "")

    def skip_reason(self) -> str | None:
        if importlib.util.find_spec(self.name.split("-")[0]) is None:
            return f"{self.name} is not installed"
        if not (HERE / f"{self.module}.py").exists():
            return f"tests/{self.module}.py is not there"
        return None

    def _impl(self) -> Any:
        """The module's ``BACKEND`` object, or an instance of its ``*Backend`` class."""
        if self.impl is None:
            mod = __import__(self.module)
            impl = getattr(mod, "BACKEND", None)
            if impl is None:
                cls = next(v for k, v in vars(mod).items() if k.endswith("Backend") and isinstance(v, type))
                impl = cls()
            self.impl = impl
        return self.impl

    def supports(self, case: Case) -> bool:
        impl = self._impl()
        return impl.supports(case) if hasattr(impl, "supports") else True

    def call(self, case: Case, x: np.ndarray) -> np.ndarray:
        impl = self._impl()
        if case.op == "decode":
            return impl.decode(x, case.fmt, case.dtype)
        fn = impl.encode if case.op == "encode" else impl.quantize
        return fn(x, case.fmt, case.rounding, **case.kwargs())


#: Every implementation of the cast, in the order the suite runs them.
BACKENDS: list[Backend] = [
    NumbaCPU(),
    NumbaCPUGeneral(),
    Header(),
    CudaSimulator(),
    Adapter("torch_backend"),
    Adapter("jax_backend"),
]
