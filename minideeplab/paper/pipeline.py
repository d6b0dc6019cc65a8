"""DeepLab in one picture (the paper's Fig. 1): DCNN scores at output stride 8, bilinear
upsampling by 8 to the image, the fully connected CRF.

:func:`run_pipeline` runs the three stages with the library's functions on one image, for any
model that carries its preprocessing (a tiny network of :mod:`minideeplab.models`, or
torchvision's DeepLabV3 read by :func:`minideeplab.models.load_torchvision`).
"""
import glob
import os
from collections import namedtuple

from .. import backend, functional as F
from ..crf import dense_crf
from ..inference import network_scores, upsample_scores

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
    """The three stages of Fig. 1 on one (H, W, 3) uint8 image: the network's stride-8 scores
    (:func:`minideeplab.inference.network_scores`: the model's own preprocessing), their
    bilinear upsampling to the image (:func:`~minideeplab.inference.upsample_scores`: the
    model's convention) and softmax, and the CRF; the stride-8 scores are kept for the picture.

    ``crf_params``: keyword arguments of :func:`minideeplab.crf.dense_crf` (default: its own).
    """
    logits = network_scores(model, image[None])                    # (1, L, h, w), stride 8
    probs = F.softmax(upsample_scores(model, logits, image.shape[:2]), axis=1)[0]
    crf = dense_crf(backend.to_device(image, backend.device_of(probs)), probs,
                    **(crf_params or {}))
    return PipelineResult(image, backend.asnumpy(logits[0]), backend.asnumpy(probs),
                          backend.asnumpy(crf))
