"""The conversion profiles against a real GPU's own conversions (issue 26).

Not collected by pytest (no GPU in CI); run on a machine with one::

    python tests/gpu_vectors_check.py [--random N] [--out gpu_vectors.md]

Each check generates golden vectors (``floatsim.vectors``), runs the GPU on
their inputs, and asks ``floatsim.vectors.check`` which profiles the GPU's
results match; the check passes when they match the profile that describes
them:

* PTX ``cvt`` through a small CUDA C file linked into a numba-cuda kernel
  (inline PTX): ``cvt.rn.satfinite.{e4m3,e5m2}x2.f32`` (sm_89+);
  ``cvt.rn.satfinite.{e2m1,e2m3,e3m2}x2.f32`` and
  ``cvt.{rp,rz}.satfinite.ue8m0x2.f32`` (sm_100a / sm_120a);
  ``cvt.rs.satfinite.{e4m3,e5m2,e2m3,e3m2}x4.f32``, ``.e2m1x4`` and
  ``cvt.rs[.satfinite].{bf16,f16}x2.f32`` with explicit random bits
  (sm_100a / sm_103a: this is what settles how the random bits line up with
  the discarded mantissa bits).  Checks the device cannot run are skipped
  and say so.
* PyTorch's CUDA casts ``x.to(torch.float8_*)`` (torch with CUDA), against
  the ``torch_float8_*`` profiles.

Needs numba-cuda with NVRTC (the ``cuda`` extra) for the PTX checks.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import floatsim.vectors as fv  # noqa: E402

# One device function per instruction: x (and a random word) in, the code out.
# Inline PTX; the first source operand lands in the high bits of the result.
CU = r"""
#define F2(NAME, INSTR)                                                        \
extern "C" __device__ int NAME(unsigned int* ret, float a, unsigned int r) {   \
    unsigned short d;                                                          \
    asm(INSTR " %0, %1, %2;" : "=h"(d) : "f"(a), "f"(0.0f));                   \
    *ret = d >> 8; return 0;                                                   \
}
F2(rn_e4m3, "cvt.rn.satfinite.e4m3x2.f32")
F2(rn_e5m2, "cvt.rn.satfinite.e5m2x2.f32")
#if __CUDA_ARCH__ >= 1000
F2(rn_e2m3, "cvt.rn.satfinite.e2m3x2.f32")
F2(rn_e3m2, "cvt.rn.satfinite.e3m2x2.f32")
F2(rp_ue8m0, "cvt.rp.satfinite.ue8m0x2.f32")
F2(rz_ue8m0, "cvt.rz.satfinite.ue8m0x2.f32")
extern "C" __device__ int rn_e2m1(unsigned int* ret, float a, unsigned int r) {
    unsigned short d;
    asm("{ .reg .b8 t; cvt.rn.satfinite.e2m1x2.f32 t, %1, %2; cvt.u16.u8 %0, t; }"
        : "=h"(d) : "f"(a), "f"(0.0f));
    *ret = d >> 4; return 0;
}
#define RS4(NAME, INSTR, SHIFT, RB)                                            \
extern "C" __device__ int NAME(unsigned int* ret, float a, unsigned int r) {   \
    unsigned int d;                                                            \
    asm(INSTR " %0, {%1, %2, %2, %2}, %3;" : "=r"(d) : "f"(a), "f"(0.0f), "r"(RB)); \
    *ret = d >> SHIFT; return 0;                                               \
}
RS4(rs_e4m3, "cvt.rs.satfinite.e4m3x4.f32", 24, r << 16)
RS4(rs_e5m2, "cvt.rs.satfinite.e5m2x4.f32", 24, r << 16)
RS4(rs_e2m3, "cvt.rs.satfinite.e2m3x4.f32", 24, r << 16)
RS4(rs_e3m2, "cvt.rs.satfinite.e3m2x4.f32", 24, r << 16)
extern "C" __device__ int rs_e2m1(unsigned int* ret, float a, unsigned int r) {
    unsigned short d;
    asm("cvt.rs.satfinite.e2m1x4.f32 %0, {%1, %2, %2, %2}, %3;"
        : "=h"(d) : "f"(a), "f"(0.0f), "r"((r << 24) | (r << 8)));
    *ret = d >> 12; return 0;
}
#define RS2(NAME, INSTR)                                                       \
extern "C" __device__ int NAME(unsigned int* ret, float a, unsigned int r) {   \
    unsigned int d;                                                            \
    asm(INSTR " %0, %1, %2, %3;" : "=r"(d) : "f"(a), "f"(0.0f), "r"(r << 16)); \
    *ret = d >> 16; return 0;                                                  \
}
RS2(rs_sat_bf16, "cvt.rs.satfinite.bf16x2.f32")
RS2(rs_bf16, "cvt.rs.bf16x2.f32")
RS2(rs_sat_f16, "cvt.rs.satfinite.f16x2.f32")
RS2(rs_f16, "cvt.rs.f16x2.f32")
#endif
"""

# (device function, minimum compute capability, vector-set parameters, profile)
PTX = [
    ("rn_e4m3", (8, 9), dict(format="e4m3", overflow="saturate"), "ptx_cvt_rn_satfinite_e4m3"),
    ("rn_e5m2", (8, 9), dict(format="e5m2", overflow="saturate"), "ptx_cvt_rn_satfinite_e5m2"),
    ("rn_e2m3", (10, 0), dict(format="e2m3"), "ptx_cvt_rn_satfinite_e2m3"),
    ("rn_e3m2", (10, 0), dict(format="e3m2"), "ptx_cvt_rn_satfinite_e3m2"),
    ("rn_e2m1", (10, 0), dict(format="e2m1"), "ptx_cvt_rn_satfinite_e2m1"),
    ("rp_ue8m0", (10, 0), dict(format="e8m0", rounding="up", overflow="saturate"),
     "ptx_cvt_rp_satfinite_ue8m0"),
    ("rz_ue8m0", (10, 0), dict(format="e8m0", rounding="rtz", overflow="saturate"),
     "ptx_cvt_rz_satfinite_ue8m0"),
    ("rs_e4m3", (10, 0), dict(format="e4m3", rounding="sr", sr_bits=16, overflow="saturate"),
     "ptx_cvt_rs_satfinite_e4m3"),
    ("rs_e5m2", (10, 0), dict(format="e5m2", rounding="sr", sr_bits=16, overflow="saturate"),
     "ptx_cvt_rs_satfinite_e5m2"),
    ("rs_e2m3", (10, 0), dict(format="e2m3", rounding="sr", sr_bits=16), "ptx_cvt_rs_satfinite_e2m3"),
    ("rs_e3m2", (10, 0), dict(format="e3m2", rounding="sr", sr_bits=16), "ptx_cvt_rs_satfinite_e3m2"),
    ("rs_e2m1", (10, 0), dict(format="e2m1", rounding="sr", sr_bits=8), "ptx_cvt_rs_satfinite_e2m1"),
    ("rs_sat_bf16", (10, 0), dict(format="bf16", rounding="sr", sr_bits=16, overflow="saturate"),
     "ptx_cvt_rs_satfinite_bf16"),
    ("rs_bf16", (10, 0), dict(format="bf16", rounding="sr", sr_bits=16), "ptx_cvt_rs_bf16"),
    ("rs_sat_f16", (10, 0), dict(format="f16", rounding="sr", sr_bits=13, overflow="saturate"),
     "ptx_cvt_rs_satfinite_f16"),
    ("rs_f16", (10, 0), dict(format="f16", rounding="sr", sr_bits=13), "ptx_cvt_rs_f16"),
]


def _ptx_device(name: str, cu: Path):  # noqa: ANN202
    """A function running device function ``name`` over arrays (x float32, r uint32)."""
    from numba import cuda

    fn = cuda.declare_device(name, "uint32(float32, uint32)")

    @cuda.jit(link=[str(cu)])
    def kernel(x, r, out):  # noqa: ANN001, ANN202
        i = cuda.grid(1)
        if i < x.size:
            out[i] = fn(x[i], r[i])

    def run(x: np.ndarray, r: np.ndarray | None = None) -> np.ndarray:
        x = x.astype(np.uint32).view(np.float32)
        rr = np.zeros(x.size, np.uint32) if r is None else r.astype(np.uint32)
        out = cuda.device_array(x.size, np.uint32)
        kernel[(x.size + 255) // 256, 256](cuda.to_device(x), cuda.to_device(rr), out)
        return out.copy_to_host()
    return run


def check_ptx(n_random: int, lines: list[str]) -> bool:
    from numba import cuda

    cc = cuda.get_current_device().compute_capability
    ok = True
    with tempfile.TemporaryDirectory() as d:
        cu = Path(d) / "cvt.cu"
        cu.write_text(CU)
        for name, need, params, prof in PTX:
            if cc < need:
                lines.append(f"| {prof} | skipped: needs sm_{need[0]}{need[1]}, device is sm_{cc[0]}{cc[1]} | |")
                continue
            try:
                vs = fv.generate("convert", src="float32", random=n_random, **params)
                run = _ptx_device(name, cu)
                got = run(vs.data["x"], vs.data.get("r"))
                rep = fv.check(vs, got.astype(np.uint64) & np.uint64((1 << vs.spec("y").bits) - 1))
                good = prof in rep.matches
                ok &= good
                lines.append(f"| {prof} | {'matches' if good else 'DIFFERS'} ({vs.n} cases) | "
                             f"{'; '.join(rep.matches) or rep.closest} |")
                if not good:
                    print(rep)
            except Exception:  # noqa: BLE001 - report and go on to the next instruction
                ok = False
                lines.append(f"| {prof} | ERROR | {traceback.format_exc(limit=1).splitlines()[-1]} |")
    return ok


def check_torch(n_random: int, lines: list[str]) -> bool:
    try:
        import torch
    except ImportError:
        lines.append("| torch_float8_* | skipped: torch is not installed | |")
        return True
    if not torch.cuda.is_available():
        lines.append("| torch_float8_* | skipped: torch has no CUDA device | |")
        return True
    ver = tuple(int(v) for v in torch.__version__.split(".")[:2])
    ok = True
    for prof in [p for p in fv.profile_names() if p.startswith("torch_")]:
        if (prof == "torch_float8_e4m3fn_legacy") == (ver >= (2, 12)):
            continue
        p = fv.profile(prof)
        dt = getattr(torch, p.format, None)
        if dt is None:
            continue
        for src in ("float32", "float64", "bfloat16"):
            vs = fv.generate("convert", src=src, format=p.format, overflow=p.overflow, random=n_random)
            op = fv.operation("convert")
            x = torch.from_numpy(np.asarray(op.input_values(vs.params, vs.data["x"])).copy())
            if src == "bfloat16":
                x = x.to(torch.bfloat16)
            got = x.cuda().to(dt).view(torch.uint8).cpu().numpy()
            rep = fv.check(vs, got.astype(np.uint64))
            good = prof in rep.matches
            ok &= good
            lines.append(f"| {prof} ({src}, CUDA) | {'matches' if good else 'DIFFERS'} ({vs.n} cases) | "
                         f"{'; '.join(rep.matches) or rep.closest} |")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--random", type=int, default=100_000, help="random cases per set")
    ap.add_argument("--out", help="also write the table to this file")
    args = ap.parse_args()
    lines = ["| profile | result | what the results match |", "|---|---|---|"]
    ok = True
    try:
        ok &= check_ptx(args.random, lines)
    except Exception:  # noqa: BLE001
        lines.append(f"| ptx | ERROR | {traceback.format_exc(limit=1).splitlines()[-1]} |")
        ok = False
    ok &= check_torch(args.random, lines)
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
