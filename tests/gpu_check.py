"""floatsim's CUDA kernels on a real GPU, against the CPU path and torch's casts.

Not collected by pytest (no GPU in CI); run on a machine with one::

    python tests/gpu_check.py quick [--out gpu_check.md]   # API, dtypes, modes, streams, >2**31
    python tests/gpu_check.py api   [--out gpu_check.md]   # quick's first part: API, streams, hot paths
    python tests/gpu_check.py full  [--out gpu_check.md]   # all 2**32 float32 patterns
    python tests/gpu_check.py full --formats e4m3,e2m1     # ... for some of the formats

``quick`` compares the GPU with the CPU path bit for bit on large random
samples for many formats, every rounding mode, every input dtype, seeded and
explicit-bit stochastic rounding, encode and decode, Numba / torch / CuPy /
JAX arrays, strided inputs, CUDA streams and an array of more than 2**31
elements.  ``full`` runs every float32 bit pattern through quantize (nearest
even, and seeded SR for e4m3 and e2m1) and encode for e4m3fn, e5m2, e2m1,
e3m2 and e2m3 on the GPU and on the CPU (Numba threads), and compares
quantize with torch's hardware casts (``x.to(torch.float8_e4m3fn)`` and
back; float8_e5m2; float4 where torch can convert).  Prints a summary table
and writes it (and the details) to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import floatsim as fs  # noqa: E402
from floatsim.cpu import elementwise as cpu  # noqa: E402
from floatsim.kernels.fast32 import make_consts  # noqa: E402

try:
    import ml_dtypes

    BF16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover
    BF16 = None

ROWS: list[tuple[str, str, int, int, str]] = []  # (check, detail, compared, mismatches, note)
LOG: list[str] = []


def log(msg: str) -> None:
    print(msg, flush=True)
    LOG.append(msg)


def row(check: str, detail: str, n: int, bad: int, note: str = "") -> None:
    ROWS.append((check, detail, n, bad, note))
    log(f"{'OK  ' if bad == 0 else 'FAIL'} {check:28s} {detail:44s} {n:>14,d} compared, {bad:,d} differ {note}")


def ubits(a: np.ndarray) -> np.ndarray:
    return a.view(f"u{a.dtype.itemsize}")


def to_np(y: object) -> np.ndarray:
    """A GPU result (torch / cupy / numba / jax) on the host, as numpy."""
    mod = type(y).__module__.split(".")[0]
    if mod == "torch":
        import torch

        if y.dtype == torch.bfloat16:
            return y.view(torch.int16).cpu().numpy().view(BF16)
        if y.dtype in (torch.uint16, torch.uint32, torch.uint64):
            return y.view({torch.uint16: torch.int16, torch.uint32: torch.int32, torch.uint64: torch.int64}[y.dtype]).cpu().numpy().view(f"u{y.element_size()}")
        return y.cpu().numpy()
    if mod == "cupy":
        return y.get()
    if mod in ("jax", "jaxlib"):
        return np.asarray(y)
    return y.copy_to_host()


def compare(check: str, detail: str, gpu: object, ref: np.ndarray, note: str = "") -> None:
    g = to_np(gpu)
    if g.shape != ref.shape or g.dtype != ref.dtype:
        row(check, detail, ref.size, ref.size, f"shape/dtype {g.shape} {g.dtype} vs {ref.shape} {ref.dtype}")
        return
    diff = ubits(g) != ubits(ref)
    bad = int(diff.sum())
    if bad:
        i = np.flatnonzero(diff.reshape(-1))[:3]
        note += f" first at {list(i)}: gpu {ubits(g).reshape(-1)[i]} cpu {ubits(ref).reshape(-1)[i]}"
    row(check, detail, ref.size, bad, note)


def random_floats(dtype: np.dtype, n: int, seed: int) -> np.ndarray:
    """Uniformly random bit patterns of ``dtype`` (NaN, inf, subnormals included)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2 ** (8 * dtype.itemsize), n, dtype=f"u{dtype.itemsize}", endpoint=False).view(dtype)


