"""ml_dtypes as the tests' second oracle: which registered names it has, and
the behaviours of it that changed between the versions the tests accept.

CI installs the newest ml_dtypes (pyproject asks for a lower bound only);
the bench venv pins 0.6.0.  Both must pass, so a behaviour of ml_dtypes that
a test documents is tied to the versions that have it, and a type that only
newer versions export is tested where it exists.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from floatsim.registry import ML_DTYPES_NAMES

#: (major, minor) of the installed ml_dtypes.
ML_VERSION: tuple[int, int] = tuple(int(p) for p in ml_dtypes.__version__.split(".")[:2])

#: Registered names that the installed ml_dtypes (or numpy, for float16) has.
ML_NAMES: list[str] = [n for n in ML_DTYPES_NAMES if n == "float16" or hasattr(ml_dtypes, n)]

#: Registered ml_dtypes names and the release that added them: an older
#: ml_dtypes lacks them, and their tests do not run there.
ADDED_IN: dict[str, tuple[int, int]] = {"float8_e5m3fnu": (0, 7)}

#: ml_dtypes before 0.7 rounds every float32 *subnormal* input in (2**-127,
#: 1.5 * 2**-127) up to 2**-126 in float8_e8m0fnu, although 2**-127 is nearer
#: (normal inputs round to nearest); 0.7 rounds them to nearest, as floatsim does.
E8M0_SUBNORMALS_ROUND_UP: bool = ML_VERSION < (0, 7)


def ml_type(name: str) -> type:
    """The numpy / ml_dtypes scalar type of a registered name."""
    return np.float16 if name == "float16" else getattr(ml_dtypes, name)
