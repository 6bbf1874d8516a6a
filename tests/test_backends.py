"""Every implementation of the element-wise cast (tests/backends.py) against
the exact oracle, on one set of cases: every code, midpoint and neighbour of
each registered format of up to 16 bits, the special values and a strided
sample of float32 bit patterns, in every rounding mode and input dtype.

The oracle's answers are computed once per case (per test process) and
shared by the backends; each backend runs all its cases of a format in one
batch.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from backends import BACKENDS, Backend, Case, case_input, cases, formats, mismatches, oracle

FORMATS = formats()


@functools.cache
def _expected(case: Case, stride: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.ascontiguousarray(case_input(case)[::stride])
    return x, oracle(case, x)


def _ids(v: object) -> str:
    return str(v)


@pytest.mark.parametrize("fmt", FORMATS, ids=_ids)
@pytest.mark.parametrize("backend", BACKENDS, ids=_ids)
def test_backend_matches_oracle(backend: Backend, fmt: object) -> None:
    why = backend.skip_reason()
    if why:
        pytest.skip(why)
    todo = [c for c in cases(fmt) if backend.supports(c)]
    if not todo:
        pytest.skip(f"{backend} takes no case of {fmt}")
    batch = [(c, _expected(c, backend.stride)[0]) for c in todo]
    results = backend.run(batch)
    failures = []
    for (case, x), got in zip(batch, results):
        want = _expected(case, backend.stride)[1]
        got = np.asarray(got).reshape(-1)
        if got.shape != want.shape:
            failures.append(f"{case.label()}: {got.shape} results for {want.shape} inputs")
            continue
        bad = mismatches(got, want)
        if bad.size:
            i = int(bad[0])
            failures.append(f"{case.label()}: {bad.size} of {x.size} differ; first x={x[i]!r} "
                            f"got {got[i]!r}, oracle {want[i]!r}")
    assert not failures, f"{backend} on {fmt}:\n" + "\n".join(failures[:20])


def test_every_backend_is_listed_once() -> None:
    names = [b.name for b in BACKENDS]
    assert len(names) == len(set(names)) and {"numba-cpu", "cpp-header", "cuda-simulator"} <= set(names)


def test_the_suite_catches_a_double_rounding() -> None:
    """The float64 cases hold values one float64 ulp off a midpoint: a backend
    that rounds float64 to float32 first (the defect of a core install without
    ml_dtypes) fails them."""
    import floatsim as fs

    case = next(c for c in cases(fs.format("e4m3")) if c.op == "quantize" and c.dtype == np.float64
                and c.rounding is fs.Rounding.NEAREST_EVEN)
    x, want = _expected(case, 1)
    double = fs.quantize(x.astype(np.float32), "e4m3").astype(np.float64)
    assert mismatches(double, want).size > 0
