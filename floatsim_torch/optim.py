"""Optimizer states stored as low-precision codes, and low-precision master weights.

``wrap(opt, ...)`` takes a ``torch.optim.Adam`` / ``AdamW`` / ``SGD`` and keeps
its per-parameter states (Adam's ``exp_avg`` m and ``exp_avg_sq`` v, SGD's
``momentum_buffer``) **as codes** between steps: element codes (uint8) of a
Format or BlockFormat plus their scales, so the memory really drops
(:meth:`QuantizedOptimizer.bytes_per_param` reports it).  Each step decodes
the states to float32, runs the wrapped optimizer's own step, and encodes
them again (rounding as asked; the decoded values are on the format's grid).

* A **Format** (``"e4m3"``) is stored with one FP32 absmax scale per group of
  ``group`` elements of the flattened state (128, COAT's group size): the
  BlockFormat ``BlockFormat(element=fmt, scale="float32", block=group,
  rule="amax")``; a **BlockFormat** (``"mxfp8"``) is stored as it is.
* ``expand_range=True`` applies COAT's dynamic range expansion before the
  cast (Xi et al. 2024, "COAT: Compressing Optimizer states and Activation
  for Memory-Efficient FP8 Training", section 5): per group, ``x -> sign(x)
  |x|**k`` with ``k = log(R_fmt) / log(R_x)``, where ``R_fmt`` is the format's
  range (max over the smallest subnormal) and ``R_x`` the group's (max |x|
  over min nonzero |x|); k (FP32, one per group) is stored and inverted on
  decode.  k is capped at 8 and a group with one distinct magnitude keeps k = 1.
* **Master weights**: ``master="bf16"`` rounds every parameter to bfloat16
  after each step (nearest-even, or ``master_rounding="stochastic"``: "BF16
  + SR").  The parameters stay float32 tensors holding bfloat16 values, so the
  model runs unchanged; the update itself is computed by the wrapped
  optimizer in float32 and then rounded once into the master format.  The
  stochastic rounding draws one stream per parameter and step from a
  :class:`~floatsim_torch.RandomStream` without a rank: every DDP rank rounds
  its replica of the weights alike, so the replicas stay equal.

The codes are made and read by the ``floatsim`` operators
(:func:`floatsim_torch.blocks.encode` / ``decode``,
:func:`floatsim_torch.quantize`), eagerly: the optimizer step is not traced.

Example:
    >>> import torch
    >>> from torch import nn
    >>> import floatsim_torch as fst
    >>> model = nn.Linear(256, 256)
    >>> opt = fst.optim.wrap(torch.optim.AdamW(model.parameters(), lr=1e-3), m="e4m3", v="e4m3")
    >>> model(torch.randn(8, 256)).square().mean().backward(); opt.step()
    >>> b = opt.bytes_per_param(); b["m"], b["v"], b["float32 states"]
    (1.03125, 1.03125, 8.0)
"""

from __future__ import annotations

import math
from typing import Any

import torch

from floatsim.blocks import BlockFormat
from floatsim.formats import Format
from floatsim.recipes import Recipe, parse_format
from floatsim.recipes import get as get_recipe
from floatsim.rounding import Rounding

from . import blocks as _blocks
from .cast import quantize
from .streams import RandomStream

__all__ = ["QuantizedOptimizer", "wrap"]

_KEYS = {"exp_avg": "m", "momentum_buffer": "m", "exp_avg_sq": "v", "max_exp_avg_sq": "v"}
_K_MAX = 8.0


def _as_block(fmt: Format | BlockFormat | str | None, group: int,
              what: str) -> BlockFormat | None:
    f = parse_format(fmt, what)
    if f is None or isinstance(f, BlockFormat):
        if isinstance(f, BlockFormat) and (f.block is None or len(f.block) != 1):
            raise ValueError(f"{what}={f}: optimizer states take 1-D blocks (they are "
                             f"flattened), got block {f.block}")
        return f
    return BlockFormat(element=f, scale="float32", block=group, rule="amax",
                       name=f"{f} x fp32/{group}")


class _Stored:
    """One state tensor as codes: a BlockEncoding (element codes, scale codes,
    tensor scale), COAT's k."""

    def __init__(self, codes: _blocks.BlockEncoding, k: torch.Tensor | None,
                 shape: torch.Size) -> None:
        self.codes, self.k, self.shape = codes, k, shape

    @property
    def nbytes(self) -> int:
        n = sum(p.numel() * p.element_size() for p in self.codes if p is not None)
        return n + (0 if self.k is None else self.k.numel() * self.k.element_size())


