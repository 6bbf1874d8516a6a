"""The front door of pseudo-quantization noise: :func:`pseudo_quantize`,
:func:`spacing`, :func:`scale_exponent`, :func:`draw`, and the validated
per-setting plan the backends and adapters read (:func:`plan`).

Example:
    >>> import numpy as np
    >>> from floatsim.noise import pseudo_quantize, spacing
    >>> w = np.array([0.3, -1.1, 0.0, 20.0], np.float32)
    >>> spacing(w, "e3m2", scale="none").tolist()      # e3m2's steps at those values
    [0.0625, 0.25, 0.0625, 4.0]
    >>> y = pseudo_quantize(w, "e3m2", "uniform", seed=1, scale="none")
    >>> bool(np.all(np.abs(y - w) <= spacing(w, "e3m2", scale="none") / 2 + 2**-7 * np.abs(w)))
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np

from ..arrays import is_device_array
from ..dtypes import check_out_dtype, float_array, is_bfloat16, out_array
from ..formats import Format
from ..kernels.abi import RNE, ROUNDING_CODE
from ..kernels.fast32 import make_consts
from ..kernels.forms import fits_div32
from ..rounding import Rounding
from .config import PQTConfig
from .dist import Noise

__all__ = ["JMAX", "Plan", "anneal_thresholds", "draw", "plan", "pseudo_quantize", "resolve",
           "scale_exponent", "spacing"]

#: The most extra bits of precision annealing gives an element (kernels.noise.JMAX).
JMAX = 8
#: The smallest noise step is kept at or above 2**-100 (see :class:`Plan`).
_STEP_FLOOR = -100


@dataclass(frozen=True)
class Plan:
    """What the kernels take for one :class:`PQTConfig` (validated once, cached).

    ``kmin``/``kmax`` bound the scale exponent: the smallest noise step,
    ``2**(emin - mbits - f - 8 + kmin)``, stays at or above ``2**-100``, so
    every sum the kernels form is exact in float64 and, in the JAX adapter,
    in float32 arithmetic without subnormals; and ``max * 2**kmax`` stays
    inside float32.
    """

    config: PQTConfig
    q: tuple[int, ...]
    g: int
    tab: np.ndarray
    consts: tuple
    rnd: int
    draw_sr: bool
    kmin: int
    kmax: int

    @property
    def target(self) -> Format:
        return self.config.format


@lru_cache(maxsize=256)
def plan(config: PQTConfig) -> Plan:
    """The validated :class:`Plan` of a configuration (see :class:`Plan`)."""
    from ..kernels.noise import N_Q  # light: no compile

    t, s, n = config.format, config.storage, config.noise
    if not t.signed or not t.has_zero:
        raise ValueError(f"format={t}: pseudo-quantization needs a signed format with zero")
    if t.mbits > 23:
        raise ValueError(f"format={t} has {t.mbits} mantissa bits; at most 23")
    if not fits_div32(s):
        raise ValueError(
            f"storage={s}: the noisy value is cast once into a format of at most 22 significant "
            "bits inside float32's range (bfloat16, float16, tf32, the FP8/FP6/FP4 formats)")
    if s.mbits < t.mbits or s.emax < t.emax or s.emin - s.mbits > t.emin - t.mbits:
        raise ValueError(f"storage={s} cannot hold every value of format={t}; pick a wider storage")
    if n.kind == "r" and n.bits - 1 > s.mbits + 1:
        raise ValueError(
            f"noise r{n.bits}: its values have {n.bits - 1} significant bits, more than "
            f"storage={s} holds ({s.mbits + 1}); at most r{s.mbits + 2} is FP-friendly there")
    f = n.frac_bits
    kmin = _STEP_FLOOR - (t.emin - t.mbits - f - JMAX)
    kmax = min(100, 126 - t.emax)
    if kmin > 0:
        raise ValueError(
            f"format={t} with noise {n.name}: the finest noise step 2^{t.emin - t.mbits - f - JMAX} "
            f"is below 2^{_STEP_FLOOR}; use a coarser noise (fewer bits) or a format with a "
            "larger smallest step")
    maxq = Fraction(t.max)
    emax = t.emax
    frac52 = int((maxq / Fraction(2) ** emax - 1) * (1 << 52))
    g, tab = n.kernel_tables()
    q = [0] * N_Q
    q[:] = [t.mbits, t.emin, emax, int(t.subnormals), frac52, n.code, g, f,
            int(config.clip), kmin, kmax]
    consts = make_consts(s, config.rounding, None, None)
    return Plan(config, tuple(q), g, tab, consts, ROUNDING_CODE[config.rounding],
                config.rounding is Rounding.STOCHASTIC, kmin, kmax)


@lru_cache(maxsize=1024)
def anneal_thresholds(a: float) -> np.ndarray:
    """The annealing thresholds for probability ``a``: floor(a**i * 2**32) for
    i = 1..8 (uint32, descending), exact from the float's value; empty for 0."""
    if a == 0:
        return np.zeros(0, np.uint32)
    fa = Fraction(a)
    return np.array([int(fa ** i * (1 << 32)) for i in range(1, JMAX + 1)], np.uint32)


