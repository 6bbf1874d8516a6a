"""The float32 block fast path on the GPU for the common layout: blocks of
``bsz`` (4, 8, 16 or 32) consecutive elements starting at multiples of
``bsz`` (1-D blocks along a contiguous last axis whose length they divide:
MXFP8 / MXFP6 / MXFP4 on a row-major tensor).

:func:`.blocks.fast_kernel` gives each thread a whole block, so a
warp's loads are 32 strided runs: a 2**26-element MXFP8 cast ran at a tenth
of the copy bandwidth on an H100.  Here a thread takes four consecutive
elements (one Philox call's words: no exchange between threads), so a block
is ``bsz / 4`` neighbouring lanes of one warp, and its amax is the thread's
own maximum followed by a butterfly of ``log2(bsz / 4)`` shuffles, after
which every lane holds it and derives the scale exponent itself
(:func:`floatsim.kernels.blocksteps.f32_block_k`, the CPU's rule, called not copied): one
scale per thread, against one per element when a thread's elements lie in
four blocks.  The four casts are written out (``quantize_f32_bits`` with the
shifted constants); blocks whose shifted range leaves float32's normal range
take the float64 routine and NaN blocks give NaN, in a loop of their own.
Results are bit for bit the CPU's, random words included.

Where the arrays are aligned to four elements, a thread's four move by one
vector load and store (:mod:`.vector_io`; 1% faster: the kernels are bound
by arithmetic).  Measured on an H100 (docs/benchmarks.md): MXFP8 0.79 and
MXFP4 0.59 of the copy bandwidth (0.51 and 0.47 before the GPU form of the
cast, 0.72 and 0.55 before FLOOR's exponent from the amax bits and
unchecked loads),
against 0.26 for the same work laid out like the element-wise
kernel (thread ``t`` taking ``t``, ``t + T``, ...: four scales a thread) and
0.1 for a thread per block.

The CUDA simulator has no shuffles: there the block maximum goes through
shared memory (same result; the shuffles themselves are checked by the PTX
build and on a GPU, tests/gpu_blocks_check.py).

Example (builds nothing; kernels compile at their first launch):
    >>> from floatsim.gpu.blocks_warp import warp_block, warp_kernel
    >>> warp_kernel(0, 1).py_func.__name__  # nearest-even, float32 in
    'mxw32_r0_i1'
    >>> from floatsim.gpu.blocks import geometry
    >>> warp_block(geometry((4, 96), (4, 3), (1,), (32,)))  # rows of 96: 3 blocks each
    32
    >>> warp_block(geometry((4, 100), (4, 4), (1,), (32,)))  # a short block ends each row
    0
"""

from __future__ import annotations

import functools
from typing import Any

import numba
import numpy as np
from numba import cuda

from ..kernels.abi import (
    B_EMAX_E,
    B_FAST_EMIN,
    B_KIND,
    B_KMAX,
    B_KMIN,
    B_NANMAX,
    B_RULE,
    F_MAX_E,
    F_TSCALE,
    K_BF16,
    K_F16,
    K_F32,
    N_BP,
    N_FP,
    R_FLOOR,
    SR,
)
from ..kernels.blocksteps import f32_value_bits
from ..kernels.forms import FLOAT, FORM_TAG, check_form
from ..kernels.intrinsics import f32_from_bits
from ..kernels.philox import group_words
from . import SIMULATOR
from .blocks import L_BSZ, L_LEN, L_XS, H
from .elementwise import (
    GROUP,
    MAX_THREADS,
    in_f32_bits,
    in_f64_bits,
    pick,
    quantize_f32_dev,
)
from .launch import launch_items, settings
from .vector_io import load4, store4

__all__ = ["argtypes", "launch", "ptx_signatures", "value_argtypes", "value_kernel",
           "warp_block", "warp_kernel"]

WARP = 32
_FULL = 0xFFFFFFFF


def warp_block(g: tuple[int, ...]) -> int:
    """The block size if geometry ``g`` is the layout this kernel takes (one
    level of stride 1 whose length the block size divides, the block size
    4, 8, 16 or 32), else 0."""
    b = g[L_BSZ + 2]
    if (g[L_BSZ] == 1 and g[L_BSZ + 1] == 1 and g[L_XS + 2] == 1 and GROUP <= b <= WARP
            and b & (b - 1) == 0 and g[L_LEN + 2] % b == 0):
        return b
    return 0


