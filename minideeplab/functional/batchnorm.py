"""Batch normalisation over (N, H, W) for each channel, forward and backward.

Ioffe & Szegedy 2015, Alg. 1: ``y = gamma * (x - mu) / sqrt(var + eps) + beta``, with the mean
``mu`` and the (biased) variance ``var`` of each channel taken over the batch and all positions
(M = N*H*W numbers per channel).

Three ways it is used in DeepLab
--------------------------------
* **train** (``training=True``): normalise with the batch's statistics and update the running
  statistics. DeepLab v3 (Sec. 4) trains its batch norm this way, with batches of 16.
* **eval** (``training=False``): normalise with the running statistics.
* **frozen**: DeepLab v2 trains ResNet-101 with batches of 10 crops, too few for good batch
  statistics, so its Caffe prototxt sets ``use_global_stats: true`` in every BatchNorm layer
  (the pretrained running statistics are used in training as well) and ``lr_mult: 0`` on the
  Scale layer (gamma and beta stay fixed). DeepLab v3's second phase also freezes batch norm
  (docs/conventions.md, "Batch norm"). The functional op computes it as ``training=False``: the running
  statistics are constants, so ``dx = dy * gamma / sqrt(running_var + eps)``; the gradients of
  gamma and beta are still returned, and the layer (:class:`minideeplab.nn.BatchNorm2d`,
  ``frozen=True, freeze_affine=True``) decides whether they are learned.

Running statistics (PyTorch's convention)
-----------------------------------------
``running = (1 - momentum) * running + momentum * batch_statistic`` with the *unbiased* batch
variance ``var * M / (M - 1)`` for ``running_var``; PyTorch's default ``momentum = 0.1``.
TensorFlow's ``decay`` d is ``momentum = 1 - d`` (DeepLab v3's batch_norm_decay 0.9997 is
momentum 0.0003). Caffe's BatchNorm layer keeps sums with ``moving_average_fraction`` instead;
we do not reproduce that. The op never modifies its inputs: the updated statistics are new
arrays returned in the cache (``cache.running_mean``, ``cache.running_var``).

Shapes: x (N, C, H, W); gamma, beta, running_mean, running_var (C,); y (N, C, H, W).
"""
from collections import namedtuple

import numpy as np

from .. import backend
from ..checks import (check_array, check_bool, check_cache, check_grad, check_number,
                      check_same_dtype, compute_dtype)
from ..errors import ArgumentError
from ..parallel import run_all, split

__all__ = ["batch_norm", "batch_norm_backward"]

BatchNormCache = namedtuple("BatchNormCache",
                            "x xhat mean gamma inv_std training running_mean running_var dtype")
BatchNormCache.__doc__ = """What batch_norm_backward needs. With batch statistics: xhat (N, C,
H, W), the normalised input (x is None). With running statistics: x itself and mean, the
statistic it was centred with (xhat is None: the forward never formed it; the backward
recomputes it for dgamma only). gamma (C,); inv_std (C,): 1 / sqrt(var + eps) of the
statistics used (these in float32 for float16 inputs); training: whether batch statistics were
used; running_mean, running_var (C,): the running statistics after this call (new arrays when
training, the given ones otherwise); dtype: the dtype of x (and of every result)."""
BatchNormCache.op = "batch_norm"

_AXES = (0, 2, 3)


def _per_channel(v):
    return v.reshape(1, -1, 1, 1)


def _channel_dot(xp, a, b):
    """sum over N, H, W of a * b, per channel: (C,) (one pass, no temporary array)."""
    return xp.einsum("nchw,nchw->c", a, b)


