"""Pseudo-quantization training in PyTorch: ``floatsim_torch.pqt(model, config)``.

:func:`pqt` puts a parametrization (``torch.nn.utils.parametrize``) on the
weight of each selected layer (Linear and Conv by default): in training mode
every forward pass reads the weight as
:func:`floatsim_torch.noise.pseudo_quantize` of the stored parameter (noise
shaped like the target format's rounding error, one cast to BF16;
docs/pqt.md), and the gradient passes straight through to the parameter.
The parameters are kept in the config's ``param_dtype`` (``'bfloat16'``: 2
bytes a parameter; the noisy weight is handed to the layer in the dtype the
layer computes in, its original one).  In eval mode the layer reads the
stored parameter unchanged.  :func:`finalize` casts the parameters to the
target format (with the same per-tensor power-of-two scale as the noise) and
removes the parametrizations, for evaluation.  :func:`qat` is the baseline
PQT is compared with: round-to-nearest QAT with a straight-through estimator,
every forward pass reading :func:`cast` of the parameter (the same cast
:func:`finalize` applies).  A recipe with ``weight_noise`` (``pqt_e3m2``,
...) reaches :func:`pqt` through ``floatsim_torch.emulate``.

Random words: the layer named ``name`` draws with the Philox key
``layer_seed(seed, name)`` and the training step as its stream (the step
counts the model's forward passes in training mode), so every forward pass
draws fresh noise, the same on every run, device and DDP rank.  (The steps
are counted on the model :func:`pqt` was given: call that model, and build
the optimizer after :func:`pqt`, which moves each weight to
``parametrizations.weight.original``.)  Tested in eager mode; under
``torch.compile`` the step, a Python int, would recompile the graph at
every step.  With
``anneal`` > 0 in the config and ``steps`` given, the annealing probability
falls as :meth:`floatsim.noise.PQTConfig.anneal_at` says.

Example:
    >>> import torch, floatsim_torch as ft
    >>> from floatsim.noise import PQTConfig
    >>> m = torch.nn.Linear(8, 4)
    >>> _ = ft.pqt(m, PQTConfig("e3m2", "r"), seed=1)
    >>> m.parametrizations.weight.original.dtype        # 2 bytes a parameter
    torch.bfloat16
    >>> y = m(torch.ones(2, 8)); y.dtype
    torch.float32
    >>> _ = ft.pqt.finalize(m)                          # weights on e3m2's grid (times 2**k)
    >>> type(m.weight).__name__, m.weight.dtype         # the layer's own dtype again
    ('Parameter', torch.float32)
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

import floatsim as fs
from floatsim.noise import PQTConfig

from .cast import quantize
from .noise import pseudo_quantize

__all__ = ["PQTState", "PseudoQuantized", "Rounded", "cast", "finalize", "layer_seed", "pqt", "qat",
           "state_of"]

#: The layers :func:`pqt` selects by default (their ``weight``).
LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32}


def layer_seed(seed: int, name: str) -> int:
    """The Philox key of the layer ``name`` (a 64-bit int from the user's seed
    and the name; every rank of a DDP job gets the same)."""
    return (seed * 0x9E3779B97F4A7C15 + zlib.crc32(name.encode())) % (1 << 64)


class PQTState:
    """What the layers of one :func:`pqt` call share: the config, the training
    step (the noise's stream) and the annealing schedule."""

    def __init__(self, config: PQTConfig, steps: int | None) -> None:
        self.config = config
        self.steps = steps
        self.step = -1  # the first forward in training mode makes it 0
        self.layers: list[str] = []  # the names of the layers it covers
        self.hook: Any = None  # the model's forward pre-hook that counts the steps

    def current(self) -> PQTConfig:
        """The config at the current step (its ``anneal`` scheduled)."""
        cfg = self.config
        if cfg.anneal and self.steps:
            return cfg.replace(anneal=cfg.anneal_at(max(self.step, 0), self.steps))
        return cfg


class PseudoQuantized(nn.Module):
    """The parametrization: the stored parameter plus noise (training mode),
    as ``dtype`` (the dtype the layer computes in)."""

    def __init__(self, state: PQTState, seed: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.state = state
        self.seed = seed
        self.dtype = dtype

    def forward(self, w: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if not self.training:
            return w.to(self.dtype)
        return pseudo_quantize(w, self.state.current(), seed=self.seed,
                               stream=max(self.state.step, 0) % (1 << 32), out_dtype=self.dtype)


def pqt(model: nn.Module, config: PQTConfig | fs.Format | str = "e3m2",
        noise: Any = "gaussian", *, modules: Callable[[nn.Module, str], bool] | None = None,
        seed: int = 0, steps: int | None = None, **kw: Any) -> nn.Module:
    """Train ``model``'s selected weights with pseudo-quantization noise (in place).

    Args:
        model: the model; its selected layers' ``weight`` gets the
            parametrization (see the module docstring).
        config: a :class:`~floatsim.noise.PQTConfig`, or the target format
            (then ``noise`` and ``**kw``, PQTConfig's other fields, build one).
        modules: ``(module, name) -> bool``, which layers of :data:`LAYERS`
            to take (default: all of them).
        seed: the Philox seed the layers' keys derive from.
        steps: the number of training steps (for the annealing schedule).

    Returns:
        ``model``.

    Example:
        >>> import torch, floatsim_torch as ft
        >>> m = ft.pqt(torch.nn.Linear(4, 4), "e2m3", "uniform", param_dtype="float32")
        >>> m.parametrizations.weight.original.dtype
        torch.float32
    """
    cfg = config if isinstance(config, PQTConfig) else PQTConfig(config, noise, **kw)
    fs.noise.plan(cfg)  # refuse an invalid setting before touching the model
    return _install(model, cfg, modules, steps,
                    lambda state, name, dt: PseudoQuantized(state, layer_seed(seed, name), dt))


class Rounded(nn.Module):
    """The parametrization of :func:`qat`: :func:`cast` of the stored parameter
    (in training and eval mode), as ``dtype``; the gradient passes straight
    through.  ``rounding=False`` (post-training quantization): the stored
    parameter as it is."""

    def __init__(self, state: PQTState, dtype: torch.dtype, rounding: bool = True) -> None:
        super().__init__()
        self.state = state
        self.dtype = dtype
        self.rounding = rounding

    def forward(self, w: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return (cast(w, self.state.config) if self.rounding else w).to(self.dtype)


def qat(model: nn.Module, config: PQTConfig | fs.Format | str = "e3m2", *,
        modules: Callable[[nn.Module, str], bool] | None = None, rounding: bool = True,
        **kw: Any) -> nn.Module:
    """Round-to-nearest QAT with a straight-through estimator, the baseline PQT
    is compared with: the selected layers' weights read as :func:`cast` of
    the stored parameter on every forward pass (the target's grid at the
    noise's per-tensor power-of-two scale, nearest-even, saturating) and the
    gradient passes straight through.  Only ``config``'s target, ``scale``
    and ``param_dtype`` matter (its noise is not drawn); ``**kw`` are
    PQTConfig fields when ``config`` is a format.  :func:`finalize` ends it
    with the same cast, so the finalized model computes what training's
    forward passes did.  ``rounding=False``: post-training quantization
    instead, the weights trained as they are and cast by :func:`finalize`
    only.  In place; returns ``model``.

    Example:
        >>> import torch, floatsim_torch as ft
        >>> m = ft.pqt.qat(torch.nn.Linear(2, 1, bias=False), "e3m2", scale="none",
        ...                param_dtype="float32")
        >>> with torch.no_grad():
        ...     _ = m.parametrizations.weight.original.copy_(torch.tensor([[0.3, -1.1]]))
        >>> m.weight.tolist(), ft.pqt.finalize(m).weight.tolist()
        ([[0.3125, -1.0]], [[0.3125, -1.0]])
    """
    cfg = config if isinstance(config, PQTConfig) else PQTConfig(config, **kw)
    return _install(model, cfg, modules, None,
                    lambda state, name, dt: Rounded(state, dt, rounding))


def _install(model: nn.Module, cfg: PQTConfig, modules: Callable[[nn.Module, str], bool] | None,
             steps: int | None, make: Callable[[PQTState, str, torch.dtype], nn.Module],
             ) -> nn.Module:
    """Put ``make(state, name, dtype)`` on the selected weights (stored in
    ``cfg.param_dtype``), count the steps; what :func:`pqt` and :func:`qat` share."""
    if state_of(model) is not None:
        raise ValueError("the model is already under pqt(); call floatsim_torch.pqt.finalize first")
    state = PQTState(cfg, steps)
    keep = modules or (lambda m, name: True)
    pdt = _DTYPES[cfg.param_dtype]
    done = []
    for name, m in model.named_modules():
        if not isinstance(m, LAYERS) or not keep(m, name):
            continue
        w = m.weight
        dt = w.dtype
        with torch.no_grad():
            m.weight = nn.Parameter(w.detach().to(pdt), requires_grad=w.requires_grad)
        parametrize.register_parametrization(m, "weight", make(state, name, dt), unsafe=True)
        done.append(name)

    def count_step(mod: nn.Module, args: Any) -> None:
        if mod.training:
            state.step += 1

    state.hook = model.register_forward_pre_hook(count_step)
    state.layers = done
    model._floatsim_pqt = state
    return model


def state_of(model: nn.Module) -> PQTState | None:
    """The :class:`PQTState` of a model under :func:`pqt` or :func:`qat`, else None."""
    return getattr(model, "_floatsim_pqt", None)


def _scale(w: torch.Tensor, cfg: PQTConfig) -> int:
    """The noise's per-tensor scale exponent of ``w`` (0 without scaling)."""
    if cfg.scale != "tensor":
        return 0
    amax = w.detach().abs().max().double().cpu().numpy().reshape(1) if w.numel() else np.zeros(1)
    return fs.noise.scale_exponent(amax, cfg)


def cast(w: torch.Tensor, config: PQTConfig) -> torch.Tensor:
    """The final cast of a weight: ``quantize(w * 2**-k, target) * 2**k``
    (nearest-even, saturating at the target's max; ``k`` the noise's
    per-tensor scale exponent, 0 with ``scale='none'``), in ``w``'s dtype; the
    gradient passes straight through (what :func:`finalize` and :func:`qat`
    apply).

    Example:
        >>> import torch
        >>> from floatsim.noise import PQTConfig
        >>> cast(torch.tensor([0.3, -1.1, 100.0]), PQTConfig("e3m2", scale="none")).tolist()
        [0.3125, -1.0, 28.0]
    """
    k = _scale(w, config)
    return quantize(w * 2.0 ** -k, config.format, overflow="saturate") * 2.0 ** k


def finalize(model: nn.Module, *, cast_weights: bool = True) -> nn.Module:
    """Cast the pseudo-quantized weights to the target format and remove the
    parametrizations: each weight becomes :func:`cast` of the stored
    parameter (``quantize(w * 2**-k, target) * 2**k``), in the dtype the layer
    computes in (its weight's dtype before :func:`pqt`; the target's values
    are exact there), so that the model runs as it did.  ``cast_weights=False``
    leaves the parameters as trained (in the layer's dtype): what
    ``floatsim_torch.unemulate`` does to a recipe's weight noise.  Ends
    :func:`qat` the same way.  Returns ``model``.

    Example:
        >>> import torch, floatsim_torch as ft
        >>> m = ft.pqt(torch.nn.Linear(2, 1, bias=False), "e3m2", scale="none", param_dtype="float32")
        >>> with torch.no_grad():
        ...     _ = m.parametrizations.weight.original.copy_(torch.tensor([[0.3, -1.1]]))
        >>> ft.pqt.finalize(m).weight.tolist()
        [[0.3125, -1.0]]
    """
    state = state_of(model)
    if state is None:
        raise ValueError("the model is not under floatsim_torch.pqt()")
    for name, m in model.named_modules():
        if name not in state.layers:
            continue
        w = m.parametrizations.weight.original
        dtype = m.parametrizations.weight[0].dtype  # the layer's own (a BF16 parameter can't run in an FP32 layer)
        parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)
        with torch.no_grad():
            q = cast(w.detach(), state.config) if cast_weights else w.detach()
        m.weight = nn.Parameter(q.to(dtype), requires_grad=w.requires_grad)
    state.hook.remove()
    model._floatsim_pqt = None
    return model


pqt.finalize = finalize  # floatsim_torch.pqt.finalize, as issue 27 names it
pqt.qat = qat  # floatsim_torch.pqt.qat: the STE baseline
