"""Metrics: confusion matrix, IOU, pixel accuracy, boundary band and trimap (paper Fig. 10).

Oracles: per-pixel loops, IOU from explicit Python sets of pixel positions, and a brute-force
distance to the nearest boundary pixel.
"""
import math

import numpy as np
import pytest

from minideeplab import backend
from minideeplab.metrics import (ConfusionMatrix, boundary_band, boundary_distance,
                                 confusion_matrix, iou_per_class, mean_iou, pixel_accuracy,
                                 trimap_accuracy)


def random_pair(rng, shape, L, ignore_frac=0.1):
    label = rng.integers(0, L, size=shape)
    label[rng.random(shape) < ignore_frac] = 255
    pred = rng.integers(0, L, size=shape)
    return pred, label


def loop_confusion(pred, label, L, ignore=255):
    m = np.zeros((L, L), dtype=np.int64)
    for p, t in zip(pred.ravel().tolist(), label.ravel().tolist()):
        if t != ignore:
            m[t, p] += 1
    return m


def set_iou(preds, labels, L, ignore=255):
    """IOU per class from sets of (image, pixel) positions; None where the union is empty."""
    out = []
    for c in range(L):
        a, b = set(), set()
        for k, (p, t) in enumerate(zip(preds, labels)):
            p, t = np.asarray(p).ravel(), np.asarray(t).ravel()
            a |= {(k, i) for i in range(t.size) if t[i] == c}
            b |= {(k, i) for i in range(t.size) if p[i] == c and t[i] != ignore}
        out.append(len(a & b) / len(a | b) if a | b else None)
    return out


@pytest.mark.parametrize("shape,L", [((7, 5), 3), ((2, 6, 9), 5), ((40,), 21)])
def test_confusion_matrix_matches_pixel_loop(on, shape, L):
    pred, label = random_pair(np.random.default_rng(0), shape, L)
    got = confusion_matrix(*on(pred, label), L)
    assert backend.device_of(got) == backend.device_of(on(pred))
    np.testing.assert_array_equal(backend.asnumpy(got), loop_confusion(pred, label, L))


def test_iou_from_explicit_sets_tiny_case(on):
    label = np.array([[0, 0, 1, 1],
                      [0, 2, 2, 255],
                      [1, 1, 2, 255]])
    pred = np.array([[0, 1, 1, 1],
                     [0, 2, 1, 0],
                     [1, 0, 2, 2]])
    cm = ConfusionMatrix(4).update(*on(pred, label))
    # by hand: class 0: truth {00,01,10}, pred {00,10,21} -> 2/4; class 1: truth {02,03,20,21},
    # pred {01,02,03,12,20} -> 3/6; class 2: truth {11,12,22}, pred {11,22} -> 2/3; class 3: none.
    expected = [2 / 4, 3 / 6, 2 / 3]
    np.testing.assert_allclose(cm.iou()[:3], expected)
    np.testing.assert_allclose(cm.iou()[:3], set_iou([pred], [label], 3))
    assert math.isnan(cm.iou()[3])                      # zero union: nan, left out of the mean
    assert cm.mean_iou() == pytest.approx(np.mean(expected))
    assert cm.pixel_accuracy() == pytest.approx(7 / 10)  # 10 counted pixels, 7 correct
    np.testing.assert_allclose(cm.class_accuracy()[:3], [2 / 3, 3 / 4, 2 / 3])
    s = cm.summary(["bg", "a", "b", "c"])
    assert s["num_pixels"] == 10 and s["iou"]["b"] == pytest.approx(2 / 3)


def test_random_iou_matches_sets():
    rng = np.random.default_rng(1)
    preds, labels = zip(*[random_pair(rng, (5, 6), 4) for _ in range(3)])
    cm = ConfusionMatrix(4)
    for p, t in zip(preds, labels):
        cm.update(p, t)
    np.testing.assert_allclose(cm.iou(), set_iou(preds, labels, 4))
    assert pixel_accuracy(cm.matrix) == pytest.approx(
        sum(int(((p == t) & (t != 255)).sum()) for p, t in zip(preds, labels))
        / sum(int((t != 255).sum()) for t in labels))


def test_ignored_pixels_are_never_counted(on):
    pred, label = random_pair(np.random.default_rng(2), (9, 9), 3, ignore_frac=0.3)
    other = pred.copy()
    other[label == 255] = (other[label == 255] + 1) % 3     # change only ignored pixels
    a = confusion_matrix(*on(pred, label), 3)
    b = confusion_matrix(*on(other, label), 3)
    np.testing.assert_array_equal(backend.asnumpy(a), backend.asnumpy(b))
    assert int(a.sum()) == int((label != 255).sum())


