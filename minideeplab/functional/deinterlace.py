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
   (TensorFlow pads to a multiple of r; docs/conventions.md, "Atrous convolution"), so the padded height ``Hr`` is ``r * Hs``;
2. space to batch: (N, C, Hr, Wr) -> (r*r*N, C, Hs, Ws), sub-image (a, b) = x[a::r, b::r];
3. ordinary convolution (rate 1, no padding): -> (r*r*N, O, Hs-KH+1, Ws-KW+1);
4. batch to space: re-interlace into (N, O, r*(Hs-KH+1), r*(Ws-KW+1));
5. crop to the true output size ``Hp - r*(KH-1)``.

:func:`space_to_batch` and :func:`batch_to_space` are these steps exactly (the tutorial draws
them). :func:`deinterlace_forward` makes one refinement: the sub-images whose rows (or columns)
are only padding from step 1 would produce outputs that step 5 crops away, so it groups the
sub-images by their true size (with ``Hp = q*r + m``: q + 1 rows for the residues a < m, q rows
for the others; at most four groups in 2-D) and runs one GEMM per group. Same result, no wasted
work (TensorFlow's single batch does (48/41)^2 = 1.37x the work on LargeFOV's fc6 at rate 12).

The backward pass runs the adjoint of each step in reverse order: pad dy with zeros (adjoint
of the crop), space to batch (adjoint of batch to space), the ordinary convolution's backward,
batch to space (adjoint of space to batch), crop away the padding.
"""
from collections import namedtuple

from .. import backend
from ..checks import check_array, check_choice, check_int
from ..errors import ArgumentError
from .im2col import holes_backward_chwn, holes_forward_chwn, pad2d

__all__ = ["space_to_batch", "batch_to_space", "deinterlace_forward", "deinterlace_backward"]

LAYOUTS = ("NCHW", "CHWN")
DeinterlaceCache = namedtuple("DeinterlaceCache", "x_shape w padding rate out_size sub")
DeinterlaceCache.__doc__ = ("The input shape (N, C, H, W), the weights, padding, rate, output "
                            "size and the sub-images of each size group, (C, n_h, n_w, A*B*N) "
                            "each, kept for dw.")


def space_to_batch(x, rate, *, layout="NCHW"):
    """Split (N, C, r*Hs, r*Ws) into its r*r deinterlaced sub-images.

    Returns (r*r*N, C, Hs, Ws), where batch index ``(a*r + b)*N + n`` holds
    ``x[n, :, a::r, b::r]`` (TensorFlow's layout). With ``layout="CHWN"`` the same sub-images
    come as (C, Hs, Ws, r*r*N), the layout the convolution's GEMM works in. H and W must be
    multiples of r (:func:`deinterlace_forward` pads to one first).
    """
    r = _check_space("space_to_batch", "x", x, rate, layout)
    N, C, H, W = x.shape
    if H % r or W % r:
        raise ArgumentError(f"space_to_batch: the height and width of x must be multiples of "
                            f"rate={r}, got x.shape={tuple(x.shape)}; pad x first")
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
    r = _check_space("batch_to_space", "y", y, rate, layout)
    batch = y.shape[3] if layout == "CHWN" else y.shape[0]
    if batch % (r * r):
        raise ArgumentError(f"batch_to_space: the batch axis of y ({batch}) must be a multiple "
                            f"of rate**2 = {r * r}, got y.shape={tuple(y.shape)} "
                            f"(layout={layout!r})")
    if layout == "CHWN":
        O, h, w, B = y.shape
        N = B // (r * r)
        y = y.reshape(O, h, w, r, r, N).transpose(5, 0, 1, 3, 2, 4)   # (o,h,w,a,b,n) -> (n,o,h,a,w,b)
    else:
        B, O, h, w = y.shape
        N = B // (r * r)
        y = y.reshape(r, r, N, O, h, w).transpose(2, 3, 4, 0, 5, 1)   # (a,b,n,o,h,w) -> (n,o,h,a,w,b)
    return y.reshape(N, O, h * r, w * r)      # row h*r + a, column w*r + b


def _check_space(fn, name, x, rate, layout):
    """The arguments of space_to_batch / batch_to_space; returns the rate."""
    check_array(fn, name, x, ndim=4, floating=False, nonempty=True)
    check_choice(fn, "layout", layout, LAYOUTS)
    return check_int(fn, "rate", rate, 1)


def _residue_groups(padded, rate, kernel):
    """Residues modulo r that give sub-images of one size, along one axis.

    A padded axis of length ``P = q*r + m`` gives sub-images of ``q + 1`` rows for the residues
    ``a < m`` and of ``q`` rows for ``a >= m``. Returns a list of ``(residues slice, rows,
    output rows)`` for the groups that produce at least one output row.
    """
    q, m = divmod(padded, rate)
    groups = [(slice(0, m), q + 1), (slice(m, rate), q)] if m else [(slice(0, rate), q)]
    return [(res, n, n - kernel + 1) for res, n in groups if n - kernel + 1 >= 1]


def _blocks(h_groups, w_groups):
    return [(gh, gw) for gh in h_groups for gw in w_groups]


def _gather(x6, gh, gw):
    """Sub-images of one size group from x6 (N, C, Hs, r, Ws, r) as (C, n_h, n_w, A*B*N)."""
    (res_h, n_h, _), (res_w, n_w, _) = gh, gw
    part = x6[:, :, :n_h, res_h, :n_w, res_w]                  # (N, C, n_h, A, n_w, B)
    N, C, _, A, _, B = part.shape
    return part.transpose(1, 2, 4, 3, 5, 0).reshape(C, n_h, n_w, A * B * N)


def _scatter(out6, gh, gw, block, n_h, n_w):
    """Write (O, n_h, n_w, A*B*N) back into out6 (N, O, Hs, r, Ws, r): the re-interlacing."""
    N, O = out6.shape[:2]
    A = len(range(*gh[0].indices(out6.shape[3])))
    B = len(range(*gw[0].indices(out6.shape[5])))
    block = block.reshape(O, n_h, n_w, A, B, N).transpose(5, 0, 1, 3, 2, 4)
    out6[:, :, :n_h, gh[0], :n_w, gw[0]] = block               # (N, O, n_h, A, n_w, B)


def deinterlace_forward(x, w, padding, rate):
    """Atrous convolution (stride 1) by space_to_batch, ordinary convolution, batch_to_space.

    The r*r sub-images come in at most four sizes (rows q+1 or q, columns likewise); each size
    group is one batch for one GEMM, so no output is computed only to be cropped away (TensorFlow
    pads every sub-image to the largest size instead; for LargeFOV's fc6 at rate 12 that is
    (48/41)^2 = 1.37 times the work).

    Parameters
    ----------
    x : (N, C, H, W); w : (O, C, KH, KW); padding : (ph, pw); rate : int r >= 1

    Returns
    -------
    y : (N, O, Hp - r*(KH-1), Wp - r*(KW-1)) without bias
    cache : DeinterlaceCache
    """
    xp = backend.get_array_module(x, w)
    ph, pw = padding
    r = rate
    N = x.shape[0]
    O, _, KH, KW = w.shape
    Hp, Wp = x.shape[2] + 2 * ph, x.shape[3] + 2 * pw
    out_size = (Hp - r * (KH - 1), Wp - r * (KW - 1))
    x_pad = pad2d(x, ph, pw)
    extra_h, extra_w = (r - Hp % r) % r, (r - Wp % r) % r      # pad up to a multiple of r
    if extra_h or extra_w:
        x_pad = xp.pad(x_pad, ((0, 0), (0, 0), (0, extra_h), (0, extra_w)))
    Hs, Ws = x_pad.shape[2] // r, x_pad.shape[3] // r
    x6 = x_pad.reshape(N, x.shape[1], Hs, r, Ws, r)            # [n, c, h*r + a, w*r + b]
    blocks = _blocks(_residue_groups(Hp, r, KH), _residue_groups(Wp, r, KW))
    y6 = xp.zeros((N, O, Hs, r, Ws, r), dtype=x.dtype)
    subs = []
    for gh, gw in blocks:
        sub = _gather(x6, gh, gw)                              # (C, n_h, n_w, A*B*N)
        subs.append(sub)
        _scatter(y6, gh, gw, holes_forward_chwn(sub, w, 1, 1), gh[2], gw[2])
    y = y6.reshape(N, O, Hs * r, Ws * r)[:, :, :out_size[0], :out_size[1]]
    return y, DeinterlaceCache(x.shape, w, padding, r, out_size, tuple(subs))


def deinterlace_backward(dy, cache):
    """The adjoint of every forward step, in reverse order. Returns (dx, dw)."""
    xp = backend.get_array_module(dy, cache.w)
    N, C, H, W = cache.x_shape
    O, _, KH, KW = cache.w.shape
    if tuple(dy.shape) != (N, O) + tuple(cache.out_size):
        raise ArgumentError(f"conv2d_backward: dy.shape={tuple(dy.shape)} does not match the "
                            f"forward output shape {(N, O) + tuple(cache.out_size)}")
    r = cache.rate
    ph, pw = cache.padding
    Hp, Wp = H + 2 * ph, W + 2 * pw
    Hs, Ws = -(-Hp // r), -(-Wp // r)
    dy_full = xp.zeros((N, O, Hs * r, Ws * r), dtype=dy.dtype)
    dy_full[:, :, :cache.out_size[0], :cache.out_size[1]] = dy   # adjoint of the crop
    dy6 = dy_full.reshape(N, O, Hs, r, Ws, r)
    dx6 = xp.zeros((N, C, Hs, r, Ws, r), dtype=dy.dtype)
    dw = None
    blocks = _blocks(_residue_groups(Hp, r, KH), _residue_groups(Wp, r, KW))
    for (gh, gw), sub in zip(blocks, cache.sub):
        (res_h, n_h, o_h), (res_w, n_w, o_w) = gh, gw
        dy_sub = _gather(dy6, (res_h, o_h, o_h), (res_w, o_w, o_w))    # (O, o_h, o_w, A*B*N)
        dsub, dw_g = holes_backward_chwn(dy_sub, sub, cache.w, 1, 1)
        dw = dw_g if dw is None else dw + dw_g
        _scatter(dx6, gh, gw, dsub, n_h, n_w)                  # adjoint of the gather
    dx_pad = dx6.reshape(N, C, Hs * r, Ws * r)
    if dw is None:                                             # no output at all: cannot happen
        dw = xp.zeros_like(cache.w)                            # (conv2d checks the sizes)
    return dx_pad[:, :, ph:ph + H, pw:pw + W], dw                # adjoint of the padding
