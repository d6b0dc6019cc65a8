"""PASCAL VOC 2012 segmentation data, for users who have the files (read by :mod:`minideeplab.io`).

Expected layout (the devkit's, plus SBD's augmented labels as DeepLab uses them)::

    VOCdevkit/VOC2012/
        JPEGImages/<id>.jpg                    RGB photos
        SegmentationClass/<id>.png             palette ("P") PNGs: pixel = class index 0..20,
                                               255 = "void" (object outlines, difficult parts)
        ImageSets/Segmentation/{train,val,trainval}.txt      one <id> per line
        SegmentationClassAug/<id>.png          optional: SBD's 10,582 augmented labels (grey "L"
                                               or palette PNGs holding class indices)
        ImageSets/SegmentationAug/train_aug.txt              optional list for them

``root`` may be ``VOCdevkit/VOC2012`` itself, ``VOCdevkit`` or the folder containing it. A list
file line may be a bare id or DeepLab's ``/JPEGImages/<id>.jpg /SegmentationClassAug/<id>.png``.
DeepLab v2 (Sec. 4.1) trains on the 10,582 ``train_aug`` images and reports on the 1,449 ``val``.
"""
import os

import numpy as np

from ..errors import ArgumentError, DataError, MissingFileError
from ..io import read_image, read_label_png
from .palette import VOC_CLASS_NAMES

__all__ = ["VOCSegmentation", "find_voc_dir"]

_SPLITS = {  # split -> (list file under ImageSets/, label folder)
    "train": ("Segmentation/train.txt", "SegmentationClass"),
    "val": ("Segmentation/val.txt", "SegmentationClass"),
    "trainval": ("Segmentation/trainval.txt", "SegmentationClass"),
    "train_aug": ("SegmentationAug/train_aug.txt", "SegmentationClassAug"),
    "trainval_aug": ("SegmentationAug/trainval_aug.txt", "SegmentationClassAug"),
}
_SHOW_MISSING = 5


def find_voc_dir(root):
    """The ``VOC2012`` folder: ``root`` itself, ``root/VOC2012`` or ``root/VOCdevkit/VOC2012``."""
    root = os.fspath(root)
    tried = [root, os.path.join(root, "VOC2012"), os.path.join(root, "VOCdevkit", "VOC2012")]
    for d in tried:
        if os.path.isdir(os.path.join(d, "JPEGImages")):
            return d
    raise MissingFileError("find_voc_dir: no JPEGImages/ folder in any of " + ", ".join(tried)
                           + "; root must point at VOCdevkit/VOC2012 (or a folder containing it)")


def _parse_list(path):
    ids = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            ids.append(os.path.splitext(os.path.basename(parts[0]))[0])
    return ids


class VOCSegmentation:
    """PASCAL VOC 2012 segmentation images and labels.

    Parameters
    ----------
    root : path
        ``VOCdevkit/VOC2012`` (or ``VOCdevkit``, or the folder holding it).
    split : "train", "val", "trainval", "train_aug" or "trainval_aug"
        The ``_aug`` splits read ``ImageSets/SegmentationAug/<split>.txt`` and labels from
        ``SegmentationClassAug/`` (SBD).
    label_dir : str, optional
        Override the label folder (relative to the VOC2012 folder, or absolute).
    list_file : path, optional
        Override the list file.

    Items are ``(image (H, W, 3) uint8 RGB, label (H, W) uint8)`` with label values 0..20 and
    255 (ignore). All files are checked to exist when the dataset is built; a missing file
    raises MissingFileError (a FileNotFoundError) that lists the first few and how many are missing.
    """

    class_names = VOC_CLASS_NAMES
    num_classes = len(VOC_CLASS_NAMES)
    ignore_index = 255

    def __init__(self, root, split="train", label_dir=None, list_file=None):
        if split not in _SPLITS:
            raise ArgumentError(f"VOCSegmentation: unknown split {split!r}; choose one of "
                                f"{tuple(_SPLITS)}")
        self.root = find_voc_dir(root)
        self.split = split
        default_list, default_labels = _SPLITS[split]
        self.list_file = os.fspath(list_file) if list_file is not None else os.path.join(
            self.root, "ImageSets", *default_list.split("/"))
        self.label_dir = os.path.join(self.root, label_dir or default_labels)
        if not os.path.isfile(self.list_file):
            raise MissingFileError(f"VOCSegmentation: the list file of split {split!r} is "
                                   f"missing: {self.list_file}")
        self.ids = _parse_list(self.list_file)
        if not self.ids:
            raise ArgumentError(f"VOCSegmentation: the list file {self.list_file} names no images")
        missing = [p for i in range(len(self.ids))
                   for p in (self.image_path(i), self.label_path(i)) if not os.path.isfile(p)]
        if missing:
            shown = ", ".join(missing[:_SHOW_MISSING])         # one line: the CLI's rule
            extra = len(missing) - _SHOW_MISSING
            more = f" and {extra} more" if extra > 0 else ""
            raise MissingFileError(
                f"VOCSegmentation: {len(missing)} file(s) missing for split {split!r} "
                f"({len(self.ids)} images listed in {self.list_file}): {shown}{more}")

    def __len__(self):
        return len(self.ids)

    def image_path(self, index):
        return os.path.join(self.root, "JPEGImages", self.ids[index] + ".jpg")

    def label_path(self, index):
        return os.path.join(self.label_dir, self.ids[index] + ".png")

    def __getitem__(self, index):
        """``(image (H, W, 3) uint8, label (H, W) uint8)`` of image ``index``."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise ArgumentError(f"VOCSegmentation: index must be an integer, got {index!r}")
        image = read_image(self.image_path(index))
        label = read_label_png(self.label_path(index))
        if image.shape[:2] != label.shape:
            raise DataError(f"VOCSegmentation: image {self.image_path(index)} is "
                            f"{image.shape[:2]} but its label {self.label_path(index)} is "
                            f"{label.shape}", self.label_path(index))
        bad = (label >= self.num_classes) & (label != self.ignore_index)
        if bad.any():
            raise DataError(f"VOCSegmentation: label {self.label_path(index)} has values "
                            f"{np.unique(label[bad])[:8].tolist()} outside 0.."
                            f"{self.num_classes - 1} and {self.ignore_index} (void)",
                            self.label_path(index))
        return image, label

    def __repr__(self):
        return f"VOCSegmentation(root={self.root!r}, split={self.split!r}, images={len(self)})"
