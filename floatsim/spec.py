"""One validated element-wise cast call: :class:`CastSpec`.

The front doors (:func:`floatsim.quantize`, :func:`~floatsim.encode`,
:func:`floatsim.blocks.quantize`...) build one from their arguments; the CPU
and GPU backends read it.  It checks every argument once, in one place, with
the messages users see, and derives what the kernels take: the parameter
vector (:func:`floatsim.kernels.abi.make_params`), the random-bit source,
whether the float32 fast path applies and in which GPU form.  It imports no
backend and no numba, and compiles nothing.

Part of floatsim's internal API (shared by the backends and the adapters;
not re-exported at the top level).

Example:
    >>> import numpy as np
    >>> from floatsim.spec import CastSpec
    >>> s = CastSpec(np.zeros(4, np.float32), "e4m3", "sr", seed=7)
    >>> s.fmt.name, s.rounding.name, s.rmode, s.fast32(np.dtype(np.float32))
    ('float8_e4m3fn', 'STOCHASTIC', 1, True)
    >>> CastSpec(np.zeros(4), "e4m3", "rne", seed=7)
    Traceback (most recent call last):
    ...
    ValueError: seed=, random_bits= and sr_bits= apply to rounding='stochastic' only (rounding is 'nearest_even')
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .dtypes import float_array, float_format, is_bfloat16
from .formats import Format, Overflow
from .kernels.abi import make_params
from .kernels.forms import fits_fast32, gpu_form
from .registry import format as _format
from .rounding import Rounding

__all__ = ["NO_BITS", "CastSpec", "RMODE_EXPLICIT", "RMODE_NONE", "RMODE_SEED"]

#: Where a call's random bits come from (the kernels' ``rmode``).
RMODE_NONE, RMODE_SEED, RMODE_EXPLICIT = 0, 1, 2
#: The random-word array of calls that draw none.
NO_BITS = np.zeros(1, dtype=np.uint64)
NO_BITS.flags.writeable = False


def _check_int(value: Any, name: str, bound: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < bound:
        raise ValueError(f"{name}={value!r} must be an int in 0..{bound - 1}")
    return int(value)


class CastSpec:
    """Validated arguments of one quantize/encode call (see the module docstring).

    Attributes: ``x`` (the input as a numpy array; a zero-size stand-in of
    the dtype for device arrays), ``fmt``, ``rounding``, ``overflow`` (None:
    the format's own), ``subnormals``, ``daz``, ``rmode`` (0: no random bits,
    1: Philox from ``seed_lo``/``seed_hi`` and ``stream``, 2: ``rbits``),
    ``wide`` (64-bit random words), ``sr_bits`` (0: exact SR), ``params``.
    """

    def __init__(
        self,
        x: Any,
        fmt: Format | str,
        rounding: Rounding | str = "nearest_even",
        *,
        overflow: Overflow | str | None = None,
        subnormals: bool | None = None,
        daz: bool = False,
        seed: int | None = None,
        stream: int = 0,
        random_bits: Any = None,
        sr_bits: int | None = None,
    ) -> None:
        self.fmt = _format(fmt)
        self.x = float_array(x)
        self.rounding = Rounding.parse(rounding)
        ov = None if overflow is None else self.fmt.check_overflow(overflow)
        if subnormals is False and self.fmt.ebits == 0:
            raise ValueError(
                f"subnormals=False needs a format with ebits >= 1; {self.fmt.name or self.fmt} has "
                "ebits=0, so every nonzero value is subnormal (allowed: None or True)"
            )
        self.rmode, self.seed_lo, self.seed_hi, self.rbits = RMODE_NONE, 0, 0, NO_BITS
        wide = False
        if self.rounding is not Rounding.STOCHASTIC:
            if seed is not None or random_bits is not None or sr_bits is not None:
                raise ValueError(
                    "seed=, random_bits= and sr_bits= apply to rounding='stochastic' only "
                    f"(rounding is {self.rounding.name.lower()!r})"
                )
        else:
            if (seed is None) == (random_bits is None):
                raise ValueError(
                    "rounding='stochastic' needs exactly one of seed= (an int) or "
                    "random_bits= (an array of random integers, one per element)"
                )
            if sr_bits is not None and (isinstance(sr_bits, bool) or not (
                    isinstance(sr_bits, (int, np.integer)) and 1 <= sr_bits <= 32)):
                raise ValueError(f"sr_bits={sr_bits!r} is out of range; allowed: 1..32 or None")
            if seed is not None:
                s = _check_int(seed, "seed", 2**64)
                self.rmode = RMODE_SEED
                self.seed_lo, self.seed_hi = s & 0xFFFFFFFF, s >> 32
                # 64-bit words only where exact SR of a float64 needs them
                wide = self.x.dtype == np.float64 and sr_bits is None
            else:
                rb = np.asarray(random_bits)
                if rb.dtype not in (np.dtype(np.uint32), np.dtype(np.uint64)):
                    raise TypeError(
                        f"random_bits has dtype {rb.dtype}; allowed: uint32 (32-bit words) "
                        "or uint64 (64-bit words)"
                    )
                if rb.shape != self.x.shape:
                    raise ValueError(
                        f"random_bits has shape {rb.shape}; it needs x's shape {self.x.shape}"
                    )
                self.rmode = RMODE_EXPLICIT
                wide = rb.dtype == np.uint64
                self.rbits = np.ascontiguousarray(rb, dtype=np.uint64).reshape(-1)
        self.stream = _check_int(stream, "stream", 2**32)
        self.overflow, self.subnormals, self.daz, self.wide = ov, subnormals, daz, wide
        self.sr_bits = int(sr_bits or 0)
        daz_emin = float_format(self.x.dtype).emin if daz else None
        self.params = make_params(
            self.fmt,
            self.rounding,
            overflow=ov,
            subnormals=subnormals,
            sr_bits=self.sr_bits,
            wide_random=wide,
            daz_emin=daz_emin,
        )

    def flat_input(self) -> np.ndarray:
        """The input as a flat C-contiguous float32 or float64 array (float16
        and bfloat16 widened to float32, which is exact)."""
        x = self.x
        if x.dtype == np.float16 or is_bfloat16(x.dtype):
            x = x.astype(np.float32)
        return np.ascontiguousarray(x).reshape(-1)

    def fast32(self, out_dtype: np.dtype) -> bool:
        """Whether the float32 fast path computes this call (same results)."""
        return (
            out_dtype == np.float32
            and self.x.dtype != np.float64
            and not self.daz
            and not self.wide
            and fits_fast32(self.fmt)
        )

    def consts(self) -> tuple:
        """The float32 fast path's constants for this call (kernels.fast32.make_consts)."""
        from .kernels.fast32 import make_consts  # imports numba: at the first cast, not at import

        return make_consts(self.fmt, self.rounding, self.overflow, self.subnormals, self.sr_bits)

    def gpu_form(self, fmt: Format | None = None) -> int:
        """The CUDA kernels' form of the fast path for this call's rounding
        and sr_bits, in ``fmt`` (a block format's elements) or the call's
        format (:func:`floatsim.kernels.forms.gpu_form`)."""
        return gpu_form(self.fmt if fmt is None else fmt, self.rounding, self.sr_bits)