def resolve(fmt: Any, noise: Any = "gaussian", storage: Any = "bfloat16",
            rounding: Any = "nearest_even", scale: Any = "tensor", clip: bool = True,
            anneal: float = 0.0) -> tuple[PQTConfig, int | None]:
    """(config, fixed scale exponent or None) from :func:`pseudo_quantize`'s
    arguments, validated: the plan built, a fixed exponent within its bounds.
    Shared with the adapters (``floatsim_torch.noise``).

    Example:
        >>> cfg, k = resolve("e3m2", "r", scale=-4)
        >>> cfg.scale, k
        ('none', -4)
    """
    fixed = None
    if isinstance(scale, (int, np.integer)) and not isinstance(scale, bool):
        fixed, scale = int(scale), "none"
    elif scale is None:
        scale = "none"
    if isinstance(fmt, PQTConfig):
        cfg = fmt
        if fixed is None and scale != cfg.scale:
            cfg = cfg.replace(scale=scale)
        if anneal:
            cfg = cfg.replace(anneal=anneal)
    else:
        cfg = PQTConfig(fmt, noise, storage, rounding, scale, clip, anneal)
    p = plan(cfg)
    if fixed is not None and not p.kmin <= fixed <= p.kmax:
        raise ValueError(f"scale={fixed}: the exponent must be in {p.kmin}..{p.kmax} for {cfg.format} "
                         f"with noise {cfg.noise.name}")
    return cfg, fixed


def _check_seed(seed: Any, stream: Any) -> tuple[int, int, int]:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 1 << 64:
        raise ValueError(f"seed={seed!r} must be an int in 0..2**64-1")
    if isinstance(stream, bool) or not isinstance(stream, (int, np.integer)) or not 0 <= stream < 1 << 32:
        raise ValueError(f"stream={stream!r} must be an int in 0..2**32-1")
    seed = int(seed)
    return seed & 0xFFFFFFFF, seed >> 32, int(stream)


