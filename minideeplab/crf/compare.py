"""Naive (exact) vs lattice (approximate) mean field on one image: agreement and time.

The lattice (Adams et al. 2010) replaces the exact O(N^2) Gaussian sums by splat-blur-slice in
O(N); :func:`compare_methods` runs :func:`~minideeplab.crf.dense_crf` both ways on the same
input and reports how far the marginals and the labels move (the tutorial 07 table and plot).
"""
from collections import namedtuple

from .. import backend
from ..timing import median_time
from .dense import dense_crf

__all__ = ["compare_methods", "MethodComparison"]

MethodComparison = namedtuple("MethodComparison", "pixels agreement max_abs_diff mean_abs_diff "
                                                  "naive_seconds lattice_seconds Q_naive "
                                                  "Q_lattice")
MethodComparison.__doc__ = """pixels: N = H*W; agreement: fraction of pixels whose argmax label
is the same; max_abs_diff / mean_abs_diff: of the marginals Q (L, H, W); naive_seconds /
lattice_seconds: median wall time of one dense_crf call (filters built inside); Q_naive,
Q_lattice: the (L, H, W) marginals, host arrays."""


def compare_methods(image, probs, *, repeats=1, **params):
    """Run ``dense_crf(image, probs, method=...)`` with "naive" and with "lattice".

    Parameters
    ----------
    image : (H, W, 3) uint8; probs : (L, H, W) softmax, as :func:`dense_crf`
    repeats : timed calls per method, the median is reported (the naive filter is O(N^2):
        keep images small, N up to a few thousand pixels). The lattice gets one untimed
        warm-up call first (it is cheap, and the first call in a process pays one-off costs).
    **params : dense_crf's parameters (w1, theta_alpha, theta_beta, w2, theta_gamma,
        iterations, normalization)

    Returns
    -------
    MethodComparison
    """
    xp = backend.get_array_module(image, probs)
    out = {}
    seconds = {}
    for method in ("naive", "lattice"):
        def run(method=method):
            out[method] = dense_crf(image, probs, method=method, **params)
        seconds[method] = median_time(run, xp, repeats=repeats,
                                      warmup=1 if method == "lattice" else 0)
    qn, ql = backend.asnumpy(out["naive"]), backend.asnumpy(out["lattice"])
    diff = abs(qn - ql)
    agreement = float((qn.argmax(axis=0) == ql.argmax(axis=0)).mean())
    return MethodComparison(qn.shape[1] * qn.shape[2], agreement, float(diff.max()),
                            float(diff.mean()), seconds["naive"], seconds["lattice"], qn, ql)
