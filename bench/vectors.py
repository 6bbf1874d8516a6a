"""Speed of golden-vector generation and checking (floatsim.vectors).

Targets (issue 26, on the 2-core development machine):

* exhaustive vectors of a binary operation on two 8-bit operands (65,536 cases)
  in under 5 s.  Until the FMA vectors exist (floatsim.mac), the binary
  operation is stochastic rounding of every E4M3 code with every 8-bit random
  word into E5M2 (``fv.generate("sr", src="e4m3", format="e5m2", sr_bits=8)``),
  written as .hex, .csv and .npz;
* checking 10**7 cases in under 10 s: a float32 -> E4M3 conversion set of
  10**7 random cases, checked (a) from arrays with the full diagnosis
  (profiles and parameter variants), for floatsim's own results and for a
  device that truncates (rounds toward zero: about half the cases mismatch, each
  classified), and (b) from files:
  the .hex vectors and a .hex results file read back and checked.

The floor is numpy comparing the expected and actual outputs (what any checker
must at least do); ratios are to it.  There is no peer that checks FP8 test
vectors (Berkeley TestFloat stops at float16), so none is timed.

    python bench/vectors.py            # 10**7 cases
    python bench/vectors.py --quick    # 10**6 cases (a smoke run)
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

import floatsim as fs
import floatsim.vectors as fv

CPU: dict[int, float] = {}  # id(result) -> CPU seconds of its best run (all threads)


def timed(fn, repeats: int = 1):  # noqa: ANN001, ANN201
    """(best wall time, result); the CPU time of that run goes to CPU[id(result)]."""
    best, out, cpu = float("inf"), None, 0.0
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        wall = time.perf_counter() - t
        if wall < best:
            best, cpu = wall, time.process_time() - c
    CPU[id(out)] = cpu
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="10**6 cases instead of 10**7")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    n = 10**6 if args.quick else 10**7
    print(f"# floatsim.vectors bench: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, numpy {np.__version__}, {time.strftime('%Y-%m-%d %H:%M')}")
    fv.generate("sr", src="e4m3", format="e5m2", sr_bits=8)  # warm-up: compiles / loads kernels

    with tempfile.TemporaryDirectory() as d:
        t_gen, vs = timed(lambda: fv.generate("sr", src="e4m3", format="e5m2", sr_bits=8), args.repeats)
        assert vs.n == 65536
        t_write, _ = timed(lambda: fv.write_all(vs, d, "pairs"), 1)
        t_hex, _ = timed(lambda: fv.write(vs, Path(d) / "pairs.hex"), args.repeats)
        t_read, _ = timed(lambda: fv.read(Path(d) / "pairs.hex"), args.repeats)
        print("\n## exhaustive binary operation: SR of every E4M3 code with every 8-bit word into E5M2")
        print("| step | seconds | target |\n|---|---|---|")
        print(f"| generate 65,536 cases | {t_gen:.3f} | < 5 |")
        print(f"| generate + write .hex/.csv/.npz | {t_gen + t_write:.3f} | < 5 |")
        print(f"| write .hex alone | {t_hex:.3f} | |")
        print(f"| read .hex back (hash checked) | {t_read:.3f} | |")

        t_big, big = timed(lambda: fv.generate("convert", src="float32", format="e4m3", level=0,
                                               random=n), 1)
        x = big.data["x"].astype(np.uint32).view(np.float32)
        good = big.data["y"]
        bad = fs.encode(x, "e4m3", "toward_zero").astype(np.uint64)
        floor, r0 = timed(lambda: [int(np.count_nonzero(good != bad))], args.repeats)
        t_ok, rep_ok = timed(lambda: fv.check(big, good, progress=False), args.repeats)
        t_bug, rep_bug = timed(lambda: fv.check(big, bad, progress=False), args.repeats)
        t_nodiag, r3 = timed(lambda: fv.check(big, bad, diagnose=False, progress=False), args.repeats)
        vpath = fv.write(big, Path(d) / "big.hex")
        rpath = Path(d) / "results.hex"
        rpath.write_bytes(big.with_outputs({"y": bad}).hex_body(big.outputs))
        t_files, rep_f = timed(lambda: fv.check(vpath, rpath, diagnose=False, progress=False), 1)
        assert rep_ok.ok and not rep_bug.ok and rep_f.mismatches == rep_bug.mismatches
        print(f"\n## checking {big.n:,} cases (float32 -> E4M3; generating them took {t_big:.1f} s)")
        print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; CPU s is the "
              "process's CPU time over all its threads)")
        print("| check | seconds | CPU s | Mcases/s | x floor | target |\n|---|---|---|---|---|---|")
        for label, t, res in [("floor: numpy count of differing outputs", floor, r0),
                              ("floatsim's results, with diagnosis", t_ok, rep_ok),
                              (f"truncating device ({rep_bug.mismatches:,} mismatches), with "
                               "diagnosis", t_bug, rep_bug),
                              ("truncating device, no diagnosis", t_nodiag, r3),
                              ("from files: .hex vectors + .hex results, no diagnosis", t_files, rep_f)]:
            print(f"| {label} | {t:.3f} | {CPU[id(res)]:.2f} | {big.n / t / 1e6:.1f} | "
                  f"{t / floor:.0f} | {'< 10' if n == 10**7 else ''} |")
        print(f"\nclasses of the truncating device: {rep_bug.classes}; matches: {rep_bug.matches}")


if __name__ == "__main__":
    main()
