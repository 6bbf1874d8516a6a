"""Gradients of the quantize ops (``torch.library.register_autograd``).

Rounding has a zero derivative almost everywhere, so training uses a
surrogate.  The forward ops carry what the backward does as ints
(:class:`~floatsim_torch.spec.GradSpec`):

* ``ste="identity"`` (default): the straight-through estimator; the incoming
  gradient passes unchanged (converted to the input's dtype).
* ``ste="clipped"``: the derivative of a clamp to the format's range: the
  gradient is zeroed where the forward saturated or overflowed.  Element-wise,
  it passes where ``-max <= x <= max`` (``0 <= x <= max`` for unsigned
  formats); NaN and +-inf inputs get zero.  In blocks, the range is that of
  the input's own block, ``element range * block scale * tensor scale``
  (the scales the forward chose, recomputed by ``blocks.encode`` with the
  same arguments); a block whose scale is NaN gets zero.
* ``grad_format=`` (a Format) or ``grad_block=`` (a BlockFormat, blocks along
  ``grad_axis``): the incoming gradient is rounded to that format with
  ``grad_rounding`` (and ``grad_sr_bits``), e.g. E4M3 forward and E5M2
  backward with stochastic rounding.  With ``ste="clipped"`` the rounded
  gradient is then zeroed where the forward clipped.  Stochastic rounding
  in the backward draws from ``grad_seed`` / ``grad_stream``; by default the
  forward's seed with the stream's top bit flipped (``stream ^ 2**31``), so
  that the backward's random words never repeat the forward's (a stream
  given as a tensor gives its backward ``stream ^ 2**31`` as a tensor too).

Double backward is not supported (rounding has no useful second derivative):
differentiating a gradient that went through these ops raises RuntimeError.

Example:
    >>> import torch, floatsim_torch as ft
    >>> x = torch.tensor([1.0, 500.0], requires_grad=True)
    >>> ft.quantize(x, "e4m3", ste="clipped").sum().backward()
    >>> x.grad.tolist()
    [1.0, 0.0]
"""

from __future__ import annotations

from typing import Any

import torch

import floatsim as fs
from floatsim.blocks import BlockFormat, IntFormat, ScaleRule

from . import ops
from .spec import (
    GradSpec,
    axis_from_ints,
    axis_ints,
    block_from_ints,
    block_ints,
    format_from_ints,
    format_ints,
    grad_from_ints,
    grad_ints,
)

__all__ = [
    "DOUBLE_BACKWARD",
    "FROM_STREAM_TENSOR",
    "BlockQuantizeFunction",
    "QuantizeFunction",
    "STE_MODES",
    "block_bounds",
    "grad_args",
    "range_bounds",
]

#: The ``ste=`` values.
STE_MODES = ("identity", "clipped")
#: What differentiating a gradient of these ops says.
DOUBLE_BACKWARD = (
    "floatsim_torch: double backward through a quantize op is not supported (its backward is "
    "a straight-through or quantized gradient, which has no useful derivative); compute "
    "higher-order gradients without quantization"
)
_TOP_BIT = 1 << 31
_ROUND = fs.Rounding
#: ``grad_stream`` of a call whose stream is a tensor and whose backward takes the
#: default stream: the forward's stream tensor with its top bit flipped.
FROM_STREAM_TENSOR = -1


