"""floatsim_torch: floatsim's casts as PyTorch operators.

``quantize`` / ``encode`` / ``decode`` / ``pack`` / ``unpack`` and
``blocks.quantize`` / ``encode`` / ``decode`` take CPU and CUDA tensors and
give tensors, bit for bit what :mod:`floatsim` gives on the same values.
They are ``torch.library`` custom operators (namespace ``floatsim``) with
fake implementations and autograd, so they work under ``torch.compile``
(``fullgraph=True``), autocast and CUDA graphs; :class:`RandomStream` hands
out stochastic-rounding streams for a training loop.  See docs/torch.md.

Example:
    >>> import torch, floatsim_torch as ft
    >>> ft.quantize(torch.tensor([0.3, 1000.0]), "e5m2").tolist()
    [0.3125, 1024.0]
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "floatsim_torch needs torch: pip install 'floatsim[torch]'"
    ) from exc

from . import blocks, mac
from .cast import decode, encode, pack, quantize, unpack
from .mac import matmul
from .streams import RandomStream

# The training layer (issue 23): name -> the submodule that defines it (None:
# the name is a submodule), imported at first use so that importing the ops
# does not load the emulation machinery.
_LAZY = {"emulate": "emulation", "unemulate": "emulation", "emulated": "emulation",
         "all_but_ends": "emulation", "telemetry": "monitor", "optim": None, "noise": None,
         "pqt": "pqtrain"}

__all__ = ["RandomStream", "blocks", "decode", "encode", "mac", "matmul", "pack", "quantize",
           "unpack", *sorted(_LAZY)]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        mod = importlib.import_module(f"{__name__}.{_LAZY[name] or name}")
        return mod if _LAZY[name] is None else getattr(mod, name)
    raise AttributeError(f"module 'floatsim_torch' has no attribute {name!r}")
