"""The paper's experiments in miniature, on the synthetic shapes: Tables 2 and 3, Figs. 5, 6, 10.

The reproduce jobs and the tutorials (4, 6, 7) call these functions, so the command line and
the notebooks show the same numbers. Trained networks are cached as checkpoints under
:func:`cache_dir` (``$MINIDEEPLAB_CACHE``, default ``~/.cache/minideeplab``), keyed by a hash
of their training configuration: the second notebook or job that needs DeepLab-ASPP-L loads
it instead of training it again.

Variants (:data:`VARIANTS`), all the tiny VGG-16 DeepLab of :func:`minideeplab.models.build_model`:

=================  ========================================  ==========================
name               what                                      paper
=================  ========================================  ==========================
``largefov``       fc6 3x3 rate 12, one branch               Table 3, row 1
``aspp-s``         four branches, rates (2, 4, 8, 12)        Table 3, row 2
``aspp-l``         four branches, rates (6, 12, 18, 24)      Table 3, row 3; Table 2
``aspp-l-step``    ASPP-L with the "step" policy             Table 2 ("step" row)
=================  ========================================  ==========================

``quick=True`` trains each for a few iterations on small images: the same files come out,
with meaningless numbers (for tests and ``reproduce --quick``).
"""
import hashlib
import json
import os
from collections import namedtuple

import numpy as np

from . import backend, functional as F
from .train import TrainConfig, Trainer, model_from_checkpoint, predict_logits

__all__ = ["VARIANTS", "CRF_PARAMS", "cache_dir", "variant_config", "trained",
           "val_arrays", "val_probabilities", "crf_refine", "TrainedRun"]

VARIANTS = {
    "largefov": dict(model="largefov"),
    "aspp-s": dict(model="aspp-s"),
    "aspp-l": dict(model="aspp-l"),
    "aspp-l-step": dict(model="aspp-l", lr_policy="step"),
}

# Quick mode: tiny images and a handful of iterations (seconds per variant)
QUICK = dict(image_size=33, crop_size=33, num_train=16, num_val=6, batch_size=4, max_iter=8,
             val_every=4)

# The CRF's parameters for the synthetic shapes (w1, theta_alpha, theta_beta, w2, theta_gamma);
# see the CRF tutorial for the cross-validation that picks them.
CRF_PARAMS = dict(w1=4.0, theta_alpha=20.0, theta_beta=10.0, w2=3.0, theta_gamma=1.0)

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
        raise ValueError(f"unknown variant {name!r}; choose one of {tuple(VARIANTS)}")
    config = TrainConfig(**VARIANTS[name])
    if config.lr_policy == "step":
        config = config.replace(step_size=max(1, config.max_iter * 2 // 3))
    if quick:
        config = config.replace(**QUICK)
        if config.lr_policy == "step":
            config = config.replace(step_size=max(1, config.max_iter * 2 // 3))
    return config


def _key(config):
    text = json.dumps(config.to_json(), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def trained(name, quick=False, device=None, show_progress=True):
    """Train variant ``name`` (or load it from the cache); returns a :class:`TrainedRun`."""
    config = variant_config(name, quick)
    folder = os.path.join(cache_dir(), f"{name}-{_key(config)}")
    path = os.path.join(folder, "checkpoint.npz")
    if os.path.exists(path):
        from .checkpoint import load_checkpoint
        model, _ = model_from_checkpoint(path, device=device)
        history = load_checkpoint(path).config.get("history", {})
        if history.get("iteration") and history["iteration"][-1] >= config.max_iter:
            return TrainedRun(name, model, config, history, path)
    trainer = Trainer(config, out_dir=folder, device=device, show_progress=show_progress)
    history = trainer.run(log=None)
    return TrainedRun(name, trainer.model.eval(), config, history, path)


def val_arrays(config, n=None):
    """(images (n, H, W, 3) uint8, labels (n, H, W) uint8) of the variant's val split."""
    from .train import make_datasets
    _, val = make_datasets(config)
    images, labels = val.load_arrays()
    return (images, labels) if n is None else (images[:n], labels[:n])


def val_probabilities(run, images, batch_size=10):
    """Full-resolution softmax (n, L, H, W) float32 host arrays for ``images``."""
    out = []
    for s in range(0, len(images), batch_size):
        scores = predict_logits(run.model, images[s:s + batch_size],
                                input_scale=run.config.input_scale)
        out.append(backend.asnumpy(F.softmax(scores, axis=1)).astype(np.float32))
    return np.concatenate(out)


def crf_refine(images, probs, params=None, **kwargs):
    """Dense-CRF marginals (n, L, H, W) for each image (lattice; ``params``: CRF_PARAMS)."""
    from .crf import dense_crf
    params = dict(CRF_PARAMS if params is None else params, **kwargs)
    return np.stack([backend.asnumpy(dense_crf(im, p, **params)) for im, p in zip(images, probs)])


# Search grid for the CRF on the synthetic images, scaled from the paper's (Sec. 4.1: w1 in
# 3..6, theta_alpha 30..100, theta_beta 3..6 on ~500-pixel VOC images) to our ~100-pixel ones
CRF_GRID = dict(w1_values=(3.0, 4.0, 5.0, 6.0), theta_alpha_values=(5.0, 10.0, 15.0, 20.0, 30.0),
                theta_beta_values=(5.0, 10.0, 15.0, 20.0))

_CRF_SEARCH = {}


def crf_search(run, n=20):
    """Cross-validate the CRF (coarse to fine, :func:`minideeplab.crf.cross_validate`) on the
    first ``n`` val images of ``run``; cached per run. Returns a CrossValidationResult."""
    from .crf import cross_validate
    key = (run.path, n)
    if key not in _CRF_SEARCH:
        images, labels = val_arrays(run.config, n)
        probs = val_probabilities(run, images)
        _CRF_SEARCH[key] = cross_validate(list(zip(images, probs, labels)),
                                          w2=CRF_PARAMS["w2"],
                                          theta_gamma=CRF_PARAMS["theta_gamma"], **CRF_GRID)
    return _CRF_SEARCH[key]


def crf_params(run, quick=False):
    """The CRF parameters to use with ``run``: cross-validated (full), CRF_PARAMS (quick)."""
    return dict(CRF_PARAMS) if quick else dict(crf_search(run).best)


def before_after_crf(run, params, n=None):
    """Val-set evaluation of ``run`` without and with the CRF.

    Returns dict with ``images``, ``labels``, ``before`` and ``after`` label maps (n, H, W),
    and ``miou_before`` / ``miou_after`` from one confusion matrix each.
    """
    from .metrics import ConfusionMatrix
    images, labels = val_arrays(run.config, n)
    probs = val_probabilities(run, images)
    before = probs.argmax(axis=1)
    after = crf_refine(images, probs, params).argmax(axis=1)
    L = probs.shape[1]
    return dict(images=images, labels=labels, probs=probs, before=before, after=after,
                miou_before=ConfusionMatrix(L).update(before, labels).mean_iou(),
                miou_after=ConfusionMatrix(L).update(after, labels).mean_iou())
