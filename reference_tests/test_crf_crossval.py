"""cross_validate: the paper's coarse-to-fine search (Sec. 4.1), checked against dense_crf itself.

Oracle: every score in the table must equal the mean IOU of ONE confusion matrix accumulated over
the samples of ``dense_crf(...).argmax(0)`` with that row's parameters (the public API and
:mod:`minideeplab.metrics`, independent of the helper's shared lattices and unaries).
"""
import itertools

import numpy as np
import pytest

from crf_oracles import network_probs
from minideeplab.crf import PAPER_GRID, cross_validate, dense_crf
from minideeplab.data import SyntheticShapes
from minideeplab.metrics import ConfusionMatrix

ITER = 5


@pytest.fixture(scope="module")
def samples():
    images, labels = SyntheticShapes("val", num_images=3, size=41, seed=4).load_arrays()
    return [(im, network_probs(lab, 6, seed=i), lab)
            for i, (im, lab) in enumerate(zip(images, labels))]


def _score(samples, **params):
    cm = ConfusionMatrix(6)
    for image, probs, label in samples:
        cm.update(dense_crf(image, probs, iterations=ITER, **params).argmax(0), label)
    return cm.mean_iou()


def test_coarse_to_fine_on_the_paper_grid(samples):
    result = cross_validate(samples, iterations=ITER)
    coarse = [r for r in result.table if r["stage"] == "coarse"]
    fine = [r for r in result.table if r["stage"] == "fine"]
    # stage 1: every other value of each axis of the paper's 4 x 8 x 4 grid
    assert {(r["w1"], r["theta_alpha"], r["theta_beta"]) for r in coarse} == set(itertools.product(
        (3.0, 5.0), (30.0, 50.0, 70.0, 90.0), (3.0, 5.0)))
    # stage 2: the neighbours of the best coarse setting, none run twice
    best_coarse = max(coarse, key=lambda r: (r["mean_iou"], r["pixel_accuracy"]))
    keys = [(r["w1"], r["theta_alpha"], r["theta_beta"]) for r in result.table]
    assert len(keys) == len(set(keys)) and 0 < len(fine) <= 27
    for r in fine:
        for name, step in (("w1", 1.0), ("theta_alpha", 10.0), ("theta_beta", 1.0)):
            assert abs(r[name] - best_coarse[name]) <= step
            assert r[name] in PAPER_GRID[name]
    # the best is the table's best, and beats the network alone
    top = max(result.table, key=lambda r: (r["mean_iou"], r["pixel_accuracy"]))
    assert result.best == {"w1": top["w1"], "theta_alpha": top["theta_alpha"],
                           "theta_beta": top["theta_beta"], "w2": 3.0, "theta_gamma": 3.0}
    assert result.best_mean_iou == top["mean_iou"] > result.baseline_mean_iou
    # its score is what dense_crf gives with those parameters
    assert result.best_mean_iou == pytest.approx(_score(samples, **result.best), abs=1e-12)


def test_full_grid_matches_dense_crf_row_by_row(samples):
    grid = dict(w1_values=(3, 6), theta_alpha_values=(30, 80), theta_beta_values=(3, 5))
    result = cross_validate(samples, iterations=ITER, coarse_step=1, theta_gamma=1.0, **grid)
    assert len(result.table) == 8 and {r["stage"] for r in result.table} == {"coarse"}
    for row in result.table:
        expected = _score(samples, w1=row["w1"], theta_alpha=row["theta_alpha"],
                          theta_beta=row["theta_beta"], w2=3.0, theta_gamma=1.0)
        assert row["mean_iou"] == pytest.approx(expected, abs=1e-12), row
    assert result.best_mean_iou == max(r["mean_iou"] for r in result.table)


def test_cross_validate_bad_input(samples):
    image, probs, label = samples[0]
    with pytest.raises(ValueError, match="samples is empty"):
        cross_validate([])
    with pytest.raises(ValueError, match=r"samples\[0\]: label.shape"):
        cross_validate([(image, probs, label[:-1])])
    with pytest.raises(ValueError, match="same number of labels"):
        cross_validate([samples[0], (image, probs[:4] / probs[:4].sum(axis=0), label)])
    with pytest.raises(ValueError, match="theta_alpha_values must be"):
        cross_validate(samples[:1], theta_alpha_values=(0, 10))
    with pytest.raises(ValueError, match=r"samples\[0\]\).*probs contains NaN"):
        cross_validate([(image, np.full_like(probs, np.nan), label)])


def test_cross_validate_refuses_a_gpu_label_with_cpu_arrays(samples, xp):
    if xp is np:
        pytest.skip("needs CuPy: a GPU label with NumPy image and probs")
    image, probs, label = samples[0]
    with pytest.raises(TypeError, match=r"samples\[0\]: label is a CuPy"):
        cross_validate([(image, probs, xp.asarray(label))])


def test_cross_validation_on_the_device_gives_the_cpus_table(samples, on, device):
    """Image and probs on the device (the label uploaded once by cross_validate): the same
    table as on NumPy, row by row, to the agreement of float32 filtering."""
    grid = dict(w1_values=(3, 6), theta_alpha_values=(30, 80), theta_beta_values=(3,),
                coarse_step=1, iterations=ITER)
    on_device = cross_validate([(on(im), on(p), lab) for im, p, lab in samples], **grid)
    on_numpy = cross_validate(samples, **grid)
    assert len(on_device.table) == len(on_numpy.table) == 4
    for a, b in zip(on_device.table, on_numpy.table):
        assert {k: v for k, v in a.items() if k != "mean_iou" and k != "pixel_accuracy"} == \
            {k: v for k, v in b.items() if k != "mean_iou" and k != "pixel_accuracy"}
        assert a["mean_iou"] == pytest.approx(b["mean_iou"], abs=2e-3)
    assert on_device.baseline_mean_iou == pytest.approx(on_numpy.baseline_mean_iou, abs=1e-12)
