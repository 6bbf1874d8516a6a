"""The kernel ABI: every integer that crosses from Python into a kernel.

Format parameters are runtime data, not compile-time constants, so that a
sweep over many formats compiles each kernel once.  This module is the one
place where a rounding mode, an overflow policy, a scale rule, an element
kind or an array kind becomes an integer, and where the layout of each
parameter vector is declared; the CPU kernels (``floatsim.cpu``), the CUDA
kernels (``floatsim.gpu``) and the C++ header (``cuda/floatsim.cuh``) read
these codes.  The tables are checked against the enums when this module is
imported, so an enum member added without its code fails at once.

It imports numpy and the enums only (no numba), so the front doors can
validate a call without compiling anything.

Example:
    >>> import floatsim as fs
    >>> from floatsim.kernels.abi import ROUNDING_CODE, RULE_CODE, make_params, P_MAX_MAG
    >>> int(make_params(fs.format("e4m3"))[P_MAX_MAG])
    126
    >>> ROUNDING_CODE[fs.Rounding.STOCHASTIC], RULE_CODE[fs.blocks.ScaleRule.AMAX]
    (6, 5)
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..formats import Format, Overflow, Specials
from ..rounding import Rounding, ScaleRule

# ---- rounding modes --------------------------------------------------------------------
#: Kernel codes of the rounding modes.  Kernel tables indexed by mode
#: (``cpu.elementwise.F32_KERNELS``, ``cpu.blocks.MX_F32_KERNELS``) follow this order.
RNE, RNA, RTZ, RUP, RDN, ODD, SR = range(7)
ROUNDING_CODE: dict[Rounding, int] = {
    Rounding.NEAREST_EVEN: RNE,
    Rounding.NEAREST_AWAY: RNA,
    Rounding.TOWARD_ZERO: RTZ,
    Rounding.UP: RUP,
    Rounding.DOWN: RDN,
    Rounding.ODD: ODD,
    Rounding.STOCHASTIC: SR,
}

# ---- overflow policies -----------------------------------------------------------------
OVERFLOW_CODE: dict[Overflow, int] = {Overflow.SATURATE: 0, Overflow.INF: 1, Overflow.NAN: 2}

# ---- block scale rules, element kinds, scale overflow ------------------------------------
R_FLOOR, R_CEIL, R_EVEN, R_NEAREST, R_RCEIL, R_AMAX, R_4OVER6, R_MINMAX = range(8)
RULE_CODE: dict[ScaleRule, int] = {
    ScaleRule.FLOOR: R_FLOOR,
    ScaleRule.CEIL: R_CEIL,
    ScaleRule.EVEN: R_EVEN,
    ScaleRule.NEAREST: R_NEAREST,
    ScaleRule.RCEIL: R_RCEIL,
    ScaleRule.AMAX: R_AMAX,
    ScaleRule.FOUR_OVER_SIX: R_4OVER6,
    ScaleRule.MINMAX: R_MINMAX,
}
#: Element kinds: a float Format; a two's complement integer clamped to
#: [-QNEG, QPOS]; an unsigned integer with a zero point (asymmetric).
K_FLOAT, K_INT, K_ASYM = 0, 1, 2
#: Scale overflow policies (BlockFormat.scale_overflow).
SOV_SATURATE, SOV_NAN, SOV_RAISE = 0, 2, 3
SCALE_OVERFLOW_CODE: dict[str, int] = {"saturate": SOV_SATURATE, "nan": SOV_NAN,
                                       "raise": SOV_RAISE}
#: bp: the block kernels' int64 parameters.
(B_RULE, B_KIND, B_EMAX_E, B_MBITS_E, B_KMIN, B_KMAX, B_SOV, B_QNEG, B_QPOS, B_IM,
 B_IBITS, B_NANMAX, B_FAST_EMIN, B_SCALE_NAN_CODE) = range(14)
N_BP = 14
#: fp: the block kernels' float64 parameters.
F_MAX_E, F_POW2MAX_E, F_TSCALE, F_SCALE_MAX, F_QRANGE = range(5)
N_FP = 5
#: Status flags per block (written only where something happened).
ST_OK, ST_SCALE_OVERFLOW = 0, 1

# ---- raw array kinds (the GPU kernels' bit views) ----------------------------------------
#: Kind codes of the raw input/output views: float64 as int64, float32 as
#: uint32, float16 and bfloat16 as uint16.
K_F64, K_F32, K_F16, K_BF16 = 0, 1, 2, 3
KIND_CODE: dict[str, int] = {"float64": K_F64, "float32": K_F32, "float16": K_F16,
                             "bfloat16": K_BF16}

# ---- the element params vector ----------------------------------------------------------
P_MBITS = 0
P_MAG_BITS = 1
P_SIGNED = 2
P_BIAS = 3
P_EMIN = 4
P_EMAX = 5
P_SUBNORMALS = 6
P_HAS_ZERO = 7
P_MAX_MAG = 8
P_INF_MAG = 9
P_NAN_CODE = 10
P_NAN_SIGNED = 11
P_HAS_NEGZERO = 12
P_NAN_AT_NEGZERO = 13
P_HIGH_NAN_START = 14
P_OVERFLOW = 15
P_ROUNDING = 16
P_SR_BITS = 17
P_WIDE_RANDOM = 18
P_DAZ = 19
P_DAZ_EMIN = 20
N_PARAMS = 21

#: Widest magnitude the integer kernels handle (codes are int64).
MAX_KERNEL_MAG_BITS = 61


@lru_cache(maxsize=1024)
def make_params(
    fmt: Format,
    rounding: Rounding = Rounding.NEAREST_EVEN,
    *,
    overflow: Overflow | None = None,
    subnormals: bool | None = None,
    sr_bits: int = 0,
    wide_random: bool = False,
    daz_emin: int | None = None,
) -> np.ndarray:
    """Pack ``fmt`` and the call options into the kernels' int64 vector.

    ``daz_emin`` is the input dtype's smallest normal exponent when
    denormals-are-zero is on, else None.
    """
    mag_bits = fmt.mag_bits
    if mag_bits > MAX_KERNEL_MAG_BITS:
        raise ValueError(
            f"format {fmt} has {mag_bits} exponent+mantissa bits; the kernels handle at most "
            f"{MAX_KERNEL_MAG_BITS} (floatsim.reference rounds any format exactly)"
        )
    ov = fmt.overflow if overflow is None else fmt.check_overflow(overflow)
    p = np.zeros(N_PARAMS, dtype=np.int64)
    p[P_MBITS] = fmt.mbits
    p[P_MAG_BITS] = mag_bits
    p[P_SIGNED] = fmt.signed
    p[P_BIAS] = fmt.bias
    p[P_EMIN] = fmt.emin
    p[P_EMAX] = fmt.emax
    p[P_SUBNORMALS] = fmt.subnormals if subnormals is None else bool(subnormals)
    p[P_HAS_ZERO] = fmt.has_zero
    p[P_MAX_MAG] = fmt.max_mag_code
    p[P_INF_MAG] = fmt.inf_mag_code
    p[P_NAN_CODE] = fmt.nan_code
    p[P_NAN_SIGNED] = fmt.signed and fmt.specials in (Specials.IEEE, Specials.FN)
    p[P_HAS_NEGZERO] = fmt.has_negzero
    p[P_NAN_AT_NEGZERO] = fmt.nan_at_negzero
    p[P_HIGH_NAN_START] = fmt.top_mag_code - fmt.high_nans
    p[P_OVERFLOW] = OVERFLOW_CODE[ov]
    p[P_ROUNDING] = ROUNDING_CODE[rounding]
    p[P_SR_BITS] = sr_bits
    p[P_WIDE_RANDOM] = wide_random
    p[P_DAZ] = daz_emin is not None
    p[P_DAZ_EMIN] = daz_emin if daz_emin is not None else 0
    p.flags.writeable = False  # memoised: shared by every call with these arguments
    return p


def _check_tables() -> None:
    """Every enum member has a code; codes are 0..n-1 where kernels index
    tables by them; Rounding's own values are its codes (documented ABI)."""
    for table, enum_cls in ((ROUNDING_CODE, Rounding), (OVERFLOW_CODE, Overflow),
                            (RULE_CODE, ScaleRule)):
        missing = set(enum_cls) - set(table)
        if missing:  # pragma: no cover - a new member without its code
            raise ImportError(f"floatsim.kernels.abi has no kernel code for {sorted(m.name for m in missing)}")
    if sorted(ROUNDING_CODE.values()) != list(range(len(Rounding))) or sorted(
            RULE_CODE.values()) != list(range(len(ScaleRule))):  # pragma: no cover
        raise ImportError("floatsim.kernels.abi: mode and rule codes must be 0..n-1")
    if any(m.value != ROUNDING_CODE[m] for m in Rounding):  # pragma: no cover
        raise ImportError("floatsim.kernels.abi: Rounding's values must equal its kernel codes")


_check_tables()
