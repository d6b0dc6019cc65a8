"""Mean-field inference for the fully connected CRF, written once for any Gaussian filter.

Kraehenbuehl & Koltun 2011, Sec. 3 (Algorithm 1), as their C++ code (``DenseCRF::inference``)
runs it, with Potts compatibility ``mu(l, l') = [l != l']``:

    Q = softmax(-U)
    repeat:  scores = -U + sum_m w_m * Kn_m Q        (message passing + compatibility)
             Q = softmax(scores)                      (local update, normalise)

Potts gives ``-w_m sum_{l' != l} (Kn_m Q)_{l'} = w_m (Kn_m Q)_l - w_m sum_{l'} (Kn_m Q)_{l'}``; the
last term is the same for every label and cancels in the softmax, which is why only the filtered
Q of label l itself appears. ``Kn_m`` is kernel m normalised (:func:`normalized_filter`).

A *filter* is any object with ``filt(V)``, V (N, C) -> (N, C), the unnormalised ``K V``, and
``filt.with_scales(left, right)``, which returns a filter computing ``diag(left) K diag(right) V``.
:class:`~minideeplab.crf.naive.NaiveFilter` and :class:`~minideeplab.crf.lattice.LatticeFilter`
share nothing else.

Shapes: N pixels (row-major, ``i = y*W + x``), L labels; U, Q and scores are (N, L) float32.
"""
from collections import namedtuple

from .. import backend

__all__ = ["NORMALIZATIONS", "normalized_filter", "softmax", "mean_field", "MeanFieldHistory"]

NORMALIZATIONS = ("symmetric", "after", "before", "none")
_TINY = 1e-20   # the reference code's guard: 1 / sqrt(n + 1e-20)

MeanFieldHistory = namedtuple("MeanFieldHistory", "Q scores")
MeanFieldHistory.__doc__ = """Lists of length iterations + 1: ``Q[t]`` and ``scores[t]`` after t
iterations (t = 0 is the unary alone: ``scores[0] = -U = log P``, ``Q[0] = softmax(-U)``)."""


def normalized_filter(filt, normalization, weight=1.0):
    """Fold the kernel normalisation and the weight into ``filt``: returns ``w * Kn``.

    With the row sums ``n = K 1`` and ``D = diag(n + 1e-20)`` (the reference code's
    ``DenseKernel::initLattice``; ``n`` is computed with the same filter, so a global constant in
    an approximate filter cancels in every mode but "none"):

    ``"symmetric"`` (reference default)  ``w D^-1/2 K D^-1/2 Q``
    ``"after"``                          ``w D^-1 K Q`` (each message a weighted average)
    ``"before"``                         ``w K D^-1 Q``
    ``"none"``                           ``w K Q`` (the raw filter; the exact kernel's and the
                                         lattice's differ by a global factor, about 2 for the
                                         5-D lattice and 1.15 for the 2-D one)

    Parameters
    ----------
    filt : a filter (see the module docstring) over N points
    normalization : one of :data:`NORMALIZATIONS`
    weight : float, the kernel weight w (w1 or w2)
    """
    xp = filt.xp
    if normalization == "none":
        return filt.with_scales(xp.full(filt.n_points, weight, dtype=xp.float64), None)
    ones = xp.ones((filt.n_points, 1), dtype=xp.float32)
    n = filt(ones)[:, 0].astype(xp.float64) + _TINY                    # (N,) row sums K 1
    if normalization == "symmetric":
        s = 1.0 / xp.sqrt(n)
        return filt.with_scales(weight * s, s)
    if normalization == "after":
        return filt.with_scales(weight / n, None)
    if normalization == "before":
        return filt.with_scales(xp.full(filt.n_points, weight, dtype=xp.float64), 1.0 / n)
    raise ValueError(f"normalized_filter: unknown normalization {normalization!r}; "
                     f"choose one of {NORMALIZATIONS}")


def softmax(scores, out=None):
    """Softmax over labels (axis 1) of (N, L) scores, into ``out`` (which may be ``scores``).

    Any per-row shift leaves the softmax unchanged. The usual ``max_l s`` per pixel costs a slow
    reduction over 21 labels per row; one global shift, the largest score of all, costs a fast
    flat reduction and already rules out overflow. Rows whose scores all lie so far below it that
    their exponentials underflow to 0 (possible only with huge messages) are redone with their
    own maximum.
    """
    xp = backend.get_array_module(scores)
    out = xp.subtract(scores, scores.max(), out=out)
    xp.exp(out, out=out)
    z = out.sum(axis=1)                                                 # (N,)
    bad = ~(z > 0)
    if bool(bad.any()):
        rows = xp.nonzero(bad)[0]
        s = scores[rows]
        out[rows] = xp.exp(s - s.max(axis=1, keepdims=True))
        z[rows] = out[rows].sum(axis=1)
    out *= (1.0 / z)[:, None]
    return out


def mean_field(unary, filters, iterations, return_history=False):
    """Run ``iterations`` mean-field updates of the fully connected CRF.

    Parameters
    ----------
    unary : (N, L) float32, U = -log P (NumPy or CuPy)
    filters : list of filters, each already weighted and normalised (:func:`normalized_filter`),
        so that the message of kernel m is ``filters[m](Q)``, (N, L)
    iterations : int >= 0
    return_history : also return a :class:`MeanFieldHistory` of (N, L) copies

    Returns
    -------
    Q : (N, L) float32, the approximate marginals after the last iteration
    history : MeanFieldHistory (only with ``return_history=True``)
    """
    xp = backend.get_array_module(unary)
    neg_unary = -unary
    scores = neg_unary.copy()                 # buffers allocated once, reused every iteration
    Q = softmax(scores)
    history = MeanFieldHistory([Q.copy()], [scores.copy()]) if return_history else None
    for _ in range(iterations):
        xp.copyto(scores, neg_unary)
        for filt in filters:                  # message passing, one product chain per kernel
            scores += filt(Q)
        softmax(scores, out=Q)
        if history is not None:
            history.Q.append(Q.copy())
            history.scores.append(scores.copy())
    return (Q, history) if return_history else Q
