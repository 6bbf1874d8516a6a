"""The emulated GEMM: a layer's three GEMMs as one torch.autograd.Function.

``y = x Wᵀ`` (forward), ``dx = dy W`` (dgrad) and ``dW = dyᵀ x`` (wgrad) each
quantize their two operands as the recipe's :class:`~floatsim.recipes.Gemm`
says, blocked along that GEMM's reduction dimension, then multiply the
quantized values in float32 (float64 for float64 models): exact products,
FP32 accumulation, as FP8/FP4 tensor cores do.  Under ``torch.autocast`` a
high-precision operand is rounded to the autocast dtype (as autocast would)
and the result is returned in it.  A GEMM whose operands are all high
precision runs the very op an unemulated layer runs (``F.linear`` / ``mm``
in the operands' dtype), so the ``fp32`` recipe changes no bit.

Per layer, the scaling state lives in the module's buffers, passed into the
Function so that ``torch.compile`` sees them: ``floatsim_step`` (a counter
that picks the stochastic-rounding stream of each step), ``floatsim_amax``
(the delayed-scaling amax history, one row per role) and ``floatsim_stats``
(telemetry counters).  This module is internal: ``floatsim_torch.emulate``
is the public entry.

The casts are the ``floatsim::quantize`` / ``floatsim::block_quantize``
operators (:mod:`floatsim_torch.ops`, :mod:`floatsim_torch.block_ops`).  Each
role's format, rounding and axes are converted to the operators' ints once,
when the plan is made (:class:`Cast`): Dynamo cannot read the formats' frozen
slots dataclasses inside a compiled region, and the conversion would cost
host time at every call.  The stochastic-rounding stream is a tensor computed
from the step counter (:meth:`floatsim_torch.RandomStream.stream_at`), so a
compiled step is compiled once, whatever the step.

Example:
    >>> import torch
    >>> from floatsim import recipes
    >>> plan = make_plan("demo", recipes.get("mxfp8"), seed=0)
    >>> x = torch.randn(4, 64, requires_grad=True); w = torch.randn(8, 64, requires_grad=True)
    >>> y = apply(plan, x, w, None, step=torch.zeros((), dtype=torch.int64))
    >>> y.sum().backward(); y.shape, x.grad.shape, w.grad.shape
    (torch.Size([4, 8]), torch.Size([4, 64]), torch.Size([8, 64]))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from floatsim.blocks import IntFormat
from floatsim.recipes import ROLES, Operand, Recipe, Scaling
from floatsim.rounding import Rounding

from . import block_ops, ops
from .counters import stats
from .dispatch import OP, route
from .spec import axis_ints, block_ints, format_ints
from .streams import RandomStream

__all__ = ["Cast", "Plan", "apply", "hadamard", "make_plan"]

FWD_L, FWD_R, DG_L, DG_R, WG_L, WG_R = range(6)
#: The roles whose operand is a layer's weight (when the GEMM is a layer's): every
#: DDP rank holds it alike, so its stochastic rounding must agree across ranks.
WEIGHT_ROLES = (FWD_R, DG_R)
_STREAMS_PER_STEP = 64   # 8 call slots x 8 roles: k = step * 64 + 8 * slot + role
_NO_GRAD = (0, 0)        # the ops' GradSpec ints: straight through (the Function has its own)


def _layout_free(op: Operand) -> bool:
    """Whether quantizing with ``op`` gives the same tensor whatever the reduction
    axis is (per-tensor scales, 2-D tiles, no scale), deterministically."""
    if not op.quantized or op.hadamard or op.rounding is Rounding.STOCHASTIC:
        return False
    if op.scaling is Scaling.BLOCK:
        return len(op.format.block) == 2
    return op.scaling is not Scaling.ROW


@dataclass(frozen=True)
class Cast:
    """One role's cast, in primitive values only: what the traced code reads (format
    objects stay out of torch.compile's sight; ``fmt`` is the ops' ints of the Format
    or BlockFormat)."""

    quantized: bool
    fmt: tuple[int, ...] = ()   # spec.format_ints / spec.block_ints
    block: bool = False         # a BlockFormat (else an element Format, no scale)
    axes: str = "reduce"        # 'reduce' (the GEMM's reduction axis), 'tile' (2-D), 'tensor'
    # the ops' axis ints when the reduction axis is -1 and when it is -2
    axis_ints: tuple[tuple[int, ...], tuple[int, ...]] = ((1, -1), (1, -2))
    rounding: str = "nearest_even"
    mode: int = 0               # the rounding as the ops' int (floatsim.Rounding's value)
    sr: bool = False
    sr_bits: int = 0            # the ops' form: 0 is exact stochastic rounding
    margin: int = 0
    history: int = 0            # delayed scaling: steps kept (0: not delayed)
    algo: str = "max"
    # telemetry: every scale a power of two; the block shape; the element's max and emax
    pow2: bool = True
    shape: tuple[int | None, ...] | None = None
    elem_max: float = 0.0
    elem_emax: int = 0
    mbits: int = 0


def _make_cast(op: Operand) -> Cast:
    if not op.quantized:
        return Cast(False)
    bf = op.block_format
    if bf is None:
        axes = "reduce"
    elif bf.block is not None and len(bf.block) == 2:
        axes = "tile"
    elif op.scaling in (Scaling.TENSOR_CURRENT, Scaling.TENSOR_DELAYED):
        axes = "tensor"
    else:
        axes = "reduce"
    pow2 = bf is None or (bf.scale.mbits == 0 and bf.tensor_format is None)
    el = op.format if bf is None else bf.element
    el = el.cast_format if isinstance(el, IntFormat) else el
    fixed = {"tile": (-2, -1), "tensor": None}
    ax = tuple(axis_ints(fixed[axes] if axes in fixed else a) for a in (-1, -2))
    return Cast(True, fmt=format_ints(op.format) if bf is None else block_ints(bf), pow2=pow2,
                shape=None if bf is None else bf.block, elem_max=el.max, elem_emax=el.emax,
                mbits=el.mbits, block=bf is not None, axes=axes, axis_ints=ax,
                rounding=op.rounding.name.lower(), mode=op.rounding.value,
                sr=op.rounding is Rounding.STOCHASTIC, sr_bits=ops.check_sr_bits(op.sr_bits),
                margin=op.margin,
                history=op.amax_history if op.scaling is Scaling.TENSOR_DELAYED else 0,
                algo=op.amax_algo)


@dataclass(frozen=True, eq=False)
class Plan:
    """What one emulated layer (or attention host) does; constant during training."""

    name: str
    recipe: Recipe
    seed: int
    streams: RandomStream         # per-rank streams: activations, gradients
    weight_streams: RandomStream  # streams every rank agrees on: a layer's weight
    ops: tuple[Operand, ...]
    casts: tuple[Cast, ...]
    delayed: tuple[bool, ...]
    hadamard: tuple[int | None, int | None, int | None]   # forward, dgrad, wgrad
    quantized: tuple[bool, bool, bool]                    # per GEMM: any operand quantized
    reuse_w: bool   # dgrad multiplies the W forward quantized (same operand, layout-free)
    reuse_x: bool   # wgrad multiplies the x forward quantized
    telemetry: bool
    history: int    # columns of floatsim_amax (0: no delayed role)
    attention: bool = False   # the recipe's attention switch (hosts)

    @property
    def any_quantized(self) -> bool:
        return any(self.quantized)


def make_plan(name: str, recipe: Recipe, seed: int, *, telemetry: bool = False,
              current_only: bool = False, weight_seed: int | None = None, rank: int = 0,
              world_size: int = 1) -> Plan:
    """The plan of one layer.  ``current_only``: delayed scaling becomes current
    scaling (attention GEMMs: their operands have no identity across steps).
    ``seed`` keys the stochastic rounding of activations and gradients, whose
    streams differ across the ``world_size`` DDP ranks; ``weight_seed`` (default
    ``seed + 1``) keys the weight's, whose streams every rank shares.

    Example:
        >>> from floatsim import recipes
        >>> p = make_plan("l", recipes.get("fp8_current"), 0)
        >>> p.reuse_w, p.reuse_x, p.history
        (True, True, 0)
    """
    ops = []
    for role in ROLES:
        op = recipe.operand(role)
        if current_only and op.scaling is Scaling.TENSOR_DELAYED:
            op = op.replace(scaling=Scaling.TENSOR_CURRENT)
        ops.append(op)
    delayed = tuple(op.scaling is Scaling.TENSOR_DELAYED for op in ops)
    history = max((op.amax_history for op, d in zip(ops, delayed) if d), default=0)
    gemms = [(ops[0], ops[1]), (ops[2], ops[3]), (ops[4], ops[5])]
    wseed = (seed + 1) % (1 << 63) if weight_seed is None else weight_seed
    return Plan(
        name=name, recipe=recipe, seed=seed, ops=tuple(ops),
        streams=RandomStream(seed, rank=rank, world_size=world_size),
        weight_streams=RandomStream(wseed),
        casts=tuple(_make_cast(op) for op in ops),
        delayed=delayed, hadamard=tuple(g[0].hadamard for g in gemms),
        quantized=tuple(g[0].quantized or g[1].quantized for g in gemms),
        reuse_w=ops[FWD_R] == ops[DG_R] and _layout_free(ops[FWD_R]),
        reuse_x=ops[FWD_L] == ops[WG_R] and _layout_free(ops[FWD_L]),
        telemetry=telemetry, history=history, attention=recipe.attention,
    )


# ---- pieces --------------------------------------------------------------------------------
def _sylvester(h: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    H = torch.ones((1, 1), dtype=dtype, device=device)
    while H.shape[0] < h:
        H = torch.cat([torch.cat([H, H], 1), torch.cat([H, -H], 1)], 0)
    return H


def hadamard(t: torch.Tensor, h: int, axis: int, signs: torch.Tensor) -> torch.Tensor:
    """``t`` times the block-diagonal orthonormal random-sign Walsh-Hadamard
    matrix ``diag(signs) H_h / sqrt(h)`` along ``axis`` (-1 or -2), zero-padded
    to a multiple of ``h``.  Applied to both operands of a GEMM along its
    reduction dimension, it cancels in the product.

    Example:
        >>> a, b = torch.randn(3, 32, dtype=torch.float64), torch.randn(5, 32, dtype=torch.float64)
        >>> s = torch.tensor([1.0, -1.0] * 8, dtype=torch.float64)
        >>> torch.allclose(hadamard(a, 16, -1, s) @ hadamard(b, 16, -1, s).T, a @ b.T)
        True
    """
    if axis == -2:
        return hadamard(t.transpose(-1, -2), h, -1, signs).transpose(-1, -2)
    n = t.shape[-1]
    pad = (-n) % h
    if pad:
        t = F.pad(t, (0, pad))
    m = (signs[:h].to(t.dtype)[:, None] * _sylvester(h, t.dtype, t.device)) / math.sqrt(h)
    shape = t.shape
    return (t.reshape(*shape[:-1], shape[-1] // h, h) @ m).reshape(shape)


def _pad_to(t: torch.Tensor, n: int, axis: int) -> torch.Tensor:
    extra = n - t.shape[axis]
    if extra <= 0:
        return t
    return F.pad(t, (0, extra) if axis == -1 else (0, 0, 0, extra))


def _cast(t: torch.Tensor, cs: Cast, axis: int, seed: int | None, stream: torch.Tensor | None,
          amax: torch.Tensor | None) -> torch.Tensor:
    """``t`` cast by the ``floatsim`` operators as ``cs`` says, blocked along ``axis``
    (the kernel itself in eager mode: this runs inside an autograd.Function, under
    no_grad; the registered operator where torch.compile traces)."""
    if not cs.block:
        args = (t, list(cs.fmt), cs.mode, -1, -1, False, seed, 0, None, cs.sr_bits, None,
                list(_NO_GRAD), None, 0, stream)
        return ops.quantize(*args) if route(t, stream) == OP else ops.quantize_kernel(*args)
    args = (t, list(cs.fmt), cs.mode, list(cs.axis_ints[0 if axis == -1 else 1]), seed, 0,
            cs.sr_bits, amax, None, None, list(_NO_GRAD), None, 0, stream)
    if route(t, amax, stream) == OP:
        return block_ops.quantize(*args)
    return block_ops.quantize_kernel(*args)


class _Ctx:
    """Per-call values shared by forward and backward (no tensors)."""

    def __init__(self, plan: Plan, slot: int, tkind: int, linear: bool,
                 acd: torch.dtype | None) -> None:
        self.plan, self.slot, self.tkind, self.linear, self.acd = plan, slot, tkind, linear, acd


def _hp(t: torch.Tensor, c: _Ctx, cd: torch.dtype) -> torch.Tensor:
    """A high-precision operand of a quantized GEMM: rounded to the autocast
    dtype as autocast would, then widened to the compute dtype."""
    return (t.to(c.acd) if c.acd is not None else t).to(cd)


def _quantize(t: torch.Tensor, c: _Ctx, role: int, axis: int, base: torch.Tensor | None,
              amax: torch.Tensor | None, tel: torch.Tensor | None, cd: torch.dtype,
              ) -> torch.Tensor:
    """Operand ``t`` (compute dtype, Hadamard applied) cast as ``role`` says,
    blocked along ``axis``; telemetry counted."""
    plan = c.plan
    cs = plan.casts[role]
    if not cs.quantized:
        return _hp(t, c, cd)
    seed = stream = None
    if cs.sr:
        # a layer's weight rounds alike on every DDP rank; activations and gradients don't
        rs = plan.weight_streams if c.linear and role in WEIGHT_ROLES else plan.streams
        seed, stream = rs.seed, rs.stream_at(base + role)
    if cs.block and amax is None and cs.margin:
        ax: int | tuple[int, int] | None = {"tile": (-2, -1), "tensor": None}.get(cs.axes, axis)
        amax = t.detach().abs().amax(dim=ax, keepdim=True) if ax is not None else \
            t.detach().abs().amax()
        amax = amax.double() * 2.0 ** cs.margin
    q = _cast(t, cs, axis, seed, stream, amax)
    if tel is not None:
        tel[c.tkind, role] += stats(t, q, cs, axis)
    return q


def _used_amax(hist: torch.Tensor, plan: Plan, role: int, current: torch.Tensor) -> torch.Tensor:
    """The delayed amax of ``role``: its history's max (or most recent) times
    2**margin; the current amax until something was recorded."""
    cs = plan.casts[role]
    h = hist[role, : cs.history]
    used = h.amax() if cs.algo == "max" else h[0]
    used = torch.where(used > 0, used, current)
    return used.double() * 2.0 ** cs.margin


def _record(hist: torch.Tensor, plan: Plan, roles: tuple[int, ...], current: torch.Tensor) -> None:
    """Push ``current`` into the histories of the delayed ``roles`` (a non-finite
    amax is not recorded: the previous one is repeated)."""
    for r in roles:
        if plan.delayed[r]:
            h = hist[r]
            now = torch.where(torch.isfinite(current), current, h[0]).reshape(1).to(h.dtype)
            h.copy_(torch.cat([now, h[:-1]]))


def _delayed_amaxes(hist: torch.Tensor | None, plan: Plan, roles: tuple[int, ...],
                    t: torch.Tensor) -> tuple[list[torch.Tensor | None], torch.Tensor | None]:
    if hist is None or not any(plan.delayed[r] for r in roles):
        return [None] * len(roles), None
    current = t.detach().abs().amax().float()
    return [_used_amax(hist, plan, r, current) if plan.delayed[r] else None
            for r in roles], current


# ---- forward and backward -------------------------------------------------------------------
def _forward(c: _Ctx, a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None,
             base: torch.Tensor, hist: torch.Tensor | None, tel: torch.Tensor | None,
             signs: torch.Tensor | None) -> tuple[torch.Tensor, list]:
    plan = c.plan
    a2 = a.reshape(-1, a.shape[-1]) if c.linear else a
    out_dtype = c.acd if c.acd is not None else (
        a.dtype if a.dtype == b.dtype else torch.promote_types(a.dtype, b.dtype))
    (am_fx, am_wx), cur_x = _delayed_amaxes(hist, plan, (FWD_L, WG_R), a2)
    (am_fw, am_dw), cur_w = _delayed_amaxes(hist, plan, (FWD_R, DG_R), b)
    cd = torch.float64 if torch.float64 in (a.dtype, b.dtype) else torch.float32
    qa = qb = None
    if not plan.quantized[0]:
        if c.linear:
            ah, bh = (a.to(c.acd), b.to(c.acd)) if c.acd is not None else (a, b)
            bias_h = bias.to(c.acd) if bias is not None and c.acd is not None else bias
            y = F.linear(ah, bh, bias_h)
        else:
            y = _hp(a, c, out_dtype) @ _hp(b, c, out_dtype).transpose(-1, -2)
    else:
        A, B = a2.to(cd), b.to(cd)
        h = plan.hadamard[0]
        if h:
            A, B = hadamard(A, h, -1, signs), hadamard(B, h, -1, signs)
        qa = _quantize(A, c, FWD_L, -1, base, am_fx, tel, cd)
        qb = _quantize(B, c, FWD_R, -1, base, am_fw, tel, cd)
        if c.linear:
            y = F.linear(qa, qb, None if bias is None else bias.to(cd))
            y = y.reshape(*a.shape[:-1], y.shape[-1])
        else:
            y = qa @ qb.transpose(-1, -2)
        y = y.to(out_dtype)
    if hist is not None:
        if cur_x is not None:
            _record(hist, plan, (FWD_L, WG_R), cur_x)
        if cur_w is not None:
            _record(hist, plan, (FWD_R, DG_R), cur_w)
    # What backward multiplies: the forward's quantized tensors where the recipe
    # lets them be reused, else the originals (quantized again along the new axis).
    keep_b = qb if plan.reuse_w and plan.quantized[1] else b
    keep_a = qa if plan.reuse_x and plan.quantized[2] else a2
    amaxes = [t if t is not None else torch.zeros(()) for t in (am_wx, am_dw)]
    return y, [keep_a, keep_b, base, *amaxes]


def _backward(c: _Ctx, dy: torch.Tensor, a_shape: torch.Size, a_dtype: torch.dtype,
              b_dtype: torch.dtype, bias_dtype: torch.dtype | None, saved: tuple,
              hist: torch.Tensor | None, tel: torch.Tensor | None, signs: torch.Tensor | None,
              needs: tuple[bool, bool, bool]) -> tuple:
    plan = c.plan
    keep_a, keep_b, base, am_wx, am_dw = saved
    dy2 = dy.reshape(-1, dy.shape[-1]) if c.linear else dy
    (am_dg, am_wg), cur = _delayed_amaxes(hist, plan, (DG_L, WG_L), dy2)
    cd = torch.float64 if torch.float64 in (a_dtype, b_dtype) else torch.float32
    da = db = dbias = None
    if needs[0]:
        if not plan.quantized[1]:
            dyh = dy2.to(c.acd) if c.acd is not None else dy2
            da = dyh.matmul(_hp(keep_b, c, dyh.dtype) if c.acd is not None else keep_b)
        else:
            DY, B = dy2.to(cd), keep_b.to(cd)
            h = plan.hadamard[1]
            if h:
                DY, B = hadamard(DY, h, -1, signs), hadamard(B, h, -2, signs)
            qdy = _quantize(DY, c, DG_L, -1, base, am_dg, tel, cd)
            # A reused W was counted under forward.rhs (telemetry reports it there).
            qb = B if plan.reuse_w else _quantize(
                B, c, DG_R, -2, base, am_dw if plan.delayed[DG_R] else None, tel, cd)
            da = qdy.matmul(qb)
        da = da.reshape(a_shape).to(a_dtype)
    if needs[1]:
        if not plan.quantized[2]:
            dyh = dy2.to(c.acd) if c.acd is not None else dy2
            ah = keep_a.to(c.acd) if c.acd is not None else keep_a
            db = dyh.transpose(-1, -2).matmul(ah)
        else:
            DY, A = dy2.to(cd), keep_a.to(cd)
            h = plan.hadamard[2]
            if h:
                m = -(-DY.shape[-2] // h) * h
                DY, A = _pad_to(DY, m, -2), _pad_to(A, m, -2)
                DY, A = hadamard(DY, h, -2, signs), hadamard(A, h, -2, signs)
            qdy = _quantize(DY, c, WG_L, -2, base, am_wg, tel, cd)
            qa = A if plan.reuse_x else _quantize(
                A, c, WG_R, -2, base, am_wx if plan.delayed[WG_R] else None, tel, cd)
            db = qdy.transpose(-1, -2).matmul(qa)
        db = db.to(b_dtype)
    if needs[2]:
        dbias = (dy2.to(c.acd) if c.acd is not None else dy2).sum(0).to(bias_dtype)
    if hist is not None and cur is not None:
        _record(hist, plan, (DG_L, WG_L), cur)
    return da, db, dbias


class _Gemm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, bias, step, hist, tel, signs, plan, slot, tkind, linear):  # noqa: ANN001, ANN205
        dev = a.device.type
        acd = torch.get_autocast_dtype(dev) if torch.is_autocast_enabled(dev) else None
        c = _Ctx(plan, slot, tkind, linear, acd)
        base = step.detach() * _STREAMS_PER_STEP + 8 * slot
        if acd is None:
            y, saved = _forward(c, a, b, bias, base, hist, tel, signs)
        else:   # the casts and GEMMs below choose their dtypes themselves
            with torch.autocast(dev, enabled=False):
                y, saved = _forward(c, a, b, bias, base, hist, tel, signs)
        ctx.c = c
        ctx.meta = (a.shape, a.dtype, b.dtype, None if bias is None else bias.dtype)
        ctx.bufs = (hist, tel, signs)
        ctx.save_for_backward(*saved)
        return y

    @staticmethod
    def backward(ctx, dy):  # noqa: ANN001, ANN205
        c = ctx.c
        a_shape, a_dtype, b_dtype, bias_dtype = ctx.meta
        hist, tel, signs = ctx.bufs
        needs = (ctx.needs_input_grad[0], ctx.needs_input_grad[1],
                 bias_dtype is not None and ctx.needs_input_grad[2])
        args = (c, dy, a_shape, a_dtype, b_dtype, bias_dtype, ctx.saved_tensors, hist, tel,
                signs, needs)
        if torch.is_autocast_enabled(dy.device.type):
            with torch.autocast(dy.device.type, enabled=False):
                da, db, dbias = _backward(*args)
        else:
            da, db, dbias = _backward(*args)
        return da, db, dbias, None, None, None, None, None, None, None, None


def apply(plan: Plan, a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None, *,
          step: torch.Tensor, hist: torch.Tensor | None = None,
          tel: torch.Tensor | None = None, signs: torch.Tensor | None = None,
          slot: int = 0, tkind: int = 0, linear: bool = True) -> torch.Tensor:
    """``a @ bᵀ (+ bias)`` with the plan's three GEMMs.

    ``linear=True``: ``a`` is (..., K), ``b`` (N, K) (a Linear's input and
    weight; tokens are every leading index).  ``linear=False``: ``a`` (..., M,
    K) and ``b`` (..., N, K) with the same leading (batch) shape, no bias.
    ``step`` is the layer's step counter (the stochastic-rounding stream of
    this call is the plan's RandomStream's ``stream_at(step * 64 + 8 * slot +
    role)``); ``hist``, ``tel`` and
    ``signs`` the layer's amax history, telemetry counters and Hadamard signs.
    """
    return _Gemm.apply(a, b, bias, step, hist, tel, signs, plan, slot, tkind, linear)
