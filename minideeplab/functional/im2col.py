"""The im2col core of convolution: padding, the column matrix and its adjoint, one GEMM.

DeepLab v2, Sec. 3.1: Caffe computes atrous convolution by "adding to the im2col function ...
the option to sparsely sample the underlying feature maps": gather the inputs of every output
position into a column matrix, taps ``rate`` apart, and multiply it by the filters in one GEMM.
Both atrous methods of :mod:`.conv` are built on this module: "holes" (:mod:`.holes`) calls
:func:`im2col` with the rate on one block of output rows at a time, and "deinterlace"
(:mod:`.deinterlace`) calls :func:`holes_forward_chwn` with rate 1 on each group of sub-images,
one GEMM for the whole group (shared out between the threads by bands of filters,
:func:`minideeplab.parallel.matmul`).

Layout: the GEMM wants channels outermost and the batch innermost, so this module works on
(C, H, W, N) arrays ("CHWN"); :func:`to_chwn` / :func:`from_chwn` convert. With the batch
innermost, every tap's slice copies runs of OW*N contiguous numbers, which keeps im2col fast even
for the tiny sub-images of the deinterlacing method. (One image of an (N, C, H, W) array,
transposed, is such an array with N = 1, without a copy.)

Shapes, for a padded input (C, Hp, Wp, N), filters (O, C, KH, KW), stride s and rate r:
``OH = (Hp - r*(KH-1) - 1) // s + 1`` (likewise OW); the column matrix is
(C*KH*KW, OH*OW*N) and the output (O, OH, OW, N).
"""
from .. import backend
from ..parallel import matmul

__all__ = ["pad2d", "tap_slices", "to_chwn", "pad_to_chwn", "from_chwn", "im2col", "col2im",
           "holes_forward_chwn", "holes_backward_chwn", "output_size", "COLUMN_BUDGET"]

# The forward's column matrix is built for a band of input channels at a time when the whole
# would hold more numbers than this (16M: 64 MB in float32). DeepLabV3's rate-36 ASPP branch on a
# 65x65 map of 2048 channels would otherwise need a 311 MB column matrix; by bands the result is
# the same sum and memory stays near the input and output.
COLUMN_BUDGET = 16 * 2 ** 20


def output_size(size, kernel, stride, padding, rate):
    """``(size + 2*padding - rate*(kernel-1) - 1) // stride + 1``, the output length along one
    axis, for sizes the op has already checked (:func:`minideeplab.checks.conv_output_size`
    checks its arguments first: a cost that adds up over thousands of blocks)."""
    return (size + 2 * padding - rate * (kernel - 1) - 1) // stride + 1


def pad2d(x, ph, pw):
    """Zero-pad the last two axes of (N, C, H, W) by ph rows and pw columns on each side."""
    if ph == 0 and pw == 0:
        return x
    xp = backend.get_array_module(x)
    return xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def tap_slices(p, q, rate, stride, OH, OW):
    """The (rows, cols) slices of x_pad that tap (p, q) of the filter reads, for every output.

    Output (i, j) reads x_pad[s*i + r*p, s*j + r*q], so tap (p, q) reads rows
    r*p, r*p + s, ..., r*p + s*(OH-1): one strided slice.
    """
    return (slice(rate * p, rate * p + stride * (OH - 1) + 1, stride),
            slice(rate * q, rate * q + stride * (OW - 1) + 1, stride))


def to_chwn(x):
    """(N, C, H, W) -> (C, H, W, N), contiguous."""
    xp = backend.get_array_module(x)
    return xp.ascontiguousarray(x.transpose(1, 2, 3, 0))


def pad_to_chwn(x, ph, pw):
    """(N, C, H, W) -> zero-padded (C, H + 2ph, W + 2pw, N), contiguous, in one copy."""
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    x_t = xp.zeros((C, H + 2 * ph, W + 2 * pw, N), dtype=x.dtype)
    x_t[:, ph:ph + H, pw:pw + W, :] = x.transpose(1, 2, 3, 0)
    return x_t


def from_chwn(x_t):
    """(C, H, W, N) -> (N, C, H, W), contiguous."""
    xp = backend.get_array_module(x_t)
    return xp.ascontiguousarray(x_t.transpose(3, 0, 1, 2))


