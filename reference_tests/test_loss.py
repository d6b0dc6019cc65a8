"""Softmax cross-entropy with an ignore label: PyTorch golden values, stability, gradients."""
import numpy as np
import pytest
import scipy.special

from golden_layers import golden, golden_cases
from helpers import assert_close
from minideeplab import backend, functional as F
from minideeplab.gradcheck import check_gradients


@pytest.mark.parametrize("case", golden_cases("ce"))
def test_cross_entropy_against_pytorch_golden(case, on):
    g = golden("ce", case)
    logits, labels = on(g["logits"], g["labels"])
    loss, cache = F.softmax_cross_entropy(logits, labels, ignore_index=int(g["meta"][0]))
    assert loss.shape == () and loss.dtype == np.float64
    assert_close(loss, g["loss"], 1e-12, 1e-12, f"{case}: loss vs PyTorch")
    assert_close(F.softmax_cross_entropy_backward(cache), g["dlogits"], 1e-12, 1e-12,
                 f"{case}: dlogits vs PyTorch")


def _brute_loss(logits, labels, ignore_index=255):
    """Per-pixel loop with Python floats; math.fsum-free but in float64 with a max shift."""
    N, L, H, W = logits.shape
    total, count = 0.0, 0
    for n in range(N):
        for i in range(H):
            for j in range(W):
                if labels[n, i, j] == ignore_index:
                    continue
                z = logits[n, :, i, j] - logits[n, :, i, j].max()
                total -= z[labels[n, i, j]] - np.log(np.exp(z).sum())
                count += 1
    return total / max(count, 1)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_stable_for_logits_of_magnitude_1e4(dtype, on):
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((2, 4, 3, 5)) * 1e4).astype(dtype)
    labels = rng.integers(0, 4, (2, 3, 5))
    labels[0, 0, :2] = 255
    loss, cache = F.softmax_cross_entropy(*on(logits, labels))
    dl = backend.asnumpy(F.softmax_cross_entropy_backward(cache))
    assert np.isfinite(float(loss)) and np.isfinite(dl).all()
    expected = _brute_loss(logits.astype(np.float64), labels)
    assert_close(float(loss), expected, 1e-6 if dtype == "float32" else 1e-12, 0)
    # each valid pixel's gradient sums to 0 over the labels (softmax - onehot)
    assert_close(dl.sum(axis=1), np.zeros((2, 3, 5)), 0, 1e-6)


def test_all_ignored_gives_zero_loss_and_gradient(on):
    logits = on(np.random.default_rng(1).standard_normal((2, 3, 4, 4)))
    labels = on(np.full((2, 4, 4), 255))
    loss, cache = F.softmax_cross_entropy(logits, labels)
    assert float(loss) == 0.0
    assert_close(F.softmax_cross_entropy_backward(cache), np.zeros((2, 3, 4, 4)), 0, 0)


def test_ignored_pixels_do_not_matter(on):
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((1, 3, 5, 6))
    labels = rng.integers(0, 3, (1, 5, 6))
    labels[:, 1:3, 2:4] = 255
    other = logits.copy()
    other[:, :, 1:3, 2:4] = rng.standard_normal((1, 3, 2, 2)) * 100  # change ignored pixels
    l1, c1 = F.softmax_cross_entropy(*on(logits, labels))
    l2, _ = F.softmax_cross_entropy(*on(other, labels))
    assert_close(l1, l2, 1e-14, 0)
    assert_close(l1, _brute_loss(logits, labels), 1e-12, 0)       # mean over the 26 valid
    dl = backend.asnumpy(F.softmax_cross_entropy_backward(c1))
    assert (dl[:, :, 1:3, 2:4] == 0).all()


@pytest.mark.parametrize("ignore_index", [255, -1, None])
def test_gradient(ignore_index, on):
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((2, 4, 3, 3)) * 2
    labels = rng.integers(0, 4, (2, 3, 3))
    if ignore_index is not None:
        labels[rng.random(labels.shape) < 0.3] = ignore_index
    logits, labels = on(logits, labels)

    def forward(logits):
        return F.softmax_cross_entropy(logits, labels, ignore_index=ignore_index)[0]

    def backward(dloss, logits):
        _, cache = F.softmax_cross_entropy(logits, labels, ignore_index=ignore_index)
        return {"logits": F.softmax_cross_entropy_backward(cache, dloss)}

    check_gradients(forward, backward, {"logits": logits}, max_checks=72)


