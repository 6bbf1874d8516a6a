"""Pseudo-quantization noise on a real GPU: floatsim_torch.noise.pseudo_quantize
of CUDA tensors and floatsim_torch.pqt on a CUDA model, bit for bit against the
core's numpy (CPU) results.

Not collected by pytest (no GPU in CI); run on a machine with one::

    python tests/gpu_noise_check.py

Prints one line per check and a summary; exits 1 if any check failed.
"""

from __future__ import annotations

import sys
import time

import ml_dtypes
import numpy as np
import torch

import floatsim as fs
import floatsim_torch as ft
from floatsim.noise import Noise, PQTConfig
from floatsim_torch.noise import pseudo_quantize
from floatsim_torch.pqtrain import layer_seed

NP = {torch.float32: np.float32, torch.float64: np.float64, torch.float16: np.float16,
      torch.bfloat16: ml_dtypes.bfloat16}
FAIL: list[str] = []


def host(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()


def check(what: str, got: torch.Tensor, want: np.ndarray) -> None:
    g = host(got)
    ok = g.dtype == want.dtype and g.shape == want.shape and g.tobytes() == want.tobytes()
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        FAIL.append(what)


def main() -> int:
    dev = torch.device("cuda")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(100_003) * 0.02
    x[:8] = [0.0, -0.0, 1e-30, 50.0, np.inf, -np.inf, np.nan, -2.0 ** -130]
    cases = [
        ("e3m2", "gaussian", "bfloat16", "nearest_even", "tensor", 0.0, torch.float32, None),
        ("e2m3", "r", "bfloat16", "nearest_even", "tensor", 0.0, torch.bfloat16, None),
        ("e4m3", "uniform", "bfloat16", "stochastic", -6, 0.5, torch.float64, None),
        ("e3m2", Noise.r(6), "float16", "toward_zero", "none", 0.0, torch.float16, None),
        ("e2m1", "r", "bfloat16", "up", "tensor", 0.3, torch.float16, torch.float32),
    ]
    for fmt, noise, storage, rnd, scale, anneal, dt, odt in cases:
        kw = dict(seed=2**63 + 11, stream=123, storage=storage, rounding=rnd, scale=scale,
                  anneal=anneal)
        t = torch.from_numpy(x).to(dt)
        want = fs.noise.pseudo_quantize(host(t), fmt, noise,
                                        out_dtype=None if odt is None else NP[odt], **kw)
        got = pseudo_quantize(t.to(dev), fmt, noise, out_dtype=odt, **kw)
        check(f"pseudo_quantize {fmt} {getattr(noise, 'name', noise)} {rnd} {dt}", got, want)
    # strided CUDA input: C-order index as on the CPU
    t = torch.from_numpy(x[:300 * 301].reshape(300, 301)).float()
    want = fs.noise.pseudo_quantize(np.ascontiguousarray(host(t.t())), "e3m2", "r", seed=4, stream=2)
    check("strided", pseudo_quantize(t.to(dev).t(), "e3m2", "r", seed=4, stream=2), want)
    # the gradient passes straight through on the GPU
    w = torch.from_numpy(x[8:1000]).to(dev, torch.bfloat16).requires_grad_()
    y = pseudo_quantize(w, "e3m2", out_dtype=torch.float32)
    y.backward(torch.ones_like(y))
    check("straight-through gradient", w.grad, np.ones(w.shape[0], ml_dtypes.bfloat16))
    # pqt on a CUDA model: the weight each forward reads
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8)).to(dev)
    cfg = PQTConfig("e3m2", "r")
    ft.pqt(m, cfg, seed=5)
    seen = []
    m[2].register_forward_hook(lambda mod, a, out: seen.append(mod.weight.detach().clone()))
    xin = torch.randn(16, 64, device=dev)
    for step in range(3):
        m(xin).sum().backward()
        want = fs.noise.pseudo_quantize(host(m[2].parametrizations.weight.original), cfg,
                                        seed=layer_seed(5, "2"), stream=step, out_dtype=np.float32)
        check(f"pqt forward step {step}", seen[-1], want)
    # timing: one pseudo_quantize of a 4096 x 4096 BF16 weight vs a copy of it
    big = torch.randn(4096, 4096, device=dev, dtype=torch.bfloat16) * 0.02
    for _ in range(3):
        pseudo_quantize(big, cfg, seed=1, stream=1)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(20):
        pseudo_quantize(big, cfg, seed=1, stream=i)
    torch.cuda.synchronize()
    t1 = time.perf_counter()
    for _ in range(20):
        big.clone()
    torch.cuda.synchronize()
    t2 = time.perf_counter()
    print(f"time 4096x4096 bf16 pseudo_quantize (r9, tensor scale): {(t1 - t0) / 20 * 1e6:.0f} us; "
          f"clone {(t2 - t1) / 20 * 1e6:.0f} us ({torch.cuda.get_device_name()})")
    print(f"{len(FAIL)} failures")
    return 1 if FAIL else 0


if __name__ == "__main__":
    sys.exit(main())
