"""Choosing the CRF's parameters by cross-validation, coarse to fine (DeepLab v2, Sec. 4.1).

The paper: "we search for the best values of w1, sigma_alpha and sigma_beta by cross-validation on
100 images from val ... w2 = 3 and sigma_gamma = 3 [fixed] ... w1 in [3 : 6], sigma_alpha in
[30 : 10 : 100] and sigma_beta in [3 : 6]" with a "coarse-to-fine search scheme". The full grid
is 4 x 8 x 4 = 128 settings; here stage 1 ("coarse") tries every ``coarse_step``-th value on each
axis (2 x 4 x 2 = 16 settings with the defaults) and stage 2 ("fine") every value within one
coarse step of the best coarse setting (at most 3 x 3 x 3 = 27, fewer at the grid's edges), so
about 40 settings are run instead of 128. The score is the mean IOU of ONE confusion matrix
accumulated over all the samples (:mod:`minideeplab.metrics`), as the paper evaluates.

Work is shared where the maths allows: the unary and the smoothness kernel do not depend on the
searched parameters (built once per sample), the lattice of the appearance kernel depends on
(theta_alpha, theta_beta) only (built once per sample and pair, reused for every w1).
"""
import collections
import itertools

from .. import backend
from ..checks import check_choice, check_int
from ..errors import ArgumentError
from ..metrics import ConfusionMatrix
from ..timing import check_progress, progress_bar
from .dense import (CRF_METHODS, CRF_SETTINGS, bilateral_features, check_crf_inputs,
                    check_grid, make_filter, spatial_features, unary_from_probs)
from .meanfield import NORMALIZATIONS, mean_field, normalized_filter

__all__ = ["cross_validate", "CrossValidationResult", "PAPER_GRID"]

PAPER_GRID = {"w1": (3.0, 4.0, 5.0, 6.0),
              "theta_alpha": tuple(float(a) for a in range(30, 101, 10)),
              "theta_beta": (3.0, 4.0, 5.0, 6.0)}

CrossValidationResult = collections.namedtuple(
    "CrossValidationResult", "best best_mean_iou baseline_mean_iou table")
CrossValidationResult.__doc__ = """best: dict of the five CRF parameters (w1, theta_alpha,
theta_beta, w2, theta_gamma) with the highest mean IOU; best_mean_iou: its score;
baseline_mean_iou: the score of argmax(probs) without CRF; table: one dict per setting tried
(w1, theta_alpha, theta_beta, mean_iou, pixel_accuracy, stage "coarse" or "fine"), in the order
they were run."""


def _coarse_to_fine(axes, coarse_step):
    """Index sets: the coarse grid, then a function giving the fine grid around a coarse index."""
    coarse = [range(0, len(values), coarse_step) for values in axes]

    def fine(center):
        return [range(max(0, c - coarse_step + 1), min(len(values), c + coarse_step))
                for c, values in zip(center, axes)]
    return coarse, fine