def im2col(x_t, KH, KW, stride, rate):
    """Gather the inputs of every output position into columns, taps ``rate`` apart.

    Parameters
    ----------
    x_t : (C, Hp, Wp, N) padded input, channels first and batch last

    Returns
    -------
    cols : (C*KH*KW, OH*OW*N). Column ``(i*OW + j)*N + n`` holds the C*KH*KW inputs that
        output (i, j) of image n multiplies with the filter, in the order of
        ``w.reshape(O, C*KH*KW)``, so that the whole batch is one GEMM ``w2 @ cols``.
    """
    xp = backend.get_array_module(x_t)
    C, Hp, Wp, N = x_t.shape
    OH = output_size(Hp, KH, stride, 0, rate)
    OW = output_size(Wp, KW, stride, 0, rate)
    if KH == 1 and KW == 1 and stride == 1:
        return x_t.reshape(C, Hp * Wp * N)  # a 1x1 filter reads each pixel once: no copy
    cols = xp.empty((C, KH, KW, OH, OW, N), dtype=x_t.dtype)
    for p in range(KH):
        for q in range(KW):
            rows, cs = tap_slices(p, q, rate, stride, OH, OW)
            cols[:, p, q] = x_t[:, rows, cs, :]               # (C, OH, OW, N)
    return cols.reshape(C * KH * KW, OH * OW * N)


def col2im(dcols, x_t_shape, KH, KW, stride, rate):
    """The adjoint of :func:`im2col`: add every column entry back onto the pixel it came from.

    dcols (C*KH*KW, OH*OW*N) -> dx_t (C, Hp, Wp, N). Within one tap the strided slice
    touches each pixel at most once, so a plain ``+=`` per tap needs no scatter-add.
    """
    xp = backend.get_array_module(dcols)
    C, Hp, Wp, N = x_t_shape
    if KH == 1 and KW == 1 and stride == 1:
        return dcols.reshape(C, Hp, Wp, N)
    OH = output_size(Hp, KH, stride, 0, rate)
    OW = output_size(Wp, KW, stride, 0, rate)
    dcols = dcols.reshape(C, KH, KW, OH, OW, N)
    dx_t = xp.zeros(x_t_shape, dtype=dcols.dtype)
    for p in range(KH):
        for q in range(KW):
            rows, cs = tap_slices(p, q, rate, stride, OH, OW)
            dx_t[:, rows, cs, :] += dcols[:, p, q]
    return dx_t


def holes_forward_chwn(x_t, w, stride, rate):
    """Atrous convolution as one GEMM for the whole batch, in the (C, H, W, N) layout.

    x_t (C, Hp, Wp, N) padded -> y_t (O, OH, OW, N):
    (O, C*KH*KW) @ (C*KH*KW, OH*OW*N). When that column matrix would exceed
    :data:`COLUMN_BUDGET` numbers, it is built and multiplied for bands of input channels in
    turn, and the bands' products summed (the GEMM's inner dimension, split; bands of output
    rows would shrink the GEMM's other dimension instead, which OpenBLAS runs 3x slower).
    """
    C, Hp, Wp, N = x_t.shape
    O, _, KH, KW = w.shape
    OH = output_size(Hp, KH, stride, 0, rate)
    OW = output_size(Wp, KW, stride, 0, rate)
    w2 = w.reshape(O, C * KH * KW)
    per_channel = KH * KW * OH * OW * N
    band = max(1, COLUMN_BUDGET // per_channel)
    if band >= C or (KH == 1 and KW == 1 and stride == 1):
        cols = im2col(x_t, KH, KW, stride, rate)          # (CKK, OH*OW*N)
        return matmul(w2, cols).reshape(O, OH, OW, N)      # (O, OH*OW*N)
    y2 = None
    for c0 in range(0, C, band):                           # the sum over channels, by bands
        c1 = min(C, c0 + band)
        cols = im2col(x_t[c0:c1], KH, KW, stride, rate)   # ((c1-c0)KK, OH*OW*N)
        part = matmul(w2[:, c0 * KH * KW:c1 * KH * KW], cols)
        if y2 is None:
            y2 = part
        else:
            y2 += part
    return y2.reshape(O, OH, OW, N)


def holes_backward_chwn(dy_t, x_t, w, stride, rate):
    """Gradients of :func:`holes_forward_chwn`: dw = dy cols^T, dcols = w^T dy, then col2im.

    dy_t (O, OH, OW, N) -> dx_t (C, Hp, Wp, N), dw (O, C, KH, KW). As in Caffe, the column
    matrix is rebuilt here rather than kept from the forward pass.
    """
    O, C, KH, KW = w.shape
    dy2 = dy_t.reshape(O, -1)                              # (O, OH*OW*N)
    cols = im2col(x_t, KH, KW, stride, rate)               # (CKK, OH*OW*N)
    dw = matmul(dy2, cols.T)                               # (O, CKK), summed over the batch
    dcols = matmul(w.reshape(O, C * KH * KW).T, dy2)       # (CKK, OH*OW*N)
    return col2im(dcols, x_t.shape, KH, KW, stride, rate), dw.reshape(w.shape)
