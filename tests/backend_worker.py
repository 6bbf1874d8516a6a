"""Runs a batch of cases of tests/backends.py in this process, for a backend
that must live in its own process (the CUDA simulator: NUMBA_ENABLE_CUDASIM
must be set before numba.cuda is imported).

    python tests/backend_worker.py IN.pkl OUT.pkl

IN holds (backend name, [(Case, input array), ...]); OUT gets the results.
"""

from __future__ import annotations

import pickle
import sys

import numpy as np


def _simulator(batch: list) -> list:
    from numba import cuda

    import floatsim as fs

    out = []
    for case, x in batch:
        d = cuda.to_device(x)
        if case.op == "decode":
            y = fs.decode(d, case.fmt, case.dtype)
        elif case.op == "encode":
            y = fs.encode(d, case.fmt, case.rounding, **case.kwargs())
        else:
            y = fs.quantize(d, case.fmt, case.rounding, **case.kwargs())
        out.append(np.asarray(y.copy_to_host()))
    return out


RUNNERS = {"cuda-simulator": _simulator}


def main(src: str, dst: str) -> None:
    with open(src, "rb") as f:
        name, batch = pickle.load(f)
    with open(dst, "wb") as f:
        pickle.dump(RUNNERS[name](batch), f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
