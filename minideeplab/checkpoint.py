"""Checkpoints: one ``.npz`` file of plain arrays, written atomically, read without pickle.

A checkpoint holds everything needed to continue training bit for bit:

==================  ==================================================================
key in the .npz     what
==================  ==================================================================
``model/<name>``    every parameter and buffer (``model.state_dict()``)
``optim/<name>``    the optimiser state (``optimizer.state_dict()``: SGD's velocities)
``rng/<name>``      a NumPy ``Generator``'s state, as JSON text in a uint8 array
``iteration``       int64 scalar: the number of finished iterations
``config``          JSON text in a uint8 array (the run's settings), ``{}`` when none
``format``          int64 scalar, :data:`FORMAT_VERSION`
==================  ==================================================================

Only numeric arrays are stored, so :func:`numpy.load` reads it with ``allow_pickle=False``:
opening a checkpoint never runs code from the file.

Writing is atomic. The arrays go to a temporary file in the same directory, which is flushed,
``fsync``-ed and then renamed over the target with :func:`os.replace` (atomic on POSIX and
Windows when both are on one file system). A crash or an error while writing leaves the
previous checkpoint untouched and removes the temporary file; a reader never sees a half
written checkpoint.
"""
import json
import os
import tempfile
from collections import namedtuple

import numpy

from . import backend

__all__ = ["CheckpointError", "Checkpoint", "FORMAT_VERSION", "save_arrays", "load_arrays",
           "save_checkpoint", "load_checkpoint", "restore_checkpoint", "json_to_array",
           "array_to_json", "rng_state_to_array", "set_rng_state", "module_rngs"]

FORMAT_VERSION = 1

Checkpoint = namedtuple("Checkpoint", "model_state optim_state iteration rng_states config")
Checkpoint.__doc__ = """A loaded checkpoint: ``model_state`` and ``optim_state`` (flat dicts
name -> NumPy array), ``iteration`` (int), ``rng_states`` (dict name -> uint8 array, see
:func:`set_rng_state`) and ``config`` (the decoded JSON, a dict)."""


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupt or not a minideeplab checkpoint."""


# ----------------------------------------------------------------------------- encoding
def json_to_array(obj):
    """Encode a JSON-serialisable object as a uint8 array of its UTF-8 JSON text."""
    text = json.dumps(obj, sort_keys=True)
    return numpy.frombuffer(text.encode("utf-8"), dtype=numpy.uint8).copy()


def array_to_json(a):
    """Decode an array made by :func:`json_to_array`."""
    return json.loads(bytes(numpy.asarray(a, dtype=numpy.uint8)).decode("utf-8"))


def _plain(obj):
    """A bit-generator state with its NumPy arrays (MT19937's key) turned into lists."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, numpy.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, numpy.integer):
        return int(obj)
    return obj


def _unplain(obj):
    if isinstance(obj, dict):
        if "__ndarray__" in obj:
            return numpy.array(obj["__ndarray__"], dtype=obj["dtype"])
        return {k: _unplain(v) for k, v in obj.items()}
    return obj


def rng_state_to_array(rng):
    """The state of a ``numpy.random.Generator`` as a uint8 (JSON) array.

    JSON keeps PCG64's 128-bit integers exactly (Python ints are unbounded).
    """
    if not isinstance(rng, numpy.random.Generator):
        raise TypeError(f"rng_state_to_array: rng must be a numpy.random.Generator, got "
                        f"{type(rng).__name__}")
    return json_to_array(_plain(rng.bit_generator.state))


def set_rng_state(rng, array):
    """Put the state saved by :func:`rng_state_to_array` back into ``rng`` (in place)."""
    state = _unplain(array_to_json(array))
    if state.get("bit_generator") != type(rng.bit_generator).__name__:
        raise ValueError(f"set_rng_state: the saved state is for a "
                         f"{state.get('bit_generator')} generator but rng uses "
                         f"{type(rng.bit_generator).__name__}")
    rng.bit_generator.state = state
    return rng


def module_rngs(model, prefix="module:"):
    """Every ``numpy.random.Generator`` a model's layers own (dropout's ``rng``), by name.

    ``{"module:head.branch0.drop6": Generator, ...}``: pass it (merged with the data
    pipeline's generators) as ``rngs`` to :func:`save_checkpoint` and
    :func:`restore_checkpoint`, so that a resumed run draws the same dropout masks.
    """
    return {f"{prefix}{name}": m.rng for name, m in model.named_modules()
            if isinstance(getattr(m, "rng", None), numpy.random.Generator)}


# ----------------------------------------------------------------------------- raw arrays
def _host_arrays(fn, arrays):
    """Check every value and return NumPy copies-or-views; nothing is written yet."""
    out = {}
    for key, value in arrays.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"{fn}: keys must be non-empty strings, got {key!r}")
        if not (isinstance(value, numpy.ndarray) or backend.is_gpu_array(value)):
            raise TypeError(f"{fn}: {key!r} must be a NumPy or CuPy array, got "
                            f"{type(value).__name__}")
        a = backend.asnumpy(value)
        if a.dtype.kind not in "biufc":  # objects, strings etc. would need pickle to load
            raise TypeError(f"{fn}: {key!r} has dtype {a.dtype}; only numeric arrays can be "
                            "stored (they are read back with allow_pickle=False)")
        out[key] = a
    return out


