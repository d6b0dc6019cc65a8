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

One function per reproduce job (:mod:`minideeplab.jobs`), returning the numbers, the table's
text and the figures, so that a job and its tutorial show the same things:

=====================  ================================================  ============
function               what                                              tutorial
=====================  ================================================  ============
:func:`table2`         "poly" vs "step" (Table 2 in miniature)           06_training
:func:`table3`         LargeFOV vs ASPP-S vs ASPP-L (Table 3), Fig. 8    04_aspp
:func:`crf_crossval`   the CRF's coarse-to-fine search (Sec. 4.1)        07_dense_crf
:func:`fig5`           mean-field score and belief maps (Fig. 5)         07_dense_crf
:func:`fig6_fig10`     before / after CRF (Fig. 6), trimap (Fig. 10)     07_dense_crf
=====================  ================================================  ============
"""
import hashlib
import json
import os
from collections import namedtuple

import numpy as np

from . import backend, functional as F
from .train import TrainConfig, Trainer, model_from_loaded, predict_logits

__all__ = ["VARIANTS", "CRF_PARAMS", "cache_dir", "variant_config", "trained",
           "val_arrays", "val_probabilities", "crf_refine", "TrainedRun", "crf_search",
           "crf_params", "before_after_crf", "table2", "table3", "crf_crossval", "fig5",
           "fig6_fig10", "PAPER_TABLE2", "PAPER_TABLE3", "TRIMAP_WIDTHS"]

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
    config = TrainConfig(val_every=VAL_EVERY, **VARIANTS[name])
    if quick:
        config = config.replace(**QUICK)
    if config.lr_policy == "step":                      # drop the rate after two thirds
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
        loaded = load_checkpoint(path)                       # read the file once
        history = loaded.config.get("history", {})
        if history.get("iteration") and history["iteration"][-1] >= config.max_iter:
            model, _ = model_from_loaded(loaded, path, device=device)
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


# ------------------------------------------------------------------ the jobs' experiments
# The paper's numbers (PASCAL VOC 2012 val, mean IOU %), printed beside ours for comparison
PAPER_TABLE2 = {"step": 62.25, "poly": 63.42}      # LargeFOV, batch 30, 6K iterations
PAPER_TABLE3 = {"largefov": (65.76, 69.84), "aspp-s": (66.98, 69.73),
                "aspp-l": (68.96, 71.57)}           # (before CRF, after CRF)
TRIMAP_WIDTHS = (0, 1, 2, 3, 4, 6, 8, 10, 15, 20)   # pixels; the paper's Fig. 10 goes to 40


def _no_progress(iterable, **kwargs):
    return iterable


Table2Result = namedtuple("Table2Result", "runs rows header text figure")
Table2Result.__doc__ = ("Table 2 in miniature: runs {name: TrainedRun}, the table's rows and "
                        "header, its text, and the learning-curve figure.")


def table2(quick=False, device=None, progress=None):
    """ASPP-L trained with the "poly" and the "step" policy for the same iterations (Table 2).

    Returns a :class:`Table2Result`; the figure shows loss, val mIoU and learning rate.
    """
    from .viz import training
    progress = progress or _no_progress
    runs = {name: trained(name, quick, device, show_progress=False)
            for name in progress(("aspp-l", "aspp-l-step"), desc="train")}
    rows = [[r.config.lr_policy, r.config.max_iter, r.config.batch_size,
             f"{100 * r.history['val'][-1]['mean_iou']:.2f}",
             f"{PAPER_TABLE2[r.config.lr_policy]:.2f}"] for r in runs.values()]
    header = ["policy", "iterations", "batch", "mIoU %", "paper (VOC) %"]
    text = ("Table 2 in miniature: learning-rate policy, tiny ASPP-L, synthetic shapes (val); "
            "paper: LargeFOV on VOC, batch 30, 6K iterations\n"
            + training.table_text(rows, header))
    fig = training.fig_training_curves({r.config.lr_policy: r.history for r in runs.values()},
                                       title="Table 2 in miniature: 'poly' vs 'step'")
    return Table2Result(runs, rows, header, text, fig)


Table3Result = namedtuple("Table3Result", "runs results crf rows header text curves predictions")
Table3Result.__doc__ = ("Table 3 in miniature: runs {name: TrainedRun}, results {name: "
                        ":func:`before_after_crf` dict}, the CRF parameters used, the table's "
                        "rows, header and text, the learning curves and the Fig. 8 grid.")


def table3(quick=False, device=None, progress=None):
    """LargeFOV vs ASPP-S vs ASPP-L on the synthetic shapes, before and after the CRF.

    All three are post-processed with the CRF parameters cross-validated on ASPP-L's output
    (:func:`crf_params`). Returns a :class:`Table3Result`.
    """
    from .viz import training
    progress = progress or _no_progress
    crf = crf_params(trained("aspp-l", quick, device, show_progress=False), quick)
    runs, results, rows = {}, {}, []
    for name in progress(("largefov", "aspp-s", "aspp-l"), desc="train"):
        runs[name] = run = trained(name, quick, device, show_progress=False)
        results[name] = res = before_after_crf(run, crf)
        rows.append([name, run.model.num_parameters(), f"{100 * res['miou_before']:.2f}",
                     f"{100 * res['miou_after']:.2f}", f"{run.history['time'][-1] / 60:.1f}",
                     "{:.2f} / {:.2f}".format(*PAPER_TABLE3[name])])
    header = ["model", "params", "mIoU % before CRF", "after CRF", "train min",
              "paper (VOC) before / after"]
    text = ("Table 3 in miniature: tiny DeepLab-VGG16 on the synthetic shapes (val)\n"
            + training.table_text(rows, header))
    curves = training.fig_training_curves({n: r.history for n, r in runs.items()},
                                          title="Table 3 in miniature: LargeFOV vs ASPP-S vs "
                                                "ASPP-L", show_lr=False)
    res = results["aspp-l"]
    predictions = training.fig_predictions(
        res["images"], res["labels"], {"LargeFOV": results["largefov"]["before"],
                                       "ASPP-L": res["before"]},
        suptitle="Fig. 8 in miniature: LargeFOV vs ASPP-L (before CRF)")
    return Table3Result(runs, results, crf, rows, header, text, curves, predictions)


CrfCrossvalResult = namedtuple("CrfCrossvalResult", "params search text")
CrfCrossvalResult.__doc__ = ("The CRF parameters chosen, the CrossValidationResult (None in "
                             "quick mode: no search) and the report's text.")


def crf_crossval(quick=False, device=None):
    """Coarse-to-fine search of w1, theta_alpha, theta_beta on val images of ASPP-L.

    Quick mode runs no search and reports :data:`CRF_PARAMS`. Returns a
    :class:`CrfCrossvalResult`.
    """
    from .viz.training import table_text
    run = trained("aspp-l", quick, device, show_progress=False)
    params = crf_params(run, quick)
    if quick:
        return CrfCrossvalResult(params, None, f"quick mode: no search, parameters {params}")
    result = crf_search(run)
    rows = [[r["stage"], r["w1"], r["theta_alpha"], r["theta_beta"], r["mean_iou"]]
            for r in result.table]
    text = (f"CRF cross-validation on 20 val images (w2 = {CRF_PARAMS['w2']}, "
            f"theta_gamma = {CRF_PARAMS['theta_gamma']})\n"
            f"no CRF: mIoU {result.baseline_mean_iou:.4f}; best: {result.best} -> "
            f"{result.best_mean_iou:.4f}\n\n"
            + table_text(rows, ["stage", "w1", "theta_alpha", "theta_beta", "mIoU"]))
    return CrfCrossvalResult(params, result, text)


Fig5Result = namedtuple("Fig5Result", "image label class_index class_name history params figure")
Fig5Result.__doc__ = ("Fig. 5's val image (H, W, 3), its label (H, W), the class shown, the "
                      "MeanFieldHistory (host arrays), the CRF parameters and the figure.")


def fig5(quick=False, device=None):
    """Score and belief maps of one class after each mean-field iteration (Fig. 5).

    The image is the val image (of the first 10) with the most foreground pixels; the class is
    its most frequent foreground class. Returns a :class:`Fig5Result`.
    """
    from .crf import dense_crf
    from .data.synthetic import CLASS_NAMES
    from .viz import crf as viz_crf
    run = trained("aspp-l", quick, device, show_progress=False)
    params = crf_params(run, quick)
    images, labels = val_arrays(run.config, 10)
    k = int(np.argmax([(lb > 0).sum() for lb in labels]))            # the most foreground
    probs = val_probabilities(run, images[k:k + 1])[0]
    fg = labels[k][(labels[k] > 0) & (labels[k] != 255)]
    cls = int(np.bincount(fg).argmax()) if fg.size else 1
    _, history = dense_crf(images[k], probs, return_history=True, **params)
    history = type(history)([backend.asnumpy(q) for q in history.Q],
                            [backend.asnumpy(s) for s in history.scores])
    fig = viz_crf.fig5_meanfield(images[k], history, cls, class_name=CLASS_NAMES[cls])
    return Fig5Result(images[k], labels[k], cls, CLASS_NAMES[cls], history, params, fig)


Fig6Fig10Result = namedtuple("Fig6Fig10Result", "results params curves shown text fig6 fig10")
Fig6Fig10Result.__doc__ = ("ASPP-L on the val set: the :func:`before_after_crf` dict, the CRF "
                           "parameters, the trimap curves {'before CRF', 'after CRF': "
                           "TrimapResult}, the indices of the images shown, Fig. 10's text, "
                           "and the two figures.")


def fig6_fig10(quick=False, device=None):
    """ASPP-L before and after the CRF on the val set: examples (Fig. 6), trimap (Fig. 10).

    The examples are the four val images with the most foreground. Returns a
    :class:`Fig6Fig10Result`.
    """
    from .metrics import trimap_accuracy
    from .viz import crf as viz_crf
    from .viz.training import table_text
    run = trained("aspp-l", quick, device, show_progress=False)
    params = crf_params(run, quick)
    res = before_after_crf(run, params)
    L = res["probs"].shape[1]
    curves = {name: trimap_accuracy(list(res[key]), list(res["labels"]), TRIMAP_WIDTHS, L)
              for name, key in (("before CRF", "before"), ("after CRF", "after"))}
    shown = np.argsort([-(lb > 0).sum() for lb in res["labels"]], kind="stable")[:4]
    fig6 = viz_crf.fig6_before_after(res["images"][shown], res["labels"][shown],
                                     res["before"][shown], res["after"][shown])
    fig10 = viz_crf.fig10_trimap(res["images"][shown[0]], res["labels"][shown[0]], curves)
    rows = [[int(w)] + [float(curves[n].mean_iou[i]) for n in curves]
            + [float(curves[n].pixel_accuracy[i]) for n in curves]
            for i, w in enumerate(TRIMAP_WIDTHS)]
    text = (f"Fig. 10: trimap evaluation of ASPP-L on {len(res['images'])} val images, CRF "
            f"{params}; whole image: mIoU {res['miou_before']:.4f} before, "
            f"{res['miou_after']:.4f} after the CRF\n"
            + table_text(rows, ["width", "mIoU before", "mIoU after", "acc before",
                                "acc after"]))
    return Fig6Fig10Result(res, params, curves, shown, text, fig6, fig10)
