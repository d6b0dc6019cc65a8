"""The trained networks of the book: the variants, and their checkpoint cache.

Tables 2 and 3 and Figs. 5, 6, 8 and 10 in miniature all need trained networks. Each is a
*variant* (:data:`VARIANTS`) of the tiny VGG-16 DeepLab of
:func:`minideeplab.models.build_model`, trained on the synthetic shapes:

=================  ========================================  ==========================
name               what                                      paper
=================  ========================================  ==========================
``largefov``       fc6 3x3 rate 12, one branch               Table 3, row 1
``aspp-s``         four branches, rates (2, 4, 8, 12)        Table 3, row 2
``aspp-l``         four branches, rates (6, 12, 18, 24)      Table 3, row 3; Table 2
``aspp-l-step``    ASPP-L with the "step" policy             Table 2 ("step" row)
=================  ========================================  ==========================

Trained networks are cached as checkpoints under :func:`cache_dir` (``$MINIDEEPLAB_CACHE``,
default ``~/.cache/minideeplab``), in one folder per run keyed by a hash of its training
configuration (:func:`run_folder`): the second notebook or job that needs DeepLab-ASPP-L loads
it instead of training it again. ``quick=True`` trains each for a few iterations on small
images: the same files come out, with meaningless numbers (for tests and ``reproduce --quick``).
"""
import hashlib
import json
import os
from collections import namedtuple

import numpy as np

from .. import backend, functional as F
from ..checkpoint import load_checkpoint
from ..config import TrainConfig, make_datasets
from ..inference import model_from_loaded, predict_logits
from ..train import Trainer

__all__ = ["VARIANTS", "VAL_EVERY", "QUICK", "TrainedRun", "cache_dir", "variant_config",
           "run_folder", "trained", "val_arrays", "val_probabilities"]

VARIANTS = {
    "largefov": dict(model="largefov"),
    "aspp-s": dict(model="aspp-s"),
    "aspp-l": dict(model="aspp-l"),
    "aspp-l-step": dict(model="aspp-l", lr_policy="step"),
    "aspp-l-large": dict(model="aspp-l", preset="large"),     # only large objects (bench)
}
VAL_EVERY = 500   # full runs validate every 500 iterations: the mIoU-vs-time curves

# Quick mode: tiny images and a handful of iterations (seconds per variant)
QUICK = dict(image_size=33, crop_size=33, num_train=16, num_val=6, batch_size=4, max_iter=8,
             val_every=4)

TrainedRun = namedtuple("TrainedRun", "name model config history path")
TrainedRun.__doc__ = ("A trained variant: the model (eval mode), its TrainConfig, the training "
                      "history dict and the checkpoint path.")


def cache_dir():
    """Where trained checkpoints are cached: ``$MINIDEEPLAB_CACHE`` or ~/.cache/minideeplab."""
    root = os.environ.get("MINIDEEPLAB_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "minideeplab")
    return os.path.join(root, "runs")


def variant_config(name, quick=False):
    """The TrainConfig of variant ``name`` (full or quick)."""
    if name not in VARIANTS:
        raise ValueError(f"variant_config: unknown variant {name!r}; choose one of "
                         f"{tuple(VARIANTS)}")
    config = TrainConfig(val_every=VAL_EVERY, **VARIANTS[name])
    if quick:
        config = config.replace(**QUICK)
    if config.lr_policy == "step":                      # drop the rate after two thirds
        config = config.replace(step_size=max(1, config.max_iter * 2 // 3))
    return config


def config_key(config):
    """12 hex digits of the SHA-1 of the configuration's JSON: the cache key of a run."""
    text = json.dumps(config.to_json(), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def run_folder(name, config):
    """The cache folder of variant ``name`` trained with ``config``."""
    return os.path.join(cache_dir(), f"{name}-{config_key(config)}")


def trained(name, quick=False, device=None, progress=None):
    """Train variant ``name`` (or load it from the cache); returns a :class:`TrainedRun`.

    ``progress``: a bar over the training (:func:`minideeplab.timing.progress_bar`).
    """
    config = variant_config(name, quick)
    folder = run_folder(name, config)
    path = os.path.join(folder, "checkpoint.npz")
    if os.path.exists(path):
        loaded = load_checkpoint(path)                       # read the file once
        history = loaded.config.get("history", {})
        if history.get("iteration") and history["iteration"][-1] >= config.max_iter:
            model, _ = model_from_loaded(loaded, path, device=device)
            return TrainedRun(name, model, config, history, path)
    trainer = Trainer(config, out_dir=folder, device=device, progress=progress)
    history = trainer.run(log=None)
    return TrainedRun(name, trainer.model.eval(), config, history, path)


def val_arrays(config, n=None):
    """(images (n, H, W, 3) uint8, labels (n, H, W) uint8) of the variant's val split."""
    _, val = make_datasets(config)
    images, labels = val.load_arrays()
    return (images, labels) if n is None else (images[:n], labels[:n])


def val_probabilities(run, images, batch_size=10, on_host=True):
    """Full-resolution softmax (n, L, H, W) float32 of ``images``: host arrays, or with
    ``on_host=False`` arrays on the device of the run's model (for a CRF to run there)."""
    out = []
    for s in range(0, len(images), batch_size):
        scores = predict_logits(run.model, images[s:s + batch_size])   # where the model is
        out.append(F.softmax(scores, axis=1).astype(np.float32))
    probs = backend.get_array_module(*out).concatenate(out)
    return backend.asnumpy(probs) if on_host else probs
