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
    Caffe's im2col with dilation ("sparsely sample the input feature maps"): gather the taps
    of every output into a column matrix of shape (C*KH*KW, H_out*W_out) and multiply it by
    the filters in one GEMM (:mod:`.im2col`). The matrix is built for one block of output rows
    at a time, small enough to stay in the cache, and minideeplab's threads share the blocks
    (:mod:`.holes`). The backward is two GEMMs: the weight gradient sums ``dy @ cols^T`` over
    the blocks, and for stride 1 the input gradient is the convolution of ``dy`` with the
    flipped filters (col2im for larger strides). Like Caffe, the columns are rebuilt in the
    backward pass instead of being kept, so a deep network does not hold every layer's column
    matrix in memory. A stride-1 layer whose taps mostly read zero padding (v3's ASPP at rate
    36 on a 41x41 map) goes tap by tap instead, each tap one GEMM over only the outputs it
    reaches (:mod:`.taps`): the same sum without the products with zeros.
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
from .holes import holes_backward, holes_forward
from .im2col import pad2d, tap_slices
from .taps import (few_filters, shifted_backward, shifted_forward, valid_taps_pay_off, taps_backward,
                   taps_forward)

__all__ = ["conv2d", "conv2d_backward", "CONV_METHODS"]

CONV_METHODS = ("holes", "deinterlace", "direct")

ConvCache = namedtuple("ConvCache", "x_saved x_shape w has_bias stride padding rate method inner")
ConvCache.__doc__ = """What conv2d_backward needs: the input (x itself for "holes", not a
copy; zero-padded, (N, C, Hp, Wp), for "direct"; None for "deinterlace"), the input's
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
    stride, padding, rate = _check_conv2d(x, w, b, stride, padding, rate, method)
    saved, inner = x, None
    way = _holes_way(x.shape, w.shape, stride, padding, rate) if method == "holes" else None
    if way == "shifted":
        y = shifted_forward(x, w, stride, padding, rate)
    elif way == "taps":
        y = taps_forward(x, w, padding, rate)
    elif method == "holes":
        y = holes_forward(x, w, stride, padding, rate)                  # (N, O, OH, OW)
    elif method == "deinterlace":
        y, inner = deinterlace_forward(x, w, padding, rate)
        saved = None
    else:
        saved = pad2d(x, *padding)
        y = _direct_forward(saved, w, stride, rate)
    if b is not None:
        y += b.reshape(1, -1, 1, 1)          # y was allocated by this function
    return y, ConvCache(saved, x.shape, w, b is not None, stride, padding, rate, method, inner)


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
    _check_conv2d_backward(dy, cache)
    (ph, pw), (H, W) = cache.padding, cache.x_shape[2:]
    c = cache
    way = _holes_way(c.x_shape, c.w.shape, c.stride, c.padding, c.rate) if c.method == "holes" \
        else None
    if way == "shifted":
        dx, dw = shifted_backward(dy, c.x_saved, c.w, c.stride, c.padding, c.rate)
    elif way == "taps":
        dx, dw = taps_backward(dy, c.x_saved, c.w, c.padding, c.rate)
    elif cache.method == "holes":
        dx, dw = holes_backward(dy, cache.x_saved, cache.w, cache.stride, cache.padding,
                                cache.rate)
    elif cache.method == "deinterlace":
        dx, dw = deinterlace_backward(dy, cache.inner)
    else:
        dx_pad, dw = _direct_backward(dy, cache.x_saved, cache.w, cache.stride, cache.rate)
        dx = dx_pad[:, :, ph:ph + H, pw:pw + W]
    db = dy.sum(axis=(0, 2, 3)) if cache.has_bias else None
    return dx, dw, db


def _holes_way(x_shape, w_shape, stride, padding, rate):
    """How "holes" computes a layer: "shifted" (few filters: every tap's product with the whole
    input, shifted into place), "taps" (large rates on small maps: each tap over only the
    outputs it reaches) or "blocks" (im2col by blocks of rows); see :mod:`.taps`, :mod:`.holes`.
    """
    O, C, KH, KW = w_shape
    if few_filters(C, O, KH, KW):
        return "shifted"
    if stride == 1 and valid_taps_pay_off(x_shape[2:], padding, w_shape, rate, x_shape[0]):
        return "taps"
    return "blocks"


def _check_conv2d(x, w, b, stride, padding, rate, method):
    """Every argument of conv2d checked before any work; returns stride, (ph, pw), rate."""
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
    if method == "deinterlace" and stride != 1:
        raise ArgumentError(f"{fn}: method='deinterlace' supports stride=1 only, got "
                            f"stride={stride}; use method='holes' or 'direct' for strided "
                            "convolution")
    _check_sizes(fn, x, w.shape, stride, (ph, pw), rate, method)
    return stride, (ph, pw), rate


def _check_conv2d_backward(dy, cache):
    fn = "conv2d_backward"
    check_cache(fn, cache, ConvCache)
    N, C, H, W = cache.x_shape
    ph, pw = cache.padding
    O, _, KH, KW = cache.w.shape
    expected = (N, O, conv_output_size(H + 2 * ph, KH, stride=cache.stride, rate=cache.rate),
                conv_output_size(W + 2 * pw, KW, stride=cache.stride, rate=cache.rate))
    check_grad(fn, dy, cache.w.dtype, expected)
    backend.get_array_module(dy, cache.w)


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