def _block_max_sim(m, lanes, red, t):  # noqa: ANN001, ANN202
    """The largest ``m`` of the ``lanes`` threads sharing t's block (simulator)."""
    cuda.syncthreads()
    red[t] = m
    cuda.syncthreads()
    t0 = t - t % lanes
    r = np.uint32(0)
    for q in range(lanes):
        r = max(r, np.uint32(red[t0 + q]))
    return r


def _block_max_gpu(m, lanes, red, t):  # noqa: ANN001, ANN202
    """The largest ``m`` of the ``lanes`` lanes sharing t's block: a butterfly
    of shuffles (magnitude bits fit in int32 and order as unsigned ones)."""
    v = np.int32(m)
    off = np.int32(lanes) >> 1
    while off > 0:
        v = max(v, cuda.shfl_xor_sync(_FULL, v, off))
        off >>= 1
    return np.uint32(v)


# inlined at Numba's IR level (a cuda.jit device function would be compiled for
# the GPU present, and PTX could not be built without one)
_block_max = _block_max_sim if SIMULATOR else numba.njit(inline="always")(_block_max_gpu)


def _group_py(xr, g, ngroups, in_kind, keep_nan, lanes, red, t, vec):  # noqa: ANN001, ANN202, PLR0913
    """Group ``g``'s four raw elements, their float32 bits and their block's
    largest magnitude bits (a NaN's above every other where ``keep_nan``),
    by one vector load where ``vec``.  Every lane of a warp must call it
    (lanes past the end load zeros)."""
    # lanes past the end load the last group (in bounds: no per-element
    # checks) and count as zeros
    j = np.uint64(min(g, ngroups - 1)) * np.uint64(GROUP)
    if vec:
        x0, x1, x2, x3 = load4(xr, j)
    else:
        x0, x1 = np.int64(xr[j]), np.int64(xr[j + np.uint64(1)])
        x2, x3 = np.int64(xr[j + np.uint64(2)]), np.int64(xr[j + np.uint64(3)])
    if g >= ngroups:
        x0, x1, x2, x3 = np.int64(0), np.int64(0), np.int64(0), np.int64(0)
    u0, u1 = in_f32_bits(x0, in_kind), in_f32_bits(x1, in_kind)
    u2, u3 = in_f32_bits(x2, in_kind), in_f32_bits(x3, in_kind)
    m = H.amax_bits(H.amax_bits(np.uint32(0), u0, keep_nan), u1, keep_nan)
    m = _block_max(H.amax_bits(H.amax_bits(m, u2, keep_nan), u3, keep_nan), lanes, red, t)
    return x0, x1, x2, x3, u0, u1, u2, u3, m


_group = _group_py if SIMULATOR else numba.njit(inline="always")(_group_py)


def _put4_py(outr, o, r0, r1, r2, r3, vec):  # noqa: ANN001, ANN202, PLR0913
    """outr[o .. o+3] = r0 .. r3, by one vector store where ``vec``."""
    if vec:
        store4(outr, o, r0, r1, r2, r3)
    else:
        outr[o] = r0
        outr[o + np.uint64(1)] = r1
        outr[o + np.uint64(2)] = r2
        outr[o + np.uint64(3)] = r3


_put4 = _put4_py if SIMULATOR else numba.njit(inline="always")(_put4_py)


