"""minideeplab: DeepLab (Chen et al., TPAMI 2017) from scratch in NumPy/CuPy, for reading and teaching.

Sub-modules:

- :mod:`minideeplab.backend`    NumPy or CuPy, chosen by the arrays; device helpers
- :mod:`minideeplab.functional` forward/backward pairs: atrous convolution and every layer
- :mod:`minideeplab.nn`         thin layer classes holding ``params`` and ``grads``
- :mod:`minideeplab.gradcheck`  central-difference gradient checks
"""
from . import backend, functional, gradcheck, nn

__version__ = "0.1.0"