def torch_from(x: np.ndarray):  # noqa: ANN201
    import torch

    if x.dtype == BF16:
        return torch.from_numpy(x.view(np.int16)).cuda().view(torch.bfloat16)
    if x.dtype.kind == "u" and x.dtype.itemsize > 1:
        return torch.from_numpy(x.view(f"i{x.dtype.itemsize}")).cuda().view(getattr(torch, f"uint{8 * x.dtype.itemsize}"))
    return torch.from_numpy(x).cuda()


# ---- quick --------------------------------------------------------------------------------

FORMATS = ["e4m3", "e5m2", "e2m1", "e3m2", "e2m3", "bf16", "float16", "e8m0", "e4m3fnuz",
           "e5m2fnuz", "e3m4", "tf32", "p3109_8p3"]


def fmt_of(name: str) -> fs.Format:
    if name == "p3109_8p3":
        return fs.p3109(8, 3)
    return fs.format(name)


def quick(n_log2: int = 20) -> None:
    """Formats x modes x dtypes for quantize, encode and decode (after quick_api)."""
    quick_api(n_log2)
    n = 1 << n_log2
    for name in FORMATS:
        f = fmt_of(name)
        codes = np.arange(f.num_codes, dtype=fs.code_dtype(f))
        for odt in (np.float32, np.float64):
            compare("decode", f"{name} all codes -> {np.dtype(odt)}", fs.decode(torch_from(codes), f, odt), fs.decode(codes, f, odt))
    modes = list(fs.Rounding)
    # formats x modes x input dtypes, through torch tensors: every mode for the
    # float32 fast path's main formats and the float64 general path, nearest
    # and SR elsewhere (keeps the run short)
    main = FORMATS[:8]
    for dtn in ("float32", "float64", "float16", "bfloat16"):
        dt = BF16 if dtn == "bfloat16" else np.dtype(dtn)
        x = random_floats(dt, n, seed=1)
        xg = torch_from(x)
        for name in FORMATS if dtn in ("float32", "float64") else ("e4m3", "e5m2", "e2m1", "bf16"):
            f = fmt_of(name)
            every = dtn == "float64" or (dtn == "float32" and name in main)
            for mode in modes if every else (fs.Rounding.NEAREST_EVEN, fs.Rounding.STOCHASTIC):
                variants = [{}] if mode is not fs.Rounding.STOCHASTIC else [{"seed": 7}, {"seed": 7, "sr_bits": 6}]
                for kw in variants:
                    try:
                        ref = fs.quantize(x, f, mode, **kw)
                    except ValueError:
                        continue  # dtype cannot hold the format
                    compare("quantize", f"{name} {dtn} {mode.name.lower()} {kw}", fs.quantize(xg, f, mode, **kw), ref)
    # encode / decode
    for dtn in ("float32", "float64", "bfloat16"):
        dt = BF16 if dtn == "bfloat16" else np.dtype(dtn)
        x = random_floats(dt, n, seed=2)
        for name in FORMATS:
            f = fmt_of(name)
            xs = x if f.has_nan else x[~np.isnan(x.astype(np.float64))]
            xg = torch_from(np.ascontiguousarray(xs))
            for mode in (fs.Rounding.NEAREST_EVEN, fs.Rounding.UP, fs.Rounding.STOCHASTIC):
                kw = {"seed": 3} if mode is fs.Rounding.STOCHASTIC else {}
                compare("encode", f"{name} {dtn} {mode.name.lower()}", fs.encode(xg, f, mode, **kw), fs.encode(xs, f, mode, **kw))