@functools.cache
def warp_kernel(rnd: int, in_kind: int, branch: bool = True, vec: bool = False) -> Any:
    """The kernel for one rounding mode, input kind (K_F32, K_F16, K_BF16),
    ``branch`` (the GPU form, :func:`.fast32.gpu_form` of the element format) and
    ``vec`` (a thread's four elements by one vector load and store:
    :func:`.vector_io.aligned4` arrays); float32 out.  Arguments: ``(xr, outr, bsz, c, ep0, bp, fmax,
    seed_lo, seed_hi, stream)`` as :func:`.blocks.fast_kernel` takes
    them, ``bsz`` from :func:`warp_block`; launch with :func:`launch`."""
    if rnd not in range(7) or in_kind not in (K_F32, K_F16, K_BF16):
        raise ValueError(f"rnd={rnd} / in_kind={in_kind} out of range")
    check_form(rnd, branch)

    def mxw32(xr, outr, bsz, c, ep0, bp, fmax, seed_lo, seed_hi, stream):  # noqa: ANN001, ANN202
        red = cuda.shared.array(MAX_THREADS, np.uint32)  # the simulator's reduction only
        keep_nan = bp[B_NANMAX] == 0
        fast_emin = bp[B_FAST_EMIN]
        fast_kmax = 127 - bp[B_EMAX_E]
        # FLOOR (OCP MX) on a normal amax: k from its exponent field, as
        # f32_block_k gives it.  Hoisted here, not inside f32_block_k: that
        # form measured 4% slower for MXFP4 nearest-even on an H100 (321.9
        # against 308.3 us), the rule test and constants redone every step.
        floor_off = np.int64(127) + bp[B_EMAX_E] if bp[B_RULE] == R_FLOOR else np.int64(-1)
        kmin, kmax = bp[B_KMIN], bp[B_KMAX]
        ngroups = xr.size // GROUP  # n is a multiple of bsz, so of 4
        lanes = bsz // GROUP
        t = cuda.threadIdx.x
        T = np.int64(cuda.blockDim.x)
        # the loop bound is the same for a whole CUDA block, so every lane of a
        # warp reaches the shuffles; lanes past the end take part with zeros
        for gb in range(np.int64(cuda.blockIdx.x) * T, ngroups, np.int64(cuda.gridDim.x) * T):
            g = gb + t
            x0, x1, x2, x3, u0, u1, u2, u3, m = _group(xr, g, ngroups, in_kind, keep_nan, lanes, red, t,
                                                       vec)
            if g < ngroups:
                k = max(np.int64(m >> np.uint32(23)) - floor_off, kmin)
                state = 0
                if floor_off < 0 or m < np.uint32(0x00800000) or m >= np.uint32(0x7F800000) or k > kmax:
                    k, state = H.f32_block_k(m, bp, fmax)
                fast = k >= fast_emin and k <= fast_kmax
                ck = H.shift_consts(c, k)
                l0, l1, l2, l3 = np.int64(0), np.int64(0), np.int64(0), np.int64(0)
                if rnd == SR:
                    _h0, l0, _h1, l1, _h2, l2, _h3, l3 = group_words(seed_lo, seed_hi, g, stream, 0)
                o = np.uint64(g) * np.uint64(GROUP)
                if fast and state != 1:
                    # written out, the four casts before the four stores: 1.37x
                    # the speed of casting and storing in turn on an H100
                    # (MXFP8 nearest-even 253 against 348 us for 2**26 elements)
                    r0 = quantize_f32_dev(u0, ck, rnd, l0, branch, True)
                    r1 = quantize_f32_dev(u1, ck, rnd, l1, branch, True)
                    r2 = quantize_f32_dev(u2, ck, rnd, l2, branch, True)
                    r3 = quantize_f32_dev(u3, ck, rnd, l3, branch, True)
                    _put4(outr, o, r0, r1, r2, r3, vec)
                else:  # a NaN block, or the shifted format leaves float32's normal range
                    ep = H.shift_params(ep0, k)
                    for q in range(GROUP):
                        r = np.uint32(0x7FC00000)
                        if state != 1:
                            v = H.dec(H.enc(in_f64_bits(pick(q, x0, x1, x2, x3), in_kind), ep,
                                            np.int64(0), pick(q, l0, l1, l2, l3)), ep)
                            r = np.uint32(f32_value_bits(v))
                        outr[o + np.uint64(q)] = r

    mxw32.__name__ = f"mxw32_r{rnd}_i{in_kind}" + FORM_TAG[int(branch)] + ("_v" if vec else "")
    mxw32.__qualname__ = mxw32.__name__
    return cuda.jit(cache=True)(mxw32)


def _value_quotients_py(u0, u1, u2, u3, sv, ts):  # noqa: ANN001, ANN202
    """The four elements' quotients rounded to odd into float32 and the
    divisor to multiply back, outside SR, for a block of scale value ``sv``
    (``ts``: times the tensor scale), as elem_out has them: a zero scale
    gives signed zeros (NaN stays NaN) at t = 1, a NaN scale NaN.  A
    positive ``ts`` lies in reciprocal_ok's range (the dispatch's
    ``value32`` checks the scale and tensor formats' ranges)."""
    if sv > 0.0 and H.reciprocal_ok(ts):
        q0, q1, q2, q3 = H.rcp_quotients4(u0, u1, u2, u3, ts, H.exact_divisor(ts))
        return q0, q1, q2, q3, ts
    if sv == 0.0:
        return _zeroed(u0), _zeroed(u1), _zeroed(u2), _zeroed(u3), 1.0
    nan = np.uint32(0x7FC00000)  # a NaN scale (elem_out's NaN, as f32_value_bits stores it)
    return nan, nan, nan, nan, 1.0


