"""The holes method on (N, C, H, W) arrays: atrous convolution one block of output rows at a time.

DeepLab v2, Sec. 3.1, eq. 1, ``y[i] = sum_k x[i + r*k] w[k]``, computed as Caffe does: gather
the inputs of every output, taps ``r`` apart, into a column matrix (:func:`.im2col.im2col`) and
multiply it by the filters in one GEMM. For a whole batch that matrix is
(C*KH*KW, N*OH*OW): for VGG-16's conv1_2 on ten 321x321 crops, 576 x 1,030,410 numbers
(2.4 GB), written once and read once on every pass, so the pass runs at the speed of memory
rather than of the multiplication. Here it is built for one **block** at a time: a band of
output rows of one image, or a group of whole images when the maps are small, small enough to
stay in the cache. The blocks are independent, so minideeplab's threads share them out
(:mod:`minideeplab.parallel`). For images n0:n1 and output rows i0:i1::

    cols = im2col(padded input rows s*i0 .. s*(i1-1) + r*(KH-1))     (C*KH*KW, R*OW*G)
    y[n0:n1, :, i0:i1] = w2 @ cols,   w2 = w.reshape(O, C*KH*KW)        (O, R*OW*G)

The backward pass:

* ``dw = sum over blocks of dy_block @ cols_block^T``, the blocks added one after the other in
  a fixed order; the threads share it by groups of input channels (each computes its own
  rows of ``dw^T``);
* stride 1: ``dx`` is itself a convolution, of ``dy`` with the filters flipped and transposed,
  ``w'[c, o, p, q] = w[o, c, KH-1-p, KW-1-q]``, and padding ``r*(K-1) - pad``: input pixel
  ``a`` receives ``w[k] dy[i]`` from the outputs ``i = a + pad - r*k`` that read it, which is
  eq. 1 again with the taps reversed. The forward code computes it, without any scatter;
* stride > 1, layers with few input channels, and small maps (VGG's 81x81 and 41x41, where
  the flipped copy of the filters cost more than the adds): ``dcols = w2^T @ dy_block`` and
  :func:`.im2col.col2im`, per group of images and of input channels.

The blocks depend on the shapes only, so the numbers do not depend on the number of threads
(docs/conventions.md, "Threads").

Shapes: x (N, C, H, W); w (O, C, KH, KW); y and dy (N, O, OH, OW).
"""
import numpy as np

from .. import backend
from ..parallel import PARTS, run_all, split
from .im2col import (COLUMN_BUDGET, col2im, from_chwn, holes_backward_chwn, im2col, output_size,
                     to_chwn)

__all__ = ["holes_forward", "holes_backward", "row_blocks", "BLOCK_BUDGET"]

# A block's column matrix has about BLOCK_BUDGET numbers (2 MB in float32), at least
# BLOCK_COLUMNS columns, at least one output row, and enough columns for BLOCK_WORK
# multiply-adds. Measured on VGG-16's layers (one thread,
# float32): blocks of ~1000 columns run its first layers 1.2x faster than the whole batch's
# matrix (they stay in the cache) and lose nothing on the deep ones; thin layers (a few
# channels, the tiny networks) get blocks of many columns, since there the cost per block
# (a few dozen small NumPy calls) is what counts. On a GPU one block is as large as
# COLUMN_BUDGET allows: there the launches cost, not the cache.
BLOCK_BUDGET = 2 ** 19
BLOCK_COLUMNS = 1024
BLOCK_WORK = 2 ** 24
# The input gradient of a map of at most this many pixels is computed by col2im, by groups of
# input channels (see _input_gradient).
SMALL_MAP = 2 ** 13
# The backward of a layer of at most this many multiply-adds builds one column matrix for both
# gradients (the blocks' second pass costs more there than it saves).
WHOLE_WORK = 2 ** 26