def save_arrays(path, arrays):
    """Write a flat dict ``name -> array`` to ``path`` as ``.npz``, atomically.

    ``path`` is used as given (no ``.npz`` is appended). Arrays may be NumPy or CuPy (copied
    to the host). On any error the file at ``path`` keeps its previous content and no
    temporary file is left behind.
    """
    fn = "save_arrays"
    path = os.fspath(path)
    host = _host_arrays(fn, arrays)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{fn}: directory {directory!r} does not exist (for {path!r})")
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            numpy.savez(f, **host)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable (POSIX); harmless where unsupported
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return path


def load_arrays(path):
    """Read every array of an ``.npz`` file into a dict (NumPy arrays), without pickle.

    Raises :class:`CheckpointError` naming ``path`` when the file is missing, truncated or
    corrupt (every member is read in full here, so a CRC error shows now, not later).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    try:
        with numpy.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except Exception as e:  # BadZipFile, EOFError, ValueError, SyntaxError (bad header)...
        raise CheckpointError(f"checkpoint {path!r} is truncated or corrupt and cannot be "
                              f"read ({type(e).__name__}: {e})") from e


# ----------------------------------------------------------------------------- checkpoints
def _state_of(fn, name, obj):
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    if hasattr(obj, "state_dict"):
        return obj.state_dict()
    raise TypeError(f"{fn}: {name} must be a dict or have state_dict(), got "
                    f"{type(obj).__name__}")


def save_checkpoint(path, model, optimizer=None, *, iteration=0, rngs=None, config=None):
    """Save model, optimiser, iteration, random generators and config to ``path``, atomically.

    Parameters
    ----------
    path : str or PathLike, the .npz file (replaced atomically if it exists)
    model : a Module (its ``state_dict()``) or a flat dict name -> array
    optimizer : an optimiser (its ``state_dict()``), a dict, or None
    iteration : int >= 0, iterations finished
    rngs : dict name -> ``numpy.random.Generator`` (e.g. data order, augmentation, dropout)
    config : JSON-serialisable dict of settings, or None
    """
    fn = "save_checkpoint"
    if isinstance(iteration, bool) or not isinstance(iteration, (int, numpy.integer)) \
            or iteration < 0:
        raise ValueError(f"{fn}: iteration must be an integer >= 0, got {iteration!r}")
    arrays = {f"model/{k}": v for k, v in _state_of(fn, "model", model).items()}
    arrays.update({f"optim/{k}": v for k, v in _state_of(fn, "optimizer", optimizer).items()})
    for name, rng in (rngs or {}).items():
        arrays[f"rng/{name}"] = rng_state_to_array(rng)
    try:
        arrays["config"] = json_to_array({} if config is None else config)
    except TypeError as e:
        raise TypeError(f"{fn}: config must be JSON-serialisable ({e})") from e
    arrays["iteration"] = numpy.array(int(iteration), dtype=numpy.int64)
    arrays["format"] = numpy.array(FORMAT_VERSION, dtype=numpy.int64)
    return save_arrays(path, arrays)


def load_checkpoint(path):
    """Load a checkpoint written by :func:`save_checkpoint` into a :class:`Checkpoint`.

    Everything comes back as NumPy arrays on the host; :func:`restore_checkpoint` (or
    ``model.load_state_dict``) moves them to the model's device.
    """
    arrays = load_arrays(path)
    missing = [k for k in ("format", "iteration", "config") if k not in arrays]
    if missing:
        raise CheckpointError(f"checkpoint {os.fspath(path)!r} is not a minideeplab "
                              f"checkpoint: no {missing} entries (found "
                              f"{sorted(arrays)[:8]}...)")
    version = int(arrays["format"])
    if version != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {os.fspath(path)!r} has format {version}; this "
                              f"version of minideeplab reads format {FORMAT_VERSION}")
    groups = {"model/": {}, "optim/": {}, "rng/": {}}
    for key, value in arrays.items():
        for prefix, group in groups.items():
            if key.startswith(prefix):
                group[key[len(prefix):]] = value
    return Checkpoint(groups["model/"], groups["optim/"], int(arrays["iteration"]),
                      groups["rng/"], array_to_json(arrays["config"]))


def restore_checkpoint(checkpoint, model, optimizer=None, rngs=None):
    """Load a :class:`Checkpoint` (or a path) into ``model``, ``optimizer`` and ``rngs``.

    Every ``rngs`` name must be in the checkpoint. Returns the saved iteration.
    """
    if not isinstance(checkpoint, Checkpoint):
        checkpoint = load_checkpoint(checkpoint)
    for name in rngs or {}:
        if name not in checkpoint.rng_states:
            raise KeyError(f"restore_checkpoint: no random generator {name!r} in the "
                           f"checkpoint (it has {sorted(checkpoint.rng_states)})")
    model.load_state_dict(checkpoint.model_state)
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint.optim_state)
    for name, rng in (rngs or {}).items():
        set_rng_state(rng, checkpoint.rng_states[name])
    return checkpoint.iteration
