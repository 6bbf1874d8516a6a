"""floatsim_torch: the PyTorch adapter of floatsim (a skeleton for now).

Later issues fill it with ``quantize`` / ``encode`` / ``decode`` / ``blocks``
for torch tensors (ops registered with torch.library, autograd, ``emulate``,
recipes). Importing this package never imports torch; using any name from it
does, and without torch it raises an ImportError that says how to install it.
"""

from __future__ import annotations

# The training layer (issue 23): name -> submodule that defines it, imported on first use.
_LAZY = {"emulate": "emulation", "unemulate": "emulation", "emulated": "emulation",
         "all_but_ends": "emulation", "telemetry": "monitor", "optim": None}
__all__: list[str] = sorted(_LAZY)

_INSTALL_HINT = "floatsim_torch needs torch: pip install 'floatsim[torch]'"


def __getattr__(name: str) -> object:
    if name.startswith("__"):  # keep introspection (copy, pickle, pytest) working
        raise AttributeError(name)
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"{_INSTALL_HINT} (needed for floatsim_torch.{name})") from exc
    if name in _LAZY:
        import importlib

        mod = importlib.import_module(f"{__name__}.{_LAZY[name] or name}")
        return mod if _LAZY[name] is None else getattr(mod, name)
    raise AttributeError(
        f"floatsim_torch.{name} does not exist yet: the torch adapter is filled by a later issue"
    )
