"""``floatsim_torch.noise.pseudo_quantize``: pseudo-quantization noise on torch tensors.

The core's :func:`floatsim.noise.pseudo_quantize` (docs/pqt.md) as a torch
operator, ``floatsim::pseudo_quantize``: a CPU tensor reaches the core's Numba
loop as a numpy view of its memory and the result is written into a tensor
allocated here; a CUDA tensor goes to the core's CUDA kernel on torch's
current stream (its amax is reduced on the device: no host synchronisation).
The values are bit for bit the core's on the same values, seed and stream.

The gradient passes straight through to the input (the noise is a constant
offset: d y / d w = 1), in the input's dtype: what pseudo-quantization
training needs (:func:`floatsim_torch.pqt.pqt`).  The operator has a fake
implementation, so it works under ``torch.compile``; a one-element integer
tensor as ``stream`` is read when the kernel runs (a stream that changes at
every step then recompiles nothing).

Example:
    >>> import torch, numpy as np, floatsim as fs
    >>> from floatsim_torch.noise import pseudo_quantize
    >>> w = torch.linspace(-0.05, 0.05, 6)
    >>> y = pseudo_quantize(w, "e3m2", "r", seed=3, stream=1)
    >>> want = fs.noise.pseudo_quantize(w.numpy(), "e3m2", "r", seed=3, stream=1)
    >>> bool(np.array_equal(y.numpy(), want))
    True
"""

from __future__ import annotations

from typing import Any

import torch

import floatsim as fs
from floatsim.noise import Noise, PQTConfig

from . import views
from .dispatch import OP, memo, route
from .ops import check_seed, check_stream_arg, seed_from_int, stream_value

__all__ = ["config_key", "config_of", "pseudo_quantize", "pseudo_quantize_kernel"]

# A PQTConfig travels through the operator's schema as a key into this table
# (a config holds a Noise, which an op schema cannot spell); keys are stable
# for the process's life, so a compiled graph that baked one in stays valid.
_CONFIGS: dict[str, PQTConfig] = {}
_KEYS: dict[PQTConfig, str] = {}


def config_key(cfg: PQTConfig) -> str:
    """The operator's key of a :class:`~floatsim.noise.PQTConfig` (registered at first use)."""
    key = _KEYS.get(cfg)
    if key is None:
        key = f"pqt{len(_CONFIGS)}"
        _CONFIGS[key] = cfg
        _KEYS[cfg] = key
    return key


def config_of(key: str) -> PQTConfig:
    """The config a key from :func:`config_key` stands for."""
    try:
        return _CONFIGS[key]
    except KeyError:
        raise ValueError(f"config={key!r} is no registered pseudo-quantization config "
                         "(keys come from floatsim_torch.noise.config_key)") from None


@memo
def _static(fmt: Any, noise: Any, storage: Any, rounding: Any, scale: Any, clip: Any,
            anneal: Any) -> tuple[str, int, bool]:
    """(config key, fixed scale exponent, whether it is fixed) from the arguments (cached)."""
    cfg, fixed = fs.noise.resolve(fmt, noise, storage, rounding, scale, clip, anneal)
    return config_key(cfg), fixed or 0, fixed is not None


def pseudo_quantize_kernel(w: torch.Tensor, config: str, seed: int, stream: int, scale: int,
                           fixed: bool, out_dtype: torch.dtype | None,
                           stream_tensor: torch.Tensor | None = None) -> torch.Tensor:
    """The operator's kernel: ``fs.noise.pseudo_quantize`` of a tensor as a new
    contiguous tensor (``scale`` the exponent where ``fixed``, else the
    config's scaling; ``seed`` as :func:`floatsim_torch.ops.seed_int` wraps it)."""
    cfg = config_of(config)
    dt = w.dtype if out_dtype is None else out_dtype
    kw = dict(seed=seed_from_int(seed), stream=stream_value(stream, stream_tensor),
              scale=int(scale) if fixed else cfg.scale)
    views.check_device(w, "w")
    if views.bf16_detour(w.dtype, dt):
        # no ml_dtypes: bfloat16 -> float32 is exact and the core reads
        # bfloat16 as float32 anyway; the result holds storage values
        y = pseudo_quantize_kernel(w.float(), config, seed, stream, scale, fixed, torch.float32,
                                   stream_tensor)
        return views.bf16_exact(y) if dt == torch.bfloat16 else y.to(dt)
    if w.is_cuda:
        odt = None if dt == w.dtype else views.numpy_dtype(dt)
        return fs.noise.pseudo_quantize(w.detach().contiguous(), cfg, out_dtype=odt, **kw)
    out = torch.empty(w.shape, dtype=dt, device=w.device)
    fs.noise.pseudo_quantize(views.host_view(w), cfg, out=views.host_view(out), **kw)
    return out


