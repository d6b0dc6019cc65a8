"""Checks for the training exercises: the backward of bilinear resizing, of the loss, and SGD.

Notebooks 05 and 06. The expected answers come from
:func:`minideeplab.functional.resize_bilinear_backward` (align_corners=False),
:func:`minideeplab.functional.softmax_cross_entropy_backward` and
:class:`minideeplab.optim.SGD` (Caffe's update) on random cases and the edge cases.
"""
import numpy as np

from ... import nn
from ...functional import resize as _resize
from ...functional.loss import softmax, softmax_cross_entropy, softmax_cross_entropy_backward
from ...optim import SGD, poly_lr
from ._core import Case, run_check, scaled_by

__all__ = ["check_resize_backward", "check_cross_entropy_backward", "check_caffe_sgd"]


# ------------------------------------------------------------------ resize backward
def _resize_backward(dy, in_size, align_corners=False):
    N, C = dy.shape[:2]
    _, cache = _resize.resize_bilinear(np.zeros((N, C) + tuple(in_size)), dy.shape[2:],
                                       align_corners=align_corners)
    return _resize.resize_bilinear_backward(dy, cache)


def _resize_cases(rng):
    for N, C, size_in, size_out, what in [
            (1, 1, (3, 4), (6, 8), "an upsampling by 2"),
            (2, 3, (5, 5), (13, 7), "a non-integer upsampling"),
            (1, 2, (13, 13), (97, 97), "the x8 upsampling of a 13-cell score map"),
            (1, 1, (9, 8), (4, 3), "a downsampling (several inputs per output)"),
            (1, 1, (1, 4), (5, 9), "an input one row high"),
            (2, 1, (4, 4), (4, 4), "the identity (same size)")]:
        dy = rng.standard_normal((N, C) + size_out)
        yield Case(f"{what}: dy.shape={dy.shape}, in_size={size_in}", (dy, size_in),
                   _resize_backward(dy, size_in))


def _swapped_weights(dy, in_size):
    out = np.zeros(dy.shape[:2] + tuple(in_size))
    a = [_swap(_resize.interp_matrix(n_in, n_out, align_corners=False))
         for n_in, n_out in zip(in_size, dy.shape[2:])]
    for n in range(dy.shape[0]):
        for c in range(dy.shape[1]):
            out[n, c] = a[0].T @ dy[n, c] @ a[1]
    return out


def _swap(a):
    """The interpolation matrix with 1 - lam and lam exchanged between i0 and i1."""
    b = np.zeros_like(a)
    for i, row in enumerate(a):
        nz = np.nonzero(row)[0]
        if len(nz) == 2:
            b[i, nz[0]], b[i, nz[1]] = row[nz[1]], row[nz[0]]
        else:
            b[i] = row
    return b


_CLAMP_HINT = ("Clamp the source coordinate itself at 0, src = max((i + 1/2) H_in/H_out - 1/2, 0): "
               "the first outputs of an upsampling then read pixel 0 with weight 1. Without it "
               "src < 0 there, and i0 = -1 (which NumPy reads as the last pixel) or, with only "
               "the index kept in range, weights 1 - lam > 1 and lam < 0.")


def _unclamped_matrix(n_in, n_out, clip_index):
    """The interpolation matrix without the clamp at 0. Near the edge src < 0: i0 = -1, which
    NumPy indexing wraps around to the last input pixel, or with ``clip_index`` i0 = 0 and a
    negative lam."""
    a = np.zeros((n_out, n_in))
    for o in range(n_out):
        src = (o + 0.5) * n_in / n_out - 0.5
        i0 = min(int(np.floor(src)), n_in - 1)
        i0 = max(i0, 0) if clip_index else i0
        i1 = min(i0 + 1, n_in - 1)
        a[o, i0] += 1 - (src - i0)
        a[o, i1] += src - i0
    return a


def _no_clamp(dy, in_size, clip_index=False):
    a = [_unclamped_matrix(n_in, n_out, clip_index) for n_in, n_out in zip(in_size, dy.shape[2:])]
    return np.einsum("oh,ncop,pw->nchw", a[0], dy, a[1])


