"""Softmax, log-softmax and the pixel-wise softmax cross-entropy loss with an ignore label.

DeepLab v2, Sec. 4.1: "Our loss function is the sum of cross-entropy terms for each spatial
position in the CNN output map (subsampled by 8 compared to the original image). All positions
and labels are equally weighted in the overall loss." The Caffe release
(``SoftmaxWithLoss`` with ``ignore_label: 255``, normalization VALID) divides the sum by the
number of pixels whose label is not ignored, over the whole batch::

    loss = -(1 / |V|) * sum_{(n, i, j) in V} log softmax(logits[n, :, i, j])[labels[n, i, j]]

where V is the set of pixels with ``labels != ignore_index`` (VOC marks object boundaries and
padding with 255). With no valid pixel at all the loss is 0 and its gradient is 0 (Caffe would
divide by zero; PyTorch returns NaN).

Numerical stability: the log-sum-exp is taken after subtracting the per-pixel maximum logit,
so logits of magnitude 1e4 (whose ``exp`` overflows even in float64) give exact results.

Shapes: logits (N, L, H, W) float; labels (N, H, W) integer in [0, L) or ``ignore_index``.
"""
import numbers
from collections import namedtuple

from .. import backend
from ..checks import check_array, check_bool, check_cache, check_int, check_number, compute_dtype
from ..errors import ArgumentError

__all__ = ["softmax", "log_softmax", "softmax_cross_entropy", "softmax_cross_entropy_backward"]

CrossEntropyCache = namedtuple("CrossEntropyCache", "prob labels valid count dtype")
CrossEntropyCache.__doc__ = """prob (N, L, H, W): the softmax of the logits (float32 for float16
logits); labels (N, H, W): the labels with ignored pixels set to 0; valid (N, H, W) bool: the
pixels that count; count: their number, a 0-d integer array on the logits' device (kept there:
reading it would be a device-to-host sync); dtype: the logits' dtype."""
CrossEntropyCache.op = "softmax_cross_entropy"


def _check_axis(fn, x, axis):
    """``axis`` an int in [-x.ndim, x.ndim): the axis the softmax normalises over."""
    axis = check_int(fn, "axis", axis, -x.ndim)
    if axis >= x.ndim:
        raise ArgumentError(f"{fn}: axis must be in [-{x.ndim}, {x.ndim}) for x.shape="
                            f"{tuple(x.shape)}, got {axis}")
    return axis


def log_softmax(x, axis=1):
    """``log softmax(x)`` along ``axis`` (the label axis of (N, L, H, W) by default), stably:
    ``x - m - log(sum(exp(x - m)))`` with ``m`` the maximum along ``axis``. Returns an array
    shaped like x, of x's dtype (computed in float32 for float16)."""
    fn = "log_softmax"
    check_array(fn, "x", x, nonempty=True)
    axis = _check_axis(fn, x, axis)
    return _log_softmax(x.astype(compute_dtype(x.dtype), copy=False), axis).astype(
        x.dtype, copy=False)


def _log_softmax(x, axis):
    xp = backend.get_array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(x, axis=1):
    """Softmax along ``axis`` (class probabilities of a score map (N, L, H, W) by default).

    ``exp(x - m) / sum(exp(x - m))`` with ``m`` the maximum along ``axis``, so large logits do
    not overflow. Returns an array shaped like x whose entries along ``axis`` sum to 1, of
    x's dtype (computed in float32 for float16).
    """
    fn = "softmax"
    check_array(fn, "x", x, nonempty=True)
    axis = _check_axis(fn, x, axis)
    xp = backend.get_array_module(x)
    xc = x.astype(compute_dtype(x.dtype), copy=False)
    e = xp.exp(xc - xc.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype, copy=False)


def _check_labels(fn, logits, labels, ignore_index):
    check_array(fn, "logits", logits, ndim=4, nonempty=True)
    check_array(fn, "labels", labels, floating=False, nonempty=True)
    if labels.dtype.kind not in "iu":
        raise ArgumentError(f"{fn}: labels must be an integer array, got dtype {labels.dtype} "
                            f"(labels.shape={tuple(labels.shape)}); convert with .astype('int64')")
    N, L, H, W = logits.shape
    if tuple(labels.shape) != (N, H, W):
        raise ArgumentError(f"{fn}: labels.shape={tuple(labels.shape)} does not match "
                            f"logits.shape={tuple(logits.shape)}: expected ({N}, {H}, {W}) "
                            "(downsample the labels with resize_labels_nearest)")
    if ignore_index is not None and (isinstance(ignore_index, bool)
                                     or not isinstance(ignore_index, numbers.Integral)):
        raise ArgumentError(f"{fn}: ignore_index must be an int or None, got {ignore_index!r}")


