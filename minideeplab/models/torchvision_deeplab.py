"""torchvision's DeepLabV3 (ResNet-50/101) in minideeplab, weight for weight, both directions.

torchvision publishes DeepLabV3 trained on COCO with the 21 PASCAL VOC classes
(``DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1``, ``DeepLabV3_ResNet101_Weights.
COCO_WITH_VOC_LABELS_V1``). Its network is DeepLab v3 (Chen et al. 2017, Sec. 3.3) with a few
choices of its own; :class:`~.resnet.DeepLabResNet` builds it with these options
(:func:`torchvision_config`):

* backbone: ResNet "v1.5" bottlenecks (stride on the 3x3), ``replace_stride_with_dilation=
  [False, True, True]``: output stride 8, layer3 at rate 2 and layer4 at rate 4, the first
  block of each keeping the previous rate (``schedule="torchvision"``; the library's default is
  the v3 paper's, which gives the first block the new rate too), no multi-grid
  (``multi_grid=(1, 1, 1)``); the
  stem's max pool rounds *down* (``pool_ceil_mode=False``); BN eps 1e-5;
* head (``DeepLabHead``): ASPP with 256 channels at rates (12, 24, 36), image pooling resized
  with ``align_corners=False``, 1x1 projection-BN-ReLU, dropout 0.5, then an extra 3x3
  conv-BN-ReLU (``head_conv=True``), then the 1x1 classifier with bias.

``model(x)`` gives the logits at output stride 8, torchvision's
``model.classifier(model.backbone(x)["out"])``; torchvision then resizes them bilinearly to
the input size (``align_corners=False``), as :func:`minideeplab.functional.resize_bilinear`.
The model's ``preprocessing`` is torchvision's evaluation transform of these weights
(:data:`minideeplab.preprocess.TORCHVISION_SEGMENTATION`: shorter side resized to 520, ImageNet
normalisation) and its ``upsample_align_corners`` is False, so
:func:`minideeplab.inference.predict` feeds a photo as torchvision does and resizes the logits
straight back to the photo's size.

The auxiliary head (``aux_classifier.*``, an FCN head on layer3 used only as a training loss)
is accepted and ignored: it does not change ``out``, and :func:`save_torchvision` writes a
file for torchvision's model built without it (``aux_loss=False``, the default without
weights). ``num_batches_tracked`` (how many batches each BN has seen; PyTorch uses it only
when ``momentum=None``) is not kept either: it is written as 0.

Parameter names: ``backbone.layer1.0.conv1.weight`` is ours ``backbone.layer1.0.main.conv1.
weight``; BN ``weight``/``bias`` are our ``gamma``/``beta``; see :func:`torchvision_names`.
"""
import os
import re

import numpy as np

from ..errors import ArgumentError
from ..io import read_weights, save_safetensors
from ..preprocess import TORCHVISION_SEGMENTATION
from .factory import build_model

__all__ = ["TORCHVISION_ARCHS", "TORCHVISION_WEIGHTS", "torchvision_config", "torchvision_names",
           "build_torchvision", "load_torchvision", "save_torchvision", "read_state"]

TORCHVISION_ARCHS = {"deeplabv3_resnet50": 50, "deeplabv3_resnet101": 101}
TORCHVISION_WEIGHTS = {
    "deeplabv3_resnet50": "DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1",
    "deeplabv3_resnet101": "DeepLabV3_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1"}
_LAYER3_BLOCKS = {6: "deeplabv3_resnet50", 23: "deeplabv3_resnet101"}
_BN = {"gamma": "weight", "beta": "bias", "running_mean": "running_mean",
       "running_var": "running_var"}


def torchvision_config(arch):
    """The :func:`~.factory.build_model` arguments (besides ``num_classes``) of ``arch``."""
    if arch not in TORCHVISION_ARCHS:
        raise ArgumentError(f"torchvision_config: arch must be one of {sorted(TORCHVISION_ARCHS)}, "
                            f"got {arch!r}")
    return dict(name="v3", depth=TORCHVISION_ARCHS[arch], width=1.0, output_stride=8,
                multi_grid=[1, 1, 1], schedule="torchvision", rates=[12, 24, 36],
                aspp_channels=256, dropout=0.5, head_conv=True, pool_align_corners=False,
                pool_ceil_mode=False, upsample_align_corners=False)


def build_torchvision(arch, num_classes=21, *, seed=0, device=None):
    """torchvision's DeepLabV3 ``arch`` as a minideeplab model, freshly initialised.

    Its ``preprocessing`` is what torchvision's segmentation weights expect: ImageNet's
    normalisation and the shorter side resized to 520
    (:data:`minideeplab.preprocess.TORCHVISION_SEGMENTATION`); prediction resizes its logits
    to the image with align_corners=False.
    """
    cfg = torchvision_config(arch)
    return build_model(cfg.pop("name"), num_classes, seed=seed, device=device,
                       preprocessing=TORCHVISION_SEGMENTATION, **cfg)


