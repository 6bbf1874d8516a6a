"""GPU code: the only package that imports ``numba.cuda`` (lazily, when a GPU
array arrives).

* :mod:`floatsim.gpu.mac`: the GEMM with an emulated accumulator
  (:func:`floatsim.mac.matmul` on GPU arrays).
"""
