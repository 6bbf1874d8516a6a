"""floatsim: bit-exact emulation of low-precision number formats.

Example:
    >>> import numpy as np, floatsim as fs
    >>> fs.format("e4m3").max
    448.0
"""

from . import blocks
from .cast import code_dtype, decode, encode, quantize
from .formats import Format, Overflow, Specials
from .packing import pack, packed_size, unpack
from .registry import format, names, p3109
from .rounding import Rounding

__all__ = [
    "Format",
    "Overflow",
    "Rounding",
    "Specials",
    "blocks",
    "code_dtype",
    "decode",
    "encode",
    "format",
    "names",
    "noise",
    "p3109",
    "pack",
    "packed_size",
    "quantize",
    "unpack",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``floatsim.noise`` on first use (it loads Numba; ``import floatsim`` does not)."""
    if name == "noise":
        import importlib

        return importlib.import_module(f"{__name__}.noise")
    raise AttributeError(f"module 'floatsim' has no attribute {name!r}")