def grad_args(ste: str, grad_format: Any, grad_block: Any, grad_axis: Any, grad_rounding: Any,
              grad_sr_bits: int | None, grad_seed: int | None, grad_stream: int | None,
              seed: int | None, stream: int, default_axis: Any = -1,
              stream_is_tensor: bool = False) -> tuple[list[int], int | None, int]:
    """Validate the autograd options of a quantize call; return the ops'
    ``(grad, grad_seed, grad_stream)`` arguments.  ``grad_axis=None`` means
    ``default_axis`` (the forward's axis for a block op); ``stream_is_tensor``:
    the forward's stream is a tensor (its default backward stream is then
    :data:`FROM_STREAM_TENSOR`)."""
    if (ste == "identity" and grad_format is None and grad_block is None and grad_rounding is None
            and grad_sr_bits is None and grad_seed is None and grad_stream is None):
        return [0, 0], None, 0  # the default, quickly
    if ste not in STE_MODES:
        raise ValueError(f"ste={ste!r} is not valid; allowed: {', '.join(map(repr, STE_MODES))}")
    if grad_format is not None and grad_block is not None:
        raise ValueError("pass grad_format= (element-wise) or grad_block= (blocks), not both")
    fmt: fs.Format | BlockFormat | None = None
    if grad_format is not None:
        if isinstance(grad_format, BlockFormat) or (
                isinstance(grad_format, str) and grad_format.strip().lower() in fs.blocks.names()):
            raise TypeError(
                f"grad_format={grad_format!r} is a block format; pass it as grad_block= "
                "(with grad_axis=) to round the gradient in blocks"
            )
        fmt = fs.format(grad_format)
    elif grad_block is not None:
        fmt = fs.blocks.format(grad_block)
    if fmt is None:
        for name, v in (("grad_rounding", grad_rounding), ("grad_sr_bits", grad_sr_bits),
                        ("grad_seed", grad_seed), ("grad_stream", grad_stream)):
            if v is not None:
                raise ValueError(f"{name}= needs grad_format= or grad_block= (what to round the "
                                 "gradient to)")
        return list(grad_ints(GradSpec(clipped=ste == "clipped"))), None, 0
    rounding = _ROUND.parse("nearest_even" if grad_rounding is None else grad_rounding)
    if rounding is _ROUND.STOCHASTIC:
        if grad_seed is None:
            if seed is None:
                raise ValueError(
                    "grad_rounding='stochastic' needs grad_seed= (an int; or seed= for a "
                    "stochastic forward, whose seed the backward then shares)"
                )
            grad_seed = seed
            if grad_stream is None:
                grad_stream = FROM_STREAM_TENSOR if stream_is_tensor else stream ^ _TOP_BIT
        ops.check_seed(grad_seed, "grad_seed")
    elif grad_seed is not None or grad_sr_bits is not None:
        raise ValueError("grad_seed= and grad_sr_bits= apply to grad_rounding='stochastic' only")
    grad_stream = 0 if grad_stream is None else grad_stream
    if grad_stream != FROM_STREAM_TENSOR:
        ops.check_stream(grad_stream, "grad_stream")
    spec = GradSpec(ste == "clipped", fmt, rounding, ops.check_sr_bits(grad_sr_bits, "grad_sr_bits"),
                    default_axis if grad_axis is None else grad_axis)
    return list(grad_ints(spec)), ops.seed_int(grad_seed), int(grad_stream)


# ---- the backward ----------------------------------------------------------------------


def range_bounds(fmt: fs.Format) -> tuple[float, float]:
    """``(lo, hi)``: the inputs a format holds without saturating or overflowing."""
    return (-fmt.max if fmt.signed else 0.0), fmt.max


def _round_grad(g: torch.Tensor, spec: GradSpec, seed: int | None, stream: int,
                stream_tensor: torch.Tensor | None) -> torch.Tensor:
    if spec.fmt is None:
        return g
    sr = spec.rounding is _ROUND.STOCHASTIC
    if not sr:
        stream, stream_tensor = 0, None
    elif stream == FROM_STREAM_TENSOR:
        stream, stream_tensor = 0, torch.bitwise_xor(stream_tensor, _TOP_BIT)
    if isinstance(spec.fmt, BlockFormat):
        from . import block_ops  # it imports this module

        return block_ops.quantize(g, list(block_ints(spec.fmt)), spec.rounding.value,
                                  list(axis_ints(spec.axis)), seed if sr else None, stream,
                                  spec.sr_bits, None, None, None, [0, 0], None, 0,
                                  stream_tensor)
    return ops.quantize(g, list(format_ints(spec.fmt)), spec.rounding.value, -1, -1, False,
                        seed if sr else None, stream, None, spec.sr_bits, None,
                        [0, 0], None, 0, stream_tensor)


def _finish(ctx: Any, g: torch.Tensor, mask: torch.Tensor | None,
            stream_tensor: torch.Tensor | None) -> torch.Tensor:
    gi = _round_grad(g, ctx.spec, ctx.grad_seed, ctx.grad_stream, stream_tensor)
    if mask is not None:
        gi = torch.where(mask, gi, torch.zeros((), dtype=gi.dtype, device=gi.device))
    return ops.to_dtype(gi, ctx.x_dtype)


def _once(backward: Any) -> Any:
    """Run ``backward`` without recording a graph; if the caller asked for one
    (``create_graph=True``), make its use raise :data:`DOUBLE_BACKWARD`."""

    def wrapped(ctx: Any, *grads: Any) -> Any:
        with torch.no_grad():
            out = backward(ctx, *grads)
        if torch.is_grad_enabled() and any(isinstance(g, torch.Tensor) and g.requires_grad
                                           for g in grads):
            err = torch._C._functions.DelayedError(DOUBLE_BACKWARD.encode(), 1)
            return (err(out[0]), *out[1:])
        return out

    return wrapped


def _stream_tensor(inputs: tuple, at: int) -> torch.Tensor | None:
    return inputs[at] if len(inputs) > at else None


def _setup_element(ctx: Any, inputs: tuple, output: torch.Tensor) -> None:
    x, fmt = inputs[0], inputs[1]
    ctx.spec = grad_from_ints(inputs[11])
    ctx.grad_seed, ctx.grad_stream = inputs[12], inputs[13]
    ctx.x_dtype = x.dtype
    ctx.n_inputs = len(inputs)
    ctx.bounds = None
    if ctx.spec.clipped:
        ctx.bounds = range_bounds(format_from_ints(fmt))
        held = fs.format(str(x.dtype).removeprefix("torch."))
        ctx.compare64 = not all(held.is_representable(v) for v in ctx.bounds)
    st = _stream_tensor(inputs, 14) if ctx.grad_stream == FROM_STREAM_TENSOR else None
    ctx.save_for_backward(x if ctx.spec.clipped else None, st)


