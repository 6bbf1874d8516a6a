"""GPU element-wise cast benchmark: floatsim's CUDA kernels against the copy floor,
torch's hardware casts and the peers, in one run.

Run on a machine with a CUDA GPU and torch::

    python bench/gpu_cast.py [--n-log2 26] [--out bench/results/gpu_cast.md]

For 2**n float32 elements (default 2**26) it times, with CUDA events
(``triton.testing.do_bench`` median when Triton is there, which also flushes
the L2 between runs):

* a device-to-device copy (``y.copy_(x)``): the floor;
* torch's cast to float8 and back (``x.to(torch.float8_e4m3fn).to(x.dtype)``,
  float8_e5m2), eager and under ``torch.compile`` (one fused kernel);
* floatsim ``quantize`` (nearest-even and seeded SR; e4m3, e2m1, bf16)
  through the public API on torch tensors, ``encode`` and ``decode``;
* the peers, on the same input (each row "n/a: reason" when its package is
  missing or the call fails, independently of the others):

  - qtorch ``float_quantize`` (its CUDA extension, JIT-built by
    ``torch.utils.cpp_extension`` at import), e4m3 and e2m1, nearest and
    stochastic;
  - pychop ``Chop`` on its torch backend, e4m3 and e2m1, ``rmode=1`` (nearest
    even) and ``rmode=5`` (stochastic);
  - microxcaling's custom CUDA extension (JIT-built at import of
    ``mx.custom_extensions``): element-wise e4m3 / e2m1 (``round="even"``,
    ``saturate_normals=True``) and ``_quantize_mx`` MXFP8 e4m3 / MXFP4 (block 32
    along the last axis of an 8192 x 8192 view);
  - torchao ``to_mx`` + ``to_dtype`` (quantize and dequantize), MXFP8 e4m3 and
    MXFP4, eager and under ``torch.compile``;

* launch overhead: host time per call of a 1-element cast, back to back.

Each peer's first result is checked against floatsim before it is timed:
bit for bit against floatsim with the peer's own semantics (range, tie rule;
the reference is named in the row note), and for stochastic rounding that
every value is floatsim's round-down or round-up of x, with the share rounded
up against the expected share.  Differences are counted in the row note and
described under the table; MX rows are compared with ``floatsim.blocks`` (on
the GPU if it takes GPU arrays, else on the host).

microxcaling is not on PyPI: it is imported from ``$MICROXCALING_DIR``, or
else from ``.peers/microxcaling`` in this repository (bench/README.md).
Set ``TORCH_EXTENSIONS_DIR`` to keep the JIT-built extensions of qtorch and
microxcaling between runs (and to build them before the benchmark).

Bytes are counted as the data a cast must move (4 bytes read and 4 written
per element for a float32 fake-quantization, whatever a peer moves
internally), GB/s = bytes / time.  Ratios: copy time / time (1.0 = copy
speed) and torch cast time / time for the same format.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

import floatsim as fs  # noqa: E402

ROWS: list[tuple[str, float | None, int, str]] = []  # (name, seconds or None, bytes/elem, note)
MUTATED: list[str] = []  # peers found writing into their input (x restored after each)
NOTES: list[str] = []  # correctness notes under the table
#: The microxcaling checkout (github.com/microsoft/microxcaling; not on PyPI).
MICROXCALING = Path(os.environ.get("MICROXCALING_DIR") or REPO / ".peers" / "microxcaling")
BLOCK = 32  # MX block size, along the last axis
MX_REF_ELEMENTS = 1 << 26  # at most this many in the MX reference when it runs on the host


def bench(fn, warmup: int = 5, reps: int = 30) -> float:  # noqa: ANN001
    """Median seconds per call."""
    try:
        from triton.testing import do_bench

        return do_bench(fn, warmup=25, rep=200, return_mode="median") / 1e3
    except ImportError:
        pass
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
    return statistics.median(times)


def why(e: BaseException, limit: int = 110) -> str:
    """A one-line reason for a table cell."""
    msg = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]}".replace("|", "/")
    return msg if len(msg) <= limit else msg[: limit - 1] + "…"


def add(name: str, fn, nbytes: int, note: str = "", check=None) -> float | None:  # noqa: ANN001
    """Time ``fn``; ``check(result)`` (-> (ok, text)) runs on the first result first."""
    try:
        y = fn()
        torch.cuda.synchronize()
        if check is not None:
            note = "; ".join(filter(None, (note, checked(name, check, y))))
        del y
        t = bench(fn)
    except Exception as e:  # noqa: BLE001
        ROWS.append((name, None, nbytes, f"n/a: {why(e)}"))
        print(f"{name:44s} n/a ({e})", flush=True)
        return None
    ROWS.append((name, t, nbytes, note))
    print(f"{name:44s} {t * 1e6:9.1f} us  {note}", flush=True)
    return t


def na(names: list[str], nbytes: int, reason: str) -> None:
    """Rows that cannot run (a peer that is missing or does not import)."""
    for name in names:
        ROWS.append((name, None, nbytes, f"n/a: {reason}"))
        print(f"{name:44s} n/a ({reason})", flush=True)


# ---- correctness of the peers, against floatsim on the same input ----------------------


def checked(name: str, check, y) -> str:  # noqa: ANN001
    """Run a check: its text when the result agrees, else a numbered note."""
    try:
        ok, text = check(y)
    except Exception as e:  # noqa: BLE001 - a broken check must not hide the timing
        ok, text = False, f"check failed: {why(e)}"
    if ok:
        return text
    NOTES.append(f"{name}: {text}")
    return f"✗{len(NOTES)} (differs from floatsim, see note {len(NOTES)})"


_REFS: dict[tuple, torch.Tensor] = {}


def ref(x: torch.Tensor, fmt, rounding: str, **kw) -> torch.Tensor:  # noqa: ANN001
    """floatsim's result on the GPU (cached; ``x`` is the benchmark's input)."""
    key = (id(x), fmt, rounding, tuple(sorted(kw.items())))
    if key not in _REFS:
        _REFS[key] = torch.as_tensor(fs.quantize(x, fmt, rounding, **kw), device=x.device)
    return _REFS[key]


def _agree(got: torch.Tensor, want: torch.Tensor) -> torch.Tensor:
    """Bitwise equality of float32 tensors (any NaN equals any NaN), flat."""
    g, w = got.reshape(-1).float(), want.reshape(-1).float()
    return (g.view(torch.int32) == w.view(torch.int32)) | (torch.isnan(g) & torch.isnan(w))


def _first_bad(ok: torch.Tensor, x: torch.Tensor, got: torch.Tensor, want: torch.Tensor) -> str:
    i = int(torch.nonzero(~ok)[0])
    xv, gv, wv = (float(t.reshape(-1)[i]) for t in (x, got, want))
    return f"e.g. x={xv!r} -> {gv!r}, floatsim {wv!r}"


def exact(x: torch.Tensor, fmt, rounding: str, desc: str, **kw):  # noqa: ANN001, ANN201
    """Check: bit for bit equal to ``fs.quantize(x, fmt, rounding, **kw)``."""

    def check(y: torch.Tensor) -> tuple[bool, str]:
        want = ref(x, fmt, rounding, **kw)
        if y.shape != want.shape or y.dtype != torch.float32:
            return False, f"returned {y.dtype}{tuple(y.shape)}, expected float32{tuple(want.shape)}"
        ok = _agree(y, want)
        bad = int((~ok).sum())
        if not bad:
            return True, f"bit-exact vs floatsim {desc}"
        g, w = y.reshape(-1), want.reshape(-1)
        zeros = int((~ok & (g == 0) & (w == 0)).sum())
        sign0 = f" ({zeros} of them only in the sign of zero)" if zeros else ""
        return False, f"{bad} of {ok.numel()} differ from floatsim {desc}{sign0}; {_first_bad(ok, x, y, want)}"

    return check


def stochastic(x: torch.Tensor, fmt, desc: str):  # noqa: ANN001, ANN201
    """Check: every value is floatsim's round-down or round-up of x (sign of
    zero ignored); reports the share rounded up against the expected share."""

    def check(y: torch.Tensor) -> tuple[bool, str]:
        lo, hi = ref(x, fmt, "down").reshape(-1), ref(x, fmt, "up").reshape(-1)
        g, xf = y.reshape(-1).float(), x.reshape(-1)
        if g.numel() != xf.numel():
            return False, f"returned {g.numel()} elements, expected {xf.numel()}"
        ok = (g == lo) | (g == hi) | (torch.isnan(g) & torch.isnan(xf))
        bad = int((~ok).sum())
        inexact = (lo != hi) & torch.isfinite(lo) & torch.isfinite(hi)
        p = ((xf.double() - lo.double()) / (hi.double() - lo.double()))[inexact]
        up = (g == hi)[inexact].double()
        share = f"{up.mean().item():.3%} of inexact values rounded up (expected {p.mean().item():.3%})"
        if not bad:
            return True, f"SR ok: each value is x rounded down or up in floatsim {desc}; {share}"
        nearest = ref(x, fmt, "nearest_even").reshape(-1)
        return False, (f"{bad} of {ok.numel()} values are neither floatsim {desc}'s round-down nor "
                       f"round-up of x; {_first_bad(ok, xf, g, nearest)} (floatsim: nearest); {share}")

    return check


_MX_REFS: dict[str, tuple[torch.Tensor, str]] = {}


def mx_ref(x2d: torch.Tensor, name: str) -> tuple[torch.Tensor, str]:
    """floatsim.blocks' MX fake-quantization of ``x2d`` (flat, on x2d's device): on
    the GPU if floatsim.blocks takes GPU arrays, else on the host (its first
    ``MX_REF_ELEMENTS`` elements; floatsim's CPU kernels, all cores)."""
    if name not in _MX_REFS:
        try:
            r = fs.blocks.quantize(x2d, name, axis=-1)
            if not isinstance(r, torch.Tensor):
                raise TypeError("not a tensor")
            _MX_REFS[name] = r.reshape(-1), "on the GPU"
        except Exception:  # noqa: BLE001 - host arrays only: on the host
            rows = max(1, min(x2d.shape[0], MX_REF_ELEMENTS // x2d.shape[-1]))
            host = x2d[:rows].cpu().numpy()
            r = torch.from_numpy(fs.blocks.quantize(host, name, axis=-1)).to(x2d.device)
            part = "" if rows == x2d.shape[0] else f"first {r.numel()} elements, "
            _MX_REFS[name] = r.reshape(-1), f"{part}on the host"
    return _MX_REFS[name]


def mx_exact(x2d: torch.Tensor, name: str, rel: float = 0.0):  # noqa: ANN201
    """Check: bit for bit equal to ``fs.blocks.quantize(x2d, name, axis=-1)``;
    with ``rel``, within ``rel`` relative instead (a peer that rounds in ways
    docs/blocks.md lists: torchao's NVFP4), reporting the share bit-identical."""

    def check(y: torch.Tensor) -> tuple[bool, str]:
        want, where = mx_ref(x2d, name)
        k = want.numel()
        if y.numel() != x2d.numel():
            return False, f"returned {y.numel()} elements, expected {x2d.numel()}"
        got, xs = y.reshape(-1)[:k], x2d.reshape(-1)[:k]
        ok = _agree(got, want)
        desc = f"floatsim.blocks {name} ({where})"
        if rel:
            desc += f"; {float(ok.double().mean()):.4%} bit-identical"
            ok |= (got.double() - want.double()).abs() <= rel * want.double().abs()
        bad = int((~ok).sum())
        if not bad:
            return True, f"within {rel:g} relative of {desc}" if rel else f"bit-exact vs {desc}"
        how = f"beyond {rel:g} relative of" if rel else "differ from"
        return False, f"{bad} of {k} {how} {desc}; {_first_bad(ok, xs, got, want)}"

    return check


# ---- the peers ------------------------------------------------------------------------


def peer_versions() -> str:
    """Installed versions of the peers, and the microxcaling checkout's commit."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for mod in ("qtorch", "pychop", "torchao"):
        try:
            out.append(f"{mod} {version(mod)}")
        except PackageNotFoundError:
            out.append(f"{mod} -")
    head = MICROXCALING / ".git" / "HEAD"
    rev = "-"
    try:
        rev = head.read_text().strip()
        if rev.startswith("ref: "):  # a branch: its commit from the ref file or packed-refs
            ref_name = rev[5:]
            loose = MICROXCALING / ".git" / ref_name
            packed = MICROXCALING / ".git" / "packed-refs"
            if loose.exists():
                rev = loose.read_text().strip()
            elif packed.exists():
                rev = next((ln.split()[0] for ln in packed.read_text().splitlines()
                            if ln.endswith(" " + ref_name)), "?")
        rev = rev[:12]
    except OSError:
        rev = "no git metadata" if (MICROXCALING / "mx").is_dir() else "-"
    out.append(f"microxcaling {rev} ({MICROXCALING})")
    return ", ".join(out)


def peer_qtorch(x: torch.Tensor) -> None:
    """qtorch float_quantize: its CUDA kernels (one thread per element)."""
    fmts = {"e4m3": (4, 3), "e2m1": (2, 1)}
    names = {(f, r): f"qtorch float_quantize {f} {r}" for f in fmts for r in ("nearest", "stochastic")}
    try:
        from qtorch.quant import float_quantize
    except Exception as e:  # noqa: BLE001
        return na(list(names.values()), 8, why(e))
    for f, (e, m) in fmts.items():
        # qtorch reserves no exponent code for inf/NaN and clips to its largest value: e4m3 has
        # max 480 (not OCP's 448), e2m1 max 6 (= OCP); its "nearest" adds half an ulp to the
        # magnitude bits and truncates: ties away from zero.
        q = fs.Format(ebits=e, mbits=m, specials="finite", overflow="saturate")
        desc = f"{f} without inf/NaN (max {q.max:g}, qtorch's range) nearest_away"
        add(names[f, "nearest"], lambda e=e, m=m: float_quantize(x, exp=e, man=m, rounding="nearest"), 8,
            check=exact(x, q, "nearest_away", desc))
        add(names[f, "stochastic"], lambda e=e, m=m: float_quantize(x, exp=e, man=m, rounding="stochastic"),
            8, "random ints drawn in the call", check=stochastic(x, q, f"{f} (max {q.max:g})"))


def peer_pychop(x: torch.Tensor) -> None:
    """pychop Chop on its torch backend (element-wise torch ops)."""
    fmts = {"e4m3": (4, 3), "e2m1": (2, 1)}
    names = {(f, r): f"pychop Chop {f} {r} (torch backend)" for f in fmts for r in ("rne", "sr")}
    try:
        import pychop

        pychop.backend("torch")
    except Exception as e:  # noqa: BLE001
        return na(list(names.values()), 8, why(e))
    for f, (e, m) in fmts.items():
        # pychop's (exp_bits, sig_bits) formats are IEEE-style: the top exponent is reserved
        # (e4m3: max 240; e2m1: max 3), unlike OCP's finite-only e4m3fn / e2m1.
        ieee = fs.Format(ebits=e, mbits=m)
        desc = f"{f} IEEE-style (max {ieee.max:g}, pychop's format)"
        rne, sr = pychop.Chop(e, m, rmode=1), pychop.Chop(e, m, rmode=5)
        add(names[f, "rne"], lambda c=rne: c(x), 8, check=exact(x, ieee, "nearest_even", desc + " rne"))
        add(names[f, "sr"], lambda c=sr: c(x), 8, "rmode=5", check=stochastic(x, ieee, desc))


def peer_microxcaling(x: torch.Tensor, x2d: torch.Tensor) -> None:
    """microxcaling's custom CUDA extension: element-wise and MX quantize."""
    elem = {"e4m3": ("fp8_e4m3", "e4m3"), "e2m1": ("fp4_e2m1", "e2m1")}
    blocks = {"MXFP8 e4m3": ("fp8_e4m3", "mxfp8_e4m3"), "MXFP4": ("fp4_e2m1", "mxfp4_e2m1")}
    elem_names = {f: f"microxcaling elemwise {f} even (custom CUDA)" for f in elem}
    block_names = {c: f"microxcaling quantize_mx {c} (custom CUDA)" for c in blocks}
    names = [*elem_names.values(), *block_names.values()]
    if not (MICROXCALING / "mx").is_dir():
        return na(names, 8, f"no checkout at {MICROXCALING} (set MICROXCALING_DIR; bench/README.md)")
    sys.path.insert(0, str(MICROXCALING))
    try:
        # JIT-builds the CUDA extension (needs nvcc, ninja); import_module, since
        # `import mx.…` would bind the name mx in this function
        importlib.import_module("mx.custom_extensions")
        from mx.elemwise_ops import _quantize_elemwise
        from mx.formats import ElemFormat
        from mx.mx_ops import _quantize_mx
    except (Exception, SystemExit) as e:  # noqa: BLE001 - a failed build can also exit
        return na(names, 8, why(e))
    for f, (mxname, fsname) in elem.items():
        ef = ElemFormat.from_str(mxname)
        add(elem_names[f],
            lambda ef=ef: _quantize_elemwise(x, ef, round="even", saturate_normals=True, custom_cuda=True), 8,
            check=exact(x, fsname, "nearest_even", f"{fsname} rne, saturating", overflow="saturate"))
    for col, (mxname, bname) in blocks.items():
        ef = ElemFormat.from_str(mxname)
        add(block_names[col],
            lambda ef=ef: _quantize_mx(x2d, 8, ef, axes=[-1], block_size=BLOCK, round="even", custom_cuda=True),
            8, "8-bit scale, floor rule", check=mx_exact(x2d, bname))


def peer_torchao(x2d: torch.Tensor) -> None:
    """torchao's MX cast (prototype.mx_formats): to_mx then to_dtype; and its
    two-level NVFP4 (NVFP4Tensor.to_nvfp4, then dequantize)."""
    blocks = {"MXFP8 e4m3": ("float8_e4m3fn", "mxfp8_e4m3"), "MXFP4": ("float4_e2m1fn_x2", "mxfp4_e2m1")}
    modes = ("eager", "torch.compile")
    names = {(c, m): f"torchao to_mx + to_dtype {c} ({m})" for c in blocks for m in modes}
    try:
        from torchao.prototype.mx_formats.mx_tensor import to_dtype, to_mx
    except Exception as e:  # noqa: BLE001
        return na(list(names.values()), 8, why(e))
    for col, (elem_name, bname) in blocks.items():
        elem = getattr(torch, elem_name, None)
        if elem is None:
            na([names[col, m] for m in modes], 8, f"torch {torch.__version__} has no torch.{elem_name}")
            continue

        def round_trip(t: torch.Tensor, elem=elem) -> torch.Tensor:  # noqa: ANN001
            scale, data = to_mx(t, elem, BLOCK)
            return to_dtype(data, scale, elem, BLOCK, torch.float32)

        add(names[col, "eager"], lambda f=round_trip: f(x2d), 8, "quantize + dequantize", check=mx_exact(x2d, bname))
        try:
            comp = torch.compile(round_trip)
        except Exception as e:  # noqa: BLE001
            na([names[col, "torch.compile"]], 8, why(e))
            continue
        add(names[col, "torch.compile"], lambda f=comp: f(x2d), 8, "quantize + dequantize, compiled",
            check=mx_exact(x2d, bname))
    nv_names = {m: f"torchao NVFP4Tensor.to_nvfp4 + dequantize ({m})" for m in modes}
    try:
        from torchao.prototype.mx_formats.nvfp4_tensor import NVFP4Tensor, per_tensor_amax_to_scale
    except Exception as e:  # noqa: BLE001
        return na(list(nv_names.values()), 8, why(e))

    def nv_round_trip(t: torch.Tensor) -> torch.Tensor:  # two levels, as fs.blocks' nvfp4
        pts = per_tensor_amax_to_scale(t.abs().max())
        return NVFP4Tensor.to_nvfp4(t, per_tensor_scale=pts).dequantize(torch.float32)

    add(nv_names["eager"], lambda: nv_round_trip(x2d), 8, "quantize + dequantize, tensor scale",
        check=mx_exact(x2d, "nvfp4", 2.0**-20))
    try:
        nv_comp = torch.compile(nv_round_trip)
    except Exception as e:  # noqa: BLE001
        return na([nv_names["torch.compile"]], 8, why(e))
    add(nv_names["torch.compile"], lambda: nv_comp(x2d), 8, "quantize + dequantize, compiled",
        check=mx_exact(x2d, "nvfp4", 2.0**-20))


def launch_overhead(fn, n: int = 1000, repeats: int = 5) -> float:  # noqa: ANN001
    """Host seconds per back-to-back call (the GPU work is one tiny kernel):
    the least of ``repeats`` runs of ``n`` calls, since the host's own noise
    (other processes, frequency changes) only ever adds time."""
    for _ in range(50):
        fn()
    best = float("inf")
    for _ in range(repeats):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    torch.cuda.synchronize()
    return best / n


#: Row groups of --only.
GROUPS = ("floatsim", "blocks", "qtorch", "pychop", "microxcaling", "torchao", "sweep", "overhead")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-log2", type=int, default=26)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--only", default=",".join(GROUPS),
                    help=f"comma-separated row groups to run (default: all of {','.join(GROUPS)}); "
                         "copy and torch's casts always run")
    a = ap.parse_args()
    only = set(a.only.split(","))
    if only - set(GROUPS):
        ap.error(f"--only: unknown group(s) {sorted(only - set(GROUPS))}; choose from {', '.join(GROUPS)}")
    n = 1 << a.n_log2
    dev = torch.device("cuda")
    gen = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(n, device=dev, generator=gen) * 4
    y = torch.empty_like(x)
    xb = x.to(torch.bfloat16)
    print(f"{torch.cuda.get_device_name()}, n = 2**{a.n_log2}", flush=True)

    t_copy = add("copy (device to device)", lambda: y.copy_(x), 8)
    torch_t: dict[str, float | None] = {}
    for nm, dt in (("e4m3", torch.float8_e4m3fn), ("e5m2", torch.float8_e5m2)):
        torch_t[nm] = add(f"torch cast {nm} and back (eager)", lambda dt=dt: x.to(dt).to(torch.float32), 8,
                          "two kernels, 10 B/elem moved")
    for nm, dt in (("e4m3", torch.float8_e4m3fn),):
        try:
            comp = torch.compile(lambda t, dt=dt: t.to(dt).to(torch.float32))
            add(f"torch cast {nm} and back (torch.compile)", lambda comp=comp: comp(x), 8, "one fused Triton kernel")
        except Exception as e:  # noqa: BLE001
            ROWS.append((f"torch cast {nm} and back (torch.compile)", None, 8, f"n/a: {e}"))

    fsq: dict[str, float | None] = {}
    for fmt in ("e4m3", "e2m1", "bf16") if "floatsim" in only else ():
        for mode, kw in (("rne", {}), ("sr", {"seed": 1})):
            fsq[f"{fmt} {mode}"] = add(f"floatsim quantize {fmt} {mode}",
                                       lambda fmt=fmt, mode=mode, kw=kw: fs.quantize(x, fmt, mode, **kw), 8)
    if "floatsim" in only:
        add("floatsim quantize e4m3 sr, sr_bits=8", lambda: fs.quantize(x, "e4m3", "sr", seed=1, sr_bits=8), 8)
        add("floatsim quantize e4m3 rne, bf16 in/out", lambda: fs.quantize(xb, "e4m3"), 4)
        add("floatsim quantize e4m3 rne, float64 in/out", lambda: fs.quantize(x.double(), "e4m3"), 16,
            "general path (includes torch's .double())")
        codes = fs.encode(x, "e4m3")
        add("floatsim encode e4m3 (f32 -> u8)", lambda: fs.encode(x, "e4m3"), 5)
        add("floatsim encode e4m3 sr (f32 -> u8)", lambda: fs.encode(x, "e4m3", "sr", seed=1), 5)
        add("floatsim decode e4m3 (u8 -> f32)", lambda: fs.decode(codes, "e4m3"), 5)

    # peers: the same input; MX on an (8192, 8192) view (2**(n_log2 // 2) rows), blocks along rows
    rows = 1 << (a.n_log2 // 2)
    x2d = x.view(rows, n // rows)
    for bname in ("mxfp8_e4m3", "mxfp4_e2m1", "nvfp4") if "blocks" in only else ():
        for mode, kw in (("rne", {}), ("sr", {"seed": 1})):
            try:
                add(f"floatsim blocks.quantize {bname} {mode}",
                    lambda bname=bname, mode=mode, kw=kw: fs.blocks.quantize(x2d, bname, mode, **kw), 8)
            except Exception as e:  # noqa: BLE001 - a failing row must not hide the others
                na([f"floatsim blocks.quantize {bname} {mode}"], 8, why(e))
    pristine = x.clone()
    for label, run in (("qtorch", lambda: peer_qtorch(x)), ("pychop", lambda: peer_pychop(x)),
                       ("microxcaling", lambda: peer_microxcaling(x, x2d)), ("torchao", lambda: peer_torchao(x2d))):
        if label not in only:
            continue
        try:
            run()
        except Exception as e:  # noqa: BLE001 - one peer's failure leaves the others' rows
            na([f"{label} (failed)"], 8, why(e))
        if not torch.equal(x, pristine):  # a peer that writes into its input: later rows need x back
            MUTATED.append(label)
            print(f"{label} modified its input in place; restored", flush=True)
            x.copy_(pristine)
        _REFS.clear()
        torch.cuda.empty_cache()
    del pristine

    # launch configuration sweep (threads per block x block cap per SM), floatsim e4m3
    from floatsim.gpu import elementwise as K
    from floatsim.gpu.launch import Grid, configure

    sweep = []
    saved = configure()
    for threads in (64, 128, K.MAX_THREADS) if "sweep" in only else ():  # MAX_THREADS: the fast kernel's cap
        for bps in (8, 16, 32, 64):
            configure(elementwise=Grid(threads, bps, K.MAX_THREADS))  # plans are keyed by the settings
            t_rne = bench(lambda: fs.quantize(x, "e4m3"))
            t_sr = bench(lambda: fs.quantize(x, "e4m3", "sr", seed=1))
            sweep.append((threads, bps, t_rne, t_sr))
            print(f"launch threads={threads} blocks/SM={bps}: rne {t_rne * 1e6:.1f} us, sr {t_sr * 1e6:.1f} us", flush=True)
    configure(elementwise=saved.elementwise)

    # launch overhead
    ovh: dict[str, float] = {}
    if "overhead" in only:
        one = torch.ones(1, device=dev)
        ovh.update({
            "floatsim quantize e4m3 rne, 1 element": launch_overhead(lambda: fs.quantize(one, "e4m3")),
            "floatsim quantize e4m3 sr, 1 element": launch_overhead(lambda: fs.quantize(one, "e4m3", "sr", seed=1)),
            "torch cast e4m3 and back, 1 element": launch_overhead(lambda: one.to(torch.float8_e4m3fn).to(torch.float32)),
            "torch copy_, 1 element": launch_overhead(lambda: y[:1].copy_(one)),
        })

        # where a small call's host time goes (floatsim's dispatch, step by step)
        from floatsim.arrays import is_device_array
        from floatsim.gpu import interop as D
        from floatsim.gpu.tables import dummy
        from floatsim.kernels.abi import K_F32

        call = D.validate(one, "e4m3", "nearest_even", None, None, False, None, 0, None, None)[1]
        src = D.import_array(one, "x")
        stream, _ = D.stream_for(None, src)
        obj, outr = D.new_array(src, (1,), src.dtype, stream)
        kern = K.quantize32_kernel(0, K_F32, K_F32, 0)
        consts, rb = call.consts(), dummy("uint32")
        xr, of = D.flat(src.arr, stream), outr.reshape(1)
        steps = {
            "is_device_array": lambda: is_device_array(one),
            "import_array (torch -> numba view)": lambda: D.import_array(one, "x"),
            "validate (stand-in CastSpec)": lambda: D.validate(one, "e4m3", "nearest_even", None, None, False, None, 0, None, None),
            "stream_for": lambda: D.stream_for(None, src),
            "new_array (torch.empty + view)": lambda: D.new_array(src, (1,), src.dtype, stream),
            "flat": lambda: D.flat(src.arr, stream),
            "consts": lambda: call.consts(),
            "K.launch (numba kernel launch)": lambda: K.launch(kern, 1, stream, xr, of, consts, 0, 0, 0, 0, rb),
            "kern[1, 256, stream](...)": lambda: kern[1, 256, stream](xr, of, consts, 0, 0, 0, 0, rb),
            "cuda.get_current_device()": lambda: __import__("numba").cuda.get_current_device(),
        }
        for k, fn in steps.items():
            ovh[f"  step: {k}"] = launch_overhead(fn, n=500)
        try:
            import cProfile
            import io
            import pstats

            pr = cProfile.Profile()
            pr.enable()
            for _ in range(300):
                fs.quantize(one, "e4m3")
            pr.disable()
            buf = io.StringIO()
            pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(30)
            if a.out:
                (a.out.parent / "overhead_profile.txt").write_text(buf.getvalue())
            print(buf.getvalue()[:6000])
        except Exception as e:  # noqa: BLE001
            print("profile failed", e)

    # table
    lines = [
        "# GPU element-wise cast benchmark",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
        f"- device: {torch.cuda.get_device_name()} ({torch.cuda.get_device_properties(0).multi_processor_count} SMs)",
        f"- software: python {platform.python_version()}, torch {torch.__version__}, "
        f"numba {__import__('numba').__version__}, numba-cuda {__import__('numba_cuda').__version__}",
        f"- peers: {peer_versions()}",
        f"- command: `python bench/gpu_cast.py --n-log2 {a.n_log2}" + (f" --only {a.only}" if only != set(GROUPS) else "") + "`",
        f"- n = 2**{a.n_log2} float32 elements; time = median (triton do_bench, L2 flushed); "
        "GB/s counts the bytes the cast must move (float32: 4 read + 4 written)",
        "",
        "| what | time (us) | Gelem/s | GB/s | vs copy | vs torch cast | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, t, nb, note in ROWS:
        if t is None:
            lines.append(f"| {name} | n/a | | | | | {note} |")
            continue
        fmt = next((f for f in ("e4m3", "e5m2") if f in name), None)
        tt = torch_t.get(fmt) if fmt and "floatsim quantize" in name and "in/out" not in name else None
        lines.append(
            f"| {name} | {t * 1e6:.1f} | {n / t / 1e9:.1f} | {n * nb / t / 1e9:.0f} | "
            f"{(t_copy / t if t_copy else float('nan')):.2f} | {f'{tt / t:.2f}' if tt else ''} | {note} |"
        )
    if NOTES:
        lines += ["", "Correctness notes (each peer's first result against floatsim on the same input, "
                  "before timing):", ""]
        lines += [f"{i}. {t}" for i, t in enumerate(NOTES, 1)]
    if MUTATED:
        lines += ["", f"Peers that wrote into their input tensor (restored before the next rows): "
                  f"{', '.join(MUTATED)}."]
    lines += ["", "Launch overhead (host time per call, back to back, 1-element tensors):", "",
              "| call | us per call |", "|---|---:|"]
    lines += [f"| {k} | {v * 1e6:.1f} |" for k, v in ovh.items()]
    lines += ["", "Launch configuration (floatsim e4m3, time in us; the default is "
              f"{saved['threads']} threads, at most {saved['blocks_per_sm']} blocks per SM):", "",
              "| threads/block | max blocks/SM | rne | sr |", "|---:|---:|---:|---:|"]
    lines += [f"| {t} | {b} | {r * 1e6:.1f} | {q * 1e6:.1f} |" for t, b, r, q in sweep]
    text = "\n".join(lines)
    print("\n" + text)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
