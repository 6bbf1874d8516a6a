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
    >>> from floatsim.kernels.intrinsics import f64_bits, f64_from_bits, f32_bits, f32_from_bits
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

from ..cache import install_cpu

install_cpu()  # before any kernel is decorated: floatsim's cache folder (floatsim/cache.py)

#: njit with on-disk caching; no fastmath (it would break exactness).
scalar_jit = numba.njit(cache=True, nogil=True, inline="always")


def is_gpu_target(context: object) -> bool:
    """Whether an intrinsic is being lowered for the GPU: ``context`` is a
    target context of numba-cuda (``numba.cuda.*``), not of the CPU
    (``numba.core.*``).  Told by the class's package rather than its name,
    so that a renamed class still counts; tests/test_cuda.py checks that
    numba-cuda's CUDA target context passes and the CPU's does not."""
    return type(context).__module__.startswith("numba.cuda.")


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
        if is_gpu_target(context):
            asm = ir.InlineAsm(ir.FunctionType(i64, [i32, i32]), "mul.wide.u32 $0, $1, $2; // mul_wide_u32", "=l,r,r")
            return builder.call(asm, lo)
        return builder.mul(builder.zext(lo[0], i64), builder.zext(lo[1], i64))

    return types.uint64(types.uint64, types.uint64), codegen


@scalar_jit
def mul_wide_u32(a, b):  # noqa: ANN001, ANN201
    """The 64-bit product of the low 32 bits of ``a`` and of ``b`` (a uint64)."""
    return _mul_wide(np.uint64(a), np.uint64(b))


# Rounding a float32 q, 0 <= q < 2**23, to an integer (a float32): on the GPU
# by adding 2**23 in the wanted rounding direction and subtracting it again
# (two FADDs on the FMA pipe, at full rate, where cvt.rni/rzi/rpi run on the
# quarter-rate conversion unit); on the CPU by LLVM's own intrinsics, which
# give the same integers on that range.
_MAGIC = "0f4B000000"  # 2**23


def _f32_op(ptx: str, out: str, cpu):  # noqa: ANN001, ANN202
    """An intrinsic of one float32 argument: the inline PTX ``ptx`` on the GPU
    (``out``: "f" for a float32 result, "r" for a uint32), ``cpu(builder,
    x)``'s LLVM IR on the CPU."""
    ret_ir, ret_ty = (ir.FloatType(), types.float32) if out == "f" else (ir.IntType(32), types.uint32)

    @intrinsic
    def op(typingctx, x):  # noqa: ANN001, ANN202, ARG001
        def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
            if is_gpu_target(context):
                asm = ir.InlineAsm(ir.FunctionType(ret_ir, [ir.FloatType()]), ptx, f"={out},f")
                return builder.call(asm, [args[0]])
            return cpu(builder, args[0])

        return ret_ty(types.float32), codegen

    return op


def _llvm(name: str, ty: ir.Type = ir.FloatType()):  # noqa: ANN202, B008
    """The CPU side: LLVM's intrinsic ``name`` on the argument."""
    return lambda builder, x: builder.call(builder.module.declare_intrinsic(name, [ty]), [x])


def _round_ptx(mode: str) -> str:
    return f"{{ .reg .f32 t; add.{mode}.f32 t, $1, {_MAGIC}; sub.rn.f32 $0, t, {_MAGIC}; }}"


def _rna_cpu(builder, x):  # noqa: ANN001, ANN202
    # in float64, where q + 0.5 is exact
    f64 = ir.DoubleType()
    half = builder.fadd(builder.fpext(x, f64), ir.Constant(f64, 0.5))
    return builder.fptrunc(_llvm("llvm.floor", f64)(builder, half), ir.FloatType())


