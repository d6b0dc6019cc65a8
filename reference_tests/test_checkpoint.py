"""Checkpoints: bit-exact round trip, clear errors on damaged files, atomic writes."""
import os

import numpy as np
import pytest

from minideeplab import backend, checkpoint as ckpt, nn
from minideeplab.optim import SGD


def _model_and_optimizer(on, seed=0):
    model = nn.Sequential({"conv1": nn.Conv2d(3, 4, 3, padding=1, seed=seed),
                           "conv2": nn.Conv2d(4, 2, 1, seed=seed + 1)})
    model.to(backend.device_of(on(np.zeros(1))))
    opt = SGD(model, lr=0.01)
    rng = np.random.default_rng(seed)
    for m in (model.conv1, model.conv2):
        for k, p in m.params.items():
            m.grads[k] = on(rng.standard_normal(p.shape).astype(p.dtype))
    opt.step()
    return model, opt


def test_round_trip_is_bit_exact(tmp_path, on):
    model, opt = _model_and_optimizer(on)
    data_rng = np.random.default_rng(123)
    data_rng.random(7)                        # advance it: the saved state is not the seed's
    config = {"model": "largefov", "lr": 1e-3, "scales": [1, 0.75, 0.5]}
    path = tmp_path / "run.npz"
    ckpt.save_checkpoint(path, model, opt, iteration=17, rngs={"data": data_rng},
                         config=config)
    loaded = ckpt.load_checkpoint(path)
    assert loaded.iteration == 17 and loaded.config == config
    for saved, original in ((loaded.model_state, model.state_dict()),
                            (loaded.optim_state, opt.state_dict())):
        assert sorted(saved) == sorted(original)
        for k in original:
            o = backend.asnumpy(original[k])
            assert saved[k].dtype == o.dtype and np.array_equal(saved[k], o), k

    model2, opt2 = _model_and_optimizer(on, seed=5)   # different weights and velocities
    rng2 = np.random.default_rng(999)
    assert ckpt.restore_checkpoint(path, model2, opt2, {"data": rng2}) == 17
    for k, v in model.state_dict().items():
        assert np.array_equal(backend.asnumpy(model2.state_dict()[k]), backend.asnumpy(v)), k
    for k, v in opt.state_dict().items():
        assert np.array_equal(backend.asnumpy(opt2.state_dict()[k]), backend.asnumpy(v)), k
    assert np.array_equal(rng2.random(5), data_rng.random(5))   # continues the same stream


def test_file_holds_only_numeric_arrays(tmp_path):
    path = tmp_path / "c.npz"
    ckpt.save_checkpoint(path, {"w": np.ones(3, np.float32)}, config={"a": 1})
    with np.load(path, allow_pickle=False) as data:       # no pickle needed for any entry
        assert sorted(data.files) == ["config", "format", "iteration", "model/w"]
        assert all(data[k].dtype.kind in "iuf" for k in data.files)


def test_mt19937_state_round_trips():
    rng = np.random.Generator(np.random.MT19937(4))
    a = ckpt.rng_state_to_array(rng)
    expected = rng.random(3)
    other = np.random.Generator(np.random.MT19937(0))
    ckpt.set_rng_state(other, a)
    assert np.array_equal(other.random(3), expected)
    with pytest.raises(ValueError, match="saved state is for a MT19937 generator but rng "
                                         "uses PCG64"):
        ckpt.set_rng_state(np.random.default_rng(0), a)


