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

Non-finite values stay local. The matrices are kept sparse (two entries per row) and every
real input is multiplied only by its non-zero weights (:func:`padded_interp_matrix`): an
output reads only the inputs it interpolates with a non-zero weight. A NaN or Inf input pixel therefore affects
exactly the outputs whose interpolation touches it (at most 3x3 outputs per input pixel when
upsampling by 2, one when the output grid hits it exactly), not whole rows and columns as a
dense product would (``0 * NaN`` is NaN); likewise in the backward pass for a NaN or Inf in
``dy``. Nothing is checked or raised: finding the non-finite values is the caller's business.

Labels are never interpolated: :func:`resize_labels_nearest` picks one input label per output
pixel, with align-corners indices. For Caffe's ``shrink_factor: 8`` on a 321 crop (321 -> 41)
this picks exactly ``label[8i, 8j]``; it keeps the ignore label 255 and never mixes labels.

Shapes: x (N, C, H, W) -> y (N, C, H_out, W_out); labels (N, H, W) or (H, W).
"""
import functools
from collections import namedtuple

from .. import backend
from ..checks import (check_array, check_bool, check_budget, check_cache, check_choice,
                      check_grad, check_ints, check_pair, compute_dtype)
from ..errors import ArgumentError

__all__ = ["linear_taps", "interp_matrix", "padded_interp_matrix", "resize_bilinear", "resize_bilinear_backward",
           "resize_labels_nearest", "nearest_indices", "interp_zoom_size", "interp_shrink_size"]

ResizeCache = namedtuple("ResizeCache", "a_h a_w x_shape dtype")
ResizeCache.__doc__ = ("a_h (H_out, H_in + 1) and a_w (W_out, W_in + 1): the interpolation "
                       "matrices, sparse, with a zero input appended (padded_interp_matrix; "
                       "float32 for float16 inputs); "
                       "x_shape (N, C, H_in, W_in); dtype: x's.")
ResizeCache.op = "resize_bilinear"


def interp_zoom_size(size, zoom_factor):
    """Caffe ``Interp`` with ``zoom_factor: z``: ``size + (size-1)(z-1)`` (41 -> 321 for z = 8);
    ints >= 1."""
    check_ints("interp_zoom_size", 1, size=size, zoom_factor=zoom_factor)
    return size + (size - 1) * (zoom_factor - 1)


def interp_shrink_size(size, shrink_factor):
    """Caffe ``Interp`` with ``shrink_factor: s``: ``(size - 1) // s + 1`` (321 -> 41 for s = 8);
    ints >= 1."""
    check_ints("interp_shrink_size", 1, size=size, shrink_factor=shrink_factor)
    return (size - 1) // shrink_factor + 1


MAX_SIZE = 2 ** 53      # source coordinates are float64: exact for sizes up to here


def _check_sizes(fn, in_size, out_size, align_corners, matrix=False):
    """The 1-D helpers' arguments: sizes ints in [1, 2**53] (source coordinates are float64),
    align_corners a bool; the arrays they build (the taps, or the dense (out, in) matrix)
    within this machine's memory."""
    check_ints(fn, 1, in_size=in_size, out_size=out_size)
    check_bool(fn, "align_corners", align_corners)
    for name, size in (("in_size", in_size), ("out_size", out_size)):
        if size > MAX_SIZE:
            raise ArgumentError(f"{fn}: {name}={size} is beyond 2**53, where float64 source "
                                "coordinates stop being exact")
    check_budget(fn, f"in_size={in_size}, out_size={out_size}", 8,
                 **({"matrix": (out_size, in_size)} if matrix else {"taps": (3, out_size)}))


def _source_coords(xp, in_size, out_size, align_corners):
    """src(i) for i = 0..out_size-1, float64 (see the module doc), before clamping."""
    i = xp.arange(out_size, dtype="float64")
    if align_corners:
        scale = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
        return i * scale
    return (i + 0.5) * (in_size / out_size) - 0.5


def linear_taps(in_size, out_size, *, align_corners=True, xp=None):
    """1-D linear interpolation: the two input taps and the weight of every output index.

    The library's one routine for it: :func:`interp_matrix`, :func:`padded_interp_matrix`
    (score maps), image resizing in :mod:`minideeplab.data.augment` and the synthetic images'
    backgrounds are built on it.

    Returns
    -------
    i0, i1 : (out_size,) int64, the input indices ``floor(src)`` and ``min(i0 + 1, in - 1)``
    lam : (out_size,) float64, so that ``out[i] = (1 - lam[i]) in[i0[i]] + lam[i] in[i1[i]]``

    ``src`` (see the module doc) is clamped to ``[0, in_size - 1]``: an output beyond the last
    input centre copies the last input. Sizes are ints >= 1.
    """
    _check_sizes("linear_taps", in_size, out_size, align_corners)
    xp = backend.xp_for("cpu") if xp is None else xp
    src = xp.clip(_source_coords(xp, in_size, out_size, align_corners), 0.0, in_size - 1.0)
    i0 = xp.floor(src).astype("int64")
    i1 = xp.minimum(i0 + 1, in_size - 1)
    return i0, i1, src - i0


