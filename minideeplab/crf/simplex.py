"""Where points lie in the permutohedral lattice: elevation, enclosing simplex, vertex codes.

The geometry under :mod:`.lattice` (Adams, Baek & Davis, "Fast High-Dimensional Filtering Using
the Permutohedral Lattice", Eurographics 2010, Sec. 3.1; Kraehenbuehl's ``permutohedral.cpp``):
the d-dimensional features are scaled and lifted onto the hyperplane ``sum = 0`` in d+1
dimensions (:func:`elevate`), each point's enclosing simplex is found from its nearest
remainder-0 lattice point and the rank of its differences, with its barycentric weights
(:func:`enclosing_simplex`), and each simplex corner's integer coordinates are encoded as one
int64 in a mixed radix (:func:`vertex_codes`), so that a neighbour along lattice axis j is the
code plus a constant. :func:`key_space` bounds the number of codes before anything is built:
64-bit codes hold :data:`MAX_KEYS`. What :mod:`.lattice` makes of them (vertices, splat, blur
and slice matrices) is described there.
"""
import math

from .. import backend
from ..errors import ArgumentError

__all__ = ["MAX_KEYS", "elevate", "enclosing_simplex", "key_space", "vertex_codes"]

MAX_KEYS = 2 ** 62  # vertex codes are int64: the key space must stay below this


def elevate(features, xp):
    """Scale the features and lift them onto the hyperplane ``sum = 0`` in d+1 dimensions.

    ``features`` (N, d) -> elevated (d+1, N) float64 (coordinate-major: each line below is one
    vectorised operation over the N points). Adams et al. 2010, Sec. 3.1: the lattice lives on
    ``H_d = {x in R^(d+1): sum x = 0}``; the embedding is the reference code's
    ``elevated[j] = sum_{k>=j} c_k - j c_{j-1}`` with ``c_i = s_i f_i`` and
    ``s_i = (d+1) sqrt(2/3) / sqrt((i+1)(i+2))`` (which makes the whole filter a unit Gaussian).
    """
    N, d = features.shape
    elevated = xp.empty((d + 1, N), dtype=xp.float64)
    tail = xp.zeros(N, dtype=xp.float64)           # sum_{k >= j} c_k, built from the end
    for j in range(d, 0, -1):
        c = features[:, j - 1].astype(xp.float64) * _scale(j - 1, d)
        elevated[j] = tail - j * c
        tail += c
    elevated[0] = tail
    return elevated


def enclosing_simplex(elevated, xp):
    """The simplex that contains each elevated point (Adams et al. 2010, Sec. 3.1, Fig. 3).

    Parameters
    ----------
    elevated : (d+1, N) float64

    Returns
    -------
    rem0 : (d+1, N) int64, the nearest "remainder-0" lattice point (all coordinates multiples
        of d+1, summing to 0)
    rank : (d+1, N) int64, rank[i, n] = position of coordinate i in the decreasing order of
        ``elevated - rem0`` for point n (a permutation of 0..d per point)
    bary : (d+1, N) float64, barycentric weights of the d+1 corners, >= 0, summing to 1
    """
    d1, N = elevated.shape
    d = d1 - 1
    rem0 = xp.divide(elevated, d1)             # nearest multiple of d+1, ties down (reference)
    rem0 -= 0.5
    xp.ceil(rem0, out=rem0)
    rem0 *= d1
    total = xp.rint(rem0.sum(axis=0) / d1).astype(xp.int64)             # (N,)
    diff = elevated - rem0
    rank = xp.zeros((d1, N), dtype=xp.int64)
    for i in range(d1):                        # rank by pairwise comparison, ties: lower i first
        for j in range(i + 1, d1):
            i_below = diff[i] < diff[j]
            rank[i] += i_below
            rank[j] += ~i_below
    # if rem0 does not sum to 0, shift ranks (and rem0 by d+1) so ranks lie in 0..d again
    rank += total
    shift = d1 * ((rank < 0).astype(xp.int64) - (rank > d).astype(xp.int64))
    rank += shift
    rem0 = rem0.astype(xp.int64) + shift
    # barycentric weights (Adams et al., Sec. 3.1, "splatting"): with s_k the value
    # (elevated_i - rem0_i) / (d+1) of the coordinate of rank k, corner r gets
    # s_(d-r) - s_(d-r+1), and corner 0 gets 1 + s_d - s_0 (the reference's two-sided update
    # bary[d - rank] += v, bary[d - rank + 1] -= v, written as one difference).
    # s[r] = the value of rank d - r: the d+1 values in increasing order (the ranks above are
    # their decreasing order, the shift only rotates it), sorted by a network of min/max on
    # whole rows, 3x faster on NumPy than scattering them by rank
    s = elevated - rem0
    s /= d1
    _sort_rows(s, xp)
    bary = xp.empty((d1, N), dtype=xp.float64)
    bary[1:] = s[1:] - s[:-1]
    bary[0] = 1.0 + s[0] - s[d]
    return rem0, rank, bary