def test_missing_truncated_and_corrupt_files(tmp_path):
    path = tmp_path / "good.npz"
    ckpt.save_checkpoint(path, {"w": np.arange(1000.0)}, iteration=3)
    data = path.read_bytes()

    with pytest.raises(ckpt.CheckpointError, match="nope.npz' does not exist"):
        ckpt.load_checkpoint(tmp_path / "nope.npz")

    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[:len(data) // 2])
    with pytest.raises(ckpt.CheckpointError, match=r"truncated.npz' is truncated or corrupt"):
        ckpt.load_checkpoint(truncated)

    flipped = bytearray(data)
    flipped[200] ^= 0xFF                       # inside the first array's data: bad CRC
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(bytes(flipped))
    with pytest.raises(ckpt.CheckpointError, match=r"corrupt.npz' is truncated or corrupt"):
        ckpt.load_checkpoint(corrupt)

    text = tmp_path / "notes.npz"
    text.write_text("not a zip file")
    with pytest.raises(ckpt.CheckpointError, match="notes.npz' is a text file, not a "
                                                   "minideeplab network; expected"):
        ckpt.load_checkpoint(text)

    other = tmp_path / "other.npz"
    np.savez(other, w=np.zeros(2))
    with pytest.raises(ckpt.CheckpointError, match="not a minideeplab checkpoint"):
        ckpt.load_checkpoint(other)
    assert path.read_bytes() == data           # loading never writes


def _assert_only(tmp_path, names):
    assert sorted(os.listdir(tmp_path)) == sorted(names), "temporary file left behind"


def test_unwritable_array_leaves_previous_checkpoint(tmp_path):
    path = tmp_path / "last.npz"
    ckpt.save_checkpoint(path, {"w": np.ones(4)}, iteration=1)
    before = path.read_bytes()
    with pytest.raises(TypeError, match="'model/bad' has dtype object"):
        ckpt.save_checkpoint(path, {"w": np.ones(4), "bad": np.array([{}, 1], dtype=object)},
                             iteration=2)
    with pytest.raises(TypeError, match="'model/w' must be a NumPy or CuPy array, got list"):
        ckpt.save_checkpoint(path, {"w": [1.0, 2.0]}, iteration=2)
    with pytest.raises(TypeError, match="config must be JSON-serialisable"):
        ckpt.save_checkpoint(path, {"w": np.ones(4)}, config={"f": object()})
    assert path.read_bytes() == before
    _assert_only(tmp_path, ["last.npz"])


def test_crash_mid_write_leaves_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.npz"
    ckpt.save_checkpoint(path, {"w": np.ones(4)}, iteration=1)
    before = path.read_bytes()

    def half_written_then_crash(f, **arrays):
        f.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", half_written_then_crash)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save_checkpoint(path, {"w": np.zeros(4)}, iteration=2)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert ckpt.load_checkpoint(path).iteration == 1
    _assert_only(tmp_path, ["last.npz"])


def test_crash_at_rename_leaves_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.npz"
    ckpt.save_checkpoint(path, {"w": np.ones(4)}, iteration=1)
    before = path.read_bytes()

    def fail(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(path, {"w": np.zeros(4)}, iteration=2)
    monkeypatch.undo()
    assert path.read_bytes() == before
    _assert_only(tmp_path, ["last.npz"])


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="iteration must be an integer >= 0, got -1"):
        ckpt.save_checkpoint(tmp_path / "a.npz", {}, iteration=-1)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ckpt.save_checkpoint(tmp_path / "no" / "a.npz", {})
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        ckpt.save_checkpoint(tmp_path / "a.npz", {}, rngs={"data": np.random.RandomState(0)})
    ckpt.save_checkpoint(tmp_path / "a.npz", {})
    with pytest.raises(ckpt.CheckpointError, match="no random generator 'data' in checkpoint "
                                                   ".*a.npz"):
        ckpt.restore_checkpoint(tmp_path / "a.npz", nn.Sequential(),
                                rngs={"data": np.random.default_rng()})


def test_module_rngs_resume_the_same_dropout_masks(tmp_path):
    def net():
        return nn.Sequential({"drop": nn.Dropout(0.5, seed=1),
                              "inner": nn.Sequential({"drop": nn.Dropout(0.5, seed=2)})})

    a = net()
    x = np.ones((4, 8))
    a(x), a.inner(x)                                   # advance both generators
    rngs = ckpt.module_rngs(a)
    assert sorted(rngs) == ["module:drop", "module:inner.drop"]
    ckpt.save_checkpoint(tmp_path / "c.npz", a, rngs=rngs)
    b = net()
    ckpt.restore_checkpoint(tmp_path / "c.npz", b, rngs=ckpt.module_rngs(b))
    assert np.array_equal(a(x), b(x)) and np.array_equal(a.inner(x), b.inner(x))
    assert not np.array_equal(a(x), net()(x))          # a fresh net draws other masks


def test_sgd_checkpoint_resume_is_bit_exact(tmp_path):
    """2N steps straight == N steps, save, rebuild everything, restore, N steps (poly lr,
    dropout, momentum): the optimiser state, iteration and generators are all in the file."""
    from minideeplab import functional as F
    from minideeplab.models import build_model
    from minideeplab.optim import poly_lr

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 17, 17)).astype(np.float32)
    labels = rng.integers(0, 3, size=(2, 3, 3))

    def fresh():
        model = build_model("aspp-s", 3, width=1 / 32, fc_channels=256, seed=4)
        return model, SGD(model, lr=0.01, momentum=0.9, weight_decay=5e-4)

    def train(model, opt, start, stop):
        for it in range(start, stop):
            model.zero_grad()
            loss, cache = F.softmax_cross_entropy(model(x), labels)
            model.backward(F.softmax_cross_entropy_backward(cache))
            opt.step(poly_lr(0.01, it, 6))

    straight, opt = fresh()
    train(straight, opt, 0, 6)

    first, opt = fresh()
    train(first, opt, 0, 3)
    ckpt.save_checkpoint(tmp_path / "c.npz", first, opt, iteration=3,
                         rngs=ckpt.module_rngs(first))
    resumed, opt = fresh()
    start = ckpt.restore_checkpoint(tmp_path / "c.npz", resumed, opt,
                                    ckpt.module_rngs(resumed))
    train(resumed, opt, start, 6)
    for k, v in straight.state_dict().items():
        assert np.array_equal(resumed.state_dict()[k], v), k
    assert not np.array_equal(first.state_dict()["head.branch0.fc8.weight"],
                              fresh()[0].state_dict()["head.branch0.fc8.weight"])