def torchvision_arch(model, fn="torchvision_arch"):
    """The torchvision arch whose layout ``model`` has (from its ``build_args``), or an error."""
    args = dict(getattr(model, "build_args", None) or {})
    for arch in TORCHVISION_ARCHS:
        cfg = torchvision_config(arch)
        if all(_same(args.get(k), v) for k, v in cfg.items()) and not args.get("scales"):
            return arch
    raise ArgumentError(f"{fn}: the model does not have torchvision's DeepLabV3 layout (build it "
                        "with load_torchvision or build_torchvision); its build_args are "
                        f"{args or None}")


def _same(a, b):
    if isinstance(b, list):
        return isinstance(a, (list, tuple)) and list(a) == b
    return a == b


def _tv_name(ours, rates):
    """Our state-dict name -> torchvision's (see the module doc)."""
    m = re.fullmatch(r"backbone\.stem\.(conv1|bn1)\.(\w+)", ours)
    if m:
        return f"backbone.{m[1]}.{_param(m[1], m[2])}"
    m = re.fullmatch(r"backbone\.(layer\d\.\d+)\.main\.((?:conv|bn)\d)\.(\w+)", ours)
    if m:
        return f"backbone.{m[1]}.{m[2]}.{_param(m[2], m[3])}"
    m = re.fullmatch(r"backbone\.(layer\d\.\d+)\.shortcut\.(conv|bn)\.(\w+)", ours)
    if m:
        return f"backbone.{m[1]}.downsample.{0 if m[2] == 'conv' else 1}.{_param(m[2], m[3])}"
    m = re.fullmatch(r"head\.branches\.(conv1x1|atrous\d+|image_pool)\.(conv|bn)\.(\w+)", ours)
    if m:
        if m[1] == "image_pool":
            return f"classifier.0.convs.4.{1 if m[2] == 'conv' else 2}.{_param(m[2], m[3])}"
        i = 0 if m[1] == "conv1x1" else 1 + rates.index(int(m[1][len("atrous"):]))
        return f"classifier.0.convs.{i}.{0 if m[2] == 'conv' else 1}.{_param(m[2], m[3])}"
    m = re.fullmatch(r"head\.project\.(conv|bn)\.(\w+)", ours)
    if m:
        return f"classifier.0.project.{0 if m[1] == 'conv' else 1}.{_param(m[1], m[2])}"
    m = re.fullmatch(r"head\.head_conv\.(conv|bn)\.(\w+)", ours)
    if m:
        return f"classifier.{1 if m[1] == 'conv' else 2}.{_param(m[1], m[2])}"
    m = re.fullmatch(r"head\.classifier\.(weight|bias)", ours)
    if m:
        return f"classifier.4.{m[1]}"
    raise ArgumentError(f"torchvision_names: no torchvision name for {ours!r}")


def _param(layer, key):
    return _BN[key] if layer.startswith("bn") else key


def torchvision_names(model):
    """Dict: our state-dict name -> torchvision's, for a model of torchvision's layout."""
    rates = list(model.head.rates)
    return {ours: _tv_name(ours, rates) for ours in model.state_dict()}


def _batch_norm_counters(names):
    """torchvision's ``num_batches_tracked`` names, one per batch norm of ``names``."""
    return sorted({n.rsplit(".", 1)[0] + ".num_batches_tracked" for n in names
                   if n.endswith(".running_mean")})


def read_state(source, fn="load_torchvision"):
    """A state dict name -> NumPy array from a ``.pth``/``.pt``/``.safetensors`` path or a
    mapping (returned as a dict)."""
    if isinstance(source, (str, os.PathLike)):
        return read_weights(source, fn)
    if hasattr(source, "keys") and hasattr(source, "__getitem__"):
        return {k: source[k] for k in source.keys()}
    raise ArgumentError(f"{fn}: source must be a path (.pth, .pt or .safetensors) or a mapping "
                        f"name -> array, got {type(source).__name__}")


def _infer_arch(state, fn):
    blocks = {int(m[1]) for k in state for m in [re.match(r"backbone\.layer3\.(\d+)\.", k)] if m}
    arch = _LAYER3_BLOCKS.get(max(blocks) + 1 if blocks else 0)
    if arch is None:
        raise ArgumentError(f"{fn}: cannot tell the arch from the keys: backbone.layer3 has "
                            f"{len(blocks)} blocks (6 for deeplabv3_resnet50, 23 for "
                            "deeplabv3_resnet101); is this a torchvision DeepLabV3 state dict?")
    return arch


