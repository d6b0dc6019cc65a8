"""Figs. 5, 6 and 10 on real photos, with torchvision's trained DeepLabV3 (ResNet-50/101).

The miniature figures (:mod:`.crf_experiments`) come from networks trained here on synthetic
shapes. With a user's copy of torchvision's published weights
(``DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1`` or
``DeepLabV3_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1``, loaded by
:func:`minideeplab.models.load_torchvision`), the same figures are drawn on real photos: the
dense CRF (DeepLab v2's post-processing, Sec. 3.3) on top of the v3 network's upsampled
probabilities. Two jobs of ``reproduce`` draw them (:mod:`.jobs.real_photos`):

* Fig. 5 (``fig5_meanfield_real.png``): score and belief maps of the main foreground class
  after each mean-field iteration, on the sample photo (Grace Hopper's portrait, bundled with
  matplotlib), or on the PASCAL VOC val image with the most foreground when VOC is given.
* Fig. 6 (``fig6_crf_before_after_real.png``): photos, (ground truth,) the network's labels
  and the labels after the CRF: the sample photo, or VOC val images.
* Fig. 10 (``fig10_trimap_real.png``, ``fig10_trimap_real.txt``): mean IOU and pixel accuracy
  in a band around the object boundaries, before and after the CRF; needs VOC's labels.

The CRF uses DeepLab v2's ResNet-101 parameters (``CRF_SETTINGS["resnet"]``); the network sees
each photo through its own preprocessing (:func:`minideeplab.inference.predict`).
"""
import copy
import dataclasses
from collections import namedtuple

import numpy as np

from .. import backend
from ..crf import CRF_SETTINGS, crf_labels, dense_crf, describe_crf_settings
from ..data import VOC_CLASS_NAMES
from ..metrics import ConfusionMatrix, trimap_accuracy
from .crf_experiments import FIG6_IMAGES, trimap_table
from .figures import crf as crf_figures

__all__ = ["TRIMAP_WIDTHS", "WEIGHTS_HINT", "Segmented", "segment_photos", "fig5_fig6_real",
           "fig10_real"]

TRIMAP_WIDTHS = (1, 2, 4, 8, 12, 16, 20, 25, 30, 40)
VOC_IMAGES = {True: 4, False: 100}      # Fig. 10's val images: quick, full
CRF = "resnet"                          # the name of the CRF settings (crf.CRF_SETTINGS)
WEIGHTS_HINT = ("torchvision's published DeepLabV3 weights: in Python with torchvision, "
                "torchvision.models.segmentation.DeepLabV3_ResNet101_Weights."
                "COCO_WITH_VOC_LABELS_V1 (or DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1)"
                ".get_state_dict() downloads them; save that dict with torch.save(state, "
                "'deeplabv3.pth') and pass the file")

Segmented = namedtuple("Segmented", "images labels before after main probs class_names")
Segmented.__doc__ = """The photos and what the network and the CRF make of them: ``images``
(H, W, 3) uint8; ``labels`` their ground truth (VOC) or None (the sample photo); ``before``
and ``after`` the labels without and with the CRF; ``main`` the index of the image with the
most foreground, whose softmax ``probs`` (L, H, W) is kept (Fig. 5); ``class_names``."""

_LAST = {}       # the last segmentation, by its arguments: the two jobs of one run share it


def _photos(voc_root, quick):
    if voc_root is None:
        from ..data import sample_photo
        return [sample_photo((128, 96) if quick else None)], None
    from ..data import VOCSegmentation
    val = VOCSegmentation(voc_root, "val")
    items = [val[i] for i in range(min(VOC_IMAGES[bool(quick)], len(val)))]
    return [im for im, _ in items], [lb for _, lb in items]


