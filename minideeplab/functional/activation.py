"""ReLU and dropout, forward and backward.

DeepLab v2 (Sec. 4, the Caffe release): every convolution of the VGG-16 / ResNet trunk is
followed by a ReLU, and the fc6 / fc7 layers of each ASPP branch by ReLU and dropout with
p = 0.5 during training (Caffe's ``Dropout`` layer, ``dropout_ratio: 0.5``).

Shapes: any; x (...) -> y (...) of the same shape and dtype.
"""
from collections import namedtuple

import numpy as np

from .. import backend
from ..checks import check_array, check_bool, check_cache, check_grad, check_number, check_rng
from ..errors import ArgumentError
from ..parallel import elementwise

__all__ = ["relu", "relu_backward", "dropout", "dropout_backward"]

ReluCache = namedtuple("ReluCache", "y dtype")
ReluCache.__doc__ = ("y: the output itself (not a copy; gradients flow where y > 0, which is "
                     "where x > 0); dtype: x's dtype. The next layer usually keeps y for its "
                     "own backward pass, so keeping it here costs no memory, where a mask "
                     "would.")
ReluCache.op = "relu"

DropoutCache = namedtuple("DropoutCache", "mask scale shape dtype")
DropoutCache.__doc__ = ("mask: boolean array shaped like x (True = kept), or None when dropout "
                        "was the identity (eval mode or p = 0); scale: 1 / (1 - p) "
                        "(0 for p = 1); shape, dtype: x's.")
DropoutCache.op = "dropout"


def relu(x, *, inplace=False):
    """Rectified linear unit ``y = max(x, 0)``.

    Parameters
    ----------
    x : float array of any shape, e.g. (N, C, H, W)
    inplace : write y over x (PyTorch's ``inplace=True``): no new array. Only for an x that
        nothing else reads afterwards, such as a convolution's fresh output in VGG-16.

    Returns
    -------
    y : array shaped like x (a new array, or x itself when ``inplace``)
    cache : ReluCache for :func:`relu_backward`
    """
    check_array("relu", "x", x, nonempty=True)
    check_bool("relu", "inplace", inplace)
    xp = backend.get_array_module(x)
    y = elementwise(_relu, x if inplace else xp.empty_like(x), x)
    return y, ReluCache(y, x.dtype)


def _relu(x, out):
    """``max(x, 0)`` into ``out``. NumPy's ``maximum`` skips its vector loop when one operand is
    a scalar (2.5x slower), so on the CPU the zeros are an array, ``_ZERO_BLOCK`` at a time."""
    xp = backend.get_array_module(x)
    if xp is not np or not (x.flags.c_contiguous and out.flags.c_contiguous):
        return xp.maximum(x, 0, out=out)
    x_flat, out_flat = x.reshape(-1), out.reshape(-1)
    zeros = _zeros(x.dtype)
    for a in range(0, x.size, _ZERO_BLOCK):
        b = min(x.size, a + _ZERO_BLOCK)
        np.maximum(x_flat[a:b], zeros[:b - a], out=out_flat[a:b])
    return out


def _relu_grad(dy, y, out):
    """``dy * (y > 0)`` into ``out``, the mask made as 0.0 / 1.0 in ``out`` itself (NumPy's
    product with a boolean mask converts it on the way: 25% slower)."""
    xp = backend.get_array_module(dy)
    xp.greater(y, 0, out=out)
    return xp.multiply(out, dy, out=out)


_ZERO_BLOCK = 2 ** 18
_ZEROS = {}


def _zeros(dtype):
    """``_ZERO_BLOCK`` zeros of ``dtype``, read-only, made once."""
    if dtype not in _ZEROS:
        z = np.zeros(_ZERO_BLOCK, dtype=dtype)
        z.flags.writeable = False
        _ZEROS[dtype] = z
    return _ZEROS[dtype]


def relu_backward(dy, cache):
    """Gradient of :func:`relu`: ``dx = dy`` where x > 0, else 0 (0 at x = 0, as Caffe/PyTorch).

    dy : array shaped like x -> dx : array shaped like x
    """
    fn = "relu_backward"
    check_cache(fn, cache, ReluCache)
    check_grad(fn, dy, cache.dtype, cache.y.shape)
    xp = backend.get_array_module(dy, cache.y)
    # dy * (y > 0): arithmetic, not where(): no branch per element
    return elementwise(_relu_grad, xp.empty_like(dy), dy, cache.y, part=2 ** 19)


def dropout(x, p, *, training, rng=None):
    """Inverted dropout (Srivastava et al. 2014; Caffe's and PyTorch's convention).

    In training each element is kept with probability ``1 - p`` and the kept elements are
    scaled by ``1 / (1 - p)``, so ``E[y] = x`` and evaluation needs no rescaling: in eval mode
    (``training=False``) dropout is the identity.

    Parameters
    ----------
    x : float array of any shape, e.g. (N, C, H, W)
    p : real number in [0, 1] (Python or NumPy scalar), the probability of *dropping* an
        element (DeepLab: 0.5)
    training : bool (True or False, nothing else); False returns ``x`` unchanged (a copy)
    rng : ``numpy.random.Generator`` or int seed >= 0; required when training with p > 0.
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
    check_array(fn, "x", x, nonempty=True)
    xp = backend.get_array_module(x)
    p = check_number(fn, "p", p, 0.0, 1.0)
    training = check_bool(fn, "training", training)
    rng = check_rng(fn, "rng", rng, required=False)
    shape, dtype = tuple(x.shape), x.dtype
    if not training or p == 0:
        return x.copy(), DropoutCache(None, 1.0, shape, dtype)
    if p == 1:
        return xp.zeros_like(x), DropoutCache(xp.zeros(x.shape, dtype=bool), 0.0, shape, dtype)
    if rng is None:
        raise ArgumentError(f"{fn}: rng (a numpy.random.Generator or an int seed) is required when "
                            f"training with p={p} > 0 (x.shape={tuple(x.shape)})")
    mask = backend.random_uniform(xp, x.shape, rng) >= p           # P(keep) = 1 - p
    scale = 1.0 / (1.0 - p)
    y = x * mask
    y *= x.dtype.type(scale)
    return y, DropoutCache(mask, scale, shape, dtype)


def dropout_backward(dy, cache):
    """Gradient of :func:`dropout`: ``dx = dy * mask / (1 - p)``, with the forward's mask.

    dy : array shaped like x -> dx : array shaped like x
    """
    fn = "dropout_backward"
    check_cache(fn, cache, DropoutCache)
    check_grad(fn, dy, cache.dtype, cache.shape)
    if cache.mask is None:
        return dy.copy()
    backend.get_array_module(dy, cache.mask)
    dx = dy * cache.mask
    dx *= dy.dtype.type(cache.scale)
    return dx
