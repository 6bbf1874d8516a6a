"""The ``floatsim`` command line: look formats up without writing Python.

Commands:

* ``floatsim info FORMAT [FORMAT...]``: every property of each format
  (:meth:`Format.describe`; block formats: :meth:`BlockFormat.describe`), one
  column per format.
* ``floatsim table FORMAT``: the value of every code of a format of up to
  8 bits (:meth:`Format.table`).
* ``floatsim list``: every registered name, one a line (then block formats).
* ``floatsim warmup [--all] [--jobs N] [--clean]``: compile the kernels ahead,
  in parallel processes (:mod:`floatsim.warmup`).
* ``floatsim vectors OP ...`` and ``floatsim check VECTORS RESULTS``: golden
  test vectors and the device checker (:mod:`floatsim.vectors.command`).
* ``floatsim recipes [NAME...]``: the training recipes and their roles
  (:mod:`floatsim.recipes`); with names, each recipe's table of roles.
* ``floatsim demo [...]``: train a small GPT under several emulated recipes
  and compare (needs torch; :mod:`floatsim_torch.demo`, ``floatsim demo -h``).
* ``floatsim tour [--quick]``: what the formats do to numbers, without torch
  (:mod:`floatsim.tour`).
* ``floatsim study NAME [...]``: the studies of docs/studies.md (``formats``,
  ``accumulator-loss``: need torch; ``accumulation``) (:mod:`floatsim.studies.command`).

FORMAT is anything :func:`floatsim.format` accepts: a registered name
(``float8_e4m3fn``, ``e5m2``, ``fp4``), a P3109 name (``p3109_k8p3se``) or an
``e<E>m<M>`` spec (``e3m4``, ``ue5m3fn``). ``python -m floatsim`` is the same.

Example:
    >>> main(["info", "e4m3"])  # doctest: +ELLIPSIS
    name                float8_e4m3fn
    bits                8
    ...
    max                 448
    ...
    0
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import __version__
from .blocks import format as block_lookup
from .blocks import names as block_names
from .blocks.format import BlockFormat
from .formats import Format
from .registry import ELSEWHERE, names
from .registry import format as lookup

__all__ = ["main"]

#: Exit status for a usage error: a bad command, or a format that cannot be used.
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="floatsim",
        description="Look up low-precision number formats: properties and code tables.",
        epilog="FORMAT: a registered name (see `floatsim list`), a P3109 name such as "
        "p3109_k8p3se, or a spec such as e3m4 or ue5m3fn.",
    )
    parser.add_argument("--version", action="version", version=f"floatsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    info = sub.add_parser("info", help="print the properties of one or more formats")
    info.add_argument("formats", nargs="+", metavar="FORMAT")

    table = sub.add_parser("table", help="print every code and its value (formats up to 8 bits)")
    table.add_argument("format", metavar="FORMAT")

    sub.add_parser("list", help="print every registered format name")

    warm = sub.add_parser("warmup", help="compile the kernels ahead (parallel processes)")
    warm.add_argument("--all", action="store_true", help="every rounding mode, not only RNE and SR")
    warm.add_argument("--gpu", action="store_true", help="the CUDA kernels (on a machine with a GPU)")
    warm.add_argument("--jobs", type=int, default=None, help="processes at once (default: CPUs)")
    warm.add_argument("--clean", action="store_true",
                      help="first remove cache folders of older floatsim sources")
    from .vectors.command import add_parsers  # `vectors` and `check`: they run args.func

    add_parsers(sub)
    rec = sub.add_parser("recipes", help="list the training recipes (or describe some)")
    rec.add_argument("names", nargs="*", metavar="RECIPE")

    # The demo and the tour parse their own options (`floatsim demo -h`; main()
    # hands them the rest of the line); these entries are for `floatsim -h`.
    for name, text in (("demo", "train a small GPT under emulated FP8/FP6/FP4 recipes "
                                "(needs torch)"),
                       ("tour", "what low-precision formats do to numbers (no torch)"),
                       ("study", "run a study: formats, accumulator-loss, accumulation "
                                 "(`floatsim study -h`)")):
        p = sub.add_parser(name, help=text, add_help=False)
        p.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def _any_format(name: str) -> Format | BlockFormat:
    """An element format, or a block format where the name is one."""
    if name.strip().lower() in ELSEWHERE:
        return block_lookup(name)
    return lookup(name)


def _info(fmts: Sequence[Format | BlockFormat]) -> str:
    """The describe() dicts of ``fmts`` side by side: one row per property
    (element and block formats have different rows: pass one kind at a time)."""
    kinds = {isinstance(f, BlockFormat) for f in fmts}
    if len(kinds) > 1:
        raise ValueError("`floatsim info` compares element formats or block formats, not both at once")
    descs = [f.describe() for f in fmts]
    keys = list(descs[0])
    key_w = max(len(k) for k in keys) + 2
    cols = [[str(d[k]) for k in keys] for d in descs]
    widths = [max(len(v) for v in col) + 2 for col in cols]
    lines = []
    for i, k in enumerate(keys):
        cells = [col[i].ljust(w) for col, w in zip(cols, widths)]
        lines.append((k.ljust(key_w) + "".join(cells)).rstrip())
    return "\n".join(lines)


def _table(fmt: Format) -> str:
    if fmt.bits > 8:
        raise ValueError(
            f"`floatsim table` lists formats of up to 8 bits (256 codes); {fmt} has "
            f"{fmt.bits} bits; use `floatsim info {fmt}` instead"
        )
    return fmt.table()


def _warmup(args: argparse.Namespace) -> str:
    from . import warmup

    lines = []
    if args.clean:
        lines += [f"removed {d}" for d in warmup.clean()]
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs={args.jobs}: give at least 1")
    t = warmup.run(all_modes=args.all, gpu=args.gpu, jobs=args.jobs)
    from .cache import cache_dir

    lines.append(f"{len(t)} kernel families ready in {cache_dir()} (slowest: "
                 f"{max(t, key=t.get)}, {max(t.values()):.1f} s)")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> str:
    if args.command == "info":
        return _info([_any_format(name) for name in args.formats])
    if args.command == "table":
        return _table(lookup(args.format))
    if args.command == "list":
        return "\n".join([*names(), *block_names()])
    if args.command == "warmup":
        return _warmup(args)
    if args.command == "recipes":
        from . import recipes

        if not args.names:
            return recipes.table()
        return "\n\n".join(recipes.get(n).describe() for n in args.names)
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse forbids this


def _program(command: str, argv: list[str]) -> int:
    """`floatsim demo` (in floatsim_torch: the core never imports torch), `floatsim tour`
    or `floatsim study`."""
    if command == "tour":
        from . import tour

        return tour.main(argv)
    if command == "study":
        from .studies import command as study

        return study.main(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("floatsim demo: error: the demo trains with PyTorch, which is not installed: "
              "pip install 'floatsim[torch]' matplotlib (on CPU-only machines pin "
              "torch==2.13.0, or pip pulls a multi-GB CUDA build); `floatsim tour` runs "
              "without torch", file=sys.stderr)
        return EXIT_USAGE
    from floatsim_torch import demo

    return demo.main(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit status: 0 on success, 2 when a format name is unknown or
    the format does not fit the command (the message goes to stderr).
    Malformed commands exit through argparse (``SystemExit(2)``) as usual.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("demo", "tour", "study"):   # their own parsers see every option
        return _program(argv[0], argv[1:])
    args = _parser().parse_args(argv)
    if hasattr(args, "func"):
        return args.func(args)
    try:
        text = _run(args)
    except (ValueError, TypeError) as exc:
        print(f"floatsim {args.command}: error: {exc}", file=sys.stderr)
        if str(exc).startswith("unknown format"):
            print("`floatsim list` prints every registered name", file=sys.stderr)
        if str(exc).startswith("unknown recipe"):
            print("`floatsim recipes` lists them", file=sys.stderr)
        return EXIT_USAGE
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `floatsim table e4m3 | head`: the reader left early
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover - `python -m floatsim.cli`
    raise SystemExit(main())
