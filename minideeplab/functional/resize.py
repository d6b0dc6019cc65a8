"""Bilinear resizing of score maps (forward and backward) and nearest resizing of label maps.

DeepLab v2, Sec. 3 and 4.1: the network's score map (output stride 8) is upsampled to the image
size by bilinear interpolation (Caffe's ``Interp`` layer), and for training the ground truth is
*downsampled* by 8 to the score map's size.

Two conventions for where output pixel i samples the input
----------------------------------------------------------
(docs/conventions.md, "Resizing and the label shrink".)

``align_corners=True`` (Caffe's ``Interp``, DeepLab's default): the corner pixels of input and
output coincide::

    src(i) = i * (H_in - 1) / (H_out - 1)          (src = 0 when H_out = 1)

``align_corners=False`` (PyTorch's default, ``half_pixel`` in ONNX): pixel centres are scaled::

    src(i) = max((i + 0.5) * H_in / H_out - 0.5, 0)

Then ``i0 = floor(src)``, ``i1 = min(i0 + 1, H_in - 1)``, ``lam = src - i0`` and
``out[i] = (1 - lam) * in[i0] + lam * in[i1]``. Mixing the two conventions shifts every map by
up to half a pixel, a known source of lost accuracy in re-implementations.

Bilinear resizing is separable and linear, so it is two small matrices: ``A_h`` (H_out, H_in)
and ``A_w`` (W_out, W_in), ``y = A_h x A_w^T`` for every (n, c). The backward pass is the
transpose, ``dx = A_h^T dy A_w``: exact, and two matrix products.

Labels are never interpolated: :func:`resize_labels_nearest` picks one input label per output
pixel, with align-corners indices. For Caffe's ``shrink_factor: 8`` on a 321 crop (321 -> 41)
this picks exactly ``label[8i, 8j]``; it keeps the ignore label 255 and never mixes labels.

Shapes: x (N, C, H, W) -> y (N, C, H_out, W_out); labels (N, H, W) or (H, W).
"""
from collections import namedtuple

from .. import backend
from ..checks import check_array, check_choice, check_pair

__all__ = ["interp_matrix", "resize_bilinear", "resize_bilinear_backward",
           "resize_labels_nearest", "nearest_indices", "interp_zoom_size", "interp_shrink_size"]

ResizeCache = namedtuple("ResizeCache", "a_h a_w x_shape")
ResizeCache.__doc__ = ("a_h (H_out, H_in) and a_w (W_out, W_in): the interpolation matrices; "
                       "x_shape (N, C, H_in, W_in).")


def interp_zoom_size(size, zoom_factor):
    """Caffe ``Interp`` with ``zoom_factor: z``: ``size + (size-1)(z-1)`` (41 -> 321 for z = 8)."""
    return size + (size - 1) * (zoom_factor - 1)


def interp_shrink_size(size, shrink_factor):
    """Caffe ``Interp`` with ``shrink_factor: s``: ``(size - 1) // s + 1`` (321 -> 41 for s = 8)."""
    return (size - 1) // shrink_factor + 1


def _source_coords(xp, in_size, out_size, align_corners):
    """src(i) for i = 0..out_size-1, float64 (see the module doc)."""
    i = xp.arange(out_size, dtype="float64")
    if align_corners:
        scale = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
        return i * scale
    return xp.maximum((i + 0.5) * (in_size / out_size) - 0.5, 0.0)


def interp_matrix(in_size, out_size, *, align_corners=True, xp=None, dtype="float64"):
    """The (out_size, in_size) matrix A of 1-D linear interpolation: ``out = A @ in``.

    Each row has at most two non-zeros, ``1 - lam`` at i0 and ``lam`` at i1, summing to 1.
    ``xp`` is the array module to build it with (default NumPy).
    """
    xp = backend.xp_for("cpu") if xp is None else xp
    src = _source_coords(xp, in_size, out_size, align_corners)
    i0 = xp.minimum(xp.floor(src).astype("int64"), in_size - 1)
    i1 = xp.minimum(i0 + 1, in_size - 1)
    lam = src - i0
    rows = xp.arange(out_size)
    a = xp.zeros((out_size, in_size), dtype="float64")
    backend.scatter_add(a, (rows, i0), 1.0 - lam)   # i0 == i1 at the last pixel: weights add
    backend.scatter_add(a, (rows, i1), lam)
    return a.astype(dtype)


def _last_axis(x, a):
    """(..., n_in) -> (..., n_out): ``x @ a.T`` as one 2-D GEMM (copies x if not contiguous).

    One large GEMM instead of N*C small ones (a broadcasting ``x @ a.T``): each BLAS call has
    a fixed cost, which is large when its threads compete with other work for the cores.
    """
    out = x.reshape(-1, x.shape[-1]) @ a.T                   # (N*C*H, n_in) @ (n_in, n_out)
    return out.reshape(x.shape[:-1] + (a.shape[0],))


