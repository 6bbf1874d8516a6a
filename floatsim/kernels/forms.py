"""Which fast path a call can take, and which form of the float32 fast path
a GPU kernel compiles for it.

:func:`.fast32.quantize_f32_bits` has three forms with the same results: the
CPU's branch-free integer sequence (FREE), the same with a branch for the
normal range (BRANCH), and the float route that rounds with float adds on the
FMA pipe (FLOAT).  The CPU kernels always take FREE (LLVM vectorises it); the
GPU kernels pick a form per format and mode here.  This lives with the
kernels rather than in ``floatsim.gpu`` because the block plan, which the
CPU kernels read too, bounds its fast range by the GPU's form (the same
parameters serve both backends); it imports no numba.

Example:
    >>> from floatsim import format, Rounding
    >>> gpu_form(format("e2m1"), Rounding.NEAREST_EVEN) == FLOAT
    True
"""

from __future__ import annotations

from functools import lru_cache

from ..formats import Format
from ..rounding import Rounding
from .abi import ODD

__all__ = ["fits_div32", "fits_fast32", "BRANCH", "BRANCH_MIN_BINADES", "FLOAT", "FORM_TAG", "FREE", "check_form",
           "fits_float_route", "float_route_min_emin", "gpu_branch", "gpu_form"]


@lru_cache(maxsize=1024)
def fits_fast32(fmt: Format) -> bool:
    """Whether the fast path applies: every value of ``fmt`` is a float32 value
    and its normal range starts no lower than float32's (below 2**-126 the
    spacing would depend on the leading bit of a float32 subnormal input)."""
    return fmt.mbits <= 23 and fmt.emax <= 127 and fmt.emin >= -126 and (
        fmt.emin - fmt.mbits >= -149)


def fits_div32(fmt: Format) -> bool:
    """Whether a quotient rounded to odd into float32 rounds into ``fmt`` (in
    every mode but SR) as the exact quotient would: the fast path applies and
    float32 holds two more bits than ``fmt`` everywhere (at most 21
    significand bits, steps no finer than 2**-147).  The block kernels divide
    by a scale that is not a power of two this way (NVFP4).

    Example:
        >>> from floatsim import format
        >>> fits_div32(format("e2m1")), fits_div32(format("bfloat16"))
        (True, True)
    """
    return fits_fast32(fmt) and fmt.mbits <= 21 and fmt.emin - fmt.mbits >= -147


#: Binades of normal range from which the CUDA kernels branch on it (below).
BRANCH_MIN_BINADES = 8


def gpu_branch(fmt: Format) -> bool:
    """Whether the CUDA kernels should call :func:`quantize_f32_bits` with
    ``branch=True`` for ``fmt``: yes when its normal range spans at least
    BRANCH_MIN_BINADES binades (e4m3, e5m2, bf16: most inputs fall in it, and
    a warp whose lanes all do skips the variable shift).  A narrow normal
    range (e2m1, e2m3, e3m2) leaves most warps with lanes on both sides, which
    then run both paths: the branch-free form was faster there (on an H100,
    e2m1 nearest-even 242 against 275 us, MXFP4 383 against 418 us, for 2**26
    elements).  The float route (:func:`gpu_form`), where it applies, goes
    before either form: the branch serves the modes and formats it leaves.

    Example:
        >>> from floatsim import format
        >>> gpu_branch(format("e4m3")), gpu_branch(format("e2m1"))
        (True, False)
    """
    return fmt.emax - fmt.emin >= BRANCH_MIN_BINADES


#: The GPU forms of the cast (``quantize_f32_bits``'s ``branch``): the CPU's
#: branch-free integer sequence, the normal-range branch, the float route.
FREE, BRANCH, FLOAT = 0, 1, 2
#: Kernel name suffix of each form (the disk cache tells kernels apart by name).
FORM_TAG = ("_nb", "", "_fl")


def fits_float_route(fmt: Format) -> bool:
    """Whether :func:`_float_route` is exact for ``fmt``: 1 <= M <= 21 (ties
    to even need the last kept bit in q's integer part; 21 leaves the
    rounding adds of 2**23 room), and both scale factors 2**(M - E) and
    2**(E - M), for E from emin up, are normal float32 powers of two: emin at
    least :func:`float_route_min_emin` (which also bounds M - E by 126).  The
    block kernels shift emin by each block's scale exponent and hold it to
    the same bound."""
    return fits_fast32(fmt) and 1 <= fmt.mbits <= 21 and fmt.emin >= float_route_min_emin(fmt)


def float_route_min_emin(fmt: Format) -> int:
    """The lowest emin (after a block's scale shifts it) for which the float
    route holds in ``fmt``'s element grid: emin - M >= -126."""
    return fmt.mbits - 126


def gpu_form(fmt: Format, rounding: Rounding, sr_bits: int = 0) -> int:
    """Which form of :func:`quantize_f32_bits` the CUDA kernels compile for
    ``fmt`` in ``rounding``: FLOAT wherever the float route applies (it fits
    ``fmt``, and the mode is neither round-to-odd nor SR with ``sr_bits``);
    else BRANCH where :func:`gpu_branch` says so; else FREE.

    The float route goes first for every format it fits, the wide ones too:
    on an H100 (2**26 float32, 2026-12-07) it tied the normal-range branch
    for nearest-even (e4m3 190.5 / 191.4 us, e5m2 and fp16 190.6 / 190.9)
    and beat it for SR (e4m3 192.9 / 199.4, e5m2 and fp16 193.0 / 196.9)
    and in the MX kernel (MXFP8 e4m3 211.2 / 230.5, SR 248.5 / 273.8; MXFP8
    e5m2 210.4 / 229.3); the two forms agreed on all 2**32 float32 inputs for
    e4m3, e5m2 and fp16 in the six modes.  bf16 (emin - M < -126) stays on
    the branch.

    Example:
        >>> from floatsim import format, Rounding
        >>> gpu_form(format("e4m3"), Rounding.STOCHASTIC), gpu_form(format("bf16"), Rounding.STOCHASTIC)
        (2, 1)
        >>> gpu_form(format("e4m3"), Rounding.ODD), gpu_form(format("e2m1"), Rounding.STOCHASTIC, sr_bits=8)
        (1, 0)
    """
    if fits_float_route(fmt) and rounding is not Rounding.ODD and not (
            rounding is Rounding.STOCHASTIC and sr_bits):
        return FLOAT
    if gpu_branch(fmt):
        return BRANCH
    return FREE


def check_form(rnd: int, form: int) -> None:
    """Refuse a kernel of the float route in round-to-odd, which it lacks
    (:func:`gpu_form` never picks it there)."""
    if int(form) == FLOAT and rnd == ODD:
        raise ValueError("the float route (fast32.FLOAT) has no round-to-odd; pick the form by gpu_form")

