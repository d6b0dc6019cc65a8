"""Training DeepLab end to end: batches, loss at output stride 8, SGD with "poly", checkpoints.

DeepLab v2, Sec. 4.1 and the Caffe release (docs/conventions.md): mini-batches of 10 crops, softmax
cross-entropy over the stride-8 score map against labels shrunk by nearest sampling
(``label[8i, 8j]``, ignore label 255, mean over the counted pixels), SGD with momentum 0.9 and
weight decay 5e-4 in Caffe's form, and the "poly" learning rate
``base * (1 - it/max_iter)^0.9`` (Table 2: better than "step").

One iteration of :class:`Trainer`::

    images, labels = a batch of augmented crops               # data/augment.py
    x = model.preprocessing(images)                            # (N, 3, H, W) float32
    logits = model(x)                                          # (N, L, h, w), h = H / 8
    loss = softmax_cross_entropy(logits, shrink(labels))       # or logits upsampled to (H, W)
    model.backward(d loss / d logits); sgd.step(poly_lr(...))

All randomness (batch choice, augmentation, dropout masks) comes from generators that are
saved in every checkpoint, so ``resume`` continues bit for bit: training 2N steps straight and
N steps + resume + N steps give identical weights.

The model owns its preprocessing (:mod:`minideeplab.preprocess`): a model the trainer builds
gets ``(image - mean) * input_scale`` from the settings' ``input_scale`` (1/64 by default: the
paper fine-tunes ImageNet weights that expect 0..255 units, but networks trained here from He
initialisation train much better on inputs of unit scale); a model passed in keeps its own.
Inference and evaluation live in :mod:`minideeplab.inference`, the settings in
:mod:`minideeplab.config`.
"""
import contextlib
import copy
import json
import math
import os
import shlex
import shutil
import signal
import time

import numpy as np

from . import backend, checkpoint as ckpt, functional as F
from .config import TrainConfig
from .data import array_source, make_datasets
from .data.augment import augment, to_batch
from .errors import ArgumentError, BudgetExceededError, CheckpointError, DataError, OutputPathError
from .fileio import atomic_write_text, prepare_output_dir
from .inference import evaluate
from .interrupt import TrainingInterrupted, deferred_interrupt
from .models import build_model
from .preprocess import from_scratch
from .optim import SGD, make_schedule
from .progress import check_progress, progress_bar