def interp_matrix(in_size, out_size, *, align_corners=True, xp=None, dtype="float64"):
    """The (out_size, in_size) matrix A of 1-D linear interpolation: ``out = A @ in``.

    Each row has at most two non-zeros, ``1 - lam`` at i0 and ``lam`` at i1 (:func:`linear_taps`),
    summing to 1. ``xp`` is the array module to build it with (default NumPy).
    """
    _check_sizes("interp_matrix", in_size, out_size, align_corners, matrix=True)
    xp = backend.xp_for("cpu") if xp is None else xp
    i0, i1, lam = linear_taps(in_size, out_size, align_corners=align_corners, xp=xp)
    rows = xp.arange(out_size)
    a = xp.zeros((out_size, in_size), dtype="float64")
    backend.scatter_add(a, (rows, i0), 1.0 - lam)   # i0 == i1 at the last pixel: weights add
    backend.scatter_add(a, (rows, i1), lam)
    return a.astype(dtype)


def padded_interp_matrix(in_size, out_size, *, align_corners=True, xp=None, dtype="float64"):
    """:func:`interp_matrix` with a zero input appended, as a CSR matrix (out, in + 1).

    Row i stores ``1 - lam`` (never 0) at ``i0`` and ``lam`` at ``i1``. Where ``lam = 0``
    (or ``i1`` would be ``i0`` past the last pixel) the second entry points at the appended
    input ``in_size``, which the products below hold at 0: a product with the matrix then
    multiplies every real input only by a non-zero weight, so a NaN or Inf stays local (see
    the module doc), and the layout (two entries per row) has no data-dependent size: it is
    built on the device without a device-to-host sync. ``xp`` decides the device
    (``scipy.sparse`` or ``cupyx.scipy.sparse``).
    """
    _check_sizes("padded_interp_matrix", in_size, out_size, align_corners)
    xp = backend.xp_for("cpu") if xp is None else xp
    i0, i1, lam = linear_taps(in_size, out_size, align_corners=align_corners, xp=xp)
    lam = xp.where(i1 > i0, lam, 0.0)               # past the last pixel: all weight on i0
    i1 = xp.where(lam > 0, i1, in_size)             # a zero weight reads the appended zero
    data = xp.stack([1.0 - lam, lam], axis=1).ravel().astype(dtype)
    indices = xp.stack([i0, i1], axis=1).ravel().astype("int32")
    indptr = xp.arange(0, 2 * out_size + 1, 2, dtype="int32")
    a = backend.sparse_module(xp).csr_matrix((data, indices, indptr),
                                             shape=(out_size, in_size + 1))
    a.has_canonical_format = True    # i0 < i1 in every row: cupyx need not check on the device
    return a


@functools.lru_cache(maxsize=64)
def _padded_interp_matrix_cached(in_size, out_size, align_corners, xp, dtype):
    """:func:`padded_interp_matrix`, built once per sizes, convention, device and dtype: CuPy
    reads a new CSR matrix's ``indptr`` back to the host when it is built from its arrays (a
    sync), so a matrix rebuilt at every call would cost a sync per resize (docs/conventions.md,
    "GPU (CuPy)"). Callers only read the cached matrices."""
    return padded_interp_matrix(in_size, out_size, align_corners=align_corners, xp=xp,
                                dtype=dtype)


def _contract(x, a, axis, transposed):
    """Apply a padded interpolation matrix along ``axis`` of x, as one sparse product.

    ``transposed=False``: ``a`` (n_out, n_in + 1) and x has n_in entries along ``axis``; x is
    copied, axis first, into a buffer with one more, zero, entry (the appended input).
    ``transposed=True``: ``a`` is the transpose (n_in + 1, n_out); the last output row (the
    gradient of the appended input) is dropped.
    """
    xp = backend.get_array_module(x)
    moved = xp.moveaxis(x, axis, 0)
    n, rest = moved.shape[0], moved.shape[1:]
    if transposed:
        out = (a @ xp.ascontiguousarray(moved).reshape(n, -1))[:-1]
    else:
        buf = xp.zeros((n + 1,) + rest, dtype=x.dtype)
        buf[:n] = moved
        out = a @ buf.reshape(n + 1, -1)
    return xp.moveaxis(out.reshape((out.shape[0],) + rest), 0, axis)


def separable_matmul(x, a_h, a_w, transposed=False):
    """``y[n, c] = a_h @ x[n, c] @ a_w.T`` for every (n, c), with padded sparse matrices.

    x (N, C, H, W), a_h (H_out, H + 1), a_w (W_out, W + 1) -> y (N, C, H_out, W_out),
    contiguous (:func:`padded_interp_matrix`); with ``transposed`` the matrices are
    (H + 1, H_out) and (W + 1, W_out) and x (N, C, H_out, W_out) -> (N, C, H, W). The axis
    that shrinks more goes first, so the second product works on the smaller map.
    """
    xp = backend.get_array_module(x)
    H, W = x.shape[2:]
    nh, nw = a_h.shape[0] - transposed, a_w.shape[0] - transposed
    if nh * W <= H * nw:
        y = _contract(_contract(x, a_h, 2, transposed), a_w, 3, transposed)
    else:
        y = _contract(_contract(x, a_w, 3, transposed), a_h, 2, transposed)
    return xp.ascontiguousarray(y)


