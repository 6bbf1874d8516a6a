"""The one decorator for scalar routines shared by the CPU and CUDA kernels,
and the bit casts those routines use.

A routine decorated here is an ordinary ``numba.njit`` function: the CPU
kernels call it directly, and ``numba.cuda`` inlines the same function into
its kernels (numba-cuda inlines ``njit(inline="always")`` callees at the
Numba-IR level), so the algorithm exists once.

Bit casts (reinterpreting a float's bits as an integer and back) are
intrinsics here rather than ``np.float64(x).view(np.int64)``: numba-cuda
lowers ``.view`` through a separate device function, which it compiles for
the *current* GPU, so a kernel that used it could not be compiled to PTX on
a machine without one (CI).  The intrinsics emit one LLVM ``bitcast``, on
either target; the CPU machine code is the same as with ``.view``.

``mul_wide_u32`` is the 32x32->64-bit product Philox rounds on.  LLVM keeps
Numba's 64-bit masked words 64 bits wide, so a plain product becomes a
64-bit multiply, which costs the GPU an extra add a round for the (zero)
high cross term; on the GPU the intrinsic is one ``mul.wide.u32``.

Example:
    >>> from floatsim.kernels._jit import f64_bits, f64_from_bits, f32_bits, f32_from_bits
    >>> hex(f64_bits(1.0)), f64_from_bits(0x4000000000000000)
    ('0x3ff0000000000000', 2.0)
    >>> hex(f32_bits(-2.0)), f32_from_bits(0x3F800000)
    ('0xc0000000', 1.0)
    >>> hex(mul_wide_u32(0xFFFFFFFF, 0x1FFFFFFFF))  # the low 32 bits of each factor
    '0xfffffffe00000001'
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

#: njit with on-disk caching; no fastmath (it would break exactness).
scalar_jit = numba.njit(cache=True, nogil=True, inline="always")


def _bitcast_intrinsic(src: types.Type, dst: types.Type):  # noqa: ANN202
    @intrinsic
    def cast(typingctx, x):  # noqa: ANN001, ANN202, ARG001
        def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
            return builder.bitcast(args[0], context.get_value_type(dst))

        return dst(src), codegen

    return cast


_f64_as_i64 = _bitcast_intrinsic(types.float64, types.int64)
_i64_as_f64 = _bitcast_intrinsic(types.int64, types.float64)
_f32_as_u32 = _bitcast_intrinsic(types.float32, types.uint32)
_u32_as_f32 = _bitcast_intrinsic(types.uint32, types.float32)


@scalar_jit
def f64_bits(x):  # noqa: ANN001, ANN201
    """The bit pattern of ``float64(x)`` as an int64."""
    return _f64_as_i64(np.float64(x))


@scalar_jit
def f64_from_bits(u):  # noqa: ANN001, ANN201
    """The float64 whose bit pattern is the int64 ``u``."""
    return _i64_as_f64(np.int64(u))


@scalar_jit
def f32_bits(x):  # noqa: ANN001, ANN201
    """The bit pattern of ``float32(x)`` as a uint32."""
    return _f32_as_u32(np.float32(x))


@scalar_jit
def f32_from_bits(u):  # noqa: ANN001, ANN201
    """The float32 whose bit pattern is the low 32 bits of ``u``."""
    return _u32_as_f32(np.uint32(u))


@intrinsic
def _mul_wide(typingctx, a, b):  # noqa: ANN001, ANN202, ARG001
    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        i32, i64 = ir.IntType(32), ir.IntType(64)
        lo = [builder.trunc(v, i32) for v in args]
        if type(context).__name__ == "CUDATargetContext":
            asm = ir.InlineAsm(ir.FunctionType(i64, [i32, i32]), "mul.wide.u32 $0, $1, $2; // mul_wide_u32", "=l,r,r")
            return builder.call(asm, lo)
        return builder.mul(builder.zext(lo[0], i64), builder.zext(lo[1], i64))

    return types.uint64(types.uint64, types.uint64), codegen


@scalar_jit
def mul_wide_u32(a, b):  # noqa: ANN001, ANN201
    """The 64-bit product of the low 32 bits of ``a`` and of ``b`` (a uint64)."""
    return _mul_wide(np.uint64(a), np.uint64(b))