_op = torch.library.custom_op("floatsim::pseudo_quantize", pseudo_quantize_kernel,
                              mutates_args=())


@_op.register_fake
def _(w, config, seed, stream, scale, fixed, out_dtype, stream_tensor=None):  # noqa: ANN001, ANN202
    return w.new_empty(w.shape, dtype=w.dtype if out_dtype is None else out_dtype)


def _setup(ctx: Any, inputs: tuple, output: torch.Tensor) -> None:
    ctx.w_dtype = inputs[0].dtype


def _backward(ctx: Any, grad: torch.Tensor) -> tuple:
    # straight through: d(w + noise)/dw = 1 (the clip and the cast are not differentiated)
    return grad.to(ctx.w_dtype), None, None, None, None, None, None, None


_op.register_autograd(_backward, setup_context=_setup)


class _Straight(torch.autograd.Function):
    """The eager route with a gradient to record: the kernel forward, the
    registered backward (the same results as the op, without its host cost)."""

    @staticmethod
    def forward(ctx: Any, w: torch.Tensor, *args: Any) -> torch.Tensor:  # noqa: D102
        ctx.w_dtype = w.dtype
        return pseudo_quantize_kernel(w, *args)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple:  # noqa: D102
        return _backward(ctx, grad)


def pseudo_quantize(w: torch.Tensor, fmt: fs.Format | str | PQTConfig,
                    noise: Noise | str = "gaussian", *, seed: int = 0,
                    stream: int | torch.Tensor = 0, storage: fs.Format | str = "bfloat16",
                    rounding: fs.Rounding | str = "nearest_even",
                    scale: str | int | None = "tensor", clip: bool = True, anneal: float = 0.0,
                    out_dtype: torch.dtype | None = None) -> torch.Tensor:
    """``w`` plus noise shaped like ``fmt``'s rounding error, cast once to ``storage``.

    Arguments and result as :func:`floatsim.noise.pseudo_quantize` (docs/pqt.md),
    on a float64 / float32 / float16 / bfloat16 tensor on the CPU or a CUDA
    device (any shape and strides; element ``i`` of the C-order flattening
    takes Philox word ``i``, as in the core).  ``stream`` may be a one-element
    integer tensor.  The result is a new contiguous tensor of ``out_dtype``
    (default w's dtype, which must hold every value of ``storage``).  The
    gradient passes straight through to ``w``.

    Example:
        >>> import torch
        >>> from floatsim_torch.noise import pseudo_quantize
        >>> w = torch.full((4,), 0.3, requires_grad=True)
        >>> y = pseudo_quantize(w, "e4m3", "r", seed=0, scale="none")
        >>> y.tolist()
        [0.302734375, 0.310546875, 0.3046875, 0.302734375]
        >>> y.sum().backward(); w.grad.tolist()
        [1.0, 1.0, 1.0, 1.0]
    """
    w = views.check_float(w, "w")
    key, k, fixed = _static(fmt, noise, storage, rounding, scale, clip, anneal)
    st_int, st = check_stream_arg(stream)
    odt = None if out_dtype is None else views.float_dtype(out_dtype)
    args = (key, check_seed(seed), st_int, k, fixed, odt, st)
    how = route(w, st)
    if how == OP:
        return _op(w, *args)
    if w.requires_grad and torch.is_grad_enabled():
        return _Straight.apply(w, *args)
    return pseudo_quantize_kernel(w, *args)
