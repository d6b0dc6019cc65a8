"""Data: the built-in synthetic shapes dataset, a PASCAL VOC 2012 loader, augmentation, palettes.

- :mod:`minideeplab.data.synthetic` SyntheticShapes: shapes on textured backgrounds, no download
- :mod:`minideeplab.data.voc`       VOCSegmentation: PASCAL VOC 2012 (and SBD) read with Pillow
- :mod:`minideeplab.data.augment`   the paper's random scale / mirror / crop, and to_batch
- :mod:`minideeplab.data.palette`   the VOC colour palette, colorize and overlay
- :mod:`minideeplab.data.photo`     the sample photo (bundled with matplotlib)
"""
from .augment import (IGNORE_INDEX, MEAN_BGR, MEAN_RGB, augment, pad_to, random_crop,
                      random_mirror, random_scale, resize_image, resize_label, shrink_label,
                      to_batch)
from .palette import VOC_CLASS_NAMES, colorize, overlay, voc_palette
from .photo import sample_photo
from .synthetic import CLASS_NAMES as SYNTHETIC_CLASS_NAMES, ShapeObject, SyntheticShapes
from .voc import (DataError, VOCSegmentation, read_image, read_label_png,
                  save_label_png)

__all__ = [
    "SyntheticShapes", "ShapeObject", "SYNTHETIC_CLASS_NAMES",
    "VOCSegmentation", "DataError", "read_image", "read_label_png", "save_label_png", "VOC_CLASS_NAMES",
    "augment", "random_scale", "random_mirror", "random_crop", "pad_to", "resize_image",
    "resize_label", "shrink_label", "to_batch", "MEAN_RGB", "MEAN_BGR", "IGNORE_INDEX",
    "colorize", "overlay", "voc_palette", "sample_photo",
]
