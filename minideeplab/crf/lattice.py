"""Gaussian filtering on the permutohedral lattice, as a chain of sparse matrices.

Adams, Baek & Davis, "Fast High-Dimensional Filtering Using the Permutohedral Lattice"
(Eurographics 2010), as Kraehenbuehl's dense-CRF code (``permutohedral.cpp``) implements it.
The exact filter ``out_i = sum_j exp(-|f_i - f_j|^2 / 2) v_j`` costs O(N^2); the lattice does it
approximately in O(N d^2) by three linear steps:

1. **splat**: every point ``f_i`` lies in one simplex of the lattice; it spreads its value to the
   simplex's d+1 corners with barycentric weights (each row of weights sums to 1);
2. **blur**: along each of the d+1 lattice axes, every vertex takes
   ``v + 1/2 (v_left + v_right)`` (missing neighbours count as zero);
3. **slice**: every point reads the d+1 corners back with the same weights, times
   ``alpha = 1 / (1 + 2^-d)``.

All three are linear and depend only on the features, so they are sparse matrices built once
per image: ``K V ~ alpha * S^T B_d ... B_0 S V`` with the splat matrix S (M vertices x N points,
N(d+1) non-zeros) and one blur matrix ``B_j = I + A_j`` per axis (A_j: M x M, at most 2
non-zeros of 1/2 per row, the links to the two neighbours; ``B_j X = A_j X + X``). One
product filters all L labels at once (V is N x L), on scipy.sparse or cupyx.scipy.sparse.

Where the time goes (500x375 photo, 21 labels, one thread): on scipy, S is stored point by
point (CSC): its product streams through the points and adds into the vertex rows, 1.5-3.7x
faster than the vertex-by-vertex CSR product, which gathers scattered points. Tried and
dropped: the blur as two row gathers and an add (``np.take``; 2.9 ms per gather against 2.2 ms
for the whole sparse product at M = 180k vertices, one thread); the blur as one CSR product
with the identity stored (3 non-zeros per row: 2.7-2.8 ms against 2.2-2.4 ms for ``A X + X``).

Vertex numbering: rows of the (M, L) arrays are vertices, and how they are numbered decides
which rows each product reads together. In key order (sorted codes) the blur's neighbours
``code +- delta`` move monotonically with the row, so every blur streams; the splat and the
slice jump around. Numbered in the order the points (pixels, row-major) first use them, as the
reference's hash table does, the splat and the slice read nearby rows, and in a 2-D lattice
(the smoothness kernel, whose lattice is a regular grid over the image) the blurs do too:
measured on the 500x375 photo, one message at theta_gamma = 1 (217k vertices) went from 21.7 to
15.8 ms, while the 5-D appearance lattice got 21% slower (its blurs lose their streaming).
So lattices of up to :data:`FIRST_USE_MAX_DIM` dimensions number by first use, the others by
key.

No Python loop runs over points or vertices: each lattice vertex's integer coordinates are
encoded as one int64 (mixed radix; the geometry, elevation and enclosing simplices included,
is :mod:`.simplex`), vertices are deduplicated by one sort of the codes packed
with their positions (which also gives the splat matrix's row of every (point, corner) pair and
each vertex's first use), and the neighbour of vertex k along axis j
is found by ``searchsorted`` because, the code being linear in the coordinates, the neighbour's
code is ``code_k + delta_j``. (The reference stores coordinates as 16-bit integers in a hash
table, which overflows for small sigmas on large images; 64 bits do not.)

Conventions (and where they differ from Adams et al.):

* blur weights (1/2, 1, 1/2) as the reference CRF code, not Adams' (1/4, 1/2, 1/4), and slice
  factor alpha: together they only change a global factor of K (each pass of the reference's
  blur doubles the total mass), which the CRF's normalisations divide out;
* blur axes in the order 0, 1, ..., d (the reference's forward order). The B_j are symmetric
  but do not commute where vertices are missing, so K is only nearly symmetric: K^T is the same
  chain with the blurs in reverse order (the reference's ``compute(..., reverse=true)``);
* the features are scaled by ``s_i = (d+1) sqrt(2/3) / sqrt((i+1)(i+2))`` before elevation, so
  that splat-blur-slice approximates ``exp(-|f_i - f_j|^2 / 2)`` (Adams et al., Sec. 3-4).
  Measured in tutorial 07b (impulse responses divided by the response at the impulse): the
  shape is close to the exact Gaussian, the best-fitting width slightly wider (about 1.09
  sigma in 2-D, 1.03 sigma in 5-D on the photo's features), the kernel exactly zero beyond
  its reach of about 3.4-3.8 sigma (the blur only moves mass between existing vertices), and
  not quite shift invariant. How wide it looks depends on the normalisation and on how densely
  the points fill the lattice; the CRF divides each kernel by its row sums, so its shape is
  what matters.
"""
import copy
import math

