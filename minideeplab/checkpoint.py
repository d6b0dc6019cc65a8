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

Writing is atomic (:func:`minideeplab.io.save_npz`, through
:func:`minideeplab.fileio.atomic_write`): the arrays go to a new temporary file in the same
folder, which is flushed, ``fsync``-ed and renamed over the target. A crash or
an error while writing leaves the previous checkpoint untouched; a reader never sees a half
written checkpoint.

Reading validates what it reads (:func:`load_checkpoint`): the layout above, the iteration an
integer >= 0, the config a JSON mapping, every weight and velocity real floating point and
finite. A file that fails is a :class:`CheckpointError` naming the file and the entry; a
checkpoint that loads is one a model can use. What the config entries mean (and their ranges)
is checked by whoever reads them, e.g. :meth:`minideeplab.train.Trainer.resume`.
"""
import copy
import json
import os
from collections import namedtuple

import numpy

from .errors import ArgumentError, CheckpointError
from .io import read_npz, save_npz

__all__ = ["CheckpointError", "Checkpoint", "FORMAT_VERSION", "save_checkpoint", "load_checkpoint", "restore_checkpoint", "json_to_array",
           "array_to_json", "rng_state_to_array", "set_rng_state", "module_rngs"]

FORMAT_VERSION = 1

Checkpoint = namedtuple("Checkpoint", "model_state optim_state iteration rng_states config path",
                        defaults=(None,))
Checkpoint.__doc__ = """A loaded checkpoint: ``model_state`` and ``optim_state`` (flat dicts
name -> NumPy array), ``iteration`` (int), ``rng_states`` (dict name -> uint8 array, see
:func:`set_rng_state`), ``config`` (the decoded JSON, a dict) and ``path`` (the file it was
read from, for error messages; None when built by hand)."""


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
        raise ArgumentError(f"rng_state_to_array: rng must be a numpy.random.Generator, got "
                            f"{type(rng).__name__}")
    return json_to_array(_plain(rng.bit_generator.state))


def set_rng_state(rng, array):
    """Put the state saved by :func:`rng_state_to_array` back into ``rng`` (in place)."""
    state = _unplain(array_to_json(array))
    if state.get("bit_generator") != type(rng.bit_generator).__name__:
        raise ArgumentError(f"set_rng_state: the saved state is for a "
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


# ----------------------------------------------------------------------------- checkpoints
def _state_of(fn, name, obj):
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    if hasattr(obj, "state_dict"):
        return obj.state_dict()
    raise ArgumentError(f"{fn}: {name} must be a dict or have state_dict(), got "
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
        raise ArgumentError(f"{fn}: iteration must be an integer >= 0, got {iteration!r}")
    arrays = {f"model/{k}": v for k, v in _state_of(fn, "model", model).items()}
    arrays.update({f"optim/{k}": v for k, v in _state_of(fn, "optimizer", optimizer).items()})
    for name, rng in (rngs or {}).items():
        arrays[f"rng/{name}"] = rng_state_to_array(rng)
    try:
        arrays["config"] = json_to_array({} if config is None else config)
    except TypeError as e:
        raise ArgumentError(f"{fn}: config must be JSON-serialisable ({e})") from e
    arrays["iteration"] = numpy.array(int(iteration), dtype=numpy.int64)
    arrays["format"] = numpy.array(FORMAT_VERSION, dtype=numpy.int64)
    return save_npz(path, arrays)


def _scalar_int(path, arrays, key):
    a = arrays[key]
    if a.shape != () or a.dtype.kind not in "iu":
        raise CheckpointError(f"checkpoint {path!r}: entry {key!r} must be an integer scalar, "
                              f"got dtype {a.dtype} shape {a.shape}")
    return int(a)


def _json_entry(path, key, a):
    if a.ndim != 1 or a.dtype != numpy.uint8:
        raise CheckpointError(f"checkpoint {path!r}: entry {key!r} must be JSON text in a 1-D "
                              f"uint8 array, got dtype {a.dtype} shape {a.shape}")
    try:
        return array_to_json(a)
    except ValueError as e:        # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise CheckpointError(f"checkpoint {path!r}: entry {key!r} is not valid JSON text "
                              f"({e})") from e


def _check_weights(path, key, a):
    """Parameters, buffers and velocities must be real floating point and finite."""
    if a.dtype.kind != "f":
        raise CheckpointError(f"checkpoint {path!r}: entry {key!r} has dtype {a.dtype}; "
                              "weights and optimiser state must be real floating point")
    finite = numpy.isfinite(a)
    if not finite.all():
        bad = a[~finite]
        raise CheckpointError(f"checkpoint {path!r}: entry {key!r} holds {bad.size} non-finite "
                              f"value(s) of {a.size} (e.g. {bad.ravel()[0]}); these weights "
                              "are unusable (a run that diverged?)")


def load_checkpoint(path):
    """Load and validate a checkpoint written by :func:`save_checkpoint`: a :class:`Checkpoint`.

    Everything comes back as NumPy arrays on the host; :func:`restore_checkpoint` (or
    ``model.load_state_dict``) moves them to the model's device. Nothing from the file is
    executed (no pickle). Raises :class:`CheckpointError` naming the file and the entry when
    the file is missing, unreadable or corrupt, has entries of another layout, an iteration
    that is not an integer >= 0, a config that is not a JSON mapping, a random generator
    state that is not a JSON mapping, or weights/optimiser state that are not real floating
    point or not finite.
    """
    arrays = read_npz(path, what="checkpoint", error=CheckpointError)
    path = os.fspath(path)
    missing = [k for k in ("format", "iteration", "config") if k not in arrays]
    if missing:
        raise CheckpointError(f"checkpoint {path!r} is not a minideeplab checkpoint: no "
                              f"{missing} entries (found {sorted(arrays)[:8]}...)")
    version = _scalar_int(path, arrays, "format")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path!r} has format {version}; this version of "
                              f"minideeplab reads format {FORMAT_VERSION}")
    iteration = _scalar_int(path, arrays, "iteration")
    if iteration < 0:
        raise CheckpointError(f"checkpoint {path!r}: entry 'iteration' must be >= 0, got "
                              f"{iteration}")
    config = _json_entry(path, "config", arrays["config"])
    if not isinstance(config, dict):
        raise CheckpointError(f"checkpoint {path!r}: entry 'config' must be a JSON mapping, "
                              f"got {type(config).__name__}")
    groups = {"model/": {}, "optim/": {}, "rng/": {}}
    for key, value in arrays.items():
        prefix = next((p for p in groups if key.startswith(p) and len(key) > len(p)), None)
        if prefix is None:
            if key not in ("format", "iteration", "config"):
                raise CheckpointError(f"checkpoint {path!r}: unknown entry {key!r} (entries "
                                      "are model/*, optim/*, rng/*, iteration, config, format)")
            continue
        if prefix == "rng/":
            state = _json_entry(path, key, value)
            if not isinstance(state, dict) or not isinstance(state.get("bit_generator"), str):
                raise CheckpointError(f"checkpoint {path!r}: entry {key!r} is not a random "
                                      "generator state (a JSON mapping with 'bit_generator')")
        else:
            _check_weights(path, key, value)
        groups[prefix][key[len(prefix):]] = value
    return Checkpoint(groups["model/"], groups["optim/"], iteration, groups["rng/"], config,
                      path)


def _check_state(where, kind, saved, current):
    """Names, shapes and dtypes of a saved state against the live one; CheckpointError."""
    missing = sorted(set(current) - set(saved))
    unexpected = sorted(set(saved) - set(current))
    if missing or unexpected:
        raise CheckpointError(f"{where} does not fit this {kind}: missing entries "
                              f"{missing[:8]}, unexpected entries {unexpected[:8]}")
    for name, live in current.items():
        a = saved[name]
        if tuple(a.shape) != tuple(live.shape) or a.dtype != live.dtype:
            raise CheckpointError(f"{where}: {kind} entry {name!r} is {a.dtype} "
                                  f"{tuple(a.shape)} in the file but {live.dtype} "
                                  f"{tuple(live.shape)} in the {kind}")


def restore_checkpoint(checkpoint, model, optimizer=None, rngs=None):
    """Load a :class:`Checkpoint` (or a path) into ``model``, ``optimizer`` and ``rngs``.

    Every ``rngs`` name must be in the checkpoint; names, shapes and dtypes must match the
    model's and the optimiser's. Everything is checked before anything is changed; a
    mismatch is a :class:`CheckpointError` naming the file and the entry. Returns the saved
    iteration.
    """
    if not isinstance(checkpoint, Checkpoint):
        checkpoint = load_checkpoint(checkpoint)
    where = f"checkpoint {checkpoint.path!r}" if checkpoint.path else "the checkpoint"
    rngs = dict(rngs or {})
    for name in rngs:
        if name not in checkpoint.rng_states:
            raise CheckpointError(f"restore_checkpoint: no random generator {name!r} in "
                                  f"{where} (it has {sorted(checkpoint.rng_states)})")
    _check_state(where, "model", checkpoint.model_state, model.state_dict())
    if optimizer is not None:
        _check_state(where, "optimiser", checkpoint.optim_state, optimizer.state_dict())
    for name, rng in rngs.items():        # try each state on a copy first
        try:
            set_rng_state(copy.deepcopy(rng), checkpoint.rng_states[name])
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise CheckpointError(f"{where}: entry 'rng/{name}' is not a usable state for "
                                  f"this generator ({e})") from e
    model.load_state_dict(checkpoint.model_state)
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint.optim_state)
    for name, rng in rngs.items():
        set_rng_state(rng, checkpoint.rng_states[name])
    return checkpoint.iteration
