"""``emulate(model, recipe)``: train any PyTorch model as if its GEMMs ran in a
low-precision recipe.

``emulate`` changes the selected modules in place (documented, as torchao's
``convert_to_float8_training``): each ``nn.Linear``, ``nn.Conv1d`` and
``nn.Conv2d`` gets a subclass of its own class whose ``forward`` runs the
recipe's three GEMMs (``floatsim_torch.gemm``), plus a few ``floatsim_*``
buffers (the step counter for stochastic rounding, the delayed-scaling amax
history, telemetry counters, Hadamard signs).  Parameters keep their names
and objects, so optimizers, DDP and state dicts see the same model;
``unemulate`` puts the original classes back and removes the buffers, leaving
no trace.

With ``recipe.attention`` the functional GEMMs of the selected non-Linear
modules are emulated too: ``torch.matmul`` / ``@`` / ``torch.bmm`` and both
GEMMs of ``F.scaled_dot_product_attention`` (``q kᵀ`` and ``p v``; the softmax
stays in float32), intercepted by a TorchFunctionMode while that module's
forward runs (the innermost selected module owns a call).  ``F.linear`` on a
weight that no Linear owns is emulated as a GEMM of the module that calls it;
on an emulated layer's weight it uses that layer's state.
``nn.MultiheadAttention`` computes its projections inside
``F.multi_head_attention_forward``, out of an interceptor's sight: it stays in
high precision (with a warning); write attention with Linear layers and
``F.scaled_dot_product_attention`` to emulate it.

Example:
    >>> import torch
    >>> from torch import nn
    >>> import floatsim_torch as fst
    >>> model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 32), nn.Linear(32, 4))
    >>> _ = fst.emulate(model, "mxfp8", modules=fst.all_but_ends(model))
    >>> [type(m).__name__ for m in model]
    ['Linear', 'ReLU', 'EmulatedLinear', 'Linear']
    >>> model(torch.randn(8, 32)).sum().backward()
    >>> fst.unemulate(model) is model, type(model[2]).__name__
    (True, 'Linear')
"""

from __future__ import annotations

import contextlib
import fnmatch
import math
import warnings
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from floatsim import recipes as _recipes
from floatsim.recipes import Recipe

from . import gemm
from .counters import STATS
from .gemm import Plan
from .pqtrain import finalize, pqt, state_of

__all__ = ["all_but_ends", "emulate", "emulated", "plans", "unemulate"]

Filter = Callable[[nn.Module, str], bool]
ModulesArg = type | tuple | str | list | Filter | None

_GEMM_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d)
# Modules with GEMMs inside that emulate() cannot reach: selected explicitly, they are an error.
_UNSUPPORTED = (nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
                nn.RNNBase, nn.Bilinear, nn.MultiheadAttention)
_TKINDS = {"linear": 0, "qk": 1, "pv": 2, "matmul": 3}
_MATMULS = (torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.bmm,
            torch.Tensor.bmm)
_ATTR = "_floatsim"          # module attribute holding the Plan
_OWNER = "_floatsim_layer"   # parameter attribute: the emulated layer that owns a weight
_HP = "_floatsim_hp"         # parameter attribute: a weight of a layer left in high precision


# ---- selection ------------------------------------------------------------------------------
def _as_filter(modules: ModulesArg) -> tuple[Filter, bool]:
    """(filter, explicit): explicit filters (types) make an unsupported match an error."""
    if modules is None:
        return (lambda m, n: True), False
    if isinstance(modules, type) or (isinstance(modules, tuple) and modules
                                     and all(isinstance(t, type) for t in modules)):
        return (lambda m, n: isinstance(m, modules)), True
    if isinstance(modules, str):
        modules = [modules]
    if isinstance(modules, list) and all(isinstance(p, str) for p in modules):
        pats = list(modules)
        return (lambda m, n: any(fnmatch.fnmatchcase(n, p) for p in pats)), False
    if callable(modules):
        return modules, False
    raise TypeError(
        f"modules={modules!r}: pass None (every Linear/Conv), a module type or tuple of types, "
        "a name pattern or list of patterns (fnmatch, e.g. 'blocks.*.mlp.*'), or a callable "
        "(module, name) -> bool"
    )