def batch_norm(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
    """Batch normalisation (Ioffe & Szegedy 2015, Alg. 1) in train or eval/frozen mode.

    Parameters
    ----------
    x : (N, C, H, W) float array
    gamma, beta : (C,) scale and shift, same dtype as x
    running_mean, running_var : (C,) running statistics, same dtype as x
    training : bool (True or False). True: use the batch statistics and update the running
        ones (needs more than one value per channel, N*H*W > 1). False: use the running
        statistics (eval mode, and the frozen mode DeepLab v2 trains with; see the module doc).
    momentum : float in [0, 1], weight of the new batch in the running statistics
    eps : float > 0, added to the variance

    Returns
    -------
    y : (N, C, H, W), x's dtype
    cache : BatchNormCache for :func:`batch_norm_backward`; ``cache.running_mean`` and
        ``cache.running_var`` hold the updated running statistics.

    float16 inputs are normalised in float32 (a variance of values ~1000 is ~1e6, beyond
    float16's 65504) and the results cast back to float16. Updated running statistics that
    float16 cannot hold are a ValueError (they would be inf: eval mode would output zeros).
    """
    xp, momentum, eps = _check_batch_norm(x, gamma, beta, running_mean, running_var, training,
                                          momentum, eps)
    dtype, ct = x.dtype, compute_dtype(x.dtype)
    x, gamma, beta = x.astype(ct, copy=False), gamma.astype(ct), beta.astype(ct)
    C = x.shape[1]
    if training:
        M = x.size // C                                             # N*H*W values per channel
        mean, var, inv_std = (xp.empty(C, dtype=ct) for _ in range(3))
        xhat, y = xp.empty(x.shape, dtype=ct), xp.empty(x.shape, dtype=ct)

        def normalise(group):                    # Alg. 1 for channels c0:c1, into xhat and y
            c = slice(*group)
            x_c, xhat_c, y_c = x[:, c], xhat[:, c], y[:, c]
            mean[c] = x_c.mean(axis=_AXES, dtype=ct)
            xp.subtract(x_c, _per_channel(mean[c]), out=xhat_c)
            var[c] = _channel_dot(xp, xhat_c, xhat_c) / ct.type(M)  # biased, to normalise
            inv_std[c] = 1 / xp.sqrt(var[c] + ct.type(eps))
            xhat_c *= _per_channel(inv_std[c])
            xp.multiply(xhat_c, _per_channel(gamma[c]), out=y_c)
            y_c += _per_channel(beta[c])

        _by_channels(xp, x, normalise)
        m = ct.type(momentum)
        new_mean = (1 - m) * running_mean.astype(ct) + m * mean
        new_var = (1 - m) * running_var.astype(ct) + m * var * ct.type(M / (M - 1))
        new_mean, new_var = _cast_statistics(xp, dtype, new_mean, new_var)
        cache = BatchNormCache(None, xhat, None, gamma, inv_std, True, new_mean, new_var, dtype)
    else:                                  # y = x * scale + (beta - mean * scale)
        mean = running_mean.astype(ct)
        inv_std = 1 / xp.sqrt(running_var.astype(ct) + ct.type(eps))
        scale, shift = gamma * inv_std, beta - mean * gamma * inv_std
        y = xp.empty(x.shape, dtype=ct)

        def affine(group):
            c = slice(*group)
            xp.multiply(x[:, c], _per_channel(scale[c]), out=y[:, c])
            y[:, c] += _per_channel(shift[c])

        _by_channels(xp, x, affine)
        cache = BatchNormCache(x, None, mean, gamma, inv_std, False, running_mean, running_var,
                               dtype)
    return y.astype(dtype, copy=False), cache


def _by_channels(xp, x, fn):
    """``fn((c0, c1))`` for groups of channels that together cover x's (N, C, H, W).

    Batch norm treats every channel on its own, so on the CPU, for arrays of at least 2^20
    numbers, the groups are shared out between the threads (:func:`minideeplab.parallel.split`:
    they depend on the shapes only), each small enough that its passes read what the previous
    one wrote from the cache; with many channels on a small map NumPy's cost per channel (one
    inner loop each) counts too (eval, 1x1024x41x41: 1.1 ms on one thread, 0.6 on two).
    Smaller arrays, and CuPy's, are one group: the hand-off would cost about what it saves.
    """
    C = x.shape[1]
    if xp is np and x.size >= 2 ** 20:
        groups = split(C, max(1, 2 ** 16 // (x.size // C)))
    else:
        groups = [(0, C)]
    run_all(fn, groups, xp)


def _check_batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps):
    """Every argument of batch_norm checked before any work; returns xp, momentum, eps."""
    fn = "batch_norm"
    check_array(fn, "x", x, ndim=4, nonempty=True)
    args = dict(gamma=gamma, beta=beta, running_mean=running_mean, running_var=running_var)
    for name, a in args.items():
        check_array(fn, name, a, ndim=1, nonempty=True)
    xp = backend.get_array_module(x, gamma, beta, running_mean, running_var)
    check_same_dtype(fn, x=x, **args)
    N, C, H, W = x.shape
    for name, a in args.items():
        if a.shape != (C,):
            raise ArgumentError(f"{fn}: x has {C} channels but {name} has shape {tuple(a.shape)} "
                                f"(x.shape={tuple(x.shape)}); they must have shape ({C},)")
    training = check_bool(fn, "training", training)
    momentum = check_number(fn, "momentum", momentum, 0.0, 1.0)
    eps = check_number(fn, "eps", eps, 0.0)
    if not 0 < eps < float("inf"):
        raise ArgumentError(f"{fn}: eps must be > 0 and finite, got {eps}")
    if training and N * H * W < 2:
        raise ArgumentError(f"{fn}: training needs more than one value per channel to "
                            f"estimate a variance, got x.shape={tuple(x.shape)}; use "
                            "training=False (eval or frozen statistics) for such inputs")
    return xp, momentum, eps


def _cast_statistics(xp, dtype, mean, var):
    """Running statistics computed in float32, cast back to ``dtype``; refused if they overflow.

    (A float16 running variance of activations with std ~300 or more is beyond 65504.)
    """
    if mean.dtype == dtype:
        return mean, var
    limit = float(np.finfo(dtype).max)
    big = float(xp.maximum(abs(mean).max(), var.max()))      # one number: one transfer
    if not big <= limit:
        raise ArgumentError(f"batch_norm: the updated running statistics reach {big:.3g}, "
                            f"beyond the range of {np.dtype(dtype)} (max {limit:.6g}) of "
                            "running_mean and running_var; keep the statistics in float32, or "
                            "use momentum=0")
    return mean.astype(dtype), var.astype(dtype)


def batch_norm_backward(dy, cache):
    """Gradients of :func:`batch_norm`.

    With batch statistics the mean and variance depend on x, which gives (Ioffe & Szegedy 2015,
    Sec. 3; M = N*H*W)::

        dx = gamma * inv_std * (dy - mean(dy) - xhat * mean(dy * xhat))

    (means over N, H, W per channel); with running statistics (eval, frozen) they are constants
    and ``dx = gamma * inv_std * dy``. In both cases ``dgamma = sum(dy * xhat)`` and
    ``dbeta = sum(dy)``.

    Parameters
    ----------
    dy : (N, C, H, W), the forward's dtype
    cache : BatchNormCache

    Returns
    -------
    dx : (N, C, H, W); dgamma, dbeta : (C,); all in the forward's dtype (computed in float32
    for float16)
    """
    fn = "batch_norm_backward"
    check_cache(fn, cache, BatchNormCache)
    kept = cache.xhat if cache.training else cache.x
    check_grad(fn, dy, cache.dtype, kept.shape)
    xp = backend.get_array_module(dy, kept)
    dy = dy.astype(kept.dtype, copy=False)
    scale = cache.gamma * cache.inv_std                             # (C,)
    C = dy.shape[1]
    dgamma, dbeta = xp.empty(C, dtype=kept.dtype), xp.empty(C, dtype=kept.dtype)
    dx = xp.empty(dy.shape, dtype=kept.dtype)
    M = dy.size // C

    def gradients(group):                         # channels c0:c1
        c = slice(*group)
        dy_c, dx_c, s = dy[:, c], dx[:, c], scale[c]
        dbeta[c] = dy_c.sum(axis=_AXES)
        if cache.training:
            xhat_c = cache.xhat[:, c]
            dgamma[c] = _channel_dot(xp, dy_c, xhat_c)
            xp.multiply(xhat_c, _per_channel(-s * dgamma[c] / M), out=dx_c)   # three terms,
            dx_c += dy_c * _per_channel(s)                                   # added into dx
            dx_c -= _per_channel(s * dbeta[c] / M)
        else:
            x_c = cache.x[:, c] - _per_channel(cache.mean[c])
            dgamma[c] = _channel_dot(xp, dy_c, x_c) * cache.inv_std[c]
            xp.multiply(dy_c, _per_channel(s), out=dx_c)

    _by_channels(xp, dy, gradients)
    return (dx.astype(cache.dtype, copy=False), dgamma.astype(cache.dtype, copy=False),
            dbeta.astype(cache.dtype, copy=False))
