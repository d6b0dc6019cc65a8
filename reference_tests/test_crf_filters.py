"""The two Gaussian filters of the dense CRF: the exact sums and the permutohedral lattice.

Oracles: a double loop for the exact sum; ``crf_oracles.reference_lattice_filter``, a loop-by-loop
transcription of the reference C++ lattice, for the array version; the geometry of the lattice
(Adams et al. 2010, Sec. 3.1) for the simplex; the exact Gaussian for the lattice's accuracy.

Measured accuracy of the lattice (symmetric-normalised messages ``Kn Q``, relative L2 against the
exact filter, Q the CRF's marginals): 2-D smoothness kernel 0.8-1.3% for theta_gamma 1..10 (the
~1-2% of docs/conventions.md, "Permutohedral lattice"); 5-D appearance kernel 3.5-6.7% at
theta_beta = 3..6 (4 synthetic 65x65 images and a grace_hopper crop). The 5-D lattice kernel is not
shift invariant (a point's self weight varies by about +-12% with its place in its simplex), acts
like a Gaussian about 0.87x as wide, and is cut off beyond about 2 sigma; the reference code
behaves the same (the transcription test below), so the bounds here are the measured values with a
margin.
"""
import numpy as np
import pytest

from crf_oracles import reference_lattice_filter
from helpers import assert_close
from minideeplab import backend
from minideeplab.crf import LatticeFilter, NaiveFilter, dense_crf, lattice, naive, simplex
from minideeplab.crf.dense import bilateral_features, spatial_features
from minideeplab.crf.meanfield import normalized_filter
from minideeplab.data import SyntheticShapes


def _relative_l2(a, b):
    a, b = backend.asnumpy(a), backend.asnumpy(b)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _random_points(seed, N, d, spread=4.0):
    return np.random.default_rng(seed).random((N, d)) * spread


# --- the exact filter ---------------------------------------------------------------------------

@pytest.mark.parametrize("d", [2, 5])
def test_naive_filter_equals_double_loop(d, on):
    f = _random_points(d, 30, d, spread=3.0)
    V = np.random.default_rng(1).random((30, 4))
    expected = np.zeros_like(V)
    for i in range(30):
        for j in range(30):
            expected[i] += np.exp(-0.5 * np.sum((f[i] - f[j]) ** 2)) * V[j]
    assert_close(NaiveFilter(on(f))(on(V)), expected, rtol=1e-12, atol=1e-12)


def test_naive_filter_chunked_equals_whole_kernel(monkeypatch, on):
    f = _random_points(0, 300, 5, spread=5.0)
    V = np.random.default_rng(2).random((300, 3))
    whole = NaiveFilter(on(f))
    assert whole.kernel is not None                     # 300 x 300 fits: kept in memory
    monkeypatch.setattr(naive, "MEMORY_BUDGET", 8 * 300 * 7)
    chunked = NaiveFilter(on(f))
    assert chunked.kernel is None and chunked.chunk == 7  # recomputed 7 rows at a time
    assert_close(chunked(on(V)), whole(on(V)), rtol=1e-12, atol=1e-12)


def test_naive_filter_refuses_too_many_points():
    with pytest.raises(ValueError, match='use method="lattice"'):
        NaiveFilter(np.zeros((naive.MAX_PIXELS + 1, 2)))


# --- the lattice: the reference algorithm, its geometry ------------------------------------------

@pytest.mark.parametrize("d,N,spread", [(1, 25, 6.0), (2, 40, 5.0), (3, 40, 4.0), (5, 50, 3.0),
                                        (5, 30, 0.3)])
def test_lattice_equals_reference_transcription(d, N, spread, on):
    f = _random_points(10 * d + N, N, d, spread)
    V = np.random.default_rng(d).random((N, 3)).astype(np.float32)
    expected = reference_lattice_filter(f, V)
    out = LatticeFilter(on(f))(on(V))
    assert out.dtype == np.float32
    assert_close(out, expected, rtol=2e-5, atol=2e-6)


def test_lattice_keys_are_64_bit():
    """Coordinates far beyond 16 bits (the reference's keys would wrap around)."""
    f = np.random.default_rng(3).random((30, 2)) * 2e4       # lattice coordinates ~ 5e4
    V = np.random.default_rng(4).random((30, 2)).astype(np.float32)
    assert_close(LatticeFilter(f)(V), reference_lattice_filter(f, V), rtol=2e-5, atol=2e-6)
    with pytest.raises(ValueError, match="64-bit key"):
        LatticeFilter(np.random.default_rng(5).random((30, 5)) * 1e5)


