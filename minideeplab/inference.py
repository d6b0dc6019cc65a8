"""Inference and evaluation with a trained model: scores, labels, mIoU.

DeepLab v2, Sec. 3.1: the network's stride-8 score map is upsampled to the image size by
bilinear interpolation (align_corners=True, Caffe's ``Interp``); the label of a pixel is the
argmax of its scores, optionally refined by the dense CRF (Sec. 3.3). Evaluation accumulates one
confusion matrix over the whole set (docs/conventions.md, "Loss and mean IoU").

The input of the network is made by the model's own preprocessing (``model.preprocessing``,
:mod:`minideeplab.preprocess`), recorded in its checkpoint: nothing here takes a mean or a
scale, so a model cannot be fed inputs prepared for another. A trained model comes from
:func:`minideeplab.checkpoint.load_model` (a checkpoint or a network file) or
:func:`minideeplab.models.load_torchvision`; nothing here reads the training settings.
"""
import numpy as np

from . import backend, functional as F, nn
from .data import array_source
from .data.augment import to_batch
from .errors import ArgumentError
from .metrics import ConfusionMatrix
from .preprocess import preprocessing_of
from .progress import check_progress, progress_bar

__all__ = ["model_device", "network_scores", "upsample_scores", "predict_logits", "predict",
           "evaluate"]


def model_device(model):
    """``"gpu"`` or ``"cpu"``: where the model's parameters live; None for a model without
    parameters (or without ``named_parameters``, e.g. a stand-in callable)."""
    named = getattr(model, "named_parameters", None)
    for _, p in (named() if named is not None else ()):
        return backend.device_of(p)
    return None


def _device_for(fn, model, device):
    """The device to run ``model`` on: ``device``, which must be the parameters' own, or,
    when None, the parameters' device (so a model moved to the GPU is fed GPU inputs; a model
    without parameters runs on the default device)."""
    where = model_device(model)
    if device is None:
        return where if where is not None else backend.default_device()
    if device not in backend.DEVICES:
        raise ArgumentError(f"{fn}: device must be one of {backend.DEVICES} or None, got "
                            f"{device!r}")
    if where is not None and device != where:
        raise ArgumentError(f"{fn}: device={device!r} but the model's parameters are on "
                            f"{where!r}; move the model first (model.to({device!r})) or leave "
                            "device=None to run where the model is")
    return device


def network_scores(model, images, *, device=None):
    """The network's own score map for a batch of images: DeepLab's stride-8 logits.

    Parameters
    ----------
    model : a network with ``preprocessing`` (every model of ``build_model`` or
        :func:`minideeplab.checkpoint.load_model`); it is put in eval mode
    images : (N, H, W, 3) uint8 RGB
    device : "cpu" | "gpu" | None, where the network runs: the device of the model's
        parameters (None: taken from them; another device is an error)

    Returns
    -------
    logits : (N, L, h, w) on the device, h = H' / output_stride (rounded up) for the
        preprocessed images (H' = H unless the preprocessing resizes them)

    The images go through the model's own preprocessing; the forward pass keeps no backward
    caches (:func:`minideeplab.nn.no_cache`).
    """
    return _scores("network_scores", model, images, device)


def _scores(fn, model, images, device):
    pre = preprocessing_of(fn, model)
    device = _device_for(fn, model, device)
    x, _ = to_batch(images, preprocessing=pre, device=device)     # (N, 3, H', W') float32
    model.eval()
    with nn.no_cache():
        return model(x)


def upsample_scores(model, logits, size):
    """The scores at ``size`` = (H_out, W_out): bilinear upsampling (DeepLab v2, Sec. 3.1) with
    align_corners=True (Caffe's Interp), or False for a model whose
    ``upsample_align_corners`` says so (torchvision's DeepLabV3). (N, L, h, w) -> (N, L,
    H_out, W_out)."""
    up, _ = F.resize_bilinear(logits, tuple(size),
                              align_corners=getattr(model, "upsample_align_corners", True))
    return up


def predict_logits(model, images, *, device=None, size=None):
    """Full-resolution class scores for a batch of images (DeepLab v2, Sec. 3.1: bilinear):
    :func:`network_scores` then :func:`upsample_scores`.

    Parameters
    ----------
    model, images, device : as :func:`network_scores`
    size : (H_out, W_out) of the scores, default the images' (H, W)

    Returns
    -------
    scores : (N, L, H_out, W_out) on the device. When the preprocessing resizes the images
        (``resize_shorter``), the scores are resized straight back to the images' size.
    """
    logits = _scores("predict_logits", model, images, device)
    return upsample_scores(model, logits, images.shape[1:3] if size is None else size)


def predict(model, image, *, device=None):
    """One image (H, W, 3) uint8 -> (labels (H, W) int64, probabilities (L, H, W)), host arrays.

    The image goes through the model's own preprocessing, on ``device`` (see
    :func:`predict_logits`; None: where the model's parameters are).
    """
    scores = predict_logits(model, image[None], device=device)
    probs = F.softmax(scores, axis=1)[0]
    return backend.asnumpy(probs.argmax(axis=0)), backend.asnumpy(probs)


def evaluate(model, dataset, *, device=None, batch_size=10, num_classes=None, progress=True,
             postprocess=None, per_image=None):
    """Accumulate one confusion matrix over ``dataset`` (mIoU the paper's way, 255 ignored).

    ``dataset[i]`` is (image (H, W, 3) uint8, label (H, W)); the images go through the model's
    own preprocessing (see :func:`predict_logits`); ``device`` as there (None: the model's).
    ``postprocess(image, probs) -> labels`` (e.g. a dense CRF) replaces the argmax when given;
    it gets the image (H, W, 3) uint8 and the softmax (L, H, W) on the evaluation's device
    (CuPy arrays on a GPU, so a CRF runs there too) and may return its (H, W) labels on either
    device. Images of one size are evaluated in batches of ``batch_size``; otherwise one by
    one. ``progress``: a bar over the batches, True, False/None or a callable
    (:func:`minideeplab.progress.progress_bar`). ``per_image(pred, label)``, when given, also
    gets each image's (H, W) prediction and label as host arrays (e.g.
    :meth:`minideeplab.metrics.TrimapMatrices.update`, Fig. 10's bands). Returns a
    ConfusionMatrix.
    """
    preprocessing_of("evaluate", model)          # fail before any work
    check_progress("evaluate", progress)
    device = _device_for("evaluate", model, device)
    num_classes = num_classes or dataset.num_classes
    cm = ConfusionMatrix(num_classes)
    arrays = array_source(dataset)
    n = len(dataset)
    step = batch_size if arrays is not None else 1
    for start in progress_bar(progress, range(0, n, step), desc="evaluate"):
        if arrays is not None:
            images, labels = arrays[0][start:start + step], arrays[1][start:start + step]
        else:
            image, label = dataset[start]
            images, labels = image[None], label[None]
        scores = predict_logits(model, images, device=device)
        if postprocess is None:
            pred = scores.argmax(axis=1)
        else:                                     # on the device: no round trip to the host
            xp = backend.get_array_module(scores)
            probs = F.softmax(scores, axis=1)
            on_device = backend.to_device(np.asarray(images), device)
            pred = xp.stack([backend.to_device(postprocess(im, p), device)
                             for im, p in zip(on_device, probs)])
        cm.update(pred, backend.to_device(np.asarray(labels), backend.device_of(pred)))
        if per_image is not None:
            for p, label in zip(backend.asnumpy(pred), labels):
                per_image(p, np.asarray(label))
    return cm
