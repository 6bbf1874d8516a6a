"""Runnable studies: small, reproducible experiments whose results are in
docs/studies.md (``floatsim study NAME``; ``floatsim study -h`` lists them).

* :mod:`floatsim.studies.corpus`: the embedded training text (the Python
  standard library's own source, character level; no download).
* :mod:`floatsim.studies.accumulation`: the error of a long dot product
  against the exact sum as the bits an arithmetic unit keeps after aligning
  its products go from 8 to 28 (``floatsim study accumulation``).
* :mod:`floatsim.studies.formats`: the format study, every exponent/mantissa
  split of 8, 6 and 4 bits trained per-tensor scaled and microscaled over
  several seeds (``floatsim study formats``; trains with torch).
* :mod:`floatsim.studies.accumulator_loss`: the loss of the demo's GPT
  trained with mxfp8 operands and Hopper-like accumulators
  (``floatsim study accumulator-loss``; trains with torch).
* :mod:`floatsim.studies.pqt`: pseudo-quantization training (uniform,
  Gaussian and R noise) against STE QAT and a PTQ control for FP6 and FP8
  weights, over several seeds (``floatsim study pqt``; trains with torch).
* :mod:`floatsim.studies.command`, :mod:`floatsim.studies.runner`,
  :mod:`floatsim.studies.report`: the command line, the options and run
  loop the training studies share, and their statistics and files.

The training halves live in :mod:`floatsim_torch.studies`; these modules
import no torch.
"""

__all__ = ["accumulation", "accumulator_loss", "command", "corpus", "formats", "pqt", "report",
           "runner"]
