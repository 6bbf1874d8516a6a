"""The training of the PQT study (:mod:`floatsim.studies.pqt` plans and
reports it): every run through :func:`floatsim_torch.train.run` with every
Linear but the output head selected: the baselines' recipes, the
``pqt_<fmt>`` recipes with the run's noise (``emulate`` applies
:func:`floatsim_torch.pqt`), and for QAT (PTQ) the fp32 recipe with
:func:`floatsim_torch.pqt.qat` installed (``rounding=False``); ``train.run`` finalizes a model
under either before its final evaluation.

Example:
    >>> from floatsim.studies import pqt
    >>> cfg = pqt.config(quick=True, formats=("e3m2",), noises=("r",), size="micro", steps=2,
    ...                  eval_batches=1)
    >>> res = train(cfg, progress=False)
    >>> [r.run.label for r in res], all(r.val_loss > 0 for r in res)
    (['fp32', 'bf16', 'e3m2 ptq', 'e3m2 qat', 'e3m2 pqt r'], True)
"""

from __future__ import annotations

from torch import nn

from floatsim.studies.pqt import Run, StudyConfig, plan
from floatsim.studies.report import Result

from ..pqtrain import qat
from .loop import StepDone, prepare, run_all, train_recipe

__all__ = ["train"]


def _weights(m: nn.Module, name: str) -> bool:
    """The layers the study casts: every Linear but the output head (as emulate's default in train.run)."""
    return name != "lm_head"


def train(cfg: StudyConfig, *, threads: int | None = None, progress: bool = True) -> list[Result]:
    """Run every run of ``plan(cfg)`` and return their results, in plan order
    (one progress bar over the study's steps, a line per run; ``threads``
    sets torch's CPU threads).  PQT draws its noise with the run's seed."""
    data, model_cfg = prepare(cfg, threads)

    def one(r: Run, step_done: StepDone) -> Result:
        prep = None
        if r.method in ("ptq", "qat"):
            cfg_w, rounding = r.pqt_config(), r.method == "qat"
            prep = lambda model: qat(model, cfg_w, modules=_weights, rounding=rounding)  # noqa: E731
        return train_recipe(r, r.recipe(), cfg, data, model_cfg, step_done, prepare=prep)

    return run_all("pqt", cfg, plan(cfg), model_cfg, one, progress=progress)
