"""The array backend: NumPy on the CPU, CuPy on the GPU, chosen by the arrays themselves.

This is the only module that imports CuPy. Every op in minideeplab starts with::

    xp = backend.get_array_module(x, w)

and then uses ``xp.`` for all array math, so the same code runs on NumPy and CuPy arrays.
No op reads a global device switch: the device of the result is the device of the inputs.

The *default device* (``MINIDEEPLAB_DEVICE=cpu|gpu`` or :func:`set_default_device`) decides
only where *new* arrays are created when nothing else says so: freshly initialised
parameters, datasets moved to the device, and so on.

The few places where NumPy and CuPy differ are wrapped here:

* :func:`scatter_add` (``np.add.at`` vs ``cupyx.scatter_add``),
* :func:`random_uniform` (random numbers made on the device, seeded from a NumPy Generator),
* :func:`gpu_available` (asked lazily: importing this module does not initialise CUDA),
* :func:`sparse_module` / :func:`csr_matrix` (``scipy.sparse`` vs ``cupyx.scipy.sparse``),
* :func:`asnumpy` / :func:`to_device` for explicit transfers (dense arrays and sparse matrices).
"""
import os

import numpy as np

from .errors import ArgumentError, DeviceUnavailableError

# Whether a CUDA device is usable is asked on first need, not at import: the question
# (cudaGetDeviceCount) initialises CUDA in this process, and a process that has initialised
# CUDA cannot use it in a child made by fork() (multiprocessing's default on Linux).
_gpu_available = None

__all__ = [
    "DEVICES", "DeviceUnavailableError", "gpu_available", "get_array_module", "is_gpu_array",
    "asnumpy", "to_device",
    "device_of", "default_device", "set_default_device", "xp_for", "scatter_add",
    "sparse_module", "csr_matrix", "synchronize", "random_uniform", "device_seed",
    "SYNC_METHODS", "SYNC_FUNCTIONS",
]

DEVICES = ("cpu", "gpu")

# The calls that make the host wait for the GPU (docs/conventions.md, "GPU (CuPy)"): the
# methods of a CuPy array that read its value on the host, and the functions whose output size
# depends on the values (not listed: where(cond) with one argument, which calls nonzero).
# Boolean-mask indexing syncs too, and so do functions written with these (bincount).
SYNC_METHODS = ("__bool__", "__int__", "__float__", "__index__", "__complex__", "item", "get",
                "tolist", "tobytes", "nonzero", "compress", "__format__", "__str__",
                "__repr__")
SYNC_FUNCTIONS = ("nonzero", "flatnonzero", "argwhere", "unique", "compress", "extract")

_STANDIN_VAR = "MINIDEEPLAB_CUPY_STANDIN"
if os.environ.get(_STANDIN_VAR):
    # Test-only: the test suite's CuPy stand-in (reference_tests/standin.py, NumPy on the CPU
    # under CuPy's rules) takes CuPy's place here, and so everywhere: the code under test is
    # the code that runs on a GPU. The variable is the stand-in's file; it must import (its
    # folder is put on sys.path, so subprocesses find it whatever their PYTHONPATH).
    import importlib
    import sys
    _folder, _name = os.path.split(os.path.splitext(os.environ[_STANDIN_VAR])[0])
    if _folder and _folder not in sys.path:
        sys.path.append(_folder)
    _standin = importlib.import_module(_name)
    cupy, cupyx, _cupy_sparse = _standin.cupy, _standin.cupyx, _standin.cupyx.scipy.sparse
else:
    try:  # CuPy is optional: everything works on NumPy alone.
        import cupy
        import cupyx
        import cupyx.scipy.sparse as _cupy_sparse
    except Exception:  # ImportError, or a broken CUDA installation
        cupy = None
        cupyx = None
        _cupy_sparse = None

_ENV_VAR = "MINIDEEPLAB_DEVICE"
_default_device = None  # None: read the environment variable on first use




def gpu_available():
    """True when CuPy imports and sees at least one CUDA device.

    Asked once, on the first call (which initialises CUDA in this process), then cached.
    """
    global _gpu_available
    if _gpu_available is None:
        try:
            _gpu_available = cupy is not None and cupy.cuda.runtime.getDeviceCount() > 0
        except Exception:  # CuPy is installed but no driver or no device
            _gpu_available = False
    return _gpu_available


