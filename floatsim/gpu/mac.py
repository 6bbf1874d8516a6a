"""The GEMM with an emulated accumulator on the GPU (numba-cuda).

:func:`floatsim.mac.matmul` sends GPU arrays here.  One thread computes one
output element with the same scalar steps as the CPU model
(:mod:`floatsim.mac.scalar`: ``product``, ``scan``, ``term``, ``acc_step``,
``promote``, ``finish``), so the result is bit-exact with it; only the
order of memory traffic differs.  A block of ``m x n`` threads computes an
``m x n`` tile of C; the reduction dimension goes through shared memory in
windows of ``k`` products (rows of A, columns of B loaded once per window by
the whole block):

* each thread runs both passes of each group (the largest exponent, then
  the aligned sum) on the window holding it; a window holds ``(k // group) *
  group`` products, whole groups, when groups are at most ``k`` long;
* a larger group spans several windows, each loaded twice, once per pass.

Spec fields are runtime data (device copies of :func:`floatsim.mac.abi.pack`'s
vectors), so one compiled kernel serves every spec.

Inputs: float32 GPU arrays, or torch / CuPy float16, bfloat16 and float32
ones (converted to float32 on the device); anything with
``__cuda_array_interface__`` or CUDA DLPack (see
:func:`floatsim.arrays.is_device_array`).  The result is float32 of the
caller's kind: a torch tensor for torch inputs, a CuPy array for CuPy, a
Numba device array otherwise.  It runs on ``cuda_stream`` (a Numba stream or
an int handle), by default torch's current stream for torch inputs and the
default stream otherwise; nothing synchronises the host.

Example (no GPU needed; builds nothing):
    >>> from floatsim.gpu.mac import TILE
    >>> TILE
    {'m': 16, 'n': 16, 'k': 32}
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numba import config, cuda

from ..cache import first_use
from ..mac import abi
from ..mac.abi import C_ALIGN_ACC, C_GROUP, C_KEPT, C_PROMOTE
from ..mac.scalar import (
    acc_exp,
    acc_step,
    acc_term,
    finish,
    product,
    promote,
    random_step,
    scan,
    term,
)
from ..mac.spec import AccumulatorSpec
from .interop import import_array, stream_for
from .tables import device_table

__all__ = ["matmul", "gemm_kernel", "TILE", "ptx_signatures"]


#: Output tile (threads per block: m x n) and products per shared-memory window.
TILE = {"m": 16, "n": 16, "k": 32}


def _host_view(a):  # noqa: ANN001, ANN202
    """Under the simulator, the numpy array behind a simulated device array
    (the compiled CPU helpers take numpy arrays, not the simulator's)."""
    return a._ary if hasattr(a, "_ary") else a


#: The spec vectors as the shared helpers take them: the arrays themselves
#: on the GPU, their numpy arrays under the simulator.
_vec = _host_view if config.ENABLE_CUDASIM else cuda.jit(device=True, forceinline=True)(lambda a: a)


@functools.cache
def gemm_kernel(tm: int, tn: int, tk: int) -> Any:
    """The GEMM kernel for tiles of ``tm x tn`` outputs and windows of ``tk``
    products: ``(A, B, C, M, N, K, cfg, pp, pa, po, pf)``, A (M, K), B (K, N),
    C (M, N) float32, the rest :func:`floatsim.mac.abi.pack`'s vectors."""
    nthreads = tm * tn

    def mac_gemm(A, B, C, M, N, K, cfg, pp, pa, po, pf):  # noqa: ANN001, ANN202, PLR0913, PLR0915
        cfg, pp, pa, po, pf = _vec(cfg), _vec(pp), _vec(pa), _vec(po), _vec(pf)
        As = cuda.shared.array((tm, tk), np.float32)
        Bs = cuda.shared.array((tk, tn), np.float32)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        lin = ty * tn + tx
        i0 = cuda.blockIdx.y * tm
        j0 = cuda.blockIdx.x * tn
        i = i0 + ty
        j = j0 + tx
        live = i < M and j < N
        elem = np.int64(i) * N + j
        G = cfg[C_GROUP]
        chunk = cfg[C_PROMOTE]
        nsteps = (K + G - 1) // G
        exact = G == 1 and cfg[C_KEPT] == 52 and cfg[C_ALIGN_ACC] == 0
        W = (tk // G) * G if G <= tk else tk  # small groups never straddle a window
        zero = np.int64(0)
        acc = 0.0
        kc = 0.0
        A_ = zero
        bad = False
        total = 0.0
        since = zero
        s = zero
        wk = np.int64(-1)  # the window in shared memory: products wk .. wk + wlen - 1
        wlen = zero
        k = zero
        while k < K:  # one group a step: pass 1 finds E, pass 2 sums the aligned terms
            n = min(G, K - k)
            E = acc_exp(acc, cfg)
            flags = zero
            S = zero
            g = np.nan
            for ps in range(2):
                sub = zero
                while sub < n:
                    pos = k + sub
                    if pos < wk or pos >= wk + wlen:  # the same for the whole block
                        cuda.syncthreads()  # everyone is done with the old window
                        wk = pos
                        wlen = min(W, K - pos)
                        for q in range(lin, tm * tk, nthreads):
                            r = q // tk
                            c = q % tk
                            ok = c < wlen and i0 + r < M
                            As[r, c] = A[i0 + r, wk + c] if ok else np.float32(0)
                        for q in range(lin, tk * tn, nthreads):
                            r = q // tn
                            c = q % tn
                            ok = r < wlen and j0 + c < N
                            Bs[r, c] = B[wk + r, j0 + c] if ok else np.float32(0)
                        cuda.syncthreads()
                    m = min(n - sub, wk + wlen - pos)
                    if live:
                        for t in range(pos - wk, pos - wk + m):
                            p = product(As[ty, t], Bs[t, tx], zero, cfg, pp)
                            if ps == 0:
                                E, flags = scan(p, E, flags)
                                g = p  # one product a step: its value, for the TwoSum route
                            else:
                                S += term(p, E, cfg)
                    sub += m
                if ps == 0:
                    S = acc_term(acc, E, cfg)
            if live:
                rw = random_step(cfg, elem, nsteps, s)
                acc, kc, A_, bad = acc_step(acc, kc, A_, bad, S, E, g if exact else np.nan, flags,
                                            cfg, pa, rw)
            s += 1
            since += n
            k += n
            if chunk != 0 and (since >= chunk or k == K):
                if live:
                    total = promote(total, acc, A_, bad, cfg, pf)
                acc = 0.0
                kc = 0.0
                A_ = zero
                bad = False
                since = zero
        if live:
            C[i, j] = np.float32(finish(total, acc, A_, bad, cfg, po))

    mac_gemm.__name__ = f"mac_gemm_{tm}x{tn}x{tk}"
    return cuda.jit(mac_gemm)


def ptx_signatures() -> list[tuple[str, Any, tuple]]:
    """(label, Python function, argument types) of the kernel a launch uses,
    for the PTX build test."""
    from numba import types as t

    f2 = t.float32[:, :]
    ro = t.Array(t.int64, 1, "C", readonly=False)
    fn = gemm_kernel(TILE["m"], TILE["n"], TILE["k"]).py_func
    return [(fn.__name__, fn, (f2, f2, f2, t.int64, t.int64, t.int64, ro, ro, ro, ro, ro))]


# ---- arrays of other libraries ----------------------------------------------------------
def _as_numba(x: Any, name: str) -> tuple[Any, str]:
    """``x`` as a float32 Numba device array (converting torch / CuPy half
    types on the device), and the kind of library it came from."""
    mod = type(x).__module__.split(".")[0]
    if mod == "torch":
        import torch

        if x.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise TypeError(f"{name} has dtype {x.dtype}; the GPU GEMM takes float32, float16 and "
                            "bfloat16 tensors (float64: convert to float32 values first)")
        return cuda.as_cuda_array(x.detach().to(torch.float32)), "torch"
    if mod == "cupy":
        if x.dtype.kind != "f" or x.dtype.itemsize > 4:
            raise TypeError(f"{name} has dtype {x.dtype}; the GPU GEMM takes float32 and float16 arrays")
        return cuda.as_cuda_array(x.astype("float32")), "cupy"
    if getattr(type(x), "__cuda_ndarray__", False) or hasattr(x, "__cuda_array_interface__"):
        arr = x if getattr(type(x), "__cuda_ndarray__", False) else cuda.as_cuda_array(x)
        if arr.dtype != np.float32:
            raise TypeError(f"{name} has dtype {arr.dtype}; the GPU GEMM takes float32 device arrays")
        return arr, "numba"
    try:
        import torch
    except ImportError:
        raise TypeError(f"{name} is a DLPack-only GPU array; install torch (or pass a CUDA "
                        "array interface) to use it") from None
    return _as_numba(torch.from_dlpack(x), name)[0], "torch"


def _device_vectors(spec: AccumulatorSpec) -> tuple[Any, ...]:
    """The spec's vectors on the current device (built once per spec and device)."""
    return tuple(device_table(("mac", spec, i), lambda v=v: np.array(v))
                 for i, v in enumerate(abi.pack(spec)))


def _stream(cuda_stream: Any, x: Any) -> Any:
    """The numba stream to launch on: ``cuda_stream`` (as floatsim.quantize
    takes it), else the input library's current stream (gpu.interop)."""
    return stream_for(cuda_stream, import_array(x, "a"))[0]


def matmul(a: Any, b: Any, spec: AccumulatorSpec, *, cuda_stream: Any = None) -> Any:
    """``a @ b`` on the GPU with every element computed as the model does
    (see the module docstring)."""
    A, kind = _as_numba(a, "a")
    B, _ = _as_numba(b, "b")
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0]:
        raise ValueError(f"matmul needs a of shape (M, K) and b of shape (K, N); got {A.shape} "
                         f"and {B.shape}")
    M, K = A.shape
    N = B.shape[1]
    stream = _stream(cuda_stream, a)
    out: Any = None
    if kind == "torch":  # the result in torch's caching allocator
        import torch

        out = torch.empty((M, N), dtype=torch.float32, device=a.device)
        C = cuda.as_cuda_array(out)
    elif kind == "cupy":
        import cupy

        out = cupy.empty((M, N), dtype=np.float32)
        C = cuda.as_cuda_array(out)
    else:
        C = cuda.device_array((M, N), dtype=np.float32, stream=stream)
    if M and N:
        tm, tn, tk = TILE["m"], TILE["n"], TILE["k"]
        vecs = _device_vectors(spec)
        grid = ((N + tn - 1) // tn, (M + tm - 1) // tm)
        kernel = gemm_kernel(tm, tn, tk)
        first_use(kernel)
        kernel[grid, (tn, tm), stream](A, B, C, M, N, K, *vecs)
    return C if out is None else out