def quick_api(n_log2: int = 20) -> None:
    """Explicit random bits, libraries, strides, out=, streams, >2**31 elements."""
    import torch
    from numba import cuda

    n = 1 << n_log2
    # explicit random bits, float32 (fast path) and float64 (wide)
    rng = np.random.default_rng(4)
    for dtn, rdt in (("float32", np.uint32), ("float64", np.uint32), ("float64", np.uint64), ("float32", np.uint64)):
        x = random_floats(np.dtype(dtn), n, seed=5)
        rb = rng.integers(0, np.iinfo(rdt).max, n, dtype=rdt, endpoint=True)
        for name in ("e4m3", "e2m1", "bf16"):
            ref = fs.quantize(x, name, "sr", random_bits=rb)
            compare("quantize random_bits", f"{name} {dtn} {np.dtype(rdt)}", fs.quantize(torch_from(x), name, "sr", random_bits=torch_from(rb)), ref)
    # libraries: numba, cupy, jax; strides; 0-d; out=
    x = random_floats(np.dtype(np.float32), n, seed=6)
    ref = fs.quantize(x, "e4m3", "sr", seed=11)
    compare("numba device array", "e4m3 sr", fs.quantize(cuda.to_device(x), "e4m3", "sr", seed=11), ref)
    try:
        import cupy

        compare("cupy array", "e4m3 sr", fs.quantize(cupy.asarray(x), "e4m3", "sr", seed=11), ref)
        y = fs.quantize(cupy.asarray(x), "e4m3")
        log(f"cupy result type: {type(y).__module__}.{type(y).__name__}")
    except ImportError as e:
        log(f"cupy: n/a ({e})")
    try:
        import jax.numpy as jnp

        xj = jnp.asarray(x)
        yj = fs.quantize(xj, "e4m3", "sr", seed=11)
        log(f"jax result type: {type(yj).__module__}.{type(yj).__name__} on {getattr(yj, 'devices', lambda: '?')()}")
        compare("jax array", "e4m3 sr", yj, ref)
    except Exception as e:  # noqa: BLE001
        log(f"jax: n/a or failed ({type(e).__name__}: {e})")
    x2 = x[: 1 << 18].reshape(512, 512)
    t2 = torch_from(x2)
    compare("torch transposed", "e2m1 sr", fs.quantize(t2.T, "e2m1", "sr", seed=3), fs.quantize(x2.T, "e2m1", "sr", seed=3))
    compare("torch strided slice", "e5m2", fs.quantize(t2[::3, 1::2], "e5m2"), fs.quantize(x2[::3, 1::2], "e5m2"))
    compare("torch 0-d", "e4m3", fs.quantize(t2[5, 7], "e4m3"), fs.quantize(x2[5, 7], "e4m3"))
    out = torch.empty_like(t2)
    r = fs.quantize(t2, "e4m3", out=out)
    row("out= returned", "torch", 1, int(r is not out))
    compare("out=", "e4m3", out, fs.quantize(x2, "e4m3"))
    # the per-call fast path (floatsim.gpu.plans) against the general dispatch,
    # which an explicit cuda_stream= selects; and that the fast path was taken
    from floatsim.gpu import plans

    for name, mode, kw in (("e4m3", "rne", {}), ("e2m1", "sr", {"seed": 2**40 + 3}), ("bf16", "up", {})):
        for tdt in (torch.float32, torch.bfloat16, torch.float64):
            xt = torch_from(x2).to(tdt)
            hot = fs.quantize(xt, name, mode, **kw)
            general = fs.quantize(xt, name, mode, cuda_stream=torch.cuda.current_stream(), **kw)
            compare("hot path vs general", f"{name} {mode} {tdt}", hot, to_np(general))
    n_plans = plans.plan_counts()["element"]
    row("hot path taken", f"{n_plans} plans", 1, int(not n_plans))
    hot_codes(x2)
    tg = torch.ones(10, device="cuda", requires_grad=True)
    compare("requires_grad", "e4m3", fs.quantize(tg, "e4m3"), fs.quantize(np.ones(10, np.float32), "e4m3"))
    # streams: torch current stream, explicit torch / numba / int streams
    s = torch.cuda.Stream()
    big = torch_from(random_floats(np.dtype(np.float32), 1 << 24, seed=8))
    refb = fs.quantize(to_np(big), "e4m3", "sr", seed=5)
    with torch.cuda.stream(s):
        big2 = big * 1  # produced on s
        yb = fs.quantize(big2, "e4m3", "sr", seed=5)  # must run on s (torch's current stream)
    s.synchronize()
    compare("torch current stream", "side stream", yb, refb)
    yb = fs.quantize(big, "e4m3", "sr", seed=5, cuda_stream=s)
    s.synchronize()
    compare("cuda_stream=torch.Stream", "", yb, refb)
    ns = cuda.stream()
    yb = fs.quantize(big, "e4m3", "sr", seed=5, cuda_stream=ns)
    ns.synchronize()
    compare("cuda_stream=numba stream", "", yb, refb)
    yb = fs.quantize(big, "e4m3", "sr", seed=5, cuda_stream=s.cuda_stream)
    s.synchronize()
    compare("cuda_stream=int handle", "", yb, refb)
    # more than 2**31 elements (64-bit indexing), bfloat16 to save memory
    try:
        nbig = (1 << 31) + 9
        xb = torch.randn(nbig, device="cuda", dtype=torch.bfloat16) * 30
        yb = fs.quantize(xb, "e4m3", "sr", seed=21)
        torch.cuda.synchronize()
        for lo in (0, nbig - (1 << 20), (1 << 31) - 7 - (1 << 19)):
            hi = min(lo + (1 << 20), nbig)
            xs = to_np(xb[lo:hi]).astype(np.float32)
            want = np.empty_like(xs)
            f = fs.format("e4m3")
            c = make_consts(f, fs.Rounding.STOCHASTIC, None, None)
            cpu.f32_sr(xs.view(np.uint32), want.view(np.uint32), c, 1, 21, 0, 0, lo, np.zeros(1, np.uint64), None)
            compare(">2**31 elements", f"sr, elements {lo}..{hi}", yb[lo:hi], want.astype(BF16))
        del xb, yb
        torch.cuda.empty_cache()
    except Exception as e:  # noqa: BLE001
        row(">2**31 elements", "failed", 0, 1, f"{type(e).__name__}: {e}")


