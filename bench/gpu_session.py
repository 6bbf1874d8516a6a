"""Run the GPU checks and benchmarks of a lease in one command, within a time budget.

The lent GPU machine has no package index, a 10-minute limit per command
and 30 minutes of device time per session (bench/README.md).  This runs
named steps one after another (``a+b``: side by side), each a subprocess
with its own timeout and its output in ``<step>.log``, skips the steps that
no longer fit the budget, and prints a summary last (what ran, how long,
its exit status).  A lease returns at most 8 files, so the logs and reports
come back as one archive, ``$OUT/session.tar.gz``; ``--cache-out`` adds the
compiled kernels as 15 MiB parts that ``--cache-in`` unpacks in a later call.

    python bench/gpu_session.py --steps setup,warm,check+torch-check --budget 560 --cache-out
    python bench/gpu_session.py --list

Steps run with ``PYTHONPATH`` holding the carried wheels (``/tmp/site``)
and this checkout, and one floatsim cache folder (``FLOATSIM_CACHE_DIR``)
shared by every step, so the kernels compile once.
"""

from __future__ import annotations

import argparse
import os
import shutil
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
    "dist-1gpu": (240, "{py} -m torch.distributed.run --nproc-per-node 1 bench/distributed.py "
                       "--device cuda --out {out}/dist1"),
    "dist-2gpu": (300, "{py} -m torch.distributed.run --nproc-per-node 2 bench/distributed.py "
                       "--device cuda --out {out}/dist2"),
    "jax-bench": (200, "{py} bench/jax_cast.py --gpu --markdown {out}/jax_bench.md"),
    "noise-check": (200, "{py} tests/gpu_noise_check.py"),
    "torch-bench-md": (240, "{py} bench/torch_ops.py --gpu --markdown {out}/torch_bench.md"),
    "train-bench-md": (300, "{py} bench/train_step.py --gpu --markdown {out}/train_bench.md"),
    "gpu-cast": (240, "{py} bench/gpu_cast.py --n-log2 26 --out {out}/gpu_cast.md"),
    # issue 30's branch, checked out into .dev/speed (floatsim/, bench/, tests/): its own cache key
    "speed-warm": (240, "cd .dev/speed && PYTHONPATH=" + SITE + ":{root}/.dev/speed {py} "
                        "-m floatsim warmup --gpu --all --jobs 8"),
    "speed-check": (240, "cd .dev/speed && PYTHONPATH=" + SITE + ":{root}/.dev/speed {py} tests/gpu_check.py quick"),
    "speed-cast": (240, "cd .dev/speed && PYTHONPATH=" + SITE + ":{root}/.dev/speed {py} bench/gpu_cast.py "
                        "--n-log2 26 --only floatsim,blocks,overhead --out {out}/speed_cast.md"),
    "main-cast": (240, "{py} bench/gpu_cast.py --n-log2 26 --only floatsim,blocks,overhead --out {out}/main_cast.md"),
}

#: compiled kernels travel between calls of one session as this archive (the
#: cache is keyed by source contents, so a fresh copy of the tree reuses it)
CACHE_TAR = "floatsim-cache.tar.gz"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="setup,warm,check", help="comma-separated step names")
    ap.add_argument("--budget", type=float, default=560.0, help="seconds for all the steps together")
    ap.add_argument("--out", default=os.environ.get("OUT", "gpu-out"))
    ap.add_argument("--list", action="store_true", help="list the steps and exit")
    ap.add_argument("--cache-in", type=Path, help=f"unpack this {CACHE_TAR} into the cache first")
    ap.add_argument("--cache-out", action="store_true", help=f"write the cache to $OUT/{CACHE_TAR} last")
    a = ap.parse_args(argv)
    if a.list:
        for name, (secs, cmd) in STEPS.items():
            print(f"{name:14s} {secs:4d} s  {cmd}")
        return 0
    # the lease returns at most 8 files: logs and reports go to one folder, archived at the end
    top = Path(a.out)
    out = top / "session"
    out.mkdir(parents=True, exist_ok=True)
    if a.cache_in:
        parts = sorted(a.cache_in.parent.glob(a.cache_in.name + "*"))
        if parts:
            Path(CACHE).mkdir(parents=True, exist_ok=True)
            cat = subprocess.Popen(["cat", *map(str, parts)], stdout=subprocess.PIPE)
            subprocess.run(["tar", "-xzf", "-", "-C", CACHE], stdin=cat.stdout, check=False)
            cat.wait()
            print(f"cache: unpacked {len(parts)} part(s) of {a.cache_in}", flush=True)
    env = dict(os.environ, PYTHONPATH=f"{SITE}:{ROOT}", FLOATSIM_CACHE_DIR=CACHE,
               PYTHONUNBUFFERED="1", NCCL_NVLS_ENABLE="0", TORCH_SYMM_MEM_DISABLE_MULTICAST="1",
               NVSHMEM_DISABLE_NVLS="1")
    start = time.monotonic()
    summary = []
    for group in a.steps.split(","):
        # "a+b" runs steps a and b at the same time (e.g. two cache warm-ups on 16 cores)
        names = group.split("+")
        for name in names:
            if name not in STEPS:
                raise SystemExit(f"unknown step {name!r}; --list lists them")
        left = a.budget - (time.monotonic() - start)
        if left < 20:
            summary += [(name, "skipped: no time left", 0.0) for name in names]
            continue
        t0 = time.monotonic()
        procs = []
        for name in names:
            secs, cmd = STEPS[name]
            cmd = cmd.format(py=PY, out=out, root=ROOT)
            log = open(out / f"{name}.log", "w")  # noqa: SIM115 - closed below, after the wait
            log.write(f"$ {cmd}\n")
            log.flush()
            procs.append((name, min(secs, left), log,
                          subprocess.Popen(cmd, shell=True, cwd=ROOT, env=env, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True)))
        for name, limit, log, proc in procs:
            try:
                rc = proc.wait(timeout=max(1.0, limit - (time.monotonic() - t0)))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
                rc = "timeout"
            log.close()
            dt = time.monotonic() - t0
            summary.append((name, rc, dt))
            tail = (out / f"{name}.log").read_text(errors="replace").splitlines()[-6:]
            print(f"== {name}: {rc} in {dt:.0f} s\n" + "\n".join("   " + t for t in tail), flush=True)
    print("\nstep            status      seconds")
    for name, rc, dt in summary:
        print(f"{name:15s} {str(rc):10s} {dt:8.0f}")
    subprocess.run(["tar", "-czf", str(top / "session.tar.gz"), "-C", str(top), "session"], check=False)
    if a.cache_out and Path(CACHE).exists():
        # a file that comes back is at most 16 MiB: parts of 15 MiB, joined by --cache-in
        tar = subprocess.Popen(["tar", "-czf", "-", "-C", CACHE, "."], stdout=subprocess.PIPE)
        subprocess.run(["split", "-b", "15M", "-", str(top / (CACHE_TAR + ".part-"))], stdin=tar.stdout, check=False)
        tar.wait()
        sizes = [f.stat().st_size / 2**20 for f in top.glob(CACHE_TAR + ".part-*")]
        print(f"cache: {sum(sizes):.1f} MiB in {len(sizes)} part(s)", flush=True)
    shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
