"""Data augmentation as in DeepLab v2 (Sec. 4) and batching into network inputs.

The Caffe release augments each training image on the host, in this order: a random scale in
[0.5, 1.5] (image bilinear, label nearest: labels are never mixed), a random horizontal mirror,
padding up to the crop size (image with the mean pixel, label with the ignore value 255; Caffe
pads at the bottom and the right) and a random crop (321 x 321 on VOC). :func:`to_batch` turns
the crops into network input with the model's :class:`~minideeplab.preprocess.Preprocessing`.

All functions take a NumPy ``Generator`` for their randomness, return new arrays (never write
into the caller's), and work on NumPy or CuPy arrays alike (the arrays decide).

Resampling conventions (pixel centres at integer coordinates):

* images, :func:`resize_image`: bilinear with half-pixel centres,
  ``src = (i + 0.5) * H_in / H_out - 0.5`` clamped to the image (OpenCV's ``INTER_LINEAR``,
  which the Caffe data layer uses; PyTorch's ``align_corners=False``; the taps come from
  :func:`minideeplab.functional.linear_taps`), rounded back to uint8;
* labels, :func:`resize_label`: nearest, ``src = floor((i + 0.5) * H_in / H_out)``; with
  ``align_corners=True``, ``src = round(i * (H_in - 1) / (H_out - 1))``
  (:func:`minideeplab.functional.nearest_indices`), which for sizes ``8k + 1`` picks
  ``label[8i, 8j]`` exactly: :func:`shrink_label`, Caffe's Interp with ``shrink_factor: 8``
  (docs/conventions.md, "Resizing and the label shrink").
"""
import numpy as np

from .. import backend
from .. import checks
from ..errors import ArgumentError
from ..functional.resize import (interp_shrink_size, linear_taps, nearest_indices,
                                 resize_labels_nearest)
from ..preprocess import MEAN_BGR, MEAN_RGB, Preprocessing

__all__ = ["MEAN_RGB", "MEAN_BGR", "IGNORE_INDEX", "RANDOM_SCALE_RANGE", "resize_image",
           "resize_label", "shrink_label", "random_scale", "random_mirror", "pad_to",
           "random_crop", "augment", "to_batch"]

IGNORE_INDEX = 255
RANDOM_SCALE_RANGE = (0.5, 1.5)          # the paper's random rescaling (DeepLab v2, Sec. 4.1)
MAX_CROP = 4096                          # larger crops are almost surely a mistake


def _check_image(fn, image, name="image"):
    checks.check_array(fn, name, image, floating=False)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ArgumentError(f"{fn}: {name} must be a (H, W, 3) uint8 RGB array, got shape "
                            f"{tuple(image.shape)} dtype {image.dtype}")


def _check_label(fn, label, name="label", ndim=2):
    checks.check_array(fn, name, label, floating=False)
    if label.dtype.kind not in "iu" or (ndim is not None and label.ndim != ndim):
        dims = {2: "(H, W) ", 3: "(N, H, W) "}.get(ndim, "")
        raise ArgumentError(f"{fn}: {name} must be a {dims}integer array, "
                            f"got shape {tuple(label.shape)} dtype {label.dtype}")


def _check_image_label(fn, image, label):
    _check_image(fn, image)
    _check_label(fn, label)
    if image.shape[:2] != label.shape:
        raise ArgumentError(f"{fn}: image is {tuple(image.shape[:2])} but label is "
                            f"{tuple(label.shape)} (image.shape={tuple(image.shape)})")
    backend.get_array_module(image, label)


def resize_image(image, out_hw):
    """Bilinear resize of a uint8 RGB image (half-pixel centres, see the module docstring).

    image (H, W, 3) uint8 -> (H_out, W_out, 3) uint8.
    """
    fn = "resize_image"
    _check_image(fn, image)
    oh, ow = checks.check_pair(fn, "out_hw", out_hw, 1)
    xp = backend.get_array_module(image)
    img = image.astype(xp.float64)
    lo, hi, f = linear_taps(image.shape[0], oh, align_corners=False, xp=xp)
    img = img[lo] * (1.0 - f)[:, None, None] + img[hi] * f[:, None, None]     # (oh, W, 3)
    lo, hi, f = linear_taps(image.shape[1], ow, align_corners=False, xp=xp)
    img = img[:, lo] * (1.0 - f)[None, :, None] + img[:, hi] * f[None, :, None]  # (oh, ow, 3)
    return xp.clip(xp.rint(img), 0, 255).astype(xp.uint8)