@pytest.mark.parametrize("shape", [(2, 5, 5), (0, 5, 5)])
def test_an_update_with_nothing_to_count_adds_zeros(on, xp, monkeypatch, shape):
    """Every pixel ignored, or an empty batch: zeros, as NumPy's bincount gives. CuPy up to 13
    raises "zero-size array to reduction" for an empty bincount input; the stand-in below
    behaves the same way, so the case must be handled before bincount is reached."""
    bincount = xp.bincount

    def bincount_refusing_empty(x, *args, **kwargs):
        if x.size == 0:
            raise ValueError("zero-size array to reduction operation")
        return bincount(x, *args, **kwargs)
    monkeypatch.setattr(xp, "bincount", bincount_refusing_empty)
    label = np.full(shape, 255, np.int64)
    pred = np.zeros(shape, np.int64)
    m = confusion_matrix(*on(pred, label), 4)
    assert backend.device_of(m) == backend.device_of(on(label)) and m.dtype == np.int64
    np.testing.assert_array_equal(backend.asnumpy(m), np.zeros((4, 4)))
    p1, t1 = random_pair(np.random.default_rng(4), (6, 6), 4)
    cm = ConfusionMatrix(4).update(*on(p1, t1)).update(*on(pred, label))
    np.testing.assert_array_equal(cm.matrix, loop_confusion(p1, t1, 4))


def test_accumulation_equals_concatenation_not_per_image_mean():
    # image 1: a big object, perfectly segmented; image 2: a tiny object, missed entirely
    t1 = np.zeros((10, 10), int); t1[2:8, 2:8] = 1
    p1 = t1.copy()
    t2 = np.zeros((10, 10), int); t2[0, 0] = 1
    p2 = np.zeros((10, 10), int)
    cm = ConfusionMatrix(2).update(p1, t1).update(p2, t2)
    one = ConfusionMatrix(2).update(np.concatenate([p1, p2]), np.concatenate([t1, t2]))
    np.testing.assert_array_equal(cm.matrix, one.matrix)
    # the set-wide IOU of class 1 is 36/37, not the mean of per-image IOUs (1 + 0) / 2
    assert cm.iou()[1] == pytest.approx(36 / 37)
    per_image = np.mean([ConfusionMatrix(2).update(p, t).mean_iou()
                         for p, t in [(p1, t1), (p2, t2)]])
    assert abs(per_image - cm.mean_iou()) > 0.2
    assert cm.reset().matrix.sum() == 0


def test_mean_iou_of_empty_matrix_is_nan():
    assert math.isnan(mean_iou(np.zeros((3, 3), int)))
    assert math.isnan(pixel_accuracy(np.zeros((3, 3), int)))
    np.testing.assert_array_equal(np.isnan(iou_per_class(np.diag([1, 0, 2]))), [False, True, False])


def test_bad_inputs_name_the_argument(on):
    label = np.zeros((4, 4), np.int64)
    with pytest.raises(TypeError, match=r"pred must be an integer label array.*argmax"):
        confusion_matrix(*on(np.zeros((4, 4), np.float32), label), 3)
    with pytest.raises(ValueError, match=r"label has values \[7\] outside \[0, 3\) or 255"):
        confusion_matrix(*on(label, np.full((4, 4), 7)), 3)
    with pytest.raises(ValueError, match=r"pred has values \[255\] outside \[0, 3\)"):
        confusion_matrix(*on(np.full((4, 4), 255), label), 3)
    with pytest.raises(ValueError, match=r"label has values \[-1\]"):
        confusion_matrix(*on(label, np.full((4, 4), -1)), 3)
    with pytest.raises(ValueError, match=r"pred and label shapes differ .*\(4, 5\).*\(4, 4\)"):
        confusion_matrix(*on(np.zeros((4, 5), int), label), 3)
    with pytest.raises(TypeError, match="label must be a NumPy or CuPy array"):
        confusion_matrix(np.zeros(3, int), [0, 1, 2], 3)
    with pytest.raises(ValueError, match="num_classes must be >= 1"):
        ConfusionMatrix(0)


# ----------------------------------------------------------------------- boundaries and trimap