def pseudo_quantize(x: Any, fmt: Format | str | PQTConfig, noise: Noise | str = "gaussian", *,
                    seed: int = 0, stream: int = 0, storage: Format | str = "bfloat16",
                    rounding: Rounding | str = "nearest_even", scale: str | int | None = "tensor",
                    clip: bool = True, anneal: float = 0.0, out: Any = None,
                    out_dtype: Any = None) -> Any:
    """``x`` plus noise shaped like ``fmt``'s rounding error, cast once to ``storage``.

    For each element ``w`` (flat C-order index ``i``): ``round_storage(clip(w +
    z * Delta))``, ``z`` drawn from ``noise`` by the Philox word of ``(seed,
    i, stream)`` (docs/pqt.md), ``Delta`` the spacing of ``fmt`` scaled by
    ``2**k`` at ``w``: k is the tensor's RCEIL exponent (``scale='tensor'``:
    the smallest k with ``max|x| <= fmt.max * 2**k``), 0 (``'none'``/None) or
    the int given.  The sum is exact and rounded once (docs/pqt.md).

    Args:
        x: float64, float32, float16 or bfloat16 array (numpy, or a GPU array).
        fmt: the target format, or a :class:`PQTConfig` (then ``noise``,
            ``storage``, ``rounding`` and ``clip`` come from it).
        noise: a :class:`Noise` or 'uniform', 'gaussian', 'r'.
        storage: the format of the one cast (at most 22 significant bits).
        rounding: that cast's rounding; 'stochastic' draws the cast's own words.
        clip: keep results within +-fmt.max * 2**k.
        anneal: precision annealing probability (0: off).
        out, out_dtype: as in :func:`floatsim.quantize` (default x's dtype).

    Returns:
        An array of x's shape (and library).

    Example:
        >>> import numpy as np
        >>> x = np.full(4, 0.3, np.float32)
        >>> pseudo_quantize(x, "e4m3", "r", seed=0, scale="none").tolist()
        [0.302734375, 0.310546875, 0.3046875, 0.302734375]
    """
    cfg, fixed = resolve(fmt, noise, storage, rounding, scale, clip, anneal)
    p = plan(cfg)
    slo, shi, stream = _check_seed(seed, stream)
    if is_device_array(x):
        from ..gpu import noise as gpu_noise

        return gpu_noise.pseudo_quantize(x, p, fixed, slo, shi, stream, out, out_dtype)
    arr = float_array(x)
    dt = check_out_dtype(arr.dtype if out_dtype is None and out is None else
                         (out_dtype if out_dtype is not None else out.dtype), cfg.storage)
    res = out_array(out, arr.shape, dt)
    if arr.size == 0:
        return res
    flat = np.ascontiguousarray(arr).reshape(-1)
    bits = np.empty(arr.size, np.uint32)
    run_segments(p, host_input(flat), bits, np.array([0, arr.size], np.int64),
                 np.array([_amax(arr)], np.float64).view(np.int64), np.array([fixed or 0], np.int64),
                 fixed is None and cfg.scale == "tensor", anneal_thresholds(float(cfg.anneal)),
                 slo, shi, stream, 0)
    res.reshape(-1)[:] = from_bits(bits, dt)
    return res


def host_input(a: np.ndarray) -> np.ndarray:
    """A flat host array as the CPU loop's input: float64 as is, everything
    else as float32 bits (bfloat16 and float16 widen exactly)."""
    if a.dtype == np.float64:
        return a
    if is_bfloat16(a.dtype):
        return a.view(np.uint16).astype(np.uint32) << np.uint32(16)
    return a.astype(np.float32, copy=False).view(np.uint32)


def from_bits(bits: np.ndarray, dt: np.dtype) -> np.ndarray:
    """float32 result bits as ``dt`` (exact: they are values ``dt`` holds)."""
    if is_bfloat16(dt):
        return (bits >> np.uint32(16)).astype(np.uint16).view(dt)
    return bits.view(np.float32).astype(dt, copy=False)


def _amax(arr: np.ndarray) -> float:
    with np.errstate(invalid="ignore"):
        return float(np.max(np.abs(arr.astype(np.float64, copy=False))))


