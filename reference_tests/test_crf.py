"""dense_crf: the brute-force definition, lattice vs naive, known cases, the trimap, bad input.

Oracles: ``crf_oracles.brute_force_crf`` computes the CRF of DeepLab v2 Sec. 3.3 from the formulas
(double loop over pixel pairs, Potts sum over ``l' != l`` without the cancellation trick); the
naive method must equal it. The lattice approximates the naive method: measured on 8 synthetic
65x65 images and a 72x54 crop of grace_hopper.jpg at DeepLab's ResNet setting (4, 67, 3, 3, 1):
pooled argmax agreement 99.35% (per image 98.6-100%) and 99.43%, mean |dQ| 0.002 and 0.005,
max |dQ| up to 0.99 (a few near-tie pixels flip completely), so the tests bound the agreement
and the mean |dQ|, not the max.
"""
import numpy as np
import pytest

from crf_oracles import brute_force_crf, network_probs
from helpers import assert_close
from minideeplab import backend
from minideeplab.crf import NORMALIZATIONS, PROB_FLOOR, dense_crf, naive
from minideeplab.data import SyntheticShapes, sample_photo
from minideeplab.metrics import trimap_accuracy

RESNET = dict(w1=4.0, theta_alpha=67.0, theta_beta=3.0, w2=3.0, theta_gamma=1.0)


def _tiny_case(seed=0, H=4, W=5, L=3):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(H, W, 3)).astype(np.uint8)
    probs = rng.dirichlet(np.ones(L), size=(H, W)).transpose(2, 0, 1).astype(np.float32)
    return image, probs


def _synthetic(n, size=65, seed=0):
    images, labels = SyntheticShapes("val", num_images=n, size=size, seed=seed).load_arrays()
    probs = [network_probs(lab, 6, seed=i) for i, lab in enumerate(labels)]
    return list(images), list(labels), probs


def _hopper(size=(72, 54)):
    """The sample photo centre-cropped to 4:3 and resized (data.sample_photo), with 3 regions
    from its smoothed brightness as a stand-in segmentation."""
    from scipy.ndimage import gaussian_filter
    image = sample_photo(size)
    lum = gaussian_filter(image.astype(np.float64).mean(axis=2), 2)
    label = np.digitize(lum, np.quantile(lum, [1 / 3, 2 / 3]))
    return image, label, network_probs(label, 3, seed=0)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_naive_equals_brute_force_definition(normalization, on):
    image, probs = _tiny_case(seed=1)
    params = dict(w1=2.0, theta_alpha=2.0, theta_beta=40.0, w2=1.5, theta_gamma=1.5,
                  iterations=4)
    if normalization == "none":      # raw kernels: smaller weights keep the scores moderate
        params.update(w1=0.3, w2=0.2)
    expected = brute_force_crf(image, probs, normalization=normalization, **params)
    Q = dense_crf(*on(image, probs), method="naive", normalization=normalization, **params)
    assert Q.dtype == np.float32 and Q.shape == probs.shape
    assert_close(Q, expected, rtol=1e-5, atol=1e-6, name=f"naive vs brute force ({normalization})")


def test_lattice_agrees_with_naive_on_synthetic_images(on):
    images, _, probs = _synthetic(3, size=49)       # the exact CRF is O(N^2): small images
    agree, dq, worst = [], [], 0.0
    for image, p in zip(images, probs):
        Qn = backend.asnumpy(dense_crf(*on(image, p), method="naive", **RESNET))
        Ql = backend.asnumpy(dense_crf(*on(image, p), method="lattice", **RESNET))
        agree.append(Qn.argmax(0) == Ql.argmax(0))
        dq.append(np.abs(Qn - Ql))
        worst = max(worst, float(dq[-1].max()))
    agreement = float(np.mean(np.concatenate([a.ravel() for a in agree])))
    mean_dq = float(np.mean(np.concatenate([d.ravel() for d in dq])))
    print(f"synthetic: agreement {agreement:.4f}, mean |dQ| {mean_dq:.4f}, max |dQ| {worst:.3f}")
    assert agreement >= 0.99
    assert mean_dq <= 0.01