def _zeroed_py(u):  # noqa: ANN001, ANN202
    u = np.uint32(u)
    return u if (u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000) else np.uint32(u & np.uint32(0x80000000))


_zeroed = _zeroed_py if SIMULATOR else numba.njit(inline="always")(_zeroed_py)
_value_quotients = _value_quotients_py if SIMULATOR else numba.njit(inline="always")(_value_quotients_py)


@functools.cache
def value_kernel(rnd: int, in_kind: int, branch: bool = True, vec: bool = False) -> Any:
    """The warp layout for scales that are values (AMAX, or RCEIL into a
    scale type with a significand: NVFP4's ``amax / 6`` into UE4M3, with or
    without a tensor scale) and element formats where
    :func:`.fast32.fits_div32` holds; float32 out.

    A thread takes four consecutive elements and a block's lanes share its
    amax by shuffles, as in :func:`warp_kernel`.  Each lane then computes the
    block's scale itself and, outside SR, quantizes its elements by the
    quotient rounded to odd into float32, then the float32 fast path
    (:func:`floatsim.kernels.blocksteps.div_f32_value_bits`'s values).  The quotients come
    from one reciprocal and four products (:func:`floatsim.kernels.blocksteps.rcp_quotients4`),
    with the exact residual only where a product lies near float32's grid:
    a division per element was a dozen dependent steps and a branch.  Zero
    and NaN scales are written out as :func:`floatsim.kernels.blocksteps.elem_out` has them,
    and the dispatch (``value32``) keeps ``scale * tensor scale`` inside
    :func:`floatsim.kernels.blocksteps.reciprocal_ok`'s range, so outside SR the kernel
    carries no general element routine.  SR (whose 32 random bits need the
    quotient's float64 bits) takes elem_out, the general kernel's routine.

    The scale takes the same route (:func:`floatsim.kernels.blocksteps.value_scale_rcp`,
    equal to the CPU's :func:`floatsim.kernels.blocksteps.value_scale`) where ``scale32``
    says the scale format fits_div32 and amax is finite and nonzero; else
    :func:`floatsim.kernels.blocksteps.block_scale`.

    ``vec`` as :func:`warp_kernel` has it.

    Arguments: ``(xr, outr, bsz, c, cs, scale32, ep0, sp, bp, fp, tsc,
    use_tsc, seed_lo, seed_hi, stream)``: ``c`` and ``cs`` the element's and
    the scale's fast-path constants; ``tsc[0]`` replaces fp's tensor scale
    when ``use_tsc`` (computed on the device)."""
    if rnd not in range(7) or in_kind not in (K_F32, K_F16, K_BF16):
        raise ValueError(f"rnd={rnd} / in_kind={in_kind} out of range")
    check_form(rnd, branch)

    def vw32(xr, outr, bsz, c, cs, scale32, ep0, sp, bp, fp0, tsc, use_tsc, seed_lo, seed_hi,  # noqa: ANN001, ANN202, PLR0913
             stream):
        red = cuda.shared.array(MAX_THREADS, np.uint32)  # the simulator's reduction only
        keep_nan = bp[B_NANMAX] == 0
        kind = bp[B_KIND]
        fp = fp0
        if use_tsc != 0:
            fp = (fp0[0], fp0[1], tsc[0], fp0[3], fp0[4])
        tscale = fp[F_TSCALE]
        den = fp[F_MAX_E] * tscale  # block_scale's denominator, the same product
        scale_fast = scale32 != 0 and H.reciprocal_ok(den)
        rden = 1.0 / den if scale_fast else 0.0
        ngroups = xr.size // GROUP
        lanes = bsz // GROUP
        t = cuda.threadIdx.x
        T = np.int64(cuda.blockDim.x)
        for gb in range(np.int64(cuda.blockIdx.x) * T, ngroups, np.int64(cuda.gridDim.x) * T):
            g = gb + t
            x0, x1, x2, x3, u0, u1, u2, u3, m = _group(xr, g, ngroups, in_kind, keep_nan, lanes, red, t,
                                                       vec)
            if g < ngroups:
                if scale_fast and m != 0 and m < np.uint32(0x7F800000):
                    sv = H.value_scale_rcp(m, den, rden, cs)
                else:  # zero, infinite or NaN amax (m's NaN bits only where NaN blocks are kept)
                    has_nan = m > np.uint32(0x7F800000)
                    a = 0.0 if has_nan else np.float64(f32_from_bits(m))
                    _sc, sv, _st, _zp = H.block_scale(a, has_nan, 0.0, 0.0, bp, fp, sp)
                ts = sv * tscale
                o = np.uint64(g) * np.uint64(GROUP)
                if rnd != SR:
                    q0, q1, q2, q3, tq = _value_quotients(u0, u1, u2, u3, sv, ts)
                    r0 = np.uint32(H.cast_scaled_bits(q0, tq, c, rnd, branch, True))
                    r1 = np.uint32(H.cast_scaled_bits(q1, tq, c, rnd, branch, True))
                    r2 = np.uint32(H.cast_scaled_bits(q2, tq, c, rnd, branch, True))
                    r3 = np.uint32(H.cast_scaled_bits(q3, tq, c, rnd, branch, True))
                    _put4(outr, o, r0, r1, r2, r3, vec)
                else:  # SR: the general kernel's routine, whose random bits see float64 quotients
                    h0, l0, h1, l1, h2, l2, h3, l3 = group_words(seed_lo, seed_hi, g, stream, 0)
                    tt, div, ep = H.elem_params(sv, tscale, ep0, kind)
                    for q in range(GROUP):
                        _code, v = H.elem_out(in_f64_bits(pick(q, x0, x1, x2, x3), in_kind), sv, tt, div,
                                              ep, ep0, np.int64(0), pick(q, h0, h1, h2, h3),
                                              pick(q, l0, l1, l2, l3), bp, 0)
                        outr[o + np.uint64(q)] = np.uint32(f32_value_bits(v))

    vw32.__name__ = f"vw32_r{rnd}_i{in_kind}" + FORM_TAG[int(branch)] + ("_v" if vec else "")
    vw32.__qualname__ = vw32.__name__
    return cuda.jit(cache=True)(vw32)