__all__ = ["TrainConfig", "Trainer", "TrainingDiverged", "TrainingInterrupted", "make_datasets"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; training stopped before touching any checkpoint."""


def _due(iteration, every):
    """True every ``every`` iterations (never when ``every`` is 0 or None)."""
    return bool(every) and iteration % every == 0


def _close(bar):
    if hasattr(bar, "close"):
        bar.close()


def _log_above(bar, log, message):
    """``log(message)`` while a tqdm bar is drawn: the line goes above the bar, which is
    redrawn below it (other bars: just ``log``)."""
    write_mode = getattr(type(bar), "external_write_mode", None)
    with write_mode() if write_mode is not None else contextlib.nullcontext():
        log(message)


def _minutes(seconds):
    """``m:ss`` (``h:mm:ss`` past an hour)."""
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


class _TrainingClock:
    """Seconds of training: wall time since the clock started, plus ``elapsed`` seconds from
    before (a resumed run), minus the time spent in :meth:`paused` blocks (validation)."""

    def __init__(self, elapsed=0.0):
        self._start = time.perf_counter() - elapsed

    def seconds(self):
        return time.perf_counter() - self._start

    @contextlib.contextmanager
    def paused(self):
        """Stop the clock for the block; yields the training seconds at the pause."""
        seconds = self.seconds()
        try:
            yield seconds
        finally:
            self._start = time.perf_counter() - seconds


class Trainer:
    """Runs the training loop of a :class:`TrainConfig`.

    Parameters
    ----------
    config : TrainConfig
    out_dir : folder for ``checkpoint.npz`` and ``history.json`` (None: nothing written)
    device : "cpu" | "gpu" | None (the default device)
    model, train_set, val_set : override what ``config`` would build
    progress : a progress bar with the loss and the learning rate: True, False/None, or a
        callable (:func:`minideeplab.progress.progress_bar`; it is also given ``initial=``, the
        iteration the run starts from)
    """

    def __init__(self, config, *, out_dir=None, device=None, model=None, train_set=None,
                 val_set=None, progress=True):
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
        self._train_arrays = array_source(train_set)
        self.model = model if model is not None else build_model(
            config.model, self.num_classes, tiny=config.tiny, width=config.width,
            scales=config.scales, method=config.method, seed=config.seed, device=self.device,
            preprocessing=from_scratch(config.input_scale))
        if getattr(self.model, "preprocessing", None) is None:   # a hand-made network
            self.model.preprocessing = from_scratch(config.input_scale)
        self.optimizer = SGD(self.model, lr=config.base_lr, momentum=config.momentum,
                             weight_decay=config.weight_decay)
        if out_dir is not None:
            self._check_free_space()
        self.schedule = make_schedule(config.lr_policy, config.base_lr, config.max_iter,
                                      power=config.power, step_size=config.step_size,
                                      gamma=config.gamma, warmup_iter=config.warmup_iter)
        self.data_rng = np.random.default_rng([config.seed, 7])
        self.iteration = 0
        self.history = {"iteration": [], "loss": [], "lr": [], "time": [], "val": []}
        self.elapsed = 0.0          # training seconds before this process (from a resume)
        self.progress = check_progress("Trainer", progress)

    # -- one step ----------------------------------------------------------------------
    def _batch(self):
        c, rng, pre = self.config, self.data_rng, self.model.preprocessing
        idx = rng.integers(0, len(self.train_set), size=c.batch_size)
        images, labels = [], []
        for i in idx:
            if self._train_arrays is not None:
                image, label = self._train_arrays[0][i], self._train_arrays[1][i]
            else:
                image, label = self.train_set[int(i)]
            image, label = augment(image, label, rng, crop_size=c.crop_size,
                                   scale_range=c.scale_range, mirror=c.mirror, mean=pre.mean)
            images.append(image)
            labels.append(label)
        return to_batch(images, labels, preprocessing=pre, device=self.device,
                        num_classes=self.num_classes)

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
        else:                                     # "full" (TrainConfig allows only these two)
            up, up_cache = F.resize_bilinear(logits, labels.shape[1:], align_corners=True)
            loss, cache = F.softmax_cross_entropy(up, labels, check_labels=False)
            dlogits = F.resize_bilinear_backward(F.softmax_cross_entropy_backward(cache),
                                                 up_cache)
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

        Each step is recorded (:meth:`_record`) and shown on the progress bar; the model is
        validated every ``val_every`` iterations and at the end (:meth:`_validate`, its time
        not counted as training time), and checkpointed every ``checkpoint_every``
        iterations and at the end when ``out_dir`` is set. ``log`` (None: silent) gets one
        line per validation as it comes (above a tqdm bar): the mean training loss since the
        last validation, val mIoU and pixel accuracy. The bar counts the run's iterations
        (``initial`` = the iteration a resumed run starts from, ``total`` = ``until``). Ctrl-C,
        SIGTERM or SIGHUP lets the current step finish, saves a checkpoint and raises
        TrainingInterrupted, which says how to resume (a second signal stops at once;
        :mod:`minideeplab.interrupt`).
        """
        c = self.config
        until = c.max_iter if until is None else min(until, c.max_iter)
        clock = _TrainingClock(self.elapsed)
        # counts the run's iterations (758/1500 after a resume), not those left
        bar = progress_bar(self.progress, range(self.iteration, until), desc=f"train {c.model}",
                           total=until, initial=self.iteration)
        # a diverging run overflows: the check after every step names the parameter and the
        # iteration (TrainingDiverged), so NumPy's RuntimeWarnings would only add lines
        with deferred_interrupt() as interrupted, np.errstate(over="ignore", invalid="ignore",
                                                              divide="ignore"):
            for _ in bar:
                try:
                    loss, lr = self.step()
                except DataError as e:      # a damaged file: save what was done, then stop
                    self.elapsed = clock.seconds()
                    _close(bar)
                    raise self._stop_on_data_error(e) from e
                self._record(loss, lr, clock.seconds())
                if hasattr(bar, "set_postfix"):   # drawn with the next step: one draw per step
                    bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.3g}", refresh=False)
                last = self.iteration == until
                if _due(self.iteration, c.val_every) or last:
                    try:
                        with clock.paused() as seconds:
                            message = self._validate(seconds)
                    except DataError as e:  # a damaged val file: the step is done, save it
                        self.elapsed = clock.seconds()
                        _close(bar)
                        raise self._stop_on_data_error(e, validating=True) from e
                    if log:
                        _log_above(bar, log, message)
                if self.out_dir and (_due(self.iteration, c.checkpoint_every) or last):
                    self.elapsed = clock.seconds()
                    self.save(os.path.join(self.out_dir, "checkpoint.npz"))
                if interrupted() and not last:
                    self.elapsed = clock.seconds()
                    _close(bar)
                    raise self._stop_on_interrupt(interrupted())
        self.elapsed = clock.seconds()
        _close(bar)
        return self.history

    def _stop_on_interrupt(self, signum):
        if self.out_dir and (self.last_checkpoint or (None, -1))[1] != self.iteration:
            self.save(os.path.join(self.out_dir, "checkpoint.npz"))
        if self.last_checkpoint is not None and self.last_checkpoint[1] == self.iteration:
            path = self.last_checkpoint[0]
            saved = (f"saved to {path!r}; continue with: python -m minideeplab train --resume "
                     f"{shlex.quote(path)}")
        else:
            saved = "nothing was saved (no out_dir)"
        name = signal.Signals(signum).name
        return TrainingInterrupted(f"{name} after iteration {self.iteration}: {saved}", signum)

    def _record(self, loss, lr, seconds):
        """Append one step to the history: iteration, loss, learning rate, training seconds."""
        for key, value in (("iteration", self.iteration), ("loss", loss), ("lr", lr),
                           ("time", seconds)):
            self.history[key].append(value)

    def _validate(self, seconds):
        """Validate, append the result to ``history["val"]``; returns the line to log: the
        iteration, the mean training loss since the last validation, val mIoU and pixel
        accuracy, and the training time so far."""
        cm = self.validate()
        val = self.history["val"]
        since = val[-1]["iteration"] if val else 0
        its, losses = self.history["iteration"], self.history["loss"]
        recent = [v for i, v in zip(its[::-1], losses[::-1]) if i > since] or losses[-1:]
        val.append({"iteration": self.iteration, "time": seconds, "mean_iou": cm.mean_iou(),
                    "pixel_accuracy": cm.pixel_accuracy()})
        return (f"iteration {self.iteration}: loss {sum(recent) / len(recent):.4f} (mean of "
                f"iterations {self.iteration - len(recent) + 1}-{self.iteration}), val mIoU "
                f"{cm.mean_iou():.4f}, pixel acc {cm.pixel_accuracy():.4f}, "
                f"{_minutes(seconds)} of training")

    def validate(self):
        """A ConfusionMatrix over the whole val set (full resolution, 255 ignored)."""
        return evaluate(self.model, self.val_set, device=self.device, progress=False)

    # -- checkpoints -------------------------------------------------------------------
    def rngs(self):
        return {"data": self.data_rng, **ckpt.module_rngs(self.model)}

    def _stop_on_data_error(self, error, validating=False):
        """Checkpoint the finished iterations (a failed batch rewound the data generator;
        validation draws no random numbers) and return the DataError to raise: nothing done
        so far is lost."""
        saved = self.last_checkpoint is not None and self.last_checkpoint[1] == self.iteration
        if self.out_dir and not saved and self.iteration > 0:
            self.save(os.path.join(self.out_dir, "checkpoint.npz"))
        if self.last_checkpoint is not None:
            path, iteration = self.last_checkpoint
            where = (f"the {iteration} finished iterations are saved in {path!r}; fix or "
                     f"remove the file and resume from it")
        else:
            where = ("no iteration had finished" if self.iteration == 0 else
                     f"the {self.iteration} finished iterations are not saved (no out_dir)")
        when = (f"while validating after iteration {self.iteration}" if validating else
                f"before iteration {self.iteration + 1}")
        return DataError(f"{error}; training stopped {when}; {where}",      # one line
                         getattr(error, "path", None))

    def save(self, path):
        """Write an atomic checkpoint (model, optimiser, generators, config, history).

        Only usable weights are saved: all finite (checked after every step) and giving
        finite scores on the last training batch (one forward pass in eval mode, here).
        Raises TrainingDiverged otherwise, leaving the previous checkpoint untouched.
        """
        self._check_scores()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        config = {"train": self.config.to_json(), "history": self.history,
                  "elapsed": self.elapsed}
        try:
            ckpt.save_checkpoint(path, self.model, self.optimizer, iteration=self.iteration,
                                 rngs=self.rngs(), config=config)
            if self.out_dir:
                atomic_write_text(os.path.join(self.out_dir, "history.json"),
                                  json.dumps(self.history))
        except OSError as e:        # disk full, folder gone or made read-only mid-run...
            raise OSError(e.errno, f"cannot write the checkpoint of iteration {self.iteration} "
                          f"({e.strerror or e}); {self._last_good()}", os.fspath(path)) from e
        self.last_checkpoint = (os.fspath(path), self.iteration)

    def _check_free_space(self):
        """Refuse to start when ``out_dir`` cannot hold two checkpoints (the old one stays
        until the new one is complete)."""
        size = sum(a.nbytes for _, _, a in self._state_arrays())
        free = shutil.disk_usage(self.out_dir).free
        if free < 2 * size + (1 << 20):
            raise OutputPathError(f"out_dir: {self.out_dir!r} has {free / 1e6:.1f} MB free; "
                                  f"the checkpoints of this run take {2 * size / 1e6:.1f} MB "
                                  "(the old one is kept until the new one is written)")

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

        The model is rebuilt from the checkpoint's build arguments (its preprocessing
        included), as :func:`minideeplab.checkpoint.load_model` rebuilds it for prediction,
        unless ``model=`` is given. ``changes``: settings to change from the saved ones (e.g.
        ``{"max_iter": 4000}`` to train longer); ``trainer.saved_config`` keeps the saved
        settings. Every setting, the iteration (0..max_iter), the history and the elapsed time
        are checked; a bad one is a CheckpointError naming the file and the entry.
        """
        loaded = ckpt.load_checkpoint(path)
        saved = TrainConfig.from_checkpoint(loaded)
        _check_resumable(loaded, saved)
        try:
            config = saved.replace(**(changes or {}))
        except ArgumentError as e:
            raise ArgumentError(f"resume: {e}") from e
        if loaded.iteration > config.max_iter:
            raise ArgumentError(f"resume: max_iter {config.max_iter} is below iteration "
                                f"{loaded.iteration}, which checkpoint {loaded.path!r} has "
                                "already reached")
        if kwargs.get("model") is None:
            kwargs["model"] = ckpt.build_model_of(loaded, kwargs.get("device"))
        try:
            trainer = cls(config, **kwargs)
        except (ArgumentError, BudgetExceededError) as e:   # the saved settings, on this machine
            raise type(e)(f"resume: checkpoint {loaded.path!r}: its settings cannot run here: "
                          f"{e}") from e
        trainer.saved_config = saved
        trainer.iteration = ckpt.restore_checkpoint(loaded, trainer.model, trainer.optimizer,
                                                    trainer.rngs())
        if loaded.config.get("history") is not None:
            trainer.history = loaded.config["history"]
        trainer.elapsed = float(loaded.config.get("elapsed", 0.0))
        trainer.last_checkpoint = (loaded.path, trainer.iteration)
        return trainer


def _check_resumable(loaded, config):
    """What a resume reads besides the settings: optimiser state (a network file has none),
    the iteration (at most max_iter), the history of those iterations and the elapsed
    seconds; CheckpointError naming the file and the entry."""
    where = f"checkpoint {loaded.path!r}"
    if not loaded.optim_state and loaded.iteration > 0:
        raise CheckpointError(f"{where} holds no optimiser state (a network file holds the "
                              "weights only): it cannot be resumed; start a new run",
                              loaded.path)
    if loaded.iteration > config.max_iter:
        raise CheckpointError(f"{where}: entry 'iteration' is {loaded.iteration}, beyond "
                              f"max_iter {config.max_iter} of its config", loaded.path)
    history = loaded.config.get("history", None)
    if history is not None and not _is_history(history, loaded.iteration):
        raise CheckpointError(f"{where}: config entry 'history' is not a training history of "
                              "its iterations", loaded.path)
    elapsed = loaded.config.get("elapsed", 0.0)
    if (isinstance(elapsed, bool) or not isinstance(elapsed, (int, float))
            or not math.isfinite(elapsed) or elapsed < 0):
        raise CheckpointError(f"{where}: config entry 'elapsed' must be a number >= 0, got "
                              f"{elapsed!r}", loaded.path)


def _is_history(h, iteration):
    keys = ("iteration", "loss", "lr", "time")
    return (isinstance(h, dict) and all(isinstance(h.get(k), list) for k in keys + ("val",))
            and all(len(h[k]) == len(h["iteration"]) for k in keys)
            and all(isinstance(v, dict) for v in h["val"])
            and (not h["iteration"] or h["iteration"][-1] == iteration))