def _only_the_border_differs(got, case):
    """The answer is right inside and wrong only on the first or last row or column."""
    got = np.asarray(got, dtype=np.float64)
    expected = case.expected
    if got.shape != expected.shape or min(expected.shape[2:]) < 3:
        return None
    bad = ~np.isclose(got, expected, rtol=1e-6, atol=case.atol)
    if bad.any() and not bad[:, :, 1:-1, 1:-1].any():
        return "Only the border pixels of your gradient are wrong. " + _CLAMP_HINT
    return None


def _forward_instead(dy, in_size):
    y, _ = _resize.resize_bilinear(dy, in_size, align_corners=False)
    return y


def check_resize_backward(fn, *, seed=0):
    """Check ``fn(dy, in_size)``: the gradient of ``resize_bilinear(x, dy.shape[2:],
    align_corners=False)`` with respect to x (N, C, *in_size), given dy (N, C, H_out, W_out).

    Mistakes recognised: align_corners=True coordinates; the interpolation weights swapped;
    dy resized back to the input size (the forward map, not its transpose); the source
    coordinate not clamped at 0 (any answer wrong only on the border pixels).
    """
    return run_check("bilinear resize backward", fn, _resize_cases(np.random.default_rng(seed)), [
        (lambda dy, s: _resize_backward(dy, s, True),
         "That is the gradient with align_corners=True coordinates; this exercise uses "
         "PyTorch's default src = (i + 1/2) in/out - 1/2, clamped at 0."),
        (_swapped_weights, "Did you swap the interpolation weights? The nearer input pixel "
                           "gets the larger weight: 1 - lam goes to i0 = floor(src)."),
        (_forward_instead, "You resized dy back to the input size; the backward is the "
                           "transpose, dx = A_h^T dy A_w, which adds up every output a pixel "
                           "contributed to."),
        (_no_clamp, _CLAMP_HINT),
        (lambda dy, s: _no_clamp(dy, s, clip_index=True), _CLAMP_HINT),
    ], [_only_the_border_differs])


# ------------------------------------------------------------------ cross-entropy backward
def _ce_backward(logits, labels, ignore_index=255):
    _, cache = softmax_cross_entropy(logits, labels, ignore_index=ignore_index)
    return softmax_cross_entropy_backward(cache)


def _ce_cases(rng):
    for N, L, H, W, frac, what in [(2, 3, 2, 2, 0.0, "no ignored pixel"),
                                   (2, 5, 4, 3, 0.3, "about 30% ignored pixels"),
                                   (1, 21, 5, 5, 0.9, "21 classes, 90% ignored"),
                                   (1, 4, 3, 3, 1.0, "every pixel ignored (the gradient is 0)")]:
        logits = rng.standard_normal((N, L, H, W)) * 3
        labels = rng.integers(0, L, (N, H, W))
        labels[rng.random((N, H, W)) < frac] = 255
        yield Case(f"{what}: logits.shape={logits.shape}", (logits, labels, 255),
                   _ce_backward(logits, labels))
    logits = np.array([[[[1000.0]], [[-1000.0]], [[0.0]]]])
    yield Case("logits of magnitude 1000 (exp overflows: subtract the maximum)",
               (logits, np.array([[[1]]]), 255), _ce_backward(logits, np.array([[[1]]])))


def _ce_all_pixels(logits, labels, ignore_index):
    g = _ce_backward(logits, labels, ignore_index)
    valid = (labels != ignore_index).sum()
    return g * valid / labels.size


def _ce_per_image(logits, labels, ignore_index):
    valid = labels != ignore_index
    return _ce_backward(logits, labels, ignore_index) * max(valid.sum(), 1) / labels.shape[0]


def _ce_scaled(got, case):
    """A gradient off by a constant factor: the mean taken over the wrong count."""
    c = scaled_by(got, case.expected)
    if c is None:
        return None
    logits, labels, ignore_index = case.args
    valid = int((labels != ignore_index).sum())
    return (f"Your gradient is the right one times {c:.4g}: check what you divide by. The "
            f"loss is the mean over the non-ignored pixels of the whole batch, {valid} here "
            f"(not the batch size {labels.shape[0]}, nor all {labels.size} pixels).")


def _ce_not_masked(logits, labels, ignore_index):
    valid = labels != ignore_index
    p = softmax(logits)
    onehot = np.arange(logits.shape[1])[None, :, None, None] == np.where(valid, labels,
                                                                         0)[:, None]
    return (p - onehot) / max(valid.sum(), 1)


