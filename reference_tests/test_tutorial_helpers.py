"""Library helpers behind tutorials 04, 06 and 07, checked against outside oracles: the valid-taps
curve (reaches one tap at the map's side), the learning-rate curves (closed forms), the
augmentation figure's stride-8 targets (plain slicing), and naive-vs-lattice comparisons (the
softmax of log P when the CRF has no pairwise term)."""
import numpy as np
import pytest

from minideeplab import backend, functional as F
from minideeplab.crf import compare_methods, dense_crf
from minideeplab.data import SyntheticShapes
from minideeplab.paper.figures import aspp, training


def test_fig_valid_taps_reaches_one_at_the_map_side():
    _, counts = aspp.fig_valid_taps(map_sizes=(11,), rates=tuple(range(1, 16)))
    assert counts[11][0] == pytest.approx((3 * 11 - 2) ** 2 / 121)   # rate 1: edges lose taps
    assert np.all(counts[11][10:] == 1.0) and np.all(counts[11][:10] > 1.0)


def test_lr_schedules_follow_the_closed_forms():
    _, lrs = training.fig_lr_schedules(0.01, 100, power=0.9, step_size=30, gamma=0.1)
    it = np.arange(100)
    np.testing.assert_allclose(lrs["poly"], 0.01 * (1 - it / 100) ** 0.9, rtol=1e-12)
    np.testing.assert_allclose(lrs["step"], 0.01 * 0.1 ** (it // 30), rtol=1e-12)
    assert lrs["poly"][50] == pytest.approx(0.01 * 0.5 ** 0.9)


def test_augmentation_figure_targets_are_the_labels_every_8_pixels():
    image, label = SyntheticShapes("train", 1, size=41)[0]
    _, samples = training.fig_augmentation(image, label, n=3, seed=1, crop_size=33)
    assert samples[0][0] is image and len(samples) == 4
    values = set(np.unique(label).tolist()) | {255}
    for im, lb, small in samples:
        np.testing.assert_array_equal(small, lb[::8, ::8])
        assert set(np.unique(lb).tolist()) <= values
    assert all(s[0].shape == (33, 33, 3) for s in samples[1:])


def _probs(H, W, L, seed):
    rng = np.random.default_rng(seed)
    logits = 3 * rng.standard_normal((1, L, (H - 1) // 8 + 1, (W - 1) // 8 + 1))
    up, _ = F.resize_bilinear(logits.astype(np.float32), (H, W), align_corners=True)
    return np.asarray(F.softmax(up, axis=1)[0], dtype=np.float32)


def test_compare_methods_without_pairwise_terms_gives_the_softmax_of_log_p(device):
    image, _ = SyntheticShapes("val", 1, size=25)[0]
    probs = _probs(25, 25, 4, seed=0)
    xp = backend.xp_for(device)
    c = compare_methods(xp.asarray(image), xp.asarray(probs), w1=0.0, w2=0.0)
    p = np.maximum(probs, 1e-5)
    expected = p / p.sum(axis=0)
    for q in (c.Q_naive, c.Q_lattice):
        np.testing.assert_allclose(q, expected, atol=1e-6)
    assert c.agreement == 1.0 and c.max_abs_diff < 1e-6 and c.pixels == 625


def test_compare_methods_reports_the_methods_outputs_and_their_agreement():
    image, _ = SyntheticShapes("val", 1, size=33, preset="large")[0]
    probs = _probs(33, 33, 5, seed=1)
    params = dict(w1=4.0, theta_alpha=20.0, theta_beta=10.0, w2=3.0, theta_gamma=1.0)
    c = compare_methods(image, probs, **params)
    np.testing.assert_array_equal(c.Q_naive, dense_crf(image, probs, method="naive", **params))
    same = (c.Q_naive.argmax(axis=0) == c.Q_lattice.argmax(axis=0)).mean()
    assert c.agreement == pytest.approx(same) and c.agreement >= 0.99
    assert c.max_abs_diff == pytest.approx(float(abs(c.Q_naive - c.Q_lattice).max()))
    assert c.naive_seconds > 0 and c.lattice_seconds > 0
