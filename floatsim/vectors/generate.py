"""Build a vector set, and check a sample of one against the exact oracle.

Example:
    >>> import floatsim.vectors as fv
    >>> vs = fv.generate("sr", src="e4m3", format="e5m2", sr_bits=8)   # every (code, word) pair
    >>> vs.n, fv.verify(vs, sample=64)
    (65536, [])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .ops import operation
from .vectorset import VectorSet

__all__ = ["LEVELS", "generate", "oracle_outputs", "verify"]

#: Levels: 0 the boundary cases only; 1 adds 1000 random cases; 2 makes inputs of
#: up to 16 bits exhaustive and adds 10**5 random ones; 3 adds 10**6.  Code inputs
#: of up to 16 bits (and SR pairs of up to 8 + 8 bits) are exhaustive at every level.
LEVELS = (0, 1, 2, 3)


def generate(op: str, *, level: int = 1, seed: int = 0, **params: Any) -> VectorSet:
    """Golden vectors of operation ``op`` (see :func:`floatsim.vectors.operation_names`).

    Args:
        op: 'convert', 'sr', 'decode', 'block', 'fma', 'dot', 'mx_dot' (or any
            registered operation).
        level: how many cases (:data:`LEVELS`).
        seed: the random cases' seed; the same seed gives the same set.
        **params: the operation's parameters, e.g. ``format='e4m3'``,
            ``src='float32'``, ``rounding='rne'``, ``overflow='saturate'``,
            ``sr_bits=8``, ``random=10**6`` (random cases, overriding the level's);
            for ``fma`` also ``src_b``, ``src_c``, ``c`` (the addend rule); for
            ``dot`` / ``mx_dot`` ``spec`` (a floatsim.mac preset or a dict of
            spec fields) and ``n``.

    The expected outputs are computed by floatsim's kernels; :func:`verify`
    checks any sample of them against :mod:`floatsim.reference`.

    Example:
        >>> vs = generate("decode", format="e2m1")
        >>> vs.data["v"][:3].tolist()   # 0.0, 0.5, 1.0 as float32 bits
        [0, 1056964608, 1065353216]
    """
    if level not in LEVELS:
        raise ValueError(f"level={level!r} is not valid; allowed: {', '.join(map(str, LEVELS))}")
    if not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"seed={seed!r} must be an int in 0..2**63-1")
    o = operation(op)
    p = o.configure(**params)
    inputs = o.cases(p, level, seed)
    outputs = o.compute(p, inputs)
    return VectorSet(op, p, seed, level, o.fields(p), {**inputs, **outputs})


def oracle_outputs(vs: VectorSet, index: int) -> dict[str, Any]:
    """The exact oracle's outputs of case ``index`` (ints; lists for lanes)."""
    o = operation(vs.op)
    row = {f.name: (vs.data[f.name][index].tolist()) for f in vs.inputs}
    return o.oracle(vs.params, row)


def verify(vs: VectorSet, sample: int | None = 200, seed: int = 0) -> list[int]:
    """Indices of cases (from a random sample of ``sample``; None: all) whose
    stored outputs differ from the exact oracle's.  Float outputs compare
    NaN-equal (any NaN matches any NaN)."""
    n = vs.n
    rng = np.random.default_rng(seed)
    idx = np.arange(n) if sample is None or sample >= n else np.sort(rng.choice(n, sample, replace=False))
    bad = []
    for i in idx:
        want = oracle_outputs(vs, int(i))
        for f in vs.outputs:
            got = vs.data[f.name][i].tolist()
            exp = want[f.name]
            if f.kind in ("float32", "float64"):
                got, exp = _nan_equal(got, f.kind), _nan_equal(exp, f.kind)
            if got != exp:
                bad.append(int(i))
                break
    return bad


def _nan_equal(bits: int | list, kind: str) -> Any:
    if isinstance(bits, list):
        return [_nan_equal(b, kind) for b in bits]
    dt = (np.uint32, np.float32) if kind == "float32" else (np.uint64, np.float64)
    v = np.array([bits], dt[0]).view(dt[1])[0]
    return "nan" if np.isnan(v) else int(bits)
