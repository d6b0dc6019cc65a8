"""Atrous (dilated) 2-D convolution, forward and backward, computed three ways.

DeepLab v2, Sec. 3.1, eq. (1): in 1-D, ``y[i] = sum_k x[i + r*k] w[k]``; the rate ``r`` is the
stride with which the filter samples its input, and ``r = 1`` is ordinary convolution. In 2-D
(cross-correlation, as every deep-learning library computes it)::

    y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] * x_pad[n, c, s*i + r*p, s*j + r*q]

with ``x_pad`` the input zero-padded by ``padding``, stride ``s`` and rate ``r``. The output has
``H_out = (H + 2*ph - r*(KH-1) - 1) // s + 1`` rows (same for columns).

The three methods compute exactly this sum:

``"direct"``
    The readable reference: one loop over the KH*KW taps, each a strided slice of the input
    multiplied by a (O, C) weight matrix.
``"holes"``
    Caffe's im2col with dilation ("sparsely sample the input feature maps"): gather all taps
    of the whole batch into one column matrix of shape (C*KH*KW, H_out*W_out*N) and do one
    GEMM (:mod:`.im2col`, which works on (C, H, W, N) arrays). The backward is two GEMMs and
    col2im. Like Caffe, the columns are rebuilt in the backward pass instead of being kept, so a
    deep network does not hold every layer's column matrix in memory. Two forward variants
    compute the same sum for big layers: a column matrix over 16M numbers is built by bands of
    input channels, and a stride-1 layer whose taps mostly read zero padding (v3's ASPP at rate
    36 on a 41x41 map) skips those products, one GEMM per tap over the outputs it reaches
    (:func:`.im2col.valid_taps_forward_chwn`).
``"deinterlace"``
    TensorFlow's ``atrous_conv2d`` (``space_to_batch``): split the input into r*r sub-images,
    run an ordinary convolution, re-interlace. Lives in :mod:`.deinterlace`.

Shapes: x (N, C, H, W); w (O, C, KH, KW); b (O,) or None; y (N, O, H_out, W_out).
"""
from collections import namedtuple

from .. import backend
from ..checks import (check_array, check_budget, check_cache, check_choice, check_grad,
                      check_int, check_pair, check_same_dtype, conv_output_size)
from ..errors import ArgumentError
from .deinterlace import deinterlace_backward, deinterlace_forward
from .im2col import (from_chwn, holes_backward_chwn, holes_forward_chwn, pad2d, pad_to_chwn,
                     tap_slices, to_chwn, valid_taps_forward_chwn, valid_taps_pay_off)

__all__ = ["conv2d", "conv2d_backward", "CONV_METHODS"]

CONV_METHODS = ("holes", "deinterlace", "direct")

ConvCache = namedtuple("ConvCache", "x_saved x_shape w has_bias stride padding rate method inner")
ConvCache.__doc__ = """What conv2d_backward needs: the padded input ((C, Hp, Wp, N) for
"holes"; (N, C, Hp, Wp) for "direct"; None for "deinterlace"), the input's
shape (N, C, H, W), the weights (O, C, KH, KW), whether there was a bias, the hyper-parameters,
and, for "deinterlace", the cache of its inner ordinary convolution."""
ConvCache.op = "conv2d"


