"""Telemetry of an emulated model: what the casts did, per layer and role.

``floatsim_torch.emulate(model, recipe, telemetry=True)`` makes every cast of
a GEMM operand add to on-device counters (``floatsim_stats`` buffers, not
saved in state dicts): values cast, saturated, flushed to zero, NaN results,
and the sums of squares that give the SQNR.  Nothing leaves the device until
:func:`telemetry` reads them.

Definitions (per cast of x to q; "finite" means x is finite):

* **saturated**: q overflowed to inf, or was clamped at the top of its grid:
  q is the largest magnitude of its scale group (block, tile, row or
  tensor; for an unscaled format, the format's max) and lies below x by more
  than rounding within the range can move a value: half the grid's spacing
  at q under the nearest modes, one spacing under the directed and
  stochastic ones.  The spacing is ``2**(floor(log2|q|) - m)`` (m: the
  element's mantissa bits) under power-of-two scales (MX's E8M0, unscaled
  formats), and the spacing at the top of the element grid,
  ``|q| 2**(emax - m) / max``, under other scales (FP32 per-tensor, NVFP4's
  UE4M3), where a clamped value lands.  So values above the top by less than
  half a spacing, which round to it anyway, do not count, nor, under
  stochastic or directed rounding, clamps by less than one spacing (they
  look like rounding); under those modes with non-power-of-two scales only
  overflows count (a group's largest value may round down to a lower grid
  point; NVFP4's scale rounding clamps by at most 0.375 of the top's spacing
  of 2).  Counts agree with those computed from the core's own
  encodings (tests/test_telemetry.py: MXFP8, MXFP4 and NVFP4 blocks).
* **flushed**: q is zero and x is not.
* **nan**: q is NaN (created or propagated).
* **SQNR** (dB): ``10 log10(sum x**2 / sum (x - q)**2)`` over finite x and q;
  inf when every value was exact.

A weight that dgrad reuses from the forward GEMM (same operand, a layout that
does not depend on the reduction axis) is counted once, under
``forward.rhs``; ``dgrad.rhs`` then reads "(reused)" in the table (the same
for an input x that wgrad reuses: ``wgrad.rhs``).

Example:
    >>> import torch
    >>> from torch import nn
    >>> import floatsim_torch as fst
    >>> m = fst.emulate(nn.Linear(32, 8), "mxfp4", telemetry=True)
    >>> m(torch.randn(4, 32)).sum().backward()
    >>> rec = fst.telemetry(m)
    >>> rec[0]["layer"], rec[0]["role"], rec[0]["values"]
    ('', 'forward.lhs', 128)
    >>> print(rec.table())  # doctest: +ELLIPSIS
    layer  role         tensor  format      values  saturated  flushed  nan  SQNR dB
           forward.lhs  x       mxfp4_e2m1     128  ...
    >>> print(rec.summary())  # doctest: +ELLIPSIS
    role        tensor        values  saturated   flushed   nan  SQNR dB
    forward.lhs x                128 ...
"""

from __future__ import annotations

import math

import torch
from torch import nn

from floatsim.recipes import ROLES, TENSORS

from .counters import STATS
from .emulation import plans

__all__ = ["Telemetry", "counting", "reset", "telemetry"]

_KINDS = ("linear", "qk", "pv", "matmul")


class Telemetry(list):
    """A list of records (dicts), one per layer, GEMM kind and role, ready for
    ``pandas.DataFrame(records)``; :meth:`table` prints them.

    Keys: layer, kind ('linear' for layers; 'linear', 'qk', 'pv', 'matmul' for
    the functional GEMMs of a host), role, tensor, format, values, saturated,
    flushed, nan (counts), saturated_share, flushed_share, sqnr_db.
    """

    def table(self) -> str:
        """A fixed-width table of the records (shares as percentages)."""
        if not self:
            return "no telemetry recorded (emulate(..., telemetry=True), then run a step)"
        lw = max(5, *(len(r["layer"] + ("" if r["kind"] == "linear" else f" [{r['kind']}]"))
                      for r in self))
        fw = max(6, *(len(r["format"]) for r in self))
        head = (f"{'layer':<{lw}}  {'role':<11}  {'tensor':<6}  {'format':<{fw}}  "
                f"{'values':>6}  {'saturated':>9}  {'flushed':>7}  {'nan':>3}  {'SQNR dB':>7}")
        rows = [head]
        for r in self:
            name = r["layer"] + ("" if r["kind"] == "linear" else f" [{r['kind']}]")
            if r.get("reused"):
                rows.append(f"{name:<{lw}}  {r['role']:<11}  {r['tensor']:<6}  "
                            f"{r['format']:<{fw}}  (reused: counted under forward.rhs)")
                continue
            rows.append(
                f"{name:<{lw}}  {r['role']:<11}  {r['tensor']:<6}  {r['format']:<{fw}}  "
                f"{r['values']:>6}  {_pct(r['saturated_share']):>9}  "
                f"{_pct(r['flushed_share']):>7}  {r['nan']:>3}  {r['sqnr_db']:>7.1f}"
            )
        return "\n".join(rows)

    def summary(self) -> str:
        """One line per role, totalled over every layer: the one-call overview.

        Example:
            >>> print(Telemetry().summary())
            no telemetry recorded (emulate(..., telemetry=True), then run a step)
        """
        totals = self.by_role()
        if not totals:
            return self.table()
        rows = [f"{'role':<12}{'tensor':<8}{'values':>12}{'saturated':>11}{'flushed':>10}"
                f"{'nan':>6}{'SQNR dB':>9}"]
        for role in ROLES:
            t = totals.get(role)
            if t is None:
                continue
            rows.append(f"{role:<12}{TENSORS[role]:<8}{int(t['values']):>12}"
                        f"{_pct(t['saturated_share']):>11}{_pct(t['flushed_share']):>10}"
                        f"{int(t['nan']):>6}{t['sqnr_db']:>9.1f}")
        return "\n".join(rows)

    def by_role(self) -> dict[str, dict[str, float]]:
        """Totals per role over every layer: values, saturated / flushed shares,
        NaN count and SQNR (the demo's summary columns).

        Example:
            >>> Telemetry().by_role()
            {}
        """
        out: dict[str, dict[str, float]] = {}
        for r in self:
            if r.get("reused"):
                continue
            t = out.setdefault(r["role"], dict(values=0, saturated=0, flushed=0, nan=0,
                                               signal=0.0, noise=0.0))
            for k in ("values", "saturated", "flushed", "nan", "signal", "noise"):
                t[k] += r[k]
        for t in out.values():
            n = max(t["values"], 1)
            t["saturated_share"] = t["saturated"] / n
            t["flushed_share"] = t["flushed"] / n
            t["sqnr_db"] = _sqnr(t["signal"], t["noise"])
        return out


