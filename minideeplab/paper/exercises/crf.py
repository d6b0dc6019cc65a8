"""Checks for the CRF exercises: one mean-field update, the lattice's splat, the trimap band.

Notebooks 07 and the lattice notebook. The expected answers come from
:func:`minideeplab.crf.meanfield.mean_field` (one iteration, exact filters),
:func:`minideeplab.crf.lattice.build_lattice` (its splat matrix) and
:func:`minideeplab.metrics.boundary_band`.
"""
import numpy as np

from ...crf.lattice import build_lattice
from ...crf.meanfield import mean_field, normalized_filter
from ...crf.naive import NaiveFilter
from ...metrics import boundary_band
from ._core import Case, run_check

__all__ = ["check_mean_field_update", "check_splat", "check_trimap_band",
           "normalized_kernel", "splat_inputs"]


# ------------------------------------------------------------------ mean field
def normalized_kernel(features, weight=1.0):
    """The dense (N, N) matrix ``w D^-1/2 K D^-1/2`` of the exact Gaussian kernel of
    ``features`` (N, d), normalised as the reference code does ("symmetric")."""
    filt = normalized_filter(NaiveFilter(features), "symmetric", weight)
    return filt(np.eye(features.shape[0])).astype(np.float64)


def _mf_expected(unary, kernels, weights):
    """One iteration of the library's mean field with the dense kernels as filters."""
    filters = [_Dense(k * w) for k, w in zip(kernels, weights)]
    return mean_field(unary.astype(np.float64), filters, 1)


class _Dense:
    def __init__(self, k):
        self.k = k

    def __call__(self, v):
        return self.k @ v


def _mf_cases(rng):
    for H, W, L, n_k, what in [(3, 4, 2, 1, "one kernel, two labels"),
                               (4, 4, 3, 2, "two kernels (appearance and smoothness)"),
                               (2, 5, 4, 2, "four labels"),
                               (1, 1, 3, 1, "a single pixel (its only message is itself)")]:
        N = H * W
        probs = rng.dirichlet(np.ones(L), size=N)
        unary = -np.log(probs)
        y, x = np.divmod(np.arange(N), W)
        kernels, weights = [], []
        for m in range(n_k):
            feats = np.stack([x, y], 1) / (2.0 + m) if m else np.concatenate(
                [np.stack([x, y], 1) / 3.0, rng.random((N, 3)) * 2], 1)
            kernels.append(normalized_kernel(feats))
            weights.append(float(rng.uniform(1, 5)))
        Q0 = np.exp(-unary) / np.exp(-unary).sum(1, keepdims=True)
        yield Case(f"{what}: unary.shape={unary.shape}", (unary, Q0, kernels, weights),
                   _mf_expected(unary, kernels, weights), atol=1e-6)


