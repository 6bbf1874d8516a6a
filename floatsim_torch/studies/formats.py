"""The training of the format study (:mod:`floatsim.studies.formats` plans
and reports it): every run through :func:`floatsim_torch.train.run`, with
every Linear but the output head emulated, as the demo does.

Example:
    >>> from floatsim.studies import formats
    >>> cfg = formats.config(quick=True, formats=("e2m1",), scalings=("mx",), ladder=(),
    ...                      baselines=("fp32",), steps=2, eval_batches=1)
    >>> res = train(cfg, progress=False)
    >>> [r.run.label for r in res], all(r.val_loss > 0 for r in res)
    (['fp32', 'e2m1 mx'], True)
"""

from __future__ import annotations

from floatsim.studies.formats import StudyConfig, plan
from floatsim.studies.report import Result

from .loop import prepare, run_all, train_recipe

__all__ = ["train"]


def train(cfg: StudyConfig, *, threads: int | None = None, progress: bool = True) -> list[Result]:
    """Run every run of ``plan(cfg)`` and return their results, in plan order.

    One progress bar counts the steps of the whole study; a line per run
    gives its final validation loss.  ``threads`` sets torch's CPU threads
    (on a shared machine 1 is often fastest: idle threads of a busy pool
    spin).
    """
    data, model_cfg = prepare(cfg, threads)
    return run_all("formats", cfg, plan(cfg), model_cfg,
                   lambda r, step_done: train_recipe(r, r.recipe(), cfg, data, model_cfg,
                                                     step_done), progress=progress)
