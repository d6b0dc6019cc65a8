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

Where a trained network comes from (:func:`trained`), in this order:

1. the networks shipped with the book (:mod:`.shipped`: seed 0 of the first four variants,
   weights and curves, made by this code), unless ``retrain=True``;
2. the checkpoint cache under :func:`cache_dir` (``$MINIDEEPLAB_CACHE``, default
   ``~/.cache/minideeplab``), one folder per run keyed by a hash of its training configuration
   (:func:`run_folder`): the second notebook or job that needs a network trained here loads it;
3. training it (minutes on 2 cores), into the cache.

``seed`` picks the run: it seeds the synthetic shapes (train and val images), the initial
weights, the batches and the augmentation, so each seed is a whole new draw of the experiment.
``quick=True`` trains each for a few iterations on small images: the same files come out, with
meaningless numbers (for tests and ``reproduce --quick``).
"""
import contextlib
import hashlib
import json
import os
from collections import namedtuple

import numpy as np

from .. import backend, functional as F
from ..checkpoint import load_checkpoint, load_model
from ..config import TrainConfig
from ..data import make_datasets
from ..errors import ArgumentError
from ..inference import predict_logits
from ..train import Trainer
from .shipped import NETWORK_FILE, shipped_folder

__all__ = ["BOOK_RECIPE", "VARIANTS", "VAL_EVERY", "QUICK", "TrainedRun", "cache_dir", "variant_config",
           "run_folder", "trained", "retraining", "config_key", "val_arrays", "val_probabilities"]

# The recipe every variant is trained with, pinned here setting by setting: the defaults of
# TrainConfig when the networks were shipped (8000 iterations of "poly" from 0.01, no warm-up).
# The shipped networks are found by a hash of the whole configuration (config_key), so these
# values must not follow TrainConfig's defaults, which are tuned for a first run.
BOOK_RECIPE = dict(
    model="aspp-l", tiny=True, width=None, method="holes", scales=None, dataset="synthetic",
    data_root=None, preset="default", image_size=97, num_train=1000, num_val=100,
    crop_size=97, scale_range=None, mirror=True, batch_size=10, max_iter=8000, base_lr=0.01,
    warmup_iter=0, lr_policy="poly", power=0.9, step_size=2000, gamma=0.1, momentum=0.9,
    weight_decay=5e-4, loss_at="full", input_scale=1 / 64, val_every=0, checkpoint_every=0,
    seed=0)

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


def variant_config(name, quick=False, seed=0):
    """The TrainConfig of variant ``name`` (full or quick) with random seed ``seed``."""
    if name not in VARIANTS:
        raise ArgumentError(f"variant_config: unknown variant {name!r}; choose one of "
                            f"{tuple(VARIANTS)}")
    config = TrainConfig(**{**BOOK_RECIPE, "val_every": VAL_EVERY, **VARIANTS[name]})
    if quick:
        config = config.replace(**QUICK)
    if config.lr_policy == "step":                      # drop the rate after two thirds
        config = config.replace(step_size=max(1, config.max_iter * 2 // 3))
    return config.replace(seed=seed)


def config_key(config):
    """12 hex digits of the SHA-1 of the configuration's JSON: the cache key of a run."""
    text = json.dumps(config.to_json(), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def run_folder(name, config):
    """The cache folder of variant ``name`` trained with ``config``."""
    return os.path.join(cache_dir(), f"{name}-{config_key(config)}")


_RETRAINING = []    # the run folders retrained so far, per open retraining() block


@contextlib.contextmanager
def retraining():
    """Within the block, :func:`trained` ignores the shipped networks and trains each network it
    is asked for once, from scratch (later requests load that fresh run from the cache):
    ``python -m minideeplab reproduce --retrain``."""
    _RETRAINING.append(set())
    try:
        yield
    finally:
        _RETRAINING.pop()


def trained(name, quick=False, device=None, progress=None, *, seed=0, retrain=False,
            use_shipped=True):
    """Variant ``name`` trained with ``seed``: shipped, cached, or trained now (see the module
    docstring); returns a :class:`TrainedRun`.

    ``retrain=True`` trains it again from scratch (into the cache, replacing a cached run);
    ``use_shipped=False`` skips the shipped networks; inside :func:`retraining`, both apply to
    the first request of each network. ``progress``: a bar over the training
    (:func:`minideeplab.progress.progress_bar`).
    """
    config = variant_config(name, quick, seed)
    folder = run_folder(name, config)
    path = os.path.join(folder, "checkpoint.npz")
    if _RETRAINING:
        use_shipped = False
        retrain = retrain or folder not in _RETRAINING[-1]
        _RETRAINING[-1].add(folder)
    if not retrain:
        network = os.path.join(shipped_folder(folder), NETWORK_FILE)
        for found in ([network] if use_shipped else []) + [path]:   # one reader, both kinds
            if not os.path.exists(found):
                continue
            loaded = load_checkpoint(found)
            history = loaded.config.get("history") or {}
            if history.get("iteration") and history["iteration"][-1] >= config.max_iter:
                return TrainedRun(name, load_model(loaded, device), config, history, found)
    if retrain and os.path.isdir(folder):      # what was computed from the old weights goes
        for stale in os.listdir(folder):
            if stale.startswith("crf_search-") and stale.endswith(".json"):
                os.remove(os.path.join(folder, stale))
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
