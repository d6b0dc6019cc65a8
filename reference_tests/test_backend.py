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
        pytest.skip("needs CuPy with a GPU (or the stand-in) to build a CuPy array")
    cupy = backend.xp_for("gpu")
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
    c = backend.asnumpy(backend.random_uniform(xp, (3, 4), np.random.default_rng(6)))
    assert not np.array_equal(c, backend.asnumpy(a))       # another state, other numbers
    if device == "cpu":  # on NumPy: exactly the generator's own stream
        np.testing.assert_array_equal(
            a, np.random.default_rng(5).random((3, 4), dtype="float32"))
    else:  # on CuPy: a cuRAND Philox generator seeded with one 32-bit draw of the generator
        cupy = xp
        seed = int(np.random.default_rng(5).integers(0, 2 ** 32, dtype=np.uint64))
        expected = cupy.random.Generator(cupy.random.Philox4x3210(seed)).random(
            (3, 4), dtype="float32")
        np.testing.assert_array_equal(backend.asnumpy(a), backend.asnumpy(expected))


def test_device_seed_is_one_32_bit_draw():
    rng = np.random.default_rng(11)
    seeds = [backend.device_seed(rng) for _ in range(2000)]
    assert all(isinstance(s, int) and 0 <= s < 2 ** 32 for s in seeds)
    assert max(seeds) >= 2 ** 31 and len(set(seeds)) == len(seeds)   # the whole range is used
    again = np.random.default_rng(11)                               # one draw each, no more
    assert seeds[:3] == [int(again.integers(0, 2 ** 32, dtype=np.uint64)) for _ in range(3)]


def test_sparse_matrices_move_as_sparse_matrices(device):
    """cupy.asnumpy / numpy.asarray have no sparse path (numpy.asarray makes a 0-d object
    array of a sparse matrix): to_device and asnumpy keep sparse matrices sparse."""
    import scipy.sparse
    m = scipy.sparse.random(5, 7, density=0.3, format="csr", random_state=0)
    for fmt in ("csr", "coo", "csc"):
        moved = backend.to_device(m.asformat(fmt), device)
        assert backend.device_of(moved) == device
        back = backend.asnumpy(moved)
        assert scipy.sparse.issparse(back) and back.format == fmt, type(back)
        np.testing.assert_array_equal(back.toarray(), m.toarray())
        assert backend.to_device(moved, device) is moved     # already there: no copy


_FAKE_CUPY = {   # just enough of CuPy's surface for backend.py to import it
    "cupy/__init__.py": "from . import cuda\nclass ndarray:\n    pass\n",
    "cupy/cuda/__init__.py": "from . import runtime\n",
    "cupy/cuda/runtime.py": "calls = 0\ndef getDeviceCount():\n"
                            "    global calls\n    calls += 1\n    return 0\n",
    "cupyx/__init__.py": "",
    "cupyx/scipy/__init__.py": "",
    "cupyx/scipy/sparse.py": "def issparse(x):\n    return False\n",
}

_IMPORT_EVERYTHING = """
import importlib, pkgutil, cupy, minideeplab
names = sorted(m.name for m in pkgutil.walk_packages(minideeplab.__path__, "minideeplab.")
               if m.name != "minideeplab.__main__")
for name in names:
    importlib.import_module(name)
from minideeplab import backend
assert backend.cupy is cupy, "backend did not pick up the stand-in CuPy"
print(len(names), cupy.cuda.runtime.calls, end=" ")
print(backend.gpu_available(), backend.gpu_available(), cupy.cuda.runtime.calls)
"""


def test_importing_minideeplab_does_not_initialise_cuda(tmp_path):
    """Asking CUDA for its devices initialises it in the process, after which a fork()ed child
    cannot use CUDA: importing any module must not ask; the first gpu_available() asks once."""
    import os
    import subprocess
    import sys
    for rel, text in _FAKE_CUPY.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    root = os.path.dirname(os.path.dirname(os.path.abspath(backend.__file__)))
    env = {k: v for k, v in os.environ.items() if k != "MINIDEEPLAB_CUPY_STANDIN"}  # CuPy's
    env.update(PYTHONPATH=os.pathsep.join([str(tmp_path), root]), MPLBACKEND="Agg")  # path
    out = subprocess.run([sys.executable, "-c", _IMPORT_EVERYTHING], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    modules, calls_after_import, first, second, calls_after_asking = out.stdout.split()
    assert int(modules) > 20
    assert calls_after_import == "0"          # no module asked CUDA anything at import
    assert (first, second) == ("False", "False") and calls_after_asking == "1"   # asked once
