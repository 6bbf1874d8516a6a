"""The models' kernel ABI: an AccumulatorSpec as runtime integer vectors.

Every field of a spec is runtime data of the compiled models (one int64
vector ``cfg`` and the core's ``make_params`` vector for each format), so
sweeping specs never recompiles.  The CPU models, the CPU GEMM and the CUDA
GEMM read the same vectors.

Example:
    >>> import floatsim.mac as mac
    >>> from floatsim.mac.abi import pack, C_GROUP, C_KEPT
    >>> cfg, *params = pack(mac.spec("hopper_fp8"))
    >>> int(cfg[C_GROUP]), int(cfg[C_KEPT]), len(params)
    (32, 13, 4)
    >>> cfg, *_ = pack(mac.spec("fp32"))            # no groups: one product a step, kept exactly
    >>> int(cfg[C_GROUP]), int(cfg[C_KEPT])
    (1, 52)
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..kernels.abi import make_params
from ..registry import format as _format
from ..rounding import Rounding
from .spec import AccumulatorSpec, FixedPoint

__all__ = ["pack", "N_CFG"] + [f"C_{n}" for n in (
    "GROUP", "KEPT", "ALIGN_RND", "ALIGN_ACC", "FIXED", "FIX_BITS", "FIX_FRAC", "FIX_WRAP",
    "ACC_RND", "SR_BITS", "KAHAN", "PROMOTE", "PROD", "SEED_LO", "SEED_HI", "STREAM", "SR")]

C_GROUP = 0  # products per step (1 without groups)
C_KEPT = 1  # bits kept below the group's largest exponent (52 without groups: exact)
C_ALIGN_RND = 2  # Rounding code of the alignment
C_ALIGN_ACC = 3  # 1: the accumulator is one of the group's terms
C_FIXED = 4  # 1: FixedPoint accumulator
C_FIX_BITS = 5
C_FIX_FRAC = 6
C_FIX_WRAP = 7
C_ACC_RND = 8  # Rounding code into the accumulator (fixed point; a float one reads its params)
C_SR_BITS = 9
C_KAHAN = 10
C_PROMOTE = 11  # products per promotion to FP32 (0: none)
C_PROD = 12  # 1: products rounded to the product format
C_SEED_LO = 13
C_SEED_HI = 14
C_STREAM = 15
C_SR = 16  # 1: the accumulator rounding draws Philox words
N_CFG = 17

#: Without groups a product is its own group, kept exactly: its 53-bit
#: significand sits on the grid 2**(E - 52) of its own exponent E.
EXACT_KEPT = 52


@lru_cache(maxsize=256)
def pack(spec: AccumulatorSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(cfg, product params, accumulator params, output params, FP32 params)``
    for ``spec``; read-only int64 vectors, memoised."""
    cfg = np.zeros(N_CFG, dtype=np.int64)
    f32 = _format("float32")
    if spec.group is None:
        cfg[C_GROUP], cfg[C_KEPT] = 1, EXACT_KEPT
        cfg[C_ALIGN_RND] = Rounding.TOWARD_ZERO.value  # never rounds: the grid is exact
    else:
        assert spec.kept_bits is not None
        cfg[C_GROUP], cfg[C_KEPT] = spec.group, spec.kept_bits
        cfg[C_ALIGN_RND] = spec.align_rounding.value
    cfg[C_ALIGN_ACC] = spec.align_accumulator
    cfg[C_ACC_RND] = spec.acc_rounding.value
    cfg[C_SR_BITS] = spec.sr_bits or 0
    cfg[C_SR] = spec.acc_rounding is Rounding.STOCHASTIC
    cfg[C_KAHAN] = spec.kahan
    cfg[C_PROMOTE] = spec.promote_every or 0
    cfg[C_PROD] = spec.product is not None
    cfg[C_SEED_LO], cfg[C_SEED_HI] = spec.seed & 0xFFFFFFFF, spec.seed >> 32
    cfg[C_STREAM] = spec.stream
    acc = spec.accumulator
    if isinstance(acc, FixedPoint):
        cfg[C_FIXED], cfg[C_FIX_BITS], cfg[C_FIX_FRAC] = 1, acc.bits, acc.frac_bits
        cfg[C_FIX_WRAP] = acc.overflow == "wrap"
        pa = make_params(f32)  # unused
    else:
        pa = make_params(acc, spec.acc_rounding, sr_bits=spec.sr_bits or 0)
    pp = make_params(spec.product or f32, spec.product_rounding)
    po = make_params(spec.output, spec.output_rounding)
    pf = make_params(f32, Rounding.NEAREST_EVEN)
    cfg.flags.writeable = False
    return cfg, pp, pa, po, pf
