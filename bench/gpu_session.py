"""Run the GPU checks and benchmarks of a lease in one command, within a time budget.

The lent GPU machine has no package index, a 10-minute limit per command
and 30 minutes of device time per session (bench/README.md).  This runs
named steps one after another, each a subprocess with its own timeout and
its output in ``$OUT/<step>.log``, skips the steps that no longer fit the
budget, and prints a summary last (what ran, how long, its exit status).

    python bench/gpu_session.py --steps setup,warm,check,ab --budget 560
    python bench/gpu_session.py --list

Steps run with ``PYTHONPATH`` holding the carried wheels (``/tmp/site``)
and this checkout, and one floatsim cache folder (``FLOATSIM_CACHE_DIR``)
shared by every step, so the kernels compile once.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
SITE = "/tmp/site"
CACHE = "/tmp/floatsim-cache"

#: name -> (seconds allowed, command); {py} is the interpreter, {out} the output folder.
STEPS: dict[str, tuple[int, str]] = {
    "setup": (120, "{py} -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade "
                   "--target " + SITE + " .whl/*.whl && {py} -c 'import numpy, numba, numba_cuda, torch; "
                   "print(numpy.__version__, numba.__version__, numba_cuda.__version__, torch.__version__, "
                   "torch.cuda.get_device_name())'"),
    "warm": (240, "{py} -m floatsim warmup --gpu --all --jobs 16"),
    "warm-old": (200, "cd .dev/old && PYTHONPATH=" + SITE + ":{root}/.dev/old {py} "
                      "{root}/bench/warm_parallel.py --jobs 16"),
    "warm-new": (200, "{py} bench/warm_parallel.py --jobs 16"),
    "check": (300, "{py} tests/gpu_check.py quick"),
    "blocks-check": (260, "{py} tests/gpu_blocks_check.py --quick --n 2000000"),
    # the same bench before issue 21's re-layout: .dev/old holds cf49624's floatsim/ and bench/gpu_cast.py
    "ab-old": (200, "cd .dev/old && PYTHONPATH=" + SITE + ":{root}/.dev/old {py} bench/gpu_cast.py "
                    "--n-log2 26 --only floatsim,blocks,overhead --out {out}/ab_old.md"),
    "ab-new": (200, "{py} bench/gpu_cast.py --n-log2 26 --only floatsim,blocks,overhead --out {out}/ab_new.md"),
    "torch-check": (240, "{py} tests/gpu_torch_check.py --out {out}/torch_check.md"),
    "torch-bench": (240, "{py} bench/torch_ops.py --gpu"),
    "mac-check": (200, "{py} tests/gpu_mac_check.py"),
    "mac-bench": (300, "{py} bench/mac.py --gpu --check"),
    "vectors-check": (120, "{py} tests/gpu_vectors_check.py --out {out}/gpu_vectors.md"),
    "train-bench": (300, "{py} bench/train_step.py --gpu"),
    "demo": (300, "{py} -m floatsim demo --device cuda --quick --out {out}/demo"),
    "jax-bench": (200, "{py} bench/jax_cast.py --gpu"),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="setup,warm,check", help="comma-separated step names")
    ap.add_argument("--budget", type=float, default=560.0, help="seconds for all the steps together")
    ap.add_argument("--out", default=os.environ.get("OUT", "gpu-out"))
    ap.add_argument("--list", action="store_true", help="list the steps and exit")
    a = ap.parse_args(argv)
    if a.list:
        for name, (secs, cmd) in STEPS.items():
            print(f"{name:14s} {secs:4d} s  {cmd}")
        return 0
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=f"{SITE}:{ROOT}", FLOATSIM_CACHE_DIR=CACHE,
               PYTHONUNBUFFERED="1", NCCL_NVLS_ENABLE="0", TORCH_SYMM_MEM_DISABLE_MULTICAST="1")
    start = time.monotonic()
    summary = []
    for name in a.steps.split(","):
        if name not in STEPS:
            raise SystemExit(f"unknown step {name!r}; --list lists them")
        secs, cmd = STEPS[name]
        left = a.budget - (time.monotonic() - start)
        if left < 20:
            summary.append((name, "skipped: no time left", 0.0))
            continue
        cmd = cmd.format(py=PY, out=out, root=ROOT)
        t0 = time.monotonic()
        with open(out / f"{name}.log", "w") as log:
            log.write(f"$ {cmd}\n")
            log.flush()
            try:
                rc = subprocess.run(cmd, shell=True, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    timeout=min(secs, left)).returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
        dt = time.monotonic() - t0
        summary.append((name, rc, dt))
        tail = (out / f"{name}.log").read_text().splitlines()[-6:]
        print(f"== {name}: {rc} in {dt:.0f} s\n" + "\n".join("   " + t for t in tail), flush=True)
    print("\nstep            status      seconds")
    for name, rc, dt in summary:
        print(f"{name:15s} {str(rc):10s} {dt:8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