import numpy as np

from .. import backend
from ..errors import ArgumentError
from .simplex import MAX_KEYS, elevate, enclosing_simplex, key_space, vertex_codes

__all__ = ["LatticeFilter", "build_lattice", "lattice_matrices", "BLUR_WEIGHT"]

BLUR_WEIGHT = 0.5  # each neighbour's weight in one blur step (the centre's is 1)
# vertex numbering: lattices of up to this many dimensions number their vertices by first use
# (the points' order), higher ones by key (see lattice_matrices)
FIRST_USE_MAX_DIM = 2


def _unique_inverse(codes, size, xp):
    """``xp.unique(codes, return_inverse=True)`` for codes in ``[0, size)``, by one sort.

    ``unique`` sorts the codes with an argsort (on NumPy 3.5x slower than a plain sort of
    int64). When ``size`` times the number of codes fits in 63 bits, each code is packed with
    its position, ``code * 2^b + position``, and sorted by value: the sorted array gives both
    the sorted codes (high bits) and where each came from (low bits).

    Returns keys (M,) int64, the distinct codes in increasing order, inverse (n,) int64,
    ``keys[inverse] == codes``, and first (M,) int64, the position of each key's first
    occurrence in ``codes``.
    """
    n = codes.shape[0]
    bits = max(1, (n - 1).bit_length())
    if size << bits >= 2 ** 63:
        keys, first, inverse = xp.unique(codes, return_index=True, return_inverse=True)
        return keys, inverse.ravel(), first
    packed = xp.left_shift(codes, bits)
    packed |= xp.arange(n, dtype=xp.int64)
    packed.sort()
    position = packed & ((1 << bits) - 1)
    packed >>= bits                                   # the codes, sorted
    first = xp.empty(n, dtype=bool)                   # first of a run of equal codes
    first[:1] = True
    xp.not_equal(packed[1:], packed[:-1], out=first[1:])
    keys = packed[first]
    inverse = xp.empty(n, dtype=xp.int64)
    inverse[position] = xp.cumsum(first) - 1
    return keys, inverse, position[first]   # the run of a code starts at its first position


def _csr(xp, data, indices, indptr, shape, canonical=True):
    """A CSR matrix from its three arrays (shared, not copied). ``canonical``: the arrays are
    known to be in canonical form (sorted column indices, no duplicates), and the matrix is
    marked so; cupyx would otherwise check on the device, with a device-to-host read, at the
    first product of every new matrix."""
    A = backend.sparse_module(xp).csr_matrix((data, indices, indptr), shape=shape)
    if canonical:
        A.has_canonical_format = True
    return A


def _index_dtype(xp, *sizes):
    """int32 indices where every index fits (half the memory traffic of int64), else int64."""
    return xp.int32 if max(sizes) < 2 ** 31 - 1 else xp.int64


def _neighbour_matrix(keys, delta, idx, halves, xp, number=None):
    """``A = 1/2 (P + P^T)`` (M, M) for the lattice axis whose step changes a code by ``delta``:
    vertex k's neighbours are the vertices with codes ``keys[k] +- delta`` (the blur along that
    axis is ``I + A``). Every stored value is 1/2, so ``data`` is a view of ``halves``, one
    buffer of 1/2s shared by all the axes: a matrix costs its column indices and ``indptr``.
    ``number``: None (vertex k is row k: key order) or ``(order, new_id)``, the row of key k
    being ``new_id[k]`` and ``order`` its inverse.
    """
    M = keys.shape[0]
    target = keys + delta
    pos = xp.minimum(xp.searchsorted(keys, target), M - 1)
    found = keys[pos] == target
    up = xp.where(found, pos, -1)              # the neighbour at code + delta (or -1: none)
    down = xp.full(M, -1, dtype=up.dtype)      # the one at code - delta: the inverse relation
    down[pos[found]] = xp.nonzero(found)[0]
    if number is None:
        # row k: (code - delta, code + delta), in increasing column order (keys are sorted)
        cols = xp.stack([down, up] if delta > 0 else [up, down], axis=1)    # (M, 2)
    else:                                      # renumbered: row r is key order[r]
        order, new_id = number
        new_id = xp.concatenate([new_id, xp.full(1, -1, dtype=new_id.dtype)])   # -1 stays -1
        up, down = new_id[up[order]], new_id[down[order]]
        cols = xp.stack([xp.minimum(up, down), xp.maximum(up, down)], axis=1)
    keep = cols >= 0
    indptr = xp.zeros(M + 1, dtype=idx)
    xp.cumsum((up >= 0).astype(idx) + (down >= 0), out=indptr[1:])
    indices = cols[keep].astype(idx)
    return _csr(xp, halves[:indices.shape[0]], indices, indptr, (M, M))


