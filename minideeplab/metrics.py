"""Segmentation metrics as the paper reports them: mean IOU and the trimap of Fig. 10.

**Mean IOU** (DeepLab v2, Sec. 4: "pixel intersection-over-union (IOU) averaged across the 21
classes") comes from ONE confusion matrix accumulated over the whole evaluation set, the way the
PASCAL VOC devkit (``VOCevalseg.m``) does it::

    IOU_c = TP_c / (TP_c + FP_c + FN_c)        mIOU = mean over classes of IOU_c

Averaging per-image (or per-batch) IOUs instead gives a different, wrong number; pixels labelled
``ignore_index`` (255, the VOC "void" border) are never counted. A class with zero union (absent
from both the labels and the predictions of the whole set) has an undefined IOU: it is ``nan``
and left out of the mean. On PASCAL VOC val every class is present, so this is the devkit's mean.

**Trimap** (Sec. 4.1, Fig. 10, after Kohli et al. 2009): accuracy and mean IOU counted only on
the pixels within a narrow band around the ground-truth object boundaries, as a function of the
band's width. Here a *boundary pixel* is a pixel with a 4-neighbour of a different label value
(255 counts as a value of its own, so the void outlines of VOC mark object boundaries) and the
band of width ``w`` holds the pixels whose Euclidean distance (between pixel centres) to the
nearest boundary pixel is ``<= w``; width 0 is the boundary pixels themselves. The distance
transform is scipy.ndimage's exact EDT, computed on the host (CuPy inputs are copied there).
"""
import collections

import numpy as np

from . import backend
from . import checks
from .errors import ArgumentError

__all__ = ["confusion_matrix", "ConfusionMatrix", "iou_per_class", "mean_iou", "pixel_accuracy",
           "boundary_distance", "boundary_band", "trimap_accuracy", "TrimapResult",
           "TrimapMatrices"]

TrimapResult = collections.namedtuple("TrimapResult", "widths pixel_accuracy mean_iou num_pixels")
TrimapResult.__doc__ = """Trimap evaluation (Fig. 10): for each band width (W,), the pixel accuracy
(W,), the mean IOU (W,) and the number of counted (non-ignored) pixels in the band (W,)."""


def _check_label_map(fn, name, a, num_classes, ignore_index, allow_ignore):
    """``a`` must be an integer NumPy/CuPy array with values in [0, L) (or ignore_index)."""
    checks.check_array(fn, name, a, floating=False)
    if a.dtype.kind not in "iu":
        hint = " (take the argmax over the class axis first)" if a.dtype.kind == "f" else ""
        raise ArgumentError(f"{fn}: {name} must be an integer label array, got dtype {a.dtype} "
                            f"({name}.shape={tuple(a.shape)}){hint}")
    xp = backend.get_array_module(a)
    bad = (a < 0) | (a >= num_classes)
    if allow_ignore and ignore_index is not None:
        bad &= a != ignore_index
    if a.size and bool(bad.any()):
        values = backend.asnumpy(xp.unique(a[bad]))[:8].tolist()
        allowed = f"[0, {num_classes})" + (f" or {ignore_index}" if allow_ignore else "")
        raise ArgumentError(f"{fn}: {name} has values {values} outside {allowed} "
                            f"({name}.shape={tuple(a.shape)}, num_classes={num_classes})")


def _check_ignore_index(fn, ignore_index):
    """None, or the int label value whose pixels are not counted."""
    if ignore_index is not None:
        checks.check_int(fn, "ignore_index", ignore_index, 0)
    return ignore_index


def _check_pred_label(fn, pred, label, num_classes, ignore_index):
    _check_ignore_index(fn, ignore_index)
    _check_label_map(fn, "label", label, num_classes, ignore_index, allow_ignore=True)
    _check_label_map(fn, "pred", pred, num_classes, ignore_index, allow_ignore=False)
    if pred.shape != label.shape:
        raise ArgumentError(f"{fn}: pred and label shapes differ (pred.shape={tuple(pred.shape)}, "
                            f"label.shape={tuple(label.shape)})")
    backend.get_array_module(pred, label)   # refuses NumPy and CuPy mixed


