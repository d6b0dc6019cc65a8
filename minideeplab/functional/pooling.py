"""Max, average and global average pooling, forward and backward.

DeepLab v2's VGG-16 trunk (Caffe release; docs/conventions.md, "Networks"): pool1-pool3 are 3x3 max pooling with
stride 2 and padding 1; pool4 and pool5 keep stride 1 (3x3, padding 1), which with conv5's rate 2
gives output stride 8 (Sec. 3.1). DeepLab v3's image-pooling branch (Chen et al. 2017, Sec. 3.3)
starts with a global average pool.

Output size, and why it rounds up
---------------------------------
Caffe's pooling layer *rounds up*::

    H_out = ceil((H + 2p - k) / s) + 1,   then   H_out -= 1  if  (H_out - 1) * s >= H + p

The correction drops a last window that would start inside the bottom padding (or past it), so
every window overlaps the real input. This is PyTorch's ``ceil_mode=True`` rule exactly (PyTorch
applies the correction for any padding, Caffe only for p > 0; the two differ only when k < s
without padding, where Caffe would emit a window outside the input). We use it by default
(``ceil_mode=True``) because DeepLab's sizes follow from it: 321 -> 161 -> 81 -> 41 through
pool1-pool3 (3x3, stride 2, pad 1). ``ceil_mode=False`` gives the floor rule of
:func:`~minideeplab.functional.conv_output_size`. As in PyTorch, ``padding <= kernel // 2``.

Windows that reach past the padded input (ceil mode) see only the pixels that exist: max
pooling treats padding as -inf; average pooling divides by the window's size clipped to the
padded input ``[-p, H + p)`` (Caffe's ``pool_size``; PyTorch's ``count_include_pad=True``), or,
with ``count_include_pad=False``, by the number of real pixels it covers.

Implementation: the k*k taps of the window are strided slices of the padded input (as in the
convolution's ``_tap``, with rate 1): one vectorised pass per tap, no loop over pixels.

Shapes: x (N, C, H, W) -> y (N, C, H_out, W_out).
"""
from collections import namedtuple

import numpy as np

from .. import backend
from ..checks import (check_array, check_bool, check_cache, check_grad, check_int, check_ints,
                      check_pair, compute_dtype)
from ..errors import ArgumentError
from ..parallel import run_all, split

__all__ = ["pool_output_size", "max_pool2d", "max_pool2d_backward", "avg_pool2d",
           "avg_pool2d_backward", "global_avg_pool", "global_avg_pool_backward"]

MaxPoolCache = namedtuple("MaxPoolCache", "x_shape kernel stride padding argmax dtype")
MaxPoolCache.__doc__ = ("x_shape (N, C, H, W); kernel, stride, padding as (h, w) pairs; argmax "
                        "(N, C, H_out, W_out): which tap t = p*KW + q of each window held the "
                        "maximum (the first one, in row-major order, on ties: as Caffe/PyTorch); "
                        "dtype: x's.")
MaxPoolCache.op = "max_pool2d"
AvgPoolCache = namedtuple("AvgPoolCache", "x_shape kernel stride padding divisor")
AvgPoolCache.__doc__ = ("x_shape (N, C, H, W); kernel, stride, padding as (h, w) pairs; divisor "
                        "(H_out, W_out): the number each window's sum was divided by (x's "
                        "dtype).")
AvgPoolCache.op = "avg_pool2d"
GlobalPoolCache = namedtuple("GlobalPoolCache", "x_shape dtype")
GlobalPoolCache.__doc__ = "x_shape (N, C, H, W) and dtype of the input."
GlobalPoolCache.op = "global_avg_pool"


