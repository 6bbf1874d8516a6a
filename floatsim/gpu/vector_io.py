"""Four consecutive array elements in one load or store (CUDA vector access).

A thread that loads ``a[i], a[i+1], a[i+2], a[i+3]`` with four scalar
accesses issues four instructions, each with its own 64-bit address and
bounds predicate.  ``load4`` and ``store4`` emit one ``ld.global.v4`` /
``st.global.v4`` instead (16 bytes for 32-bit elements, 8 for 16-bit ones, 4 for bytes),
which LLVM does not form on its own from Numba's array accesses: it cannot
prove the alignment.  The caller proves it: ``i`` must be a multiple of 4
and the array's data pointer aligned to 4 elements (:func:`aligned4`); a
misaligned vector access faults on the GPU.

Under the CUDA simulator (whose kernels run as Python) the same names are
plain Python functions.

Example (no GPU needed: the plain form, as the simulator runs it):
    >>> import numpy as np
    >>> from floatsim.gpu.vector_io import load4_py, store4_py
    >>> a = np.arange(8, dtype=np.uint32)
    >>> load4_py(a, 4)
    (4, 5, 6, 7)
    >>> store4_py(a, 0, 9, 9, 9, 9); a[:5].tolist()
    [9, 9, 9, 9, 4]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import config, types

__all__ = ["aligned4", "alignment", "load4", "store4", "load4_py", "store4_py"]


def alignment(itemsize: int) -> int:
    """The bytes a data pointer must be a multiple of for ``load4``/``store4``
    on elements of ``itemsize`` bytes: four elements."""
    return 4 * itemsize


def aligned4(*arrays: Any) -> bool:
    """Whether ``load4``/``store4`` may take these Numba device arrays (1-D,
    C-contiguous): each one's data pointer is aligned to four of its elements."""
    for a in arrays:
        # the simulator's arrays pass attributes on to their NumPy array
        ptr = a.ctypes.data if config.ENABLE_CUDASIM else a.device_ctypes_pointer.value
        if (ptr or 0) % alignment(a.dtype.itemsize):
            return False
    return True


def load4_py(a: Any, i: Any) -> tuple:
    """``a[i:i+4]`` as four int64 (the simulator's ``load4``)."""
    j = np.uint64(i)
    return tuple(int(a[j + np.uint64(k)]) for k in range(4))


def store4_py(a: Any, i: Any, v0: Any, v1: Any, v2: Any, v3: Any) -> None:
    """``a[i:i+4] = v0, v1, v2, v3`` (the simulator's ``store4``)."""
    j = np.uint64(i)
    for k, v in enumerate((v0, v1, v2, v3)):
        a[j + np.uint64(k)] = v


def _vector_ptr(context: Any, builder: Any, aty: Any, arr: Any, ity: Any, idx: Any) -> tuple:
    """The vector type of four of ``aty``'s elements and a pointer to element ``idx``, as one."""
    from llvmlite import ir

    ary = context.make_array(aty)(context, builder, arr)
    idx = context.cast(builder, idx, ity, types.intp)
    elem = context.get_data_type(aty.dtype)
    vty = ir.VectorType(elem, 4)
    ptr = builder.bitcast(builder.gep(ary.data, [idx]), vty.as_pointer())
    return vty, ptr, 4 * context.get_abi_sizeof(elem)


def _intrinsics() -> tuple[Any, Any]:
    from llvmlite import ir
    from numba.cuda.extending import intrinsic

    def check(arr: Any) -> None:
        if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.layout == "C"
                and isinstance(arr.dtype, types.Integer) and not arr.dtype.signed
                and arr.dtype.bitwidth in (8, 16, 32)):
            raise TypeError(f"load4/store4 take a 1-D C-contiguous uint8, uint16 or uint32 array, got {arr}")

    @intrinsic
    def load4(typingctx: Any, arr: Any, i: Any) -> Any:  # noqa: ARG001
        check(arr)
        sig = types.UniTuple(types.int64, 4)(arr, i)

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            vty, ptr, align = _vector_ptr(context, builder, sig.args[0], args[0], sig.args[1], args[1])
            v = builder.load(ptr, align=align)
            i64 = ir.IntType(64)
            vals = [builder.zext(builder.extract_element(v, ir.Constant(ir.IntType(32), k)), i64)
                    for k in range(4)]
            return context.make_tuple(builder, sig.return_type, vals)

        return sig, codegen

    @intrinsic
    def store4(typingctx: Any, arr: Any, i: Any, v0: Any, v1: Any, v2: Any, v3: Any) -> Any:  # noqa: ARG001
        check(arr)
        sig = types.void(arr, i, v0, v1, v2, v3)

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            vty, ptr, align = _vector_ptr(context, builder, sig.args[0], args[0], sig.args[1], args[1])
            et = sig.args[0].dtype
            v = ir.Constant(vty, ir.Undefined)
            for k in range(4):
                # the low bits of an integer value, as an array store would keep them
                e = context.cast(builder, args[2 + k], sig.args[2 + k], et)
                v = builder.insert_element(v, e, ir.Constant(ir.IntType(32), k))
            builder.store(v, ptr, align=align)
            return context.get_dummy_value()

        return sig, codegen

    return load4, store4


if config.ENABLE_CUDASIM:
    load4, store4 = load4_py, store4_py
else:
    load4, store4 = _intrinsics()
