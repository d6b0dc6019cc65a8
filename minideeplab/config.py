"""The settings of a training run.

:class:`TrainConfig` holds every setting of a run and checks each one's type and range; it is
saved as JSON in each checkpoint (:meth:`TrainConfig.from_checkpoint` reads it back), so a
checkpoint says how it was trained and which data it was validated on
(:func:`minideeplab.data.make_datasets`). Each choice list is its owner's, imported here.
"""
import dataclasses
import math
import numbers

from . import budgets
from .checks import check_budget, check_int
from .data import DATASETS, SyntheticShapes
from .data.augment import MAX_CROP
from .errors import ArgumentError, BudgetExceededError, CheckpointError
from .functional import CONV_METHODS
from .models import MODEL_NAMES
from .optim import SCHEDULES

__all__ = ["TrainConfig", "LOSS_TARGETS", "RECIPES", "LATER_SETTINGS"]

# where the loss is computed: against labels shrunk to the stride-8 score map, or on the
# scores upsampled to the labels' size (docs/conventions.md, "Loss and mean IoU")
LOSS_TARGETS = ("stride8", "full")


@dataclasses.dataclass
class TrainConfig:
    """Every setting of a training run (saved as JSON inside each checkpoint).

    The defaults are the recipe "default": the tiny DeepLab-ASPP-L trained from scratch on the
    built-in synthetic shapes on a CPU, a first run that learns visibly within a minute and
    ends in minutes (docs/conventions.md, "Training recipes", with the measurements). They
    differ from the paper's VOC recipe (which fine-tunes ImageNet weights; ``recipe("caffe")``)
    where measurements on the synthetic data said so:

    * ``base_lr=0.06`` with a linear warm-up over ``warmup_iter=200`` iterations, "poly" over
      ``max_iter=3000``: without the warm-up the network predicts background everywhere for
      hundreds of iterations; ``input_scale=1/64`` (inputs of unit scale) for He-initialised
      weights trained from scratch;
    * ``loss_at="full"``: the loss on logits upsampled to the label size (the paper's option)
      rather than against labels shrunk to stride 8: objects of a few pixels vanish from
      ``label[8i, 8j]``; on the "large" preset at side 81 it gave val mIoU 0.771 vs 0.731;
    * ``scale_range=None``: no random rescaling (the objects already span 1/16 .. 1/2 of the
      side); 0.783 vs 0.771 in the same comparison;
    * ``val_every=250``: a first run shows its progress.

    The book's networks are trained with their own pinned settings
    (``minideeplab.paper.variants.BOOK_RECIPE``: 8000 iterations from 0.01 without warm-up).
    """
    model: str = "aspp-l"             # largefov | aspp-s | aspp-l | resnet | v3
    tiny: bool = True                 # the small CPU presets of models.build_model
    width: float = None               # channel multiplier (None: the preset's)
    method: str = "holes"             # atrous convolution: holes | deinterlace
    scales: tuple = None              # multi-scale inputs, e.g. (1, 0.75, 0.5); None: off
    dataset: str = "synthetic"        # synthetic | voc
    data_root: str = None             # voc: the VOCdevkit/VOC2012 folder
    preset: str = "default"           # synthetic: default | hard | large (see data.synthetic)
    image_size: int = 97              # synthetic: image side (8k + 1)
    num_train: int = 1000             # synthetic: images in the train split
    num_val: int = 100                # synthetic: images in the val split (voc: all)
    crop_size: int = 97               # training crops (321 on VOC)
    scale_range: tuple = None         # random rescaling, e.g. (0.5, 1.5) (None: off)
    mirror: bool = True
    batch_size: int = 10
    max_iter: int = 3000
    base_lr: float = 0.06
    warmup_iter: int = 200            # the rate rises linearly over these first iterations
    lr_policy: str = "poly"           # poly | step
    power: float = 0.9                # poly
    step_size: int = 2000             # step: lr *= gamma every step_size iterations
    gamma: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    loss_at: str = "full"             # stride8: shrunk labels; full: upsampled logits
    input_scale: float = 1 / 64       # a new model's preprocessing: (image - mean) * this
    val_every: int = 250              # 0: validate only at the end
    checkpoint_every: int = 0         # 0: checkpoint only at the end (when out_dir is set)
    seed: int = 0

    @classmethod
    def recipe(cls, name, **changes):
        """The settings of recipe ``name`` (:data:`RECIPES`: "default" or "caffe") with
        ``changes`` on top."""
        if name not in RECIPES:
            raise ArgumentError(f"TrainConfig.recipe: unknown recipe {name!r}; choose one of "
                                f"{tuple(RECIPES)}")
        return cls(**{**RECIPES[name], **changes})

    def replace(self, **changes):
        """A copy with ``changes`` applied (checked like a new TrainConfig)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ArgumentError(f"TrainConfig: unknown settings {unknown}")
        return dataclasses.replace(self, **changes)

    def to_json(self):
        """The settings as a JSON-able dict; a setting of :data:`LATER_SETTINGS` at its neutral
        value is left out (so older configurations keep their JSON)."""
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(self).items()
                if not (k in LATER_SETTINGS and v == LATER_SETTINGS[k])}

    def __post_init__(self):
        _check_config(self)

    @classmethod
    def from_checkpoint(cls, checkpoint):
        """The settings a :class:`~minideeplab.checkpoint.Checkpoint` was trained with (its
        ``config["train"]``); CheckpointError naming the file when they are missing or
        invalid."""
        where = f"checkpoint {checkpoint.path!r}" if checkpoint.path else "the checkpoint"
        if "train" not in checkpoint.config:
            raise CheckpointError(f"{where} was not written by Trainer (no training settings "
                                  "inside)", checkpoint.path)
        try:
            return cls.from_json(checkpoint.config["train"])
        except (ArgumentError, BudgetExceededError) as e:
            raise CheckpointError(f"{where}: config entry 'train' is invalid: {e}",
                                  checkpoint.path) from e

    @classmethod
    def from_json(cls, d):
        """A TrainConfig from :meth:`to_json`'s dict; unknown settings and bad values raise; a
        setting of :data:`LATER_SETTINGS` that ``d`` lacks takes its neutral value, not the
        default (``d`` may come from a checkpoint written before the setting existed)."""
        if not isinstance(d, dict):
            raise ArgumentError(f"TrainConfig: the settings must be a mapping, got "
                                f"{type(d).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - fields)
        if unknown:
            raise ArgumentError(f"TrainConfig: unknown settings {unknown}")
        return cls(**{**LATER_SETTINGS,
                      **{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()}})


# Named recipes: the settings each one changes from TrainConfig's defaults (docs/conventions.md,
# "Training recipes").
RECIPES = {
    # the defaults: the tiny networks from scratch on the synthetic shapes, on a CPU
    "default": {},
    # DeepLab v2's Caffe solver for PASCAL VOC (Sec. 4.1 and the release's solver.prototxt):
    # 321x321 crops rescaled by 0.5 .. 1.5, batches of 10, 20000 iterations of "poly" from
    # 1e-3 without warm-up, the loss against labels shrunk to stride 8, inputs in 0..255
    # units; give it --full and --dataset voc PATH for the paper's setting
    "caffe": dict(crop_size=321, scale_range=(0.5, 1.5), mirror=True, batch_size=10,
                  max_iter=20000, base_lr=1e-3, warmup_iter=0, lr_policy="poly", power=0.9,
                  momentum=0.9, weight_decay=5e-4, loss_at="stride8", input_scale=1.0,
                  val_every=2000),
}

# Settings added after checkpoints (and the book's shipped networks) were first written, each
# with its neutral value: the one that trains as runs did before the setting existed. A saved
# configuration without one of them means that value, and to_json leaves it out at that value,
# so that a configuration that does not use it keeps its JSON and its cache key
# (minideeplab.paper.variants.config_key).
LATER_SETTINGS = {"warmup_iter": 0}

_CHOICES = {"model": MODEL_NAMES, "method": CONV_METHODS, "dataset": DATASETS,
            "preset": tuple(SyntheticShapes.PRESETS), "lr_policy": SCHEDULES,
            "loss_at": LOSS_TARGETS}
_POSITIVE_INTS = ("image_size", "num_train", "num_val", "crop_size", "batch_size", "max_iter",
                  "step_size")
_NONNEGATIVE_INTS = ("warmup_iter", "val_every", "checkpoint_every", "seed")
MAX_ITER = 10 ** 9          # iterations of one run (DeepLab's longest: 20000 on VOC)


def _is_real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _check_config(c):
    """Types and ranges of every setting; an ArgumentError naming the setting."""
    fn = "TrainConfig"
    for name, choices in _CHOICES.items():
        if getattr(c, name) not in choices:
            if name == "dataset":
                raise ArgumentError(f"unknown dataset {c.dataset!r}; choose 'synthetic' or 'voc'")
            raise ArgumentError(f"{fn}: {name} must be " + " or ".join(map(repr, choices))
                                + f", got {getattr(c, name)!r}")
    for name in ("tiny", "mirror"):
        if not isinstance(getattr(c, name), bool):
            raise ArgumentError(f"{fn}: {name} must be True or False, got {getattr(c, name)!r}")
    for names, low in ((_POSITIVE_INTS, 1), (_NONNEGATIVE_INTS, 0)):
        for name in names:
            check_int(fn, name, getattr(c, name), low)
    # before any work: an absurd value found at the first step, or never (tqdm cannot count
    # 10**30 iterations; a crop beyond augment's limit was refused only at the first batch)
    for name, limit in (("max_iter", MAX_ITER), ("crop_size", MAX_CROP)):
        if getattr(c, name) > limit:
            raise ArgumentError(f"{fn}: {name} must be at most {limit}, got {getattr(c, name)}")
    if c.image_size ** 2 > budgets.MAX_IMAGE_PIXELS:
        raise ArgumentError(f"{fn}: image_size={c.image_size} makes images beyond the "
                            f"{budgets.MAX_IMAGE_PIXELS / 1e6:.0f} Mpx an image may have "
                            "(minideeplab.budgets.MAX_IMAGE_PIXELS)")
    # the batch of crops a step assembles (a checkpoint claiming batch_size=10**9 grew to
    # 16 GiB at its first step before anything refused it)
    check_budget(fn, f"batch_size={c.batch_size} and crop_size={c.crop_size}", 4,
                 batch=(c.batch_size, 3, c.crop_size, c.crop_size))
    ranges = {"base_lr": (0, None, False), "input_scale": (0, None, False),
              "power": (0, None, True), "gamma": (0, 1, True), "momentum": (0, 1, True),
              "weight_decay": (0, None, True)}
    for name, (low, high, low_ok) in ranges.items():
        value = getattr(c, name)
        if not _is_real(value):
            raise ArgumentError(f"{fn}: {name} must be a finite real number, got {value!r}")
        if value < low or (value == low and not low_ok) or (high is not None and value > high):
            raise ArgumentError(f"{fn}: {name} must be {'>=' if low_ok else '>'} {low}"
                                + (f" and <= {high}" if high is not None else "")
                                + f", got {value!r}")
    if c.width is not None and not (_is_real(c.width) and c.width > 0):
        raise ArgumentError(f"{fn}: width must be None or a finite number > 0, got {c.width!r}")
    for name in ("scales", "scale_range"):
        value = getattr(c, name)
        if value is not None and (not isinstance(value, (tuple, list)) or not value or not all(
                _is_real(v) and v > 0 for v in value)):
            raise ArgumentError(f"{fn}: {name} must be None or a sequence of finite numbers > 0, "
                                f"got {value!r}")
    if c.scale_range is not None and (len(c.scale_range) != 2
                                      or c.scale_range[0] > c.scale_range[1]):
        raise ArgumentError(f"{fn}: scale_range must be (low, high) with low <= high, got "
                            f"{c.scale_range!r}")
    if c.dataset == "voc" and not (isinstance(c.data_root, str) and c.data_root):
        raise ArgumentError("dataset 'voc' needs data_root (the VOCdevkit/VOC2012 folder)")
    if c.data_root is not None and not isinstance(c.data_root, str):
        raise ArgumentError(f"{fn}: data_root must be None or a path, got {c.data_root!r}")
    if c.model == "v3" and c.batch_size < 2:
        # the image-level branch of v3's ASPP pools each image to one value per channel, so
        # its batch norm (training mode) sees batch_size values per channel: one has no
        # variance (DeepLab v3, Sec. 4.1, trains with batches of 16)
        raise ArgumentError(f"{fn}: batch_size must be >= 2 for model 'v3' (its image-pooling "
                            f"branch normalises over the batch), got {c.batch_size}")