def test_uint8_labels_and_float32(on):
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((1, 21, 4, 4)).astype("float32")
    labels = rng.integers(0, 21, (1, 4, 4)).astype(np.uint8)
    labels[0, 0, 0] = 255
    loss, cache = F.softmax_cross_entropy(*on(logits, labels))
    assert loss.dtype == np.float32
    assert F.softmax_cross_entropy_backward(cache).dtype == np.float32
    assert_close(float(loss), _brute_loss(logits.astype(np.float64), labels), 1e-6, 0)


def test_softmax_and_log_softmax(on):
    x = np.random.default_rng(5).standard_normal((2, 5, 3, 3)) * 1e3
    p = backend.asnumpy(F.softmax(on(x)))
    assert_close(p.sum(axis=1), np.ones((2, 3, 3)), 1e-12, 0)
    assert_close(F.log_softmax(on(x)), scipy.special.log_softmax(x, axis=1), 1e-12, 1e-12)
    assert_close(p, scipy.special.softmax(x, axis=1), 1e-12, 1e-300)
    q = backend.asnumpy(F.softmax(on(x), axis=-1))
    assert_close(q.sum(axis=-1), np.ones((2, 5, 3)), 1e-12, 0)
    small = np.random.default_rng(6).standard_normal((4, 3))
    e = np.exp(small)
    assert_close(F.softmax(on(small), axis=1), e / e.sum(axis=1, keepdims=True), 1e-14, 0)


def test_unchecked_labels_same_loss_and_the_count_stays_on_the_device(on, device):
    rng = np.random.default_rng(3)
    logits, labels = rng.standard_normal((2, 4, 5, 6)), rng.integers(0, 4, (2, 5, 6))
    labels[1, :2] = 255
    checked, c1 = F.softmax_cross_entropy(*on(logits, labels))
    unchecked, c2 = F.softmax_cross_entropy(*on(logits, labels), check_labels=False)
    assert_close(unchecked, _brute_loss(logits, labels), 1e-12, 0)
    assert_close(unchecked, backend.asnumpy(checked), 0, 0)
    assert_close(F.softmax_cross_entropy_backward(c2, 0.5),
                 backend.asnumpy(F.softmax_cross_entropy_backward(c1, 0.5)), 0, 0)
    assert not isinstance(c2.count, int) and backend.device_of(c2.count) == device
    assert int(c2.count) == int((labels != 255).sum())


def test_cross_entropy_bad_input(on):
    logits = on(np.zeros((2, 3, 4, 4)))
    labels = np.zeros((2, 4, 4), np.int64)
    labels[1, 2, 3] = 3
    labels[0, 0, 0] = -2
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\) or the ignore_index 255, "
                                         r"found \[-2, 3\] \(labels.shape=\(2, 4, 4\)"):
        F.softmax_cross_entropy(logits, on(labels))
    with pytest.raises(ValueError, match=r"labels.shape=\(2, 5, 5\) does not match "
                                         r"logits.shape=\(2, 3, 4, 4\): expected \(2, 4, 4\)"):
        F.softmax_cross_entropy(logits, on(np.zeros((2, 5, 5), np.int64)))
    with pytest.raises(TypeError, match=r"labels must be an integer array, got dtype float64"):
        F.softmax_cross_entropy(logits, on(np.zeros((2, 4, 4))))
    with pytest.raises(ValueError, match=r"logits must have 4 dimensions"):
        F.softmax_cross_entropy(logits[0], on(np.zeros((2, 4, 4), np.int64)))
    with pytest.raises(TypeError, match=r"ignore_index must be an int or None"):
        F.softmax_cross_entropy(logits, on(np.zeros((2, 4, 4), np.int64)), ignore_index=2.5)
    with pytest.raises(TypeError, match=r"logits must be a floating-point array"):
        F.softmax_cross_entropy(on(np.zeros((2, 3, 4, 4), np.int64)),
                                on(np.zeros((2, 4, 4), np.int64)))
