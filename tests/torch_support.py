"""Shared helpers of the torch adapter's tests: inputs, the core's view of a
tensor, and bitwise comparison.  Importing it needs torch (tests importorskip
it first)."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import torch

import floatsim as fs

#: Torch float dtypes and their numpy twins (bfloat16 through ml_dtypes).
DTYPES = {
    torch.float64: np.dtype(np.float64),
    torch.float32: np.dtype(np.float32),
    torch.float16: np.dtype(np.float16),
    torch.bfloat16: np.dtype(ml_dtypes.bfloat16),
}
_RAW = {8: torch.int64, 4: torch.int32, 2: torch.int16, 1: torch.uint8}

#: Registered formats of at most 16 bits (the ones with every code enumerable).
SMALL_FORMATS = [n for n, f in fs.registry.CANONICAL.items() if f.bits <= 16]


def core_array(t: torch.Tensor) -> np.ndarray:
    """A numpy copy of a CPU tensor, built without floatsim_torch (bfloat16 as
    ml_dtypes.bfloat16): the input the core is called with."""
    t = t.detach()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().copy().view(ml_dtypes.bfloat16)
    return t.numpy().copy()


def bits(a: torch.Tensor | np.ndarray) -> np.ndarray:
    """The raw bits of a tensor or array (as signed ints of its width)."""
    if isinstance(a, torch.Tensor):
        a = a.detach().contiguous()
        return a.view(_RAW[a.element_size()]).numpy().copy()
    a = np.require(a, requirements="C")
    return a.view(f"i{a.dtype.itemsize}") if a.dtype.itemsize > 1 else a.view(np.uint8)


def assert_same_bits(got: torch.Tensor, want: np.ndarray, what: str = "") -> None:
    """``got`` equals ``want`` bit for bit (same dtype width, shape, NaN bits, signs)."""
    g, w = bits(got), bits(want)
    assert g.shape == w.shape, f"{what}: shape {g.shape} != {w.shape}"
    if not np.array_equal(g, w):
        i = int(np.flatnonzero(g.reshape(-1) != w.reshape(-1))[0])
        raise AssertionError(
            f"{what}: {int((g != w).sum())} of {g.size} differ; first at {i}: "
            f"{got.reshape(-1)[i].item()!r} != {np.asarray(want).reshape(-1)[i]!r}"
        )


def boundary_values(fmt: fs.Format, rng: np.random.Generator, n_random: int = 256) -> np.ndarray:
    """float64 inputs that stress a format of at most 16 bits: every value,
    every midpoint between neighbours, both nudged by a relative 2**-20, the
    overflow region, zeros, specials, random values over the range; both signs."""
    v = fmt.values()
    v = np.unique(v[np.isfinite(v)])
    mids = (v[:-1] + v[1:]) / 2
    top = np.array([fmt.max * 1.5, fmt.max * 2, 3.0e38, 1e300, np.inf, 0.0, np.nan,
                    fmt.min_subnormal / 2, fmt.min_subnormal / 3])
    rand = rng.standard_normal(n_random) * fmt.max / 4
    base = np.concatenate([v, mids, top, rand])
    nudged = np.concatenate([base * (1 + 2.0**-20), base * (1 - 2.0**-20)])
    allv = np.concatenate([base, nudged])
    return np.concatenate([allv, -allv])
