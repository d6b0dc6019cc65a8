"""Training DeepLab end to end: batches, loss at output stride 8, SGD with "poly", checkpoints.

DeepLab v2, Sec. 4.1 and the Caffe release (docs/conventions.md): mini-batches of 10 crops, softmax
cross-entropy over the stride-8 score map against labels shrunk by nearest sampling
(``label[8i, 8j]``, ignore label 255, mean over the counted pixels), SGD with momentum 0.9 and
weight decay 5e-4 in Caffe's form, and the "poly" learning rate
``base * (1 - it/max_iter)^0.9`` (Table 2: better than "step").

One iteration of :class:`Trainer`::

    images, labels = a batch of augmented crops               # data/augment.py
    x = (images - mean) * input_scale                          # (N, 3, H, W) float32
    logits = model(x)                                          # (N, L, h, w), h = H / 8
    loss = softmax_cross_entropy(logits, shrink(labels))       # or logits upsampled to (H, W)
    model.backward(d loss / d logits); sgd.step(poly_lr(...))

All randomness (batch choice, augmentation, dropout masks) comes from generators that are
saved in every checkpoint, so ``resume`` continues bit for bit: training 2N steps straight and
N steps + resume + N steps give identical weights.

``input_scale``: the paper fine-tunes ImageNet weights that expect ``image - mean`` in 0..255
units. Networks trained here from scratch with He initialisation train much better on inputs of
unit scale, hence the default 1/64 (about one over the pixel standard deviation).
"""
import copy
import dataclasses
import json
import math
import numbers
import os
import time

import numpy as np

from . import backend, checkpoint as ckpt, functional as F
from .data.augment import augment, to_batch
from .data.voc import DataError
from .fileio import atomic_write_text, prepare_output_dir
from .metrics import ConfusionMatrix
from .models import MODEL_NAMES, build_model
from .optim import SGD, make_schedule
from .progress import progress