def confusion_matrix(pred, label, num_classes, ignore_index=255):
    """Count (true label, predicted label) pairs with one ``bincount``.

    Parameters
    ----------
    pred : (...) integer array, values in [0, L)
    label : (...) integer array of the same shape, values in [0, L) or ``ignore_index``
    num_classes : int
        L.
    ignore_index : int or None
        Label value whose pixels are not counted.

    Returns
    -------
    (L, L) int64 array on the inputs' device; rows are true labels, columns predictions.
    """
    fn = "confusion_matrix"
    L = checks.check_int(fn, "num_classes", num_classes, 1)
    _check_pred_label(fn, pred, label, L, ignore_index)
    xp = backend.get_array_module(pred, label)
    pred, label = pred.ravel(), label.ravel()
    if ignore_index is not None:
        keep = label != ignore_index
        pred, label = pred[keep], label[keep]
    if label.size == 0:   # nothing counted: CuPy <= 13's bincount raises on an empty input
        return xp.zeros((L, L), dtype=xp.int64)
    index = label.astype(xp.int64) * L + pred.astype(xp.int64)     # (P,) row-major (L, L) cell
    return xp.bincount(index, minlength=L * L).reshape(L, L).astype(xp.int64)


def iou_per_class(matrix):
    """(L,) float64 ``TP / (TP + FP + FN)`` from an (L, L) confusion matrix; nan for union 0."""
    m = np.asarray(backend.asnumpy(matrix), dtype=np.float64)
    tp = np.diag(m)
    union = m.sum(axis=0) + m.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / np.where(union > 0, union, 1.0), np.nan)


def mean_iou(matrix):
    """Mean of :func:`iou_per_class` over the classes with a non-zero union (nan if none)."""
    iou = iou_per_class(matrix)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")


def pixel_accuracy(matrix):
    """Correct pixels / counted pixels (nan if nothing was counted)."""
    m = backend.asnumpy(matrix)
    total = m.sum()
    return float(np.trace(m) / total) if total > 0 else float("nan")


class ConfusionMatrix:
    """A confusion matrix accumulated over a whole evaluation set (one matrix, never averages).

    ``update`` takes NumPy or CuPy arrays: the counting (``bincount``) runs on their device and
    only the (L, L) counts come back to the host, where :attr:`matrix` (int64, rows = truth,
    columns = prediction) is kept.

    Examples
    --------
    >>> cm = ConfusionMatrix(21)
    >>> for pred, label in batches:            # pred = scores.argmax(axis=1)
    ...     cm.update(pred, label)
    >>> cm.mean_iou(), cm.iou(), cm.pixel_accuracy()
    """

    def __init__(self, num_classes, ignore_index=255):
        self.num_classes = checks.check_int("ConfusionMatrix", "num_classes", num_classes, 1)
        self.ignore_index = _check_ignore_index("ConfusionMatrix", ignore_index)
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, pred, label):
        """Add the pixels of ``pred`` and ``label`` (same shape, e.g. (N, H, W)); returns self."""
        counts = confusion_matrix(pred, label, self.num_classes, self.ignore_index)
        self.matrix += backend.asnumpy(counts)
        return self

    def reset(self):
        self.matrix[...] = 0
        return self

    def iou(self):
        """(L,) per-class IOU, nan for classes with zero union."""
        return iou_per_class(self.matrix)

    def mean_iou(self):
        return mean_iou(self.matrix)

    def pixel_accuracy(self):
        return pixel_accuracy(self.matrix)

    def class_accuracy(self):
        """(L,) per-class recall ``TP / (TP + FN)``, nan for classes absent from the labels."""
        m = self.matrix.astype(np.float64)
        gt = m.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(gt > 0, np.diag(m) / np.where(gt > 0, gt, 1.0), np.nan)

    def summary(self, class_names=None):
        """A dict: ``mean_iou``, ``pixel_accuracy``, ``iou`` {class name: IOU}, ``num_pixels``."""
        names = class_names or [str(c) for c in range(self.num_classes)]
        if len(names) != self.num_classes:
            raise ArgumentError(f"ConfusionMatrix.summary: {len(names)} class_names for "
                                f"{self.num_classes} classes")
        return {"mean_iou": self.mean_iou(), "pixel_accuracy": self.pixel_accuracy(),
                "iou": dict(zip(names, self.iou().tolist())),
                "num_pixels": int(self.matrix.sum())}

    def __repr__(self):
        return (f"ConfusionMatrix(num_classes={self.num_classes}, pixels={int(self.matrix.sum())}, "
                f"mean_iou={self.mean_iou():.4f})")


