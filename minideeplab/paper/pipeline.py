"""DeepLab in one picture (the paper's Fig. 1): DCNN scores at output stride 8, bilinear
upsampling by 8 to the image, the fully connected CRF.

:func:`run_pipeline` runs the three stages with the library's functions on one image, for any
model that carries its preprocessing (a tiny network of :mod:`minideeplab.models`, or
torchvision's DeepLabV3 read by :func:`minideeplab.models.load_torchvision`).
"""
import glob
import os
from collections import namedtuple

import numpy as np

from .. import backend, functional as F, nn
from ..crf import dense_crf
from ..data.augment import to_batch

__all__ = ["WEIGHTS_ENV", "TORCHVISION_WEIGHTS_HINT", "torchvision_weights_path",
           "PipelineResult", "run_pipeline"]

WEIGHTS_ENV = "MINIDEEPLAB_TORCHVISION_WEIGHTS"
TORCHVISION_WEIGHTS_HINT = """\
torchvision's DeepLabV3-ResNet50 weights (DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1,
the 20 VOC classes and background) are not on this machine. To get them, on any machine with
PyTorch and torchvision:

    import torch, torchvision
    w = torchvision.models.segmentation.DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1
    model = torchvision.models.segmentation.deeplabv3_resnet50(weights=w)
    torch.save(model.state_dict(), "deeplabv3_resnet50_coco.pth")

(torchvision also caches the file it downloads as ~/.cache/torch/hub/checkpoints/
deeplabv3_resnet50_coco-*.pth), then point ${env} at the file. minideeplab reads it without
PyTorch.""".replace("${env}", WEIGHTS_ENV)


def torchvision_weights_path():
    """The DeepLabV3 weight file to use: ``$MINIDEEPLAB_TORCHVISION_WEIGHTS``, else torchvision's
    download cache (~/.cache/torch/hub/checkpoints/deeplabv3_resnet50_coco-*.pth), else None."""
    path = os.environ.get(WEIGHTS_ENV)
    if path:
        return path if os.path.isfile(path) else None
    pattern = os.path.join(os.path.expanduser("~"), ".cache", "torch", "hub", "checkpoints",
                           "deeplabv3_resnet50_coco-*.pth")
    found = sorted(glob.glob(pattern))
    return found[0] if found else None


PipelineResult = namedtuple("PipelineResult", "image logits probs crf")
PipelineResult.__doc__ = """image (H, W, 3) uint8; logits (L, h, w): the DCNN's scores at
output stride 8; probs (L, H, W): their softmax after bilinear upsampling to the image;
crf (L, H, W): the CRF's marginals."""


def run_pipeline(model, image, crf_params=None):
    """The three stages of Fig. 1 on one (H, W, 3) uint8 image (NumPy, on the CPU), as
    :func:`minideeplab.inference.predict_logits` runs the first two (the model's preprocessing,
    its upsampling convention), keeping the stride-8 scores for the picture.

    ``crf_params``: keyword arguments of :func:`minideeplab.crf.dense_crf` (default: its own).
    """
    x, _ = to_batch(image[None], preprocessing=model.preprocessing)   # as predict_logits
    model.eval()
    with nn.no_cache():
        logits = model(x)                                      # (1, L, h, w), stride 8
    up, _ = F.resize_bilinear(logits, image.shape[:2],
                              align_corners=getattr(model, "upsample_align_corners", True))
    probs = F.softmax(up.astype(np.float64), axis=1)[0].astype(np.float32)
    crf = dense_crf(image, probs, **(crf_params or {}))
    return PipelineResult(image, backend.asnumpy(logits[0]), backend.asnumpy(probs),
                          backend.asnumpy(crf))
