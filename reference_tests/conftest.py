"""Shared fixtures: the same test functions run on every device in $MINIDEEPLAB_TEST_DEVICES.

``MINIDEEPLAB_TEST_DEVICES=cpu`` (the default) runs on NumPy only;
``MINIDEEPLAB_TEST_DEVICES=cpu,gpu`` runs each device-parametrised test twice, the second
time with CuPy arrays. Where CuPy or a GPU is missing, the GPU variants are skipped and the
reason is printed (``pytest -rs``).

Every test that runs on the GPU carries the marker ``gpu`` (the "gpu" variant of a
device-parametrised test, and the tests of test_gpu_*.py), so
``MINIDEEPLAB_TEST_DEVICES=cpu,gpu python -m pytest -m gpu -rs reference_tests`` runs the GPU
tests alone.
"""
import os

# Before NumPy starts its BLAS: one thread per test process. Tests are not benchmarks, and
# OpenBLAS's worker threads spin-wait, which makes small GEMMs crawl when cores are shared.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from minideeplab import backend  # noqa: E402


def _test_devices():
    names = [d.strip().lower() for d in os.environ.get("MINIDEEPLAB_TEST_DEVICES", "cpu").split(",")
             if d.strip()]
    bad = [d for d in names if d not in backend.DEVICES]
    if bad:
        raise ValueError(f"MINIDEEPLAB_TEST_DEVICES: unknown device(s) {bad}; use cpu and/or gpu")
    return names or ["cpu"]


TEST_DEVICES = _test_devices()


def pytest_collection_modifyitems(config, items):
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("device") == "gpu" or item.module.__name__.startswith("test_gpu_"):
            item.add_marker(pytest.mark.gpu)


@pytest.fixture(params=TEST_DEVICES)
def device(request):
    """"cpu" or "gpu": the device this run of the test uses."""
    if request.param == "gpu" and not backend.gpu_available():
        pytest.skip("GPU variant skipped: CuPy with a CUDA device is not available here")
    return request.param


@pytest.fixture
def xp(device):
    """The array module (numpy or cupy) of the current device."""
    return backend.xp_for(device)


@pytest.fixture
def on(device):
    """``on(a, b, ...)``: move NumPy arrays to the current device (one array: no tuple)."""
    def move(*arrays):
        moved = tuple(None if a is None else backend.to_device(np.asarray(a), device)
                      for a in arrays)
        return moved[0] if len(moved) == 1 else moved
    return move


@pytest.fixture(scope="session", autouse=True)
def _model_cache(tmp_path_factory):
    """Models trained by tutorials and reproduce jobs go to a throw-away cache, never the
    user's ~/.cache/minideeplab (subprocesses and notebook kernels inherit the variable)."""
    if "MINIDEEPLAB_CACHE" not in os.environ:
        os.environ["MINIDEEPLAB_CACHE"] = str(tmp_path_factory.mktemp("model-cache"))
    yield
