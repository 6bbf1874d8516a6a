"""``floatsim vectors`` and ``floatsim check``: the command-line side of floatsim.vectors.

* ``floatsim vectors OP --format FMT [--src T] [--rounding R] [--overflow P]
  [--sr-bits K] [--level L] [--seed S] [--random N] --out DIR
  [--formats hex,csv,npz] [--verify N]`` writes a vector set (one file per
  format) and prints where.  ``fma`` adds ``--src-b``, ``--src-c`` and
  ``--addend``; ``dot`` and ``mx_dot`` take ``--spec`` (a floatsim.mac preset or a
  JSON dict of spec fields) and ``--n`` (and ``--src``/``--src-b``, or
  ``--format``/``--format-b`` for mx_dot) instead of ``--format``.  ``floatsim vectors list`` prints the operations
  and the profiles.
* ``floatsim check VECTORS RESULTS [--show N] [--no-diagnose]`` prints the
  report; exit status 0 when every case matches, 1 when some do not, 2 on a
  usage error.

Example:
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> run_vectors(["decode", "--format", "e2m1", "--out", d, "--formats", "hex"])  # doctest: +ELLIPSIS
    wrote 16 cases: .../decode_float4_e2m1fn_float32_s0_l1.hex
    0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .checker import check
from .fileio import FORMATS, write_all
from .fmaop import C_RULES
from .generate import LEVELS, generate, verify
from .ops import operation, operation_names
from .profiles import all_profiles

__all__ = ["add_parsers", "run_check", "run_vectors"]


def add_parsers(sub: Any) -> None:
    """Add the ``vectors`` and ``check`` subcommands to an argparse subparsers object."""
    v = sub.add_parser("vectors", help="write golden test vectors (hex for $readmemh, CSV, npz)",
                       description="Write golden test vectors of an operation. OP: "
                       + ", ".join(operation_names()) + "; 'list' prints operations and profiles.")
    v.add_argument("op", metavar="OP")
    v.add_argument("--format", help="the output (element / block) format, e.g. e4m3, mxfp4_e2m1")
    v.add_argument("--src", help="input: float32 (default), float16, bfloat16, float64, or a format")
    v.add_argument("--rounding", help="rounding mode (rne, rna, rtz, ru, rd, rto, sr)")
    v.add_argument("--overflow", help="saturate, inf or nan (default: the format's)")
    v.add_argument("--sr-bits", type=int, help="k for k-bit stochastic rounding (default: exact)")
    v.add_argument("--no-subnormals", action="store_true", help="flush subnormal results to zero")
    v.add_argument("--src-b", help="fma, dot: type of b (default: that of a, --src)")
    v.add_argument("--src-c", help="fma: type of c (default: the result format)")
    v.add_argument("--addend", choices=C_RULES,
                   help="fma: how c is chosen per (a, b) pair (default boundary; every: all triples)")
    v.add_argument("--spec", help="dot, mx_dot: a floatsim.mac preset (fp32, hopper_fp8, ...) or "
                   "a JSON dict of AccumulatorSpec fields, with \"base\": a preset they change")
    v.add_argument("--n", type=int, help="dot, mx_dot: the length of the dot products")
    v.add_argument("--format-b", help="mx_dot: block format of b (default: that of a, --format)")
    v.add_argument("--level", type=int, default=1, choices=LEVELS, help="how many cases (default 1)")
    v.add_argument("--seed", type=int, default=0, help="seed of the random cases (default 0)")
    v.add_argument("--random", type=int, help="random cases (overrides the level's count)")
    v.add_argument("--out", default=".", help="output folder (default .)")
    v.add_argument("--stem", help="file name without suffix (default: from the parameters)")
    v.add_argument("--formats", default=",".join(FORMATS), help="hex,csv,npz (default all)")
    v.add_argument("--verify", type=int, default=0, metavar="N",
                   help="also check N random cases against the exact oracle")
    v.set_defaults(func=lambda a: _run(_vectors, a))

    c = sub.add_parser("check", help="check a device's results against golden vectors",
                       description="Compare RESULTS (hex lines of the output fields, a CSV, an "
                       ".npz, or a vectors file) with the golden VECTORS file.")
    c.add_argument("vectors", metavar="VECTORS")
    c.add_argument("results", metavar="RESULTS")
    c.add_argument("--show", type=int, default=10, help="mismatching cases to list (default 10)")
    c.add_argument("--no-diagnose", action="store_true",
                   help="skip matching against profiles and parameter variants")
    c.set_defaults(func=lambda a: _run(_check, a))


def _run(fn: Any, args: argparse.Namespace) -> int:
    try:
        return fn(args)
    except (ValueError, TypeError, OSError) as exc:
        print(f"floatsim {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _vectors(a: argparse.Namespace) -> int:
    if a.op == "list":
        print("operations:")
        for name in operation_names():
            print(f"  {name:<10} {operation(name).summary}")
        print("profiles (floatsim check reports the ones a device matches):")
        for p in all_profiles():
            print(f"  {p.name:<36} {p.title}")
        return 0
    params: dict[str, Any] = {}
    if a.format is None and operation(a.op).needs_format:
        raise ValueError("--format is required (the output or block format)")
    if a.spec is not None:
        params["spec"] = json.loads(a.spec) if a.spec.lstrip().startswith("{") else a.spec
    if a.addend is not None:
        params["c"] = a.addend
    for key in ("format", "src", "src_b", "src_c", "format_b", "n", "rounding", "overflow",
                "sr_bits", "random"):
        if getattr(a, key) is not None:
            params[key] = getattr(a, key)
    if a.no_subnormals:
        params["subnormals"] = False
    t0 = time.perf_counter()
    vs = generate(a.op, level=a.level, seed=a.seed, **params)
    formats = tuple(f.strip() for f in a.formats.split(",") if f.strip())
    paths = write_all(vs, a.out, a.stem, formats)
    print(f"wrote {vs.n} cases: " + ", ".join(str(p) for p in paths))
    if a.verify:
        bad = verify(vs, sample=a.verify, seed=a.seed)
        print(f"verified {min(a.verify, vs.n)} random cases against the exact oracle: "
              + ("all agree" if not bad else f"{len(bad)} DISAGREE (first: case {bad[0]})"))
        if bad:
            return 1
    if time.perf_counter() - t0 > 5:
        print(f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return 0


def _check(a: argparse.Namespace) -> int:
    rep = check(a.vectors, Path(a.results), show=a.show, diagnose=not a.no_diagnose)
    print(rep)
    return 0 if rep.ok else 1


def _standalone(name: str, argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="floatsim")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parsers(sub)
    args = parser.parse_args([name, *(argv or [])])
    return args.func(args)


def run_vectors(argv: Sequence[str]) -> int:
    """``floatsim vectors ARGS`` in-process; returns the exit status."""
    return _standalone("vectors", argv)


def run_check(argv: Sequence[str]) -> int:
    """``floatsim check ARGS`` in-process; returns the exit status."""
    return _standalone("check", argv)
