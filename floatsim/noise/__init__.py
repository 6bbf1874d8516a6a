"""Pseudo-quantization noise (PQT): noise shaped like a format's rounding error.

Training with pseudo-quantization adds, to each weight on every forward pass,
noise shaped like the rounding error of the format the weight will finally
be stored in, instead of rounding it with a straight-through estimator.  This
package defines that noise from the same :class:`floatsim.Format` objects:

* :class:`Noise`: the distributions (``uniform``, ``gaussian``, the
  FP-friendly ``r``, any ``table``), in units of the target's spacing, with
  their exact moments;
* :class:`PQTConfig`: target, noise, storage cast, scaling, clipping,
  annealing: plain data (recipes hold one);
* :func:`pseudo_quantize`: the noisy array, ``round_storage(clip(w + z *
  Delta(w)))`` with the sum formed exactly and rounded once, from the
  counter-based generator (the same seed and stream give the same noise on
  the CPU, CUDA, torch and jax); :func:`spacing`, :func:`scale_exponent`,
  :func:`draw`.

docs/pqt.md has the definitions, what is exact and how PQT differs from
quantization-aware training with a straight-through estimator.

Example:
    >>> import numpy as np, floatsim as fs
    >>> w = np.linspace(-0.05, 0.05, 8).astype(np.float32)
    >>> y = fs.noise.pseudo_quantize(w, "e3m2", "gaussian", seed=0, stream=1)
    >>> y.dtype, bool(np.all(fs.quantize(y, "bfloat16") == y))    # BF16 values
    (dtype('float32'), True)
"""

from .api import (
    JMAX,
    Plan,
    anneal_thresholds,
    draw,
    plan,
    pseudo_quantize,
    resolve,
    scale_exponent,
    spacing,
)
from .config import PARAM_DTYPES, SCALES, PQTConfig
from .dist import SIGMA_DEFAULT, Noise, parse

__all__ = [
    "JMAX",
    "PARAM_DTYPES",
    "SCALES",
    "SIGMA_DEFAULT",
    "Noise",
    "PQTConfig",
    "Plan",
    "anneal_thresholds",
    "draw",
    "parse",
    "plan",
    "pseudo_quantize",
    "resolve",
    "scale_exponent",
    "spacing",
]