def separable_matmul(x, a_h, a_w):
    """``y[n, c] = a_h @ x[n, c] @ a_w.T`` for every (n, c), as two GEMMs.

    x (N, C, H, W), a_h (H_out, H), a_w (W_out, W) -> y (N, C, H_out, W_out), contiguous.
    The order only changes the cost: when the width shrinks, columns go first (the large
    input is read in place); otherwise rows go first, so that the final column pass writes
    the (large) output in its final layout.
    """
    xp = backend.get_array_module(x, a_h, a_w)
    if a_w.shape[0] < a_w.shape[1]:
        t = _last_axis(x, a_w)                                 # (N, C, H, W_out)
        y = _last_axis(t.swapaxes(2, 3), a_h).swapaxes(2, 3)   # (N, C, H_out, W_out)
        return xp.ascontiguousarray(y)
    t = _last_axis(x.swapaxes(2, 3), a_h).swapaxes(2, 3)       # (N, C, H_out, W)
    return _last_axis(t, a_w)                                  # (N, C, H_out, W_out)


def resize_bilinear(x, size, *, align_corners=True):
    """Bilinear resizing to an arbitrary size, up or down (Caffe ``Interp``; DeepLab Sec. 3).

    Parameters
    ----------
    x : (N, C, H_in, W_in) float array
    size : (H_out, W_out) positive ints (or one int for both)
    align_corners : True (Caffe, DeepLab) or False (PyTorch's default); see the module doc

    Returns
    -------
    y : (N, C, H_out, W_out) = A_h x A_w^T for every (n, c)
    cache : ResizeCache for :func:`resize_bilinear_backward`
    """
    fn = "resize_bilinear"
    check_array(fn, "x", x, ndim=4)
    H_out, W_out = check_pair(fn, "size", size, 1)
    check_choice(fn, "align_corners", align_corners, (True, False))
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    a_h = interp_matrix(H, H_out, align_corners=align_corners, xp=xp, dtype=x.dtype)
    a_w = interp_matrix(W, W_out, align_corners=align_corners, xp=xp, dtype=x.dtype)
    return separable_matmul(x, a_h, a_w), ResizeCache(a_h, a_w, x.shape)


def resize_bilinear_backward(dy, cache):
    """Gradient of :func:`resize_bilinear`: ``dx = A_h^T dy A_w`` (the transposed matrices).

    dy (N, C, H_out, W_out) -> dx (N, C, H_in, W_in).
    """
    check_array("resize_bilinear_backward", "dy", dy, ndim=4)
    backend.get_array_module(dy, cache.a_h)
    expected = tuple(cache.x_shape[:2]) + (cache.a_h.shape[0], cache.a_w.shape[0])
    if tuple(dy.shape) != expected:
        raise ValueError(f"resize_bilinear_backward: dy.shape={tuple(dy.shape)} does not match "
                         f"the forward output shape {expected}")
    return separable_matmul(dy, cache.a_h.T, cache.a_w.T)


def nearest_indices(in_size, out_size, xp=None):
    """For each output index, the nearest input index with align-corners coordinates.

    ``round(i * (in - 1) / (out - 1))``, halves rounded up, in exact integer arithmetic:
    ``(2 i (in - 1) + (out - 1)) // (2 (out - 1))``; 0 when out_size = 1. When
    ``in - 1 = s (out - 1)`` (Caffe's shrink sizes, e.g. 321 -> 41 with s = 8) this is ``s*i``.
    """
    xp = backend.xp_for("cpu") if xp is None else xp
    i = xp.arange(out_size, dtype="int64")
    if out_size == 1:
        return i
    return (2 * i * (in_size - 1) + (out_size - 1)) // (2 * (out_size - 1))


def resize_labels_nearest(labels, size):
    """Resize a label map by nearest sampling (DeepLab's target downsampling; never bilinear).

    Parameters
    ----------
    labels : (N, H, W) or (H, W) integer array; every value, including the ignore label 255,
        is copied from some input pixel, so labels are never mixed or invented
    size : (H_out, W_out) positive ints (or one int)

    Returns
    -------
    (N, H_out, W_out) or (H_out, W_out) array of the same dtype:
    ``out[..., i, j] = labels[..., nearest_indices(H, H_out)[i], nearest_indices(W, W_out)[j]]``.
    For 321 -> 41 that is ``labels[..., 8i, 8j]`` exactly.
    """
    fn = "resize_labels_nearest"
    check_array(fn, "labels", labels, floating=False)
    if labels.ndim not in (2, 3):
        raise ValueError(f"{fn}: labels must be (N, H, W) or (H, W), got "
                         f"labels.shape={tuple(labels.shape)}")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{fn}: labels must be an integer array, got dtype {labels.dtype} "
                        f"(labels.shape={tuple(labels.shape)})")
    H_out, W_out = check_pair(fn, "size", size, 1)
    xp = backend.get_array_module(labels)
    H, W = labels.shape[-2:]
    rows = nearest_indices(H, H_out, xp)
    cols = nearest_indices(W, W_out, xp)
    return labels[..., rows[:, None], cols[None, :]]

