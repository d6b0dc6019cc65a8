"""The fully connected CRF on the synthetic shapes: its parameters, Figs. 5, 6 and 10.

DeepLab v2, Sec. 4.1: the CRF's parameters are cross-validated on val images, coarse to fine
(:func:`minideeplab.crf.cross_validate`). Here the search runs on the first
:data:`CRF_VAL_IMAGES` val images of the trained ASPP-L (:mod:`.variants`), and its result is
cached explicitly: a JSON file beside the run's checkpoint (:func:`crf_search`), so the
reproduce jobs and the CRF tutorial read the same parameters and search only once.

=====================  ================================================  ============
function               what                                              tutorial
=====================  ================================================  ============
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

from .. import backend
from ..crf import CrossValidationResult, cross_validate, dense_crf
from ..data.synthetic import CLASS_NAMES
from ..fileio import atomic_write_text
from ..metrics import ConfusionMatrix, trimap_accuracy
from .figures import crf as crf_figures
from .tables import table_text
from .variants import run_folder, trained, val_arrays, val_probabilities

__all__ = ["CRF_PARAMS", "CRF_GRID", "CRF_VAL_IMAGES", "TRIMAP_WIDTHS", "crf_refine",
           "crf_search", "crf_params", "BeforeAfterCRF", "before_after_crf",
           "CrfCrossvalResult", "crf_crossval", "Fig5Result", "fig5", "Fig6Fig10Result",
           "fig6_fig10", "trimap_table"]

# The CRF's parameters for the synthetic shapes (w1, theta_alpha, theta_beta, w2, theta_gamma);
# quick mode uses them as they are, full runs cross-validate w1, theta_alpha and theta_beta.
CRF_PARAMS = dict(w1=4.0, theta_alpha=20.0, theta_beta=10.0, w2=3.0, theta_gamma=1.0)

# Search grid for the CRF on the synthetic images. The paper's (Sec. 4.1) is w1 in 3..6,
# theta_alpha 30..100, theta_beta 3..6 on ~500-pixel VOC images: theta_alpha, a distance in
# pixels, is scaled to our ~100-pixel images; theta_beta is a distance between colours
# (intensity levels), which image size does not change: its range is widened by choice
CRF_GRID = dict(w1_values=(3.0, 4.0, 5.0, 6.0), theta_alpha_values=(5.0, 10.0, 15.0, 20.0, 30.0),
                theta_beta_values=(5.0, 10.0, 15.0, 20.0))

CRF_VAL_IMAGES = 20     # val images of the cross-validation (the paper: 100 VOC val images)
FIG5_CANDIDATES = 10    # Fig. 5 shows the most foreground of the first 10 val images
FIG6_IMAGES = 4         # Fig. 6 shows the 4 val images with the most foreground
TRIMAP_WIDTHS = (0, 1, 2, 3, 4, 6, 8, 10, 15, 20)   # pixels; the paper's Fig. 10 goes to 40


def crf_refine(images, probs, params=None, **kwargs):
    """Dense-CRF marginals (n, L, H, W), a host array, for each image (lattice; ``params``:
    CRF_PARAMS). The CRF runs on the device of ``probs`` (the images are moved there)."""
    params = dict(CRF_PARAMS if params is None else params, **kwargs)
    xp = backend.get_array_module(probs)
    images = backend.to_device(np.asarray(images), backend.device_of(probs))
    return backend.asnumpy(xp.stack([dense_crf(im, p, **params) for im, p in zip(images, probs)]))


def _search_paths(run, n):
    """Where a search is read (beside the run's checkpoint or shipped network, else in the
    run's cache folder) and where it is written (the cache folder: never into the package)."""
    what = dict(n=n, grid=CRF_GRID, w2=CRF_PARAMS["w2"], theta_gamma=CRF_PARAMS["theta_gamma"])
    key = hashlib.sha1(json.dumps(what, sort_keys=True).encode()).hexdigest()[:12]
    name = f"crf_search-{key}.json"
    written = os.path.join(run_folder(run.name, run.config), name)
    beside = os.path.join(os.path.dirname(run.path), name)
    return [beside, written] if beside != written else [written], written


def crf_search(run, n=CRF_VAL_IMAGES, *, cache=True, progress=None):
    """Cross-validate the CRF (coarse to fine) on the first ``n`` val images of ``run``.

    With ``cache`` the result is read from a JSON file beside the run's checkpoint (or shipped
    network: :mod:`.shipped`), or from the run's cache folder, where a new search is written;
    the file is keyed by ``n``, :data:`CRF_GRID` and the fixed ``w2``, ``theta_gamma``; delete
    it to search again. ``progress``: a bar over the search
    (:func:`minideeplab.progress.progress_bar`). Returns a
    :class:`minideeplab.crf.CrossValidationResult`.
    """
    readable, path = _search_paths(run, n)
    found = next((p for p in readable if os.path.exists(p)), None) if cache else None
    if found:
        with open(found) as f:
            return CrossValidationResult(**json.load(f))
    images, labels = val_arrays(run.config, n)
    probs = val_probabilities(run, images, on_host=False)   # the search runs on the model's
    images = backend.to_device(images, backend.device_of(probs))              # device
    result = cross_validate(list(zip(images, probs, labels)), w2=CRF_PARAMS["w2"],
                            theta_gamma=CRF_PARAMS["theta_gamma"], progress=progress,
                            **CRF_GRID)
    if cache:                                   # atomic: never a half-written file to read
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write_text(path, json.dumps(result._asdict()))
    return result


def crf_params(run, quick=False, progress=None):
    """The CRF parameters to use with ``run``: cross-validated (full), CRF_PARAMS (quick)."""
    return dict(CRF_PARAMS) if quick else dict(crf_search(run, progress=progress).best)


BeforeAfterCRF = namedtuple("BeforeAfterCRF", "images labels probs before after miou_before "
                                              "miou_after")
BeforeAfterCRF.__doc__ = ("A val-set evaluation without and with the CRF: images (n, H, W, 3), "
                          "labels (n, H, W), softmax probs (n, L, H, W), the label maps "
                          "before and after the CRF (n, H, W), and the mean IOU of each (one "
                          "confusion matrix over the n images).")


def before_after_crf(run, params, n=None):
    """Val-set evaluation of ``run`` without and with the CRF; returns :class:`BeforeAfterCRF`."""
    images, labels = val_arrays(run.config, n)
    probs = val_probabilities(run, images, on_host=False)   # on the model's device, where the
    after = crf_refine(images, probs, params).argmax(axis=1)   # CRF runs too
    probs = backend.asnumpy(probs)
    before = probs.argmax(axis=1)
    L = probs.shape[1]
    return BeforeAfterCRF(images, labels, probs, before, after,
                          ConfusionMatrix(L).update(before, labels).mean_iou(),
                          ConfusionMatrix(L).update(after, labels).mean_iou())


CrfCrossvalResult = namedtuple("CrfCrossvalResult", "params search text")
CrfCrossvalResult.__doc__ = ("The CRF parameters chosen, the CrossValidationResult (None in "
                             "quick mode: no search) and the report's text.")


def crf_crossval(quick=False, device=None, progress=None):
    """Coarse-to-fine search of w1, theta_alpha, theta_beta on val images of ASPP-L.

    Quick mode runs no search and reports :data:`CRF_PARAMS`. ``progress``: bars for the
    training and the search (:func:`minideeplab.progress.progress_bar`). Returns a
    :class:`CrfCrossvalResult`.
    """
    run = trained("aspp-l", quick, device, progress=progress)
    params = crf_params(run, quick, progress)
    if quick:
        return CrfCrossvalResult(params, None, f"quick mode: no search, parameters {params}")
    result = crf_search(run, progress=progress)
    rows = [[r["stage"], r["w1"], r["theta_alpha"], r["theta_beta"], r["mean_iou"]]
            for r in result.table]
    text = (f"CRF cross-validation on {CRF_VAL_IMAGES} val images (w2 = {CRF_PARAMS['w2']}, "
            f"theta_gamma = {CRF_PARAMS['theta_gamma']})\n"
            f"no CRF: mIoU {result.baseline_mean_iou:.4f}; best: {result.best} -> "
            f"{result.best_mean_iou:.4f}\n\n"
            + table_text(rows, ["stage", "w1", "theta_alpha", "theta_beta", "mIoU"]))
    return CrfCrossvalResult(params, result, text)


Fig5Result = namedtuple("Fig5Result", "image label class_index class_name history params figure")
Fig5Result.__doc__ = ("Fig. 5's val image (H, W, 3), its label (H, W), the class shown, the "
                      "MeanFieldHistory (host arrays), the CRF parameters and the figure.")


def fig5(quick=False, device=None, progress=None):
    """Score and belief maps of one class after each mean-field iteration (Fig. 5).

    The image is the val image (of the first :data:`FIG5_CANDIDATES`) with the most foreground
    pixels; the class is its most frequent foreground class. Returns a :class:`Fig5Result`.
    """
    run = trained("aspp-l", quick, device, progress=progress)
    params = crf_params(run, quick, progress)
    images, labels = val_arrays(run.config, FIG5_CANDIDATES)
    k = int(np.argmax([(lb > 0).sum() for lb in labels]))            # the most foreground
    probs = val_probabilities(run, images[k:k + 1], on_host=False)[0]   # the model's device
    fg = labels[k][(labels[k] > 0) & (labels[k] != 255)]
    cls = int(np.bincount(fg).argmax()) if fg.size else 1
    image = backend.to_device(images[k], backend.device_of(probs))
    _, history = dense_crf(image, probs, return_history=True, **params)
    history = type(history)([backend.asnumpy(q) for q in history.Q],
                            [backend.asnumpy(s) for s in history.scores])
    fig = crf_figures.fig5_meanfield(images[k], history, cls, class_name=CLASS_NAMES[cls])
    return Fig5Result(images[k], labels[k], cls, CLASS_NAMES[cls], history, params, fig)


Fig6Fig10Result = namedtuple("Fig6Fig10Result", "results params curves shown text fig6 fig10")
Fig6Fig10Result.__doc__ = ("ASPP-L on the val set: the :class:`BeforeAfterCRF` evaluation, the "
                           "CRF parameters, the trimap curves {'before CRF', 'after CRF': "
                           "TrimapResult}, the indices of the images shown, Fig. 10's text, "
                           "and the two figures.")


def fig6_fig10(quick=False, device=None, progress=None):
    """ASPP-L before and after the CRF on the val set: examples (Fig. 6), trimap (Fig. 10).

    The examples are the :data:`FIG6_IMAGES` val images with the most foreground. Returns a
    :class:`Fig6Fig10Result`.
    """
    run = trained("aspp-l", quick, device, progress=progress)
    params = crf_params(run, quick, progress)
    res = before_after_crf(run, params)
    L = res.probs.shape[1]
    curves = {name: trimap_accuracy(list(maps), list(res.labels), TRIMAP_WIDTHS, L)
              for name, maps in (("before CRF", res.before), ("after CRF", res.after))}
    shown = np.argsort([-(lb > 0).sum() for lb in res.labels], kind="stable")[:FIG6_IMAGES]
    fig6 = crf_figures.fig6_before_after(res.images[shown], res.labels[shown],
                                         res.before[shown], res.after[shown])
    fig10 = crf_figures.fig10_trimap(res.images[shown[0]], res.labels[shown[0]], curves)
    text = (f"Fig. 10: trimap evaluation of ASPP-L on {len(res.images)} val images, CRF "
            f"{params}; whole image: mIoU {res.miou_before:.4f} before, "
            f"{res.miou_after:.4f} after the CRF\n" + trimap_table(curves, TRIMAP_WIDTHS))
    return Fig6Fig10Result(res, params, curves, shown, text, fig6, fig10)


def trimap_table(curves, widths):
    """Fig. 10's numbers as a text table: one row per band width, mIoU and pixel accuracy of
    each curve (``curves``: name -> :func:`~minideeplab.metrics.trimap_accuracy` result)."""
    rows = [[int(w)] + [float(curves[n].mean_iou[i]) for n in curves]
            + [float(curves[n].pixel_accuracy[i]) for n in curves]
            for i, w in enumerate(widths)]
    return table_text(rows, ["width"] + [f"mIoU {n[:-4]}" for n in curves]
                      + [f"acc {n[:-4]}" for n in curves])