class QuantizedOptimizer:
    """The wrapped optimizer: ``step``, ``zero_grad``, ``state_dict`` and
    ``load_state_dict`` as torch's, with the states held as codes between steps.
    Use ``.optimizer`` for anything else (param_groups, schedulers take it)."""

    def __init__(self, opt: torch.optim.Optimizer, m: BlockFormat | None,
                 v: BlockFormat | None, master: Format | None, master_rounding: Rounding,
                 expand_range: bool, seed: int) -> None:
        self.optimizer = opt
        self.formats = {"m": m, "v": v}
        self.master, self.master_rounding = master, master_rounding
        self.expand_range, self.seed = expand_range, seed
        self._streams = RandomStream(seed)   # no rank: every replica rounds alike
        self._stored: dict[tuple[int, str], _Stored] = {}

    @property
    def param_groups(self) -> list[dict]:
        return self.optimizer.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    # ---- codes ------------------------------------------------------------------------------
    def _encode(self, x: torch.Tensor, bf: BlockFormat) -> _Stored:
        flat = x.detach().reshape(-1).float()
        k = None
        if self.expand_range:
            flat, k = self._expand(flat, bf)
        return _Stored(_blocks.encode(flat, bf), k, x.shape)

    def _decode(self, s: _Stored, bf: BlockFormat) -> torch.Tensor:
        flat = _blocks.decode(s.codes, bf)
        if s.k is not None:
            flat = self._unexpand(flat, s.k, bf)
        return flat.reshape(s.shape)

    @staticmethod
    def _groups(flat: torch.Tensor, bf: BlockFormat) -> tuple[torch.Tensor, int]:
        g = bf.block[0]
        pad = (-flat.numel()) % g
        return torch.nn.functional.pad(flat, (0, pad)).reshape(-1, g), pad

    def _expand(self, flat: torch.Tensor, bf: BlockFormat) -> tuple[torch.Tensor, torch.Tensor]:
        el = bf.element
        r_fmt = math.log(el.max / el.min_subnormal)
        grp, pad = self._groups(flat, bf)
        a = grp.abs()
        big = a.amax(1)
        small = torch.where(a > 0, a, torch.full_like(a, math.inf)).amin(1)
        r_x = torch.log(big / small)
        k = torch.where(torch.isfinite(r_x) & (r_x > 0), r_fmt / r_x, torch.ones_like(r_x))
        k = k.clamp(max=_K_MAX)
        y = grp.sign() * a.pow(k[:, None])
        y = y.reshape(-1)
        return (y[: y.numel() - pad] if pad else y), k.float()

    def _unexpand(self, flat: torch.Tensor, k: torch.Tensor, bf: BlockFormat) -> torch.Tensor:
        grp, pad = self._groups(flat, bf)
        y = (grp.sign() * grp.abs().pow(1.0 / k[:, None])).reshape(-1)
        return y[: y.numel() - pad] if pad else y

    # ---- the step -----------------------------------------------------------------------
    def _load(self) -> None:
        for p, st in self.optimizer.state.items():
            for key, role in _KEYS.items():
                s = self._stored.pop((id(p), key), None)
                if s is not None:
                    st[key] = self._decode(s, self.formats[role]).to(p.device)

    def _store(self) -> None:
        for p, st in self.optimizer.state.items():
            for key, role in _KEYS.items():
                bf = self.formats[role]
                t = st.get(key)
                if bf is None or not isinstance(t, torch.Tensor) or t.numel() == 0:
                    continue
                self._stored[(id(p), key)] = self._encode(t, bf)
                st[key] = torch.empty(0, device=t.device)   # the float32 copy is released

    @torch.no_grad()
    def _round_master(self) -> None:
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                kw = self._streams.kwargs() if self.master_rounding is Rounding.STOCHASTIC else {}
                p.data.copy_(quantize(p.data, self.master, self.master_rounding, **kw))

    def step(self, closure: Any = None) -> Any:
        """Decode the states, run the wrapped optimizer's step, round the master
        weights, encode the states."""
        self._load()
        loss = self.optimizer.step(closure)
        if self.master is not None:
            self._round_master()
        self._store()
        return loss

    # ---- checkpoints and memory ---------------------------------------------------------
    def state_dict(self) -> dict:
        """The wrapped optimizer's state dict with the states decoded (float32
        values on the formats' grids): a checkpoint any torch optimizer loads;
        ``"floatsim_streams"`` holds where the master weights' stochastic
        rounding continues."""
        self._load()
        try:
            sd = self.optimizer.state_dict()
            # torch packs the live per-parameter dicts, which _store() empties next
            sd["state"] = {k: dict(v) for k, v in sd["state"].items()}
            sd["floatsim_streams"] = self._streams.state_dict()
            return sd
        finally:
            self._store()

    def load_state_dict(self, state: dict) -> None:
        """Load a torch state dict, then store its states as codes."""
        self._stored.clear()
        state = dict(state)
        streams = state.pop("floatsim_streams", None)
        if streams is not None:
            self._streams.load_state_dict(streams)
        self.optimizer.load_state_dict(state)
        self._store()

    def bytes_per_param(self) -> dict[str, float]:
        """Bytes held per parameter element between steps: ``m`` and ``v``
        (codes, scales and COAT's k as stored), ``float32 states`` (what the
        unwrapped optimizer would hold for the same states) and ``master`` (the
        master weights' format; held here as float32 values on its grid)."""
        n = sum(p.numel() for g in self.optimizer.param_groups for p in g["params"])
        out: dict[str, float] = {}
        fp32 = 0
        for role in ("m", "v"):
            keys = [k for k, r in _KEYS.items() if r == role]
            b = 0
            for (_pid, key), s in self._stored.items():
                if key in keys:
                    b += s.nbytes
                    fp32 += 4 * math.prod(s.shape)
            for st in self.optimizer.state.values():
                for key in keys:
                    t = st.get(key)
                    if isinstance(t, torch.Tensor) and t.numel():
                        b += t.numel() * t.element_size()
                        fp32 += 4 * t.numel()
            out[role] = b / n
        out["float32 states"] = fp32 / n
        out["master"] = 4.0 if self.master is None else self.master.bits / 8
        return out