def check_cross_entropy_backward(fn, *, seed=0):
    """Check ``fn(logits, labels, ignore_index)``: d(mean loss over the non-ignored pixels)/
    d logits, (N, L, H, W).

    Mistakes recognised: the sign flipped (onehot - softmax); divided by every pixel, or by the
    batch size, instead of the number of non-ignored pixels (and any other constant factor);
    ignored pixels given a gradient (as if their label were 0).
    """
    return run_check("cross-entropy backward", fn, _ce_cases(np.random.default_rng(seed)), [
        (lambda lg, lb, ig: -_ce_backward(lg, lb, ig),
         "Your sign is flipped: the gradient is softmax - onehot (it lowers the true class's "
         "loss when you step against it)."),
        (_ce_all_pixels, "You divided by every pixel; the loss is the mean over the "
                         "non-ignored pixels only, so divide by their count."),
        (_ce_per_image, "You divided by the batch size N: the loss is the mean over every "
                        "non-ignored pixel of the batch, not a sum per image averaged over "
                        "images, so divide by the number of non-ignored pixels."),
        (_ce_not_masked, "Ignored pixels must get a zero gradient (you treated them as "
                         "label 0?)."),
    ], [_ce_scaled])


# ------------------------------------------------------------------ Caffe's SGD
def _caffe_sgd(w, grads, lrs, momentum, weight_decay):
    """The library's SGD on a one-parameter module: final weights after len(lrs) steps."""
    layer = nn.Conv2d(w.size, 1, 1, bias=False, dtype="float64")
    layer.params["weight"] = w.reshape(1, w.size, 1, 1).astype(np.float64).copy()
    opt = SGD(layer, lr=0.0, momentum=momentum, weight_decay=weight_decay)
    for g, lr in zip(grads, lrs):
        layer.grads["weight"] = g.reshape(1, w.size, 1, 1).astype(np.float64)
        opt.step(lr)
    return layer.params["weight"].reshape(w.shape)


def _torch_sgd(w, grads, lrs, momentum, weight_decay):
    w, v = w.astype(np.float64).copy(), np.zeros(w.shape)
    for g, lr in zip(grads, lrs):
        v = momentum * v + (g + weight_decay * w)
        w = w - lr * v
    return w


def _sgd_no_decay(w, grads, lrs, momentum, weight_decay):
    return _caffe_sgd(w, grads, lrs, momentum, 0.0)


def _sgd_cases(rng):
    for steps, lrs_of, decay, what in [
            (5, lambda n: [0.01] * n, 5e-4, "a constant learning rate"),
            (20, lambda n: [poly_lr(0.01, i, n) for i in range(n)], 5e-4,
             "the poly schedule (the rate changes every step)"),
            (12, lambda n: [0.1] * 4 + [0.01] * 4 + [0.001] * 4, 0.0,
             "a step schedule without weight decay"),
            (1, lambda n: [0.5], 0.1, "a single step")]:
        w = rng.standard_normal(6)
        grads = [rng.standard_normal(6) for _ in range(steps)]
        lrs = lrs_of(steps)
        yield Case(f"{what} ({steps} steps, weight_decay={decay})",
                   (w, grads, lrs, 0.9, decay), _caffe_sgd(w, grads, lrs, 0.9, decay),
                   atol=1e-10)


def check_caffe_sgd(fn, *, seed=0):
    """Check ``fn(w, grads, lrs, momentum, weight_decay)``: the weights after one Caffe SGD
    step per (gradient, learning rate), velocity starting at 0.

    Mistakes recognised: PyTorch's update (the rate multiplies the buffer: it agrees with
    Caffe's while the rate is constant, so only the schedule cases catch it); the weight decay
    left out.
    """
    return run_check("Caffe's SGD", fn, _sgd_cases(np.random.default_rng(seed)), [
        (_torch_sgd, "That is PyTorch's update (v = m v + g, w -= lr v): the same as Caffe's "
                     "while lr is constant, different once it changes. Caffe puts the rate "
                     "inside the buffer: v = m v + lr g."),
        (_sgd_no_decay, "You left out the weight decay: Caffe adds weight_decay * w to the "
                        "gradient before the momentum update."),
    ])