def _pct(share: float) -> str:
    if share == 0:
        return "0"
    return f"{100 * share:.3g}%"


def _sqnr(signal: float, noise: float) -> float:
    if noise == 0:
        return math.inf
    if signal == 0:
        return -math.inf
    return 10 * math.log10(signal / noise)


def _fmt(op: object) -> str:
    f = op.format  # type: ignore[attr-defined]
    return "-" if f is None else str(f)


def telemetry(model: nn.Module, *, reset: bool = False) -> Telemetry:
    """Read the telemetry counters of every emulated layer of ``model`` (one
    device-to-host copy per layer), as :class:`Telemetry` records.  Roles that
    leave their operand in high precision, and those never run, are left out.

    Args:
        model: a model emulated with ``telemetry=True``.
        reset: zero the counters after reading them.
    """
    out = Telemetry()
    found = False
    for name, plan in plans(model).items():
        m = model.get_submodule(name)
        stats = getattr(m, "floatsim_stats", None)
        if stats is None:
            continue
        found = True
        vals = stats.detach().cpu().tolist()   # the one sync
        for k, per_kind in enumerate(vals):
            for i, role in enumerate(ROLES):
                op = plan.ops[i]
                if not op.quantized:
                    continue
                s = dict(zip(STATS, per_kind[i]))
                # (reused?, the role counted instead, the GEMM's other operand)
                source = {"dgrad.rhs": (plan.reuse_w, 1, 2), "wgrad.rhs": (plan.reuse_x, 0, 4)}
                reused, src, other = source.get(role, (False, i, i))
                ran = per_kind[src][0] and per_kind[other][0] if reused else s["values"]
                if not ran:
                    continue
                n = int(s["values"])
                out.append(dict(
                    layer=name, kind=_KINDS[k] if len(vals) > 1 else "linear", role=role,
                    tensor=TENSORS[role], format=_fmt(op), values=n,
                    saturated=int(s["saturated"]), flushed=int(s["flushed"]), nan=int(s["nan"]),
                    signal=s["signal"], noise=s["noise"],
                    saturated_share=s["saturated"] / n if n else 0.0,
                    flushed_share=s["flushed"] / n if n else 0.0,
                    sqnr_db=_sqnr(s["signal"], s["noise"]), reused=reused,
                ))
        if reset:
            stats.zero_()
    if not found and plans(model):
        raise ValueError("this model was emulated without telemetry: pass "
                         "emulate(model, recipe, telemetry=True)")
    return out


def reset(model: nn.Module) -> None:
    """Zero every telemetry counter of ``model``."""
    for m in model.modules():
        stats = getattr(m, "floatsim_stats", None)
        if isinstance(stats, torch.Tensor):
            stats.zero_()


def counting(model: nn.Module, on: bool) -> None:
    """Pause (``on=False``) or resume the telemetry counters of ``model``: a
    paused step costs nothing extra (under torch.compile a switch recompiles).

    Example:
        >>> m = __import__("floatsim_torch").emulate(nn.Linear(32, 4), "mxfp8", telemetry=True)
        >>> counting(m, False); _ = m(torch.randn(2, 32))
        >>> telemetry(m)
        []
    """
    for m in model.modules():
        if hasattr(m, "floatsim_stats"):
            m._floatsim_counting = bool(on)