def load_torchvision(source, *, arch=None, device=None):
    """torchvision's DeepLabV3 with the weights of ``source``, as a minideeplab model.

    Parameters
    ----------
    source : path to a ``.pth``/``.pt`` written by ``torch.save(model.state_dict(), path)``
        (read without torch, refusing any code; :mod:`minideeplab.pth`), a ``.safetensors``
        file, or a mapping name -> array (NumPy, or anything ``numpy.asarray`` takes)
    arch : "deeplabv3_resnet50" | "deeplabv3_resnet101" | None (inferred from the keys)
    device : "cpu" | "gpu" | None (the default device)

    Returns
    -------
    :class:`~.resnet.DeepLabResNet` in eval mode, float32, on ``device``, with the number of
    classes of the file's classifier, ``build_args`` (so checkpoints rebuild it) and
    ``torchvision_arch``. ``model(x)``, x (N, 3, H, W), gives the logits (N, L, h, w) at output
    stride 8, ``h = ceil(H / 8)``. The model drops its backward caches
    (``keep_caches(False)``): call ``model.keep_caches(True)`` before training it.

    The ``aux_classifier.*`` keys are ignored and ``num_batches_tracked`` is not kept (see the
    module doc). Any other unknown or missing key, or a wrong shape, is an error naming it.
    """
    fn = "load_torchvision"
    state = read_state(source, fn)
    bad = [k for k in state if not isinstance(k, str)]
    if bad:
        raise ArgumentError(f"{fn}: the state's keys must be parameter names (strings), got "
                            f"{bad[0]!r} ({type(bad[0]).__name__})")
    if state and all(k.startswith("module.") for k in state):    # saved from DataParallel
        state = {k[len("module."):]: v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith("aux_classifier.")}
    found = _infer_arch(state, fn)
    if arch is None:
        arch = found
    elif arch not in TORCHVISION_ARCHS:
        raise ArgumentError(f"{fn}: arch must be one of {sorted(TORCHVISION_ARCHS)} or None, got "
                            f"{arch!r}")
    elif arch != found:
        raise ArgumentError(f"{fn}: arch={arch!r} but the keys are those of {found!r}")
    if "classifier.4.weight" not in state:
        raise ArgumentError(f"{fn}: the state has no classifier.4.weight (the classifier), so it "
                            "is not a torchvision DeepLabV3 state dict")
    classifier = state["classifier.4.weight"]
    shape = np.shape(classifier)
    if len(shape) != 4 or shape[0] < 1:
        raise ArgumentError(f"{fn}: classifier.4.weight must be a (L, 256, 1, 1) array (L "
                            f"classes), got a {type(classifier).__name__} of shape {shape}")
    num_classes = int(shape[0])
    model = build_torchvision(arch, num_classes, device=device)
    names = torchvision_names(model)
    counters = set(_batch_norm_counters(names.values()))
    missing = sorted(set(names.values()) - set(state))
    unexpected = sorted(set(state) - set(names.values()) - counters)
    if missing or unexpected:
        raise ArgumentError(f"{fn}: the state does not fit torchvision's {arch} with {num_classes} "
                       f"classes: missing keys {missing[:10]}{' ...' if len(missing) > 10 else ''}"
                       f", unexpected keys {unexpected[:10]}"
                       f"{' ...' if len(unexpected) > 10 else ''}")
    ours = {}
    for mine, theirs in names.items():
        value = np.asarray(state[theirs])
        if not np.issubdtype(value.dtype, np.floating):
            raise ArgumentError(f"{fn}: {theirs} has dtype {value.dtype}, expected floating point")
        ours[mine] = value.astype(np.float32, copy=False)
    try:
        model.load_state_dict(ours, strict=True)
    except ArgumentError as e:
        raise ArgumentError(f"{fn}: {e} (torchvision name {names.get(_quoted(e), '?')})") from None
    model.torchvision_arch = arch
    return model.eval().keep_caches(False)


def _quoted(e):
    m = re.search(r"'([^']+)'", str(e))
    return m[1] if m else None


def save_torchvision(model, path):
    """Write ``model``'s weights as a ``.safetensors`` file for torchvision's DeepLabV3.

    ``torchvision.models.segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None,
    num_classes=L)`` (or ``_resnet101``) loads it with
    ``load_state_dict(safetensors.torch.load_file(path), strict=True)`` and computes the same
    ``out``. Every parameter and BN statistic is written as float32 under torchvision's name,
    plus each BN's ``num_batches_tracked`` (int64 scalar 0). The model must have torchvision's
    layout (made by :func:`load_torchvision` or :func:`build_torchvision`).

    Returns the dict name -> NumPy array that was written (atomically,
    :func:`minideeplab.io.save_safetensors`).
    """
    from .. import backend
    arch = torchvision_arch(model, "save_torchvision")
    names = torchvision_names(model)
    out = {theirs: np.ascontiguousarray(backend.asnumpy(value), dtype=np.float32)
           for ours, value in model.state_dict().items() for theirs in [names[ours]]}
    for name in _batch_norm_counters(names.values()):
        out[name] = np.zeros((), dtype=np.int64)
    save_safetensors(path, out, metadata={"format": "pt", "arch": arch})
    return out
