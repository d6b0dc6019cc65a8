"""Hidden device-to-host syncs: the counter (tested on the CPU) and the budgets (asserted on
the CuPy stand-in on every run, and on a GPU where one is used).

The budgets, counted with :func:`syncs.count_syncs` on ``cupy.ndarray`` (or the stand-in's
array class, which makes every host read through the same methods):

* one training step (batch, forward, loss, backward, SGD): **1** sync, reading back the loss
  (for the progress bar and the NaN check) stacked with the flag "every weight and velocity
  is finite"; the forward, the loss, the backward and the SGD update make **0**; the labels are checked on the host before they are uploaded (``to_batch``),
  so the loss does not check them again on the device;
* the loss called with its default ``check_labels=True`` on device labels: **1** (the
  range check), with ``check_labels=False``: **0**;
* one mean-field iteration of the dense CRF: **0**, and the whole ``mean_field`` loop **0**
  (the checks and the lattice's construction before it may sync).

The GPU variants are skipped, with the reason, where CuPy or a GPU is missing.
"""
import types

import numpy as np
import pytest

from minideeplab import backend, functional as F
from minideeplab.crf import dense as crf_dense
from minideeplab.data import SyntheticShapes
from minideeplab.train import TrainConfig, Trainer
from syncs import SyncCounter, count_syncs

TRAIN_STEP_SYNCS = 1
MEAN_FIELD_ITERATION_SYNCS = 0


# -- the counter, on a stand-in device array ----------------------------------------------
class FakeDeviceArray:
    """A NumPy array in a Python class whose methods, like CuPy's, can be replaced; the
    syncing methods are written the way CuPy writes them (``__float__`` calls ``get``)."""

    def __init__(self, a):
        self.a = np.asarray(a)
        self.dtype = self.a.dtype

    def get(self):
        return self.a.copy()

    def __float__(self):
        return float(self.get())

    def __int__(self):
        return int(self.get())

    def __bool__(self):
        return bool(self.get())

    def item(self):
        return self.get().item()

    def __getitem__(self, key):
        if isinstance(key, FakeDeviceArray):
            key = key.a
        return FakeDeviceArray(self.a[key])

    def __gt__(self, other):
        return FakeDeviceArray(self.a > other)

    def __add__(self, other):
        return FakeDeviceArray(self.a + other)

    def sum(self):
        return FakeDeviceArray(self.a.sum())


FakeModule = types.ModuleType("fake")                    # its array module
FakeModule.nonzero = lambda x: FakeDeviceArray(np.nonzero(x.get())[0])


def test_the_counter_counts_each_kind_once_and_nothing_else():
    x = FakeDeviceArray(np.arange(6.0))
    with count_syncs(FakeDeviceArray, FakeModule) as counter:
        y = (x + 1)[1:4].sum() + 2                        # device work only
        assert counter.total == 0
        float(y)                                          # __float__ -> get: counted once
        int(y)
        if y > 3:                                         # __bool__
            y.item()
        x[x > 2]                                          # boolean-mask indexing
        x[FakeDeviceArray(np.array([0, 2]))]              # integer indexing: no sync
        FakeModule.nonzero(x)
        x.get()
    assert counter.counts == {"__float__": 1, "__int__": 1, "__bool__": 1, "item": 1,
                              "x[boolean mask]": 1, "fake.nonzero": 1, "get": 1}
    assert counter.total == 7 and "7 sync(s)" in repr(counter)


def test_the_counter_restores_the_class_and_the_module():
    before = dict(vars(FakeDeviceArray)), FakeModule.nonzero
    with count_syncs(FakeDeviceArray, FakeModule) as counter:
        assert FakeDeviceArray.__float__ is not before[0]["__float__"]
    assert dict(vars(FakeDeviceArray)) == before[0] and FakeModule.nonzero is before[1]
    float(FakeDeviceArray(1.0))
    assert counter.total == 0                             # no longer counting


def test_watch_attributes_syncs_to_the_function_that_made_them():
    counter = SyncCounter()

    class Model:
        def forward(self, x):
            return x + 1

        def check(self, x):
            return bool(x.sum() > 100)                   # a hidden sync
    model = Model()
    x = FakeDeviceArray(np.ones(5))
    with count_syncs(FakeDeviceArray) as counter:
        undo = [counter.watch(model, "forward"), counter.watch(model, "check")]
        model.forward(x)
        model.check(x)
        model.check(x)
        for u in undo:
            u()
    assert counter.calls == {"forward": 1, "check": 2}
    assert counter.inside == {"forward": 0, "check": 2} and counter.total == 2
    assert "forward" not in vars(model)                  # the instance is as it was


