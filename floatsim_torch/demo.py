"""``floatsim demo``: train a small GPT in emulated FP8 / FP6 / FP4 and compare.

Trains the same character-level GPT (floatsim_torch.gpt) on the embedded
corpus (the Python standard library's source; floatsim.studies.corpus) once
per recipe, from the same initial weights and on the same batches, with every
Linear layer but the output head emulated; then prints a table (final
validation loss, gap to FP32, tokens/s, share of values saturated / flushed
for the inputs x, weights w and output gradients dy, from the telemetry) and
writes ``loss_curves.png``, ``losses.csv`` (every step and evaluation) and
``summary.csv`` to ``--out``.

Example (``--quick``: about a minute on a 2-core CPU; CI runs smaller):
    $ floatsim demo --quick
    $ floatsim demo --recipes fp32,mxfp4,nvfp4 --steps 600 --size medium
    $ floatsim demo --device cuda
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

import torch

from floatsim import __version__
from floatsim import recipes as _recipes
from floatsim.studies import corpus as _corpus

from .gpt import GPT, SIZES, GPTConfig
from .train import RunResult, TrainConfig, log, run

__all__ = ["DEFAULT_RECIPES", "main", "summary_rows", "table"]

DEFAULT_RECIPES = ("fp32", "bf16", "fp8_delayed", "mxfp8", "mxfp6_e3m2", "mxfp4",
                   "mxfp4_quartet", "nvfp4")
# (size, steps, batch, peak learning rate) of the default run and of --quick.
_FULL = ("small", 200, 8, 3e-3)
_QUICK = ("tiny", 80, 8, 1e-2)
_TENSOR_ROLES = {"x": ("forward.lhs", "wgrad.rhs"), "w": ("forward.rhs", "dgrad.rhs"),
                 "dy": ("dgrad.lhs", "wgrad.lhs")}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="floatsim demo",
        description="Train a small GPT on the Python standard library's source text under "
                    "several emulated low-precision recipes and compare them with FP32.")
    p.add_argument("--recipes", default=",".join(DEFAULT_RECIPES),
                   help="comma-separated recipe names (`floatsim recipes` lists them); "
                        "default: %(default)s")
    p.add_argument("--steps", type=int, help=f"training steps (default {_FULL[1]}, "
                                             f"--quick {_QUICK[1]})")
    p.add_argument("--size", choices=[s for s in SIZES if s != "gpt2"],
                   help=f"model size (default {_FULL[0]}, --quick {_QUICK[0]})")
    p.add_argument("--batch-size", type=int, help=f"sequences per step (default {_FULL[2]})")
    p.add_argument("--seq-len", type=int, help="tokens per sequence (default: the model's "
                                               "block size)")
    p.add_argument("--lr", type=float, help=f"peak learning rate (default {_FULL[3]}, --quick "
                                            f"{_QUICK[3]})")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, batches and SR")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default %(default)s)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--quick", action="store_true", help="a tiny model and few steps (~1 min)")
    p.add_argument("--out", default="floatsim-demo", help="output folder (%(default)s)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG (no matplotlib needed)")
    return p


def _shares(res: RunResult) -> dict[str, tuple[float, float]]:
    """(saturated share, flushed share) per tensor x / w / dy over every layer."""
    by_role = res.telemetry.by_role()
    out = {}
    for t, roles in _TENSOR_ROLES.items():
        n = sum(by_role[r]["values"] for r in roles if r in by_role)
        sat = sum(by_role[r]["saturated"] for r in roles if r in by_role)
        fl = sum(by_role[r]["flushed"] for r in roles if r in by_role)
        out[t] = (sat / n, fl / n) if n else (math.nan, math.nan)
    return out


def summary_rows(results: list[RunResult]) -> list[dict[str, object]]:
    """One dict per recipe: the table's numbers (what summary.csv holds)."""
    base = next((r.final_val for r in results if r.recipe == "fp32"), math.nan)
    rows = []
    for r in results:
        row: dict[str, object] = dict(recipe=r.recipe, val_loss=r.final_val,
                                      gap_to_fp32=r.final_val - base,
                                      tokens_per_s=r.tokens_per_s, seconds=r.seconds)
        for t, (sat, fl) in _shares(r).items():
            row[f"saturated_{t}"] = sat
            row[f"flushed_{t}"] = fl
        rows.append(row)
    return rows


def _pct(v: object) -> str:
    if not isinstance(v, float) or math.isnan(v):
        return "-"
    return "0" if v == 0 else (f"{100 * v:.2f}%" if v >= 1e-4 else f"{100 * v:.0e}%")


