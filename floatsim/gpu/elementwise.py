"""CUDA kernels: the scalar cast of :mod:`.scalar`, :mod:`.fast32` and
:mod:`.philox`, compiled by ``numba.cuda``.

The kernels call the very functions the CPU kernels call (``encode_bits``,
``decode_code``, ``quantize_f32_bits``, ``random_words``); numba-cuda inlines
those ``njit(inline="always")`` functions into each kernel, but for
``quantize_f32_bits``, which the kernels call as :data:`quantize_f32_dev`
(the same Python function as a device function NVVM inlines), so the
algorithm exists once.  This module only adds what is particular to the GPU:

* **Grid-stride loops, four elements a thread a step**, with 64-bit indices
  (arrays over 2**31 elements).  A Philox call gives the 32-bit random words
  of four consecutive elements (element ``i`` takes word ``i % 4`` of counter
  ``i // 4``, docs/semantics.md), so seeded stochastic rounding costs one
  Philox evaluation per four elements.  The float32 fast kernel, which is
  bound by memory traffic, gives thread ``t`` elements ``4t .. 4t+3`` of the
  block's span, moved by one vector load and store (:mod:`.vector_io`; 0.92
  of the copy bandwidth for e4m3 SR on an H100, against 0.78 before) where
  the arrays are aligned to four elements; elsewhere thread ``t`` takes
  ``t``, ``t + T``, ``t + 2T``, ``t + 3T`` (each warp access one contiguous
  run) and trades the Philox words through shared memory.  The general
  kernels, bound by arithmetic, take four consecutive elements.
* **Raw bit views of the arrays.** Inputs and outputs are passed as unsigned
  integer views (float64 as int64, float32 as uint32, float16 and bfloat16 as
  uint16) with a *kind* code, and converted here with exact integer
  arithmetic; so NaN signs and payloads come out as on the CPU, and bfloat16
  needs no GPU float type.
* Importing this module imports ``numba.cuda`` (a CUDA driver is needed to
  launch, not to compile: see tests/test_cuda.py).  ``floatsim`` imports it
  only when a GPU array reaches :func:`floatsim.quantize` and friends
  (:mod:`floatsim.gpu.dispatch`).

The kernels' arguments (all flat, C-contiguous):

========================  ==================================================
``xr``                    input bits: int64 / uint32 / uint16 (``in_kind``)
``outr``                  output bits or codes (``out_kind``; codes: uint8..64)
``p`` / ``c``             ``make_params`` as a 21-tuple / ``make_consts`` tuple
``rmode``                 0: no random bits, 1: Philox from the seed, 2: explicit
``seed_lo``, ``seed_hi``  the Philox key; ``stream``: the Philox stream id
``offset``                flat index of element 0 (a multiple of 4)
``rbits``, ``rb_wide``    explicit random words as uint32 (``rb_wide=1``: a
                          uint64 array viewed as (lo, hi) pairs)
========================  ==================================================

Example (builds nothing; kernels compile at their first launch):
    >>> from floatsim.kernels.abi import K_F32
    >>> from floatsim.gpu.elementwise import f16_to_f32_bits, quantize32_kernel
    >>> hex(f16_to_f32_bits(0x3C00)), hex(f16_to_f32_bits(0x0001))  # 1.0, 2**-24
    ('0x3f800000', '0x33800000')
    >>> quantize32_kernel(6, K_F32, K_F32, 1).py_func.__name__  # SR, float32, Philox
    'quantize32_r6_i1_o1_m1'
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numba import cuda

from ..kernels.abi import K_BF16, K_F16, K_F32, K_F64, P_WIDE_RANDOM
from ..kernels.code_table import code_of_f32_py
from ..kernels.fast32 import quantize_f32_bits
from ..kernels.forms import FLOAT, FORM_TAG, check_form
from ..kernels.intrinsics import f32_bits, f32_from_bits, f64_bits, scalar_jit
from ..kernels.philox import group_words
from ..kernels.scalar import decode_code, encode_bits
from . import SIMULATOR
from .launch import launch_items, settings
from .vector_io import load4, store4

__all__ = [
    "K_F64",
    "K_F32",
    "K_F16",
    "K_BF16",
    "quantize32_kernel",
    "encode32_kernel",
    "quantize_kernel",
    "encode_kernel",
    "decode_kernel",
    "decode_lut_kernel",
    "LUT_CODES",
    "ptx_signatures",
    "launch",
    "GROUP",
    "MAX_THREADS",
    "pick",
    "load4_any",
    "f32_to_f64_bits",
    "in_f32_bits",
    "in_f64_bits",
    "quantize_f32_dev",
]

#: :func:`.fast32.quantize_f32_bits` as the GPU kernels call it: a device
#: function that NVVM inlines (``forceinline``), compiled once per kernel
#: build and argument types, with the rounding mode and form as literal
#: arguments, so it still holds only its own rule.  Inlined by numba-cuda
#: instead (``inline="always"``), its front-end passes re-ran at each of a
#: kernel's four or five call sites: 36 s against 5 s to build one kernel,
#: and the same PTX (docs/development.md).  Under the simulator, the CPU
#: function itself.
quantize_f32_dev = quantize_f32_bits if SIMULATOR else cuda.jit(device=True, forceinline=True)(
    quantize_f32_bits.py_func)

#: Elements per thread per grid-stride step (one Philox call for W = 32).
GROUP = 4
#: The most threads per block a launch uses (the fast kernel's shared words;
#: launch.Settings.elementwise.max_threads must not exceed it).
MAX_THREADS = 256
_SHARED_WORDS = GROUP * MAX_THREADS
if settings().elementwise.max_threads > MAX_THREADS:  # pragma: no cover - a settings edit
    raise ImportError("launch.Settings.elementwise.max_threads exceeds the kernels' shared words")

_ABS64 = 0x7FFFFFFFFFFFFFFF
_INF64 = 0x7FF0000000000000
_TWO_M24 = 2.0**-24
_TWO_24 = 2.0**24
_TWO_M149 = 2.0**-149


# ---- exact conversions between float bit patterns (integer arithmetic) --------------


@scalar_jit
def f16_to_f32_bits(h):  # noqa: ANN001, ANN201
    """float32 bits of the float16 with bits ``h`` (exact; NaN payload kept)."""
    h = np.int64(h)
    s = (h & 0x8000) << 16
    e = (h >> 10) & 0x1F
    m = h & 0x3FF
    if e == 0x1F:
        return s | 0x7F800000 | (m << 13)
    if e != 0:
        return s | ((e + 112) << 23) | (m << 13)
    # zero or subnormal: m * 2**-24, a normal float32 (the product is exact)
    return s | np.int64(f32_bits(np.float32(m) * np.float32(_TWO_M24)))


@scalar_jit
def f32_to_f16_bits(r):  # noqa: ANN001, ANN201
    """float16 bits of the float32 with bits ``r``, which must be a float16
    value, an infinity or NaN (NaN as numpy converts it: the top payload bits,
    or 1 where those are all zero)."""
    r = np.int64(r)
    s = (r >> 16) & 0x8000
    a = r & 0x7FFFFFFF
    if a > 0x7F800000:
        m = (a >> 13) & 0x3FF
        return s | 0x7C00 | (m if m != 0 else 1)
    if a == 0x7F800000:
        return s | 0x7C00
    e = a >> 23
    if e >= 113:
        return s | ((e - 112) << 10) | ((a & 0x7FFFFF) >> 13)
    # float16 subnormal or zero: an integer number of 2**-24 (the product is exact)
    return s | np.int64(f32_from_bits(a) * np.float32(_TWO_24))


@scalar_jit
def f32_to_f64_bits(u):  # noqa: ANN001, ANN201
    """float64 bits of the float32 with bits ``u`` (exact; NaN sign and payload kept)."""
    u = np.int64(u) & 0xFFFFFFFF
    s = (u >> 31) << 63
    e = (u >> 23) & 0xFF
    m = u & 0x7FFFFF
    if e == 0xFF:
        return s | _INF64 | (m << 29)
    if e != 0:
        return s | ((e + 896) << 52) | (m << 29)
    # zero or subnormal: m * 2**-149, a normal float64 (the product is exact)
    return s | f64_bits(np.float64(m) * _TWO_M149)


@scalar_jit
def in_f32_bits(raw, kind):  # noqa: ANN001, ANN201
    """float32 bits of an input element of kind K_F32, K_F16 or K_BF16."""
    if kind == K_BF16:
        return (np.int64(raw) & 0xFFFF) << 16
    if kind == K_F16:
        return f16_to_f32_bits(np.int64(raw) & 0xFFFF)
    return np.int64(raw) & 0xFFFFFFFF


@scalar_jit
def in_f64_bits(raw, kind):  # noqa: ANN001, ANN201
    """float64 bits of an input element of any kind."""
    if kind == K_F64:
        return np.int64(raw)
    return f32_to_f64_bits(in_f32_bits(raw, kind))


@scalar_jit
def out_f32_bits(r, kind):  # noqa: ANN001, ANN201
    """The output element of kind K_F32/K_F16/K_BF16 for the float32 bits ``r``
    (a value of the output dtype: the conversion is exact)."""
    if kind == K_BF16:
        return np.int64(r) >> 16
    if kind == K_F16:
        return f32_to_f16_bits(r)
    return np.int64(r)


@scalar_jit
def value_f32_bits(v):  # noqa: ANN001, ANN201
    """float32 bits of the float64 ``v``, which is a float32 value, ±inf or NaN
    (NaN gives 0x7FC00000, what the CPU's float64 -> float32 store gives)."""
    if v != v:
        return np.int64(0x7FC00000)
    return np.int64(f32_bits(np.float32(v)))


@scalar_jit
def out_value(v, kind):  # noqa: ANN001, ANN201
    """The output element of any kind for the float64 value ``v``."""
    if kind == K_F64:
        return f64_bits(v)
    return out_f32_bits(value_f32_bits(v), kind)


@scalar_jit
def _q32(x, c, rnd, in_kind, out_kind, r_lo, gpu):  # noqa: ANN001, ANN201
    """The output element for the input element ``x`` on the fast path, in
    the GPU form with the normal-range branch (``gpu``) or the CPU's form.
    One compiled call, which is what the simulator pays per element."""
    return np.int64(out_f32_bits(quantize_f32_dev(in_f32_bits(x, in_kind), c, rnd, r_lo, gpu, gpu),
                                 out_kind))


def _q32_at_py(outr, j, n, x, c, rnd, in_kind, out_kind, r_lo, form):  # noqa: ANN001, ANN202
    """outr[j] = x cast in the GPU form ``form`` (fast32.BRANCH or FLOAT), if j < n."""
    if j < n:
        outr[np.uint64(j)] = _q32(x, c, rnd, in_kind, out_kind, r_lo, form)


# plain Python under the simulator, whose arrays a compiled function cannot take
_q32_at = _q32_at_py if SIMULATOR else scalar_jit(_q32_at_py)


@scalar_jit
def _f32_of(x, c, rnd, in_kind, r_lo, branch):  # noqa: ANN001, ANN201
    """(float32 bits of the fast path's result, the input's sign) of the input element ``x``."""
    u = in_f32_bits(x, in_kind)
    return quantize_f32_dev(u, c, rnd, r_lo, branch, branch), u >> 31


# plain Python under the simulator, whose arrays a compiled function cannot take
_code_of = code_of_f32_py if SIMULATOR else scalar_jit(code_of_f32_py)


def _e32_py(x, c, rnd, in_kind, r_lo, branch, table):  # noqa: ANN001, ANN202
    """The code of the input element ``x`` by the fast path and code_table."""
    r, neg = _f32_of(x, c, rnd, in_kind, r_lo, branch)
    return _code_of(r, neg, table)


_e32 = _e32_py if SIMULATOR else scalar_jit(_e32_py)


@scalar_jit
def _dec(code, p, out_kind, num_codes):  # noqa: ANN001, ANN201
    code = np.int64(code)
    if code >= num_codes:
        code = np.int64(-1)  # NaN; also catches uint64 codes >= 2**63
    return np.int64(out_value(decode_code(code, p), out_kind))


def load4_any_py(a, i, step, n):  # noqa: ANN001, ANN202
    """a[i], a[i+step], a[i+2*step], a[i+3*step] as int64 (0 past ``n``).

    The explicit int64 matters: a uint64 element and the literal 0 would
    unify to float64 in Numba's typing.  Indices are unsigned, which spares
    each access Numba's negative-index wraparound."""
    j, s = np.uint64(i), np.uint64(step)
    return (
        np.int64(a[j]) if i < n else np.int64(0),
        np.int64(a[j + s]) if i + step < n else np.int64(0),
        np.int64(a[j + np.uint64(2) * s]) if i + 2 * step < n else np.int64(0),
        np.int64(a[j + np.uint64(3) * s]) if i + 3 * step < n else np.int64(0),
    )


load4_any = load4_any_py if SIMULATOR else scalar_jit(load4_any_py)


@scalar_jit
def pick(k, a, b, c, d):  # noqa: ANN001, ANN201
    """The k-th of four values (a select, once the loop over k is unrolled)."""
    if k == 0:
        return np.int64(a)
    if k == 1:
        return np.int64(b)
    if k == 2:
        return np.int64(c)
    return np.int64(d)


_Z8 = (0, 0, 0, 0, 0, 0, 0, 0)


def _group_random_py(rmode, seed_lo, seed_hi, group, stream, wide, rbits, rb_wide, i0, n):  # noqa: ANN001, ANN202, E501
    """The (hi, lo) random words of the group starting at element ``i0``: none
    (rmode 0), Philox (1), or explicit words (2: uint32, or uint64 stored as
    (lo, hi) pairs of uint32 when ``rb_wide``)."""
    h0, l0, h1, l1, h2, l2, h3, l3 = _Z8
    if rmode == 1:
        h0, l0, h1, l1, h2, l2, h3, l3 = group_words(seed_lo, seed_hi, group, stream, wide)
    elif rmode == 2:
        if rb_wide == 0:
            l0, l1, l2, l3 = load4_any(rbits, i0, 1, n)
        else:
            l0, h0, l1, h1 = load4_any(rbits, 2 * i0, 1, 2 * n)
            l2, h2, l3, h3 = load4_any(rbits, 2 * i0 + 4, 1, 2 * n)
    return h0, l0, h1, l1, h2, l2, h3, l3


_group_random = _group_random_py if SIMULATOR else scalar_jit(_group_random_py)

# Each kernel loads the four elements of a group before its first store (the
# arrays may alias as far as the compiler knows, so it would not hoist the loads
# itself) and draws the group's random words with one call; the per-element work
# is one loop body, so each kernel holds one copy of the inlined cast.
# Stores stay in the kernel bodies (the CUDA simulator runs the bodies as Python,
# and its arrays cannot be passed to compiled helpers).


def _vec_group_py(xr, rbits, i, n, rmode, seed_lo, seed_hi, stream, offset):  # noqa: ANN001, ANN202, PLR0913
    """Whether the vector kernels' group at ``i`` is whole (``i + 4 <= n``),
    its four inputs (one vector load when whole; 0 past ``n``) and their
    random words (Philox, explicit, or none by ``rmode``)."""
    l0, l1, l2, l3 = np.int64(0), np.int64(0), np.int64(0), np.int64(0)
    if rmode == 1:  # one copy of Philox for both forms
        _h0, l0, _h1, l1, _h2, l2, _h3, l3 = group_words(seed_lo, seed_hi, (i + offset) // GROUP, stream, 0)
    whole = i + GROUP <= n
    if whole:
        x0, x1, x2, x3 = load4(xr, i)
        if rmode == 2:
            l0, l1, l2, l3 = load4(rbits, i)
    else:
        x0, x1, x2, x3 = load4_any(xr, i, 1, n)
        if rmode == 2:
            l0, l1, l2, l3 = load4_any(rbits, i, 1, n)
    return whole, x0, x1, x2, x3, l0, l1, l2, l3


_vec_group = _vec_group_py if SIMULATOR else scalar_jit(_vec_group_py)


@functools.cache
def quantize32_kernel(rnd: int, in_kind: int, out_kind: int, rmode: int, branch: int = True,
                      vec: bool = False) -> Any:
    """The float32 fast path (fast32.quantize_f32_bits) for one rounding mode,
    input kind (K_F32, K_F16, K_BF16), output kind and random-bit source,
    compiled on first use.

    These four are compile-time constants of the kernel (unlike the format,
    which is runtime data): each kernel then holds only its own rule, as the
    CPU fast path does with ``numba.literally``, which saves a quarter of the
    instructions per element on the GPU, where this kernel is bound by
    integer arithmetic rather than memory.  So is ``branch``, the GPU form
    of the cast (:func:`.fast32.gpu_form`: FREE, BRANCH or FLOAT), and ``vec``: each thread's
    four elements are consecutive and move by one vector load and store
    (:mod:`.vector_io`), for arrays whose data pointers :func:`.vector_io.aligned4`
    allows.  Arguments: ``(xr, outr, c, seed_lo, seed_hi, stream, offset,
    rbits)``; ``offset`` is a multiple of 4.
    """
    if rnd not in range(7) or rmode not in range(3):
        raise ValueError(f"rnd={rnd} / rmode={rmode} out of range")
    if in_kind not in (K_F32, K_F16, K_BF16) or out_kind not in (K_F32, K_F16, K_BF16):
        raise ValueError(f"in_kind={in_kind} / out_kind={out_kind}: float32, float16 or bfloat16")
    check_form(rnd, branch)

    def quantize32(xr, outr, c, seed_lo, seed_hi, stream, offset, rbits):  # noqa: ANN001, ANN202
        # A block takes GROUP * blockDim consecutive elements a step; thread t
        # handles elements t, t + T, t + 2T, t + 3T of them, so that every load
        # and store of a warp is one contiguous run.  Philox words come in
        # groups of four consecutive elements: thread t draws group t's and
        # the block trades them through shared memory.
        words = cuda.shared.array(_SHARED_WORDS, np.uint32)
        n = xr.size
        t = cuda.threadIdx.x
        T = np.int64(cuda.blockDim.x)
        span = T * GROUP
        for base in range(np.int64(cuda.blockIdx.x) * span, n, np.int64(cuda.gridDim.x) * span):
            i = base + t
            x0, x1, x2, x3 = load4_any(xr, i, T, n)
            l0, l1, l2, l3 = np.int64(0), np.int64(0), np.int64(0), np.int64(0)
            if rmode == 1:
                _h0, w0, _h1, w1, _h2, w2, _h3, w3 = group_words(
                    seed_lo, seed_hi, (base + offset) // GROUP + t, stream, 0)
                cuda.syncthreads()  # the previous step's reads are done
                words[GROUP * t] = w0
                words[GROUP * t + 1] = w1
                words[GROUP * t + 2] = w2
                words[GROUP * t + 3] = w3
                cuda.syncthreads()
                l0, l1, l2, l3 = words[t], words[t + T], words[t + 2 * T], words[t + 3 * T]
            elif rmode == 2:
                l0, l1, l2, l3 = load4_any(rbits, i, T, n)
            if branch:
                # the GPU form of the cast (BRANCH or FLOAT), written out: as a
                # loop, NVVM left the SR kernel's body rolled (e4m3 SR 267
                # against 232 us)
                _q32_at(outr, i, n, x0, c, rnd, in_kind, out_kind, l0, branch)
                _q32_at(outr, i + T, n, x1, c, rnd, in_kind, out_kind, l1, branch)
                _q32_at(outr, i + 2 * T, n, x2, c, rnd, in_kind, out_kind, l2, branch)
                _q32_at(outr, i + 3 * T, n, x3, c, rnd, in_kind, out_kind, l3, branch)
            else:
                # FREE (narrow formats off the float route: round-to-odd,
                # sr_bits) keeps the CPU's form in a loop, which ran faster
                # for them written out (e2m1 nearest-even 242 against 260 us;
                # SR 333 against 362)
                for k in range(GROUP):
                    j = i + k * T
                    if j < n:
                        outr[np.uint64(j)] = _q32(pick(k, x0, x1, x2, x3), c, rnd, in_kind, out_kind,
                                                  pick(k, l0, l1, l2, l3), False)

    def quantize32v(xr, outr, c, seed_lo, seed_hi, stream, offset, rbits):  # noqa: ANN001, ANN202
        # Thread t takes elements i .. i+3, i = base + 4t, with one vector
        # load and store each (vector_io: the arrays are aligned to four
        # elements); those four are one Philox group, so no words are traded.
        n = xr.size
        t = np.int64(cuda.threadIdx.x)
        span = np.int64(cuda.blockDim.x) * GROUP
        for base in range(np.int64(cuda.blockIdx.x) * span, n, np.int64(cuda.gridDim.x) * span):
            i = base + GROUP * t
            if i < n:
                whole, x0, x1, x2, x3, l0, l1, l2, l3 = _vec_group(xr, rbits, i, n, rmode, seed_lo, seed_hi,
                                                                   stream, offset)
                if whole:
                    store4(outr, i, _q32(x0, c, rnd, in_kind, out_kind, l0, branch),
                           _q32(x1, c, rnd, in_kind, out_kind, l1, branch),
                           _q32(x2, c, rnd, in_kind, out_kind, l2, branch),
                           _q32(x3, c, rnd, in_kind, out_kind, l3, branch))
                else:
                    # the last, partial group: a cast of its own (sharing the
                    # four above with this path measured 3% slower for e2m1)
                    for k in range(GROUP):
                        if i + k < n:
                            outr[np.uint64(i + k)] = _q32(pick(k, x0, x1, x2, x3), c, rnd, in_kind,
                                                          out_kind, pick(k, l0, l1, l2, l3), branch)

    fn = quantize32v if vec else quantize32
    fn.__name__ = f"quantize32_r{rnd}_i{in_kind}_o{out_kind}_m{rmode}" + FORM_TAG[int(branch)] + (
        "_v" if vec else "")
    fn.__qualname__ = fn.__name__
    # cached on disk like the other kernels: a first call in a new process
    # compiled for about 40 s on the H100 host
    return cuda.jit(cache=True)(fn)


@functools.cache
def encode32_kernel(rnd: int, in_kind: int, rmode: int, branch: int = True) -> Any:
    """``encode`` by the float32 fast path: quantize32_kernel's vector form
    (arrays aligned to four elements), whose float32 result becomes a code by
    :mod:`.code_table` (one table read).  The general encode_kernel's float64
    routine ran e4m3 at 0.23 of the copy bandwidth on an H100.  Arguments:
    ``(xr, codes, c, seed_lo, seed_hi, stream, offset, rbits, table)``;
    ``codes`` uint8 or uint16."""
    if rnd not in range(7) or rmode not in range(3) or in_kind not in (K_F32, K_F16, K_BF16):
        raise ValueError(f"rnd={rnd} / rmode={rmode} / in_kind={in_kind} out of range")
    check_form(rnd, branch)

    def encode32(xr, codes, c, seed_lo, seed_hi, stream, offset, rbits, table):  # noqa: ANN001, ANN202
        n = xr.size
        t = np.int64(cuda.threadIdx.x)
        span = np.int64(cuda.blockDim.x) * GROUP
        for base in range(np.int64(cuda.blockIdx.x) * span, n, np.int64(cuda.gridDim.x) * span):
            i = base + GROUP * t
            if i < n:
                whole, x0, x1, x2, x3, l0, l1, l2, l3 = _vec_group(xr, rbits, i, n, rmode, seed_lo, seed_hi,
                                                                   stream, offset)
                if whole:
                    store4(codes, i, _e32(x0, c, rnd, in_kind, l0, branch, table),
                           _e32(x1, c, rnd, in_kind, l1, branch, table),
                           _e32(x2, c, rnd, in_kind, l2, branch, table),
                           _e32(x3, c, rnd, in_kind, l3, branch, table))
                else:
                    for k in range(GROUP):
                        if i + k < n:
                            codes[np.uint64(i + k)] = _e32(pick(k, x0, x1, x2, x3), c, rnd, in_kind,
                                                           pick(k, l0, l1, l2, l3), branch, table)

    encode32.__name__ = f"encode32_r{rnd}_i{in_kind}_m{rmode}" + FORM_TAG[int(branch)]
    encode32.__qualname__ = encode32.__name__
    return cuda.jit(cache=True)(encode32)


@cuda.jit(cache=True)
def quantize_kernel(xr, outr, p, in_kind, out_kind, rmode, seed_lo, seed_hi, stream, offset, rbits, rb_wide):  # noqa: ANN001, ANN201, E501
    """General path: any input kind, rounded once from its exact value
    (scalar.encode_bits), the code's value (scalar.decode_code) stored as any
    output kind."""
    n = xr.size
    goff = offset // GROUP
    start = np.int64(cuda.blockIdx.x) * cuda.blockDim.x + cuda.threadIdx.x
    step = np.int64(cuda.gridDim.x) * cuda.blockDim.x
    for g in range(start, (n + (GROUP - 1)) // GROUP, step):
        i0 = g * GROUP
        x0, x1, x2, x3 = load4_any(xr, i0, 1, n)
        h0, l0, h1, l1, h2, l2, h3, l3 = _group_random(
            rmode, seed_lo, seed_hi, g + goff, stream, p[P_WIDE_RANDOM], rbits, rb_wide, i0, n)
        lim = np.int32(min(n - i0, GROUP))
        for k in range(GROUP):
            if k < lim:
                x = pick(k, x0, x1, x2, x3)
                h, lo = pick(k, h0, h1, h2, h3), pick(k, l0, l1, l2, l3)
                code = encode_bits(in_f64_bits(x, in_kind), p, h, lo)
                outr[np.uint64(i0 + k)] = np.int64(out_value(decode_code(code, p), out_kind))


@cuda.jit(cache=True)
def encode_kernel(xr, codes, p, in_kind, rmode, seed_lo, seed_hi, stream, offset, rbits, rb_wide):  # noqa: ANN001, ANN201, E501
    """Codes of any input kind (scalar.encode_bits); NaN into a format without
    NaN gives NO_CODE, stored as all ones."""
    n = xr.size
    goff = offset // GROUP
    start = np.int64(cuda.blockIdx.x) * cuda.blockDim.x + cuda.threadIdx.x
    step = np.int64(cuda.gridDim.x) * cuda.blockDim.x
    for g in range(start, (n + (GROUP - 1)) // GROUP, step):
        i0 = g * GROUP
        x0, x1, x2, x3 = load4_any(xr, i0, 1, n)
        h0, l0, h1, l1, h2, l2, h3, l3 = _group_random(
            rmode, seed_lo, seed_hi, g + goff, stream, p[P_WIDE_RANDOM], rbits, rb_wide, i0, n)
        lim = np.int32(min(n - i0, GROUP))
        for k in range(GROUP):
            if k < lim:
                x = pick(k, x0, x1, x2, x3)
                h, lo = pick(k, h0, h1, h2, h3), pick(k, l0, l1, l2, l3)
                codes[np.uint64(i0 + k)] = np.int64(encode_bits(in_f64_bits(x, in_kind), p, h, lo))


@cuda.jit(cache=True)
def decode_kernel(codes, outr, p, out_kind, num_codes):  # noqa: ANN001, ANN201
    """Values of codes (scalar.decode_code); a code outside 0..num_codes-1
    decodes to NaN (the GPU path does not range-check codes up front)."""
    n = codes.size
    start = np.int64(cuda.blockIdx.x) * cuda.blockDim.x + cuda.threadIdx.x
    step = np.int64(cuda.gridDim.x) * cuda.blockDim.x
    for g in range(start, (n + (GROUP - 1)) // GROUP, step):
        i0 = g * GROUP
        c0, c1, c2, c3 = load4_any(codes, i0, 1, n)
        lim = np.int32(min(n - i0, GROUP))
        for k in range(GROUP):
            if k < lim:
                outr[np.uint64(i0 + k)] = np.int64(_dec(pick(k, c0, c1, c2, c3), p, out_kind, num_codes))


#: Formats of at most this many codes decode through a table (decode_lut_kernel).
LUT_CODES = 256


@functools.cache
def decode_lut_kernel(vec: bool) -> Any:
    """Decode by table: ``outr[i] = lut[codes[i]]``, where ``lut`` holds the
    output bits of codes 0..LUT_CODES-1 (NaN past the format's codes) and one
    more entry, the NaN that codes outside 0..LUT_CODES-1 take.

    The general decode_kernel runs scalar.decode_code per element; a table
    of 257 words stays in L1 (with gpu.plans' per-call path, 2**26 e4m3
    codes into float32 took 126 us on an H100, 0.9 of the 5-byte floor).
    The host builds it from the CPU decode, so the two paths agree by
    construction.  ``vec``
    (uint8 codes aligned to 4 bytes, 16- or 32-bit output aligned to four
    elements, :func:`.vector_io.aligned4`) moves a thread's four elements by
    one vector load and one store.  Arguments: ``(codes, outr, lut)``.
    """

    def decode_lut(codes, outr, lut):  # noqa: ANN001, ANN202
        n = codes.size
        t = np.int64(cuda.threadIdx.x)
        span = np.int64(cuda.blockDim.x) * GROUP
        for base in range(np.int64(cuda.blockIdx.x) * span, n, np.int64(cuda.gridDim.x) * span):
            i = base + GROUP * t
            if vec and i + GROUP <= n:
                c0, c1, c2, c3 = load4(codes, i)  # uint8: always inside the table
                store4(outr, i, lut[np.uint64(c0)], lut[np.uint64(c1)], lut[np.uint64(c2)],
                       lut[np.uint64(c3)])
            elif i < n:
                c0, c1, c2, c3 = load4_any(codes, i, 1, n)
                for k in range(GROUP):
                    if i + k < n:
                        c = pick(k, c0, c1, c2, c3)  # uint64 codes >= 2**63 come out negative
                        outr[np.uint64(i + k)] = lut[np.uint64(c if 0 <= c < LUT_CODES else LUT_CODES)]

    decode_lut.__name__ = decode_lut.__qualname__ = "decode_lut" + ("_v" if vec else "")
    return cuda.jit(cache=True)(decode_lut)


# ---- launching -----------------------------------------------------------------------


def launch(kernel: Any, n: int, stream: Any, *args: Any) -> None:
    """Launch ``kernel`` over ``n`` elements (groups of four) on ``stream``
    (the element-wise grid of :func:`.launch.settings`)."""
    launch_items(kernel, -(-n // GROUP), stream, settings().elementwise, *args)


def ptx_signatures() -> list[tuple[str, Any, tuple]]:
    """(label, Python function, argument types) for the PTX build test.

    Covers every kernel this module makes: the fast path in each rounding
    mode and with each random-bit source, every input and output kind; the
    general kernels with every array dtype the launcher passes on each of
    their arrays (inputs as int64/uint32/uint16 bit views, codes as
    uint8..uint64, random words as uint32).  Not the full cross product: the
    dtype of one array does not change the code generated for another.
    """
    from numba import types as t

    i64 = t.int64
    ptup = t.UniTuple(t.int64, 21)
    ctup = t.Tuple((t.int64,) * 16 + (t.float64,))
    rb = t.uint32[::1]
    rand = (i64, i64, i64, i64, i64, rb, i64)  # rmode, seed_lo, seed_hi, stream, offset, rbits, rb_wide
    u8, u16, u32, u64, s64 = t.uint8[::1], t.uint16[::1], t.uint32[::1], t.uint64[::1], t.int64[::1]
    q32 = [(r, K_F32, K_F32, 1 if r == 6 else 0, u32, u32, True) for r in range(7)] + [
        (6, K_F32, K_F32, 2, u32, u32, True),
        (0, K_BF16, K_BF16, 0, u16, u16, True),
        (0, K_F16, K_F32, 0, u16, u32, True),
        (0, K_F32, K_F16, 0, u32, u16, True),
        (0, K_F32, K_F32, 0, u32, u32, False),  # without the normal-range branch (fast32.gpu_branch)
        (6, K_F32, K_F32, 1, u32, u32, False),
        # the float route (fast32.gpu_form): each of its roundings (RTZ and
        # RUP use the trunc and ceil that RDN does)
        (0, K_F32, K_F32, 0, u32, u32, FLOAT),
        (1, K_F32, K_F32, 0, u32, u32, FLOAT),
        (4, K_F32, K_F32, 0, u32, u32, FLOAT),
        (6, K_F32, K_F32, 1, u32, u32, FLOAT),
        (6, K_BF16, K_BF16, 2, u16, u16, FLOAT),
    ]
    sigs: list[tuple[str, Any, tuple]] = []
    for rnd, ik, ok, rmode, xin, out, branch in q32:
        # the vector form (aligned arrays) always; the scalar form in the
        # modes whose code differs most (nearest-even, SR)
        for vec in (True, False) if rnd in (0, 6) else (True,):
            fn = quantize32_kernel(rnd, ik, ok, rmode, branch, vec).py_func
            sigs.append((fn.__name__, fn, (xin, out, ctup, i64, i64, i64, i64, rb)))
    quantize = [(s64, u16), (u32, s64), (u16, u32)]
    encode = [(u32, u8), (s64, u64), (u32, u16), (u16, u32)]
    gen = [
        ("quantize", quantize_kernel, quantize, (ptup, i64, i64, *rand)),
        ("encode", encode_kernel, encode, (ptup, i64, *rand)),
        ("decode", decode_kernel, [(u8, u32), (u16, u16), (u32, s64), (u64, u32)], (ptup, i64, i64)),
    ]
    for name, kern, arrays, rest in gen:
        for a, b in arrays:
            sigs.append((f"{name}_{a.dtype}_{b.dtype}", kern.py_func, (a, b, *rest)))
    # encode by the fast path: uint8 and uint16 codes, SR from both sources
    for rnd, ik, rmode, xin, out, branch in ((0, K_F32, 0, u32, u8, True), (6, K_F32, 1, u32, u8, False),
                                             (6, K_F32, 1, u32, u8, FLOAT),
                                             (6, K_BF16, 2, u16, u16, True), (2, K_F16, 0, u16, u8, True)):
        fn = encode32_kernel(rnd, ik, rmode, branch).py_func
        sigs.append((fn.__name__, fn, (xin, out, ctup, i64, i64, i64, i64, rb, u32)))
    # the table decode: vector form on uint8 codes into 32- and 16-bit
    # outputs; the scalar form on any code dtype, into any output
    for vec, arrays in ((True, [(u8, u32), (u8, u16)]), (False, [(u8, u64), (u16, u32), (s64, u16), (u64, u32)])):
        fn = decode_lut_kernel(vec).py_func
        for a, b in arrays:
            sigs.append((f"{fn.__name__}_{a.dtype}_{b.dtype}", fn, (a, b, b)))
    return sigs
