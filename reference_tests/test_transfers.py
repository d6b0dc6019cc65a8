"""No hidden host-device copies in the hot loops.

Every explicit transfer goes through ``backend.to_device`` / ``backend.asnumpy``; CuPy refuses
implicit array conversions (``numpy.asarray(cupy_array)`` is a TypeError), so counting calls
of the two helpers while the hot code runs finds every array transfer. What is allowed:

* one training step uploads its batch (images and labels: ``to_batch``) and reads back one
  pair of scalars (the loss, for the progress bar and the NaN check, stacked with the flag
  "every weight is finite"): nothing else; the network's forward and backward and the SGD
  update transfer nothing (hidden syncs, such as ``float(x)`` on a device array, are counted
  by test_syncs.py);
* the dense CRF moves nothing inside its mean-field iterations.

On the CPU the helpers are called but move nothing, so these tests check the *code paths*;
with ``MINIDEEPLAB_TEST_DEVICES=cpu,gpu`` the GPU variant also counts real copies.
"""
import collections

import numpy as np
import pytest

from minideeplab import backend
from minideeplab.crf import dense as crf_dense
from minideeplab.data import SyntheticShapes
from minideeplab.train import TrainConfig, Trainer


@pytest.fixture
def transfers(monkeypatch):
    """Counts of backend.to_device / backend.asnumpy calls, and of real device changes (a
    to_device call counts once, also where it calls asnumpy itself)."""
    counts = collections.Counter()
    to_device, asnumpy = backend.to_device, backend.asnumpy
    depth = [0]

    def counting_to_device(x, device):
        counts["to_device"] += 1
        if not isinstance(x, (dict, list, tuple)) and backend.device_of(x) != device:
            counts["copies"] += 1
        depth[0] += 1
        try:
            return to_device(x, device)
        finally:
            depth[0] -= 1

    def counting_asnumpy(x):
        if depth[0] == 0:
            counts["asnumpy"] += 1
            if backend.is_gpu_array(x):
                counts["copies"] += 1
        return asnumpy(x)

    monkeypatch.setattr(backend, "to_device", counting_to_device)
    monkeypatch.setattr(backend, "asnumpy", counting_asnumpy)
    return counts


def _wrap(counts, obj, name, key):
    """Replace obj.name by a wrapper that records how many transfer calls happen inside it."""
    original = getattr(obj, name)

    def wrapped(*args, **kwargs):
        counts[f"calls:{name}"] += 1
        before = counts["to_device"] + counts["asnumpy"]
        out = original(*args, **kwargs)
        counts[key] += counts["to_device"] + counts["asnumpy"] - before
        return out
    setattr(obj, name, wrapped)


def test_a_training_step_transfers_only_its_batch(transfers, device):
    config = TrainConfig(image_size=33, crop_size=33, num_train=8, num_val=4, batch_size=4,
                         max_iter=3)
    trainer = Trainer(config, device=device, progress=False)
    trainer.step()                                     # first step: allocations, warm-up
    _wrap(transfers, trainer.model, "forward", "in_forward")
    _wrap(transfers, trainer.model, "backward", "in_backward")
    _wrap(transfers, trainer.optimizer, "step", "in_sgd")
    transfers.clear()
    trainer.step()
    assert transfers["in_forward"] == 0 and transfers["in_backward"] == 0
    assert transfers["in_sgd"] == 0
    assert transfers["to_device"] == 2                 # the batch: images and labels
    assert transfers["asnumpy"] == 1                   # the loss and the finiteness flag
    assert transfers["copies"] == (3 if device == "gpu" else 0)


def test_dense_crf_iterations_transfer_nothing(transfers, monkeypatch, xp):
    image, label = SyntheticShapes("val", 1, size=33)[0]
    probs = np.eye(6, dtype=np.float32)[label].transpose(2, 0, 1) * 0.6 + 0.4 / 6
    image, probs = xp.asarray(image), xp.asarray(probs)
    monkeypatch.setattr(crf_dense, "mean_field", crf_dense.mean_field)  # restored afterwards
    _wrap(transfers, crf_dense, "mean_field", "in_mean_field")
    for method in ("naive", "lattice"):
        transfers.clear()
        crf_dense.dense_crf(image, probs, method=method)
        assert transfers["calls:mean_field"] == 1, "the mean-field loop was not reached"
        assert transfers["in_mean_field"] == 0, method
