"""Golden test vectors, hardware conversion profiles and a checker (TestFloat-style).

Generate cases (:func:`generate`), write them for a Verilog test bench, a
C++ harness or Python (:func:`write_all`: hex for ``$readmemh``, CSV,
.npz), read a device's results back and check them (:func:`check`): the
count of mismatches, the first cases in hex and in value, the class of each
mismatch, and which named hardware behaviour (:func:`profile`) the device
matches.  docs/vectors.md walks through it end to end.

Example:
    >>> import floatsim.vectors as fv
    >>> vs = fv.generate("convert", src="float32", format="e4m3", overflow="saturate")
    >>> report = fv.check(vs, vs.data["y"])          # floatsim against itself
    >>> report.mismatches, "ptx_cvt_rn_satfinite_e4m3" in report.matches
    (0, True)
"""

from . import blockops as _blockops  # noqa: F401  (registers the block operation)
from . import dotops as _dotops  # noqa: F401  (registers dot and mx_dot)
from . import fmaop as _fmaop  # noqa: F401  (registers fma)
from .checker import CheckReport, Record, check
from .classify import CLASS_NAMES, CLASSES
from .fileio import FORMATS, read, read_results, write, write_all
from .generate import LEVELS, generate, oracle_outputs, verify
from .ops import Operation, operation, operation_names, register
from .profiles import QUIRKS, Profile, all_profiles, profile, profile_names, profiles_for
from .vectorset import FieldSpec, VectorSet

__all__ = [
    "CLASSES",
    "CLASS_NAMES",
    "QUIRKS",
    "CheckReport",
    "Profile",
    "Record",
    "check",
    "profile",
    "profile_names",
    "all_profiles",
    "profiles_for",
    "FORMATS",
    "LEVELS",
    "FieldSpec",
    "Operation",
    "VectorSet",
    "generate",
    "operation",
    "operation_names",
    "oracle_outputs",
    "read",
    "read_results",
    "register",
    "verify",
    "write",
    "write_all",
]