def _mf_penalty(unary, Q, kernels, weights):
    s = -unary - sum(w * (k @ Q) for k, w in zip(kernels, weights))
    e = np.exp(s - s.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _mf_no_self(unary, Q, kernels, weights):
    return _mf_expected(unary, [k - np.diag(np.diag(k)) for k in kernels], weights)


def _mf_wrong_axis(unary, Q, kernels, weights):
    s = -unary + sum(w * (k @ Q) for k, w in zip(kernels, weights))
    e = np.exp(s - s.max(0, keepdims=True))
    return e / e.sum(0, keepdims=True)


def _mf_plus_unary(unary, Q, kernels, weights):
    s = unary + sum(w * (k @ Q) for k, w in zip(kernels, weights))
    e = np.exp(s - s.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def check_mean_field_update(fn, *, seed=0):
    """Check ``fn(unary, Q, kernels, weights)``: one naive mean-field update with Potts
    compatibility, unary (N, L) = -log P, Q (N, L), kernels a list of dense (N, N) normalised
    kernel matrices, weights their w_m -> the new Q (N, L).

    Mistakes recognised: the messages subtracted (Potts written as a penalty on the same
    label); the self-connection j = i left out (the paper's sum, not the reference code's);
    the softmax taken over pixels instead of labels; +U instead of -U.
    """
    return run_check("mean-field update", fn, _mf_cases(np.random.default_rng(seed)), [
        (_mf_penalty, "You subtracted the messages. Potts penalises *different* labels, so "
                      "after dropping the term that is equal for every label, label l gains "
                      "+w (K Q)_l."),
        (_mf_no_self, "You left out the self-connection j = i. The paper's sum runs over "
                      "j != i, but the reference code, and this library and exercise, keep "
                      "the diagonal of each normalised kernel: use K @ Q as given."),
        (_mf_wrong_axis, "Your softmax runs over pixels (axis 0); each pixel's Q is a "
                         "distribution over labels (axis 1)."),
        (_mf_plus_unary, "The unary is an energy, U = -log P: scores start from -U."),
    ])


# ------------------------------------------------------------------ splat
def splat_inputs(features):
    """What the splat exercise gets: for features (N, d), the lattice vertex of each of the
    d+1 corners of each point's simplex, ``vertex`` (d+1, N) int, their barycentric weights
    ``bary`` (d+1, N), and the number of lattice vertices M. Read from the library's splat
    matrix (column n holds point n's corners and weights)."""
    splat, _ = build_lattice(np.asarray(features, dtype=np.float64))
    csc = splat.tocsc()
    csc.sort_indices()
    N, d1 = features.shape[0], features.shape[1] + 1
    vertex = np.zeros((d1, N), dtype=np.int64)
    bary = np.zeros((d1, N))
    for n in range(N):
        rows = csc.indices[csc.indptr[n]:csc.indptr[n + 1]]
        vals = csc.data[csc.indptr[n]:csc.indptr[n + 1]]
        vertex[:len(rows), n], bary[:len(rows), n] = rows, vals
        vertex[len(rows):, n] = rows[0] if len(rows) else 0   # zero weight corners
    return vertex, bary, int(splat.shape[0])


def _splat_expected(vertex, bary, values, M):
    out = np.zeros((M, values.shape[1]))
    np.add.at(out, vertex.ravel(), (bary[..., None] * values[None]).reshape(-1, values.shape[1]))
    return out


def _splat_cases(rng):
    for N, C, what in [(1, 1, "a single point"), (30, 2, "30 random 2-D points"),
                       (64, 3, "an 8x8 image's pixel positions")]:
        if N == 64:
            y, x = np.divmod(np.arange(N), 8)
            feats = np.stack([x, y], 1) / 1.5
        else:
            feats = rng.random((N, 2)) * 3
        vertex, bary, M = splat_inputs(feats)
        values = rng.standard_normal((N, C))
        splat, _ = build_lattice(feats)
        expected = np.asarray(splat.astype(np.float64) @ values)
        yield Case(f"{what} (features.shape={feats.shape}, {M} vertices, {C} channels)",
                   (vertex, bary, values, M), expected, atol=1e-5)


def _splat_assign(vertex, bary, values, M):
    out = np.zeros((M, values.shape[1]))
    for r in range(vertex.shape[0]):
        out[vertex[r]] = bary[r][:, None] * values
    return out


def _splat_unweighted(vertex, bary, values, M):
    return _splat_expected(vertex, (bary > 0).astype(float), values, M)


def check_splat(fn, *, seed=0):
    """Check ``fn(vertex, bary, values, M)``: the splat of a permutohedral lattice,
    vertex (d+1, N) int and bary (d+1, N) from :func:`splat_inputs`, values (N, C) -> the
    lattice's values (M, C): every point adds bary * value to each corner of its simplex.

    Mistakes recognised: assignment instead of accumulation (``out[idx] = ...`` keeps one of
    the points that share a vertex); the barycentric weights left out.
    """
    return run_check("lattice splat", fn, _splat_cases(np.random.default_rng(seed)), [
        (_splat_assign, "Several points share a vertex: `out[idx] = ...` keeps only one of "
                        "them. Accumulate with np.add.at(out, idx, contributions)."),
        (_splat_unweighted, "You left out the barycentric weights: each corner gets "
                            "bary * value, and each point's weights sum to 1."),
    ])


# ------------------------------------------------------------------ trimap band
def _band_cases(rng):
    square = np.zeros((9, 9), dtype=np.int64)
    square[3:6, 2:7] = 1
    yield Case("a 3x5 square on background, width 0 (the boundary pixels only)",
               (square, 0), boundary_band(square, 0))
    yield Case("the same square, width 1.5 (a Euclidean distance, not a count of steps)",
               (square, 1.5), boundary_band(square, 1.5))
    flat = np.full((5, 6), 3, dtype=np.int64)
    yield Case("a map with one label (no boundary: an empty band)", (flat, 4),
               boundary_band(flat, 4))
    void = np.zeros((10, 10), dtype=np.int64)
    void[4:7, 4:7] = 255
    yield Case("a void (255) region, width 2", (void, 2), boundary_band(void, 2))
    for t in range(2):
        lab = rng.integers(0, 3, (12, 15))
        lab = np.repeat(np.repeat(lab[::3, ::3], 3, 0), 3, 1)[:12, :15]
        w = float(rng.choice([1, 2, 3.5]))
        yield Case(f"random blocks of 3 labels, width {w}", (lab, w), boundary_band(lab, w))


def _band_strict(label, width):
    from ...metrics import boundary_distance
    return boundary_distance(label) < width


def _band_one_sided(label, width):
    from scipy import ndimage
    edge = np.zeros(label.shape, dtype=bool)
    edge[1:, :] |= label[1:, :] != label[:-1, :]
    edge[:, 1:] |= label[:, 1:] != label[:, :-1]
    if not edge.any():
        return np.zeros(label.shape, dtype=bool)
    return ndimage.distance_transform_edt(~edge) <= width


def _band_eight(label, width):
    from scipy import ndimage
    pad = np.pad(label, 1, mode="edge")
    edge = np.zeros(label.shape, dtype=bool)
    H, W = label.shape
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            edge |= pad[1 + dy:1 + dy + H, 1 + dx:1 + dx + W] != label
    if not edge.any():
        return np.zeros(label.shape, dtype=bool)
    return ndimage.distance_transform_edt(~edge) <= width


def check_trimap_band(fn, *, seed=0):
    """Check ``fn(label, width)``: (H, W) integer labels -> (H, W) bool, the pixels within
    Euclidean distance ``width`` of a boundary pixel (one with a 4-neighbour of another value).

    Mistakes recognised: ``< width`` instead of ``<=``; only one side of each label change
    marked; 8-neighbours instead of 4.
    """
    return run_check("trimap band", fn, _band_cases(np.random.default_rng(seed)), [
        (_band_strict, "The band includes the pixels at distance exactly `width` (<=, not <)."),
        (_band_one_sided, "A label change between two neighbours makes *both* of them "
                          "boundary pixels; you marked only one side."),
        (_band_eight, "A boundary pixel has a different *4-neighbour*; you used the 8 "
                      "neighbours (diagonals too)."),
    ])