def cross_validate(samples, *, w1_values=PAPER_GRID["w1"],
                   theta_alpha_values=PAPER_GRID["theta_alpha"],
                   theta_beta_values=PAPER_GRID["theta_beta"],
                   w2=CRF_SETTINGS["default"]["w2"],
                   theta_gamma=CRF_SETTINGS["default"]["theta_gamma"],
                   iterations=10, method="lattice", normalization="symmetric", coarse_step=2,
                   ignore_index=255, progress=None):
    """Coarse-to-fine grid search of (w1, theta_alpha, theta_beta) maximising the mean IOU.

    Parameters
    ----------
    samples : list of (image, probs, label) triples: image (H, W, 3) uint8, probs (L, H, W)
        float (the network's softmax at image size), label (H, W) integer in [0, L) or
        ``ignore_index``; sizes may differ between samples, L may not. A NumPy label with
        CuPy image and probs is uploaded once; a CuPy label with NumPy image and probs is an
        error
    w1_values, theta_alpha_values, theta_beta_values : the grid (default: the paper's)
    w2, theta_gamma : the fixed smoothness kernel (paper: 3 and 3)
    iterations, method, normalization : as :func:`minideeplab.crf.dense_crf`
    coarse_step : int >= 1; 1 runs the full grid in one stage
    progress : a bar per stage over its (theta_alpha, theta_beta) groups: True, False/None or
        a callable (:func:`minideeplab.timing.progress_bar`)

    Returns
    -------
    CrossValidationResult(best, best_mean_iou, baseline_mean_iou, table)
    """
    fn = "cross_validate"
    check_progress(fn, progress)
    samples = list(samples)
    if not samples:
        raise ArgumentError(f"{fn}: samples is empty; give (image, probs, label) triples")
    for k, sample in enumerate(samples):
        if len(sample) != 3:
            raise ArgumentError(f"{fn}: samples[{k}] must be an (image, probs, label) triple")
        check_crf_inputs(f"{fn} (samples[{k}])", sample[0], sample[1], w2=w2,
                         theta_gamma=theta_gamma, iterations=iterations)
        if tuple(sample[2].shape) != tuple(sample[0].shape[:2]):
            raise ArgumentError(f"{fn}: samples[{k}]: label.shape={tuple(sample[2].shape)} does "
                                f"not match image.shape={tuple(sample[0].shape)}")
        if backend.is_gpu_array(sample[2]) and not backend.is_gpu_array(sample[0]):
            raise ArgumentError(f"{fn}: samples[{k}]: label is a CuPy (GPU) array but image and "
                                "probs are NumPy arrays; put all three on one device "
                                "(minideeplab.backend.to_device)")
    L = samples[0][1].shape[0]
    if any(s[1].shape[0] != L for s in samples):
        raise ArgumentError(f"{fn}: every probs must have the same number of labels L = {L}")
    check_choice(fn, "method", method, CRF_METHODS)
    check_choice(fn, "normalization", normalization, NORMALIZATIONS)
    coarse_step = check_int(fn, "coarse_step", coarse_step, 1)
    axes = check_grid(fn, method, [s[1].shape[1:] for s in samples], w1_values,
                      theta_alpha_values, theta_beta_values, w2, theta_gamma)

    # per sample, independent of the searched parameters: unary, smoothness message, baseline
    prepared = []
    baseline = ConfusionMatrix(L, ignore_index)
    for image, probs, label in samples:
        xp = backend.get_array_module(image, probs)
        H, W = label.shape
        smooth = []
        if w2 != 0:
            filt = make_filter(spatial_features(H, W, theta_gamma, xp), method)
            smooth = [normalized_filter(filt, normalization, w2)]
        label = xp.asarray(label)                 # on the samples' device, once
        prepared.append((image, unary_from_probs(probs), smooth, label))
        baseline.update(probs.argmax(axis=0), label)

    scores = {}                                   # (i, j, k) grid index -> (miou, accuracy)
    table = []

    def run(indices, stage):
        todo = sorted(set(indices) - set(scores))
        by_lattice = [(jk, list(group)) for jk, group in         # same (alpha, beta)
                      itertools.groupby(todo, key=lambda ijk: ijk[1:])]
        results = {ijk: ConfusionMatrix(L, ignore_index) for ijk in todo}
        for (j, k), group in progress_bar(progress, by_lattice, desc=f"CRF search ({stage})"):
            for image, unary, smooth, label in prepared:
                lattice = make_filter(bilateral_features(image, axes[1][j], axes[2][k]), method)
                for ijk in group:
                    bilateral = normalized_filter(lattice, normalization, axes[0][ijk[0]])
                    Q = mean_field(unary, [bilateral] + smooth, iterations)   # (N, L)
                    results[ijk].update(Q.argmax(axis=1).reshape(label.shape), label)
        for ijk in todo:
            cm = results[ijk]
            scores[ijk] = (cm.mean_iou(), cm.pixel_accuracy())
            table.append({"w1": axes[0][ijk[0]], "theta_alpha": axes[1][ijk[1]],
                          "theta_beta": axes[2][ijk[2]], "mean_iou": scores[ijk][0],
                          "pixel_accuracy": scores[ijk][1], "stage": stage})

    def best_index():
        return max(scores, key=lambda ijk: (scores[ijk][0], scores[ijk][1]))

    coarse, fine = _coarse_to_fine(axes, coarse_step)
    run(itertools.product(*coarse), "coarse")
    if coarse_step > 1:
        run(itertools.product(*fine(best_index())), "fine")
    i, j, k = best_index()
    best = {"w1": axes[0][i], "theta_alpha": axes[1][j], "theta_beta": axes[2][k],
            "w2": float(w2), "theta_gamma": float(theta_gamma)}
    return CrossValidationResult(best, scores[(i, j, k)][0], baseline.mean_iou(), table)
