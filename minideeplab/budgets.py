"""The budgets of the file readers, stated once (docs/conventions.md, "Limits and budgets").

A small file must not make a reader hang or allocate gigabytes: every size a file claims
(a zip member's uncompressed size, an array header's shape, an image's width and height) is
checked here against the file's real size or a fixed limit *before* the reader acts on it.
The readers (:mod:`minideeplab.io`, :mod:`minideeplab.pth`) call these checks; the values are
module attributes, read at each call, so a test or a user can raise one (``budgets.X = ...``).
"""
import os

from .errors import BudgetExceededError, FileFormatError

__all__ = ["MAX_EXTRA_BYTES", "MAX_IMAGE_PIXELS", "MAX_OBJECTS", "check_decompressed",
           "check_image_size", "check_claimed_bytes"]

# Objects of one weight or array file: the arrays of an .npz or .safetensors file, and the
# objects of a .pth state dict with its shared references expanded (DeepLabV3-ResNet101's
# state dict: 677).
MAX_OBJECTS = 10 ** 5

# Compressed members (zip-format .pth storages, .npz arrays) may decompress to at most twice
# the file's size plus this: torch.save and numpy.savez store their data uncompressed, and
# float weights deflate by 10% at best, while a zip bomb expands a thousand times.
MAX_EXTRA_BYTES = 64 * 2 ** 20

# Images (photos and label PNGs) of at most 8192 x 8192 pixels (192 MiB as RGB uint8): a
# phone's 12-50 Mpx photo, Cityscapes' 2 Mpx and PASCAL's 0.19 Mpx pass; a 117 KB PNG of
# 11000 x 11000 (121 Mpx) does not. Below Pillow's own warning (89.5 Mpx), so a photo within
# the budget never prints one.
MAX_IMAGE_PIXELS = 8192 * 8192


def check_decompressed(fn, path, total):
    """``total`` bytes of compressed members read from ``path``: at most twice the file's size
    plus :data:`MAX_EXTRA_BYTES`, else BudgetExceededError naming the file."""
    size = os.path.getsize(path)
    limit = 2 * size + MAX_EXTRA_BYTES
    if total > limit:
        raise BudgetExceededError(
            f"{fn}: {os.fspath(path)!r} claims {total} bytes once decompressed, more than twice "
            f"the file's {size} bytes plus {MAX_EXTRA_BYTES // 2 ** 20} MiB "
            "(minideeplab.budgets.MAX_EXTRA_BYTES): refused before decompressing")


def check_claimed_bytes(fn, path, what, claimed, held, error=FileFormatError):
    """A size field of ``path`` claims ``claimed`` bytes where ``held`` are there: unequal is
    ``error`` naming the file (the file contradicts itself: truncated, or crafted)."""
    if claimed != held:
        raise error(f"{fn}: {os.fspath(path)!r}: {what} claims {claimed} bytes but the file "
                    f"holds {held}", path)


def check_image_size(fn, path, width, height):
    """An image's header says ``width`` x ``height``: at most :data:`MAX_IMAGE_PIXELS`, checked
    before it is decoded."""
    if width * height > MAX_IMAGE_PIXELS:
        raise BudgetExceededError(
            f"{fn}: {os.fspath(path)!r} is {width} x {height} pixels ({width * height / 1e6:.0f} "
            f"Mpx), more than the {MAX_IMAGE_PIXELS / 1e6:.0f} Mpx an image may have "
            "(minideeplab.budgets.MAX_IMAGE_PIXELS; a decoded RGB pixel takes 3 bytes and "
            "prediction some hundreds): refused before decoding it")
