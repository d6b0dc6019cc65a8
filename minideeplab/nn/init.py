"""Parameter initialisation on the default (or a given) device.

Random numbers are always drawn with NumPy's ``Generator`` on the CPU and then moved, so a seed
gives the same network on the CPU and on the GPU.

Inside ``with shapes_only():`` every initialiser returns a read-only placeholder of the right
shape and dtype that takes no memory (a zero-stride view of one zero), so a network can be
built by its ordinary constructor just to count its parameters (Table 1's 134M-parameter
VGG-16 costs nothing).
"""
import contextlib
import contextvars
import math

import numpy as np

from .. import backend, checks
from ..errors import BudgetExceededError

__all__ = ["as_rng", "normal", "he_normal", "zeros", "ones", "shapes_only", "counting"]

_SHAPES_ONLY = contextvars.ContextVar("minideeplab_shapes_only", default=False)


@contextlib.contextmanager
def shapes_only():
    """Within this block, initialisers allocate nothing: parameters are placeholders.

    A placeholder is ``numpy.broadcast_to(zero, shape)``: it has the shape and dtype (so
    ``Module.num_parameters`` counts it) but is read-only and shares one scalar of memory.
    A network built this way can be inspected and counted, not trained.
    """
    token = _SHAPES_ONLY.set(True)
    try:
        yield
    finally:
        _SHAPES_ONLY.reset(token)


def counting():
    """True inside :func:`shapes_only` (parameters are placeholders: nothing to allocate)."""
    return _SHAPES_ONLY.get()


def _placeholder(shape, dtype):
    nbytes = math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize
    if nbytes >= 2 ** 63:                  # NumPy cannot even shape it (no memory is asked)
        raise BudgetExceededError(f"nn.init: a parameter of shape {tuple(shape)} is beyond "
                                  "any machine's memory")
    return np.broadcast_to(np.zeros((), dtype=dtype), tuple(shape))


def _check_size(shape, dtype):
    """A parameter (drawn in float64, then cast) within this machine's memory: refused before
    it is allocated (Conv2d(10**6, 10**6, 3) asked NumPy for 65 TiB; a placeholder of 10**30
    classes cannot even be shaped)."""
    checks.check_budget("nn.init", "the layer's sizes", max(8, np.dtype(dtype).itemsize),
                        parameter=shape)


def as_rng(seed_or_rng=None, fn="as_rng"):
    """A ``numpy.random.Generator`` from an int seed >= 0, a Generator (returned as is) or None
    (seed 0); anything else is an ArgumentError naming ``fn`` and its argument ``seed``."""
    if seed_or_rng is None:
        return np.random.default_rng(0)
    return checks.check_rng(fn, "seed", seed_or_rng)


def normal(shape, std, rng, dtype="float32", device=None):
    """Gaussian N(0, std^2) array of ``shape`` (Caffe's ``gaussian`` filler)."""
    if _SHAPES_ONLY.get():
        return _placeholder(shape, dtype)
    _check_size(shape, dtype)
    a = (as_rng(rng).standard_normal(shape) * std).astype(dtype)
    return backend.to_device(a, device or backend.default_device())


def he_normal(shape, rng, dtype="float32", device=None):
    """He/MSRA initialisation for a conv weight (O, C, KH, KW): std = sqrt(2 / (C*KH*KW))."""
    fan_in = int(np.prod(shape[1:]))
    return normal(shape, np.sqrt(2.0 / fan_in), rng, dtype, device)


def zeros(shape, dtype="float32", device=None):
    if _SHAPES_ONLY.get():
        return _placeholder(shape, dtype)
    _check_size(shape, dtype)
    return backend.xp_for(device).zeros(shape, dtype=dtype)


def ones(shape, dtype="float32", device=None):
    if _SHAPES_ONLY.get():
        return _placeholder(shape, dtype)
    _check_size(shape, dtype)
    return backend.xp_for(device).ones(shape, dtype=dtype)