def build_lattice(features):
    """The splat and blur matrices of the permutohedral lattice for ``features``.

    Parameters
    ----------
    features : (N, d) float array, each feature already divided by its sigma, NumPy or CuPy

    Returns
    -------
    splat : (M, N) float32 sparse matrix (see :func:`lattice_matrices`)
    blurs : list of d+1 (M, M) float32 CSR matrices ``B_j = I + 1/2 (P_j + P_j^T)``, with
        ``P_j[k, k'] = 1`` when k' is k's neighbour along lattice axis j; the filter is
        ``K V ~ alpha S^T B_d ... B_0 S V``
    """
    splat, neighbours = lattice_matrices(features)
    return splat, _blur_matrices(neighbours, backend.get_array_module(features))


def _blur_matrices(neighbours, xp):
    """``B_j = I + A_j`` as CSR matrices (what the filter applies as ``A_j X + X``)."""
    if not neighbours:
        return []
    eye = backend.sparse_module(xp).identity(neighbours[0].shape[0], dtype=xp.float32,
                                             format="csr")
    return [(eye + A).tocsr() for A in neighbours]


def lattice_matrices(features):
    """The splat and neighbour matrices of the permutohedral lattice for ``features``.

    Parameters
    ----------
    features : (N, d) float array, each feature already divided by its sigma (the kernel is
        ``exp(-|f_i - f_j|^2 / 2)``), NumPy or CuPy

    Returns
    -------
    splat : (M, N) float32 sparse matrix, ``splat[k, n]`` = barycentric weight of vertex k in
        point n's simplex (d+1 non-zeros per column, each column sums to 1). On NumPy it is
        CSC, i.e. stored point by point: scipy's product then streams through the points
        and adds into the vertices (measured 1.5-3.7x faster than the CSR product, which
        gathers scattered points for every vertex). On CuPy it is CSR (row-parallel, sorted).
    neighbours : list of d+1 (M, M) float32 CSR matrices ``A_j = 1/2 (P_j + P_j^T)``, with
        ``P_j[k, k'] = 1`` when k' is k's neighbour along lattice axis j; the blur along axis j
        is ``B_j = I + A_j`` (the identity is added by the filter, not stored: 12 bytes per
        vertex and axis instead of 28)
    """
    xp = backend.get_array_module(features)
    N, d = features.shape
    d1 = d + 1
    spans = backend.asnumpy(features.max(axis=0) - features.min(axis=0)).astype(np.float64)
    keys = key_space(spans) if np.isfinite(spans).all() else math.inf
    if keys >= MAX_KEYS:               # before the elevation, which would overflow
        raise ArgumentError(
            f"permutohedral lattice: the features (ranges {np.round(spans, 3).tolist()}) "
            f"could need {keys:.3g} lattice keys, more than a 64-bit key holds "
            f"({MAX_KEYS:.3g}), or are not finite; the sigmas are far too small for this image")
    rem0, rank, bary = enclosing_simplex(elevate(features, xp), xp)
    codes, strides, size = vertex_codes(rem0, rank, xp)                 # (d+1, N)
    del rem0, rank
    # entry n*(d+1) + r is corner r of point n
    keys, vertex, first = _unique_inverse(codes.T.ravel(), size, xp)    # keys sorted, (M,)
    del codes
    M = int(keys.shape[0])
    number = None
    if d <= FIRST_USE_MAX_DIM:
        # vertices numbered in the order the points first use them (as the reference's hash
        # table does): vertex k is row new_id[k], and order[r] the key of row r
        slot = xp.full(N * d1, -1, dtype=xp.int64)
        slot[first] = xp.arange(M, dtype=xp.int64)
        order = slot[slot >= 0]
        new_id = xp.empty(M, dtype=xp.int64)
        new_id[order] = xp.arange(M, dtype=xp.int64)
        vertex = new_id[vertex]
        number = (order, new_id)
        del slot
    del first
    idx = _index_dtype(xp, M, N * d1 + 1)
    # (N, M), one row of d+1 corners per point: the transpose of the splat matrix
    point_major = _csr(xp, bary.T.ravel().astype(xp.float32), vertex.ravel().astype(idx),
                       xp.arange(0, N * d1 + 1, d1, dtype=idx), (N, M), canonical=False)
    del bary, vertex
    if xp is np:
        splat = point_major.T                  # CSC view, no copy
    else:
        splat = point_major.T.tocsr()          # sorted by the conversion
        splat.has_canonical_format = True
    halves = xp.full(2 * M, BLUR_WEIGHT, dtype=xp.float32)
    neighbours = []
    for j in range(d1):
        # neighbour along axis j: every coordinate - 1 except coordinate j, which gets + d
        delta = -sum(strides) + (d1 * strides[j] if j < d else 0)       # a Python int, != 0
        neighbours.append(_neighbour_matrix(keys, delta, idx, halves, xp, number))
    return splat, neighbours


