"""Microscaling and block formats: elements that share a scale per block.

OCP MX (MXFP8/6/4, MXINT8), NVFP4 (two-level, with 4-over-6), block floating
point, INTn with per-block scales, and per-tensor / per-channel / per-token
scaling with current or delayed amax, all on the element cast of
:func:`floatsim.quantize`.  Semantics: docs/blocks.md.

Modules: ``format`` (BlockFormat, IntFormat and the named formats), ``layout``
(how blocks lie along axes and tiles), ``plan`` (one validated call, shared by
the CPU and GPU backends), ``api`` (quantize / encode / decode, the front
door), ``scaling`` (delayed amax histories).

Example:
    >>> import numpy as np, floatsim as fs
    >>> x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
    >>> y = fs.blocks.quantize(x, "mxfp8_e4m3", axis=-1)
    >>> codes = fs.blocks.encode(x, "mxfp8_e4m3", axis=-1)
    >>> codes.elements.shape, codes.scales.shape, codes.scales.dtype
    ((4, 64), (4, 2), dtype('uint8'))
    >>> bool((fs.blocks.decode(codes, "mxfp8_e4m3") == y).all())
    True
"""

from ..rounding import ScaleRule
from .api import BlockCodes, block_amax, decode, encode, quantize, scale_shape
from .format import BlockFormat, IntFormat, bfp, format, int_block, names, scaled
from .scaling import AmaxHistory, DelayedScaling

__all__ = [
    "AmaxHistory",
    "BlockCodes",
    "BlockFormat",
    "DelayedScaling",
    "IntFormat",
    "ScaleRule",
    "bfp",
    "block_amax",
    "decode",
    "encode",
    "format",
    "int_block",
    "names",
    "quantize",
    "scale_shape",
    "scaled",
]
