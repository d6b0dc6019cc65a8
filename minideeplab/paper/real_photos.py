"""Figs. 5, 6 and 10 on real photos, with torchvision's trained DeepLabV3 (ResNet-50/101).

The miniature figures (:mod:`.crf_experiments`) come from networks trained here on synthetic
shapes. With a user's copy of torchvision's published weights
(``DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1`` or
``DeepLabV3_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1``, loaded by
:func:`minideeplab.models.load_torchvision`), the same figures are drawn on real photos: the
dense CRF (DeepLab v2's post-processing, Sec. 3.3) on top of the v3 network's upsampled
probabilities.

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
from pathlib import Path

import numpy as np

from .. import backend
from ..crf import CRF_SETTINGS, crf_labels, dense_crf, describe_crf_settings
from ..data import VOC_CLASS_NAMES
from ..fileio import atomic_write_text
from ..metrics import ConfusionMatrix, trimap_accuracy
from .crf_experiments import FIG6_IMAGES, trimap_table
from .figures import crf as crf_figures
from .figures.common import save_figure

__all__ = ["TRIMAP_WIDTHS", "WEIGHTS_HINT", "real_photo_figures"]

TRIMAP_WIDTHS = (1, 2, 4, 8, 12, 16, 20, 25, 30, 40)
VOC_IMAGES = {True: 4, False: 100}      # Fig. 10's val images: quick, full
WEIGHTS_HINT = ("torchvision's published DeepLabV3 weights: in Python with torchvision, "
                "torchvision.models.segmentation.DeepLabV3_ResNet101_Weights."
                "COCO_WITH_VOC_LABELS_V1 (or DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1)"
                ".get_state_dict() downloads them; save that dict with torch.save(state, "
                "'deeplabv3.pth') and pass the file")


def _segment(model, image, device):
    from ..inference import predict
    labels, probs = predict(model, image, device=device)
    return labels, probs, backend.asnumpy(crf_labels(image, probs, **CRF_SETTINGS["resnet"]))


def _voc_val(root, count):
    from ..data import VOCSegmentation
    val = VOCSegmentation(root, "val")
    items = [val[i] for i in range(min(count, len(val)))]
    return [im for im, _ in items], [lb for _, lb in items]


def real_photo_figures(model, out_dir, *, voc_root=None, quick=False, device=None,
                       progress=None):
    """Write Figs. 5, 6 (and 10 with VOC) on real photos into ``out_dir``; return the paths.

    Parameters
    ----------
    model : a network with torchvision's 21 VOC classes and its preprocessing
        (:func:`minideeplab.models.load_torchvision`)
    out_dir : folder (made if missing)
    voc_root : PASCAL VOC 2012 folder, or None (Figs. 5 and 6 on the sample photo, no Fig. 10)
    quick : a small, fast run: 4 VOC images instead of 100, or the sample photo at 128x96,
        each fed at its own size (no resize to the weights' shorter side)
    device : "cpu" | "gpu" | None
    progress : ``progress(iterable, desc=...)`` wrapper, or None
    """
    progress = progress or (lambda it, **kw: it)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    num_classes = int(model.head.classifier.params["weight"].shape[0])
    names = list(VOC_CLASS_NAMES) if num_classes == len(VOC_CLASS_NAMES) else \
        [str(c) for c in range(num_classes)]
    if quick:                        # on a copy of the model's recipe: the caller's is kept
        import copy
        import dataclasses
        model = copy.copy(model)
        model.preprocessing = dataclasses.replace(model.preprocessing, resize_shorter=None)
    if voc_root is None:
        from ..data import sample_photo
        images, gts = [sample_photo((128, 96) if quick else None)], None
    else:
        images, gts = _voc_val(voc_root, VOC_IMAGES[bool(quick)])
    before, after, probs = [], [], []
    for image in progress(images, desc="torchvision DeepLabV3 + CRF"):
        b, p, a = _segment(model, image, device)
        before.append(b)
        after.append(a)
        probs.append(p)
    written = []
    # Fig. 5: the image with the most foreground, its most frequent foreground class
    k = int(np.argmax([(lb > 0).sum() for lb in (gts or before)]))
    ref = (gts or before)[k]
    fg = ref[(ref > 0) & (ref != 255)]
    cls = int(np.bincount(fg.astype(np.int64)).argmax()) if fg.size else 1
    _, history = dense_crf(images[k], probs[k].astype(np.float32), return_history=True,
                           **CRF_SETTINGS["resnet"])
    history = type(history)([backend.asnumpy(q) for q in history.Q],
                            [backend.asnumpy(s) for s in history.scores])
    fig = crf_figures.fig5_meanfield(images[k], history, cls, class_name=names[cls])
    written.append(save_figure(fig, out_dir / "fig5_meanfield_real.png"))
    shown = np.argsort([-(lb > 0).sum() for lb in (gts or before)], kind="stable")[:FIG6_IMAGES]
    fig = crf_figures.fig6_before_after([images[i] for i in shown],
                                        None if gts is None else [gts[i] for i in shown],
                                        [before[i] for i in shown], [after[i] for i in shown],
                                        title="real photos, torchvision's DeepLabV3",
                                        class_names=names)
    written.append(save_figure(fig, out_dir / "fig6_crf_before_after_real.png"))
    if gts is not None:
        curves = {name: trimap_accuracy(maps, gts, TRIMAP_WIDTHS, num_classes)
                  for name, maps in (("before CRF", before), ("after CRF", after))}
        whole = {}
        for name, maps in (("before CRF", before), ("after CRF", after)):
            cm = ConfusionMatrix(num_classes)
            for pred, gt in zip(maps, gts):
                cm.update(pred, gt)
            whole[name] = cm.mean_iou()
        fig = crf_figures.fig10_trimap(images[shown[0]], gts[shown[0]], curves, class_names=names)
        written.append(save_figure(fig, out_dir / "fig10_trimap_real.png"))
        text = (f"Fig. 10 on real photos: torchvision's DeepLabV3 on {len(images)} VOC val "
                f"images, CRF {describe_crf_settings('resnet')}; whole image: mIoU "
                f"{whole['before CRF']:.4f} before, {whole['after CRF']:.4f} after the CRF\n"
                + trimap_table(curves, TRIMAP_WIDTHS))
        path = out_dir / "fig10_trimap_real.txt"
        atomic_write_text(path, text + "\n")
        written.append(str(path))
    return written