@pytest.mark.parametrize("threads", [1, 2])
def test_lattice_agrees_with_naive_on_a_photo(threads, on):
    image, _, probs = _hopper()
    Qn = backend.asnumpy(dense_crf(*on(image, probs), method="naive", **RESNET))
    Ql = backend.asnumpy(dense_crf(*on(image, probs), method="lattice", threads=threads,
                                   **RESNET))
    agreement = float(np.mean(Qn.argmax(0) == Ql.argmax(0)))
    mean_dq = float(np.abs(Qn - Ql).mean())
    print(f"photo: agreement {agreement:.4f}, mean |dQ| {mean_dq:.4f}, "
          f"max |dQ| {np.abs(Qn - Ql).max():.3f}")
    assert agreement >= 0.99
    assert mean_dq <= 0.01


@pytest.mark.parametrize("method", ["naive", "lattice"])
def test_zero_weights_give_softmax_of_log_probs(method, on):
    image, probs = _tiny_case(seed=2, H=6, W=7, L=4)
    probs = np.maximum(probs, 1e-3)
    probs /= probs.sum(axis=0)            # normalised and above the floor: softmax(log p) = p
    Q = dense_crf(*on(image, probs), w1=0.0, w2=0.0, method=method)
    assert_close(Q, probs, rtol=1e-5, atol=1e-6)


def test_zero_iterations_give_softmax_of_log_probs(on):
    image, probs = _tiny_case(seed=3, H=6, W=7, L=4)
    probs[0, :2] = 0                      # below the floor: clipped to 1e-5 before the log
    probs /= probs.sum(axis=0)
    Q = dense_crf(*on(image, probs), iterations=0)
    expected = np.maximum(probs, PROB_FLOOR) / np.maximum(probs, PROB_FLOOR).sum(axis=0)
    assert_close(Q, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["naive", "lattice"])
