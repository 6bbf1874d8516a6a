"""Runnable studies: small, reproducible experiments whose results are in
docs/studies.md.

* :mod:`floatsim.studies.corpus`: the embedded training text (the Python
  standard library's own source, character level; no download).
* :mod:`floatsim.studies.accumulation`: the error of a long dot product
  against the exact sum as the bits an arithmetic unit keeps after aligning
  its products go from 8 to 28 (``python -m floatsim.studies.accumulation``).
"""

__all__ = ["accumulation", "corpus"]
