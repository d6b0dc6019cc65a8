"""dense_crf at the edges of its inputs: finite marginals or a clear error, never NaN.

Oracles: ``crf_oracles.brute_force_crf`` (float64, from the paper's formulas) for the labels at
the largest allowed weights; the lattice's exact key count (``_vertex_codes``) for the bound
that refuses small thetas; the softmax's definition for what probabilities are.
"""
import warnings

import numpy as np
import pytest

from crf_oracles import brute_force_crf
from minideeplab.crf import NORMALIZATIONS, LatticeFilter, dense_crf
from minideeplab.crf import dense as crf_dense
from minideeplab.crf import lattice, simplex
from minideeplab.crf.dense import MAX_WEIGHT, bilateral_features, spatial_features
from minideeplab.errors import ArgumentError


def _case(seed=0, H=4, W=5, L=3):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(H, W, 3)).astype(np.uint8)
    probs = rng.dirichlet(np.ones(L), size=(H, W)).transpose(2, 0, 1).astype(np.float32)
    return image, probs


@pytest.mark.parametrize("name", ["w1", "w2"])
@pytest.mark.parametrize("value", [1e300, 1e21, float(np.finfo(np.float32).max)])
def test_weights_beyond_the_limit_are_refused(name, value):
    image, probs = _case()
    with pytest.raises(ArgumentError, match=f"dense_crf: {name}=.* beyond the CRF's limit"):
        dense_crf(image, probs, **{name: value})


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_largest_weights_give_finite_marginals_and_the_definitions_labels(normalization):
    """At w1 = w2 = MAX_WEIGHT the scores reach ~1e20 (the old NaN case was 1e300): the
    marginals stay finite probabilities and the labels are those of the float64 definition."""
    image, probs = _case(seed=2, H=4, W=5, L=3)
    params = dict(w1=MAX_WEIGHT, theta_alpha=2.0, theta_beta=40.0, w2=MAX_WEIGHT,
                  theta_gamma=1.5, iterations=3)
    expected = brute_force_crf(image, probs, normalization=normalization, **params)
    for method in ("naive", "lattice"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")            # no overflow on the way either
            Q = dense_crf(image, probs, method=method, normalization=normalization, **params)
        assert np.isfinite(Q).all()
        np.testing.assert_allclose(Q.sum(axis=0), 1, atol=1e-5)
        if method == "naive":                         # the lattice approximates the kernels
            np.testing.assert_array_equal(Q.argmax(axis=0), expected.argmax(axis=0))


def test_scores_that_are_not_probabilities_are_refused():
    image, probs = _case(L=4)
    scores = np.log(probs) + 12.0                   # logits, shifted: all >= 0, up to ~12
    assert scores.min() >= 0
    with pytest.raises(ArgumentError, match=r"probs must be probabilities.*values up to 1\d\."):
        dense_crf(image, scores.astype(np.float32))
    with pytest.raises(ArgumentError, match="per-pixel sums from 3 to 3"):
        dense_crf(image, probs * 3)                 # values <= 1, sums 3
    with pytest.raises(ArgumentError, match=r"per-pixel sums from 0\.5"):
        dense_crf(image, probs * 0.5)
    # a softmax stored in float16 is accepted (its sums are within 0.001 of 1)
    Q = dense_crf(image, probs.astype(np.float16).astype(np.float32), iterations=1)
    assert np.isfinite(Q).all()


@pytest.mark.parametrize("method", ["lattice", "naive"])
@pytest.mark.parametrize("theta", ["theta_alpha", "theta_beta", "theta_gamma"])
def test_tiny_thetas_are_refused_before_any_work(theta, method, monkeypatch):
    image, probs = _case()
    monkeypatch.setattr(crf_dense, "make_filter", None)      # any work would fail differently
    with warnings.catch_warnings():
        warnings.simplefilter("error")                       # not a RuntimeWarning first
        with pytest.raises(ArgumentError, match=f"dense_crf: .*{theta}=1e-300.* too small for "
                                                "a 4x5 image"):
            dense_crf(image, probs, method=method, **{theta: 1e-300})


def test_a_zero_weight_kernel_is_not_checked():
    """w2 = 0 turns the smoothness kernel off: its theta_gamma is not used and not refused."""
    image, probs = _case()
    Q = dense_crf(image, probs, w2=0.0, theta_gamma=1e-300, iterations=1)
    assert np.isfinite(Q).all()


def test_key_space_bounds_the_lattices_exact_key_count():
    """The bound refuses no theta that the lattice could filter: it is at least the exact count
    (measured on images of random colours and on smooth ones, 2-D and 5-D features)."""
    rng = np.random.default_rng(1)
    for H, W, ta, tb in [(30, 40, 1.0, 1.0), (30, 40, 0.3, 0.2), (60, 20, 5.0, 0.3)]:
        noisy = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        smooth = np.broadcast_to(np.linspace(0, 255, W, dtype=np.uint8)[None, :, None],
                                 (H, W, 3)).copy()
        for f in (bilateral_features(noisy, ta, tb), bilateral_features(smooth, ta, tb),
                  spatial_features(H, W, ta, np)):
            rem0, rank, _ = simplex.enclosing_simplex(simplex.elevate(f, np), np)
            exact = simplex.vertex_codes(rem0, rank, np)[2]
            bound = simplex.key_space(f.max(axis=0) - f.min(axis=0))
            assert exact <= bound < 8 * exact     # and tight enough to be useful


def test_lattice_refuses_features_beyond_its_keys():
    f = np.array([[0.0, 0.0], [1e300, 1.0]])
    for features in (f, np.array([[0.0, np.inf], [1.0, 1.0]]), np.array([[np.nan, 0.0]])):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(ArgumentError, match="permutohedral lattice: .* keys"):
                LatticeFilter(features)


def test_return_history_must_be_a_bool():
    image, probs = _case()
    with pytest.raises(ArgumentError, match="dense_crf: return_history must be True or False"):
        dense_crf(image, probs, return_history="yes")


def test_non_finite_marginals_are_never_returned(monkeypatch):
    """The last guard: should the mean field ever give NaN, dense_crf raises instead of
    returning marginals whose argmax would silently be label 0 everywhere."""
    image, probs = _case()

    def broken(unary, filters, iterations, return_history=False, threads=1):
        return np.full_like(unary, np.nan)
    monkeypatch.setattr(crf_dense, "mean_field", broken)
    with pytest.raises(FloatingPointError, match="dense_crf: the marginals are not finite"):
        dense_crf(image, probs)


@pytest.mark.parametrize("offset", [0.0, 1e3, 1e20])
def test_softmax_in_place_keeps_pixels_far_below_the_largest_score(offset):
    """The mean field's softmax writes over its scores: a pixel 1000 below the largest score
    (whose exponentials all underflow under a global shift) must still get its own softmax."""
    from minideeplab.crf.meanfield import softmax
    scores = np.array([[1000.0, 999.0, 990.0], [0.5, -1.0, 0.0], [-3.0, 2.0, 1.0]]) + offset
    scores[1:] -= offset                             # only the first pixel moves up
    s64 = scores.copy()
    e = np.exp(s64 - s64.max(axis=1, keepdims=True))
    s32 = scores.astype(np.float32)
    Q = softmax(s32, out=s32)
    expected = e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(Q[1:], expected[1:], rtol=1e-6, atol=1e-7)
    assert np.isfinite(Q).all() and Q[0].argmax() == 0


def test_iterations_beyond_the_limit_are_refused_before_any_work(monkeypatch):
    """iterations=10**30 ran forever (crf --iterations); the limit itself is accepted."""
    image, probs = _case()
    with pytest.raises(ArgumentError, match="dense_crf: iterations=10{30} is beyond the CRF's "
                                            "limit of 1000"):
        dense_crf(image, probs, iterations=10 ** 30)
    monkeypatch.setattr(crf_dense, "MAX_ITERATIONS", 3)
    assert np.isfinite(dense_crf(image, probs, iterations=3)).all()
    with pytest.raises(ArgumentError, match="iterations=4 is beyond"):
        dense_crf(image, probs, iterations=4)