def resize_label(label, out_hw, align_corners=False):
    """Nearest-neighbour resize of a label map (only picks existing values, never mixes them).

    label (..., H, W) integer -> (..., H_out, W_out), same dtype.
    """
    fn = "resize_label"
    _check_label(fn, label, ndim=None)
    if label.ndim < 2:
        raise ArgumentError(f"{fn}: label must have at least 2 dims (..., H, W), got shape "
                            f"{tuple(label.shape)}")
    oh, ow = checks.check_pair(fn, "out_hw", out_hw, 1)
    xp = backend.get_array_module(label)

    def index(n_out, n_in):
        if align_corners:
            return nearest_indices(n_in, n_out, xp)        # round(i (n_in-1) / (n_out-1))
        i = xp.arange(n_out, dtype=xp.float64)
        src = xp.floor((i + 0.5) * (n_in / n_out))
        return xp.clip(src, 0, n_in - 1).astype(xp.int64)

    rows, cols = index(oh, label.shape[-2]), index(ow, label.shape[-1])
    return label[..., rows[:, None], cols[None, :]]


def shrink_label(labels, factor=8):
    """Labels at the score map's resolution: (N, H, W) or (H, W) -> ((H-1)//f + 1, (W-1)//f + 1).

    Caffe's Interp ``shrink_factor: f`` on the label (DeepLab v2's training at output stride 8;
    docs/conventions.md, "Resizing and the label shrink"): nearest sampling with align-corners
    indices, computed by :func:`minideeplab.functional.resize_labels_nearest`, the function the
    trainer shrinks its labels with. For ``H = 8k + 1`` this is ``labels[..., ::8, ::8]``.
    """
    f = checks.check_int("shrink_label", "factor", factor, 1)
    _check_label("shrink_label", labels, ndim=None)
    h, w = labels.shape[-2:]
    return resize_labels_nearest(labels, (interp_shrink_size(h, f), interp_shrink_size(w, f)))


def random_scale(image, label, rng, scale_range=RANDOM_SCALE_RANGE):
    """Resize image (bilinear) and label (nearest) by one factor drawn uniformly from scale_range.

    The new size is ``round(H * s), round(W * s)`` (at least 1). Returns (image, label).
    """
    fn = "random_scale"
    _check_image_label(fn, image, label)
    rng = checks.check_rng(fn, "rng", rng)
    if not (isinstance(scale_range, (tuple, list)) and len(scale_range) == 2):
        raise ArgumentError(f"{fn}: scale_range must be (lo, hi), got {scale_range!r}")
    lo, hi = (checks.check_number(fn, "scale_range", v) for v in scale_range)
    if not 0 < lo <= hi:
        raise ArgumentError(f"{fn}: scale_range must be (lo, hi) with 0 < lo <= hi, "
                            f"got {scale_range!r}")
    h, w = label.shape
    checks.check_budget(fn, f"scale_range={scale_range!r}", 8,
                        image=(round(h * hi) + 1, round(w * hi) + 1, 3))
    s = rng.uniform(lo, hi)
    out = (max(1, int(round(h * s))), max(1, int(round(w * s))))
    return resize_image(image, out), resize_label(label, out)


def random_mirror(image, label, rng, p=0.5):
    """Flip image and label left-right together with probability p. Returns new arrays."""
    _check_image_label("random_mirror", image, label)
    rng = checks.check_rng("random_mirror", "rng", rng)
    p = checks.check_number("random_mirror", "p", p, 0.0, 1.0)
    if rng.random() < p:
        return image[:, ::-1].copy(), label[:, ::-1].copy()
    return image.copy(), label.copy()


def _mean_uint8(fn, mean):
    m = np.asarray(mean, dtype=np.float64)
    if m.shape != (3,) or np.any(m < 0) or np.any(m > 255):
        raise ArgumentError(f"{fn}: mean must be 3 values in [0, 255], got {mean!r}")
    return np.rint(m).astype(np.uint8)


def pad_to(image, label, min_hw, mean=MEAN_RGB, ignore_index=IGNORE_INDEX):
    """Pad at the bottom and right up to at least ``min_hw`` (as Caffe's data layer).

    The image is padded with the mean pixel rounded to uint8 (so it becomes ~0 after the mean
    is subtracted), the label with ``ignore_index`` (those pixels count in no loss and no metric).
    Returns (image (H', W', 3) uint8, label (H', W')) with ``H' = max(H, min_h)``.
    """
    fn = "pad_to"
    _check_image_label(fn, image, label)
    mh, mw = checks.check_pair(fn, "min_hw", min_hw, 1)
    xp = backend.get_array_module(image)
    h, w = label.shape
    H, W = max(h, mh), max(w, mw)
    out_img = xp.empty((H, W, 3), dtype=xp.uint8)
    out_img[...] = xp.asarray(_mean_uint8(fn, mean))
    out_img[:h, :w] = image
    out_lab = xp.full((H, W), ignore_index, dtype=label.dtype)
    out_lab[:h, :w] = label
    return out_img, out_lab