def run_segments(p: Plan, src: np.ndarray, dst: np.ndarray, starts: np.ndarray,
                 seg_amax: np.ndarray, seg_k: np.ndarray, from_amax: bool, athr: np.ndarray,
                 seed_lo: int, seed_hi: int, stream: int, offset: int) -> np.ndarray:
    """The CPU loop over segments (see :mod:`floatsim.cpu.noise`): ``src`` from
    :func:`host_input`, ``dst`` uint32 result bits, ``seg_amax`` float64 bits
    (int64); returns each segment's scale exponent."""
    from ..cpu.launch import launch
    from ..cpu.noise import noise_any, noise_rne

    if p.rnd == RNE:
        return launch(noise_rne, src.size, src, dst, starts, seg_amax, seg_k, bool(from_amax), p.q,
                      p.tab, athr, p.consts, seed_lo, seed_hi, stream, offset)
    return launch(noise_any, src.size, src, dst, starts, seg_amax, seg_k, bool(from_amax), p.q,
                  p.tab, athr, p.consts, p.rnd, p.draw_sr, seed_lo, seed_hi, stream, offset)


def scale_exponent(x: Any, fmt: Format | str | PQTConfig, noise: Noise | str = "gaussian") -> int:
    """The per-tensor scale exponent k of ``x`` (the RCEIL rule, clamped to the
    plan's range; see :func:`pseudo_quantize`).

    Example:
        >>> import numpy as np
        >>> scale_exponent(np.array([0.05, -0.01]), "e3m2")     # 0.05 <= 28 * 2**-9
        -9
    """
    from ..kernels.noise import Q_EMAX, Q_KMAX, Q_KMIN, Q_MAXFRAC, tensor_exponent

    cfg, _ = resolve(fmt, noise, "bfloat16", "nearest_even", "tensor", True, 0.0)
    p = plan(cfg)
    a = _amax(float_array(x)) if np.size(x) else 0.0
    q = p.q
    return int(tensor_exponent(np.float64(a).view(np.int64), q[Q_EMAX], q[Q_MAXFRAC], q[Q_KMIN],
                               q[Q_KMAX]))


def spacing(x: Any, fmt: Format | str | PQTConfig, *, scale: str | int | None = "tensor",
            noise: Noise | str = "gaussian") -> np.ndarray:
    """The target's spacing ``Delta`` at each element (float64, x's shape): the
    step the noise is measured in.

    Example:
        >>> import numpy as np
        >>> spacing(np.array([0.0, 1e-9, 3.0]), "e2m3", scale="none").tolist()
        [0.125, 0.125, 0.25]
    """
    from ..cpu.noise import spacing_flat

    cfg, fixed = resolve(fmt, noise, "bfloat16", "nearest_even", scale, True, 0.0)
    p = plan(cfg)
    arr = np.asarray(float_array(x), np.float64)
    k = fixed if fixed is not None else (scale_exponent(arr, cfg) if cfg.scale == "tensor" else 0)
    out = np.empty(arr.size, np.float64)
    spacing_flat(np.ascontiguousarray(arr).reshape(-1), k, p.q, out)
    return out.reshape(arr.shape)


def draw(n: int, noise: Noise | str = "gaussian", *, seed: int = 0, stream: int = 0,
         anneal: float = 0.0, offset: int = 0) -> np.ndarray:
    """The noise values ``z * 2**-j`` (units of the spacing, float64) of the
    elements ``offset`` to ``offset + n - 1``: what :func:`pseudo_quantize`
    adds, before scaling by Delta.

    Example:
        >>> draw(3, "uniform", seed=5).tolist() == draw(4, "uniform", seed=5)[:3].tolist()
        True
    """
    from ..cpu.noise import draw_flat
    from .dist import parse

    nz = parse(noise)
    slo, shi, stream = _check_seed(seed, stream)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n={n!r} must be an int >= 0")
    if offset % 4:
        raise ValueError(f"offset={offset!r} must be a multiple of 4")
    g, tab = nz.kernel_tables()
    out = np.empty(int(n), np.float64)
    draw_flat(out, nz.code, g, nz.frac_bits, tab, anneal_thresholds(float(anneal)), slo, shi,
              stream, int(offset))
    return out