_rint = _f32_op(_round_ptx("rn"), "f", _llvm("llvm.rint"))
_trunc = _f32_op(_round_ptx("rz"), "f", _llvm("llvm.trunc"))
_ceil = _f32_op(_round_ptx("rp"), "f", _llvm("llvm.ceil"))
# floor(q + 0.5): q + 0.5 rounded toward zero keeps its integer part (every
# integer below 2**24 is a float32), then the trunc above
_rna = _f32_op(f"{{ .reg .f32 t; add.rz.f32 t, $1, 0f3F000000; add.rz.f32 t, t, {_MAGIC}; "
               f"sub.rn.f32 $0, t, {_MAGIC}; }}", "f", _rna_cpu)
_ceil_u32 = _f32_op("cvt.rpi.u32.f32 $0, $1;", "r",
                    lambda builder, x: builder.fptoui(_llvm("llvm.ceil")(builder, x), ir.IntType(32)))


@intrinsic
def _mul_up(typingctx, a, b):  # noqa: ANN001, ANN202, ARG001
    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        f32, f64, i32 = ir.FloatType(), ir.DoubleType(), ir.IntType(32)
        if is_gpu_target(context):
            asm = ir.InlineAsm(ir.FunctionType(f32, [f32, f32]), "mul.rp.f32 $0, $1, $2;", "=f,f,f")
            return builder.call(asm, args)
        # the product is exact in float64; rounded to nearest into float32,
        # then one step up where that fell below it (non-negative operands)
        p = builder.fmul(builder.fpext(args[0], f64), builder.fpext(args[1], f64))
        near = builder.fptrunc(p, f32)
        up = builder.bitcast(builder.add(builder.bitcast(near, i32), ir.Constant(i32, 1)), f32)
        return builder.select(builder.fcmp_ordered("<", builder.fpext(near, f64), p), up, near)

    return types.float32(types.float32, types.float32), codegen


@scalar_jit
def f32_mul_up(a, b):  # noqa: ANN001, ANN201
    """``a * b`` (non-negative float32s) rounded up to a float32: exact where
    the product is a float32, and never 0 for nonzero factors however small
    the product (one FMUL.RP on the GPU).

    Example:
        >>> import numpy as np
        >>> float(f32_mul_up(3.0, 0.25)), float(f32_mul_up(2.0**-100, 2.0**-100)) == 2.0**-149
        (0.75, True)
    """
    return _mul_up(np.float32(a), np.float32(b))


@scalar_jit
def f32_rint(q):  # noqa: ANN001, ANN201
    """``q`` (float32, 0 <= q < 2**23) rounded to an integer, ties to even.

    Example:
        >>> [float(f32_rint(v)) for v in (2.5, 3.5, 1.25)]
        [2.0, 4.0, 1.0]
    """
    return _rint(np.float32(q))


@scalar_jit
def f32_trunc(q):  # noqa: ANN001, ANN201
    """``q`` (float32, 0 <= q < 2**23) rounded down to an integer."""
    return _trunc(np.float32(q))


@scalar_jit
def f32_ceil(q):  # noqa: ANN001, ANN201
    """``q`` (float32, 0 <= q < 2**23) rounded up to an integer."""
    return _ceil(np.float32(q))


@scalar_jit
def f32_rna(q):  # noqa: ANN001, ANN201
    """``q`` (float32, 0 <= q < 2**23) rounded to an integer, ties away from
    zero: floor(q + 0.5) of the exact sum, which a float32 ``q + 0.5`` is not
    (q = 0.5 - 2**-25 would sum to 1.0).

    Example:
        >>> [float(f32_rna(v)) for v in (2.5, 0.49999997, 1.25)]
        [3.0, 0.0, 1.0]
    """
    return _rna(np.float32(q))


@scalar_jit
def f32_ceil_u32(y):  # noqa: ANN001, ANN201
    """``y`` (float32, 0 <= y < 2**32) rounded up to an integer, as a uint32
    (one conversion instruction on the GPU).

    Example:
        >>> int(f32_ceil_u32(4294967040.0)), int(f32_ceil_u32(0.25))
        (4294967040, 1)
    """
    return _ceil_u32(np.float32(y))
