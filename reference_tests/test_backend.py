"""The backend: array-module dispatch, device helpers, scatter-add and sparse matrices."""
import numpy as np
import pytest

from helpers import assert_close
from minideeplab import backend


def test_numpy_arrays_give_numpy():
    assert backend.get_array_module(np.zeros(3), None, 2.0, np.float32(1)) is np
    assert backend.get_array_module() is np


def test_mixing_numpy_and_cupy_is_a_type_error():
    if not backend.gpu_available():
        pytest.skip("needs CuPy with a GPU to build a CuPy array")
    import cupy
    with pytest.raises(TypeError, match=r"NumPy and CuPy arrays mixed.*shape \(2, 3\)"):
        backend.get_array_module(np.zeros((2, 3)), cupy.zeros((4,)))


def test_to_device_roundtrip(device):
    a = np.arange(6.0).reshape(2, 3)
    d = backend.to_device({"a": a, "b": [a, a]}, device)
    assert backend.device_of(d["a"]) == device
    back = backend.to_device(d, "cpu")
    assert isinstance(back["b"][1], np.ndarray)
    np.testing.assert_array_equal(back["a"], a)
    assert backend.to_device(a, "cpu") is a  # no copy when already there


def test_bad_device_names():
    with pytest.raises(ValueError, match="device must be one of"):
        backend.to_device(np.zeros(2), "tpu")
    with pytest.raises(ValueError, match="device must be one of"):
        backend.set_default_device("cuda")


def test_default_device_from_environment(monkeypatch):
    monkeypatch.setattr(backend, "_default_device", None)
    monkeypatch.setenv("MINIDEEPLAB_DEVICE", "cpu")
    assert backend.default_device() == "cpu"
    monkeypatch.setenv("MINIDEEPLAB_DEVICE", "quantum")
    with pytest.raises(ValueError, match=r"\$MINIDEEPLAB_DEVICE must be one of"):
        backend.default_device()
    monkeypatch.setenv("MINIDEEPLAB_DEVICE", "cpu")
    previous = backend.set_default_device("cpu")
    assert previous == "cpu" and backend.xp_for() is np
    if not backend.gpu_available():
        with pytest.raises(RuntimeError, match="CuPy with a CUDA device is not available"):
            backend.set_default_device("gpu")


def test_scatter_add_accumulates_repeats(xp, on):
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 5, size=40)
    vals = rng.standard_normal(40)
    expected = np.zeros(5)
    for i, v in zip(idx, vals):  # brute force
        expected[i] += v
    target = xp.zeros(5)
    backend.scatter_add(target, on(idx), on(vals))
    assert_close(target, expected, 1e-12, 1e-12)


def test_csr_matrix_sums_duplicates(xp, on):
    rows, cols = on(np.array([0, 0, 2, 1]), np.array([1, 1, 0, 2]))
    data = on(np.array([1.0, 2.0, 3.0, 4.0]))
    m = backend.csr_matrix(data, rows, cols, (3, 3))
    dense = np.array([[0, 3.0, 0], [0, 0, 4.0], [3.0, 0, 0]])
    v = np.array([1.0, 10.0, 100.0])
    assert_close(m @ on(v), dense @ v, 1e-12, 1e-12)


def test_random_uniform_is_driven_by_the_numpy_generator(xp, device):
    a = backend.random_uniform(xp, (3, 4), np.random.default_rng(5))
    b = backend.random_uniform(xp, (3, 4), np.random.default_rng(5))
    assert backend.device_of(a) == device and a.shape == (3, 4) and a.dtype == np.float32
    np.testing.assert_array_equal(backend.asnumpy(a), backend.asnumpy(b))  # same state, same
    values = backend.asnumpy(backend.random_uniform(xp, (20000,), np.random.default_rng(1)))
    assert values.min() >= 0 and values.max() < 1 and abs(values.mean() - 0.5) < 0.01
    if device == "cpu":  # on NumPy: exactly the generator's own stream
        np.testing.assert_array_equal(
            a, np.random.default_rng(5).random((3, 4), dtype="float32"))
