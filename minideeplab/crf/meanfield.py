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

import numpy as np

from .. import backend
from ..errors import ArgumentError
from .parallel import run_all, thread_pool

__all__ = ["NORMALIZATIONS", "normalized_filter", "softmax", "mean_field", "MeanFieldHistory",
           "label_blocks", "memory_blocks", "BLOCK_BYTES"]

NORMALIZATIONS = ("symmetric", "after", "before", "none")
_TINY = 1e-20   # the reference code's guard: 1 / sqrt(n + 1e-20)
BLOCK_BYTES = 2 ** 27   # at most 128 MiB for the filters' intermediate arrays in flight
CACHE_BYTES = 2 ** 24   # CPU: label blocks of at most 16 MiB per lattice (vertices x labels)
NO_SHIFT = 60.0         # CPU softmax: scores within +-60 are exponentiated without a shift

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
    raise ArgumentError(f"normalized_filter: unknown normalization {normalization!r}; "
                        f"choose one of {NORMALIZATIONS}")


def memory_blocks(rows, L):
    """How many label blocks keep two (rows, L_b) float32 arrays within :data:`BLOCK_BYTES`."""
    return max(1, -(-2 * 4 * rows * L // BLOCK_BYTES))


def label_blocks(L, n, step=1):
    """Split L labels into at most n contiguous blocks (slices) of near-equal size; with
    ``step`` > 1, every block but the last is ``ceil(L / n)`` rounded up to a multiple of step
    when that still gives n blocks (21 labels, n = 2, step 4: 12 + 9 instead of 10 + 11)."""
    n = max(1, min(int(n), L))
    width = -(-L // n)
    rounded = -(-width // step) * step
    if step > 1 and n > 1 and width >= step and -(-L // rounded) == n:
        return [slice(a, min(a + rounded, L)) for a in range(0, L, rounded)]
    bounds = [round(i * L / n) for i in range(n + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def softmax(scores, out=None):
    """Softmax over labels (axis 1) of (N, L) scores, into ``out`` (which may be ``scores``)."""
    xp = backend.get_array_module(scores)
    return _softmax_blocks([scores], [xp.empty_like(scores) if out is None else out])[0]


def _softmax_blocks(scores, out, shift=None):
    """Softmax over the labels of a pixel, its L labels split into blocks (lists of (N, L_b)
    arrays, ``out`` may be ``scores``); returns ``out``. ``shift``: on the CPU, the largest
    score of all when the caller already knows it (None: computed here).

    Any per-pixel shift leaves the softmax unchanged. On the CPU, when the largest score of all
    lies within +-60 (always with the CRF's usual weights: the unary is at most
    -log 1e-5 = 11.5 and the normalised messages are at most the weights), no shift is needed
    (float32's exp overflows above 88), which saves a pass over the scores and the per-pixel
    maximum over 21 labels (about as long as the rest of the softmax). Otherwise, and always
    on the GPU (one reduction kernel, no read on the host), the shift is each pixel's own
    maximum: then every pixel's largest exponential is 1. (A shift by the largest score of
    all would underflow whole pixels to 0, and their scores, overwritten in place, could not
    be redone: with huge weights every such pixel came out uniform.)
    """
    xp = backend.get_array_module(scores[0])
    on_cpu = xp is np
    if on_cpu and shift is None:
        shift = max(float(s.max()) for s in scores)
    unshifted = on_cpu and -NO_SHIFT <= shift <= NO_SHIFT
    if not unshifted:
        shift = scores[0].max(axis=1, keepdims=True)                    # (N, 1)
        for s in scores[1:]:
            xp.maximum(shift, s.max(axis=1, keepdims=True), out=shift)

    z = None
    for s, o in zip(scores, out):              # exp(s - shift) into out, and its row sums
        if unshifted:
            xp.exp(s, out=o)
        else:
            xp.subtract(s, shift, out=o)
            xp.exp(o, out=o)
        zk = xp.einsum("ij->i", o)             # 10x faster than sum(axis=1) on NumPy
        z = zk if z is None else xp.add(z, zk, out=z)
    inv = (1.0 / z)[:, None]
    for o in out:
        xp.multiply(o, inv, out=o)
    return out


def mean_field(unary, filters, iterations, return_history=False, threads=1):
    """Run ``iterations`` mean-field updates of the fully connected CRF.

    The labels are filtered in blocks: one per thread (the blocks' product chains run at the
    same time, :mod:`.parallel`), or, for images too large for one block, as many as keep the
    filters' intermediate arrays within :data:`BLOCK_BYTES`, one after the other. The softmax
    is split between the threads by blocks of pixels. The result does not depend on
    ``threads`` beyond float32 rounding. Images too large for one label block run on one
    thread.

    Parameters
    ----------
    unary : (N, L) float32, U = -log P (NumPy or CuPy)
    filters : list of filters, each already weighted and normalised (:func:`normalized_filter`),
        so that the message of kernel m is ``filters[m](Q)``, (N, L)
    iterations : int >= 0
    return_history : also return a :class:`MeanFieldHistory` of (N, L) copies
    threads : int >= 1, the number of threads on NumPy (CuPy: always 1)

    Returns
    -------
    Q : (N, L) float32, the approximate marginals after the last iteration
    history : MeanFieldHistory (only with ``return_history=True``)
    """
    xp = backend.get_array_module(unary)
    threads = max(1, int(threads)) if xp is np else 1
    rows = max([unary.shape[0]] + [getattr(f, "n_vertices", 0) for f in filters])
    if memory_blocks(rows, unary.shape[1]) > 1:
        threads = 1               # images too large for one label block: one thread (below)
    with thread_pool(threads) as pool:
        return _mean_field(unary, filters, iterations, return_history, threads, pool, xp)


def _mean_field(unary, filters, iterations, return_history, threads, pool, xp):
    N, L = unary.shape
    blocks, message_pool = _label_plan(N, L, filters, threads, pool, xp)
    unary = [unary[:, b] for b in blocks]     # views
    scores = [xp.negative(u) for u in unary]  # (N, L_b) each
    pixels = label_blocks(N, threads)         # the softmax's blocks of pixels (rows)
    history = MeanFieldHistory([], [_joined(scores, xp)]) if return_history else None
    Q = _softmax_in_place(scores, pool, pixels, xp)           # in place: scores become Q
    for t in range(iterations + 1):
        if history is not None:
            history.Q.append(_joined(Q, xp))
        if t == iterations:
            break
        scores = [None] * len(blocks)
        run_all(message_pool, lambda k: _messages(k, filters, unary, Q, scores, xp),
                range(len(blocks)))
        if history is not None:
            history.scores.append(_joined(scores, xp))
        Q = _softmax_in_place(scores, pool, pixels, xp)
    Q = Q[0] if len(Q) == 1 else xp.concatenate(Q, axis=1)
    return (Q, history) if return_history else Q


def _label_plan(N, L, filters, threads, pool, xp):
    """(label blocks, the pool that filters them): blocks filtered by the threads side by side
    (one block per thread), except:

    * the two (rows, L_b) float32 arrays of a product chain stay within BLOCK_BYTES (rows: the
      lattice's vertices, 3M at Cityscapes size): larger images are filtered in memory_blocks
      blocks one after the other, on one thread (blocks for several threads at once would be
      narrower still, 2-3 of 19 labels at Cityscapes size, and narrow blocks make scipy's
      products slow: 2 threads took 41 s against 26 s for one; with the threads sharing only
      the softmax, 25.6 s against 23.4 s, within the noise);
    * on the CPU, a lattice's (vertices, L_b) array stays within CACHE_BYTES (blocks a
      multiple of the threads): at 217k vertices and 21 labels (18 MB), 12 + 9 labels one
      after the other took 10% less CPU time than 21 at once (the blurs' input and output
      then fit in the 32 MiB L3 cache); at 63k vertices, 21 at once was 12% faster.

    scipy's sparse products run over the labels 4 at a time (SSE): 12 labels cost 15-25% less
    than 11 in the splat and the slice, 9 or 10 about as much as 12; so blocks are multiples
    of 4 labels where that keeps their number (21 labels: 12 + 9, not 11 + 10).
    """
    vertices = max([0] + [getattr(f, "n_vertices", 0) for f in filters])
    n_blocks, message_pool = memory_blocks(max(N, vertices), L), None
    if n_blocks == 1 and xp is np:
        n_cache = -(-vertices * L * 4 // CACHE_BYTES)
        n_blocks, message_pool = threads * max(1, -(-n_cache // threads)), pool
    return label_blocks(L, n_blocks, 4 if xp is np else 1), message_pool


def _messages(k, filters, unary, Q, scores, xp):
    """``scores[k] = -U + sum_m filt_m(Q)`` for label block k, in the last product's output;
    the block's Q is dropped (``Q[k] = None``) as soon as it is used (the softmax then writes
    into the scores and they become the next Q), so one (N, L) array fewer is alive at the
    peak."""
    q, Q[k] = Q[k], None
    s = None
    for filt in filters:                      # message passing, one product chain per kernel
        m = filt(q)
        s = m if s is None else xp.add(s, m, out=s)
    del q
    scores[k] = xp.negative(unary[k]) if s is None else xp.subtract(s, unary[k], out=s)


def _softmax_in_place(arrays, pool, pixels, xp):
    """The softmax over the labels of every pixel, written into ``arrays`` (the label blocks),
    pixel block by pixel block; returns ``arrays``."""
    shift = None
    if xp is np:                           # the largest score of all, whatever the blocks
        shift = max(run_all(pool, lambda r: max(float(a[r].max()) for a in arrays), pixels))
    run_all(pool, lambda r: _softmax_blocks([a[r] for a in arrays], [a[r] for a in arrays],
                                            shift), pixels)
    return arrays


def _joined(arrays, xp):
    return arrays[0].copy() if len(arrays) == 1 else xp.concatenate(arrays, axis=1)