class LatticeFilter:
    """``V -> diag(left) K diag(right) V`` with K the permutohedral approximation of the Gaussian.

    Parameters
    ----------
    features : (N, d) float array (NumPy or CuPy), already divided by the sigmas

    Calling the filter: ``out = filt(V)`` with V (N, C) float32, out (N, C) float32, computed
    as ``slice @ (B_d @ (... (B_0 @ (splat @ V))))``: d+3 sparse products, all C columns at
    once, each blur ``B_j X = A_j X + X``. ``slice = alpha * splat^T`` (CSR, one row of d+1
    corners per point) with ``alpha = 1 / (1 + 2^-d)``. :meth:`with_scales` folds the diagonal
    scalings (the CRF's normalisation and weight) into the splat and slice matrices, so they
    cost nothing per call; the scaled matrices share the index arrays.
    """

    def __init__(self, features):
        xp = self.xp = backend.get_array_module(features)
        self.n_points, self.dim = features.shape
        self.raw_splat, self.neighbours = lattice_matrices(features)
        self.n_vertices = self.raw_splat.shape[0]
        self.alpha = 1.0 / (1.0 + 2.0 ** (-self.dim))   # the reference's slice scaling
        T = self.raw_splat.T                  # NumPy: the point-major CSR itself (a view)
        if T.format != "csr":
            T = T.tocsr()
            T.sort_indices()
        if T.has_sorted_indices:
            T.has_canonical_format = True
        # the unscaled slice S^T: on NumPy the splat's own arrays, no copy; alpha is applied
        # after the product (only the unnormalised filter, used once per image, pays that)
        self.raw_slice = T                                               # (N, M)
        self.splat = self.raw_splat                                      # (M, N)
        self._slice, self._slice_factor = T, self.alpha

    @property
    def slice(self):
        """The slice matrix ``diag(left) alpha S^T`` (N, M) CSR, d+1 non-zeros per row."""
        if self._slice_factor == 1.0:
            return self._slice
        T = self._slice
        return _csr(self.xp, T.data * self.xp.float32(self._slice_factor), T.indices,
                    T.indptr, T.shape, canonical=bool(T.has_sorted_indices))

    @property
    def blurs(self):
        """The d+1 blur matrices ``B_j = I + A_j`` (M, M) as CSR, built on request (the filter
        itself applies ``B_j V = A_j V + V`` from the neighbour matrices)."""
        return _blur_matrices(self.neighbours, self.xp)

    def _scaled_by_point(self, A, scale):
        """A copy of A (the splat or the slice) with every entry of point n times scale[n]."""
        xp = self.xp
        if A is self.raw_slice or A.format == "csc":   # d+1 entries per point, point by point
            data = (A.data.reshape(-1, self.dim + 1) * scale[:, None]).ravel()
        else:                                                  # CSR splat: points are columns
            data = A.data * scale[A.indices]
        out = type(A)((data.astype(xp.float32), A.indices, A.indptr), shape=A.shape)
        if A.format == "csr" and A.has_sorted_indices:
            out.has_canonical_format = True
        return out

    def with_scales(self, left=None, right=None):
        """A filter for ``diag(left) K diag(right) V``, K unscaled; left, right (N,) or None."""
        other = copy.copy(self)
        other.splat = (self.raw_splat if right is None
                       else self._scaled_by_point(self.raw_splat, right))
        if left is None:
            other._slice, other._slice_factor = self.raw_slice, self.alpha
        else:
            other._slice = self._scaled_by_point(self.raw_slice, self.alpha * left)
            other._slice_factor = 1.0
        return other

    def __call__(self, V):
        """(N, C) float32 -> (N, C) float32."""
        out = self.splat @ V          # (M, C) splat
        for A in self.neighbours:     # (M, C) blur along each of the d+1 axes: (I + A_j) out
            blurred = A @ out
            blurred += out
            out = blurred
        out = self._slice @ out       # (N, C) slice
        if self._slice_factor != 1.0:
            out *= self._slice_factor
        return out