def table(results: list[RunResult]) -> str:
    """The demo's printed table."""
    head = (f"{'recipe':<15}{'val loss':>9}{'vs fp32':>9}{'tok/s':>8}   "
            f"{'saturated x / w / dy':<26}{'flushed to zero x / w / dy'}")
    lines = [head, "-" * len(head)]
    for row in summary_rows(results):
        gap = row["gap_to_fp32"]
        gap_s = "-" if not isinstance(gap, float) or math.isnan(gap) else f"{gap:+.3f}"
        sat = " / ".join(_pct(row[f"saturated_{t}"]) for t in _TENSOR_ROLES)
        fl = " / ".join(_pct(row[f"flushed_{t}"]) for t in _TENSOR_ROLES)
        lines.append(f"{row['recipe']:<15}{row['val_loss']:>9.3f}{gap_s:>9}"
                     f"{row['tokens_per_s']:>8.0f}   {sat:<26}{fl}")
    return "\n".join(lines)


def _write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _plot(results: list[RunResult], path: Path, title: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed: no PNG (pip install matplotlib)")
        return False
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 4.5))
    base = next((dict(r.val_loss) for r in results if r.recipe == "fp32"), None)
    for r in results:
        steps, losses = zip(*r.train_loss)
        k = max(1, len(losses) // 50)   # a running mean keeps the curves readable
        sm = [sum(losses[max(0, i - k + 1): i + 1]) / len(losses[max(0, i - k + 1): i + 1])
              for i in range(len(losses))]
        ax1.plot(steps, sm, label=r.recipe, lw=1.2)
        vs, vl = zip(*r.val_loss)
        ax2.plot(vs, vl, marker="o", ms=3, label=r.recipe, lw=1.2)
        if base is not None:
            pts = [(s_, v - base[s_]) for s_, v in r.val_loss if s_ in base]
            if pts:
                ax3.plot(*zip(*pts), marker="o", ms=3, label=r.recipe, lw=1.2)
    ax1.set(xlabel="step", ylabel="training loss (running mean)", title="training")
    ax2.set(xlabel="step", ylabel="validation loss", title="validation")
    ax3.set(xlabel="step", ylabel="validation loss - fp32's", title="gap to fp32")
    for ax in (ax1, ax2, ax3):
        ax.grid(alpha=0.3)
    ax3.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the exit status (2 on bad arguments)."""
    args = _parser().parse_args(argv)
    size, steps, batch, lr = _QUICK if args.quick else _FULL
    size, steps = args.size or size, args.steps or steps
    batch, lr = args.batch_size or batch, args.lr or lr
    try:
        names = [n.strip() for n in args.recipes.split(",") if n.strip()]
        recipes = [_recipes.get(n) for n in names]
        if args.threads:
            torch.set_num_threads(args.threads)
        data = _corpus.load()
        model_cfg = GPTConfig.named(size, vocab_size=data.vocab_size)
        seq = args.seq_len or model_cfg.block_size
        cfg = TrainConfig(steps=steps, batch_size=batch, seq_len=min(seq, model_cfg.block_size),
                          lr=lr, seed=args.seed, device=args.device,
                          eval_every=max(1, steps // 6), warmup=max(1, steps // 15))
    except ValueError as exc:
        print(f"floatsim demo: error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    nparams = GPT(model_cfg).num_params()
    print(f"floatsim {__version__} demo: a {nparams / 1e6:.2f}M-parameter GPT ('{size}': "
          f"{model_cfg.n_layer} layers, width {model_cfg.n_embd}) on {data.train.size / 1e6:.1f}M "
          f"characters of Python's standard library; {steps} steps of {batch} x {cfg.seq_len} "
          f"tokens on {args.device} (torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads); every Linear but the output head emulated")
    t0 = time.perf_counter()
    results = []
    for i, r in enumerate(recipes):
        results.append(run(r, data, model_cfg, cfg, desc=f"[{i + 1}/{len(recipes)}] {r.name}",
                           telemetry_steps=max(2, steps // 10)))
        log(f"[{i + 1}/{len(recipes)}] {r.name}: validation loss {results[-1].final_val:.3f}, "
            f"{results[-1].tokens_per_s:.0f} tokens/s")
    print()
    print(table(results))
    rows = []
    for r in results:
        val = dict(r.val_loss)
        rows += [dict(recipe=r.recipe, step=s, train_loss=v, val_loss=val.get(s, ""))
                 for s, v in r.train_loss]
    _write_csv(out / "losses.csv", rows)
    _write_csv(out / "summary.csv", summary_rows(results))
    made = [] if args.no_plot else (["loss_curves.png"] if _plot(
        results, out / "loss_curves.png",
        f"{nparams / 1e6:.2f}M-parameter GPT, {steps} steps, seed {args.seed}") else [])
    print(f"\nsaturated: clamped at the top of the grid or overflowed; flushed: a nonzero value "
          f"cast to zero; shares over every cast of x (inputs), w (weights) and dy (output "
          f"gradients) in the last {max(2, steps // 10)} steps. tok/s: the steps before those, "
          f"after the first (which compiles).")
    if args.quick:
        print("--quick: one seed of a tiny model; gaps to fp32 below about 0.03 are within "
              "seed-to-seed noise at this size (seeds 0-2 moved them by that much here)")
    files = ", ".join(str(out / f) for f in ["losses.csv", "summary.csv", *made])
    print(f"wrote {files} ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