def _backward_element(ctx: Any, g: torch.Tensor) -> tuple:
    mask = None
    x, st = ctx.saved_tensors
    if ctx.bounds is not None:
        lo, hi = ctx.bounds
        if ctx.compare64:
            x = x.to(torch.float64)  # compare exactly: a scalar is rounded to x's dtype
        mask = (x >= lo) & (x <= hi)
    return (_finish(ctx, g, mask, st), *(None,) * (ctx.n_inputs - 1))


torch.library.register_autograd("floatsim::quantize", _once(_backward_element),
                                setup_context=_setup_element)


class QuantizeFunction(torch.autograd.Function):
    """The eager route (:mod:`floatsim_torch.dispatch`) of a quantize call
    that records a gradient: the op's kernel, then the registered setup and
    backward.  (The classic ``forward(ctx, ...)`` form: a ``setup_context``
    staticmethod costs tens of microseconds a call in argument binding.)"""

    @staticmethod
    def forward(ctx: Any, *args: Any) -> torch.Tensor:  # noqa: D102
        y = ops.quantize_kernel(*args)
        _setup_element(ctx, args, y)
        return y

    backward = staticmethod(_once(_backward_element))


def block_bounds(x: torch.Tensor, bf: BlockFormat, encoded: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-element ``(lo, hi)`` float64 ranges of ``x``'s blocks from the
    forward's ``blocks.encode`` results (elements, scales, tensor_scale, zero_points)."""
    from .block_ops import expand_scales  # it imports this module

    _elems, scales, tscale, zps, axis = encoded
    sv = ops.decode(scales, list(format_ints(bf.scale)), torch.float64)
    sv = expand_scales(sv, x.shape, bf, axis)
    if bf.tensor_format is not None:
        sv = sv * tscale.to(torch.float64)
    el = bf.element
    if bf.rule is ScaleRule.MINMAX:
        z = expand_scales(zps.to(torch.float64), x.shape, bf, axis)
        return (0.0 - z) * sv, (float(el.qmax) - z) * sv
    if isinstance(el, IntFormat):
        lo, hi = el.qmin * 2.0**-el.frac_bits, el.max
    else:
        lo, hi = range_bounds(el)
    return lo * sv, hi * sv


def _setup_block(ctx: Any, inputs: tuple, output: torch.Tensor) -> None:
    (x, bfmt, rounding, axis, seed, stream, sr_bits, amax, tscale, _out_dtype, grad, grad_seed,
     grad_stream) = inputs[:13]
    st = _stream_tensor(inputs, 13)
    ctx.spec = grad_from_ints(grad)
    ctx.grad_seed, ctx.grad_stream = grad_seed, grad_stream
    ctx.x_dtype = x.dtype
    ctx.n_inputs = len(inputs)
    ctx.encode_args = None
    if ctx.spec.clipped:
        ctx.encode_args = (bfmt, rounding, axis, seed, stream, sr_bits)
        ctx.save_for_backward(x, amax, tscale, st)
    else:
        ctx.save_for_backward(None, None, None, st)


def _backward_block(ctx: Any, g: torch.Tensor) -> tuple:
    mask = None
    x, amax, tscale, st = ctx.saved_tensors
    if ctx.encode_args is not None:
        from . import block_ops  # it imports this module

        bfmt, rounding, axis, seed, stream, sr_bits = ctx.encode_args
        enc = block_ops.encode(x, bfmt, rounding, axis, seed, stream, sr_bits, amax, tscale, st)
        lo, hi = block_bounds(x, block_from_ints(bfmt), (*enc, axis_from_ints(axis)))
        x64 = x.to(torch.float64)
        mask = (x64 >= lo) & (x64 <= hi)
    return (_finish(ctx, g, mask, st if ctx.grad_stream == FROM_STREAM_TENSOR else None),
            *(None,) * (ctx.n_inputs - 1))


def register_block() -> None:
    """Register the block quantize op's autograd (called once block_ops exists)."""
    torch.library.register_autograd("floatsim::block_quantize", _once(_backward_block),
                                    setup_context=_setup_block)


class BlockQuantizeFunction(torch.autograd.Function):
    """As :class:`QuantizeFunction`, for ``floatsim::block_quantize``."""

    @staticmethod
    def forward(ctx: Any, *args: Any) -> torch.Tensor:  # noqa: D102
        from . import block_ops

        y = block_ops.quantize_kernel(*args)
        _setup_block(ctx, args, y)
        return y

    backward = staticmethod(_once(_backward_block))