__all__ = ["TrainConfig", "Trainer", "TrainingDiverged", "evaluate", "predict_logits",
           "predict", "make_datasets", "model_from_checkpoint", "model_from_loaded"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; training stopped before touching any checkpoint."""


@dataclasses.dataclass
class TrainConfig:
    """Every setting of a training run (saved as JSON inside each checkpoint).

    The defaults are the recipe for the built-in synthetic shapes: the tiny DeepLab-ASPP-L
    trained from scratch on a CPU in about 10 minutes. They differ from the paper's VOC recipe
    (which fine-tunes ImageNet weights) where measurements on the synthetic data said so:

    * ``loss_at="full"``: the loss on logits upsampled to the label size (the paper's option)
      rather than against labels shrunk to stride 8: objects of a few pixels vanish from
      ``label[8i, 8j]``; on the "large" preset at side 81 it gave val mIoU 0.771 vs 0.731;
    * ``scale_range=None``: no random rescaling (the objects already span 1/16 .. 1/2 of the
      side); 0.783 vs 0.771 in the same comparison;
    * ``base_lr=0.01`` and ``input_scale=1/64`` (inputs of unit scale) for He-initialised
      weights trained from scratch.

    The paper's VOC settings: ``tiny=False, dataset="voc", crop_size=321, loss_at="stride8",
    scale_range=(0.5, 1.5), base_lr=1e-3, max_iter=20000, input_scale=1.0`` with
    ImageNet-initialised weights.
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
    max_iter: int = 8000
    base_lr: float = 0.01
    lr_policy: str = "poly"           # poly | step
    power: float = 0.9                # poly
    step_size: int = 2000             # step: lr *= gamma every step_size iterations
    gamma: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    loss_at: str = "full"             # stride8: shrunk labels; full: upsampled logits
    input_scale: float = 1 / 64
    val_every: int = 0                # 0: validate only at the end
    checkpoint_every: int = 0         # 0: checkpoint only at the end (when out_dir is set)
    seed: int = 0

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_json(self):
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(self).items()}

    def __post_init__(self):
        _check_config(self)

    @classmethod
    def from_json(cls, d):
        """A TrainConfig from :meth:`to_json`'s dict; unknown settings and bad values raise."""
        if not isinstance(d, dict):
            raise ValueError(f"TrainConfig: the settings must be a mapping, got "
                             f"{type(d).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - fields)
        if unknown:
            raise ValueError(f"TrainConfig: unknown settings {unknown}")
        d = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()}
        try:
            return cls(**d)
        except TypeError as e:        # a value of the wrong type: same kind of error as a range
            raise ValueError(str(e)) from e


_CHOICES = {"model": MODEL_NAMES, "method": ("holes", "deinterlace", "direct"),
            "dataset": ("synthetic", "voc"), "preset": ("default", "hard", "large"),
            "lr_policy": ("poly", "step"), "loss_at": ("stride8", "full")}
_POSITIVE_INTS = ("image_size", "num_train", "num_val", "crop_size", "batch_size", "max_iter",
                  "step_size")
_NONNEGATIVE_INTS = ("val_every", "checkpoint_every", "seed")


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _check_config(c):
    """Types and ranges of every setting; TypeError/ValueError naming the setting."""
    fn = "TrainConfig"
    for name, choices in _CHOICES.items():
        if getattr(c, name) not in choices:
            if name == "dataset":
                raise ValueError(f"unknown dataset {c.dataset!r}; choose 'synthetic' or 'voc'")
            raise ValueError(f"{fn}: {name} must be " + " or ".join(map(repr, choices))
                             + f", got {getattr(c, name)!r}")
    for name in ("tiny", "mirror"):
        if not isinstance(getattr(c, name), bool):
            raise TypeError(f"{fn}: {name} must be True or False, got {getattr(c, name)!r}")
    for names, low in ((_POSITIVE_INTS, 1), (_NONNEGATIVE_INTS, 0)):
        for name in names:
            value = getattr(c, name)
            if not _is_int(value):
                raise TypeError(f"{fn}: {name} must be an integer, got {value!r}")
            if value < low:
                raise ValueError(f"{fn}: {name} must be >= {low}, got {value}")
    ranges = {"base_lr": (0, None, False), "input_scale": (0, None, False),
              "power": (0, None, True), "gamma": (0, 1, True), "momentum": (0, 1, True),
              "weight_decay": (0, None, True)}
    for name, (low, high, low_ok) in ranges.items():
        value = getattr(c, name)
        if not _is_real(value):
            raise TypeError(f"{fn}: {name} must be a finite real number, got {value!r}")
        if value < low or (value == low and not low_ok) or (high is not None and value > high):
            raise ValueError(f"{fn}: {name} must be {'>=' if low_ok else '>'} {low}"
                             + (f" and <= {high}" if high is not None else "")
                             + f", got {value!r}")
    if c.width is not None and not (_is_real(c.width) and c.width > 0):
        raise ValueError(f"{fn}: width must be None or a finite number > 0, got {c.width!r}")
    for name in ("scales", "scale_range"):
        value = getattr(c, name)
        if value is not None and (not isinstance(value, (tuple, list)) or not value or not all(
                _is_real(v) and v > 0 for v in value)):
            raise ValueError(f"{fn}: {name} must be None or a sequence of finite numbers > 0, "
                             f"got {value!r}")
    if c.scale_range is not None and (len(c.scale_range) != 2
                                      or c.scale_range[0] > c.scale_range[1]):
        raise ValueError(f"{fn}: scale_range must be (low, high) with low <= high, got "
                         f"{c.scale_range!r}")
    if c.dataset == "voc" and not (isinstance(c.data_root, str) and c.data_root):
        raise ValueError("dataset 'voc' needs data_root (the VOCdevkit/VOC2012 folder)")
    if c.data_root is not None and not isinstance(c.data_root, str):
        raise TypeError(f"{fn}: data_root must be None or a path, got {c.data_root!r}")
    if c.model == "v3" and c.batch_size < 2:
        # the image-level branch of v3's ASPP pools each image to one value per channel, so
        # its batch norm (training mode) sees batch_size values per channel: one has no
        # variance (DeepLab v3, Sec. 4.1, trains with batches of 16)
        raise ValueError(f"{fn}: batch_size must be >= 2 for model 'v3' (its image-pooling "
                         f"branch normalises over the batch), got {c.batch_size}")


def make_datasets(config):
    """(train, val) datasets of ``config``: SyntheticShapes or VOCSegmentation."""
    if config.dataset == "synthetic":
        from .data.synthetic import SyntheticShapes
        return tuple(SyntheticShapes(split, n, size=config.image_size, seed=config.seed,
                                     preset=config.preset)
                     for split, n in (("train", config.num_train), ("val", config.num_val)))
    if config.dataset == "voc":
        from .data.voc import VOCSegmentation
        if not config.data_root:
            raise ValueError("dataset 'voc' needs data_root (the VOCdevkit/VOC2012 folder)")
        return (VOCSegmentation(config.data_root, "train"),
                VOCSegmentation(config.data_root, "val"))
    raise ValueError(f"unknown dataset {config.dataset!r}; choose 'synthetic' or 'voc'")


def _array_source(dataset):
    """Stacked arrays for in-memory datasets (fast batching); None for file-backed ones."""
    return dataset.load_arrays() if hasattr(dataset, "load_arrays") else None


class Trainer:
    """Runs the training loop of a :class:`TrainConfig`.

    Parameters
    ----------
    config : TrainConfig
    out_dir : folder for ``checkpoint.npz`` and ``history.json`` (None: nothing written)
    device : "cpu" | "gpu" | None (the default device)
    model, train_set, val_set : override what ``config`` would build
    show_progress : draw a progress bar with the loss and the learning rate
    """

    def __init__(self, config, *, out_dir=None, device=None, model=None, train_set=None,
                 val_set=None, show_progress=True):
        self.config = config
        self.device = device or backend.default_device()
        self.out_dir = out_dir
        if out_dir is not None:   # before any work: created, proved writable, temps cleaned
            prepare_output_dir(out_dir, "out_dir")
        self.last_checkpoint = None   # (path, iteration) of the last good checkpoint, if any
        if train_set is None or val_set is None:
            built_train, built_val = make_datasets(config)
            train_set = built_train if train_set is None else train_set
            val_set = built_val if val_set is None else val_set
        self.train_set, self.val_set = train_set, val_set
        self.num_classes = train_set.num_classes
        self._train_arrays = _array_source(train_set)
        self.model = model if model is not None else build_model(
            config.model, self.num_classes, tiny=config.tiny, width=config.width,
            scales=config.scales, method=config.method, seed=config.seed, device=self.device)
        self.optimizer = SGD(self.model, lr=config.base_lr, momentum=config.momentum,
                             weight_decay=config.weight_decay)
        self.schedule = make_schedule(config.lr_policy, config.base_lr, config.max_iter,
                                      power=config.power, step_size=config.step_size,
                                      gamma=config.gamma)
        self.data_rng = np.random.default_rng([config.seed, 7])
        self.iteration = 0
        self.history = {"iteration": [], "loss": [], "lr": [], "time": [], "val": []}
        self.elapsed = 0.0          # training seconds before this process (from a resume)
        self.show_progress = show_progress

    # -- one step ----------------------------------------------------------------------
    def _batch(self):
        c, rng = self.config, self.data_rng
        idx = rng.integers(0, len(self.train_set), size=c.batch_size)
        images, labels = [], []
        for i in idx:
            if self._train_arrays is not None:
                image, label = self._train_arrays[0][i], self._train_arrays[1][i]
            else:
                image, label = self.train_set[int(i)]
            image, label = augment(image, label, rng, crop_size=c.crop_size,
                                       scale_range=c.scale_range, mirror=c.mirror)
            images.append(image)
            labels.append(label)
        x, y = to_batch(images, labels, device=self.device, num_classes=self.num_classes)
        return x * np.float32(c.input_scale), y

    def step(self):
        """One SGD iteration; returns ``(loss, lr)``, the batch's loss and the learning rate used
        (floats).

        Raises TrainingDiverged when the loss, or any weight or optimiser state after the
        update, is NaN or infinite (nothing is saved then). A data file that cannot be read
        raises :class:`~minideeplab.data.DataError` with the data generator rewound, so the
        same batch is drawn again after a resume.
        """
        c = self.config
        state = copy.deepcopy(self.data_rng.bit_generator.state)
        try:
            x, labels = self._batch()
        except DataError:
            self.data_rng.bit_generator.state = state
            raise
        self.model.train()
        logits = self.model(x)                                         # (N, L, h, w)
        # The labels were checked on the host (to_batch with num_classes): the loss does not
        # check them again on the device, which would cost a device-to-host sync per step.
        if c.loss_at == "stride8":
            target = F.resize_labels_nearest(labels, logits.shape[2:])  # label[8i, 8j]
            loss, cache = F.softmax_cross_entropy(logits, target, check_labels=False)
            dlogits = F.softmax_cross_entropy_backward(cache)
        elif c.loss_at == "full":
            up, up_cache = F.resize_bilinear(logits, labels.shape[1:], align_corners=True)
            loss, cache = F.softmax_cross_entropy(up, labels, check_labels=False)
            dlogits = F.resize_bilinear_backward(F.softmax_cross_entropy_backward(cache),
                                                 up_cache)
        else:
            raise ValueError(f"loss_at must be 'stride8' or 'full', got {c.loss_at!r}")
        lr = self.schedule(self.iteration)
        self.optimizer.zero_grad()
        self.model.backward(dlogits)
        self.optimizer.step(lr)
        self._last_batch = x
        # The step's one device-to-host sync: the loss and "every weight and velocity is
        # finite" (one reduction per array, stacked), read together.
        xp = backend.get_array_module(x)
        loss, finite = (float(v) for v in backend.asnumpy(xp.stack(
            [xp.asarray(loss, dtype=xp.float64), self._all_finite(xp).astype(xp.float64)])))
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"loss became {loss} at iteration {self.iteration} (lr {lr:.3g}); training "
                f"stopped; {self._last_good()}. Lower base_lr (now {c.base_lr:g}) or "
                "input_scale.")
        if not finite:
            raise TrainingDiverged(
                f"{self._first_non_finite()} became non-finite in the update of iteration "
                f"{self.iteration} (lr {lr:.3g}, loss {loss:.4g}); training stopped; "
                f"{self._last_good()}. Lower base_lr (now {c.base_lr:g}) or input_scale.")
        self.iteration += 1
        return loss, lr

    def _state_arrays(self):
        yield from (("parameter", k, v) for k, v in self.model.state_dict().items())
        yield from (("optimiser state", k, v) for k, v in self.optimizer.state_dict().items())

    def _all_finite(self, xp):
        """A device boolean: every weight, buffer and velocity is finite (no sync here)."""
        return xp.stack([xp.isfinite(a).all() for _, _, a in self._state_arrays()]).all()

    def _first_non_finite(self):
        for kind, name, a in self._state_arrays():        # only after a failure: syncs are fine
            if not bool(backend.get_array_module(a).isfinite(a).all()):
                return f"{kind} {name!r}"
        return "a weight"

    def _last_good(self):
        """The truth about what was saved, for the messages that stop a run."""
        if self.last_checkpoint is None:
            return ("no checkpoint was written by this run" if self.out_dir else
                    "nothing was saved (no out_dir)")
        path, iteration = self.last_checkpoint
        return f"the last good checkpoint is {path!r} (iteration {iteration}), untouched"

    # -- the loop ----------------------------------------------------------------------
    def run(self, until=None, log=print):
        """Train up to iteration ``until`` (default ``max_iter``); returns the history dict.

        Validates every ``val_every`` iterations and at the end, and checkpoints every
        ``checkpoint_every`` iterations and at the end when ``out_dir`` is set.
        """
        c = self.config
        until = c.max_iter if until is None else min(until, c.max_iter)
        bar = progress(total=until - self.iteration, desc=f"train {c.model}",
                       disable=not self.show_progress)
        start = time.perf_counter() - self.elapsed
        while self.iteration < until:
            try:
                loss, lr = self.step()
            except DataError as e:          # a damaged file: save what was done, then stop
                self.elapsed = time.perf_counter() - start
                bar.close()
                raise self._stop_on_data_error(e) from e
            now = time.perf_counter() - start
            for key, value in (("iteration", self.iteration), ("loss", loss), ("lr", lr),
                               ("time", now)):
                self.history[key].append(value)
            bar.update(1)
            bar.set(loss=loss, lr=lr)
            last = self.iteration == until
            if (c.val_every and self.iteration % c.val_every == 0) or last:
                self.elapsed = time.perf_counter() - start
                cm = self.validate()
                self.history["val"].append({"iteration": self.iteration, "time": self.elapsed,
                                            "mean_iou": cm.mean_iou(),
                                            "pixel_accuracy": cm.pixel_accuracy()})
                start = time.perf_counter() - self.elapsed   # validation time is not counted
                if log and (not self.show_progress or last):
                    log(f"iteration {self.iteration}: loss {loss:.4f}, val mIoU "
                        f"{cm.mean_iou():.4f}, pixel acc {cm.pixel_accuracy():.4f}")
            if self.out_dir and ((c.checkpoint_every and self.iteration % c.checkpoint_every
                                  == 0) or last):
                self.elapsed = time.perf_counter() - start
                self.save(os.path.join(self.out_dir, "checkpoint.npz"))
        bar.close()
        self.elapsed = time.perf_counter() - start
        return self.history

    def validate(self):
        """A ConfusionMatrix over the whole val set (full resolution, 255 ignored)."""
        return evaluate(self.model, self.val_set, input_scale=self.config.input_scale,
                        device=self.device, show_progress=False)

    # -- checkpoints -------------------------------------------------------------------
    def rngs(self):
        return {"data": self.data_rng, **ckpt.module_rngs(self.model)}

    def _stop_on_data_error(self, error):
        """Checkpoint the finished iterations (the data generator was rewound to the failed
        batch) and return the DataError to raise: nothing done so far is lost."""
        saved = self.last_checkpoint is not None and self.last_checkpoint[1] == self.iteration
        if self.out_dir and not saved and self.iteration > 0:
            self.save(os.path.join(self.out_dir, "checkpoint.npz"))
        if self.last_checkpoint is not None:
            path, iteration = self.last_checkpoint
            where = (f"the {iteration} finished iterations are saved in {path!r}; fix or "
                     f"remove the file and resume from it")
        else:
            where = ("no iteration had finished" if self.iteration == 0 else
                     f"{self.iteration} iterations are lost (no out_dir)")
        return DataError(f"{error}\ntraining stopped before iteration {self.iteration + 1}; "
                         f"{where}", getattr(error, "path", None))

    def save(self, path):
        """Write an atomic checkpoint (model, optimiser, generators, config, history).

        Only usable weights are saved: all finite (checked after every step) and giving
        finite scores on the last training batch (one forward pass in eval mode, here).
        Raises TrainingDiverged otherwise, leaving the previous checkpoint untouched.
        """
        self._check_scores()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        config = {"train": self.config.to_json(), "model": getattr(self.model, "build_args",
                                                                     None),
                  "history": self.history, "elapsed": self.elapsed}
        ckpt.save_checkpoint(path, self.model, self.optimizer, iteration=self.iteration,
                             rngs=self.rngs(), config=config)
        if self.out_dir:
            atomic_write_text(os.path.join(self.out_dir, "history.json"),
                              json.dumps(self.history))
        self.last_checkpoint = (os.fspath(path), self.iteration)

    def _check_scores(self):
        """Finite weights can still be unusable (1e30 overflows the next layer): the scores
        of the last batch, in eval mode as predict computes them, must be finite."""
        x = getattr(self, "_last_batch", None)
        if x is None:
            return
        self.model.eval()
        try:
            scores = self.model(x)
        finally:
            self.model.train()
        xp = backend.get_array_module(scores)
        if not bool(xp.isfinite(scores).all()):
            raise TrainingDiverged(
                f"the weights after iteration {self.iteration} give non-finite scores (they "
                f"are finite but too large: the run diverged); they were not saved; "
                f"{self._last_good()}. Lower base_lr (now {self.config.base_lr:g}) or "
                "input_scale.")

    @classmethod
    def resume(cls, path, *, changes=None, **kwargs):
        """A Trainer restored from a checkpoint; ``run()`` continues where it stopped.

        ``changes``: settings to change from the saved ones (e.g. ``{"max_iter": 4000}`` to
        train longer); ``trainer.saved_config`` keeps the saved settings. Every setting, the
        iteration (0..max_iter) and the history are checked; a bad one is a CheckpointError
        naming the file and the entry.
        """
        loaded = ckpt.load_checkpoint(path)
        where = f"checkpoint {os.fspath(path)!r}"
        if "train" not in loaded.config:
            raise ckpt.CheckpointError(f"{where} was not written by Trainer (no training "
                                       "config inside)")
        saved = _config_from_checkpoint(loaded.config["train"], where)
        try:
            config = saved.replace(**(changes or {}))
        except (TypeError, ValueError) as e:
            raise ValueError(f"resume: {e}") from e
        if loaded.iteration > config.max_iter:
            raise ckpt.CheckpointError(
                f"{where}: entry 'iteration' is {loaded.iteration}, beyond max_iter "
                f"{config.max_iter}" + (" (given)" if "max_iter" in (changes or {}) else
                                        " of its config"))
        history = loaded.config.get("history", None)
        if history is not None and not _is_history(history, loaded.iteration):
            raise ckpt.CheckpointError(f"{where}: config entry 'history' is not a training "
                                       "history of its iterations")
        elapsed = loaded.config.get("elapsed", 0.0)
        if not (_is_real(elapsed) and elapsed >= 0):
            raise ckpt.CheckpointError(f"{where}: config entry 'elapsed' must be a number "
                                       f">= 0, got {elapsed!r}")
        trainer = cls(config, **kwargs)
        trainer.saved_config = saved
        trainer.iteration = ckpt.restore_checkpoint(loaded, trainer.model, trainer.optimizer,
                                                    trainer.rngs())
        if history is not None:
            trainer.history = history
        trainer.elapsed = float(elapsed)
        trainer.last_checkpoint = (os.fspath(path), trainer.iteration)
        return trainer