# ----------------------------------------------------------------------------- validation
def _good_entries():
    """The entries of a valid checkpoint, as save_checkpoint writes them."""
    return {"model/w": np.ones(3, np.float32), "optim/w": np.zeros(3, np.float32),
            "rng/data": ckpt.rng_state_to_array(np.random.default_rng(0)),
            "iteration": np.array(2, np.int64), "format": np.array(ckpt.FORMAT_VERSION),
            "config": ckpt.json_to_array({"lr": 0.1})}


@pytest.mark.parametrize("key, value, message", [
    ("model/w", np.array([1.0, np.nan, 2.0], np.float32), r"'model/w' holds 1 non-finite"),
    ("model/w", np.array([np.inf, -np.inf, 0.0]), r"'model/w' holds 2 non-finite"),
    ("optim/w", np.array([0.0, np.nan, 0.0], np.float32), r"'optim/w' holds 1 non-finite"),
    ("model/w", np.ones(3, np.complex64), r"'model/w' has dtype complex64; .* real floating"),
    ("model/w", np.ones(3, np.int32), r"'model/w' has dtype int32"),
    ("optim/w", np.ones(3, bool), r"'optim/w' has dtype bool"),
    ("iteration", np.array(2.7), r"'iteration' must be an integer scalar, got dtype float64"),
    ("iteration", np.array([1, 2]), r"'iteration' must be an integer scalar, .* shape \(2,\)"),
    ("iteration", np.array(-3), r"'iteration' must be >= 0, got -3"),
    ("format", np.array(1.0), r"'format' must be an integer scalar"),
    ("config", ckpt.json_to_array([1, 2]), r"'config' must be a JSON mapping, got list"),
    ("config", np.frombuffer(b"{not json", np.uint8), r"'config' is not valid JSON"),
    ("config", np.frombuffer(b"\xff\xfe", np.uint8), r"'config' is not valid JSON"),
    ("config", np.ones(3, np.float32), r"'config' must be JSON text in a 1-D uint8 array"),
    ("rng/data", ckpt.json_to_array([1]), r"'rng/data' is not a random generator state"),
    ("extra", np.ones(1), r"unknown entry 'extra'"),
])
def test_load_refuses_entries_of_the_wrong_kind(tmp_path, key, value, message):
    path = tmp_path / "bad.npz"
    entries = _good_entries()
    ckpt.load_checkpoint(_save_raw(tmp_path / "good.npz", entries))   # the control loads
    entries[key] = value
    _save_raw(path, entries)
    with pytest.raises(ckpt.CheckpointError, match=r"bad.npz'.*" + message):
        ckpt.load_checkpoint(path)


