"""PASCAL VOC's class names, label colouring and image overlays (for figures and ``predict``).

The colours are VOC's palette, :func:`minideeplab.io.voc_palette` (the one the VOC devkit's
``labelcolormap.m`` builds and every label PNG carries).
"""
import numpy as np

from .. import backend
from ..errors import ArgumentError
from ..io import voc_palette

__all__ = ["colorize", "overlay", "VOC_CLASS_NAMES"]

VOC_CLASS_NAMES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor")


_PALETTE = voc_palette(256)


def _check_label(fn, label):
    label = np.asarray(label)
    if label.ndim != 2:
        raise ArgumentError(f"{fn}: label must be a (H, W) array, got shape {label.shape}")
    if label.dtype.kind not in "iub":
        raise ArgumentError(f"{fn}: label must be an integer array, got dtype {label.dtype}")
    if label.size and (label.min() < 0 or label.max() > 255):
        raise ArgumentError(f"{fn}: label values must lie in 0..255, got "
                            f"{label.min()}..{label.max()}")
    return label


def colorize(label, ignore_index=255, ignore_color=(255, 255, 255)):
    """Colour a label map with the VOC palette.

    Parameters
    ----------
    label : (H, W) integer array (NumPy or CuPy; moved to the host), values 0..255
    ignore_index : int
        Pixels with this value are painted ``ignore_color`` (white by default; the VOC files
        themselves use the palette's (224, 224, 192)).

    Returns
    -------
    (H, W, 3) uint8 RGB image
    """
    label = _check_label("colorize", backend.asnumpy(label))
    pal = _PALETTE.copy()
    if ignore_index is not None and 0 <= ignore_index < 256:
        pal[ignore_index] = ignore_color
    return pal[label.astype(np.intp)]


def overlay(image, label, alpha=0.5, ignore_index=255):
    """Blend the coloured label over the image: ``(1 - alpha) * image + alpha * colorize(label)``.

    Background (label 0) and ignored pixels are left as the image, so objects stand out.

    Parameters
    ----------
    image : (H, W, 3) uint8 RGB
    label : (H, W) integer array, same H, W
    alpha : float in [0, 1]

    Returns
    -------
    (H, W, 3) uint8 RGB image
    """
    image = backend.asnumpy(image)
    label = _check_label("overlay", backend.asnumpy(label))
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ArgumentError(f"overlay: image must be a (H, W, 3) uint8 array, got shape "
                            f"{image.shape} dtype {image.dtype}")
    if image.shape[:2] != label.shape:
        raise ArgumentError(f"overlay: image is {image.shape[:2]} but label is {label.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ArgumentError(f"overlay: alpha must be in [0, 1], got {alpha!r}")
    colors = colorize(label, ignore_index=ignore_index).astype(np.float64)
    out = image.astype(np.float64)
    fg = (label != 0) & (label != ignore_index)
    out[fg] = (1.0 - alpha) * out[fg] + alpha * colors[fg]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