def test_a_budget_check_fails_when_the_code_syncs():
    """The budget assertions below must be able to fail: a function with one hidden sync
    (the pattern of a label check on the device) exceeds a budget of 0."""
    def loss_with_a_device_check(x):
        if bool((x > 4).sum() > 0):
            raise ValueError("bad labels")
        return x + 1
    with count_syncs(FakeDeviceArray, FakeModule) as counter:
        loss_with_a_device_check(FakeDeviceArray(np.arange(3)))
    with pytest.raises(AssertionError, match="1 sync"):
        assert_budget(counter.total, 0, "the loss", counter)


def assert_budget(syncs, budget, what, counter):
    assert syncs <= budget, f"{what}: {syncs} syncs, budget {budget}; all counted: {counter!r}"


# -- the budgets, on the stand-in or a GPU ----------------------------------------------------------------
@pytest.fixture
def gpu_syncs(device, xp):
    """A SyncCounter over the device's array class: cupy.ndarray, or the stand-in's (the GPU
    and stand-in variants only: NumPy arrays never sync)."""
    if device != "gpu":
        pytest.skip("syncs are counted on the GPU variant (NumPy arrays never sync)")
    with count_syncs(xp.ndarray, xp) as counter:
        yield counter


def test_a_training_step_syncs_once(gpu_syncs, device):
    config = TrainConfig(image_size=33, crop_size=33, num_train=8, num_val=4, batch_size=4,
                         max_iter=3)
    for loss_at in ("full", "stride8"):
        trainer = Trainer(config.replace(loss_at=loss_at), device=device, progress=False)
        trainer.step()                                   # first step: allocations, warm-up
        undo = [gpu_syncs.watch(trainer.model, "forward"),
                gpu_syncs.watch(trainer.model, "backward"),
                gpu_syncs.watch(trainer.optimizer, "step"),
                gpu_syncs.watch(F, "softmax_cross_entropy")]
        gpu_syncs.clear()
        trainer.step()
        for u in undo:
            u()
        assert gpu_syncs.calls["forward"] == 1 and gpu_syncs.calls["step"] == 1
        for name in ("forward", "backward", "step", "softmax_cross_entropy"):
            assert_budget(gpu_syncs.inside[name], 0, f"{loss_at}: {name}", gpu_syncs)
        assert_budget(gpu_syncs.total, TRAIN_STEP_SYNCS, f"{loss_at}: one step", gpu_syncs)
        assert gpu_syncs.total == TRAIN_STEP_SYNCS, gpu_syncs      # loss and finite flag


def test_the_loss_syncs_only_to_check_labels(gpu_syncs, on):
    rng = np.random.default_rng(0)
    logits, labels = on(rng.standard_normal((2, 4, 5, 6)), rng.integers(0, 4, (2, 5, 6)))
    gpu_syncs.clear()
    loss, cache = F.softmax_cross_entropy(logits, labels, check_labels=False)
    F.softmax_cross_entropy_backward(cache)
    assert gpu_syncs.total == 0, gpu_syncs
    F.softmax_cross_entropy(logits, labels)
    assert gpu_syncs.total == 1, gpu_syncs


@pytest.mark.parametrize("method", ["lattice", "naive"])
def test_mean_field_iterations_sync_nothing(gpu_syncs, xp, method, monkeypatch):
    image, label = SyntheticShapes("val", 1, size=33)[0]
    probs = np.eye(6, dtype=np.float32)[label].transpose(2, 0, 1) * 0.6 + 0.4 / 6
    image, probs = xp.asarray(image), xp.asarray(probs)
    monkeypatch.setattr(crf_dense, "mean_field", crf_dense.mean_field)  # restored afterwards
    gpu_syncs.watch(crf_dense, "mean_field")
    inside = {}
    for iterations in (1, 4):
        gpu_syncs.clear()
        crf_dense.dense_crf(image, probs, method=method, iterations=iterations)
        assert gpu_syncs.calls["mean_field"] == 1, "the mean-field loop was not reached"
        inside[iterations] = gpu_syncs.inside["mean_field"]
    per_iteration = (inside[4] - inside[1]) / 3
    assert_budget(per_iteration, MEAN_FIELD_ITERATION_SYNCS, "one mean-field iteration",
                  gpu_syncs)
    assert_budget(inside[4], 0, "the mean-field loop (4 iterations)", gpu_syncs)


def test_resizing_syncs_nothing_once_its_matrices_are_built(gpu_syncs, on):
    """Bilinear resizing multiplies by CSR matrices built from device arrays; building one
    reads its ``indptr`` on the host (CuPy 14) and an unmarked one is checked for canonical
    form at its first product: the matrices are built once per size, marked canonical."""
    x = on(np.random.default_rng(0).standard_normal((2, 3, 5, 7)).astype(np.float32))
    y, cache = F.resize_bilinear(x, (9, 13))                # first call: the matrices
    gpu_syncs.clear()
    for _ in range(3):
        y, cache = F.resize_bilinear(x, (9, 13))
        F.resize_bilinear_backward(y, cache)
    assert_budget(gpu_syncs.total, 0, "three resizes, forward and backward", gpu_syncs)

