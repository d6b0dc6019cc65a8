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

__all__ = ["batch_norm", "batch_norm_backward"]

BatchNormCache = namedtuple("BatchNormCache",
                            "xhat gamma inv_std training running_mean running_var dtype")
BatchNormCache.__doc__ = """xhat (N, C, H, W): the normalised input; gamma (C,); inv_std (C,):
1 / sqrt(var + eps) of the statistics used (xhat, gamma and inv_std in float32 for float16
inputs); training: whether batch statistics were used; running_mean, running_var (C,): the
running statistics after this call (new arrays when training, the given ones otherwise);
dtype: the dtype of x (and of every result)."""
BatchNormCache.op = "batch_norm"

_AXES = (0, 2, 3)


def _per_channel(v):
    return v.reshape(1, -1, 1, 1)


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
    dtype, ct = x.dtype, compute_dtype(x.dtype)
    if ct != dtype:
        x, gamma, beta = x.astype(ct), gamma.astype(ct), beta.astype(ct)
        running_mean, running_var = running_mean.astype(ct), running_var.astype(ct)
    M = N * H * W
    if training:
        if M < 2:
            raise ArgumentError(f"{fn}: training needs more than one value per channel to estimate "
                                f"a variance, got x.shape={tuple(x.shape)}; use training=False "
                                "(eval or frozen statistics) for such inputs")
        mean = x.mean(axis=_AXES)                                   # (C,)
        xc = x - _per_channel(mean)
        var = (xc * xc).mean(axis=_AXES)                            # biased, used to normalise
        m = ct.type(momentum)
        new_mean = (1 - m) * running_mean + m * mean
        new_var = (1 - m) * running_var + m * var * ct.type(M / (M - 1))
        if ct != dtype:
            new_mean, new_var = _cast_statistics(fn, xp, dtype, new_mean, new_var)
    else:
        mean, var = running_mean, running_var
        xc = x - _per_channel(mean)
        new_mean, new_var = args["running_mean"], args["running_var"]
    inv_std = 1 / xp.sqrt(var + ct.type(eps))                       # (C,)
    xhat = xc * _per_channel(inv_std)
    y = (xhat * _per_channel(gamma) + _per_channel(beta)).astype(dtype, copy=False)
    return y, BatchNormCache(xhat, gamma, inv_std, training, new_mean, new_var, dtype)


def _cast_statistics(fn, xp, dtype, mean, var):
    """Running statistics computed in float32, cast back to ``dtype``; refused if they overflow.

    (A float16 running variance of activations with std ~300 or more is beyond 65504.)
    """
    limit = float(np.finfo(dtype).max)
    big = float(xp.maximum(abs(mean).max(), var.max()))      # one number: one transfer
    if not big <= limit:
        raise ArgumentError(f"{fn}: the updated running statistics reach {big:.3g}, beyond the "
                            f"range of {np.dtype(dtype)} (max {limit:.6g}) of running_mean and "
                            f"running_var; keep the statistics in float32, or use momentum=0")
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
    check_grad(fn, dy, cache.dtype, cache.xhat.shape)
    backend.get_array_module(dy, cache.xhat)
    dtype, xhat = cache.dtype, cache.xhat
    dy = dy.astype(xhat.dtype, copy=False)
    dbeta = dy.sum(axis=_AXES)
    dgamma = (dy * xhat).sum(axis=_AXES)
    scale = _per_channel(cache.gamma * cache.inv_std)
    if not cache.training:
        dx = dy * scale
    else:
        N, C, H, W = dy.shape
        M = N * H * W
        dx = scale * (dy - _per_channel(dbeta / M) - xhat * _per_channel(dgamma / M))
    return (dx.astype(dtype, copy=False), dgamma.astype(dtype, copy=False),
            dbeta.astype(dtype, copy=False))
