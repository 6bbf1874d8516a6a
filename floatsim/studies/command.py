"""``floatsim study NAME [...]``: run one of the studies of docs/studies.md.

Each study parses its own options (``floatsim study NAME -h``); the ones that
train load torch only when they run, so the core never imports it.

Example:
    >>> main([])  # doctest: +NORMALIZE_WHITESPACE
    usage: floatsim study NAME [options]   (floatsim study NAME -h for a study's options)
      formats            train the demo's GPT with every exponent/mantissa split of 8, 6 and 4 bits (needs torch)
      accumulator-loss   train the demo's GPT with mxfp8 operands and emulated accumulators (needs torch)
      pqt                train the demo's GPT with FP6/FP8 weights by STE QAT and by pseudo-quantization noise (needs torch)
      accumulation       the error of a K = 4096 dot product as the kept alignment bits vary
    2
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

__all__ = ["STUDIES", "main"]

#: name -> (module with a main(argv), whether it needs torch, one line).
STUDIES: dict[str, tuple[str, bool, str]] = {
    "formats": ("floatsim.studies.formats", True,
                "train the demo's GPT with every exponent/mantissa split of 8, 6 and 4 bits"),
    "accumulator-loss": ("floatsim.studies.accumulator_loss", True,
                         "train the demo's GPT with mxfp8 operands and emulated accumulators"),
    "pqt": ("floatsim.studies.pqt", True,
            "train the demo's GPT with FP6/FP8 weights by STE QAT and by pseudo-quantization noise"),
    "accumulation": ("floatsim.studies.accumulation", False,
                     "the error of a K = 4096 dot product as the kept alignment bits vary"),
}


def _usage() -> str:
    w = max(map(len, STUDIES)) + 3
    lines = ["usage: floatsim study NAME [options]   (floatsim study NAME -h for a study's options)"]
    lines += [f"  {n:<{w}}{text}{' (needs torch)' if torch else ''}"
              for n, (_, torch, text) in STUDIES.items()]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    """Run the study ``argv[0]`` with the options ``argv[1:]``; returns the
    exit status (2 for an unknown study, or torch missing where it is needed)."""
    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    name = argv[0]
    if name not in STUDIES:
        print(f"floatsim study: error: unknown study {name!r}; choose from "
              f"{', '.join(STUDIES)}", file=sys.stderr)
        return 2
    module, needs_torch, _ = STUDIES[name]
    if needs_torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            print(f"floatsim study {name}: error: this study trains with PyTorch, which is not "
                  "installed: pip install 'floatsim[torch]' matplotlib (on CPU-only machines pin "
                  "torch==2.13.0)", file=sys.stderr)
            return 2
    return importlib.import_module(module).main(argv[1:])
