"""Data: the built-in synthetic shapes dataset, a PASCAL VOC 2012 loader, augmentation, colours.

(Reading and writing images and label maps: :mod:`minideeplab.io`.)

- :mod:`minideeplab.data.synthetic` SyntheticShapes: shapes on textured backgrounds, no download
- :mod:`minideeplab.data.voc`       VOCSegmentation: PASCAL VOC 2012 (and SBD)
- :mod:`minideeplab.data.augment`   the paper's random scale / mirror / crop, and to_batch
- :mod:`minideeplab.data.palette`   VOC's class names, colorize and overlay
- :mod:`minideeplab.data.photo`     the sample photo (bundled with matplotlib)
- :mod:`minideeplab.data.datasets`  the (train, val) datasets a run's settings name
"""
from ..errors import DataError
from .augment import (IGNORE_INDEX, MEAN_BGR, MEAN_RGB, augment, pad_to, random_crop,
                      random_mirror, random_scale, resize_image, resize_label, shrink_label,
                      to_batch)
from .datasets import DATASETS, array_source, make_datasets
from .palette import VOC_CLASS_NAMES, colorize, overlay
from .photo import sample_photo
from .synthetic import CLASS_NAMES as SYNTHETIC_CLASS_NAMES, ShapeObject, SyntheticShapes
from .voc import VOCSegmentation

__all__ = [
    "SyntheticShapes", "ShapeObject", "SYNTHETIC_CLASS_NAMES", "DATASETS", "make_datasets",
    "array_source",
    "VOCSegmentation", "DataError", "VOC_CLASS_NAMES",
    "augment", "random_scale", "random_mirror", "random_crop", "pad_to", "resize_image",
    "resize_label", "shrink_label", "to_batch", "MEAN_RGB", "MEAN_BGR", "IGNORE_INDEX",
    "colorize", "overlay", "sample_photo",
]