def _config_from_checkpoint(d, where):
    try:
        return TrainConfig.from_json(d)
    except (TypeError, ValueError) as e:
        raise ckpt.CheckpointError(f"{where}: config entry 'train' is invalid: {e}") from e


def _is_history(h, iteration):
    keys = ("iteration", "loss", "lr", "time")
    return (isinstance(h, dict) and all(isinstance(h.get(k), list) for k in keys + ("val",))
            and all(len(h[k]) == len(h["iteration"]) for k in keys)
            and all(isinstance(v, dict) for v in h["val"])
            and (not h["iteration"] or h["iteration"][-1] == iteration))


# ----------------------------------------------------------------------------- inference
def predict_logits(model, images, *, input_scale=1 / 64, device=None, size=None):
    """Full-resolution class scores for a batch of images (DeepLab v2, Sec. 3.1: bilinear).

    images (N, H, W, 3) uint8 -> scores (N, L, H, W) float32 on the device: the network's
    stride-8 map upsampled with align_corners=True (Caffe's Interp) to the image size.
    """
    x, _ = to_batch(images, device=device)
    model.eval()
    logits = model(x * np.float32(input_scale))
    out_size = tuple(images.shape[1:3]) if size is None else tuple(size)
    up, _ = F.resize_bilinear(logits, out_size, align_corners=True)
    return up