@pytest.mark.parametrize("d", [2, 5])
def test_simplex_geometry(d, xp):
    f = xp.asarray(_random_points(d, 500, d, spread=10.0))
    elevated = simplex.elevate(f, xp)                                   # (d+1, N)
    rem0, rank, bary = simplex.enclosing_simplex(elevated, xp)
    elevated, rem0, rank, bary = (backend.asnumpy(a) for a in (elevated, rem0, rank, bary))
    assert_close(elevated.sum(axis=0), np.zeros(500), rtol=0, atol=1e-9)  # on the plane
    # the embedding is a scaled isometry: |E f_a - E f_b| / |f_a - f_b| is one constant
    fa = backend.asnumpy(f)
    ratio = (np.linalg.norm(elevated[:, :250] - elevated[:, 250:], axis=0)
             / np.linalg.norm(fa[:250] - fa[250:], axis=1))
    assert_close(ratio, np.full(250, ratio[0]), rtol=1e-9, atol=0)
    assert np.all(rem0 % (d + 1) == 0) and np.all(rem0.sum(axis=0) == 0)
    assert np.all(np.sort(rank, axis=0) == np.arange(d + 1)[:, None])    # a permutation
    assert bary.min() >= -1e-12
    assert_close(bary.sum(axis=0), np.ones(500), rtol=0, atol=1e-12)
    # the point is the barycentric combination of its simplex's d+1 vertices
    canonical = np.array([[r if j <= d - r else r - (d + 1) for j in range(d + 1)]
                          for r in range(d + 1)])
    vertices = rem0[None] + canonical[:, rank]                           # (r, d+1, N)
    assert_close((bary[:, None, :] * vertices).sum(axis=0), elevated, rtol=0, atol=1e-9)


def test_blur_matrices_are_symmetric_and_slice_is_splat_transposed(on):
    image, _ = SyntheticShapes("val", num_images=1, size=21, seed=2)[0]
    filt = LatticeFilter(bilateral_features(on(image), 10.0, 5.0))
    for B in filt.blurs:
        assert abs(B - B.T).max() == 0
        assert np.all(backend.asnumpy(B.diagonal()) == 1)
        assert set(np.unique(backend.asnumpy(B.data)).tolist()) <= {0.5, 1.0}
    assert abs(filt.slice - filt.alpha * filt.splat.T).max() <= 1e-7
    # hence K = a S^T B_d..B_0 S has K^T = a S^T B_0..B_d S: the blurs in reverse order
    N = filt.n_points
    eye = on(np.eye(N, dtype=np.float32))
    K = backend.asnumpy(filt(eye))
    V = filt.splat @ eye
    for B in filt.blurs[::-1]:
        V = B @ V
    assert_close(filt.slice @ V, K.T, rtol=1e-5, atol=1e-6)


# --- normalisation ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["lattice", "naive"])
def test_normalisation_properties(kind, on):
    image, _ = SyntheticShapes("val", num_images=1, size=33, seed=3)[0]
    f = bilateral_features(on(image), 12.0, 4.0)
    filt = (LatticeFilter if kind == "lattice" else NaiveFilter)(f)
    N = filt.n_points
    ones = on(np.ones((N, 1), dtype=np.float32))
    n = backend.asnumpy(filt(ones))[:, 0]
    # "after": every row sums to 1, so a constant stays the same constant
    assert_close(normalized_filter(filt, "after")(ones * 0.3), np.full((N, 1), 0.3), rtol=1e-5,
                 atol=1e-6)
    # "symmetric": sqrt(n) is a fixed point, D^-1/2 K D^-1/2 sqrt(n) = D^-1/2 n = sqrt(n)
    sym = normalized_filter(filt, "symmetric")
    root = on(np.sqrt(n)[:, None].astype(np.float32))
    assert_close(sym(root), np.sqrt(n)[:, None], rtol=1e-5, atol=1e-6)
    # "before": K D^-1 n = K 1 = n;  weights scale the messages linearly
    before = normalized_filter(filt, "before", weight=2.5)
    assert_close(before(on(n[:, None].astype(np.float32))), 2.5 * n[:, None], rtol=1e-5, atol=1e-5)
    # symmetric normalisation of a symmetric kernel is symmetric (exactly for the naive filter)
    if kind == "naive":
        Kn = backend.asnumpy(sym(on(np.eye(N, dtype=np.float32))))
        assert_close(Kn, Kn.T, rtol=1e-6, atol=1e-7)


