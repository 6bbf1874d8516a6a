"""Block-format (microscaling) CUDA kernels: per-block amax and scale fused
with the element cast, one GPU thread per block (per chunk of a large block).

The algorithm is :mod:`floatsim.kernels.blocksteps`', called, not copied: each kernel runs
the same per-block steps (``amax_step``, ``block_scale``,
``four_over_six_alt``, ``elem_params``, ``sq_err``, ``elem_out``, and on the
float32 fast path ``f32_block_k``, ``shift_consts`` and
:func:`.fast32.quantize_f32_bits`) in its own loops over a block's elements.
The CPU loops call the block-level helpers as compiled functions (inlining
them everywhere made CPU compiles take minutes); numba-cuda would compile
such a call for the GPU present, so PTX could not be built without one.
Here the very same Python functions (their code objects) are bound a second
time, inline="always", in a namespace where their callees are rebound too
(:data:`H`).  Under the CUDA simulator the CPU functions are called as they
are.

Geometry: the input is flat and C-contiguous; a block is the Cartesian
product of up to three *levels* (its block axes, in ``axis`` order), each
with a block size, an element stride and the axis length (a block at the end
of an axis is shorter; nothing is padded: padding zeros change no result,
docs/blocks.md); a block axis that follows another in ``x`` and is spanned
by one block merges into it (``axis=None`` is one level).  Block ids run in
C order over a grid of seven dimensions: up to four runs of the other axes
(adjacent ones merged) and the block index along each level;
:func:`block_origin` turns an id into the offsets of the block in ``x`` and
in the scales.  A thread's work item is a block, or a chunk of a large one
(:data:`SPLIT`, :func:`item_origin`).  An element's flat index in ``x`` is
the index of its random words, as on the CPU.

Parameters are runtime data (the same ``make_params`` / ``bp`` / ``fp``
vectors as the CPU kernels, as tuples); the rounding mode and input kind are
compile-time constants of the fast path, as in :mod:`.elementwise`.

Example (builds nothing; kernels compile at their first launch):
    >>> from floatsim.gpu.blocks import fast_kernel, geometry
    >>> fast_kernel(6, 1).py_func.__name__        # stochastic rounding, float32 in
    'mx32_r6_i1'
    >>> g = geometry((4, 100), (4, 4), (1,), (32,))  # 1-D blocks along the last axis
    >>> g[:7], g[21:]                             # grid (4 rows x 4 blocks); levels
    ((1, 1, 1, 4, 1, 1, 4), (1, 1, 32, 0, 0, 1, 1, 1, 100))
"""

from __future__ import annotations

import functools
import math
import types as _pytypes
from typing import Any

import numba
import numpy as np
from numba import cuda
from numba.core.registry import CPUDispatcher

from ..kernels import blocksteps as _steps
from ..kernels.abi import (
    B_EMAX_E,
    B_FAST_EMIN,
    B_KIND,
    B_NANMAX,
    F_TSCALE,
    K_BF16,
    K_F16,
    K_F32,
    K_F64,
    N_BP,
    N_FP,
    SR,
)
from ..kernels.blocksteps import f32_value_bits
from ..kernels.intrinsics import f32_bits, f64_bits, f64_from_bits, scalar_jit
from ..kernels.philox import group_words
from ..kernels.scalar import encode_bits
from . import SIMULATOR
from .elementwise import f32_to_f64_bits, in_f32_bits, in_f64_bits, quantize_f32_dev
from .launch import launch_items, settings

__all__ = [
    "H",
    "MAX_THREADS",
    "element_kernel",
    "fast_kernel",
    "geometry",
    "launch",
    "ptx_signatures",
    "scale_kernel",
    "stats_init_kernel",
    "stats_kernel",
    "tensor_amax_kernel",
    "tensor_scale_kernel",
    "zero_kernel",
]

_ABS = 0x7FFFFFFFFFFFFFFF
_INF = 0x7FF0000000000000
_Z8 = (0, 0, 0, 0, 0, 0, 0, 0)


