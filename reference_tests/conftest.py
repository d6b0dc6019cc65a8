"""Shared fixtures: the same test functions run on every device in $MINIDEEPLAB_TEST_DEVICES.

Devices: ``cpu`` (NumPy), ``standin`` (the strict CuPy stand-in of standin.py: NumPy on the
CPU under CuPy's rules, in CuPy's place in ``minideeplab.backend``) and ``gpu`` (CuPy on a
CUDA device). The default, ``cpu,standin``, runs each device-parametrised test on NumPy and on
the stand-in, so every commit runs the GPU code path; ``MINIDEEPLAB_TEST_DEVICES=cpu,gpu`` runs
it on a real GPU instead (the stand-in and CuPy cannot share a process: the stand-in replaces
CuPy in the backend). Where CuPy or a GPU is missing, the GPU variants are skipped and the
reason is printed (``pytest -rs``).

For the library both ``standin`` and ``gpu`` are the device "gpu": the ``device`` fixture
returns "gpu" for either, and the test id says which ran. The stand-in is installed by one
hook, the environment variable ``MINIDEEPLAB_CUPY_STANDIN`` (the stand-in's file, read by
``minideeplab.backend`` at import), set here before minideeplab is imported and inherited by
subprocesses (the command line, notebook kernels).

Every test that runs on a real GPU carries the marker ``gpu`` (the "gpu" variant of a
device-parametrised test, and the tests of test_gpu_*.py), so
``MINIDEEPLAB_TEST_DEVICES=cpu,gpu python -m pytest -m gpu -rs reference_tests`` runs the GPU
tests alone; the stand-in's variants carry ``standin``.
"""
import os

# Before NumPy starts its BLAS: one thread per test process. Tests are not benchmarks, and
# OpenBLAS's worker threads spin-wait, which makes small GEMMs crawl when cores are shared.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# pytest-xdist runs one test process per core (setup.cfg): minideeplab's own threads would
# only compete with the other processes for the same cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("MINIDEEPLAB_THREADS", "1")

KNOWN_DEVICES = ("cpu", "standin", "gpu")
STANDIN_VAR = "MINIDEEPLAB_CUPY_STANDIN"
HERE = os.path.dirname(os.path.abspath(__file__))


def _test_devices():
    names = [d.strip().lower()
             for d in os.environ.get("MINIDEEPLAB_TEST_DEVICES", "cpu,standin").split(",")
             if d.strip()]
    bad = [d for d in names if d not in KNOWN_DEVICES]
    if bad:
        raise ValueError(f"MINIDEEPLAB_TEST_DEVICES: unknown device(s) {bad}; use "
                         f"{', '.join(KNOWN_DEVICES)}")
    if "standin" in names and "gpu" in names:
        raise ValueError("MINIDEEPLAB_TEST_DEVICES: standin and gpu cannot run in one process "
                         "(the stand-in takes CuPy's place in minideeplab.backend); run them "
                         "one after the other")
    return names or ["cpu"]


TEST_DEVICES = _test_devices()
if "standin" in TEST_DEVICES:       # before minideeplab is imported; inherited by subprocesses
    os.environ[STANDIN_VAR] = os.path.join(HERE, "standin.py")
else:
    os.environ.pop(STANDIN_VAR, None)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from minideeplab import backend  # noqa: E402


def pytest_report_header(config):
    return [f"devices: {', '.join(TEST_DEVICES)} (MINIDEEPLAB_TEST_DEVICES)"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("device") == "standin":
            item.add_marker(pytest.mark.standin)
        elif params.get("device") == "gpu":
            item.add_marker(pytest.mark.gpu)
        elif item.module.__name__.startswith("test_gpu_"):   # on whichever plays the GPU
            item.add_marker(pytest.mark.standin if "standin" in TEST_DEVICES else pytest.mark.gpu)


@pytest.fixture(params=TEST_DEVICES)
def device(request):
    """The library's name of the device this run of the test uses: "cpu", or "gpu" for both
    the stand-in and a real GPU (the test id says which)."""
    if request.param == "gpu" and not backend.gpu_available():
        pytest.skip("GPU variant skipped: CuPy with a CUDA device is not available here")
    return "cpu" if request.param == "cpu" else "gpu"


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
