"""What a network expects of its input: the preprocessing that belongs to a model's weights.

A network is trained on images transformed one particular way, and must be fed the same way
ever after. :class:`Preprocessing` is that transformation, as a value::

    x = ((image - mean) / std) * scale          # (N, 3, H, W) float32, channels as the net wants

with ``image`` the 0..255 pixels of (N, H, W, 3) uint8 RGB images, ``mean`` and ``std`` per
channel in those same 0..255 units, and the channels finally put in ``channel_order`` ("rgb", or
"bgr" for weights converted from Caffe). Every model that :func:`minideeplab.models.build_model`
builds carries one as ``model.preprocessing``; it is part of the model's ``build_args`` and so of
every checkpoint, and prediction, evaluation and the trainer read it from the model. The
recipes (docs/conventions.md, "Preprocessing"):

=====================  =====  ============================  ============================  =====
recipe                 order  mean (0..255)                 std (0..255)                  scale
=====================  =====  ============================  ============================  =====
:data:`CAFFE_VGG`      bgr    Caffe's ImageNet mean pixel   none                          1
:data:`TORCHVISION`    rgb    (0.485, 0.456, 0.406) * 255   (0.229, 0.224, 0.225) * 255   1
``from_scratch(1/64)``  rgb    Caffe's ImageNet mean pixel   none                          1/64
=====================  =====  ============================  ============================  =====

:data:`TORCHVISION_SEGMENTATION` (torchvision's DeepLabV3 weights) is :data:`TORCHVISION` with
``resize_shorter=520``: torchvision evaluates them on images whose shorter side is 520 pixels.

DeepLab fine-tunes Caffe's VGG-16, which expects BGR inputs minus the mean pixel and nothing
else (values of about -120..150). torchvision's ImageNet weights expect ``(image / 255 - m) / s``,
which is the row above with ``m`` and ``s`` multiplied by 255. Networks trained here from
He-initialised weights train much better on inputs of about unit scale: the training settings'
default ``input_scale = 1/64`` (about one over the pixel standard deviation).
"""
import dataclasses
import numbers

import numpy as np

from . import backend, budgets
from .checks import check_array, check_choice, check_number
from .errors import ArgumentError, BudgetExceededError

__all__ = ["Preprocessing", "MEAN_BGR", "MEAN_RGB", "CAFFE_VGG", "TORCHVISION",
           "TORCHVISION_SEGMENTATION", "from_scratch", "preprocessing_of"]

MEAN_BGR = (104.008, 116.669, 122.675)  # Caffe's ImageNet mean pixel (VGG-16 release): B, G, R
MEAN_RGB = MEAN_BGR[::-1]               # the same in the RGB order our images use
CHANNEL_ORDERS = ("rgb", "bgr")