def boundary_distance(label):
    """Distance from every pixel to the nearest label boundary pixel (module docstring).

    Parameters
    ----------
    label : (H, W) integer array (NumPy or CuPy; computed on the host)

    Returns
    -------
    (H, W) float64 NumPy array; 0 on boundary pixels, ``inf`` everywhere if the label has a
    single value.
    """
    from scipy import ndimage
    fn = "boundary_distance"
    checks.check_array(fn, "label", label, ndim=2, floating=False)
    lab = backend.asnumpy(label)
    edge = np.zeros(lab.shape, dtype=bool)
    dv = lab[1:, :] != lab[:-1, :]         # (H-1, W): a change between vertical neighbours
    dh = lab[:, 1:] != lab[:, :-1]         # (H, W-1): a change between horizontal neighbours
    edge[1:, :] |= dv
    edge[:-1, :] |= dv
    edge[:, 1:] |= dh
    edge[:, :-1] |= dh
    if not edge.any():
        return np.full(lab.shape, np.inf)
    return ndimage.distance_transform_edt(~edge)


def boundary_band(label, width):
    """(H, W) bool mask of the pixels within ``width`` pixels of a label boundary (Fig. 10).

    Returned on the label's device. ``width`` >= 0 (pixels, Euclidean distance).
    """
    if isinstance(width, bool) or not np.isscalar(width) or not width >= 0:
        raise ArgumentError(f"boundary_band: width must be a number >= 0, got {width!r}")
    band = boundary_distance(label) <= width
    return backend.to_device(band, backend.device_of(label))


def _as_list(fn, name, arrays):
    if isinstance(arrays, (list, tuple)):
        return list(arrays)
    if isinstance(arrays, np.ndarray) or backend.is_gpu_array(arrays):
        if arrays.ndim == 2:
            return [arrays]
        if arrays.ndim == 3:
            return list(arrays)
    raise ArgumentError(f"{fn}: {name} must be a (N, H, W) or (H, W) array or a list of (H, W) "
                        f"arrays, got {type(arrays).__name__} with shape "
                        f"{getattr(arrays, 'shape', None)}")


def trimap_accuracy(preds, labels, widths, num_classes, ignore_index=255):
    """Pixel accuracy and mean IOU inside the boundary band of each width (paper Fig. 10).

    One confusion matrix per width is accumulated over all images (never per-image averages).

    Parameters
    ----------
    preds, labels : (N, H, W) arrays or lists of (H, W) arrays (sizes may differ per image)
    widths : sequence of numbers >= 0
        Band widths in pixels (the paper's x-axis runs 0..40 on VOC's ~500x375 images).
    num_classes : int
    ignore_index : int or None

    Returns
    -------
    TrimapResult(widths (W,), pixel_accuracy (W,), mean_iou (W,), num_pixels (W,))
    """
    fn = "trimap_accuracy"
    preds, labels = _as_list(fn, "preds", preds), _as_list(fn, "labels", labels)
    if len(preds) != len(labels):
        raise ArgumentError(f"{fn}: {len(preds)} preds but {len(labels)} labels")
    bands = TrimapMatrices(widths, num_classes, ignore_index, fn=fn)
    for k, (pred, label) in enumerate(zip(preds, labels)):
        bands.update(pred, label, where=f"{fn} (image {k})")
    return bands.result()


class TrimapMatrices:
    """One confusion matrix per band width, accumulated image by image: what
    :func:`trimap_accuracy` computes, for a set too large to hold (``evaluate --trimap``).

    ``update(pred, label)`` adds one image's (H, W) prediction and label; ``result()`` is the
    :class:`TrimapResult` so far.
    """

    def __init__(self, widths, num_classes, ignore_index=255, fn="TrimapMatrices"):
        self.num_classes = checks.check_int(fn, "num_classes", num_classes, 1)
        self.ignore_index = ignore_index
        self.widths = np.asarray(widths, dtype=np.float64).reshape(-1)
        if self.widths.size == 0 or not np.all(self.widths >= 0):
            raise ArgumentError(f"{fn}: widths must be a non-empty list of numbers >= 0, got "
                                f"{self.widths}")
        self.matrices = [ConfusionMatrix(self.num_classes, ignore_index) for _ in self.widths]

    def update(self, pred, label, where="TrimapMatrices.update"):
        _check_pred_label(where, pred, label, self.num_classes, self.ignore_index)
        if label.ndim != 2:
            raise ArgumentError(f"{where}: label must be (H, W), got shape "
                                f"{tuple(label.shape)}")
        pred, label = backend.asnumpy(pred), backend.asnumpy(label)
        dist = boundary_distance(label)
        for w, cm in zip(self.widths, self.matrices):
            band = dist <= w
            cm.update(pred[band], label[band])
        return self

    def result(self):
        mats = self.matrices
        return TrimapResult(self.widths, np.array([cm.pixel_accuracy() for cm in mats]),
                            np.array([cm.mean_iou() for cm in mats]),
                            np.array([int(cm.matrix.sum()) for cm in mats], dtype=np.int64))