def row_blocks(N, OH, OW, O, rows_of_cols, xp=np):
    """The blocks of the output: a list of (n0, n1, i0, i1), images n0:n1 and rows i0:i1.

    ``O`` is the number of filters and ``rows_of_cols`` C*KH*KW, the column matrix's height
    (see BLOCK_BUDGET for the number of columns): bands of rows of one image for large maps,
    groups of whole images for small ones. The bands of an image differ by one row at most,
    and one image that gives 5-7 bands gets ``PARTS`` (8) instead, so that 2 or 4 threads
    have equal shares (VGG's conv3 at 81x81 gave 7 bands: one of two threads took 4, the
    other 3). The blocks depend on the shapes only (the weight gradient adds them up in
    this order, so its rounding does not change with the number of threads).
    """
    if xp is np:
        columns = max(OW, BLOCK_COLUMNS, BLOCK_BUDGET // rows_of_cols,
                      BLOCK_WORK // (O * rows_of_cols))
    else:
        columns = max(OW, COLUMN_BUDGET // rows_of_cols)
    if OH * OW <= columns:                                  # whole images, G per block
        G = max(1, columns // (OH * OW))
        return [(n, min(N, n + G), 0, OH) for n in range(0, N, G)]
    bands = -(-OH // (columns // OW))
    if xp is np and N == 1 and PARTS // 2 < bands < PARTS:
        bands = min(OH, PARTS)
    cuts = [OH * k // bands for k in range(bands + 1)]
    return [(n, n + 1, cuts[k], cuts[k + 1]) for n in range(N) for k in range(bands)]


def padded_rows(x, rows, padding):
    """Rows ``rows`` = (r0, r1), in padded coordinates, of x zero-padded by ``padding``, in the
    layout of :mod:`.im2col`.

    x (G, C, H, W) -> (C, r1 - r0, W + 2*pw, G): a view of x when there is one image and no
    padding is involved, else a copy (which pads and transposes at once).
    """
    xp = backend.get_array_module(x)
    G, C, H, W = x.shape
    (r0, r1), (ph, pw) = rows, padding
    a, b = max(r0 - ph, 0), min(r1 - ph, H)                  # the real rows among them
    if G == 1 and pw == 0 and a == r0 - ph and b == r1 - ph:
        return x[:, :, a:b].transpose(1, 2, 3, 0)
    band = xp.zeros((C, r1 - r0, W + 2 * pw, G), dtype=x.dtype)
    if b > a:
        band[:, a + ph - r0:b + ph - r0, pw:pw + W] = x[:, :, a:b].transpose(1, 2, 3, 0)
    return band


def _input_rows(block, KH, stride, rate):
    """The padded input rows that output rows i0:i1 read."""
    _, _, i0, i1 = block
    return stride * i0, stride * (i1 - 1) + rate * (KH - 1) + 1


def _chwn(a):
    """(G, C, H, W) -> a (C, H, W, G) view, the layout of :mod:`.im2col` (no copy)."""
    return a.transpose(1, 2, 3, 0)


def holes_forward(x, w, stride, padding, rate):
    """Atrous convolution of x (N, C, H, W) by blocks: y (N, O, OH, OW), without bias.

    When the map gives fewer than ``PARTS`` blocks (one 41x41 image: two bands), the filters
    are split too, into groups of at least 256 (each block then builds its own columns, a small
    cost next to a product with hundreds of filters), so that the threads have work to share.
    """
    xp = backend.get_array_module(x, w)
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    (ph, pw) = padding
    OH = output_size(H, KH, stride, ph, rate)
    OW = output_size(W, KW, stride, pw, rate)
    y = xp.empty((N, O, OH, OW), dtype=x.dtype)
    w2 = w.reshape(O, C * KH * KW)
    blocks = row_blocks(N, OH, OW, O, C * KH * KW, xp)
    few = xp is np and len(blocks) < PARTS              # filters in groups of >= 256
    groups = split(O, max(256, -(-O * len(blocks) // PARTS))) if few else [(0, O)]

    def block(item):
        (n0, n1, i0, i1), (o0, o1) = item
        band = padded_rows(x[n0:n1], _input_rows(item[0], KH, stride, rate), padding)
        cols = im2col(band, KH, KW, stride, rate)                      # (C*KH*KW, R*OW*G)
        if n1 - n0 == 1 and xp is np:          # one image: the product written in place
            xp.matmul(w2[o0:o1], cols, out=y[n0, o0:o1, i0:i1].reshape(o1 - o0, -1))
            return
        y_t = (w2[o0:o1] @ cols).reshape(o1 - o0, i1 - i0, OW, n1 - n0)
        y[n0:n1, o0:o1, i0:i1] = y_t.transpose(3, 0, 1, 2)    # (row, column, image) order

    run_all(block, [(b, g) for b in blocks for g in groups], xp)
    return y


def holes_backward(dy, x, w, stride, padding, rate):
    """Gradients of :func:`holes_forward`: dx (N, C, H, W) and dw (O, C, KH, KW).

    A layer small enough for one block, or of at most WHOLE_WORK multiply-adds (the tiny
    networks, among them their 7x7 stem), builds one column matrix for the whole batch and
    uses it for both gradients (:func:`.im2col.holes_backward_chwn`): fewer
    copies than the two passes below, which pay off when there are blocks to share out.
    """
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    xp = backend.get_array_module(dy, x, w)
    OH, OW = dy.shape[2:]
    if (len(row_blocks(N, OH, OW, O, C * KH * KW, xp)) == 1
            or O * C * KH * KW * OH * OW * N <= WHOLE_WORK):
        (ph, pw) = padding
        x_t = padded_rows(x, (0, H + 2 * ph), padding)                   # (C, Hp, Wp, N)
        dx_t, dw = holes_backward_chwn(to_chwn(dy), x_t, w, stride, rate)
        return xp.ascontiguousarray(from_chwn(dx_t)[:, :, ph:ph + H, pw:pw + W]), dw
    return _input_gradient(dy, x.shape, w, stride, padding, rate), _weight_gradient(
        dy, x, w, stride, padding, rate)


def _weight_gradient(dy, x, w, stride, padding, rate):
    """dw = sum over blocks of dy_block @ cols_block^T, by groups of input channels.

    Each group's part is computed transposed, ``dw^T = sum cols_block @ dy_block^T``
    ((c1-c0)*KH*KW, O): that product runs 10-25% faster in OpenBLAS for the narrow O of VGG's
    first layers (measured). The group then writes its part of dw, transposed back, on its own
    thread (the whole transpose after the threads took 5 ms for a 512-channel layer, on one
    core).
    """
    xp = backend.get_array_module(dy, x, w)
    N, C = x.shape[:2]
    O, _, KH, KW = w.shape
    OH, OW = dy.shape[2:]
    blocks = row_blocks(N, OH, OW, O, C * KH * KW, xp)
    groups = split(C, max(1, 128 // (KH * KW))) if xp is np else [(0, C)]
    dw = xp.empty((O, C * KH * KW), dtype=x.dtype)

    def group(g):
        c0, c1 = g
        acc = None                                                     # ((c1-c0)KK, O)
        for b in blocks:
            n0, n1, i0, i1 = b
            band = padded_rows(x[n0:n1, c0:c1], _input_rows(b, KH, stride, rate), padding)
            cols = im2col(band, KH, KW, stride, rate)            # ((c1-c0)KK, R*OW*G)
            dy_b = _chwn(dy[n0:n1, :, i0:i1]).reshape(O, -1)            # (O, R*OW*G)
            if acc is None:
                acc = cols @ dy_b.T
            else:
                acc += cols @ dy_b.T
        dw[:, c0 * KH * KW:c1 * KH * KW] = acc.T

    run_all(group, groups, xp)
    return dw.reshape(w.shape)


def _input_gradient(dy, x_shape, w, stride, padding, rate):
    """dx: a convolution of dy with the flipped, transposed filters (stride 1), else col2im.

    The flipped convolution builds columns of dy (O*KH*KW rows); col2im multiplies into
    columns of dx (C*KH*KW rows) and adds them back. col2im is used

    * for a layer with few input channels (VGG's conv1_1: 3 in, 64 out), when 4*C <= O: it
      moves 20 times fewer numbers;
    * for maps of at most SMALL_MAP pixels (VGG's 81x81 and 41x41 layers), by groups of input
      channels, each with its own rows of ``w2^T @ dy`` and its own channels of dx: the
      filters are read as they are (a transposed view), where the flipped convolution needs
      a flipped copy of them, and a group's columns stay in the cache (512 channels on 41x41:
      43 ms against 50-55, two threads); on larger maps a group's columns do not;
    * with a stride.
    """
    xp = backend.get_array_module(dy, w)
    N, C, H, W = x_shape
    O, _, KH, KW = w.shape
    ph, pw = padding
    OH, OW = dy.shape[2:]
    full_h, full_w = rate * (KH - 1) - ph, rate * (KW - 1) - pw
    if (stride == 1 and full_h >= 0 and full_w >= 0 and 4 * C > O
            and (OH * OW > SMALL_MAP or xp is not np)):
        w_flipped = xp.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        return holes_forward(dy, w_flipped, 1, (full_h, full_w), rate)
    Hp, Wp = H + 2 * ph, W + 2 * pw
    w2t = w.reshape(O, C * KH * KW).T
    dx = xp.empty(x_shape, dtype=dy.dtype)

    def block(item):
        (n0, n1), (c0, c1) = item
        rows = slice(c0 * KH * KW, c1 * KH * KW)
        dcols = w2t[rows] @ _chwn(dy[n0:n1]).reshape(O, -1)          # ((c1-c0)KK, OH*OW*G)
        dx_t = col2im(dcols, (c1 - c0, Hp, Wp, n1 - n0), KH, KW, stride, rate)
        dx[n0:n1, c0:c1] = dx_t[:, ph:ph + H, pw:pw + W].transpose(3, 0, 1, 2)

    images = sorted({(b[0], b[1]) for b in row_blocks(N, OH, OW, O, C * KH * KW, xp)})
    channels = split(C, 64) if xp is np and OH * OW <= SMALL_MAP else [(0, C)]
    run_all(block, [(i, c) for i in images for c in channels], xp)
    return dx