def test_uniform_image_with_noisy_unary_gets_smoother(method, on):
    rng = np.random.default_rng(5)
    H, W = 40, 48
    truth = (np.arange(W)[None, :] >= W // 2).repeat(H, axis=0).astype(np.int64)  # two halves
    logits = 1.5 * np.eye(2)[truth].transpose(2, 0, 1) + rng.standard_normal((2, H, W))
    probs = (np.exp(logits) / np.exp(logits).sum(axis=0)).astype(np.float32)
    image = np.full((H, W, 3), 128, dtype=np.uint8)        # no edges: only smoothing is left
    Q = backend.asnumpy(dense_crf(*on(image, probs), method=method, **RESNET))

    def n_label_changes(lab):
        return int((lab[1:] != lab[:-1]).sum() + (lab[:, 1:] != lab[:, :-1]).sum())

    before, after = probs.argmax(0), Q.argmax(0)
    print(f"{method}: label changes {n_label_changes(before)} -> {n_label_changes(after)}, "
          f"accuracy {np.mean(before == truth):.3f} -> {np.mean(after == truth):.3f}")
    assert n_label_changes(after) < 0.25 * n_label_changes(before)
    assert np.mean(after == truth) > np.mean(before == truth) + 0.1


def test_history_matches_the_iterations(on):
    image, probs = _tiny_case(seed=4, H=8, W=9, L=3)
    Q, hist = dense_crf(*on(image, probs), iterations=3, return_history=True)
    assert len(hist.Q) == len(hist.scores) == 4
    assert_close(hist.Q[-1], Q, rtol=0, atol=0)
    assert_close(hist.scores[0], np.log(np.maximum(probs, PROB_FLOOR)), rtol=1e-6, atol=1e-6)
    for t in range(4):                    # Q[t] = softmax(scores[t]) over labels
        s = backend.asnumpy(hist.scores[t]).astype(np.float64)
        e = np.exp(s - s.max(axis=0))
        assert_close(hist.Q[t], e / e.sum(axis=0), rtol=1e-5, atol=1e-6, name=f"t={t}")
    Q2 = dense_crf(*on(image, probs), iterations=2)
    assert_close(hist.Q[2], Q2, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("block_bytes, cache_bytes", [(None, None), (2 ** 16, None),
                                                     (None, 2 ** 14)])
def test_threads_do_not_change_the_result(block_bytes, cache_bytes, on, monkeypatch):
    """Label blocks filtered by 1, 2 or 3 threads (and, with a small BLOCK_BYTES, many narrow
    blocks one after the other, on one thread): the same marginals and
    history up to float32 rounding (the softmax's row sums add the blocks' partial sums in
    another order)."""
    from minideeplab.crf import meanfield
    if block_bytes is not None:
        monkeypatch.setattr(meanfield, "BLOCK_BYTES", block_bytes)
    if cache_bytes is not None:                   # several label blocks for each thread
        monkeypatch.setattr(meanfield, "CACHE_BYTES", cache_bytes)
    image, label, _ = _hopper((40, 30))
    probs = network_probs(label, 21, seed=3)      # 2 threads: 12 + 9 labels, 3: 8 + 8 + 5
    runs = {t: dense_crf(*on(image, probs), iterations=4, return_history=True, threads=t,
                         **RESNET) for t in (1, 2, 3)}
    Q1, hist1 = runs[1]
    for t in (2, 3):
        Q, hist = runs[t]
        assert_close(Q, Q1, rtol=1e-5, atol=1e-6, name=f"{t} threads vs 1")
        for step in range(5):
            assert_close(hist.scores[step], hist1.scores[step], rtol=1e-5, atol=1e-5,
                         name=f"scores after {step} iterations, {t} threads vs 1")


@pytest.mark.parametrize("offset", [0.0, 45.0, 70.0, -70.0])
def test_softmax_with_and_without_a_shift(offset):
    """Scores around 0 (exponentiated as they are), near the no-shift limit and beyond it
    (shifted by the largest score) against the float64 definition."""
    from minideeplab.crf.meanfield import softmax
    scores = np.random.default_rng(5).normal(0, 4, (50, 21)).astype(np.float32) + offset
    s = scores.astype(np.float64)
    e = np.exp(s - s.max(axis=1, keepdims=True))
    assert_close(softmax(scores), e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7,
                 name=f"offset {offset}")


def test_softmax_redoes_pixels_below_the_global_shift():
    """One pixel's scores 1000 below another's: exp(s - global max) underflows to 0 there."""
    from minideeplab.crf.meanfield import softmax
    scores = np.array([[1000.0, 999.0, 990.0], [0.5, -1.0, 0.0], [-3.0, 2.0, 1.0]],
                      dtype=np.float32)
    e = np.exp(scores.astype(np.float64) - scores.max(axis=1, keepdims=True))
    assert_close(softmax(scores), e / e.sum(axis=1, keepdims=True), rtol=1e-6, atol=1e-7)


def test_inputs_are_not_modified(on):
    image, probs = on(*_tiny_case(seed=6, H=6, W=6))
    image0, probs0 = image.copy(), probs.copy()
    dense_crf(image, probs, iterations=2)
    assert_close(image, image0, rtol=0, atol=0)
    assert_close(probs, probs0, rtol=0, atol=0)


def test_crf_sharpens_boundaries_in_the_trimap_band():
    """Paper Fig. 10: with a blurred, upsampled unary the CRF gains most near the boundaries."""
    images, labels, probs = _synthetic(4, size=97, seed=1)
    Q = [dense_crf(im, p, **RESNET) for im, p in zip(images, probs)]
    widths = [1, 2, 4, 1000]
    before = trimap_accuracy([p.argmax(0) for p in probs], labels, widths, 6)
    after = trimap_accuracy([q.argmax(0) for q in Q], labels, widths, 6)
    gain = after.pixel_accuracy - before.pixel_accuracy
    print("trimap accuracy before", np.round(before.pixel_accuracy, 3),
          "after", np.round(after.pixel_accuracy, 3))
    assert np.all(gain[:3] >= 0.08)                # bands of 1, 2, 4 pixels
    assert np.all(gain[:3] > 2 * gain[3])          # more than on the whole image
    assert after.mean_iou[0] > before.mean_iou[0] + 0.1


def test_naive_refuses_large_images():
    image = np.zeros((160, 160, 3), dtype=np.uint8)
    probs = np.full((2, 160, 160), 0.5, dtype=np.float32)
    assert 160 * 160 > naive.MAX_PIXELS
    with pytest.raises(ValueError, match='method="lattice"'):
        dense_crf(image, probs, method="naive")


def _bad_cases():
    img, p = _tiny_case(seed=7)
    nan = p.copy()
    nan[0, 1, 1] = np.nan
    neg = p.copy()
    neg[1, 0, 0] = -0.1
    return [
        ("image float", dict(image=img.astype(np.float32)), TypeError,
         "image must be an RGB uint8"),
        ("image gray", dict(image=img[:, :, 0]), ValueError, r"image must have shape \(H, W, 3\)"),
        ("image rgba", dict(image=np.concatenate([img, img[:, :, :1]], axis=2)), ValueError,
         r"image.shape=\(4, 5, 4\)"),
        ("image list", dict(image=img.tolist()), TypeError, "image must be a NumPy or CuPy array"),
        ("probs HWL", dict(probs=p.transpose(1, 2, 0)), ValueError,
         r"probs must have shape \(L, H, W\)"),
        ("probs size", dict(probs=p[:, :3]), ValueError, r"probs.shape=\(3, 3, 5\)"),
        ("probs int", dict(probs=(p > 0.3).astype(np.int64)), TypeError,
         "probs must be a floating"),
        ("probs nan", dict(probs=nan), ValueError, "probs contains NaN"),
        ("probs negative", dict(probs=neg), ValueError, "probs contains negative values"),
        ("one label", dict(probs=p[:1]), ValueError, "probs has L = 1 label"),
        ("theta_alpha 0", dict(theta_alpha=0.0), ValueError, "theta_alpha .* must be > 0"),
        ("theta_beta neg", dict(theta_beta=-3.0), ValueError, "theta_beta .* must be > 0"),
        ("theta_gamma 0", dict(theta_gamma=0), ValueError, "theta_gamma .* must be > 0"),
        ("theta_alpha nan", dict(theta_alpha=float("nan")), TypeError,
         "theta_alpha must be a finite"),
        ("w1 negative", dict(w1=-1.0), ValueError, "w1 .* must be >= 0"),
        ("iterations", dict(iterations=-1), ValueError, "iterations must be >= 0"),
        ("iterations float", dict(iterations=2.5), TypeError, "iterations must be an integer"),
        ("method", dict(method="exact"), ValueError, "unknown method 'exact'"),
        ("normalization", dict(normalization="row"), ValueError, "unknown normalization 'row'"),
        ("threads 0", dict(threads=0), ValueError, "dense_crf: threads must be >= 1"),
        ("threads float", dict(threads=1.5), TypeError, "dense_crf: threads must be an integer"),
    ]


@pytest.mark.parametrize("case", _bad_cases(), ids=lambda c: c[0])
def test_bad_input_names_the_argument(case):
    _, override, error, match = case
    image, probs = _tiny_case(seed=7)
    kwargs = dict(image=image, probs=probs)
    kwargs.update(override)
    image, probs = kwargs.pop("image"), kwargs.pop("probs")
    with pytest.raises(error, match=match):
        dense_crf(image, probs, **kwargs)


@pytest.mark.parametrize("L, n, step, widths", [
    (21, 1, 4, [21]), (21, 2, 4, [12, 9]), (21, 3, 4, [8, 8, 5]), (21, 4, 4, [5, 5, 6, 5]),
    (21, 2, 1, [10, 11]), (19, 8, 4, [2, 3, 2, 3, 2, 2, 3, 2]), (3, 5, 4, [1, 1, 1])])
def test_label_blocks_cover_the_labels(L, n, step, widths):
    """Contiguous, in order, every label once; widths a multiple of step where that keeps n
    blocks (the expected widths worked out by hand)."""
    from minideeplab.crf.meanfield import label_blocks
    blocks = label_blocks(L, n, step)
    assert [b.stop - b.start for b in blocks] == widths
    assert blocks[0].start == 0 and blocks[-1].stop == L
    assert all(a.stop == b.start for a, b in zip(blocks[:-1], blocks[1:]))