def _save_raw(path, entries):
    with open(path, "wb") as f:
        np.savez(f, **entries)
    return path


def test_loading_never_unpickles(tmp_path):
    """A pickle (alone, or as an object array inside an .npz) is refused, and its code never
    runs: unpickling this object would create a marker file."""
    import pickle

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    alone = tmp_path / "alone.npz"
    alone.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ckpt.CheckpointError, match="alone.npz' is a Python pickle"):
        ckpt.load_checkpoint(alone)
    inside = tmp_path / "inside.npz"
    entries = _good_entries()
    obj = np.empty(1, dtype=object)
    obj[0] = Payload()
    entries["model/w"] = obj
    _save_raw(inside, entries)
    with pytest.raises(ckpt.CheckpointError, match="inside.npz' holds pickled Python objects"):
        ckpt.load_checkpoint(inside)
    npy = tmp_path / "single.npy"
    np.save(npy, np.ones(3))
    with pytest.raises(ckpt.CheckpointError,
                       match=r"single.npy' is a NumPy array \(.npy\), not a minideeplab network"):
        ckpt.load_checkpoint(npy)
    with pytest.raises(ckpt.CheckpointError, match="is a folder"):
        ckpt.load_checkpoint(tmp_path)
    assert not marker.exists()


def test_restore_checks_everything_before_changing_anything(tmp_path):
    model = nn.Sequential({"conv": nn.Conv2d(3, 4, 3, seed=0)})
    opt = SGD(model, lr=0.1)
    rng = np.random.default_rng(5)
    path = tmp_path / "c.npz"
    ckpt.save_checkpoint(path, model, opt, iteration=1, rngs={"data": rng})
    before = {k: v.copy() for k, v in model.state_dict().items()}
    draws = np.random.default_rng(5).random(3)

    entries = dict(np.load(path))
    entries["model/conv.weight"] = entries["model/conv.weight"].astype(np.float64) + 1
    _save_raw(path, entries)
    with pytest.raises(ckpt.CheckpointError, match=r"c.npz'.*'conv.weight' is float64 "
                                                   r"\(4, 3, 3, 3\) in the file but float32"):
        ckpt.restore_checkpoint(path, model, opt, {"data": rng})

    entries = dict(np.load(path))
    entries["model/conv.weight"] = np.ones((4, 3, 3, 3), np.float32)
    entries["optim/conv.weight"] = np.ones((4, 3, 1, 1), np.float32)
    _save_raw(path, entries)
    with pytest.raises(ckpt.CheckpointError, match=r"optimiser entry 'conv.weight' is float32 "
                                                   r"\(4, 3, 1, 1\)"):
        ckpt.restore_checkpoint(path, model, opt, {"data": rng})

    entries = dict(np.load(path))
    entries["optim/conv.weight"] = np.ones((4, 3, 3, 3), np.float32)
    entries["rng/data"] = ckpt.json_to_array({"bit_generator": "PCG64", "state": "x"})
    _save_raw(path, entries)
    with pytest.raises(ckpt.CheckpointError, match=r"entry 'rng/data' is not a usable state"):
        ckpt.restore_checkpoint(path, model, opt, {"data": rng})

    del entries["model/conv.bias"]
    _save_raw(path, entries)
    with pytest.raises(ckpt.CheckpointError, match=r"missing entries \['conv.bias'\]"):
        ckpt.restore_checkpoint(path, model, opt)
    for k, v in model.state_dict().items():           # nothing was changed by any failure
        assert np.array_equal(v, before[k]), k
    assert np.array_equal(rng.random(3), draws)