# ---- full ----------------------------------------------------------------------------------

FULL = [("e4m3", "float8_e4m3fn"), ("e5m2", "float8_e5m2"), ("e2m1", "float4_e2m1fn_x2"), ("e3m2", None), ("e2m3", None)]


def hot_codes(x2: np.ndarray) -> None:
    """decode's and encode's per-call fast paths (floatsim.gpu.plans) and the
    general dispatch (which cuda_stream= selects) against the CPU: decode on
    ``x2.size`` random codes and all 256, encode on ``x2``'s values."""
    import torch

    from floatsim.gpu import plans

    every = torch.arange(256, device="cuda").to(torch.uint8)
    gen = torch.Generator(device="cuda").manual_seed(5)
    codes = torch.cat([torch.randint(0, 256, (x2.size,), device="cuda", generator=gen, dtype=torch.uint8), every])
    for name in ("e4m3", "e2m1", "e5m2"):
        for c in (codes & 15 if name == "e2m1" else codes, every[:7]):  # [:7]: a partial group of four
            for odt in (np.float32, BF16, np.float16):
                ref = fs.decode(c.cpu().numpy() & (15 if name == "e2m1" else 255), name, odt)
                compare("hot decode", f"{name} {c.numel()} -> {np.dtype(odt)}", fs.decode(c, name, odt), ref)
                general = fs.decode(c, name, odt, cuda_stream=torch.cuda.current_stream())
                compare("general decode", f"{name} {c.numel()} -> {np.dtype(odt)}", general, ref)
    n_dec = plans.plan_counts()["decode"]
    row("hot decode taken", f"{n_dec} plans", 1, int(n_dec != 9))
    # encode: the per-call path and the general dispatch against the CPU
    xs = np.ascontiguousarray(x2.reshape(-1)[: x2.size - x2.size % 4 - 1])  # a partial group of four
    before = plans.plan_counts()["element"]
    for name, mode, kw in (("e4m3", "rne", {}), ("e2m1", "sr", {"seed": 9}), ("e5m2", "ru", {}),
                           ("bf16", "sr", {"seed": 9, "sr_bits": 5}), ("e3m2", "rto", {})):
        f = fs.format(name)
        xv = xs if f.has_nan else np.nan_to_num(xs, nan=0.0)
        for dtn in ("float32", "bfloat16"):
            xh = xv.astype(BF16) if dtn == "bfloat16" else xv
            ref = fs.encode(xh, name, mode, **kw)
            xt = torch_from(xh)
            compare("hot encode", f"{name} {mode} {dtn}", fs.encode(xt, name, mode, **kw), ref)
            general = fs.encode(xt, name, mode, cuda_stream=torch.cuda.current_stream(), **kw)
            compare("general encode", f"{name} {mode} {dtn}", general, ref)
    n_enc = plans.plan_counts()["element"] - before
    row("hot encode taken", f"{n_enc} plans", 1, int(n_enc != 10))
    # an input off alignment: the per-call path passes it on to the general dispatch
    xt = torch_from(np.concatenate([np.zeros(1, np.float32), xs]))[1:]
    compare("encode off alignment", "e4m3 sr", fs.encode(xt, "e4m3", "sr", seed=4), fs.encode(xs, "e4m3", "sr", seed=4))


