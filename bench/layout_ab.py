"""Issue 21's A/B: this checkout's floatsim against an older one, in the same run.

Times, each in fresh subprocesses that alternate old and new (so that a busy
machine slows both alike):

* ``import floatsim`` (bytecode written first, so neither pays compiling it),
  and whether numba / ml_dtypes were imported by it;
* ``fs.quantize`` of 2**N float32 values into e4m3 (nearest-even, stochastic),
  float64 into bfloat16, and ``fs.blocks.quantize`` into MXFP8 and NVFP4: the
  median of ``--repeats`` calls after a warm-up call (compiled kernels come
  from each checkout's own cache).

    python bench/layout_ab.py --old .dev/old --n-log2 22 --rounds 5

Prints a Markdown table: medians, and new/old ratios (below 1: new is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_IMPORT = """
import sys, time, json
t = time.perf_counter(); import floatsim; dt = time.perf_counter() - t
print(json.dumps({"import_s": dt, "numba": "numba" in sys.modules,
                  "ml_dtypes": "ml_dtypes" in sys.modules}))
"""

_CASTS = """
import json, sys, time, numpy as np, floatsim as fs
n, reps = int(sys.argv[1]), int(sys.argv[2])
x = np.random.default_rng(0).standard_normal(n).astype(np.float32) * 4
x64 = x.astype(np.float64)
m = x.reshape(-1, 1024)
cases = {
    "e4m3 RNE, float32": lambda: fs.quantize(x, "e4m3"),
    "e4m3 SR, float32": lambda: fs.quantize(x, "e4m3", "stochastic", seed=1),
    "bfloat16 RNE, float64": lambda: fs.quantize(x64, "bfloat16"),
    "MXFP8 (blocks)": lambda: fs.blocks.quantize(m, "mxfp8_e4m3"),
    "NVFP4 (blocks)": lambda: fs.blocks.quantize(m, "nvfp4"),
}
out = {}
for name, fn in cases.items():
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    out[name] = sorted(ts)[len(ts) // 2]
print(json.dumps(out))
"""


def _run(src: Path, code: str, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src), FLOATSIM_QUIET="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    res = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=src,
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, default=ROOT / ".dev" / "old",
                    help="a folder holding the older checkout's floatsim/")
    ap.add_argument("--n-log2", type=int, default=22)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5, help="alternating old/new subprocesses")
    a = ap.parse_args(argv)
    trees = {"old": a.old.resolve(), "new": ROOT}
    for tree in trees.values():   # bytecode and compiled kernels in place before timing
        _run(tree, _IMPORT)
        _run(tree, _CASTS, "1024", "1")
    imports: dict[str, list[float]] = {k: [] for k in trees}
    casts: dict[str, dict[str, list[float]]] = {k: {} for k in trees}
    flags = {}
    for _ in range(a.rounds):
        for key, tree in trees.items():
            r = _run(tree, _IMPORT)
            imports[key].append(r["import_s"])
            flags[key] = (r["numba"], r["ml_dtypes"])
            for name, t in _run(tree, _CASTS, str(1 << a.n_log2), str(a.repeats)).items():
                casts[key].setdefault(name, []).append(t)
    med = statistics.median
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"`python bench/layout_ab.py --n-log2 {a.n_log2} --repeats {a.repeats} "
          f"--rounds {a.rounds}`\n")
    print("| measure | old | new | new / old |\n|---|---|---|---|")
    io, inew = med(imports["old"]), med(imports["new"])
    print(f"| `import floatsim` (s) | {io:.3f} | {inew:.3f} | {inew / io:.2f} |")
    print(f"| imports numba / ml_dtypes | {flags['old'][0]} / {flags['old'][1]} | "
          f"{flags['new'][0]} / {flags['new'][1]} | |")
    for name in casts["new"]:
        o, nw = med(casts["old"][name]), med(casts["new"][name])
        print(f"| {name}, 2^{a.n_log2} (ms) | {o * 1e3:.2f} | {nw * 1e3:.2f} | {nw / o:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