def resize_bilinear(x, size, *, align_corners=True):
    """Bilinear resizing to an arbitrary size, up or down (Caffe ``Interp``; DeepLab Sec. 3).

    Parameters
    ----------
    x : (N, C, H_in, W_in) float array, no axis empty
    size : (H_out, W_out) positive ints (or one int for both)
    align_corners : True (Caffe, DeepLab) or False (PyTorch's default); see the module doc

    Returns
    -------
    y : (N, C, H_out, W_out) = A_h x A_w^T for every (n, c), x's dtype (computed in float32
        for float16). A NaN or Inf in x affects only the outputs that interpolate it with a
        non-zero weight (see the module doc).
    cache : ResizeCache for :func:`resize_bilinear_backward`
    """
    fn = "resize_bilinear"
    check_array(fn, "x", x, ndim=4, nonempty=True)
    H_out, W_out = check_pair(fn, "size", size, 1)
    check_choice(fn, "align_corners", align_corners, (True, False))
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    ct = compute_dtype(x.dtype)
    check_budget(fn, f"size={size!r}", ct.itemsize, y=(N, C, H_out, W_out),
                 intermediate=(N, C, max(H, H_out), max(W, W_out)))
    a_h = _padded_interp_matrix_cached(H, H_out, align_corners, xp, ct)
    a_w = _padded_interp_matrix_cached(W, W_out, align_corners, xp, ct)
    y = separable_matmul(x.astype(ct, copy=False), a_h, a_w).astype(x.dtype, copy=False)
    return y, ResizeCache(a_h, a_w, x.shape, x.dtype)


def resize_bilinear_backward(dy, cache):
    """Gradient of :func:`resize_bilinear`: ``dx = A_h^T dy A_w`` (the transposed matrices).

    dy (N, C, H_out, W_out) of the forward's dtype -> dx (N, C, H_in, W_in). A NaN or Inf in
    dy reaches only the inputs that the output interpolated with a non-zero weight.
    """
    fn = "resize_bilinear_backward"
    check_cache(fn, cache, ResizeCache)
    expected = tuple(cache.x_shape[:2]) + (cache.a_h.shape[0], cache.a_w.shape[0])
    check_grad(fn, dy, cache.dtype, expected)
    backend.get_array_module(dy, cache.a_h.data)
    ct = cache.a_h.dtype
    dx = separable_matmul(dy.astype(ct, copy=False), cache.a_h.T.tocsr(), cache.a_w.T.tocsr(),
                          transposed=True)
    return dx.astype(cache.dtype, copy=False)


def nearest_indices(in_size, out_size, xp=None):
    """For each output index, the nearest input index with align-corners coordinates.

    ``round(i * (in - 1) / (out - 1))``, halves rounded up, in exact integer arithmetic:
    ``(2 i (in - 1) + (out - 1)) // (2 (out - 1))``; 0 when out_size = 1. When
    ``in - 1 = s (out - 1)`` (Caffe's shrink sizes, e.g. 321 -> 41 with s = 8) this is ``s*i``.
    """
    check_ints("nearest_indices", 1, in_size=in_size, out_size=out_size)
    xp = backend.xp_for("cpu") if xp is None else xp
    i = xp.arange(out_size, dtype="int64")
    if out_size == 1:
        return i
    return (2 * i * (in_size - 1) + (out_size - 1)) // (2 * (out_size - 1))


def resize_labels_nearest(labels, size):
    """Resize a label map by nearest sampling (DeepLab's target downsampling; never bilinear).

    Parameters
    ----------
    labels : (N, H, W) or (H, W) integer array, no axis empty; every value, including the
        ignore label 255,
        is copied from some input pixel, so labels are never mixed or invented
    size : (H_out, W_out) positive ints (or one int)

    Returns
    -------
    (N, H_out, W_out) or (H_out, W_out) array of the same dtype:
    ``out[..., i, j] = labels[..., nearest_indices(H, H_out)[i], nearest_indices(W, W_out)[j]]``.
    For 321 -> 41 that is ``labels[..., 8i, 8j]`` exactly.
    """
    fn = "resize_labels_nearest"
    check_array(fn, "labels", labels, floating=False, nonempty=True)
    if labels.ndim not in (2, 3):
        raise ArgumentError(f"{fn}: labels must be (N, H, W) or (H, W), got "
                            f"labels.shape={tuple(labels.shape)}")
    if labels.dtype.kind not in "iu":
        raise ArgumentError(f"{fn}: labels must be an integer array, got dtype {labels.dtype} "
                            f"(labels.shape={tuple(labels.shape)})")
    H_out, W_out = check_pair(fn, "size", size, 1)
    xp = backend.get_array_module(labels)
    H, W = labels.shape[-2:]
    rows = nearest_indices(H, H_out, xp)
    cols = nearest_indices(W, W_out, xp)
    return labels[..., rows[:, None], cols[None, :]]