def torch_cast(xg, tname: str | None):  # noqa: ANN001, ANN201
    import torch

    if tname is None or not hasattr(torch, tname):
        return None, f"torch has no {tname or 'float6'} dtype"
    try:
        return xg.to(getattr(torch, tname)).to(torch.float32), ""
    except Exception as e:  # noqa: BLE001
        return None, f"torch cannot cast to {tname}: {type(e).__name__}: {str(e).splitlines()[0][:80]}"


def _cpu_helpers():  # noqa: ANN202
    """Parallel CPU loops for the exhaustive check (numpy temporaries of 2**29
    elements cost more than the casts)."""
    import numba

    @numba.njit(parallel=True, cache=True)
    def count_diff(a, b):  # noqa: ANN001, ANN202
        n = 0
        for i in numba.prange(a.size):
            n += a[i] != b[i]
        return n

    @numba.njit(cache=True)
    def first_diff(a, b):  # noqa: ANN001, ANN202
        for i in range(a.size):
            if a[i] != b[i]:
                return i
        return -1

    @numba.njit(parallel=True, cache=True)
    def nan_to_zero(xu, out):  # noqa: ANN001, ANN202
        for i in numba.prange(xu.size):
            out[i] = 0 if (xu[i] & 0x7FFFFFFF) > 0x7F800000 else xu[i]

    @numba.njit(parallel=True, cache=True)
    def count_diff_codes(cg, cc, xu, allones):  # noqa: ANN001, ANN202
        """GPU codes vs CPU codes, where NaN inputs must give the all-ones code."""
        n = 0
        for i in numba.prange(cg.size):
            if (xu[i] & 0x7FFFFFFF) > 0x7F800000:
                n += cg[i] != allones
            else:
                n += cg[i] != cc[i]
        return n

    return count_diff, first_diff, nan_to_zero, count_diff_codes


def full(chunk_log2: int = 28, formats: list[str] | None = None) -> None:
    import torch

    todo = [(n, t) for n, t in FULL if formats is None or n in formats]

    count_diff, first_diff, nan_to_zero, count_diff_codes = _cpu_helpers()
    chunk = 1 << chunk_log2
    tallies: dict[tuple[str, str], list[int]] = {}
    notes: dict[tuple[str, str], str] = {}

    def add(key: tuple[str, str], n: int, bad: int, note: str = "") -> None:
        t = tallies.setdefault(key, [0, 0])
        t[0] += n
        t[1] += bad
        if note and key not in notes:
            notes[key] = note

    t0 = time.time()
    for start in range(0, 1 << 32, chunk):
        xu = np.arange(start, start + chunk, dtype=np.uint32)
        xc = xu.view(np.float32)
        xnn = np.empty_like(xu)
        nan_to_zero(xu, xnn)
        xg = torch.arange(start, start + chunk, dtype=torch.int64, device="cuda").to(torch.int32).view(torch.float32)
        for name, tname in todo:
            f = fs.format(name)
            yg = fs.quantize(xg, f)
            g = yg.cpu().numpy().view(np.uint32)
            yc = fs.quantize(xc, f).view(np.uint32)
            bad = count_diff(g, yc)
            add(("quantize rne vs CPU", f.name), chunk, bad, f"first {hex(start + first_diff(g, yc))}" if bad else "")
            th, why = torch_cast(xg, tname)
            if th is None:
                add(("quantize rne vs torch", f.name), 0, 0, why)
            else:
                eq = (yg.view(torch.int32) == th.view(torch.int32)) | (torch.isnan(yg) & torch.isnan(th))
                nb = int((~eq).sum())
                first = int(torch.nonzero(~eq)[0]) if nb else -1
                add(("quantize rne vs torch", f.name), chunk, nb, f"first {hex(start + first)}" if nb else "")
                del th, eq
            del yg
            cg = to_np(fs.encode(xg, f))
            if f.has_nan:
                bad = count_diff(cg, fs.encode(xc, f))
            else:  # the CPU raises on NaN into a format without NaN; the GPU gives all ones
                cc = fs.encode(xnn.view(np.float32), f)
                bad = count_diff_codes(cg, cc, xu, np.iinfo(cg.dtype).max)
            add(("encode rne vs CPU", f.name), chunk, bad, "" if f.has_nan else "NaN: all-ones code on the GPU")
            if name in ("e4m3", "e2m1"):
                sid = start >> chunk_log2
                g = fs.quantize(xg, f, "sr", seed=2024, stream=sid).cpu().numpy().view(np.uint32)
                yc = fs.quantize(xc, f, "sr", seed=2024, stream=sid).view(np.uint32)
                add(("quantize sr(seed) vs CPU", f.name), chunk, count_diff(g, yc))
        del xg
        so_far = sum(bad for _, bad in tallies.values())
        log(f"  chunk {start >> chunk_log2:2d}/{(1 << 32) // chunk}: {time.time() - t0:6.1f} s, "
            f"{so_far} differences so far")
    for (check, detail), (n, bad) in tallies.items():
        row(check, detail, n, bad, notes.get((check, detail), ""))