def is_gpu_array(x):
    """True when ``x`` is a CuPy array (or a CuPy sparse matrix)."""
    if cupy is None:
        return False
    return isinstance(x, cupy.ndarray) or (_cupy_sparse is not None and _cupy_sparse.issparse(x))


def _describe(a):
    shape = getattr(a, "shape", None)
    return f"{type(a).__module__}.{type(a).__name__} with shape {shape}"


def get_array_module(*arrays):
    """Return ``numpy`` or ``cupy``, whichever module the given arrays belong to.

    Parameters
    ----------
    *arrays : arrays, scalars or None
        NumPy/CuPy arrays decide the module; Python scalars, NumPy scalars and ``None``
        are ignored.

    Returns
    -------
    module
        ``cupy`` if any argument is a CuPy array, otherwise ``numpy``.

    Raises
    ------
    TypeError
        If NumPy and CuPy arrays are mixed in one call: the caller must move them to one
        device first (:func:`to_device`). Implicit transfers would hide slow host-device
        copies.
    """
    found_gpu = None
    found_cpu = None
    for a in arrays:
        if a is None:
            continue
        if is_gpu_array(a):
            found_gpu = a
        elif isinstance(a, np.ndarray):
            found_cpu = a
    if found_gpu is not None and found_cpu is not None:
        raise ArgumentError(
            "get_array_module: NumPy and CuPy arrays mixed in one call "
            f"({_describe(found_cpu)} and {_describe(found_gpu)}); "
            "move them to one device first with minideeplab.backend.to_device(x, 'cpu'|'gpu')")
    return cupy if found_gpu is not None else np


def device_of(x):
    """``"gpu"`` for a CuPy array, ``"cpu"`` for anything else."""
    return "gpu" if is_gpu_array(x) else "cpu"


def asnumpy(x):
    """Return ``x`` on the host: a NumPy array (a copy from the GPU; ``x`` itself if already
    NumPy), or a ``scipy.sparse`` matrix for a ``cupyx.scipy.sparse`` one.

    ``cupy.asnumpy`` has no sparse path (it would hand the matrix to ``numpy.asarray``), so
    sparse matrices are copied with their own ``.get()``; host sparse matrices are returned as
    they are.
    """
    if is_gpu_array(x):
        if _cupy_sparse is not None and _cupy_sparse.issparse(x):
            return x.get()
        return cupy.asnumpy(x)
    if _is_host_sparse(x):
        return x
    return np.asarray(x)


def _is_host_sparse(x):
    """True for a scipy.sparse matrix/array (without importing SciPy for anything else).

    Decided by the class, never by reading ``sys.modules``: while one thread imports
    ``scipy.sparse``, another would find it there half initialised (without ``issparse``).
    The import statement below waits for such an import to finish.
    """
    if not any(c.__module__.startswith("scipy.sparse") for c in type(x).__mro__):
        return False
    import scipy.sparse
    return scipy.sparse.issparse(x)


def _check_device(device, argname="device"):
    if device not in DEVICES:
        raise ArgumentError(f"{argname} must be one of {DEVICES}, got {device!r}")
    if device == "gpu" and not gpu_available():
        raise DeviceUnavailableError(
            f"{argname}='gpu' asked for, but CuPy with a CUDA device is not available here; "
            "install CuPy on a machine with a GPU: pip install -e '.[gpu]' (CuPy for CUDA 12) "
            "or '.[gpu-cuda13]' (CuPy for CUDA 13)")


