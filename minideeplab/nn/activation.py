"""ReLU and dropout layers: thin holders around :mod:`minideeplab.functional.activation`."""
import numpy as np

from .. import checks, functional as F
from .module import Module

__all__ = ["ReLU", "Dropout"]


class ReLU(Module):
    """``y = max(x, 0)``; no parameters. Shapes: x (...) -> y (...).

    ``inplace=True`` writes y over x (as PyTorch's): no new array, for a ReLU whose input
    nothing else reads, such as right after a convolution (VGG-16's trunk and head).
    """

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = checks.check_bool("ReLU", "inplace", inplace)

    def forward(self, x):
        y, self.cache = F.relu(x, inplace=self.inplace)
        return y

    def backward(self, dy):
        return F.relu_backward(dy, self.saved_cache())

    def __repr__(self):
        return "ReLU(inplace=True)" if self.inplace else "ReLU()"


class Dropout(Module):
    """Inverted dropout (DeepLab's fc6/fc7: p = 0.5); the identity in eval mode.

    Parameters
    ----------
    p : float in [0, 1], probability of dropping an element
    seed : int, numpy Generator or None. The layer owns a ``numpy.random.Generator``
        (``self.rng``) that advances with every training forward pass, so consecutive passes
        draw new masks and a seed makes the whole sequence reproducible. None draws fresh
        entropy from the OS (not reproducible); networks pass each dropout layer its own seed.
        Save ``self.rng`` with a checkpoint to resume the exact sequence.

    The mask of the last forward pass is kept in the cache and used by ``backward``.
    Shapes: x (...) -> y (...).
    """

    def __init__(self, p=0.5, *, seed=None):
        super().__init__()
        checks.check_number("Dropout", "p", p, 0.0, 1.0)
        self.p = p
        self.reseed(seed)

    def reseed(self, seed):
        """Restart the mask sequence from ``seed`` (an int >= 0, a Generator, or None)."""
        rng = checks.check_rng("Dropout", "seed", seed, required=False)
        self.rng = np.random.default_rng() if rng is None else rng

    def forward(self, x):
        y, self.cache = F.dropout(x, self.p, training=self.training, rng=self.rng)
        return y

    def backward(self, dy):
        return F.dropout_backward(dy, self.saved_cache())

    def __repr__(self):
        return f"Dropout(p={self.p})"