# --- accuracy of the lattice against the exact Gaussian -------------------------------------------

def _marginals(size=65, seed=0):
    from crf_oracles import network_probs
    image, label = SyntheticShapes("val", num_images=1, size=size, seed=seed,
                                   preset="hard")[0]   # the cluttered images it was tuned on
    probs = network_probs(label, 6, seed=seed)
    Q = dense_crf(image, probs, theta_alpha=67.0, theta_beta=3.0, theta_gamma=1.0)
    return image, Q.reshape(6, -1).T.copy()                               # (N, L)


def test_lattice_smoothness_kernel_is_close_to_the_exact_gaussian(on):
    image, Q = _marginals()
    H, W, _ = image.shape
    for theta in (1.0, 3.0, 10.0):
        f = spatial_features(H, W, theta, np)
        lat = normalized_filter(LatticeFilter(on(f)), "symmetric")
        exact = normalized_filter(NaiveFilter(on(f)), "symmetric")
        err = _relative_l2(lat(on(Q)), exact(on(Q)))
        print(f"xy theta={theta}: relative L2 {err:.4f}")
        assert err <= 0.02


def test_lattice_appearance_kernel_is_close_to_the_exact_gaussian(on):
    image, Q = _marginals()
    for theta_alpha, theta_beta in ((67.0, 3.0), (30.0, 3.0), (100.0, 6.0)):
        f = bilateral_features(image, theta_alpha, theta_beta)
        lat = normalized_filter(LatticeFilter(on(f)), "symmetric")
        exact = normalized_filter(NaiveFilter(on(f)), "symmetric")
        err = _relative_l2(lat(on(Q)), exact(on(Q)))
        print(f"bilateral ({theta_alpha}, {theta_beta}): relative L2 {err:.4f}")
        assert err <= 0.08


@pytest.mark.parametrize("size", [50, 2 ** 61])
def test_unique_inverse_equals_numpy_unique(size, on):
    """The packed one-sort path (small code ranges) and the fallback (codes too large to pack
    with their positions) against ``numpy.unique``, repeated codes included."""
    from minideeplab.crf.lattice import _unique_inverse
    rng = np.random.default_rng(0)
    codes = rng.integers(0, min(size, 2 ** 40), 1000) if size > 50 else rng.integers(0, size,
                                                                                      1000)
    codes[::7] = codes[0]
    xp = backend.get_array_module(on(codes))
    keys, inverse, first = _unique_inverse(on(codes), size, xp)
    expected_keys, expected_first, expected_inverse = np.unique(codes, return_index=True,
                                                                return_inverse=True)
    np.testing.assert_array_equal(backend.asnumpy(keys), expected_keys)
    np.testing.assert_array_equal(backend.asnumpy(inverse), expected_inverse.ravel())
    np.testing.assert_array_equal(backend.asnumpy(first), expected_first)


@pytest.mark.parametrize("d", [2, 3])
def test_vertex_numbering_does_not_change_the_filter(d, on, monkeypatch):
    """Vertices numbered by first use or by key: the same filter up to float32 rounding (a
    renumbering permutes the rows of every matrix), and really another numbering."""
    f = _random_points(3, 400, d)
    V = np.random.default_rng(1).random((400, 3)).astype(np.float32)
    out, splats = {}, {}
    for limit in (0, 3):                        # 0: key order for every d; 3: first use
        monkeypatch.setattr(lattice, "FIRST_USE_MAX_DIM", limit)
        filt = LatticeFilter(on(f))
        out[limit] = backend.asnumpy(filt(on(V)))
        splats[limit] = backend.asnumpy(filt.raw_splat.toarray())
    assert_close(out[3], out[0], rtol=1e-5, atol=1e-6, name=f"first use vs key order, d={d}")
    assert splats[0].shape == splats[3].shape and not np.array_equal(splats[0], splats[3])
