"""Argument types and output checks shared by the commands: bad values are refused up front.

The types are for ``argparse`` (``type=positive_int``): a bad value ends in argparse's usual
``minideeplab COMMAND: error: argument --batch-size: must be a positive integer, got '0'``
and exit status 2, before any work. The output checks (:func:`label_png`, :func:`npy_file`,
:func:`image_file`) run at the start of a command, before anything is computed, and raise
:class:`~minideeplab.fileio.OutputPathError`, which the command line reports the same way.
"""
import argparse
import math
import os

from ..fileio import check_output_file

__all__ = ["positive_int", "nonnegative_int", "positive_float", "nonnegative_float",
           "LABEL_PNG_REFUSED", "IMAGE_FORMATS", "label_png", "npy_file", "image_file",
           "save_rgb", "save_npy"]


def _number(text, kind, cast, ok):
    try:
        value = cast(text)
    except ValueError:
        value = None
    if value is None or (isinstance(value, float) and not math.isfinite(value)) \
            or not ok(value):
        raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}")
    return value


def positive_int(text):
    """An integer >= 1."""
    return _number(text, "a positive integer", int, lambda v: v >= 1)


def nonnegative_int(text):
    """An integer >= 0."""
    return _number(text, "an integer >= 0", int, lambda v: v >= 0)


def positive_float(text):
    """A finite number > 0."""
    return _number(text, "a finite number > 0", float, lambda v: v > 0)


def nonnegative_float(text):
    """A finite number >= 0."""
    return _number(text, "a finite number >= 0", float, lambda v: v >= 0)


_LOSSY = ("{} is lossy: its compression would change the class indices. Label maps are "
          "written as palette PNGs (pixel value = class index, VOC colours); use a .png name "
          "(--overlay takes any image format)")
LABEL_PNG_REFUSED = {ext: _LOSSY.format(name) for ext, name in (
    (".jpg", "JPEG"), (".jpeg", "JPEG"), (".jpe", "JPEG"), (".jfif", "JPEG"),
    (".webp", "WebP"), (".gif", "GIF (256 colours, but often re-quantised)"))}


def label_png(path, argname="--out"):
    """A label map output: a lossless palette PNG (``.png``); JPEG and the like are refused."""
    return check_output_file(path, argname, extensions=(".png",), refuse=LABEL_PNG_REFUSED)


def npy_file(path, argname):
    """A NumPy array output (``.npy``; NumPy would silently append ``.npy`` to other names)."""
    return check_output_file(path, argname, extensions=(".npy",))


IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP",
                 ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}


def image_file(path, argname):
    """An RGB picture output (``--overlay``): PNG, JPEG, BMP, TIFF or WebP, by extension."""
    return check_output_file(path, argname, extensions=tuple(IMAGE_FORMATS))


def save_rgb(path, image):
    """Write an (H, W, 3) uint8 picture atomically, in the format of ``path``'s extension."""
    from PIL import Image

    from ..fileio import atomic_write
    fmt = IMAGE_FORMATS[os.path.splitext(os.fspath(path))[1].lower()]
    picture = Image.fromarray(image)
    return atomic_write(path, lambda f: picture.save(f, format=fmt))


def save_npy(path, array):
    """Write one array as ``.npy`` atomically (never pickled)."""
    import numpy as np

    from ..fileio import atomic_write
    return atomic_write(path, lambda f: np.save(f, array, allow_pickle=False))