def _device_helpers(module: Any) -> Any:
    """``module``'s scalar helpers as numba-cuda can inline them (see above).

    Every non-parallel njit function defined in ``module`` is rebound: same
    code object, globals a copy of the module's in which each such name is
    its rebound twin, so a helper's callees are inlined too, except
    ``quantize_f32_bits``, which is :data:`.elementwise.quantize_f32_dev`.  Nothing
    is cached (the twins are only ever inlined into kernels)."""
    if SIMULATOR:
        return module
    ns = dict(vars(module))
    ns["quantize_f32_bits"] = quantize_f32_dev
    for name, obj in vars(module).items():
        if (isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == module.__name__
                and not obj.targetoptions.get("parallel")):
            f = obj.py_func
            twin = _pytypes.FunctionType(f.__code__, ns, f.__name__, f.__defaults__, f.__closure__)
            twin.__qualname__ = f.__qualname__
            twin.__doc__ = f.__doc__
            ns[name] = numba.njit(nogil=True, inline="always")(twin)
    twins = _pytypes.ModuleType(f"{module.__name__}[cuda]")  # numba resolves module attributes
    twins.__dict__.update(ns)
    return twins


#: kernels.blocksteps' helpers for the kernels below.
H = _device_helpers(_steps)

# ---- geometry ----------------------------------------------------------------------------
#: Layout of the geometry tuple: grid sizes, x strides and scale strides of the
#: seven grid dimensions (four runs of other axes, then one block index per
#: level); then block size, x stride and axis length of the three levels.
NG, NL = 7, 3
G_SIZE, G_XS, G_SS = 0, NG, 2 * NG
L_BSZ, L_XS, L_LEN = 3 * NG, 3 * NG + NL, 3 * NG + 2 * NL
N_GEO = 3 * NG + 3 * NL


def _c_strides(shape: tuple[int, ...]) -> list[int]:
    st, acc = [], 1
    for s in reversed(shape):
        st.append(acc)
        acc *= s
    return st[::-1]