def conv2d(x, w, b=None, *, stride=1, padding=0, rate=1, method="holes"):
    """Atrous convolution (DeepLab v2, Sec. 3.1, eq. 1).

    Parameters
    ----------
    x : (N, C, H, W) float array
    w : (O, C, KH, KW) float array, same dtype and device as ``x``
    b : (O,) float array or None
    stride : int >= 1 (``"deinterlace"`` supports stride 1 only)
    padding : int or (ph, pw), >= 0; zero padding on each side
    rate : int >= 1; the atrous rate r (1 = ordinary convolution)
    method : "holes" | "deinterlace" | "direct"

    Returns
    -------
    y : (N, O, H_out, W_out) array, ``H_out = (H + 2*ph - r*(KH-1) - 1) // stride + 1``
    cache : ConvCache for :func:`conv2d_backward`
    """
    fn = "conv2d"
    check_array(fn, "x", x, ndim=4, nonempty=True)
    check_array(fn, "w", w, ndim=4, nonempty=True)
    if b is not None:
        check_array(fn, "b", b, ndim=1, nonempty=True)
    backend.get_array_module(x, w, b)  # a TypeError if NumPy and CuPy arrays are mixed
    check_same_dtype(fn, x=x, w=w, b=b)
    stride = check_int(fn, "stride", stride, 1)
    rate = check_int(fn, "rate", rate, 1)
    ph, pw = check_pair(fn, "padding", padding, 0)
    check_choice(fn, "method", method, CONV_METHODS)
    N, C, H, W = x.shape
    O, Cw, KH, KW = w.shape
    if C != Cw:
        raise ArgumentError(f"{fn}: x has {C} channels but w expects {Cw} "
                            f"(x.shape={tuple(x.shape)}, w.shape={tuple(w.shape)})")
    if b is not None and b.shape != (O,):
        raise ArgumentError(f"{fn}: b must have shape ({O},) to match w.shape={tuple(w.shape)}, "
                            f"got b.shape={tuple(b.shape)}")
    if rate * (KH - 1) + 1 > H + 2 * ph or rate * (KW - 1) + 1 > W + 2 * pw:
        raise ArgumentError(
            f"{fn}: kernel larger than the padded input: effective kernel "
            f"{rate * (KH - 1) + 1}x{rate * (KW - 1) + 1} (KH={KH}, KW={KW}, rate={rate}) but "
            f"padded input is {H + 2 * ph}x{W + 2 * pw} (x.shape={tuple(x.shape)}, "
            f"padding=({ph}, {pw}))")
    _check_sizes(fn, x, w.shape, stride, (ph, pw), rate, method)
    if method == "deinterlace":
        if stride != 1:
            raise ArgumentError(f"{fn}: method='deinterlace' supports stride=1 only, got "
                                f"stride={stride}; use method='holes' or 'direct' for strided "
                                "convolution")
        y, inner = deinterlace_forward(x, w, (ph, pw), rate)
        cache = ConvCache(None, x.shape, w, b is not None, stride, (ph, pw), rate, method,
                          inner)
    elif method == "holes":
        x_saved = pad_to_chwn(x, ph, pw)                                 # (C, Hp, Wp, N)
        if stride == 1 and valid_taps_pay_off((H, W), (ph, pw), w.shape, rate, N):
            y_t = valid_taps_forward_chwn(x_saved, w, rate, (ph, pw), (H, W))
        else:
            y_t = holes_forward_chwn(x_saved, w, stride, rate)           # (O, OH, OW, N)
        y = from_chwn(y_t)                                               # (N, O, OH, OW)
    else:
        x_saved = x_pad = pad2d(x, ph, pw)
        y = _direct_forward(x_pad, w, stride, rate)
    if method != "deinterlace":
        cache = ConvCache(x_saved, x.shape, w, b is not None, stride, (ph, pw), rate, method,
                          None)
    if b is not None:
        y += b.reshape(1, O, 1, 1)  # y was allocated by this function
    return y, cache