def segment_photos(model, *, voc_root=None, quick=False, device=None, progress=None):
    """Run ``model`` (torchvision's 21 VOC classes) and the CRF on the sample photo, or on VOC
    val images; a :class:`Segmented`. ``quick``: 4 VOC images instead of 100, or the sample
    photo at 128x96, each fed at its own size (no resize to the weights' shorter side)."""
    from ..inference import predict
    key = (id(model), voc_root, bool(quick), device)
    if key in _LAST:
        return _LAST[key]
    progress = progress or (lambda it, **kw: it)
    if quick:                        # on a copy of the model's recipe: the caller's is kept
        model = copy.copy(model)
        model.preprocessing = dataclasses.replace(model.preprocessing, resize_shorter=None)
    images, labels = _photos(voc_root, quick)
    num_classes = int(model.head.classifier.params["weight"].shape[0])
    names = (list(VOC_CLASS_NAMES) if num_classes == len(VOC_CLASS_NAMES)
             else [str(c) for c in range(num_classes)])
    before, after, main, kept, most = [], [], 0, None, -1
    for k, image in enumerate(progress(images, desc="torchvision DeepLabV3 + CRF")):
        b, p = predict(model, image, device=device)
        before.append(b)
        after.append(backend.asnumpy(crf_labels(image, p, **CRF_SETTINGS[CRF])))
        foreground = int(((labels[k] if labels else b) > 0).sum())
        if foreground > most:        # keep the softmax of the image with the most foreground
            main, kept, most = k, p, foreground
    _LAST.clear()
    _LAST[key] = Segmented(images, labels, before, after, main, kept, names)
    return _LAST[key]


def fig5_fig6_real(seg):
    """(Fig. 5, Fig. 6) on real photos from a :class:`Segmented`."""
    ref = (seg.labels or seg.before)[seg.main]
    fg = ref[(ref > 0) & (ref != 255)]
    cls = int(np.bincount(fg.astype(np.int64)).argmax()) if fg.size else 1
    _, history = dense_crf(seg.images[seg.main], seg.probs.astype(np.float32),
                           return_history=True, **CRF_SETTINGS[CRF])
    history = type(history)([backend.asnumpy(q) for q in history.Q],
                            [backend.asnumpy(s) for s in history.scores])
    fig5 = crf_figures.fig5_meanfield(seg.images[seg.main], history, cls,
                                      class_name=seg.class_names[cls])
    shown = _most_foreground(seg)
    fig6 = crf_figures.fig6_before_after(
        [seg.images[i] for i in shown], None if seg.labels is None else
        [seg.labels[i] for i in shown], [seg.before[i] for i in shown],
        [seg.after[i] for i in shown], title="real photos, torchvision's DeepLabV3",
        class_names=seg.class_names)
    return fig5, fig6


def _most_foreground(seg):
    return np.argsort([-(lb > 0).sum() for lb in (seg.labels or seg.before)],
                      kind="stable")[:FIG6_IMAGES]


def fig10_real(seg):
    """(Fig. 10 on VOC val images, its text) from a :class:`Segmented` with labels."""
    num_classes = len(seg.class_names)
    curves, whole = {}, {}
    for name, maps in (("before CRF", seg.before), ("after CRF", seg.after)):
        curves[name] = trimap_accuracy(maps, seg.labels, TRIMAP_WIDTHS, num_classes)
        cm = ConfusionMatrix(num_classes)
        for pred, gt in zip(maps, seg.labels):
            cm.update(pred, gt)
        whole[name] = cm.mean_iou()
    first = _most_foreground(seg)[0]
    fig = crf_figures.fig10_trimap(seg.images[first], seg.labels[first], curves,
                                   class_names=seg.class_names)
    text = (f"Fig. 10 on real photos: torchvision's DeepLabV3 on {len(seg.images)} VOC val "
            f"images, CRF {describe_crf_settings(CRF)}; whole image: mIoU "
            f"{whole['before CRF']:.4f} before, {whole['after CRF']:.4f} after the CRF\n"
            + trimap_table(curves, TRIMAP_WIDTHS))
    return fig, text