def blocky_label(rng, h, w, L):
    """Random piecewise-constant label (coarse blocks upsampled) with a few 255 pixels."""
    coarse = rng.integers(0, L, size=(h // 3 + 1, w // 3 + 1))
    lab = np.repeat(np.repeat(coarse, 3, 0), 3, 1)[:h, :w].copy()
    lab[rng.random((h, w)) < 0.03] = 255
    return lab


def brute_distance(label):
    h, w = label.shape
    edge = [(y, x) for y in range(h) for x in range(w)
            if any(0 <= y + dy < h and 0 <= x + dx < w and label[y + dy, x + dx] != label[y, x]
                   for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)))]
    d = np.full((h, w), np.inf)
    for y in range(h):
        for x in range(w):
            for ey, ex in edge:
                d[y, x] = min(d[y, x], math.hypot(y - ey, x - ex))
    return d


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_boundary_distance_matches_brute_force(seed):
    label = blocky_label(np.random.default_rng(seed), 11, 14, 3)
    np.testing.assert_allclose(boundary_distance(label), brute_distance(label), atol=1e-12)


def test_boundary_band_widths(on):
    label = np.zeros((9, 9), np.int64)
    label[3:6, 3:6] = 2          # a 3x3 square: its 8 rim pixels (not the centre) and 12 outside
    d = brute_distance(label)
    band0 = boundary_band(on(label), 0)
    assert backend.device_of(band0) == backend.device_of(on(label))
    np.testing.assert_array_equal(backend.asnumpy(band0), d == 0)
    assert int(backend.asnumpy(band0).sum()) == 8 + 12
    for w in (1, 1.5, 3):
        np.testing.assert_array_equal(backend.asnumpy(boundary_band(on(label), w)), d <= w)
    assert not boundary_band(np.ones((4, 4), int), 100).any()   # no boundary: empty band
    with pytest.raises(ValueError, match="width must be a number >= 0"):
        boundary_band(label, -1)


def test_trimap_matches_brute_force_band_metrics():
    rng = np.random.default_rng(3)
    labels = [blocky_label(rng, 10, 12, 3), blocky_label(rng, 8, 9, 3)]
    preds = [np.where(t == 255, 0, t) for t in labels]
    for p in preds:                          # corrupt some pixels
        flip = rng.random(p.shape) < 0.2
        p[flip] = rng.integers(0, 3, size=int(flip.sum()))
    widths = [0, 1, 2.5, 100]
    res = trimap_accuracy(preds, labels, widths, 3)
    np.testing.assert_array_equal(res.widths, widths)
    for k, w in enumerate(widths):
        bands = [brute_distance(t) <= w for t in labels]
        bp = [p[b] for p, b in zip(preds, bands)]
        bt = [t[b] for t, b in zip(labels, bands)]
        ious = [v for v in set_iou(bp, bt, 3) if v is not None]
        counted = sum(int((t != 255).sum()) for t in bt)
        correct = sum(int(((p == t) & (t != 255)).sum()) for p, t in zip(bp, bt))
        assert res.num_pixels[k] == counted
        assert res.pixel_accuracy[k] == pytest.approx(correct / counted)
        assert res.mean_iou[k] == pytest.approx(np.mean(ious))
    # a band wider than the images is the whole set
    whole = ConfusionMatrix(3)
    for p, t in zip(preds, labels):
        whole.update(p, t)
    assert res.mean_iou[-1] == pytest.approx(whole.mean_iou())


def test_trimap_stacked_arrays_and_bad_input():
    rng = np.random.default_rng(4)
    labels = np.stack([blocky_label(rng, 9, 9, 4) for _ in range(3)])
    preds = np.where(labels == 255, 1, labels)
    res = trimap_accuracy(preds, labels, [1, 3], 4)
    np.testing.assert_allclose(res.pixel_accuracy, 1.0)
    np.testing.assert_allclose(res.mean_iou, 1.0)
    with pytest.raises(ValueError, match="2 preds but 3 labels"):
        trimap_accuracy(list(preds[:2]), labels, [1], 4)
    with pytest.raises(ValueError, match="widths must be a non-empty list of numbers >= 0"):
        trimap_accuracy(preds, labels, [-1], 4)
    with pytest.raises(ValueError, match=r"image 1\): label has values \[9\]"):
        bad = labels.copy(); bad[1, 0, 0] = 9
        trimap_accuracy(preds, bad, [1], 4)
    with pytest.raises(ValueError, match=r"preds must be a \(N, H, W\) or \(H, W\) array"):
        trimap_accuracy(np.zeros((1, 1, 2, 2), int), labels, [1], 4)