def _sort_rows(a, xp):
    """Sort each column of a (k, N) array in place, increasing down the rows: odd-even
    transposition sort (k rounds of compare-exchange of neighbouring rows), N columns at once."""
    k = a.shape[0]
    low = xp.empty_like(a[0])
    for round_ in range(k):
        for i in range(round_ % 2, k - 1, 2):
            xp.minimum(a[i], a[i + 1], out=low)
            xp.maximum(a[i], a[i + 1], out=a[i + 1])
            a[i] = low
    return a


def _scale(i, d):
    """``s_i = (d+1) sqrt(2/3) / sqrt((i+1)(i+2))``, the scale of feature i (0-based) of d."""
    return (d + 1) * math.sqrt(2.0 / 3.0) / math.sqrt((i + 1) * (i + 2))


def key_space(spans):
    """An upper bound of the number of possible keys (``size`` of :func:`vertex_codes`) for
    features whose ranges (max - min, already divided by the sigmas) are ``spans`` (d floats).

    Elevated coordinate j is ``sum_{k>=j} c_k - j c_{j-1}`` (``c_k = s_k f_k``), so its range is
    at most the sum of those terms' ranges; ``rem0`` lies within 1.5 (d+1) of it and the codes
    add a margin of 2d on each side. Measured, the bound is 1.1-2.3x the exact count for images
    of random colours and up to 6x for a smooth colour ramp (whose channels move together:
    thetas at most 1.5x too small in 5-D). A Python float: ``inf`` for infinite or overflowing spans.
    """
    d = len(spans)
    c = [float(s) * _scale(i, d) for i, s in enumerate(spans)]
    size = 1.0
    for j in range(d):                          # the last coordinate is implied by sum = 0
        span = sum(c[j:]) + (j * c[j - 1] if j else 0.0)
        size *= span + 3 * (d + 1) + 4 * d + 1
    return size if math.isfinite(size) else math.inf


def vertex_codes(rem0, rank, xp):
    """One int64 code per (corner, point): corner r of point n has the coordinates
    ``rem0[i, n] + (r if rank[i, n] <= d - r else r - (d+1))``, i = 0..d-1 (the last one is
    implied by ``sum = 0``). The code is ``sum_i (coord_i - low_i) * stride_i`` (mixed radix),
    with a margin of d on each side so that every neighbour (coordinates +-1 or +-d) has a code.

    Returns codes (d+1, N) int64 in ``[0, size)``, strides (a list of d Python ints) and size
    (a Python int, the number of possible codes).
    """
    d1, N = rem0.shape
    d = d1 - 1
    low = [int(v) - 2 * d for v in backend.asnumpy(rem0[:d].min(axis=1))]   # corner >= rem0 - d
    high = [int(v) + 2 * d for v in backend.asnumpy(rem0[:d].max(axis=1))]  # corner <= rem0 + d
    strides, size = [], 1
    for lo, hi in zip(low, high):
        strides.append(size)
        size *= hi - lo + 1
    if size >= MAX_KEYS:
        raise ArgumentError(
            f"permutohedral lattice: the features span {size:.3g} possible lattice keys, more "
            "than a 64-bit key can hold; the sigmas are far too small for this image")
    base = xp.zeros(N, dtype=xp.int64)                # code of rem0 itself
    for i in range(d):
        base += (rem0[i] - low[i]) * strides[i]
    codes = xp.empty((d1, N), dtype=xp.int64)
    for r in range(d1):
        codes[r] = base + r * sum(strides)            # canonical offset r on every coordinate ...
        for i in range(d):                            # ... minus d+1 where rank[i] > d - r
            codes[r] -= (d1 * strides[i]) * (rank[i] > d - r)
    return codes, strides, size