def all_but_ends(model: nn.Module, n: int = 1) -> Filter:
    """A ``modules=`` filter that leaves the first and last ``n`` Linear/Conv
    layers (in registration order) in high precision: the usual choice for
    embeddings-like input layers and the output head.

    Example:
        >>> m = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4))
        >>> keep = all_but_ends(m)
        >>> [keep(layer, name) for name, layer in m.named_children()]
        [False, True, False]
    """
    layers = [name for name, m in model.named_modules() if isinstance(m, _GEMM_TYPES)]
    ends = set(layers[:n]) | set(layers[-n:] if n else [])
    return lambda m, name: name not in ends


def _layer_seed(seed: int, name: str) -> int:
    """Each layer's Philox key, from the user's seed and the layer's name (the
    same on every DDP rank: the ranks differ by their streams)."""
    return (seed * 0x9E3779B97F4A7C15 + zlib.crc32(name.encode())) % (1 << 63)


def _ranks() -> tuple[int, int]:
    """(rank, world size) of the default process group; (0, 1) without one."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _check_layer(name: str, m: nn.Module, recipe: Recipe) -> None:
    """Refuse what the emulated forward would get wrong, naming the layer."""
    base = next(t for t in _GEMM_TYPES if isinstance(m, t))
    if isinstance(m, nn.modules.lazy.LazyModuleMixin) and m.has_uninitialized_params():
        raise ValueError(f"cannot emulate {name} ({type(m).__name__}): its parameters are not "
                         "initialized yet; run one forward pass before emulate()")
    if type(m).forward is not base.forward:
        raise ValueError(
            f"cannot emulate {name or 'the model'} ({type(m).__name__}): it overrides "
            f"{base.__name__}.forward, so its GEMM is not the one emulate() replaces; leave it "
            "out with modules="
        )
    if isinstance(m, nn.Conv1d | nn.Conv2d) and m.groups != 1:
        raise ValueError(f"cannot emulate {name} ({type(m).__name__}, groups={m.groups}): "
                         "grouped convolutions are not supported; leave it out with modules=")
    if isinstance(m, nn.Linear):
        n_out, k = m.out_features, m.in_features
    else:
        n_out, k = m.out_channels, m.in_channels * math.prod(m.kernel_size)
    for gname, red, what in (("forward", k, "input features"), ("dgrad", n_out, "output features")):
        g = getattr(recipe, gname)
        h = g.lhs.hadamard
        if h and red % h:
            raise ValueError(
                f"layer {name} ({type(m).__name__}) has {red} {what}, the reduction dimension "
                f"of its {gname} GEMM, which the recipe's {h}-wide Hadamard blocks cannot tile; "
                f"use a size that is a multiple of {h}, or leave the layer out with modules="
            )


# ---- module forwards ------------------------------------------------------------------------
def _bufs(m: nn.Module) -> dict[str, Any]:
    tel = getattr(m, "floatsim_stats", None) if getattr(m, "_floatsim_counting", True) else None
    return dict(step=m.floatsim_step, hist=getattr(m, "floatsim_amax", None), tel=tel,
                signs=getattr(m, "floatsim_signs", None))


def _linear_forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    plan: Plan = getattr(self, _ATTR)
    if not plan.any_quantized:
        return self._floatsim_base.forward(self, x)
    self.floatsim_step.add_(1)
    return _run(plan, x, self.weight, self.bias, **_bufs(self))


def _conv_forward(self: nn.Conv1d | nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """A convolution as unfold (im2col) + the emulated GEMM: the forward GEMM
    reduces over C_in * kernel taps; dgrad reduces over C_out (the kernel taps
    of col2im are summed in float32); wgrad reduces over batch * positions."""
    plan: Plan = getattr(self, _ATTR)
    if not plan.any_quantized:
        return self._floatsim_base.forward(self, x)
    self.floatsim_step.add_(1)
    one_d = isinstance(self, nn.Conv1d)
    if one_d:
        x = x.unsqueeze(-2)
    ks, st, dil = tuple(self.kernel_size), tuple(self.stride), tuple(self.dilation)
    if one_d:
        ks, st, dil = (1, *ks), (1, *st), (1, *dil)
    if isinstance(self.padding, str) or self.padding_mode != "zeros":
        # 'same' / 'valid' and the non-zero padding modes: pad explicitly, unfold unpadded.
        rev = list(self._reversed_padding_repeated_twice) + ([0, 0] if one_d else [])
        mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
        x = F.pad(x, rev, mode=mode) if any(rev) else x
        pad: tuple[int, ...] = (0, 0)
    else:
        pad = ((0,) if one_d else ()) + tuple(self.padding)
    n, _, h, w = x.shape
    cols = F.unfold(x, ks, dilation=dil, padding=pad, stride=st)   # (N, C*kh*kw, L)
    ho = (h + 2 * pad[0] - dil[0] * (ks[0] - 1) - 1) // st[0] + 1
    wo = (w + 2 * pad[1] - dil[1] * (ks[1] - 1) - 1) // st[1] + 1
    weight = self.weight.reshape(self.weight.shape[0], -1)
    y = _run(plan, cols.transpose(1, 2), weight, self.bias, **_bufs(self))
    y = y.transpose(1, 2).reshape(n, -1, ho, wo)
    return y.squeeze(-2) if one_d else y


def _run(plan: Plan, *args: Any, **kw: Any) -> torch.Tensor:
    _BUSY[0] = True
    try:
        return gemm.apply(plan, *args, **kw)
    finally:
        _BUSY[0] = False


class _Host(TorchFunctionMode):
    """Routes a module's functional GEMMs to the emulated GEMM while its forward runs."""

    def __init__(self, module: nn.Module, attention: bool) -> None:
        super().__init__()
        self.module, self.attention, self.calls = module, attention, 0

    def _gemm(self, a: torch.Tensor, b: torch.Tensor, kind: str) -> torch.Tensor:
        """a @ bᵀ on broadcast batch dims, as the host's GEMM number ``self.calls``."""
        m = self.module
        slot = self.calls % 8
        self.calls += 1
        batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a = a.expand(*batch, *a.shape[-2:])
        b = b.expand(*batch, *b.shape[-2:])
        return _run(getattr(m, _ATTR), a, b, None, slot=slot, tkind=_TKINDS[kind],
                    linear=False, **_bufs(m))

    def _linear(self, x: torch.Tensor, w: torch.Tensor,
                bias: torch.Tensor | None = None) -> torch.Tensor:
        """F.linear: the owning emulated layer's GEMM, the host's own for a weight
        no layer owns, or untouched for a layer left in high precision."""
        owner = getattr(w, _OWNER, None)
        if getattr(w, _HP, False) or (owner is not None
                                      and not getattr(owner, _ATTR).any_quantized):
            return F.linear(x, w, bias)
        if owner is not None:   # e.g. nn.MultiheadAttention's out_proj, called functionally
            owner.floatsim_step.add_(1)
            return _run(getattr(owner, _ATTR), x, w, bias, **_bufs(owner))
        slot = self.calls % 8
        self.calls += 1
        return _run(getattr(self.module, _ATTR), x, w, bias, slot=slot,
                    tkind=_TKINDS["linear"], **_bufs(self.module))

    def _matmul(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if a.dim() < 2 or b.dim() < 2:
            return torch.matmul(a, b)
        return self._gemm(a, b.transpose(-1, -2), "matmul")

    def _sdpa(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
              attn_mask: torch.Tensor | None = None, dropout_p: float = 0.0,
              is_causal: bool = False, scale: float | None = None,
              enable_gqa: bool = False) -> torch.Tensor:
        """scaled_dot_product_attention as its two GEMMs around a float32 softmax."""
        if enable_gqa and k.shape[-3] != q.shape[-3]:
            rep = q.shape[-3] // k.shape[-3]
            k, v = k.repeat_interleave(rep, -3), v.repeat_interleave(rep, -3)
        scale = 1.0 / q.shape[-1] ** 0.5 if scale is None else scale
        s = self._gemm(q, k, "qk") * scale
        ls, lk = q.shape[-2], k.shape[-2]
        if is_causal:
            keep = torch.ones(ls, lk, dtype=torch.bool, device=q.device).tril()
            s = s.masked_fill(~keep, float("-inf"))
        if attn_mask is not None:
            s = s.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool \
                else s + attn_mask
        p = torch.softmax(s.float(), dim=-1).to(s.dtype)
        if dropout_p > 0.0:
            p = F.dropout(p, dropout_p)
        return self._gemm(p, v.transpose(-1, -2), "pv")

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        kwargs = kwargs or {}
        if _BUSY[0]:   # the emulated GEMM's own ops, seen by an enclosing host's mode
            return func(*args, **kwargs)
        if func is F.linear:
            return self._linear(*args, **kwargs)
        if self.attention and func in _MATMULS:
            return self._matmul(args[0], args[1])
        if self.attention and func is F.scaled_dot_product_attention:
            return self._sdpa(*args, **kwargs)
        return func(*args, **kwargs)


_BUSY = [False]


def _host_forward(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
    plan: Plan = getattr(self, _ATTR)
    if not plan.any_quantized:   # nothing to emulate: the module's own ops, bit for bit
        return self._floatsim_base.forward(self, *args, **kwargs)
    self.floatsim_step.add_(1)
    with _Host(self, plan.attention):
        return self._floatsim_base.forward(self, *args, **kwargs)


# ---- class swapping and buffers ---------------------------------------------------------
_CLASSES: dict[tuple[type, str], type] = {}


def _swap(m: nn.Module, forward: Callable) -> None:
    base = type(m)
    key = (base, forward.__name__)
    if key not in _CLASSES:
        _CLASSES[key] = type(f"Emulated{base.__name__}", (base,),
                             {"forward": forward, "_floatsim_base": base,
                              "__module__": base.__module__})
    m.__class__ = _CLASSES[key]


def _fill_missing(module: nn.Module) -> Callable:
    """load_state_dict pre-hook: a checkpoint saved without emulation loads into
    an emulated model (its floatsim_* buffers keep their current values)."""
    def hook(state_dict: dict, prefix: str, *args: Any) -> None:
        for name, buf in module.named_buffers(recurse=False):
            if name.startswith("floatsim_") and prefix + name not in state_dict:
                state_dict[prefix + name] = buf
    return hook


def _attach(m: nn.Module, plan: Plan, *, n_kinds: int) -> None:
    dev = next((p.device for p in m.parameters(recurse=False)), None)
    dev = dev or next((p.device for p in m.parameters()), torch.device("cpu"))
    setattr(m, _ATTR, plan)
    m.register_buffer("floatsim_step", torch.zeros((), dtype=torch.int64, device=dev))
    if plan.history:
        m.register_buffer("floatsim_amax", torch.zeros(len(plan.ops), plan.history, device=dev))
    if plan.telemetry:
        m.register_buffer("floatsim_stats", torch.zeros(n_kinds, len(plan.ops), len(STATS),
                                                        dtype=torch.float64, device=dev),
                          persistent=False)
    hs = [h for h in plan.hadamard if h]
    if hs:
        g = torch.Generator().manual_seed(plan.seed)
        signs = torch.randint(0, 2, (max(hs),), generator=g) * 2.0 - 1.0
        m.register_buffer("floatsim_signs", signs.to(dev), persistent=False)
    m._floatsim_hook = m._register_load_state_dict_pre_hook(_fill_missing(m))


def emulate(model: nn.Module, recipe: Recipe | str, *, modules: ModulesArg = None,
            seed: int = 0, telemetry: bool = False) -> nn.Module:
    """Emulate ``recipe`` in ``model``'s GEMMs, in place; returns ``model``.

    Args:
        model: any nn.Module (its class is not edited; see the module docstring).
        recipe: a :class:`floatsim.recipes.Recipe` or a registered name.
        modules: which layers: None (every nn.Linear / nn.Conv1d / nn.Conv2d,
            and with ``recipe.attention`` every other module's functional
            GEMMs), a module type or tuple of types, an fnmatch name pattern
            or list of them (qualified names as in ``named_modules()``), or a
            callable ``(module, name) -> bool`` (see :func:`all_but_ends`).
        seed: key of the stochastic-rounding bits (with each layer's name); the
            stream advances with each layer's step counter and, for activations
            and gradients, differs across DDP ranks (docs/training.md).
        telemetry: count saturated / flushed / NaN values and the SQNR of every
            cast (``floatsim_torch.telemetry(model)`` reads them).

    A recipe with ``weight_noise`` (``pqt_e3m2``, ...) puts
    :func:`floatsim_torch.pqt` on the selected layers instead (with ``seed``),
    its operands being in high precision; :func:`floatsim_torch.pqt.finalize`
    casts the weights at the end, and :func:`unemulate` removes it leaving
    the parameters as trained.

    Raises:
        ValueError: unknown recipe; a selected layer the recipe cannot handle
            (a grouped or 3-D convolution, an RNN, a forward override); a
            Hadamard size that a layer's reduction dimension cannot use;
            ``model`` already emulated.
        NotImplementedError: a recipe whose accumulator is not 'fp32'.
    """
    recipe = _recipes.get(recipe)
    if recipe.accumulator != "fp32":
        raise NotImplementedError(
            f"recipe {recipe.name!r} asks for accumulator {recipe.accumulator!r}; emulate() "
            "accumulates in FP32 (emulated accumulators come with floatsim.mac)"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r} must be an int >= 0")
    if any(hasattr(m, _ATTR) for m in model.modules()):
        raise ValueError("model is emulated already; call floatsim_torch.unemulate(model) first")
    keep, explicit = _as_filter(modules)
    if recipe.weight_noise is not None:
        return _weight_noise(model, recipe, keep, seed)
    chosen: list[tuple[str, nn.Module, str]] = []
    skipped: set[int] = set()
    warn_mha = False
    for name, m in model.named_modules():
        selected = keep(m, name)
        if isinstance(m, _GEMM_TYPES):
            if id(m) in skipped:
                continue
            if selected:
                _check_layer(name, m, recipe)
                chosen.append((name, m, "layer"))
        elif isinstance(m, _UNSUPPORTED):
            if isinstance(m, nn.MultiheadAttention):
                # Its projections run through F.multi_head_attention_forward, which
                # emulate() cannot see into: the whole module stays in high precision.
                skipped.update(id(c) for c in m.modules() if c is not m)
                warn_mha = warn_mha or selected
            if selected and (explicit or modules is not None):
                raise ValueError(
                    f"cannot emulate {name or 'the model'} ({type(m).__name__}): emulate() "
                    "handles nn.Linear, nn.Conv1d and nn.Conv2d (and, with recipe.attention, "
                    "the functional matmuls of other modules); leave it out with modules="
                )
        elif selected and recipe.attention and type(m).__module__.split(".")[0] != "torch":
            # Hosts: the user's own modules (torch's containers and element-wise
            # modules make no matmul calls of their own).
            chosen.append((name, m, "host"))
        elif selected and explicit:
            raise ValueError(
                f"cannot emulate {name or 'the model'} ({type(m).__name__}): it is not a Linear "
                "or Conv1d/Conv2d layer, and recipe.attention is off; pass "
                "recipe.replace(attention=True) to emulate its functional matmuls"
            )
    rank, world = _ranks()
    for name, m, kind in chosen:
        seeds = dict(weight_seed=_layer_seed(seed, name + "/weight"), rank=rank, world_size=world)
        if kind == "layer":
            plan = gemm.make_plan(name, recipe, _layer_seed(seed, name), telemetry=telemetry,
                                  **seeds)
            _attach(m, plan, n_kinds=1)
            _swap(m, _conv_forward if isinstance(m, nn.Conv1d | nn.Conv2d) else _linear_forward)
            setattr(m.weight, _OWNER, m)
        else:
            plan = gemm.make_plan(name, recipe, _layer_seed(seed, name), telemetry=telemetry,
                                  current_only=True, **seeds)
            _attach(m, plan, n_kinds=len(_TKINDS))
            _swap(m, _host_forward)
    emulated_ids = {id(m) for _, m, _ in chosen}
    for m in model.modules():
        if isinstance(m, _GEMM_TYPES) and id(m) not in emulated_ids:
            setattr(m.weight, _HP, True)
    if warn_mha:
        warnings.warn("nn.MultiheadAttention computes its projections functionally "
                      "(F.multi_head_attention_forward): emulate() leaves it in high precision",
                      stacklevel=2)
    return model


def _weight_noise(model: nn.Module, recipe: Recipe, keep: Filter, seed: int) -> nn.Module:
    """A recipe with ``weight_noise``: :func:`floatsim_torch.pqt` on the
    selected Linear / Conv layers, nothing else (its operands must stay in
    high precision)."""
    if recipe.quantizes or recipe.attention:
        raise NotImplementedError(
            f"recipe {recipe.name!r} has weight_noise and quantized operands (or attention); "
            "emulate() applies weight noise alone: call floatsim_torch.pqt(model, "
            "recipe.weight_noise) and emulate() a recipe without it yourself")
    return pqt(model, recipe.weight_noise, seed=seed,
               modules=lambda m, name: isinstance(m, _GEMM_TYPES) and keep(m, name))


def unemulate(model: nn.Module) -> nn.Module:
    """Undo :func:`emulate`: original classes back, floatsim buffers and
    attributes removed; returns ``model``.

    Example:
        >>> m = emulate(nn.Linear(8, 8), "bf16")
        >>> sorted(m.state_dict())
        ['bias', 'floatsim_step', 'weight']
        >>> sorted(unemulate(m).state_dict())
        ['bias', 'weight']
    """
    if state_of(model) is not None:   # a recipe's weight noise: the parameters as trained
        finalize(model, cast_weights=False)
    for m in model.modules():
        for p in m.parameters(recurse=False):
            for attr in (_OWNER, _HP):
                if hasattr(p, attr):
                    delattr(p, attr)
        if not hasattr(m, _ATTR):
            continue
        m.__class__ = m._floatsim_base
        delattr(m, _ATTR)
        m._floatsim_hook.remove()
        del m._floatsim_hook
        for name in [n for n, _ in m.named_buffers(recurse=False) if n.startswith("floatsim_")]:
            delattr(m, name)
        if hasattr(m, "_floatsim_counting"):
            del m._floatsim_counting
    return model


@contextlib.contextmanager
def emulated(model: nn.Module, recipe: Recipe | str, **kw: Any) -> Iterator[nn.Module]:
    """``with emulated(model, "mxfp4"): ...``: :func:`emulate` on entry,
    :func:`unemulate` on exit (also on an exception).

    Example:
        >>> m = nn.Linear(32, 4)
        >>> with emulated(m, "mxfp4") as em:
        ...     type(em).__name__
        'EmulatedLinear'
        >>> type(m).__name__
        'Linear'
    """
    emulate(model, recipe, **kw)
    try:
        yield model
    finally:
        unemulate(model)


def plans(model: nn.Module) -> dict[str, Plan]:
    """The emulated layers and hosts of ``model`` by qualified name, with their plans."""
    return {n: getattr(m, _ATTR) for n, m in model.named_modules() if hasattr(m, _ATTR)}