def environment() -> list[str]:
    lines = [f"date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
             f"python {platform.python_version()}, numpy {np.__version__}"]
    for mod in ("numba", "numba_cuda", "llvmlite", "torch", "cupy", "jax", "ml_dtypes"):
        try:
            m = __import__(mod)
            lines.append(f"{mod} {getattr(m, '__version__', '?')}")
        except Exception as e:  # noqa: BLE001
            lines.append(f"{mod}: not importable ({type(e).__name__})")
    try:
        import torch

        p = torch.cuda.get_device_properties(0)
        lines.append(f"device: {p.name}, {p.multi_processor_count} SMs, {p.total_memory / 2**30:.0f} GiB, cc {p.major}.{p.minor}")
    except Exception as e:  # noqa: BLE001
        lines.append(f"device: ? ({e})")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["quick", "api", "full"])
    ap.add_argument("--out", type=Path)
    ap.add_argument("--chunk-log2", type=int, default=28, help="full: elements per chunk, log2")
    ap.add_argument("--n-log2", type=int, default=20, help="quick: sample size, log2")
    names = [n for n, _ in FULL]
    ap.add_argument("--formats", type=lambda v: v.split(","), default=None,
                    help=f"full: a comma-separated subset of {','.join(names)} (default: all)")
    a = ap.parse_args()
    bad = sorted(set(a.formats or ()) - set(names))
    if bad:
        ap.error(f"--formats: {', '.join(bad)} not among {', '.join(names)}")
    env = environment()
    for line in env:
        log(line)
    t0 = time.time()
    try:
        if a.mode == "full":
            full(a.chunk_log2, a.formats)
        else:
            (quick if a.mode == "quick" else quick_api)(a.n_log2)
    except Exception:  # noqa: BLE001
        log(traceback.format_exc())
        ROWS.append(("exception", "see log", 0, 1, ""))
    fails = sum(1 for r in ROWS if r[3])
    summary = [f"# floatsim GPU check ({a.mode})", "", *[f"- {e}" for e in env],
               f"- command: `python tests/gpu_check.py {' '.join(sys.argv[1:])}`",
               f"- time: {time.time() - t0:.0f} s", "",
               "| check | detail | compared | differ | note |", "|---|---|---:|---:|---|"]
    summary += [f"| {c} | {d} | {n:,} | {b:,} | {note} |" for c, d, n, b, note in ROWS]
    summary += ["", f"{len(ROWS)} checks, {fails} with differences."]
    text = "\n".join(summary)
    print("\n" + "\n".join(summary[-3:]))
    if a.out:
        a.out.write_text(text + "\n\n## log\n\n```\n" + "\n".join(LOG) + "\n```\n")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