def wrap(opt: torch.optim.Optimizer, recipe: Recipe | str | None = None, *,
         m: Format | BlockFormat | str | None = None,
         v: Format | BlockFormat | str | None = None,
         master: Format | str | None = None,
         master_rounding: Rounding | str | None = None,
         expand_range: bool = False, group: int = 128, seed: int = 0) -> QuantizedOptimizer:
    """Store ``opt``'s states as codes and round its parameters to a master format.

    Args:
        opt: a torch.optim.Adam, AdamW or SGD (with or without momentum).
        recipe: take ``optimizer_m``, ``optimizer_v``, ``master_weights`` and
            ``master_rounding`` from a recipe; the keywords override it.
        m, v: formats of the first and second moment (SGD: ``m`` is the
            momentum buffer); None keeps float32.
        master: format of the master weights ('bf16'); None keeps float32.
        master_rounding: how updated weights round into ``master``
            ('nearest_even', 'stochastic').
        expand_range: COAT's dynamic range expansion (module docstring).
        group: elements per FP32 scale for element formats.
        seed: key of the stochastic rounding of master weights.

    Raises:
        TypeError: ``opt`` is not Adam / AdamW / SGD.
    """
    if not isinstance(opt, torch.optim.Adam | torch.optim.AdamW | torch.optim.SGD):
        raise TypeError(f"wrap() takes torch.optim.Adam, AdamW or SGD, got "
                        f"{type(opt).__name__}")
    if isinstance(group, bool) or not isinstance(group, int) or group < 1:
        raise ValueError(f"group={group!r} must be an int >= 1")
    r = get_recipe(recipe) if recipe is not None else None
    m = m if m is not None or r is None else r.optimizer_m
    v = v if v is not None or r is None else r.optimizer_v
    master = master if master is not None or r is None else r.master_weights
    if master_rounding is None:
        master_rounding = Rounding.NEAREST_EVEN if r is None else r.master_rounding
    mf = parse_format(master, "master")
    if isinstance(mf, BlockFormat):
        raise ValueError(f"master={mf}: master weights take an element Format")
    if isinstance(opt, torch.optim.SGD) and v is not None:
        raise ValueError("v= applies to Adam / AdamW; SGD keeps one state (m=, its momentum)")
    return QuantizedOptimizer(opt, _as_block(m, group, "m"), _as_block(v, group, "v"), mf,
                              Rounding.parse(master_rounding), bool(expand_range), seed)
