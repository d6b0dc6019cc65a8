"""Inference runs where the model is, and post-processing (the CRF) stays on that device.

* ``predict_logits``/``predict``/``evaluate`` with ``device=None`` take the device of the
  model's parameters, never the default device (a model on the GPU fed NumPy inputs would
  fail deep inside its first layer); a device other than the model's is a clear error;
* ``evaluate(postprocess=...)`` hands the post-processor the image and the softmax on the
  evaluation's device: no full-resolution copy to the host and back, so a dense CRF runs on
  the GPU when the model does.
"""
import numpy as np
import pytest

from minideeplab import backend
from minideeplab.crf import dense_crf
from minideeplab.data import SyntheticShapes
from minideeplab.inference import evaluate, model_device, predict, predict_logits
from minideeplab.models import build_model
from minideeplab.paper import crf_experiments
from minideeplab.paper.crf_experiments import crf_refine


@pytest.fixture
def model(device):
    return build_model("largefov", 6, tiny=True, seed=0, device=device)


@pytest.fixture
def no_default_device(monkeypatch):
    """Make any use of the default device fail loudly."""
    def refuse():
        raise AssertionError("the default device was consulted")
    monkeypatch.setattr(backend, "default_device", refuse)


def test_no_device_means_the_models_device(model, device, no_default_device):
    images = SyntheticShapes("val", 2, size=33).load_arrays()[0]
    assert model_device(model) == device
    scores = predict_logits(model, images)
    assert backend.device_of(scores) == device and scores.shape == (2, 6, 33, 33)
    labels, probs = predict(model, images[0])
    assert isinstance(labels, np.ndarray) and isinstance(probs, np.ndarray)   # host arrays
    s = backend.asnumpy(scores[0]).astype(np.float64)
    expected = np.exp(s - s.max(axis=0)) / np.exp(s - s.max(axis=0)).sum(axis=0)
    np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(labels, probs.argmax(axis=0))
    cm = evaluate(model, SyntheticShapes("val", 3, size=33), progress=False)
    assert cm.matrix.sum() > 0


def test_a_device_other_than_the_models_is_refused_before_any_work(model, device):
    other = "gpu" if device == "cpu" else "cpu"
    images = np.zeros((1, 33, 33, 3), np.uint8)
    for fn, call in ((
            "predict_logits", lambda: predict_logits(model, images, device=other)),
            ("evaluate", lambda: evaluate(model, SyntheticShapes("val", 1, size=33),
                                          device=other, progress=False))):
        with pytest.raises(ValueError, match=rf"{fn}: device='{other}' but the model's "
                                             rf"parameters are on '{device}'"):
            call()
    with pytest.raises(ValueError, match=r"predict_logits: device must be one of"):
        predict_logits(model, images, device="tpu")


def test_postprocess_gets_device_arrays_and_no_copy_to_the_host(model, device, monkeypatch):
    data = SyntheticShapes("val", 3, size=33)
    plain = evaluate(model, data, progress=False)
    seen = []

    def argmax_post(image, probs):
        seen.append((backend.device_of(image), backend.device_of(probs), image.dtype))
        return probs.argmax(axis=0)
    copies, depth = [], [0]                 # asnumpy calls made directly (not by to_device)
    asnumpy, to_device = backend.asnumpy, backend.to_device

    def counting_asnumpy(x):
        if depth[0] == 0:
            copies.append(tuple(getattr(x, "shape", ())))
        return asnumpy(x)

    def counting_to_device(x, dev):
        depth[0] += 1
        try:
            return to_device(x, dev)
        finally:
            depth[0] -= 1
    monkeypatch.setattr(backend, "asnumpy", counting_asnumpy)
    monkeypatch.setattr(backend, "to_device", counting_to_device)
    post = evaluate(model, data, postprocess=argmax_post, progress=False)
    monkeypatch.undo()
    assert seen == [(device, device, np.uint8)] * 3
    assert copies == [(6, 6)] * 1, copies        # only the (L, L) counts come to the host
    np.testing.assert_array_equal(post.matrix, plain.matrix)
    host = evaluate(model, data, postprocess=lambda im, p: backend.asnumpy(p.argmax(axis=0)),
                    progress=False)                  # host labels are accepted too
    np.testing.assert_array_equal(host.matrix, plain.matrix)


def test_crf_refine_runs_on_the_device_of_the_probabilities(on, device, monkeypatch):
    images, labels = SyntheticShapes("val", 2, size=33).load_arrays()
    probs = (np.eye(6, dtype=np.float32)[labels].transpose(0, 3, 1, 2) * 0.6 + 0.4 / 6)
    calls = []

    def spy(image, p, **kwargs):
        calls.append((backend.device_of(image), backend.device_of(p)))
        return dense_crf(image, p, **kwargs)
    monkeypatch.setattr(crf_experiments, "dense_crf", spy)
    refined = crf_refine(images, on(probs), iterations=3)
    monkeypatch.undo()
    assert calls == [(device, device)] * 2
    assert isinstance(refined, np.ndarray) and refined.shape == probs.shape
    expected = np.stack([dense_crf(im, p, iterations=3,
                                   **crf_experiments.CRF_PARAMS) for im, p in zip(images, probs)])
    np.testing.assert_allclose(refined, expected, rtol=1e-3, atol=1e-4)
