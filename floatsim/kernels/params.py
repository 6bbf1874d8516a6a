"""Kernel parameters: a Format and the per-call options as one int64 vector.

Format parameters are runtime data, not compile-time constants, so that a
sweep over many formats compiles each kernel once.  The index constants below
are the ABI shared by the CPU and CUDA kernels.

Example:
    >>> import floatsim as fs
    >>> from floatsim.kernels.params import make_params, P_MAX_MAG
    >>> int(make_params(fs.format("e4m3"))[P_MAX_MAG])
    126
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..formats import Format, Overflow, Specials
from ..rounding import Rounding

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

OVERFLOW_CODE = {Overflow.SATURATE: 0, Overflow.INF: 1, Overflow.NAN: 2}

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
    mag_bits = fmt.ebits + fmt.mbits
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
    p[P_MAX_MAG] = fmt._max_mag_code
    p[P_INF_MAG] = fmt._inf_mag_code
    p[P_NAN_CODE] = fmt._nan_code
    p[P_NAN_SIGNED] = fmt.signed and fmt.specials in (Specials.IEEE, Specials.FN)
    p[P_HAS_NEGZERO] = fmt.has_negzero
    p[P_NAN_AT_NEGZERO] = fmt.nan_at_negzero
    p[P_HIGH_NAN_START] = fmt._top_mag_code - fmt._high_nans
    p[P_OVERFLOW] = OVERFLOW_CODE[ov]
    p[P_ROUNDING] = rounding.value
    p[P_SR_BITS] = sr_bits
    p[P_WIDE_RANDOM] = wide_random
    p[P_DAZ] = daz_emin is not None
    p[P_DAZ_EMIN] = daz_emin if daz_emin is not None else 0
    p.flags.writeable = False  # memoised: shared by every call with these arguments
    return p
