"""Atrous convolution by deinterlacing (``space_to_batch``), forward and backward.

DeepLab v2, Sec. 3.1, the second method: "subsample the input feature map by a factor equal to
the atrous convolution rate r, deinterlacing it to produce r^2 reduced resolution maps, one for
each of the r x r possible shifts. This is followed by applying standard convolution to these
intermediate feature maps and reinterlacing them to the original image resolution." This is
TensorFlow's ``tf.nn.atrous_conv2d``.

Why it works: output ``(i, j)`` with ``i = r*u + a`` reads the padded input at rows
``i + r*p = r*(u + p) + a``. All those rows have the same remainder ``a`` modulo r, so they all
lie in sub-image ``a`` (rows a, a+r, a+2r, ...), where they are *adjacent*: rows ``u + p``.
An ordinary convolution of sub-image (a, b) with the undilated kernel therefore gives exactly
the outputs ``y[r*u + a, r*v + b]``.

Steps (stride 1 only), with Hp = H + 2*ph:

1. pad: zero padding ``ph``, then ``extra = (r - Hp % r) % r`` more rows at the bottom
   (FACTS: TF pads to a multiple of r), so the padded height ``Hr`` is ``r * Hs``;
2. space to batch: (N, C, Hr, Wr) -> (r*r*N, C, Hs, Ws), sub-image (a, b) = x[a::r, b::r];
3. ordinary convolution (rate 1, no padding): -> (r*r*N, O, Hs-KH+1, Ws-KW+1);
4. batch to space: re-interlace into (N, O, r*(Hs-KH+1), r*(Ws-KW+1));
5. crop to the true output size ``Hp - r*(KH-1)``.

The backward pass runs the adjoint of each step in reverse order: pad dy with zeros (adjoint
of the crop), space to batch (adjoint of batch to space), the ordinary convolution's backward,
batch to space (adjoint of space to batch), crop away the padding.
"""
from collections import namedtuple

from .. import backend

__all__ = ["space_to_batch", "batch_to_space", "deinterlace_forward", "deinterlace_backward"]

DeinterlaceCache = namedtuple("DeinterlaceCache", "x_shape w padding rate out_size sub")
DeinterlaceCache.__doc__ = ("The input shape (N, C, H, W), the weights, padding, rate, output "
                            "size and the sub-images (C, Hs, Ws, r*r*N) kept for dw.")


def space_to_batch(x, rate, *, layout="NCHW"):
    """Split (N, C, r*Hs, r*Ws) into its r*r deinterlaced sub-images.

    Returns (r*r*N, C, Hs, Ws), where batch index ``(a*r + b)*N + n`` holds
    ``x[n, :, a::r, b::r]`` (TensorFlow's layout). With ``layout="CHWN"`` the same sub-images
    come as (C, Hs, Ws, r*r*N), the layout the convolution's GEMM works in.
    """
    N, C, H, W = x.shape
    r = rate
    Hs, Ws = H // r, W // r
    x = x.reshape(N, C, Hs, r, Ws, r)         # x[n, c, h*r + a, w*r + b] -> [n, c, h, a, w, b]
    if layout == "CHWN":
        x = x.transpose(1, 2, 4, 3, 5, 0)     # -> (c, h, w, a, b, n)
        return x.reshape(C, Hs, Ws, r * r * N)
    x = x.transpose(3, 5, 0, 1, 2, 4)         # -> (a, b, n, c, h, w)
    return x.reshape(r * r * N, C, Hs, Ws)    # copies: the sub-images become contiguous


def batch_to_space(y, rate, *, layout="NCHW"):
    """Re-interlace: the inverse of :func:`space_to_batch`.

    (r*r*N, O, h, w) -> (N, O, r*h, r*w); with ``layout="CHWN"`` the input is (O, h, w, r*r*N).
    """
    r = rate
    if layout == "CHWN":
        O, h, w, B = y.shape
        N = B // (r * r)
        y = y.reshape(O, h, w, r, r, N).transpose(5, 0, 1, 3, 2, 4)   # (o,h,w,a,b,n) -> (n,o,h,a,w,b)
    else:
        B, O, h, w = y.shape
        N = B // (r * r)
        y = y.reshape(r, r, N, O, h, w).transpose(2, 3, 4, 0, 5, 1)   # (a,b,n,o,h,w) -> (n,o,h,a,w,b)
    return y.reshape(N, O, h * r, w * r)      # row h*r + a, column w*r + b


def deinterlace_forward(x, w, padding, rate):
    """Atrous convolution (stride 1) by space_to_batch, ordinary convolution, batch_to_space.

    Parameters
    ----------
    x : (N, C, H, W); w : (O, C, KH, KW); padding : (ph, pw); rate : int r >= 1

    Returns
    -------
    y : (N, O, Hp - r*(KH-1), Wp - r*(KW-1)) without bias
    cache : DeinterlaceCache
    """
    from .conv import holes_forward_chwn, pad2d  # the ordinary (rate-1) GEMM convolution

    xp = backend.get_array_module(x, w)
    ph, pw = padding
    r = rate
    KH, KW = w.shape[2:]
    Hp, Wp = x.shape[2] + 2 * ph, x.shape[3] + 2 * pw
    x_pad = pad2d(x, ph, pw)
    extra_h, extra_w = (r - Hp % r) % r, (r - Wp % r) % r      # pad up to a multiple of r
    if extra_h or extra_w:
        x_pad = xp.pad(x_pad, ((0, 0), (0, 0), (0, extra_h), (0, extra_w)))
    sub = space_to_batch(x_pad, r, layout="CHWN")             # (C, Hs, Ws, r*r*N)
    y_sub = holes_forward_chwn(sub, w, 1, 1)                   # (O, Hs-KH+1, Ws-KW+1, r*r*N)
    out_size = (Hp - r * (KH - 1), Wp - r * (KW - 1))
    y = batch_to_space(y_sub, r, layout="CHWN")[:, :, :out_size[0], :out_size[1]]
    return y, DeinterlaceCache(x.shape, w, padding, r, out_size, sub)


def deinterlace_backward(dy, cache):
    """The adjoint of every forward step, in reverse order. Returns (dx, dw)."""
    from .conv import holes_backward_chwn

    xp = backend.get_array_module(dy, cache.w)
    N, C, H, W = cache.x_shape
    O, _, KH, KW = cache.w.shape
    if tuple(dy.shape) != (N, O) + tuple(cache.out_size):
        raise ValueError(f"conv2d_backward: dy.shape={tuple(dy.shape)} does not match the "
                         f"forward output shape {(N, O) + tuple(cache.out_size)}")
    r = cache.rate
    ph, pw = cache.padding
    Hs, Ws = cache.sub.shape[1:3]
    dy_full = xp.zeros((N, O, r * (Hs - KH + 1), r * (Ws - KW + 1)), dtype=dy.dtype)
    dy_full[:, :, :cache.out_size[0], :cache.out_size[1]] = dy   # adjoint of the crop
    dy_sub = space_to_batch(dy_full, r, layout="CHWN")            # adjoint of batch_to_space
    dsub, dw = holes_backward_chwn(dy_sub, cache.sub, cache.w, 1, 1)
    # adjoint of space_to_batch: (C, Hs, Ws, r*r*N) -> (N, C, r*Hs, r*Ws)
    dx_pad = batch_to_space(dsub, r, layout="CHWN")
    return dx_pad[:, :, ph:ph + H, pw:pw + W], dw                # adjoint of the padding