def launch(kernel: Any, n: int, stream: Any, *args: Any) -> None:
    """Launch ``kernel`` over ``n`` elements (four a thread a step) on ``stream``
    (the warp grid of :func:`.launch.settings`: whole warps)."""
    launch_items(kernel, -(-n // GROUP), stream, settings().warp, *args)


def argtypes(in_kind: int, nconsts: int, nparams: int, nbp: int) -> tuple:
    """The Numba signature of :func:`warp_kernel` for an input kind and the
    lengths of the consts, element params and block params tuples."""
    from numba import types as t

    i64 = t.int64
    raw = {K_F32: t.uint32, K_F16: t.uint16, K_BF16: t.uint16}[in_kind]
    return (t.Array(raw, 1, "C"), t.Array(t.uint32, 1, "C"), i64,
            t.Tuple((i64,) * (nconsts - 1) + (t.float64,)), t.UniTuple(i64, nparams),
            t.UniTuple(i64, nbp), i64, i64, i64, i64)


def value_argtypes(in_kind: int, nconsts: int, nparams: int, nbp: int, nfp: int) -> tuple:
    """The Numba signature of :func:`value_kernel`."""
    from numba import types as t

    i64, f64 = t.int64, t.float64
    raw = {K_F32: t.uint32, K_F16: t.uint16, K_BF16: t.uint16}[in_kind]
    consts = t.Tuple((i64,) * (nconsts - 1) + (f64,))
    return (t.Array(raw, 1, "C"), t.Array(t.uint32, 1, "C"), i64, consts, consts, i64,
            t.UniTuple(i64, nparams), t.UniTuple(i64, nparams), t.UniTuple(i64, nbp),
            t.UniTuple(f64, nfp), t.Array(f64, 1, "C"), i64, i64, i64, i64)


def ptx_signatures() -> list[tuple[str, Any, tuple]]:
    """(label, Python function, argument types) of every variant, for the PTX build test."""

    sigs = []
    for rnd in range(7):
        forms = ((K_F32, True), (K_F16, True), (K_BF16, True), (K_F32, False)) + (
            ((K_F32, FLOAT),) if rnd in (0, 6) else ())
        for ik, branch in forms:
            # the vector form (aligned arrays) always, the scalar one for float32 in
            for vec in (True, False) if ik == K_F32 and branch != FLOAT else (True,):
                fn = warp_kernel(rnd, ik, branch, vec).py_func
                sigs.append((fn.__name__, fn, argtypes(ik, 17, 21, N_BP)))
                fn = value_kernel(rnd, ik, branch, vec).py_func
                sigs.append((fn.__name__, fn, value_argtypes(ik, 17, 21, N_BP, N_FP)))
    return sigs