def predict(model, image, *, input_scale=1 / 64, device=None):
    """One image (H, W, 3) uint8 -> (labels (H, W) int64, probabilities (L, H, W)), host arrays."""
    scores = predict_logits(model, image[None], input_scale=input_scale, device=device)
    probs = F.softmax(scores, axis=1)[0]
    return backend.asnumpy(probs.argmax(axis=0)), backend.asnumpy(probs)


def evaluate(model, dataset, *, input_scale=1 / 64, device=None, batch_size=10,
             num_classes=None, show_progress=True, postprocess=None):
    """Accumulate one confusion matrix over ``dataset`` (mIoU the paper's way, 255 ignored).

    ``postprocess(image, probs) -> labels`` (e.g. a dense CRF) replaces the argmax when given.
    Images of one size are evaluated in batches; otherwise one by one.
    """
    num_classes = num_classes or dataset.num_classes
    cm = ConfusionMatrix(num_classes)
    arrays = _array_source(dataset)
    n = len(dataset)
    step = batch_size if arrays is not None else 1
    for start in progress(range(0, n, step), desc="evaluate", disable=not show_progress):
        if arrays is not None:
            images, labels = arrays[0][start:start + step], arrays[1][start:start + step]
        else:
            image, label = dataset[start]
            images, labels = image[None], label[None]
        scores = predict_logits(model, images, input_scale=input_scale, device=device)
        if postprocess is None:
            pred = scores.argmax(axis=1)
        else:
            probs = backend.asnumpy(F.softmax(scores, axis=1))
            pred = np.stack([postprocess(im, p) for im, p in zip(images, probs)])
        cm.update(pred, backend.to_device(np.asarray(labels), backend.device_of(pred)))
    return cm


def model_from_checkpoint(path, device=None):
    """(model, TrainConfig) rebuilt from a training checkpoint, weights loaded, in eval mode."""
    return model_from_loaded(ckpt.load_checkpoint(path), path, device)


def model_from_loaded(loaded, path, device=None):
    """:func:`model_from_checkpoint` for a checkpoint already read with ``load_checkpoint``
    (``path`` only names it in errors)."""
    where = f"checkpoint {os.fspath(path)!r}"
    args = loaded.config.get("model")
    if not args:
        raise ckpt.CheckpointError(f"{where} does not record how to build its model (no "
                                   "'model' entry in its config)")
    if not isinstance(args, dict) or "device" in args:
        raise ckpt.CheckpointError(f"{where}: config entry 'model' must be a mapping of "
                                   f"build_model arguments, got {args!r:.200}")
    config = _config_from_checkpoint(loaded.config.get("train"), where)
    try:
        model = build_model(**args, device=device or backend.default_device())
    except (TypeError, ValueError) as e:
        raise ckpt.CheckpointError(f"{where}: config entry 'model' does not build a model "
                                   f"({e})") from e
    ckpt.restore_checkpoint(loaded._replace(path=os.fspath(path)), model)
    return model.eval(), config