def softmax_cross_entropy(logits, labels, *, ignore_index=255, check_labels=True):
    """Mean softmax cross-entropy over the non-ignored pixels (DeepLab v2, Sec. 4.1).

    Parameters
    ----------
    logits : (N, L, H, W) float array, the score map
    labels : (N, H, W) integer array; each value is a class in [0, L) or ``ignore_index``
    ignore_index : int or None; pixels with this label do not count (None: every pixel counts)
    check_labels : bool; check that every label is in [0, L) or ``ignore_index``. On a GPU
        the check reads one flag back to the host (a device-to-host sync); a training loop
        whose labels were already checked on the host (``data.to_batch(...,
        num_classes=L)``) passes False and the loss then runs without any sync.

    Returns
    -------
    loss : 0-d array of the logits' dtype on their device (0 when every pixel is ignored);
        float16 logits are computed in float32 (a sum of losses of large logits overflows
        float16) and the mean cast back
    cache : CrossEntropyCache for :func:`softmax_cross_entropy_backward`

    Raises
    ------
    ValueError if a label outside [0, L) (other than ``ignore_index``) occurs (only with
    ``check_labels``), or the shapes do not match; TypeError for non-integer labels.
    With ``check_labels=False`` an out-of-range label gives a wrong loss (CuPy) or an
    IndexError (NumPy) instead of this clear error.
    """
    fn = "softmax_cross_entropy"
    _check_labels(fn, logits, labels, ignore_index)
    check_bool(fn, "check_labels", check_labels)
    xp = backend.get_array_module(logits, labels)
    L = logits.shape[1]
    valid = labels != ignore_index if ignore_index is not None else xp.ones(labels.shape, bool)
    if check_labels:
        bad = valid & ((labels < 0) | (labels >= L))
        if bool(bad.any()):                          # on a GPU: the one sync of this function
            values = sorted(int(v) for v in backend.asnumpy(xp.unique(labels[bad]))[:5])
            raise ArgumentError(f"{fn}: labels must be in [0, {L}) or the ignore_index "
                                f"{ignore_index}, found {values} (labels.shape="
                                f"{tuple(labels.shape)}, logits.shape={tuple(logits.shape)})")
    safe = xp.where(valid, labels, 0).astype("int64")                   # (N, H, W)
    logp = _log_softmax(logits.astype(compute_dtype(logits.dtype), copy=False), 1)
    picked = xp.take_along_axis(logp, safe[:, None], axis=1)[:, 0]      # (N, H, W)
    count = valid.sum()                      # stays on the device: no int() here
    total = -(picked * valid).sum()
    loss = xp.asarray(total / xp.maximum(count, 1), dtype=logits.dtype)
    return loss, CrossEntropyCache(xp.exp(logp), safe, valid, count, logits.dtype)


def softmax_cross_entropy_backward(cache, dloss=1.0):
    """Gradient of the loss of :func:`softmax_cross_entropy` with respect to the logits.

    ``dlogits[n, l, i, j] = dloss * (softmax[n, l, i, j] - [l == labels[n, i, j]]) / |V|`` on
    valid pixels, 0 on ignored ones (and everywhere when no pixel is valid).

    Parameters
    ----------
    cache : CrossEntropyCache
    dloss : real number, or a 0-d array of the logits' dtype on their device: the upstream
        gradient of the scalar loss (default 1)

    Returns
    -------
    dlogits : (N, L, H, W), the logits' dtype
    """
    fn = "softmax_cross_entropy_backward"
    check_cache(fn, cache, CrossEntropyCache)
    _check_dloss(fn, dloss, cache)
    xp = backend.get_array_module(cache.prob)
    prob = cache.prob
    L = prob.shape[1]
    onehot = xp.arange(L).reshape(1, L, 1, 1) == cache.labels[:, None]  # (N, L, H, W)
    dlogits = (prob - onehot) * cache.valid[:, None]      # (N, L, H, W), 0 where ignored
    dlogits *= xp.asarray(dloss, dtype=prob.dtype) / xp.maximum(cache.count, 1).astype(
        prob.dtype)
    return dlogits.astype(cache.dtype, copy=False)


def _check_dloss(fn, dloss, cache):
    """dloss: a finite real number (not a bool; free to check, unlike an array on a GPU) or a
    0-d array of the logits' dtype and device."""
    if isinstance(dloss, numbers.Real) and not isinstance(dloss, bool):
        check_number(fn, "dloss", dloss)               # NaN or inf: a gradient of NaN
        return
    if isinstance(dloss, bool) or not hasattr(dloss, "shape") or not hasattr(dloss, "dtype"):
        raise ArgumentError(f"{fn}: dloss must be a real number or a 0-d array, got {dloss!r}")
    check_array(fn, "dloss", dloss, nonempty=True)
    if dloss.shape != ():
        raise ArgumentError(f"{fn}: dloss must be a scalar (the gradient of the scalar loss), got "
                            f"dloss.shape={tuple(dloss.shape)}")
    if dloss.dtype != cache.dtype:
        raise ArgumentError(f"{fn}: dloss has dtype {dloss.dtype} but the logits had dtype "
                            f"{cache.dtype}")
    backend.get_array_module(dloss, cache.prob)
