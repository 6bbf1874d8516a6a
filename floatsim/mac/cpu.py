"""Parallel Numba loops over the scalar models: the GEMM, batched dot
products and element-wise FMAs.  Each output element is one call of the
scalar model (:func:`floatsim.mac.scalar.dot_model`), so the loops are
bit-exact with it by construction; they only choose the order in which
elements are computed (tiles of ``TILE x TILE`` outputs, whose rows of A and
columns of B stay in cache) and spread the tiles over threads.

Example:
    >>> import numpy as np, floatsim.mac as mac
    >>> A = np.ones((2, 3), np.float32); B = np.full((3, 2), 0.5, np.float32)
    >>> mac.matmul(A, B, "bf16")
    array([[1.5, 1.5],
           [1.5, 1.5]], dtype=float32)
"""

from __future__ import annotations

import numba
import numpy as np

from ..kernels.philox import random_word32
from .scalar import dot_model, fma_model

__all__ = ["gemm", "dots", "fma_loop", "TILE"]

#: Output tile edge of the CPU GEMM.
TILE = 32


@numba.njit(parallel=True, cache=True, nogil=True)
def gemm(A, Bt, M, N, K, sexp, sblk, cfg, pp, pa, po, pf, G, out):  # noqa: ANN001, ANN201, PLR0913
    """``out[i*N + j]`` = the model's dot of row i of A (M x K) and row j of
    Bt (N x K, B transposed), all flat float32; SR element index ``i*N + j``."""
    tm = (M + TILE - 1) // TILE
    tn = (N + TILE - 1) // TILE
    for tt in numba.prange(tm * tn):
        t = np.int64(tt)
        i0 = (t // tn) * TILE
        j0 = (t % tn) * TILE
        buf = np.empty(G, np.float64)
        for i in range(i0, min(i0 + TILE, M)):
            for j in range(j0, min(j0 + TILE, N)):
                e = i * N + j
                out[e] = np.float32(dot_model(A, i * K, Bt, j * K, K, sexp, sblk, cfg, pp, pa, po,
                                              pf, e, buf))


@numba.njit(parallel=True, cache=True, nogil=True)
def dots(A, B, R, K, sexp, sblk, cfg, pp, pa, po, pf, G, out):  # noqa: ANN001, ANN201, PLR0913
    """``out[r]`` = the model's dot of rows r of A and B (R x K, flat float32)."""
    for i in numba.prange(R):
        r = np.int64(i)  # the prange index may be unsigned: one signature of dot_model
        buf = np.empty(G, np.float64)
        out[r] = np.float32(dot_model(A, r * K, B, r * K, K, sexp, sblk, cfg, pp, pa, po, pf, r, buf))


@numba.njit(parallel=True, cache=True, nogil=True)
def fma_loop(x, y, c, p, rmode, seed_lo, seed_hi, stream, rbits, out):  # noqa: ANN001, ANN201, PLR0913
    """``out[i]`` = fma of ``x[i]`` (float32), ``y[i]`` (float32), ``c[i]``
    (float64) into the format of ``p``; random words for SR from Philox
    (``rmode`` 1: element index i) or ``rbits`` (``rmode`` 2)."""
    for i in numba.prange(x.size):
        r = np.int64(0)
        if rmode == 1:
            r = random_word32(seed_lo, seed_hi, i, stream)
        elif rmode == 2:
            r = np.int64(rbits[i])
        out[i] = fma_model(x[i], y[i], c[i], p, r)
