"""Telemetry counters of one cast: what ``floatsim_torch.telemetry`` adds up.

Internal to the training layer: :func:`stats` runs inside the emulated GEMM,
on the device, and returns the :data:`STATS` of one cast of ``x`` to ``q``.
Definitions are in ``floatsim_torch.monitor``'s docstring.

Example:
    >>> import torch
    >>> from floatsim import recipes
    >>> from floatsim_torch.gemm import make_plan
    >>> cast = make_plan("l", recipes.get("mxfp4"), 0).casts[0]
    >>> x = torch.tensor([[7.5, 1.0] + [0.0] * 30])          # one block of 32, top 6
    >>> q = torch.tensor([[6.0, 1.0] + [0.0] * 30])
    >>> dict(zip(STATS, stats(x, q, cast, -1).tolist()))["saturated"]
    1.0
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["STATS", "group_max", "stats"]

#: Counters kept per role: values cast, saturated (clamped at the top of the grid or
#: overflowed to inf), flushed to zero, NaN results, and the sums of x**2 and
#: (x - q)**2 over finite pairs (the SQNR).
STATS = ("values", "saturated", "flushed", "nan", "signal", "noise")


def group_max(a: torch.Tensor, shape: tuple[int | None, ...] | None, axes: str,
              axis: int) -> torch.Tensor:
    """The largest value of ``a`` (>= 0) over each scale group, broadcast back to
    ``a``'s shape: the blocks of ``shape`` along ``axis`` (1-D, padded as the core
    pads), 16x16-style tiles over the last two axes, a whole axis (per-row
    scales) or the whole tensor."""
    if axes == "tensor":
        return a.amax().expand_as(a)
    if axes == "tile":
        b0, b1 = shape
        n0, n1 = a.shape[-2], a.shape[-1]
        p = F.pad(a, (0, (-n1) % b1, 0, (-n0) % b0))
        lead = p.shape[:-2]
        g = p.reshape(*lead, p.shape[-2] // b0, b0, p.shape[-1] // b1, b1)
        g = g.amax(dim=(-3, -1), keepdim=True).expand_as(g).reshape(p.shape)
        return g[..., :n0, :n1]
    if shape is None or shape[0] is None:      # whole-axis blocks: one scale per row
        return a.amax(dim=axis, keepdim=True).expand_as(a)
    t = a.transpose(-1, -2) if axis == -2 else a
    b, n = shape[0], t.shape[-1]
    p = F.pad(t, (0, (-n) % b))
    g = p.reshape(*p.shape[:-1], p.shape[-1] // b, b)
    g = g.amax(dim=-1, keepdim=True).expand_as(g).reshape(p.shape)[..., :n]
    return g.transpose(-1, -2) if axis == -2 else g


def stats(x: torch.Tensor, q: torch.Tensor, cast: object, axis: int) -> torch.Tensor:
    """The counters (STATS order, float64, on x's device) of casting ``x`` to ``q``
    with ``cast`` (a ``floatsim_torch.gemm.Cast``), blocked along ``axis``.

    Saturated: q overflowed to inf, or q is the largest magnitude of its scale
    group (a clamped value lands on the group's top) and lies below x by more
    than rounding within the range can move a value: half the grid spacing at q
    under the nearest modes, one spacing under the others.  The spacing is
    ``2**(floor(log2|q|) - m)`` with power-of-two scales, and the spacing at the
    top of the grid, ``|q| 2**(emax - m) / max``, with other scales (there, under
    directed and stochastic rounding, only overflows count).
    """
    x = x.float()
    q = q.float()
    xa, qa = x.abs(), q.abs()
    m = cast.mbits
    if cast.pow2:
        _, e = torch.frexp(q)                  # |q| = f * 2**e, f in [0.5, 1)
        spacing = torch.ldexp(torch.ones_like(q), e - (1 + m))
    else:
        spacing = qa * (2.0 ** (cast.elem_emax - m) / cast.elem_max)
    nearest = cast.rounding in ("nearest_even", "nearest_away")
    lost = xa - qa
    if nearest:
        beyond = lost > 0.5 * spacing
    elif cast.pow2:
        beyond = lost >= spacing
    else:
        # A group's largest value may round down to a lower grid point, whose spacing
        # the top's understates; and a value scale's rounding clamps by less than a
        # spacing anyway (NVFP4: 0.375 of the top's 2): only overflows count here.
        beyond = torch.zeros_like(lost, dtype=torch.bool)
    fin_q = torch.nan_to_num(qa, nan=0.0, posinf=0.0)
    if cast.block:                              # a clamped value lands on its group's top
        top = fin_q == group_max(fin_q, cast.shape, cast.axes, axis)
    else:                                       # no scale: the format's own max
        top = qa == cast.elem_max
    inf = math.inf
    sat = torch.count_nonzero((beyond & top & (qa != 0)) | ((qa == inf) & (xa != inf)))
    flushed = torch.count_nonzero((qa == 0) & (xa != 0))
    nan = torch.count_nonzero(q != q)
    ok = torch.isfinite(x) & torch.isfinite(q)
    xs = torch.where(ok, x, 0.0).reshape(-1)
    err = torch.where(ok, x - q, 0.0).reshape(-1)
    n = torch.full((), float(x.numel()), device=x.device)
    return torch.stack([n, sat.float(), flushed.float(), nan.float(),
                        torch.dot(xs, xs), torch.dot(err, err)]).double()
