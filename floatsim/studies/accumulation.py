"""Accumulator width: the error of a K = 4096 dot product as the kept alignment bits vary.

The unit is Hopper-like (:func:`floatsim.mac.spec` ``"hopper_fp8"`` with
``kept_bits`` swept): groups of 32 exact products of e4m3 operands, aligned
to the group's largest exponent together with the incoming FP32
accumulator, ``B`` bits kept below it, the rest truncated; the same with
DeepSeek-V3's promotion to FP32 every 128 products; and, for reference,
plain FP32 accumulation and a bf16 accumulator.  For every setting, every
input distribution and every seed, ``dots`` dot products of length K are
computed by the model (:func:`floatsim.mac.dot`) and compared with the exact
sum (products are exact in float64, summed by ``math.fsum``: correctly
rounded to float64, far below the errors measured).  The error of a dot
product is ``|computed - exact| / sum(|a_i b_i|)`` (the usual normalisation
of summation error analysis, defined also when the exact sum cancels).

Input distributions (all quantized to e4m3, nearest even):

* ``normal``: standard normal a and b (random signs: the sum grows like sqrt(K));
* ``positive``: |standard normal| (one sign: the sum grows like K, so late
  products fall ever further below the accumulator's leading bit);
* ``wide``: standard normal times ``2**u``, u uniform in -6..6 (products
  spread over many binades).

Writes ``accumulation.csv`` (one row per distribution and setting: mean,
standard deviation, median and maximum of the error over seeds x dots) and
``accumulation.png`` (mean error against kept bits, log scale; needs
matplotlib) into ``--out``.

Example:
    >>> from floatsim.studies.accumulation import run
    >>> rows = run(k=64, seeds=1, dots=2, kept=[8, 20], progress=False)
    >>> sorted({r["setting"] for r in rows})[:3]
    ['bf16', 'fp32', 'hopper B=20']
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .. import mac, quantize

__all__ = ["run", "write_csv", "plot", "main", "DISTRIBUTIONS"]

DISTRIBUTIONS = ("normal", "positive", "wide")


def operands(dist: str, rows: int, k: int, seed: int) -> np.ndarray:
    """``rows x k`` e4m3 values of the distribution ``dist``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, k))
    if dist == "positive":
        x = np.abs(x)
    elif dist == "wide":
        x = x * np.exp2(rng.integers(-6, 7, (rows, k)))
    elif dist != "normal":
        raise ValueError(f"dist={dist!r} is not a distribution; allowed: {', '.join(DISTRIBUTIONS)}")
    return quantize(x.astype(np.float32), "e4m3", overflow="saturate")


def settings(kept: list[int]) -> list[tuple[str, Any, int | None]]:
    """(label, spec, kept bits or None) of every setting the study runs."""
    h = mac.spec("hopper_fp8")
    out: list[tuple[str, Any, int | None]] = []
    for b in kept:
        out.append((f"hopper B={b}", h.replace(kept_bits=b, name=f"hopper_B{b}"), b))
        out.append((f"hopper B={b} promote128", h.replace(kept_bits=b, promote_every=128,
                                                          name=f"hopper_B{b}_p128"), b))
    out.append(("fp32", mac.spec("fp32"), None))
    out.append(("bf16", mac.spec("bf16"), None))
    return out


def run(k: int = 4096, seeds: int = 16, dots: int = 32, kept: list[int] | None = None,
        progress: bool = True) -> list[dict[str, Any]]:
    """The study's table: one dict per (distribution, setting)."""
    kept = list(range(8, 29)) if kept is None else kept
    rows: list[dict[str, Any]] = []
    todo = [(d, s) for d in DISTRIBUTIONS for s in settings(kept)]
    data = {}
    for d in DISTRIBUTIONS:
        a = np.concatenate([operands(d, dots, k, 2 * s) for s in range(seeds)])
        b = np.concatenate([operands(d, dots, k, 2 * s + 1) for s in range(seeds)])
        prods = a.astype(np.float64) * b.astype(np.float64)  # exact
        exact = np.array([math.fsum(r) for r in prods])
        scale = np.abs(prods).sum(axis=1)
        data[d] = (a, b, exact, scale)
    for d, (label, spec, b_kept) in tqdm(todo, desc="accumulation study", disable=not progress):
        a, b, exact, scale = data[d]
        got = mac.dot(a, b, spec).astype(np.float64)
        err = np.abs(got - exact) / scale
        rows.append({
            "distribution": d, "setting": label, "kept_bits": "" if b_kept is None else b_kept,
            "promote_every": spec.promote_every or "", "k": k, "samples": err.size,
            "mean": float(err.mean()), "std": float(err.std()), "median": float(np.median(err)),
            "max": float(err.max()),
        })
    return rows


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """The table as CSV."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Mean error (with one standard deviation, shaded) against kept bits,
    one colour per distribution; dashed: promotion every 128; dotted
    horizontal lines: plain FP32 accumulation."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("the plot needs matplotlib: pip install matplotlib") from e
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, d in enumerate(DISTRIBUTIONS):
        color = f"C{i}"
        for promote, style in (("", "-"), (128, "--")):
            sel = [r for r in rows if r["distribution"] == d and r["kept_bits"] != ""
                   and r["promote_every"] == promote]
            x = np.array([r["kept_bits"] for r in sel])
            m = np.array([r["mean"] for r in sel])
            s = np.array([r["std"] for r in sel])
            label = f"{d}" + (", promote every 128" if promote else "")
            ax.plot(x, m, style, color=color, label=label)
            if not promote:
                ax.fill_between(x, np.maximum(m - s, m * 0.1), m + s, color=color, alpha=0.15)
        fp32 = next(r["mean"] for r in rows if r["distribution"] == d and r["setting"] == "fp32")
        ax.axhline(fp32, color=color, linestyle=":", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("bits kept below the group's largest exponent (B)")
    ax.set_ylabel("|dot - exact| / sum |a_i b_i|  (mean)")
    k = rows[0]["k"]
    ax.set_title(f"K = {k} dot products of e4m3 values, groups of 32 (dotted: FP32)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """``python -m floatsim.studies.accumulation [--out DIR] [--k K] [--seeds S] [--dots D] [--quick]``."""
    p = argparse.ArgumentParser(prog="python -m floatsim.studies.accumulation",
                                description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("."), help="output folder (default: .)")
    p.add_argument("--k", type=int, default=4096, help="dot product length (default 4096)")
    p.add_argument("--seeds", type=int, default=16)
    p.add_argument("--dots", type=int, default=32, help="dot products per seed")
    p.add_argument("--quick", action="store_true", help="a smoke run: K=256, 2 seeds, 4 dots")
    p.add_argument("--no-plot", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.k, args.seeds, args.dots = 256, 2, 4
    args.out.mkdir(parents=True, exist_ok=True)
    rows = run(args.k, args.seeds, args.dots)
    write_csv(rows, args.out / "accumulation.csv")
    if not args.no_plot:
        plot(rows, args.out / "accumulation.png")
    for d in DISTRIBUTIONS:
        print(f"{d}: " + ", ".join(f"{r['setting']}: {r['mean']:.2e}" for r in rows
                                   if r["distribution"] == d and "promote" not in r["setting"]))
    print(f"wrote {args.out / 'accumulation.csv'}" + ("" if args.no_plot else
                                                     f" and {args.out / 'accumulation.png'}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