def geometry(shape: tuple[int, ...], scale_shape: tuple[int, ...], axes: tuple[int, ...],
             bsz: tuple[int, ...]) -> tuple[int, ...]:
    """The kernels' geometry tuple for a C-contiguous array of ``shape`` cut
    into blocks of ``bsz`` along ``axes`` (a blocks.layout.Layout's fields).

    Adjacent other axes merge into one grid dimension, and a block axis
    merges into the one before it when it follows it in ``x`` and one block
    spans it (whole-axis formats: ``axis=None`` is one level).  ValueError if
    more than three levels remain."""
    xs, ss = _c_strides(shape), _c_strides(scale_shape)
    runs: list[list[int]] = []  # [size, x stride, scale stride] of merged other axes
    prev = -2
    for d in range(len(shape)):
        if d in axes:
            continue
        if runs and prev == d - 1:  # adjacent in a C-contiguous array: one axis
            runs[-1] = [runs[-1][0] * shape[d], xs[d], ss[d]]
        else:
            runs.append([shape[d], xs[d], ss[d]])
        prev = d
    levels: list[list[int]] = []  # [block size, x stride, axis length, scale stride, last axis]
    for a, b in zip(axes, bsz):
        n = shape[a]
        if levels and a == levels[-1][4] + 1 and b >= n > 0:
            lv = levels[-1]  # the block holds whole rows of the inner axis: C order within it
            levels[-1] = [lv[0] * n, xs[a], lv[2] * n, lv[3], a]
        else:
            levels.append([b, xs[a], n, ss[a], a])
    if len(levels) > NL:
        raise ValueError(f"{len(levels)} block levels; the GPU kernels take at most {NL}")
    runs = [[1, 0, 0]] * (NG - NL - len(runs)) + runs
    levels = [[1, 0, 1, 0, -2]] * (NL - len(levels)) + levels
    grid = runs + [[-(-lv[2] // lv[0]), lv[0] * lv[1], lv[3]] for lv in levels]
    return tuple(int(v) for v in (
        [g[0] for g in grid] + [g[1] for g in grid] + [g[2] for g in grid]
        + [lv[0] for lv in levels] + [lv[1] for lv in levels] + [lv[2] for lv in levels]))


def n_blocks(g: tuple[int, ...]) -> int:
    """Blocks in a geometry."""
    return math.prod(g[G_SIZE:G_SIZE + NG])


@scalar_jit
def _digit(rem, size):  # noqa: ANN001, ANN201
    """(rem % size, rem // size), skipping the division for size 1 (most grid
    dimensions): 64-bit division is a long instruction sequence on the GPU."""
    if size == 1:
        return np.int64(0), rem
    q = rem // size
    return rem - q * size, q


@scalar_jit
def block_origin(blk, g):  # noqa: ANN001, ANN201
    """(x offset, scale offset, n0, n1, n2) of block ``blk``: where it starts
    and how many elements it has along each level (fewer at an axis' end)."""
    rem = np.int64(blk)
    c6, rem = _digit(rem, g[6])
    c5, rem = _digit(rem, g[5])
    c4, rem = _digit(rem, g[4])
    c3, rem = _digit(rem, g[3])
    c2, rem = _digit(rem, g[2])
    c1, rem = _digit(rem, g[1])
    c0 = rem
    xo = (c0 * g[G_XS] + c1 * g[G_XS + 1] + c2 * g[G_XS + 2] + c3 * g[G_XS + 3]
          + c4 * g[G_XS + 4] + c5 * g[G_XS + 5] + c6 * g[G_XS + 6])
    so = (c0 * g[G_SS] + c1 * g[G_SS + 1] + c2 * g[G_SS + 2] + c3 * g[G_SS + 3]
          + c4 * g[G_SS + 4] + c5 * g[G_SS + 5] + c6 * g[G_SS + 6])
    n0 = min(g[L_BSZ], g[L_LEN] - c4 * g[L_BSZ])
    n1 = min(g[L_BSZ + 1], g[L_LEN + 1] - c5 * g[L_BSZ + 1])
    n2 = min(g[L_BSZ + 2], g[L_LEN + 2] - c6 * g[L_BSZ + 2])
    return xo, so, n0, n1, n2


@scalar_jit
def item_origin(item, g, nc, ch):  # noqa: ANN001, ANN201
    """Where work item ``item`` starts: chunk ``item % nc`` of block ``item //
    nc``, the elements ``f0 <= f < f1`` of the block in its C order (``ch`` a
    chunk).  Returns (x offset of the block, scale offset, f0, f1, the
    coordinates (w0, w1, w2) of element f0, and the block's n1, n2)."""
    blk = np.int64(item)
    c = np.int64(0)
    if nc != 1:
        blk = item // nc
        c = item - blk * nc
    xo, so, n0, n1, n2 = block_origin(blk, g)
    f0 = c * ch
    f1 = min(f0 + ch, n0 * n1 * n2)
    w0 = np.int64(0)
    w1 = np.int64(0)
    w2 = np.int64(0)
    if f0 != 0 and f0 < f1:
        r = f0 // n2
        w2 = f0 - r * n2
        w0 = r // n1
        w1 = r - w0 * n1
    return xo, so, f0, f1, w0, w1, w2, n1, n2


@scalar_jit
def row_base(xo, w0, w1, g):  # noqa: ANN001, ANN201
    """x offset of element (w0, w1, 0) of the block at ``xo``."""
    return xo + w0 * g[L_XS] + w1 * g[L_XS + 1]


@scalar_jit
def advance(w0, w1, w2, n1, n2, xo, rb, g):  # noqa: ANN001, ANN201
    """(w0, w1, w2, row base) of the element after (w0, w1, w2) in C order."""
    w2 += 1
    if w2 == n2:
        w2 = np.int64(0)
        w1 += 1
        if w1 == n1:
            w1 = np.int64(0)
            w0 += 1
        rb = row_base(xo, w0, w1, g)
    return w0, w1, w2, rb


# ---- per-element helpers -----------------------------------------------------------------
@scalar_jit
def words_at(i, cg, w, seed_lo, seed_hi, stream, wide):  # noqa: ANN001, ANN201
    """(group, words, r_hi, r_lo): the random words of element ``i`` with the
    last group's words ``w`` (of group ``cg``) reused: one Philox call per four
    consecutive elements, as the element-wise kernels draw them."""
    g = i >> 2
    if g != cg:
        w = group_words(seed_lo, seed_hi, g, stream, wide)
    lane = i & 3
    if lane == 0:
        return g, w, w[0], w[1]
    if lane == 1:
        return g, w, w[2], w[3]
    if lane == 2:
        return g, w, w[4], w[5]
    return g, w, w[6], w[7]


@scalar_jit
def out_bits(v, kind, op):  # noqa: ANN001, ANN201
    """The output element (bits of kind ``kind``) of the float64 value ``v``,
    rounded once to nearest even as the CPU path rounds it (float16, float32:
    numpy's conversion; bfloat16: floatsim's own cast, as on the CPU, where
    ml_dtypes before 0.7 rounds twice, through float32).  ``op`` are the float16 / bfloat16 params
    (nearest even, overflow to inf).  NaN is the positive quiet NaN numpy
    stores."""
    if kind == K_F64:
        return f64_bits(v) if v == v else np.int64(0x7FF8000000000000)
    if kind == K_F32:
        return f32_value_bits(v)
    if v != v:
        return np.int64(0x7E00) if kind == K_F16 else np.int64(0x7FC0)
    return encode_bits(f64_bits(v), op, 0, 0)  # one call site: it is inlined


@scalar_jit
def stats_m32(am, nan_block):  # noqa: ANN001, ANN201
    """The fast path's block maximum (float32 bits; NaN above inf) from
    stats_kernel's amax (float64 bits of a float32 value, NaNs left out) and
    whether the block is a NaN block (a NaN in it and a scale with NaN)."""
    if nan_block:
        return np.uint32(0x7FC00000)
    return np.uint32(f32_bits(np.float32(f64_from_bits(am))))


# ---- kernels -------------------------------------------------------------------------------
# Work is cut into items, grid-stride with 64-bit ids: an item is a whole block,
# or for large blocks (whole-axis scaling, big tiles) a chunk of one, whose
# amax then comes from stats_kernel's atomics.  A thread reads its elements once
# for the amax, then again to cast them (the second read is served by L1/L2).
# Stores stay in the kernel bodies: under the simulator the bodies run as
# Python, and its arrays cannot be passed to compiled helpers.


@functools.cache
def fast_kernel(rnd: int, in_kind: int) -> Any:
    """The float32 fast path (cpu.blocks' _f32_blocks) for one rounding mode and
    input kind (K_F32, K_F16, K_BF16); float32 out.  Arguments: ``(xr, outr,
    nitems, g, nc, ch, use_stats, am_a, nan_a, c, ep0, bp, fmax, seed_lo,
    seed_hi, stream)``: items as item_origin cuts them (with ``use_stats``
    the blocks' amax and NaN flags come from stats_kernel, else an item is a
    whole block); ``c`` the element's fast-path constants, ``ep0`` its
    params, ``fmax`` the 52-bit fraction of its largest value.  Stochastic
    rounding draws Philox words from the seed (blocks take no explicit
    words)."""
    if rnd not in range(7) or in_kind not in (K_F32, K_F16, K_BF16):
        raise ValueError(f"rnd={rnd} / in_kind={in_kind} out of range")

    def mx32(xr, outr, nitems, g, nc, ch, use_stats, am_a, nan_a, c, ep0, bp, fmax, seed_lo,  # noqa: ANN001, ANN202, PLR0913
             seed_hi, stream):
        fast_emin = bp[B_FAST_EMIN]
        fast_kmax = 127 - bp[B_EMAX_E]
        s2 = g[L_XS + 2]
        start = np.int64(cuda.blockIdx.x) * cuda.blockDim.x + cuda.threadIdx.x
        step = np.int64(cuda.gridDim.x) * cuda.blockDim.x
        for item in range(start, nitems, step):
            xo, so, f0, f1, a0, a1, a2, n1, n2 = item_origin(item, g, nc, ch)
            keep_nan = bp[B_NANMAX] == 0
            if use_stats != 0:
                m = stats_m32(am_a[so], nan_a[so] != 0 and keep_nan)
            else:
                m = np.uint32(0)
                w0, w1, w2, rb = a0, a1, a2, row_base(xo, a0, a1, g)
                for _f in range(f0, f1):
                    m = H.amax_bits(m, in_f32_bits(xr[rb + w2 * s2], in_kind), keep_nan)
                    w0, w1, w2, rb = advance(w0, w1, w2, n1, n2, xo, rb, g)
            k, state = H.f32_block_k(m, bp, fmax)
            fast = k >= fast_emin and k <= fast_kmax
            ck = H.shift_consts(c, k) if fast else c
            ep = H.shift_params(ep0, k)
            cg = np.int64(-1)
            w = _Z8
            w0, w1, w2, rb = a0, a1, a2, row_base(xo, a0, a1, g)
            for _f in range(f0, f1):
                i = rb + w2 * s2
                r_lo = np.int64(0)
                if rnd == SR and state != 1:
                    cg, w, _r_hi, r_lo = words_at(i, cg, w, seed_lo, seed_hi, stream, 0)
                if state == 1:  # a NaN block
                    r = np.uint32(0x7FC00000)
                elif fast:
                    r = quantize_f32_dev(in_f32_bits(xr[i], in_kind), ck, rnd, r_lo, False, True)
                else:  # the shifted format leaves float32's normal range
                    v = H.dec(H.enc(in_f64_bits(xr[i], in_kind), ep, np.int64(0), r_lo), ep)
                    r = np.uint32(f32_value_bits(v))
                outr[i] = r
                w0, w1, w2, rb = advance(w0, w1, w2, n1, n2, xo, rb, g)

    mx32.__name__ = f"mx32_r{rnd}_i{in_kind}"
    mx32.__qualname__ = mx32.__name__
    return cuda.jit(cache=True)(mx32)


@cuda.jit(cache=True)
def stats_init_kernel(n, am_a, nan_a, hi_a, lo_a):  # noqa: ANN001, ANN201
    """Zero stats_kernel's accumulators (n blocks)."""
    start = np.int64(cuda.blockIdx.x) * cuda.blockDim.x + cuda.threadIdx.x
    step = np.int64(cuda.gridDim.x) * cuda.blockDim.x
    for b in range(start, n, step):
        am_a[b] = 0
        nan_a[b] = 0
        hi_a[b] = 0.0
        lo_a[b] = 0.0


@cuda.jit(cache=True)
def stats_kernel(xr, in_kind, nitems, g, nc, ch, am_a, nan_a, hi_a, lo_a):  # noqa: ANN001, ANN201
    """Block statistics of large blocks, an item (a chunk) per thread:
    blocksteps.amax_step over the chunk, then one atomic per statistic into
    the block's amax (float64 bits), NaN flag, max(x, 0) and min(x, 0).
    Maxima do not depend on the order of their operands, so the result is
    the CPU's."""
    s2 = g[L_XS + 2]
    start = np.int64(cuda.blockIdx.x) * cuda.blockDim.x + cuda.threadIdx.x
    step = np.int64(cuda.gridDim.x) * cuda.blockDim.x
    for item in range(start, nitems, step):
        xo, so, f0, f1, w0, w1, w2, n1, n2 = item_origin(item, g, nc, ch)
        rb = row_base(xo, w0, w1, g)
        am = np.int64(0)
        has_nan = False
        hi = 0.0
        lo = 0.0
        for _f in range(f0, f1):
            xv = f64_from_bits(in_f64_bits(xr[rb + w2 * s2], in_kind))
            am, has_nan, hi, lo = H.amax_step(xv, am, has_nan, hi, lo)
            w0, w1, w2, rb = advance(w0, w1, w2, n1, n2, xo, rb, g)
        if f0 < f1:
            cuda.atomic.max(am_a, so, am)
            if has_nan:
                nan_a[so] = 1
            if hi > 0.0:
                cuda.atomic.max(hi_a, so, hi)
            if lo < 0.0:
                cuda.atomic.min(lo_a, so, lo)


@functools.cache
def scale_kernel(four_over_six: bool) -> Any:
    """The scales of cpu.blocks.block_cast, a block per thread: every rule,
    any input kind; with ``four_over_six`` the 4-over-6 rule's comparison of
    the two candidates' errors (elements rounded with the call's mode and
    random words; never from stats: the sums run in block order).

    Arguments: ``(xr, in_kind, nblocks, g, ep0, sp, bp, fp, tsc, use_tsc,
    amax, use_amax, use_stats, am_a, nan_a, hi_a, lo_a, rmode, seed_lo,
    seed_hi, stream, wide, scs, svs, zps)``: ``tsc[0]`` replaces the tensor
    scale in ``fp`` when ``use_tsc`` (computed on the device); ``amax``
    (float64) replaces measured amax when ``use_amax``; ``use_stats`` takes
    the statistics from stats_kernel.  Writes each block's scale code
    (``scs``, int64), value (``svs``, float64) and zero point (``zps``,
    int64), indexed like the scales.  Its own kernel (and element_kernel
    another): one kernel holding both took numba minutes to compile (its IR
    passes grow faster than the function).
    """
    four6 = bool(four_over_six)

    def scales(xr, in_kind, nblocks, g, ep0, sp, bp, fp0, tsc, use_tsc, amax, use_amax,  # noqa: ANN001, ANN202, PLR0913
               use_stats, am_a, nan_a, hi_a, lo_a, rmode, seed_lo, seed_hi, stream, wide, scs, svs,
               zps):
        fp = fp0
        if use_tsc != 0:
            fp = (fp0[0], fp0[1], tsc[0], fp0[3], fp0[4])
        kind = bp[B_KIND]
        tscale = fp[F_TSCALE]
        s2 = g[L_XS + 2]
        start = np.int64(cuda.blockIdx.x) * cuda.blockDim.x + cuda.threadIdx.x
        step = np.int64(cuda.gridDim.x) * cuda.blockDim.x
        for blk in range(start, nblocks, step):
            xo, so, f0, f1, a0, a1, a2, n1, n2 = item_origin(blk, g, 1, 1 << 62)
            if use_stats != 0:
                am = am_a[so]
                has_nan = nan_a[so] != 0
                hi = hi_a[so]
                lo = lo_a[so]
            else:
                am = np.int64(0)
                has_nan = False
                hi = 0.0
                lo = 0.0
                w0, w1, w2, rb = a0, a1, a2, row_base(xo, a0, a1, g)
                for _f in range(f0, f1):
                    xv = f64_from_bits(in_f64_bits(xr[rb + w2 * s2], in_kind))
                    am, has_nan, hi, lo = H.amax_step(xv, am, has_nan, hi, lo)
                    w0, w1, w2, rb = advance(w0, w1, w2, n1, n2, xo, rb, g)
            a = f64_from_bits(am)
            if use_amax != 0:
                a = amax[so]
            sc, sv, _st, zp = H.block_scale(a, has_nan, hi, lo, bp, fp, sp)
            if four6:
                sc4, sv4, _st4, compare = H.four_over_six_alt(a, sv, bp, fp, sp)
                if compare:
                    t6, div6, ep6 = H.elem_params(sv, tscale, ep0, kind)
                    t4, div4, ep4 = H.elem_params(sv4, tscale, ep0, kind)
                    err6 = 0.0
                    err4 = 0.0
                    cg = np.int64(-1)
                    w = _Z8
                    w0, w1, w2, rb = a0, a1, a2, row_base(xo, a0, a1, g)
                    for _f in range(f0, f1):
                        i = rb + w2 * s2
                        r_hi = np.int64(0)
                        r_lo = np.int64(0)
                        if rmode != 0:
                            cg, w, r_hi, r_lo = words_at(i, cg, w, seed_lo, seed_hi, stream, wide)
                        u = in_f64_bits(xr[i], in_kind)
                        # one call site for both candidates: half the inlined code
                        for c in range(2):
                            e = H.sq_err(u, ep6 if c == 0 else ep4, div6 if c == 0 else div4,
                                         t6 if c == 0 else t4, r_hi, r_lo, bp)
                            if c == 0:
                                err6 += e
                            else:
                                err4 += e
                        w0, w1, w2, rb = advance(w0, w1, w2, n1, n2, xo, rb, g)
                    if err4 < err6:
                        sc, sv = sc4, sv4
            scs[so] = sc
            svs[so] = sv
            zps[so] = zp

    scales.__name__ = "block_scales_46" if four6 else "block_scales"
    scales.__qualname__ = scales.__name__
    return cuda.jit(cache=True)(scales)


@functools.cache
def element_kernel(want_codes: bool) -> Any:
    """The elements of cpu.blocks.block_cast, from scale_kernel's scales, an
    item per thread: values of any output kind into ``outr`` (quantize), or
    with ``want_codes`` element codes into ``codes`` and scale codes into
    ``scodes`` (encode).

    Arguments: ``(xr, in_kind, outr, out_kind, op, codes, scodes, nitems, g,
    nc, ch, ep0, bp, fp, tsc, use_tsc, scs, svs, zps, rmode, seed_lo,
    seed_hi, stream, wide)``; ``op`` are the params out_bits rounds float16 /
    bfloat16 results with."""
    want = bool(want_codes)

    def elements(xr, in_kind, outr, out_kind, op, codes, scodes, nitems, g, nc, ch, ep0, bp,  # noqa: ANN001, ANN202, PLR0913
                 fp0, tsc, use_tsc, scs, svs, zps, rmode, seed_lo, seed_hi, stream, wide):
        tscale = tsc[0] if use_tsc != 0 else fp0[F_TSCALE]
        kind = bp[B_KIND]
        s2 = g[L_XS + 2]
        start = np.int64(cuda.blockIdx.x) * cuda.blockDim.x + cuda.threadIdx.x
        step = np.int64(cuda.gridDim.x) * cuda.blockDim.x
        for item in range(start, nitems, step):
            xo, so, f0, f1, w0, w1, w2, n1, n2 = item_origin(item, g, nc, ch)
            sv = svs[so]
            zp = zps[so]
            if want and f0 == 0:
                scodes[so] = scs[so]
            t, div, ep = H.elem_params(sv, tscale, ep0, kind)
            draw = rmode != 0 and sv == sv and sv != 0.0  # only scaled elements use words
            cg = np.int64(-1)
            w = _Z8
            rb = row_base(xo, w0, w1, g)
            for _f in range(f0, f1):
                i = rb + w2 * s2
                r_hi = np.int64(0)
                r_lo = np.int64(0)
                if draw:
                    cg, w, r_hi, r_lo = words_at(i, cg, w, seed_lo, seed_hi, stream, wide)
                code, v = H.elem_out(in_f64_bits(xr[i], in_kind), sv, t, div, ep, ep0, zp, r_hi, r_lo,
                                     bp, 1 if want else 0)
                # np.int64: the simulator's arrays refuse a negative Python int
                if want:
                    codes[i] = np.int64(code)
                else:
                    outr[i] = np.int64(out_bits(v, out_kind, op))
                w0, w1, w2, rb = advance(w0, w1, w2, n1, n2, xo, rb, g)

    elements.__name__ = "block_encode" if want else "block_quantize"
    elements.__qualname__ = elements.__name__
    return cuda.jit(cache=True)(elements)


#: Largest CUDA block the reduction's shared buffer holds.
MAX_THREADS = 1024


@cuda.jit(cache=True)
def zero_kernel(a):  # noqa: ANN001, ANN201
    """``a[0] = 0``: resets the tensor-amax accumulator on the launch's stream."""
    if cuda.grid(1) == 0:
        a[0] = 0


@cuda.jit(cache=True)
def tensor_amax_kernel(xr, in_kind, res):  # noqa: ANN001, ANN201
    """``res[0] = max(res[0], bits of the largest finite |x|)`` (int64 bits of
    a nonnegative float64 order as the values do): a grid-stride pass, a tree
    in shared memory per CUDA block, one atomic per CUDA block."""
    buf = cuda.shared.array(MAX_THREADS, numba.int64)
    n = xr.size
    start = np.int64(cuda.blockIdx.x) * cuda.blockDim.x + cuda.threadIdx.x
    step = np.int64(cuda.gridDim.x) * cuda.blockDim.x
    m = np.int64(0)
    if in_kind == K_F64:
        for i in range(start, n, step):
            a = in_f64_bits(xr[i], in_kind) & _ABS
            if a < _INF:
                m = max(m, a)
    else:  # float32 magnitude bits order as the values: widen the thread's largest only
        m32 = np.uint32(0)
        for i in range(start, n, step):
            a32 = np.uint32(in_f32_bits(xr[i], in_kind) & 0x7FFFFFFF)
            if a32 < np.uint32(0x7F800000):
                m32 = max(m32, a32)
        m = f32_to_f64_bits(m32)
    tid = cuda.threadIdx.x
    buf[tid] = m
    cuda.syncthreads()
    width = cuda.blockDim.x
    while width > 1:
        half = (width + 1) // 2
        if tid + half < width:
            buf[tid] = max(buf[tid], buf[tid + half])
        cuda.syncthreads()
        width = half
    if tid == 0:
        cuda.atomic.max(res, 0, buf[0])


@cuda.jit(cache=True)
def tensor_scale_kernel(res, tout, den, tp, tmin, given):  # noqa: ANN001, ANN201
    """``tout[0]`` = the tensor scale: ``given`` when positive (the caller's,
    already rounded), else amax_t / den rounded to the tensor format (params
    ``tp``), as blocks.plan.BlockPlan computes it on the host: 1 for an all-zero
    tensor, ``tmin`` (its smallest subnormal) where it underflows."""
    if cuda.grid(1) == 0:
        if given > 0.0:
            tout[0] = given
        else:
            amax_t = f64_from_bits(res[0])
            s = 1.0
            if amax_t != 0.0:
                s = H.dec(H.enc(f64_bits(H.div_odd(amax_t, den)), tp, np.int64(0), np.int64(0)), tp)
                if not s > 0.0:
                    s = tmin
            tout[0] = s


# ---- launching -----------------------------------------------------------------------

def items(g: tuple[int, ...], split: bool) -> tuple[int, int, int]:
    """(items, chunks per block, chunk length) of a geometry: a block per
    item, or chunks of ``settings().split_chunk`` elements."""
    most = g[L_BSZ] * g[L_BSZ + 1] * g[L_BSZ + 2]  # elements of a full block
    ch = max(min(settings().split_chunk, most), 1) if split else max(most, 1)
    nc = -(-most // ch)
    return n_blocks(g) * nc, nc, ch


def splits(g: tuple[int, ...], four_over_six: bool) -> bool:
    """Whether the blocks of ``g`` are large enough to be cut into chunks
    (``settings().split_min_block``; 4-over-6 never splits: its sums of
    squares run in block order)."""
    return not four_over_six and g[L_BSZ] * g[L_BSZ + 1] * g[L_BSZ + 2] > settings().split_min_block


def launch(kernel: Any, items: int, stream: Any, *args: Any) -> None:
    """Launch ``kernel`` with one thread per item (up to the grid's size) on ``stream``."""
    launch_items(kernel, items, stream, settings().blocks, *args)


def ptx_signatures() -> list[tuple[str, Any, tuple]]:
    """(label, Python function, argument types) of every kernel variant, for
    the PTX build test: the fast path in each rounding mode and input kind;
    quantize into each output kind and encode into each code width; the
    tensor-amax and tensor-scale kernels."""
    from numba import types as t

    i64, f64 = t.int64, t.float64
    geo = t.UniTuple(i64, N_GEO)
    ptup = t.UniTuple(i64, 21)
    btup = t.UniTuple(i64, N_BP)
    ftup = t.UniTuple(f64, N_FP)
    ctup = t.Tuple((i64,) * 16 + (f64,))
    u8, u16, u32, u64, s64 = t.uint8[::1], t.uint16[::1], t.uint32[::1], t.uint64[::1], t.int64[::1]
    f64a = t.float64[::1]
    raw = {K_F64: u64, K_F32: u32, K_F16: u16, K_BF16: u16}
    sigs: list[tuple[str, Any, tuple]] = []
    grid = (i64, geo, i64, i64)  # items, geometry, chunks per block, chunk length
    for rnd in range(7):
        for ik in (K_F32, K_F16, K_BF16):
            fn = fast_kernel(rnd, ik).py_func
            sigs.append((fn.__name__, fn, (raw[ik], u32, *grid, i64, s64, s64, ctup, ptup, btup, i64,
                                           i64, i64, i64)))
    stats = (s64, s64, f64a, f64a)  # amax bits, NaN flags, max(x, 0), min(x, 0)
    for ik in (K_F64, K_F32, K_F16):
        sigs.append((f"stats_i{ik}", stats_kernel.py_func, (raw[ik], i64, *grid, *stats)))
    sigs.append(("stats_init", stats_init_kernel.py_func, (i64, *stats)))
    rand = (i64, i64, i64, i64, i64)  # rmode, seed_lo, seed_hi, stream, wide
    for four6 in (False, True):
        fn = scale_kernel(four6).py_func
        for ik in (K_F64, K_F32, K_F16):
            sigs.append((f"{fn.__name__}_i{ik}", fn, (raw[ik], i64, i64, geo, ptup, ptup, btup, ftup, f64a,
                                                     i64, f64a, i64, i64, *stats, *rand, s64, f64a, s64)))
    tail = (ptup, btup, ftup, f64a, i64, s64, f64a, s64, *rand)
    q = element_kernel(False).py_func
    for ik, ok in ((K_F64, K_F64), (K_F32, K_F32), (K_BF16, K_BF16), (K_F16, K_F16)):
        sigs.append((f"block_quantize_i{ik}_o{ok}", q, (raw[ik], i64, raw[ok], i64, ptup, u8, u8, *grid,
                                                         *tail)))
    e = element_kernel(True).py_func
    for ik, cd, sd in ((K_F32, u8, u8), (K_F64, u16, u16), (K_BF16, u32, u32)):
        sigs.append((f"block_encode_i{ik}_{cd.dtype}_{sd.dtype}", e, (raw[ik], i64, u32, i64, ptup, cd, sd,
                                                                        *grid, *tail)))
    for ik in (K_F64, K_F32, K_F16):
        sigs.append((f"tensor_amax_i{ik}", tensor_amax_kernel.py_func, (raw[ik], i64, s64)))
    sigs.append(("tensor_scale", tensor_scale_kernel.py_func, (s64, f64a, f64, ptup, f64, f64)))
    return sigs