def to_device(x, device):
    """Move an array (or a dict/list/tuple of arrays) to ``"cpu"`` (NumPy) or ``"gpu"`` (CuPy).

    Arrays already on that device are returned as they are, without a copy.
    """
    _check_device(device)
    if isinstance(x, dict):
        return {k: to_device(v, device) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(to_device(v, device) for v in x)
    if device == "cpu":
        return asnumpy(x)
    if is_gpu_array(x):
        return x
    if _is_host_sparse(x):   # cupy.asarray has no sparse path either: same format on the GPU
        make = {"csr": _cupy_sparse.csr_matrix, "csc": _cupy_sparse.csc_matrix,
                "coo": _cupy_sparse.coo_matrix, "dia": _cupy_sparse.dia_matrix}
        return make.get(x.format, _cupy_sparse.csr_matrix)(x)
    return cupy.asarray(x)


def default_device():
    """The device for new arrays: :func:`set_default_device`, else ``$MINIDEEPLAB_DEVICE``, else cpu."""
    if _default_device is not None:
        return _default_device
    device = os.environ.get(_ENV_VAR, "cpu").strip().lower() or "cpu"
    _check_device(device, argname=f"${_ENV_VAR}")
    return device


def set_default_device(device):
    """Choose where new arrays (e.g. initialised parameters) are created: ``"cpu"`` or ``"gpu"``.

    Returns the previous default, so a caller can restore it. Ops never read this: they
    follow their inputs.
    """
    global _default_device
    _check_device(device)
    previous = default_device()
    _default_device = device
    return previous


def xp_for(device=None):
    """The array module for ``device`` (``None``: the default device)."""
    device = default_device() if device is None else device
    _check_device(device)
    return cupy if device == "gpu" else np


def scatter_add(target, indices, values):
    """In place ``target[indices] += values`` where repeated indices accumulate.

    ``numpy.add.at`` on the CPU, ``cupyx.scatter_add`` on the GPU. ``target`` must be an
    array the caller allocated (ops never scatter into their caller's arrays).
    """
    if is_gpu_array(target):
        cupyx.scatter_add(target, indices, values)
    else:
        np.add.at(target, indices, values)
    return target


def random_uniform(xp, shape, rng, dtype="float32"):
    """Uniform [0, 1) numbers of ``shape`` made where ``xp`` computes, driven by ``rng``.

    ``rng`` (a ``numpy.random.Generator``) is the only random state, so saving it saves the
    whole sequence (checkpoints, bit-exact resume). On NumPy the numbers are ``rng.random``.
    On CuPy, ``rng`` draws one 32-bit seed (:func:`device_seed`) for a fresh cuRAND Philox4x32-10
    generator that makes the numbers on the GPU, so no array crosses the bus (the two devices
    then draw different, equally random, numbers).

    Why Philox: a counter-based generator is set up in O(1) per thread (key = seed, counter =
    thread index), so a new one per call costs one small kernel. ``cupy.random.default_rng``
    would build XORWOW, whose per-thread set-up jumps ahead by ``thread * 2**67`` steps for
    each of its 32,768 states: far too slow to repeat for every dropout mask.
    """
    if xp is np:
        return rng.random(shape, dtype=dtype)
    generator = cupy.random.Generator(cupy.random.Philox4x3210(device_seed(rng)))
    return generator.random(shape, dtype=dtype)


def device_seed(rng):
    """Draw the seed of a GPU generator from the NumPy Generator ``rng``: an int in [0, 2**32).

    CuPy's cuRAND bit generators keep 32 bits of any seed (they pass it through
    ``numpy.random.SeedSequence(seed).generate_state(1, uint32)``), so drawing more bits would
    add nothing. With 2**32 seeds, two of the ~10**5 masks of a long training run may repeat
    (about one pair in 10**5 draws): harmless for dropout.
    """
    return int(rng.integers(0, 2 ** 32, dtype=np.uint64))


def sparse_module(xp):
    """``scipy.sparse`` for NumPy, ``cupyx.scipy.sparse`` for CuPy."""
    if xp is np:
        import scipy.sparse
        return scipy.sparse
    return _cupy_sparse


def csr_matrix(data, rows, cols, shape):
    """A CSR sparse matrix from COO triplets (duplicates summed), on the device of ``data``.

    Parameters
    ----------
    data : (nnz,) float array
    rows, cols : (nnz,) integer arrays
    shape : (n_rows, n_cols)
    """
    xp = get_array_module(data, rows, cols)
    sp = sparse_module(xp)
    return sp.coo_matrix((data, (rows, cols)), shape=shape).tocsr()


def synchronize(xp):
    """Wait for queued GPU work (a no-op on NumPy); needed around wall-clock timings."""
    if xp is not np:
        cupy.cuda.get_current_stream().synchronize()
