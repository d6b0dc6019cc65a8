"""Atrous convolution tap by tap: two ways that never multiply the zero padding.

DeepLab v3 (Sec. 3.3, Fig. 4): "as the sampling rate becomes larger, the number of valid
filter weights (i.e., the weights that are applied to the valid feature region, instead of
padded zeros) becomes smaller". At rate 36 on a 41x41 map most taps of most outputs read the
zero padding, and im2col would multiply all those zeros. Eq. 1 taken one tap (p, q) at a time
skips them exactly (stride 1)::

    y[:, :, I, J] += w[:, :, p, q] @ x[:, :, I + r*p - ph, J + r*q - pw]

where I x J are the outputs whose tap (p, q) lands inside the input (:func:`valid_tap_ranges`):
one GEMM (O, C) @ (C, N*|I|*|J|) per tap. The backward pass differentiates each tap's product:
``dw[:, :, p, q] = dy[:, :, I, J] @ x_tap^T`` and ``dx[:, :, tap's rectangle] += w[:, :, p,
q]^T @ dy[:, :, I, J]``. The threads share the forward by groups of filters and the backward
by groups of input channels (each group owns its part of y, or of dx and dw).

**Few filters** (:func:`shifted_forward`): when the filters times the taps are far fewer than the
input channels (DeepLab v2's ResNet head: 21 classes x 9 taps on 2048 channels), im2col would
copy the input nine times for a thin product. Instead every tap's product with the whole input
comes from one GEMM, and each is then shifted into place::

    z[p, q] = w[:, :, p, q] @ x                  (KH*KW*O, C) @ (C, H*W), one GEMM
    y[:, :, i, j] = sum over (p, q) of z[p, q][:, s*i + r*p - ph, s*j + r*q - pw]

(z read as zero outside the input): eq. 1 with the sum over channels done first. The backward
pass is the adjoint: ``dz[p, q]`` is dy shifted back, ``dw = dz @ x^T``, ``dx = w_taps^T @ dz``.

Shapes: x (N, C, H, W); w (O, C, KH, KW); y, dy (N, O, OH, OW), OH = H + 2*ph - r*(KH-1).
"""
import numpy as np

from .. import backend
from ..parallel import matmul, run_all, split
from .im2col import output_size, tap_slices

__all__ = ["valid_tap_ranges", "valid_taps_pay_off", "taps_forward", "taps_backward", "few_filters",
           "shifted_forward", "shifted_backward"]


def valid_tap_ranges(size, pad, out_size, rate, kernel):
    """Per tap k: the output range [i0, i1) whose tap reads a real (not padding) input.

    With stride 1, output i's tap k reads padded position ``i + rate*k``, real when
    ``pad <= i + rate*k < pad + size``. Returns a list of (i0, i1), empty when i1 <= i0.
    """
    return [(max(0, pad - rate * k), min(out_size, pad + size - rate * k)) for k in range(kernel)]


def valid_taps_pay_off(size, padding, w_shape, rate, N):
    """Whether the taps beat im2col: a layer of >= 4M products where at most 70% of the
    im2col products touch real inputs (LargeFOV's fc6, rate 12 on 41x41: 65%; by taps its
    forward took 160 ms instead of 220, its backward 400 instead of 470, one thread)."""
    O, C, KH, KW = w_shape
    OH = output_size(size[0], KH, 1, padding[0], rate)
    OW = output_size(size[1], KW, 1, padding[1], rate)
    if KH * KW == 1 or O * C * KH * KW * OH * OW * N < 2 ** 22:
        return False
    rows = sum(max(0, b - a) for a, b in valid_tap_ranges(size[0], padding[0], OH, rate, KH))
    cols = sum(max(0, b - a) for a, b in valid_tap_ranges(size[1], padding[1], OW, rate, KW))
    return rows * cols <= 0.7 * KH * KW * OH * OW


def _taps(x_shape, w_shape, padding, rate):
    """(p, q, output rectangle (i0, i1, j0, j1), input rectangle (a0, a1, b0, b1)) of every tap
    that reaches at least one output."""
    _, _, H, W = x_shape
    _, _, KH, KW = w_shape
    (ph, pw) = padding
    OH = output_size(H, KH, 1, ph, rate)
    OW = output_size(W, KW, 1, pw, rate)
    rows = valid_tap_ranges(H, ph, OH, rate, KH)
    cols = valid_tap_ranges(W, pw, OW, rate, KW)
    return [(p, q, (i0, i1, j0, j1),
             (i0 + rate * p - ph, i1 + rate * p - ph, j0 + rate * q - pw, j1 + rate * q - pw))
            for p, (i0, i1) in enumerate(rows) for q, (j0, j1) in enumerate(cols)
            if i1 > i0 and j1 > j0]


def _matrix(a, rect):
    """a[:, :, rectangle] (N, K, h, w) as a (K, N*h*w) matrix (a copy)."""
    r0, r1, c0, c1 = rect
    return a[:, :, r0:r1, c0:c1].transpose(1, 0, 2, 3).reshape(a.shape[1], -1)