def conv2d_backward(dy, cache):
    """Gradients of :func:`conv2d`.

    Parameters
    ----------
    dy : (N, O, H_out, W_out) array, the upstream gradient dL/dy
    cache : the ConvCache returned by :func:`conv2d`

    Returns
    -------
    dx : (N, C, H, W) array
    dw : (O, C, KH, KW) array
    db : (O,) array, or None when ``conv2d`` had no bias
    """
    fn = "conv2d_backward"
    check_cache(fn, cache, ConvCache)
    N, C, H, W = cache.x_shape
    ph, pw = cache.padding
    O, _, KH, KW = cache.w.shape
    Hp, Wp = H + 2 * ph, W + 2 * pw
    expected = (N, O, conv_output_size(Hp, KH, stride=cache.stride, rate=cache.rate),
                conv_output_size(Wp, KW, stride=cache.stride, rate=cache.rate))
    check_grad(fn, dy, cache.w.dtype, expected)
    backend.get_array_module(dy, cache.w)
    if cache.method == "deinterlace":
        dx, dw = deinterlace_backward(dy, cache.inner)
    else:
        if cache.method == "holes":
            dx_t, dw = holes_backward_chwn(to_chwn(dy), cache.x_saved, cache.w, cache.stride,
                                           cache.rate)
            dx_pad = dx_t.transpose(3, 0, 1, 2)                          # (N, C, Hp, Wp)
        else:
            dx_pad, dw = _direct_backward(dy, cache.x_saved, cache.w, cache.stride, cache.rate)
        dx = dx_pad[:, :, ph:ph + H, pw:pw + W]
    db = dy.sum(axis=(0, 2, 3)) if cache.has_bias else None
    return dx, dw, db


def _check_sizes(fn, x, w_shape, stride, padding, rate, method):
    """Refuse a padded input or an output beyond the machine's memory, before allocating it
    (an absurd padding or rate would otherwise end in NumPy's MemoryError)."""
    (N, C, H, W), (O, _, KH, KW), (ph, pw) = x.shape, w_shape, padding
    Hp, Wp = H + 2 * ph, W + 2 * pw
    if method == "deinterlace":                   # padded further to multiples of the rate
        Hp, Wp = Hp + (-Hp) % rate, Wp + (-Wp) % rate
    OH = conv_output_size(H, KH, stride=stride, padding=ph, rate=rate)
    OW = conv_output_size(W, KW, stride=stride, padding=pw, rate=rate)
    check_budget(fn, f"padding=({ph}, {pw}) and rate={rate}", x.dtype.itemsize,
                 padded_x=(N, C, Hp, Wp), y=(N, O, OH, OW))


def _out_size(x_pad, w, stride, rate):
    return (conv_output_size(x_pad.shape[2], w.shape[2], stride=stride, rate=rate),
            conv_output_size(x_pad.shape[3], w.shape[3], stride=stride, rate=rate))


# ----------------------------------------------------------------------------- direct
def _direct_forward(x_pad, w, stride, rate):
    """y = sum over taps (p, q) of w[:, :, p, q] @ (the input slice that tap reads)."""
    xp = backend.get_array_module(x_pad, w)
    OH, OW = _out_size(x_pad, w, stride, rate)
    y = xp.zeros((x_pad.shape[0], w.shape[0], OH, OW), dtype=x_pad.dtype)
    for p in range(w.shape[2]):
        for q in range(w.shape[3]):
            rows, cols = tap_slices(p, q, rate, stride, OH, OW)
            y += xp.einsum("oc,nchw->nohw", w[:, :, p, q], x_pad[:, :, rows, cols])
    return y


def _direct_backward(dy, x_pad, w, stride, rate):
    """Each tap's forward product, differentiated: dw[:, :, p, q] and a slice of dx_pad."""
    xp = backend.get_array_module(dy, x_pad, w)
    OH, OW = dy.shape[2:]
    dx_pad = xp.zeros_like(x_pad)
    dw = xp.zeros_like(w)
    for p in range(w.shape[2]):
        for q in range(w.shape[3]):
            rows, cols = tap_slices(p, q, rate, stride, OH, OW)
            dw[:, :, p, q] = xp.einsum("nohw,nchw->oc", dy, x_pad[:, :, rows, cols])
            dx_pad[:, :, rows, cols] += xp.einsum("oc,nohw->nchw", w[:, :, p, q], dy)
    return dx_pad, dw