def random_crop(image, label, crop_size, rng, mean=MEAN_RGB, ignore_index=IGNORE_INDEX):
    """Pad (see :func:`pad_to`) then cut a ``crop_size`` window at a uniform random offset."""
    fn = "random_crop"
    rng = checks.check_rng(fn, "rng", rng)
    ch, cw = checks.check_pair(fn, "crop_size", crop_size, 1)
    if max(ch, cw) > MAX_CROP:
        raise ArgumentError(f"{fn}: crop_size {(ch, cw)} is larger than {MAX_CROP} pixels; "
                            "DeepLab crops 321 x 321 (VOC) or 513 x 513")
    image, label = pad_to(image, label, (ch, cw), mean=mean, ignore_index=ignore_index)
    h, w = label.shape
    y0 = int(rng.integers(0, h - ch + 1))
    x0 = int(rng.integers(0, w - cw + 1))
    return image[y0:y0 + ch, x0:x0 + cw].copy(), label[y0:y0 + ch, x0:x0 + cw].copy()


def augment(image, label, rng, crop_size=None, scale_range=RANDOM_SCALE_RANGE, mirror=True,
            mean=MEAN_RGB, ignore_index=IGNORE_INDEX):
    """The paper's training augmentation: random scale, random mirror, pad and random crop.

    Parameters
    ----------
    image : (H, W, 3) uint8
    label : (H, W) integer
    rng : numpy.random.Generator, or an int seed >= 0 for a new one
    crop_size : int or (h, w) or None
        None: no padding or cropping (the output size then varies with the scale).
    scale_range : (lo, hi) or None
        None: no rescaling.
    mirror : bool

    Returns
    -------
    image (h, w, 3) uint8, label (h, w) of label's dtype
    """
    _check_image_label("augment", image, label)
    rng = checks.check_rng("augment", "rng", rng)
    checks.check_bool("augment", "mirror", mirror)
    if scale_range is None and not mirror and crop_size is None:
        return image.copy(), label.copy()        # new arrays even when nothing is done
    if scale_range is not None:
        image, label = random_scale(image, label, rng, scale_range)
    if mirror:
        image, label = random_mirror(image, label, rng)
    if crop_size is not None:
        image, label = random_crop(image, label, crop_size, rng, mean, ignore_index)
    return image, label


def to_batch(images, labels=None, *, preprocessing=None, device=None, num_classes=None,
             ignore_index=IGNORE_INDEX):
    """Stack images (and labels) into network inputs on a device.

    Parameters
    ----------
    images : (N, H, W, 3) uint8 array or a list of (H, W, 3) uint8 arrays of one size
    labels : (N, H, W) integer array, a list of (H, W) arrays, or None
    preprocessing : :class:`~minideeplab.preprocess.Preprocessing`, the model's
        (``model.preprocessing``); None: ``Preprocessing()``, the image minus Caffe's mean pixel
    device : "cpu", "gpu" or None (the default device)
    num_classes : int, optional
        If given, label values must lie in [0, num_classes) or be ignore_index.

    Returns
    -------
    x : (N, 3, H, W) float32, ``((image - mean) / std) * scale`` in the preprocessing's channel
        order
    y : (N, H, W) int64, or None when labels is None
    """
    fn = "to_batch"
    preprocessing = Preprocessing() if preprocessing is None else preprocessing
    if not isinstance(preprocessing, Preprocessing):
        raise ArgumentError(f"{fn}: preprocessing must be a Preprocessing, got "
                            f"{type(preprocessing).__name__}")
    device = backend.default_device() if device is None else device
    if isinstance(images, (list, tuple)):
        if not images:
            raise ArgumentError(f"{fn}: images is an empty list")
        for i, im in enumerate(images):
            _check_image(fn, im, name=f"images[{i}]")
        shapes = {tuple(im.shape) for im in images}
        if len(shapes) > 1:
            raise ArgumentError(f"{fn}: images have different shapes {sorted(shapes)}; crop or "
                                "resize them to one size first")
        xp = backend.get_array_module(*images)
        images = xp.stack(images)
    checks.check_array(fn, "images", images, floating=False)
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ArgumentError(f"{fn}: images must be (N, H, W, 3) uint8, got shape "
                            f"{tuple(images.shape)} dtype {images.dtype}")
    x = backend.to_device(preprocessing(images), device)          # (N, 3, H, W) float32
    if labels is None:
        return x, None
    if isinstance(labels, (list, tuple)):
        for i, lab in enumerate(labels):
            _check_label(fn, lab, name=f"labels[{i}]")
        labels = backend.get_array_module(*labels).stack(labels)
    _check_label(fn, labels, name="labels", ndim=3)
    if tuple(labels.shape) != (images.shape[0],) + tuple(images.shape[1:3]):
        raise ArgumentError(f"{fn}: labels.shape={tuple(labels.shape)} does not match "
                            f"images.shape={tuple(images.shape)}")
    if num_classes is not None:
        lab_xp = backend.get_array_module(labels)
        bad = ((labels < 0) | (labels >= num_classes)) & (labels != ignore_index)
        if bool(bad.any()):
            values = backend.asnumpy(lab_xp.unique(labels[bad]))[:8].tolist()
            raise ArgumentError(f"{fn}: labels have values {values} outside [0, {num_classes}) "
                                f"or {ignore_index} (labels.shape={tuple(labels.shape)})")
    y = backend.to_device(labels.astype(backend.get_array_module(labels).int64), device)
    return x, y