def _add_matrix(a, rect, m):
    """a[:, :, rectangle] += m, with m a (K, N*h*w) matrix as :func:`_matrix` gives it."""
    r0, r1, c0, c1 = rect
    N, K = a.shape[:2]
    a[:, :, r0:r1, c0:c1] += m.reshape(K, N, r1 - r0, c1 - c0).transpose(1, 0, 2, 3)


def taps_forward(x, w, padding, rate):
    """y (N, O, OH, OW) = the sum over taps of each tap's product with the input it reaches."""
    xp = backend.get_array_module(x, w)
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    OH = output_size(H, KH, 1, padding[0], rate)
    OW = output_size(W, KW, 1, padding[1], rate)
    y = xp.zeros((N, O, OH, OW), dtype=x.dtype)
    taps = _taps(x.shape, w.shape, padding, rate)

    def filters(group):
        o0, o1 = group
        for p, q, out_rect, in_rect in taps:
            _add_matrix(y[:, o0:o1], out_rect, w[o0:o1, :, p, q] @ _matrix(x, in_rect))

    run_all(filters, split(O, 64) if xp is np else [(0, O)], xp)
    return y


def taps_backward(dy, x, w, padding, rate):
    """Gradients of :func:`taps_forward`: dx (N, C, H, W) and dw (O, C, KH, KW)."""
    xp = backend.get_array_module(dy, x, w)
    dx = xp.zeros(x.shape, dtype=dy.dtype)
    dw = xp.zeros(w.shape, dtype=dy.dtype)
    taps = _taps(x.shape, w.shape, padding, rate)

    def channels(group):
        c0, c1 = group
        for p, q, out_rect, in_rect in taps:
            dy_tap = _matrix(dy, out_rect)                              # (O, N*h*w)
            dw[:, c0:c1, p, q] = dy_tap @ _matrix(x[:, c0:c1], in_rect).T
            _add_matrix(dx[:, c0:c1], in_rect, w[:, c0:c1, p, q].T @ dy_tap)

    run_all(channels, split(x.shape[1], 64) if xp is np else [(0, x.shape[1])], xp)
    return dx, dw


def few_filters(C, O, KH, KW):
    """Whether to multiply first and shift after: a kernel of several taps whose filters times
    taps are at most a quarter of the input channels."""
    return KH * KW > 1 and 4 * O * KH * KW <= C


def _shifts(KH, KW, stride, rate, out_size):
    """(p, q, rows, cols) of every tap: the slices of the padded map that tap (p, q) reads."""
    return [(p, q) + tap_slices(p, q, rate, stride, *out_size)
            for p in range(KH) for q in range(KW)]


def shifted_forward(x, w, stride, padding, rate):
    """y (N, O, OH, OW): every tap's product with the whole input, shifted into place."""
    xp = backend.get_array_module(x, w)
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    (ph, pw) = padding
    out_size = (output_size(H, KH, stride, ph, rate),
                output_size(W, KW, stride, pw, rate))
    w_taps = xp.ascontiguousarray(w.transpose(2, 3, 0, 1)).reshape(KH * KW * O, C)
    y = xp.zeros((N, O) + out_size, dtype=x.dtype)
    z_pad = xp.zeros((KH, KW, O, H + 2 * ph, W + 2 * pw), dtype=x.dtype)   # zero borders
    for n in range(N):
        z = matmul(w_taps, x[n].reshape(C, H * W))                        # (KH*KW*O, H*W)
        z_pad[:, :, :, ph:ph + H, pw:pw + W] = z.reshape(KH, KW, O, H, W)
        for p, q, rows, cols in _shifts(KH, KW, stride, rate, out_size):
            y[n] += z_pad[p, q][:, rows, cols]
    return y


def shifted_backward(dy, x, w, stride, padding, rate):
    """Gradients of :func:`shifted_forward`: dx (N, C, H, W) and dw (O, C, KH, KW)."""
    xp = backend.get_array_module(dy, x, w)
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    (ph, pw) = padding
    w_taps = xp.ascontiguousarray(w.transpose(2, 3, 0, 1)).reshape(KH * KW * O, C)
    dx = xp.empty(x.shape, dtype=dy.dtype)
    dw_taps = None
    dz_pad = xp.zeros((KH, KW, O, H + 2 * ph, W + 2 * pw), dtype=dy.dtype)
    for n in range(N):
        for p, q, rows, cols in _shifts(KH, KW, stride, rate, dy.shape[2:]):
            dz_pad[p, q][:, rows, cols] = dy[n]             # the adjoint of reading the slice
        dz = xp.ascontiguousarray(dz_pad[:, :, :, ph:ph + H, pw:pw + W]).reshape(-1, H * W)
        part = matmul(dz, x[n].reshape(C, H * W).T)                        # (KH*KW*O, C)
        dw_taps = part if dw_taps is None else dw_taps + part
        dx[n] = matmul(w_taps.T, dz).reshape(C, H, W)
    return dx, dw_taps.reshape(KH, KW, O, C).transpose(2, 3, 0, 1).copy()