def pool_output_size(size, kernel, stride, padding, ceil_mode=True):
    """Output length of pooling along one axis (Caffe's rounding up by default; see module doc).

    ``ceil_mode=True``: ``ceil((size + 2p - k) / s) + 1``, minus one if the last window would
    start at or beyond ``size + p``. ``ceil_mode=False``: ``(size + 2p - k) // s + 1``.
    Size, kernel and stride are ints >= 1, padding >= 0.
    """
    fn = "pool_output_size"
    check_ints(fn, 1, size=size, kernel=kernel, stride=stride)
    check_int(fn, "padding", padding, 0)
    check_bool(fn, "ceil_mode", ceil_mode)
    span = size + 2 * padding - kernel
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1              # ceil division with integers only
    if (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _check_pool(fn, x, kernel, stride, padding, ceil_mode):
    check_array(fn, "x", x, ndim=4, nonempty=True)
    check_bool(fn, "ceil_mode", ceil_mode)
    kernel = check_pair(fn, "kernel", kernel, 1)
    stride = kernel if stride is None else check_pair(fn, "stride", stride, 1)
    padding = check_pair(fn, "padding", padding, 0)
    for ax, (k, p) in enumerate(zip(kernel, padding)):
        if p > k // 2:
            raise ArgumentError(f"{fn}: padding must be at most half the kernel, got "
                                f"padding={padding}, kernel={kernel}")
        if x.shape[2 + ax] + 2 * p < k:
            raise ArgumentError(f"{fn}: kernel {kernel} larger than the padded input "
                                f"(x.shape={tuple(x.shape)}, padding={padding})")
    # a stride beyond the padded input gives one window along that axis, as a stride equal to
    # it does (the same output and gradient); the smaller one keeps the index arithmetic in int64
    stride = tuple(min(s, x.shape[2 + a] + 2 * padding[a]) for a, s in enumerate(stride))
    return kernel, stride, padding


def _sizes(x_shape, kernel, stride, padding, ceil_mode):
    return tuple(pool_output_size(x_shape[2 + a], kernel[a], stride[a], padding[a], ceil_mode)
                 for a in (0, 1))


def _padded(x, out_size, kernel, stride, padding, fill):
    """x placed at [ph:ph+H, pw:pw+W] of a ``fill``-valued array that every window fits in."""
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    (ph, pw), (OH, OW) = padding, out_size
    Hn = max((OH - 1) * stride[0] + kernel[0], ph + H)   # ceil mode may need extra rows
    Wn = max((OW - 1) * stride[1] + kernel[1], pw + W)
    x_pad = xp.full((N, C, Hn, Wn), fill, dtype=x.dtype)
    x_pad[:, :, ph:ph + H, pw:pw + W] = x
    return x_pad


def _taps(kernel, stride, out_size):
    """Yield (t, rows, cols): tap t = p*KW + q of the window reads x_pad[:, :, rows, cols]."""
    (OH, OW), (sh, sw) = out_size, stride
    for p in range(kernel[0]):
        for q in range(kernel[1]):
            # output (i, j) reads row s*i + p: rows p, p + s, ..., p + s*(OH-1)
            yield (p * kernel[1] + q, slice(p, p + sh * (OH - 1) + 1, sh),
                   slice(q, q + sw * (OW - 1) + 1, sw))


def _check_dy(fn, dy, cache, out_size, dtype):
    check_grad(fn, dy, dtype, tuple(cache.x_shape[:2]) + tuple(out_size))


def max_pool2d(x, kernel, stride=None, padding=0, *, ceil_mode=True):
    """Max pooling: ``y[n, c, i, j] = max_{p,q} x_pad[n, c, s*i + p, s*j + q]`` (pad = -inf).

    Parameters
    ----------
    x : (N, C, H, W) float array
    kernel : int or (KH, KW); stride : int or pair (default: the kernel); padding : int or
        pair, at most kernel // 2
    ceil_mode : round the output size up as Caffe does (default) or down

    Returns
    -------
    y : (N, C, H_out, W_out), sizes from :func:`pool_output_size`
    cache : MaxPoolCache for :func:`max_pool2d_backward`
    """
    kernel, stride, padding = _check_pool("max_pool2d", x, kernel, stride, padding,
                                          ceil_mode)
    xp = backend.get_array_module(x)
    N, C = x.shape[:2]
    out_size = _sizes(x.shape, kernel, stride, padding, ceil_mode)
    arg_dtype = np.uint8 if kernel[0] * kernel[1] <= 256 else np.int32
    y = xp.empty((N, C) + out_size, dtype=x.dtype)
    argmax = xp.zeros((N, C) + out_size, dtype=arg_dtype)

    def channels(block):                         # one group of channels, on one thread
        c0, c1 = block
        x_pad = _padded(x[:, c0:c1], out_size, kernel, stride, padding, -np.inf)
        y_c, argmax_c = y[:, c0:c1], argmax[:, c0:c1]
        better, t_better = xp.empty(y_c.shape, dtype=bool), xp.empty(y_c.shape, arg_dtype)
        for t, rows, cols in _taps(kernel, stride, out_size):
            v = x_pad[:, :, rows, cols]                                # (N, c1-c0, OH, OW)
            if t == 0:
                y_c[...] = v
                continue
            xp.greater(v, y_c, out=better)      # strict: the first maximum wins on ties
            # taps come in increasing order, so every earlier argmax is < t: max(argmax,
            # t*better) writes t exactly where this tap is better (faster than where())
            xp.multiply(better, arg_dtype(t), out=t_better)
            xp.maximum(argmax_c, t_better, out=argmax_c)
            xp.maximum(y_c, v, out=y_c)

    per_channel = N * out_size[0] * out_size[1]   # groups of >= 2^16 outputs (small maps: few)
    run_all(channels, split(C, max(4, -(-2 ** 16 // per_channel))) if xp is np else [(0, C)],
            xp)
    return y, MaxPoolCache(x.shape, kernel, stride, padding, argmax, x.dtype)


def max_pool2d_backward(dy, cache):
    """Gradient of :func:`max_pool2d`: each dy goes to the input that was the window's maximum.

    dy (N, C, H_out, W_out) -> dx (N, C, H, W). Overlapping windows (stride < kernel) add up.
    The maximum of window (i, j) came from tap t = p*KW + q, the pixel at row s*i + p, column
    s*j + q of the padded map (row s*i + p - ph of the input); a scatter-add sends every dy
    there (repeated pixels add up), by images and groups of channels shared out between the
    threads.
    """
    fn = "max_pool2d_backward"
    check_cache(fn, cache, MaxPoolCache)
    _check_dy(fn, dy, cache, cache.argmax.shape[2:], cache.dtype)
    xp = backend.get_array_module(dy, cache.argmax)
    N, C, H, W = cache.x_shape
    OH, OW = dy.shape[2:]
    (KH, KW), (sh, sw), (ph, pw) = cache.kernel, cache.stride, cache.padding
    # A window's maximum is never in the padding (-inf; every window overlaps the input), so
    # the flat index of its pixel in the unpadded map, (s*i + p - ph) * W + (s*j + q - pw),
    # is always inside it: no padded buffer to fill and cut back. int32 when it fits.
    index = np.int32 if C * H * W < 2 ** 31 else np.int64
    corner = (((xp.arange(OH) * sh - ph) * W)[:, None]
              + (xp.arange(OW) * sw - pw)).astype(index)               # (OH, OW)
    offset = xp.asarray([p * W + q for p in range(KH) for q in range(KW)], dtype=index)
    channel = (xp.arange(C) * (H * W)).astype(index)[:, None, None]   # each map's first pixel
    dx = xp.empty(cache.x_shape, dtype=dy.dtype)

    def block(item):                              # one image, one group of channels
        n, (c0, c1) = item
        dx[n, c0:c1] = 0                          # zeroed here, by the threads, in order
        where = offset.take(cache.argmax[n, c0:c1])                    # (c1-c0, OH, OW)
        where += corner
        where += channel[:c1 - c0]
        backend.scatter_add(dx[n, c0:c1].reshape(-1), where.ravel(), dy[n, c0:c1].ravel())

    groups = split(C, max(8, -(-2 ** 16 // (OH * OW)))) if xp is np else [(0, C)]
    run_all(block, [(n, g) for n in range(N) for g in groups], xp)
    return dx


def _padded_gradient(xp, cache, dy):
    """Zeros covering the padded input and every window: (N, C, Hn, Wn), for a backward."""
    N, C, H, W = cache.x_shape
    (ph, pw), (oh, ow) = cache.padding, dy.shape[2:]
    Hn = max((oh - 1) * cache.stride[0] + cache.kernel[0], ph + H)
    Wn = max((ow - 1) * cache.stride[1] + cache.kernel[1], pw + W)
    return xp.zeros((N, C, Hn, Wn), dtype=dy.dtype)


def _unpad(dx_pad, cache):
    """The input's part of a padded gradient: (N, C, Hn, Wn) -> (N, C, H, W), a copy."""
    H, W = cache.x_shape[2:]
    ph, pw = cache.padding
    return dx_pad[:, :, ph:ph + H, pw:pw + W].copy()


def _divisor_1d(xp, size, out, kernel, stride, padding, count_include_pad):
    start = xp.arange(out) * stride - padding                   # first row of each window
    end = xp.minimum(start + kernel, size + padding)            # clipped to the padded input
    if not count_include_pad:
        start, end = xp.maximum(start, 0), xp.minimum(end, size)
    return end - start


def avg_pool2d(x, kernel, stride=None, padding=0, *, ceil_mode=True, count_include_pad=True):
    """Average pooling: each window's sum divided by its size (see the module doc).

    Parameters
    ----------
    x : (N, C, H, W) float array
    kernel, stride, padding, ceil_mode : as :func:`max_pool2d`
    count_include_pad : count the zero padding in the divisor (Caffe's AVE pooling; default)

    Returns
    -------
    y : (N, C, H_out, W_out)
    cache : AvgPoolCache for :func:`avg_pool2d_backward`
    """
    kernel, stride, padding = _check_pool("avg_pool2d", x, kernel, stride, padding,
                                          ceil_mode)
    check_bool("avg_pool2d", "count_include_pad", count_include_pad)
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    out_size = _sizes(x.shape, kernel, stride, padding, ceil_mode)
    dh = _divisor_1d(xp, H, out_size[0], kernel[0], stride[0], padding[0], count_include_pad)
    dw = _divisor_1d(xp, W, out_size[1], kernel[1], stride[1], padding[1], count_include_pad)
    divisor = (dh[:, None] * dw[None, :]).astype(x.dtype)               # (OH, OW)
    x_pad = _padded(x, out_size, kernel, stride, padding, 0)
    y = xp.zeros((N, C) + out_size, dtype=x.dtype)
    for _, rows, cols in _taps(kernel, stride, out_size):
        y += x_pad[:, :, rows, cols]
    y /= divisor
    return y, AvgPoolCache(x.shape, kernel, stride, padding, divisor)


def avg_pool2d_backward(dy, cache):
    """Gradient of :func:`avg_pool2d`: every pixel of a window gets ``dy / divisor``.

    dy (N, C, H_out, W_out) -> dx (N, C, H, W).
    """
    fn = "avg_pool2d_backward"
    check_cache(fn, cache, AvgPoolCache)
    _check_dy(fn, dy, cache, cache.divisor.shape, cache.divisor.dtype)
    xp = backend.get_array_module(dy, cache.divisor)
    g = dy / cache.divisor
    dx_pad = _padded_gradient(xp, cache, dy)
    for _, rows, cols in _taps(cache.kernel, cache.stride, dy.shape[2:]):
        dx_pad[:, :, rows, cols] += g
    return _unpad(dx_pad, cache)


def global_avg_pool(x):
    """Global average pooling (DeepLab v3's image-level features, Sec. 3.3).

    x (N, C, H, W) -> y (N, C, 1, 1), the mean over all H*W positions. The v3 image-pooling
    branch brings it back to (H, W) with :func:`resize_bilinear`, which from a 1x1 map is a
    plain broadcast.
    """
    check_array("global_avg_pool", "x", x, ndim=4, nonempty=True)
    y = x.mean(axis=(2, 3), keepdims=True, dtype=compute_dtype(x.dtype))  # float32 for float16
    return y.astype(x.dtype, copy=False), GlobalPoolCache(x.shape, x.dtype)


def global_avg_pool_backward(dy, cache):
    """Gradient of :func:`global_avg_pool`: dy (N, C, 1, 1) broadcast back, divided by H*W.

    dy (N, C, 1, 1) -> dx (N, C, H, W).
    """
    fn = "global_avg_pool_backward"
    check_cache(fn, cache, GlobalPoolCache)
    _check_dy(fn, dy, cache, (1, 1), cache.dtype)
    xp = backend.get_array_module(dy)
    N, C, H, W = cache.x_shape
    return xp.broadcast_to(dy / (H * W), cache.x_shape).copy()
