"""The (train, val) datasets a run's settings name, and their arrays for fast batching.

:func:`make_datasets` reads the dataset settings of a :class:`~minideeplab.config.TrainConfig`
(or of anything with the same attributes): ``dataset`` (one of :data:`DATASETS`), for the
synthetic shapes ``image_size``, ``num_train``, ``num_val``, ``seed`` and ``preset``, for PASCAL
VOC ``data_root``.
"""
from ..errors import ArgumentError

__all__ = ["DATASETS", "make_datasets", "array_source"]

DATASETS = ("synthetic", "voc")


def make_datasets(settings):
    """(train, val) datasets of ``settings``: SyntheticShapes or VOCSegmentation."""
    if settings.dataset == "synthetic":
        from .synthetic import SyntheticShapes
        return tuple(SyntheticShapes(split, n, size=settings.image_size, seed=settings.seed,
                                     preset=settings.preset)
                     for split, n in (("train", settings.num_train), ("val", settings.num_val)))
    if settings.dataset == "voc":
        from .voc import VOCSegmentation
        if not settings.data_root:
            raise ArgumentError("dataset 'voc' needs data_root (the VOCdevkit/VOC2012 folder)")
        return (VOCSegmentation(settings.data_root, "train"),
                VOCSegmentation(settings.data_root, "val"))
    raise ArgumentError(f"unknown dataset {settings.dataset!r}; choose one of {DATASETS}")


def array_source(dataset):
    """Stacked arrays for in-memory datasets (fast batching); None for file-backed ones."""
    return dataset.load_arrays() if hasattr(dataset, "load_arrays") else None
