"""The training halves of floatsim's studies (the rest, which needs no torch,
is in :mod:`floatsim.studies`).

* :mod:`floatsim_torch.studies.formats`: ``floatsim study formats``, the
  exponent/mantissa split sweep (:mod:`floatsim.studies.formats`).
* :mod:`floatsim_torch.studies.accumulator_loss`: ``floatsim study
  accumulator-loss``, the loss of the demo model trained with mxfp8 operands
  and an emulated accumulator (:mod:`floatsim.studies.accumulator_loss`).
* :mod:`floatsim_torch.studies.pqt`: ``floatsim study pqt``, PQT against
  STE QAT and PTQ for FP6 / FP8 weights (:mod:`floatsim.studies.pqt`).
"""

__all__ = ["accumulator_loss", "formats", "pqt"]
