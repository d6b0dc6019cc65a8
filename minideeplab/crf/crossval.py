"""Choosing the CRF's parameters by cross-validation, coarse to fine (DeepLab v2, Sec. 4.1).

The paper: "we search for the best values of w1, sigma_alpha and sigma_beta by cross-validation on
100 images from val ... w2 = 3 and sigma_gamma = 3 [fixed] ... w1 in [3 : 6], sigma_alpha in
[30 : 10 : 100] and sigma_beta in [3 : 6]" with a "coarse-to-fine search scheme". The full grid
is 4 x 8 x 4 = 128 settings; here stage 1 ("coarse") tries every ``coarse_step``-th value on each
axis (2 x 4 x 2 = 16 settings with the defaults) and stage 2 ("fine") every value within one
coarse step of the best coarse setting (at most 3 x 3 x 3 = 27, fewer at the grid's edges), so
about 40 settings are run instead of 128. The score is the mean IOU of ONE confusion matrix
accumulated over all the samples (:mod:`minideeplab.metrics`), as the paper evaluates.

The CRF is assembled from :func:`~minideeplab.crf.dense_crf`'s pieces (the unary, the two
kernels' filters, the mean field), with the work shared where the maths allows: the unary and
the smoothness kernel do not depend on the searched parameters (built once per sample), the
appearance kernel's filter depends on (theta_alpha, theta_beta) only (built once per sample
and pair, reused for every w1).
"""
import collections
import itertools

from .. import backend
from ..checks import check_choice, check_int
from ..errors import ArgumentError
from ..metrics import ConfusionMatrix
from ..progress import check_progress, progress_bar
from .dense import (CRF_METHODS, CRF_SETTINGS, appearance_filter, check_crf_inputs,
                    check_grid, smoothness_filter, unary_from_probs)
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
        a callable (:func:`minideeplab.progress.progress_bar`)

    Returns
    -------
    CrossValidationResult(best, best_mean_iou, baseline_mean_iou, table)
    """
    fn = "cross_validate"
    check_progress(fn, progress)
    samples = _check_samples(fn, samples, w2, theta_gamma, iterations)
    check_choice(fn, "method", method, CRF_METHODS)
    check_choice(fn, "normalization", normalization, NORMALIZATIONS)
    coarse_step = check_int(fn, "coarse_step", coarse_step, 1)
    axes = check_grid(fn, method, [s[1].shape[1:] for s in samples], w1_values,
                      theta_alpha_values, theta_beta_values, w2, theta_gamma)
    search = _GridSearch(samples, axes, w2, theta_gamma, iterations, method, normalization,
                         ignore_index, progress)
    coarse, fine = _coarse_to_fine(axes, coarse_step)
    search.run(itertools.product(*coarse), "coarse")
    if coarse_step > 1:
        search.run(itertools.product(*fine(search.best_index())), "fine")
    i, j, k = best = search.best_index()
    settings = {"w1": axes[0][i], "theta_alpha": axes[1][j], "theta_beta": axes[2][k],
                "w2": float(w2), "theta_gamma": float(theta_gamma)}
    return CrossValidationResult(settings, search.scores[best][0],
                                 search.baseline.mean_iou(), search.table)


def _check_samples(fn, samples, w2, theta_gamma, iterations):
    """The (image, probs, label) triples as a list, each checked as dense_crf checks its
    inputs; ArgumentError naming the sample otherwise."""
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
    return samples


class _GridSearch:
    """The search's state: the samples prepared once, the score of each setting tried.

    ``prepared`` holds, per sample, what does not depend on the searched parameters (the
    image, the unary, the smoothness kernel's filter, the label on the samples' device);
    ``scores`` maps a grid index (i, j, k) of (w1, theta_alpha, theta_beta) to its (mean IOU,
    pixel accuracy), and ``table`` lists every setting tried, in order.
    """

    def __init__(self, samples, axes, w2, theta_gamma, iterations, method, normalization,
                 ignore_index, progress):
        self.axes, self.iterations, self.method = axes, iterations, method
        self.normalization, self.ignore_index, self.progress = normalization, ignore_index, progress
        self.num_labels = samples[0][1].shape[0]
        self.baseline = ConfusionMatrix(self.num_labels, ignore_index)
        self.prepared, self.scores, self.table = [], {}, []
        for image, probs, label in samples:
            xp = backend.get_array_module(image, probs)
            H, W = label.shape
            smooth = [normalized_filter(smoothness_filter(H, W, theta_gamma, method, xp),
                                        normalization, w2)] if w2 != 0 else []
            label = xp.asarray(label)                 # on the samples' device, once
            self.prepared.append((image, unary_from_probs(probs), smooth, label))
            self.baseline.update(probs.argmax(axis=0), label)

    def run(self, indices, stage):
        """Score the settings ``indices`` not tried yet. The appearance kernel's filter depends
        on (theta_alpha, theta_beta) only: built once per sample and pair, reused for every
        w1 of the pair."""
        todo = sorted(set(indices) - set(self.scores))
        by_filter = [(jk, list(group)) for jk, group in
                     itertools.groupby(todo, key=lambda ijk: ijk[1:])]
        results = {ijk: ConfusionMatrix(self.num_labels, self.ignore_index) for ijk in todo}
        for (j, k), group in progress_bar(self.progress, by_filter,
                                          desc=f"CRF search ({stage})"):
            for image, unary, smooth, label in self.prepared:
                appearance = appearance_filter(image, self.axes[1][j], self.axes[2][k],
                                               self.method)
                for ijk in group:
                    filters = [normalized_filter(appearance, self.normalization,
                                                 self.axes[0][ijk[0]])] + smooth
                    Q = mean_field(unary, filters, self.iterations)             # (N, L)
                    results[ijk].update(Q.argmax(axis=1).reshape(label.shape), label)
        for ijk in todo:
            self.scores[ijk] = (results[ijk].mean_iou(), results[ijk].pixel_accuracy())
            self.table.append({"w1": self.axes[0][ijk[0]], "theta_alpha": self.axes[1][ijk[1]],
                               "theta_beta": self.axes[2][ijk[2]],
                               "mean_iou": self.scores[ijk][0],
                               "pixel_accuracy": self.scores[ijk][1], "stage": stage})

    def best_index(self):
        """The grid index with the highest mean IOU (then pixel accuracy)."""
        return max(self.scores, key=lambda ijk: self.scores[ijk])
