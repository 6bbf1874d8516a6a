"""floatsim_torch: the PyTorch adapter of floatsim (a skeleton for now).

Later issues fill it with ``quantize`` / ``encode`` / ``decode`` / ``blocks``
for torch tensors (ops registered with torch.library, autograd, ``emulate``,
recipes). Importing this package never imports torch; using any name from it
does, and without torch it raises an ImportError that says how to install it.
"""

from __future__ import annotations

__all__: list[str] = []

_INSTALL_HINT = "floatsim_torch needs torch: pip install 'floatsim[torch]'"


def __getattr__(name: str) -> object:
    if name.startswith("__"):  # keep introspection (copy, pickle, pytest) working
        raise AttributeError(name)
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"{_INSTALL_HINT} (needed for floatsim_torch.{name})") from exc
    raise AttributeError(
        f"floatsim_torch.{name} does not exist yet: the torch adapter is filled by a later issue"
    )
