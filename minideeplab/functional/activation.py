"""ReLU and dropout, forward and backward.

DeepLab v2 (Sec. 4, the Caffe release): every convolution of the VGG-16 / ResNet trunk is
followed by a ReLU, and the fc6 / fc7 layers of each ASPP branch by ReLU and dropout with
p = 0.5 during training (Caffe's ``Dropout`` layer, ``dropout_ratio: 0.5``).

Shapes: any; x (...) -> y (...) of the same shape and dtype.
"""
from collections import namedtuple

import numpy

from .. import backend
from ..checks import check_array

__all__ = ["relu", "relu_backward", "dropout", "dropout_backward"]

ReluCache = namedtuple("ReluCache", "mask")
ReluCache.__doc__ = "mask: boolean array shaped like x, True where x > 0 (where gradients flow)."

DropoutCache = namedtuple("DropoutCache", "mask scale")
DropoutCache.__doc__ = ("mask: boolean array shaped like x (True = kept), or None when dropout "
                        "was the identity (eval mode or p = 0); scale: 1 / (1 - p) "
                        "(0 for p = 1).")


def relu(x):
    """Rectified linear unit ``y = max(x, 0)``.

    Parameters
    ----------
    x : float array of any shape, e.g. (N, C, H, W)

    Returns
    -------
    y : array shaped like x (a new array)
    cache : ReluCache for :func:`relu_backward`
    """
    check_array("relu", "x", x)
    xp = backend.get_array_module(x)
    return xp.maximum(x, 0), ReluCache(x > 0)


def relu_backward(dy, cache):
    """Gradient of :func:`relu`: ``dx = dy`` where x > 0, else 0 (0 at x = 0, as Caffe/PyTorch).

    dy : array shaped like x -> dx : array shaped like x
    """
    check_array("relu_backward", "dy", dy)
    backend.get_array_module(dy, cache.mask)
    if dy.shape != cache.mask.shape:
        raise ValueError(f"relu_backward: dy.shape={tuple(dy.shape)} does not match the forward "
                         f"input shape {tuple(cache.mask.shape)}")
    return dy * cache.mask        # arithmetic, not where(): no branch per element


def dropout(x, p, *, training, rng=None):
    """Inverted dropout (Srivastava et al. 2014; Caffe's and PyTorch's convention).

    In training each element is kept with probability ``1 - p`` and the kept elements are
    scaled by ``1 / (1 - p)``, so ``E[y] = x`` and evaluation needs no rescaling: in eval mode
    (``training=False``) dropout is the identity.

    Parameters
    ----------
    x : float array of any shape, e.g. (N, C, H, W)
    p : float in [0, 1], the probability of *dropping* an element (DeepLab: 0.5)
    training : bool; False returns ``x`` unchanged (a copy)
    rng : ``numpy.random.Generator`` or int seed; required when training with p > 0.
        A Generator advances with each call; an int seed gives the same mask every call. On
        the GPU the mask is made on the device from one seed that ``rng`` draws
        (:func:`minideeplab.backend.random_uniform`): no mask crosses the bus, and the masks
        differ from the CPU's.

    Returns
    -------
    y : array shaped like x
    cache : DropoutCache for :func:`dropout_backward` (it keeps the mask: the backward pass
        uses exactly the mask of the forward pass)
    """
    fn = "dropout"
    check_array(fn, "x", x)
    xp = backend.get_array_module(x)
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{fn}: p must be a number in [0, 1], got {p!r}")
    if not training or p == 0:
        return x.copy(), DropoutCache(None, 1.0)
    if p == 1:
        return xp.zeros_like(x), DropoutCache(xp.zeros(x.shape, dtype=bool), 0.0)
    if rng is None:
        raise ValueError(f"{fn}: rng (a numpy.random.Generator or an int seed) is required when "
                         f"training with p={p} > 0 (x.shape={tuple(x.shape)})")
    if not isinstance(rng, numpy.random.Generator):
        rng = numpy.random.default_rng(rng)
    mask = backend.random_uniform(xp, x.shape, rng) >= p           # P(keep) = 1 - p
    scale = 1.0 / (1.0 - p)
    y = x * mask
    y *= x.dtype.type(scale)
    return y, DropoutCache(mask, scale)


def dropout_backward(dy, cache):
    """Gradient of :func:`dropout`: ``dx = dy * mask / (1 - p)``, with the forward's mask.

    dy : array shaped like x -> dx : array shaped like x
    """
    check_array("dropout_backward", "dy", dy)
    if cache.mask is None:
        return dy.copy()
    backend.get_array_module(dy, cache.mask)
    if dy.shape != cache.mask.shape:
        raise ValueError(f"dropout_backward: dy.shape={tuple(dy.shape)} does not match the "
                         f"forward input shape {tuple(cache.mask.shape)}")
    dx = dy * cache.mask
    dx *= dy.dtype.type(cache.scale)
    return dx