def _triple(fn, name, value, positive):
    """Three finite numbers in 0..255 (``positive``: > 0) as a tuple of floats."""
    if isinstance(value, numbers.Real):
        value = (value,) * 3
    try:
        if isinstance(value, (str, bytes)):    # "abc" is a sequence of 3 characters
            raise TypeError
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError, OverflowError):
        raise ArgumentError(
            f"{fn}: {name} must be 3 numbers (one per channel), got {value!r}") from None
    if len(values) != 3 or not all(np.isfinite(values)):
        raise ArgumentError(f"{fn}: {name} must be 3 finite numbers (one per channel, R, G, B), "
                            f"got {value!r}")
    if not all((0 < v if positive else 0 <= v) and v <= 255 for v in values):
        bound = "in (0, 255]" if positive else "in [0, 255]"
        raise ArgumentError(f"{fn}: {name} must be {bound} (0..255 pixel units), got {value!r}")
    return values


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """``x = ((image - mean) / std) * scale``, channels in ``channel_order`` (see the module doc).

    Parameters
    ----------
    mean : 3 numbers in 0..255, for the R, G, B channels (default Caffe's ImageNet mean pixel)
    std : 3 numbers in (0, 255], for R, G, B, or None (no division; Caffe's recipe)
    scale : float > 0, a last factor (1 for pretrained weights, 1/64 for training from scratch)
    channel_order : "rgb" or "bgr", the order of the network's input channels
    resize_shorter : int > 0 or None. Resize the images first so that their shorter side has
        this many pixels and the longer ``int(resize_shorter * longer / shorter)``, as
        torchvision's evaluation transform of its segmentation weights (520): Pillow's bilinear
        resize of the uint8 image (antialiased when it shrinks; on the host), as torchvision
        does for PIL images. None keeps the size. Prediction resizes the scores back to the
        image.
    """
    mean: tuple = MEAN_RGB
    std: tuple = None
    scale: float = 1.0
    channel_order: str = "rgb"
    resize_shorter: int = None

    def __post_init__(self):
        fn = "Preprocessing"
        object.__setattr__(self, "mean", _triple(fn, "mean", self.mean, positive=False))
        if self.std is not None:
            object.__setattr__(self, "std", _triple(fn, "std", self.std, positive=True))
        scale = check_number(fn, "scale", self.scale)
        if not (scale > 0 and np.isfinite(scale)):
            raise ArgumentError(f"{fn}: scale must be a finite number > 0, got {self.scale!r}")
        object.__setattr__(self, "scale", scale)
        check_choice(fn, "channel_order", self.channel_order, CHANNEL_ORDERS)
        r = self.resize_shorter
        if r is not None and (isinstance(r, bool) or not isinstance(r, numbers.Integral)
                              or r < 1):
            raise ArgumentError(f"{fn}: resize_shorter must be None or an int >= 1, got {r!r}")
        if r is not None:
            object.__setattr__(self, "resize_shorter", int(r))

    def input_size(self, height, width):
        """(H, W) of the network input for an image of ``height`` x ``width``; a resized image
        beyond the pixel budget of images (:data:`minideeplab.budgets.MAX_IMAGE_PIXELS`) is a
        BudgetExceededError, before anything is resized."""
        r = self.resize_shorter
        if r is None:
            return height, width
        if height <= width:                   # torchvision's int(r * long / short)
            size = r, int(r * width / height)
        else:
            size = int(r * height / width), r
        if size[0] * size[1] > budgets.MAX_IMAGE_PIXELS:
            raise BudgetExceededError(
                f"Preprocessing: resize_shorter={r} makes the {width} x {height} image "
                f"{size[1]} x {size[0]} pixels, more than the "
                f"{budgets.MAX_IMAGE_PIXELS / 1e6:.0f} Mpx an image may have "
                "(minideeplab.budgets.MAX_IMAGE_PIXELS)")
        return size

    def __call__(self, images):
        """(N, H, W, 3) uint8 RGB images -> (N, 3, H, W) float32 network input, same device."""
        fn = "Preprocessing"
        check_array(fn, "images", images, floating=False)
        if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
            raise ArgumentError(f"{fn}: images must be (N, H, W, 3) uint8 RGB, got shape "
                                f"{tuple(images.shape)} dtype {images.dtype}")
        xp = backend.get_array_module(images)
        size = self.input_size(*images.shape[1:3])
        if size != tuple(images.shape[1:3]):
            images = _resize_uint8(images, size)
        x = images.astype(xp.float32) - xp.asarray(self.mean, dtype=xp.float32)  # (N, H, W, 3)
        if self.std is not None:
            x /= xp.asarray(self.std, dtype=xp.float32)
        if self.scale != 1:
            x *= xp.float32(self.scale)
        if self.channel_order == "bgr":
            x = x[..., ::-1]
        return xp.ascontiguousarray(x.transpose(0, 3, 1, 2))                  # (N, 3, H, W)

    def to_json(self):
        """A JSON-able dict; ``Preprocessing.from_json`` (or ``Preprocessing(**d)``) inverts it."""
        return {"mean": list(self.mean), "std": None if self.std is None else list(self.std),
                "scale": self.scale, "channel_order": self.channel_order,
                "resize_shorter": self.resize_shorter}

    @classmethod
    def from_json(cls, d):
        """A Preprocessing from :meth:`to_json`'s dict (or a Preprocessing, returned as it is)."""
        if isinstance(d, cls):
            return d
        if not isinstance(d, dict):
            raise ArgumentError(f"Preprocessing.from_json: expected a dict, got {type(d).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - fields)
        if unknown:
            raise ArgumentError(f"Preprocessing.from_json: unknown entries {unknown}; expected "
                                f"some of {sorted(fields)}")
        d = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()}
        return cls(**d)


CAFFE_VGG = Preprocessing(mean=MEAN_RGB, std=None, scale=1.0, channel_order="bgr")
TORCHVISION = Preprocessing(mean=(0.485 * 255, 0.456 * 255, 0.406 * 255),
                            std=(0.229 * 255, 0.224 * 255, 0.225 * 255), scale=1.0,
                            channel_order="rgb")

# torchvision's segmentation weights (DeepLabV3 COCO_WITH_VOC_LABELS_V1): ImageNet's
# normalisation, and images resized so that their shorter side is 520 pixels
TORCHVISION_SEGMENTATION = dataclasses.replace(TORCHVISION, resize_shorter=520)


def _resize_uint8(images, size):
    """(N, H, W, 3) uint8 -> (N, size[0], size[1], 3) uint8 by Pillow's bilinear resize."""
    from PIL import Image
    host = backend.asnumpy(images)
    out = np.stack([np.asarray(Image.fromarray(im).resize((size[1], size[0]), Image.BILINEAR))
                    for im in host])
    return backend.to_device(out, backend.device_of(images))


def from_scratch(scale):
    """The recipe of networks trained here: Caffe's mean pixel, RGB, then ``* scale``."""
    return Preprocessing(mean=MEAN_RGB, std=None, scale=scale, channel_order="rgb")


def preprocessing_of(fn, model):
    """``model.preprocessing``, or an ArgumentError naming ``fn`` when the model has none."""
    pre = getattr(model, "preprocessing", None)
    if not isinstance(pre, Preprocessing):
        raise ArgumentError(f"{fn}: the model ({type(model).__name__}) has no preprocessing: "
                            "build it with models.build_model, load it with "
                            "checkpoint.load_model, or set model.preprocessing = "
                            f"Preprocessing(...) (got {pre!r})")
    return pre
