"""Checkpoints and network files: one reader for resuming, predicting and evaluating.

Two kinds of file hold a trained network; :func:`load_checkpoint` reads both into one
:class:`Checkpoint`, and :func:`load_model` builds the model of either, weights loaded:

* **A training checkpoint** (``.npz``, :func:`save_checkpoint`, format :data:`FORMAT_VERSION`):
  everything needed to continue training bit for bit.

  ==================  ================================================================
  entry               what
  ==================  ================================================================
  ``model/<name>``    every parameter and buffer (``model.state_dict()``)
  ``optim/<name>``    the optimiser state (``optimizer.state_dict()``: SGD's velocities)
  ``rng/<name>``      a NumPy ``Generator``'s state, as JSON text in a uint8 array
  ``build_args``      JSON text: the ``build_model`` arguments of the model, its
                      preprocessing included (absent for a network built by hand)
  ``config``          JSON text: the caller's settings (the Trainer's: ``train``, the
                      TrainConfig; ``history``; ``elapsed`` training seconds)
  ``iteration``       int64 scalar: the number of finished iterations
  ``format``          int64 scalar, :data:`FORMAT_VERSION`
  ==================  ================================================================

  Format 1 (older) kept the build arguments in ``config["model"]``, and its first files had no
  preprocessing there, nor a ResNet's rate schedule; it is still read
  (:func:`_upgrade_format_1`): such a network was trained here from scratch, so its
  preprocessing is ``preprocess.from_scratch`` of its training settings' ``input_scale``,
  the recipe of that version, and a ResNet's schedule was torchvision's. Format 2 records
  both, and a file without them is refused.
* **A network file** (``.safetensors``, :func:`save_network`, format :data:`NETWORK_FORMAT`):
  the weights, the learning curves and the settings of a finished run, for evaluating (no
  optimiser state, no generators: it cannot be resumed). Tensors ``model/<name>`` and
  ``history/{iteration,loss,lr,time}`` (the losses in float64, exactly as logged); text
  metadata ``format``, ``config`` (JSON ``{"model": build arguments, "train": TrainConfig}``),
  ``val`` (JSON list: the validations during training), ``iteration``, ``elapsed``. The book's
  trained networks ship in this format (``minideeplab/paper/networks/``).

Only numeric arrays are stored: reading never runs code from the file (``allow_pickle=False``,
safetensors). Writing is atomic (:mod:`minideeplab.io`, through
:func:`minideeplab.fileio.atomic_write`): a crash while writing leaves the previous file
untouched; a reader never sees a half written one.

Reading validates what it reads: the layout above, the format, the iteration an integer >= 0,
the config a JSON mapping, the build arguments a mapping with the model's preprocessing,
every weight and velocity real floating point and finite. A file that fails is a
:class:`~minideeplab.errors.CheckpointError` naming the file and the entry; a checkpoint that
loads is one a model can use. What the config's entries mean is checked by whoever reads
them: :meth:`minideeplab.config.TrainConfig.from_checkpoint` the training settings,
:meth:`minideeplab.train.Trainer.resume` the iteration, history and elapsed time.
"""
import copy
import json
import math
import os
from collections import namedtuple

import numpy as np

from . import backend
from .errors import ArgumentError, BudgetExceededError, CheckpointError
from .io import file_kind, read_npz, read_safetensors, save_npz, save_safetensors
from .models import build_model
from .nn.init import shapes_only
from .preprocess import from_scratch

__all__ = ["CheckpointError", "Checkpoint", "FORMAT_VERSION", "NETWORK_FORMAT",
           "save_checkpoint", "save_network", "load_checkpoint", "load_model", "build_model_of",
           "restore_checkpoint", "json_to_array", "array_to_json", "rng_state_to_array",
           "set_rng_state", "module_rngs"]

FORMAT_VERSION = 2                          # training checkpoints (.npz)
NETWORK_FORMAT = "minideeplab-network-1"    # network files (.safetensors)
RESNETS = ("resnet", "v3")                  # the models whose build arguments hold a schedule
HISTORY_KEYS = {"iteration": np.int64, "loss": np.float64, "lr": np.float64,
                "time": np.float64}     # the learning curves of a network file

Checkpoint = namedtuple("Checkpoint",
                        "model_state optim_state iteration rng_states config path build_args",
                        defaults=(None, None))
Checkpoint.__doc__ = """A loaded checkpoint or network file: ``model_state`` and ``optim_state``
(flat dicts name -> NumPy array; no optimiser state in a network file), ``iteration`` (int),
``rng_states`` (dict name -> uint8 array, see :func:`set_rng_state`), ``config`` (the decoded
JSON settings, a dict; a network file's holds ``train``, ``history`` and ``elapsed`` as a
training checkpoint's does), ``path`` (the file it was read from, for error messages; None
when built by hand) and ``build_args`` (the ``build_model`` arguments, preprocessing
included, or None when the file does not say how to build its model)."""


# ----------------------------------------------------------------------------- encoding
def json_to_array(obj):
    """Encode a JSON-serialisable object as a uint8 array of its UTF-8 JSON text."""
    text = json.dumps(obj, sort_keys=True)
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).copy()


def array_to_json(a):
    """Decode an array made by :func:`json_to_array`."""
    return json.loads(bytes(np.asarray(a, dtype=np.uint8)).decode("utf-8"))


def _to_json_types(obj):
    """A bit-generator state with its NumPy arrays (MT19937's key) turned into lists."""
    if isinstance(obj, dict):
        return {k: _to_json_types(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _from_json_types(obj):
    if isinstance(obj, dict):
        if "__ndarray__" in obj:
            return np.array(obj["__ndarray__"], dtype=obj["dtype"])
        return {k: _from_json_types(v) for k, v in obj.items()}
    return obj


def rng_state_to_array(rng):
    """The state of a ``numpy.random.Generator`` as a uint8 (JSON) array.

    JSON keeps PCG64's 128-bit integers exactly (Python ints are unbounded).
    """
    if not isinstance(rng, np.random.Generator):
        raise ArgumentError(f"rng_state_to_array: rng must be a numpy.random.Generator, got "
                            f"{type(rng).__name__}")
    return json_to_array(_to_json_types(rng.bit_generator.state))


def set_rng_state(rng, array):
    """Put the state saved by :func:`rng_state_to_array` back into ``rng`` (in place)."""
    state = _from_json_types(array_to_json(array))
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
            if isinstance(getattr(m, "rng", None), np.random.Generator)}


# ----------------------------------------------------------------------------- writing
def _state_of(fn, name, obj):
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    if hasattr(obj, "state_dict"):
        return obj.state_dict()
    raise ArgumentError(f"{fn}: {name} must be a dict or have state_dict(), got "
                        f"{type(obj).__name__}")


def save_checkpoint(path, model, optimizer=None, *, iteration=0, rngs=None, config=None,
                    build_args=None):
    """Save model, optimiser, iteration, random generators and config to ``path``, atomically.

    Parameters
    ----------
    path : str or PathLike, the .npz file (replaced atomically if it exists)
    model : a Module (its ``state_dict()``) or a flat dict name -> array
    optimizer : an optimiser (its ``state_dict()``), a dict, or None
    iteration : int >= 0, iterations finished
    rngs : dict name -> ``numpy.random.Generator`` (e.g. data order, augmentation, dropout)
    config : JSON-serialisable dict of settings, or None
    build_args : the ``build_model`` arguments that rebuild the model (default: the model's
        own ``build_args``; None for a network built by hand, which :func:`load_model` then
        cannot rebuild)
    """
    fn = "save_checkpoint"
    if (isinstance(iteration, bool) or not isinstance(iteration, (int, np.integer))
            or iteration < 0):
        raise ArgumentError(f"{fn}: iteration must be an integer >= 0, got {iteration!r}")
    build_args = getattr(model, "build_args", None) if build_args is None else build_args
    arrays = {f"model/{k}": v for k, v in _state_of(fn, "model", model).items()}
    arrays.update({f"optim/{k}": v for k, v in _state_of(fn, "optimizer", optimizer).items()})
    for name, rng in (rngs or {}).items():
        arrays[f"rng/{name}"] = rng_state_to_array(rng)
    for key, value in (("config", {} if config is None else config),
                       ("build_args", build_args)):
        if value is None:
            continue
        try:
            arrays[key] = json_to_array(value)
        except TypeError as e:       # json's refusal of an object it cannot write
            raise ArgumentError(f"{fn}: {key} must be JSON-serialisable ({e})") from e
    arrays["iteration"] = np.array(int(iteration), dtype=np.int64)
    arrays["format"] = np.array(FORMAT_VERSION, dtype=np.int64)
    return save_npz(path, arrays)


def save_network(path, checkpoint):
    """Write a :class:`Checkpoint` of a finished run (its ``config`` holding ``train`` and
    ``history``) as a network file (``.safetensors``, :data:`NETWORK_FORMAT`), atomically:
    weights, learning curves and settings, no optimiser state. Returns the path."""
    fn = "save_network"
    history = checkpoint.config.get("history") or {}
    if not history.get("iteration") or "train" not in checkpoint.config:
        raise ArgumentError(f"{fn}: {_where(checkpoint)} has no training history or settings")
    if not checkpoint.build_args:
        raise ArgumentError(f"{fn}: {_where(checkpoint)} does not record how to build its model")
    tensors = {f"model/{k}": v for k, v in checkpoint.model_state.items()}
    for key, dtype in HISTORY_KEYS.items():
        tensors[f"history/{key}"] = np.asarray(history[key], dtype=dtype)
    metadata = {"format": NETWORK_FORMAT,
                "config": json.dumps({"model": checkpoint.build_args,
                                      "train": checkpoint.config["train"]}),
                "val": json.dumps(history.get("val", [])),
                "iteration": str(checkpoint.iteration),
                "elapsed": repr(float(checkpoint.config.get("elapsed", 0.0)))}
    return save_safetensors(path, tensors, metadata)


# ----------------------------------------------------------------------------- reading
def _where(checkpoint):
    return f"checkpoint {checkpoint.path!r}" if checkpoint.path else "the checkpoint"


def _scalar_int(path, arrays, key):
    a = arrays[key]
    if a.shape != () or a.dtype.kind not in "iu":
        raise CheckpointError(f"checkpoint {path!r}: entry {key!r} must be an integer scalar, "
                              f"got dtype {a.dtype} shape {a.shape}", path)
    return int(a)


def _json_entry(path, key, a):
    if a.ndim != 1 or a.dtype != np.uint8:
        raise CheckpointError(f"checkpoint {path!r}: entry {key!r} must be JSON text in a 1-D "
                              f"uint8 array, got dtype {a.dtype} shape {a.shape}", path)
    try:
        return array_to_json(a)
    except ValueError as e:        # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise CheckpointError(f"checkpoint {path!r}: entry {key!r} is not valid JSON text "
                              f"({e})", path) from e


def _check_weights(path, key, a):
    """Parameters, buffers and velocities must be real floating point and finite."""
    if a.dtype.kind != "f":
        raise CheckpointError(f"checkpoint {path!r}: entry {key!r} has dtype {a.dtype}; "
                              "weights and optimiser state must be real floating point", path)
    finite = np.isfinite(a)
    if not finite.all():
        bad = a[~finite]
        raise CheckpointError(f"checkpoint {path!r}: entry {key!r} holds {bad.size} non-finite "
                              f"value(s) of {a.size} (e.g. {bad.ravel()[0]}); these weights "
                              "are unusable (a run that diverged?)", path)


def _check_build_args(path, args, version):
    """The build arguments: a mapping without a device, with the model's preprocessing and, for
    a ResNet, its rate schedule (what build_model would otherwise default)."""
    if args is None:
        return None
    if not isinstance(args, dict) or "device" in args:
        raise CheckpointError(f"checkpoint {path!r}: entry 'build_args' must be a mapping of "
                              f"build_model arguments, got {args!r:.200}", path)
    if not isinstance(args.get("preprocessing"), dict):
        raise CheckpointError(f"checkpoint {path!r} (format {version}): entry 'build_args' "
                              "does not record the model's preprocessing", path)
    if args.get("name") in RESNETS and "schedule" not in args:
        raise CheckpointError(f"checkpoint {path!r} (format {version}): entry 'build_args' "
                              "does not record the ResNet's rate schedule", path)
    return args


def _older_build_args(path, args, config, version):
    """What the files of the older formats (checkpoint format 1, network format 1) left out,
    filled with what that version always did: a network built without preprocessing was
    trained here from scratch, its preprocessing ``from_scratch`` of the training settings'
    ``input_scale``; a ResNet built before the rate schedule was recorded had torchvision's
    (:mod:`minideeplab.models.resnet`)."""
    if not isinstance(args, dict):
        return args
    args = dict(args)
    if args.get("preprocessing") is None:
        train = config.get("train")
        scale = train.get("input_scale") if isinstance(train, dict) else None
        if (isinstance(scale, bool) or not isinstance(scale, (int, float))
                or not math.isfinite(scale) or scale <= 0):
            raise CheckpointError(f"checkpoint {path!r} (format {version}) records neither its "
                                  "model's preprocessing nor the input_scale it was trained "
                                  "with", path)
        args["preprocessing"] = from_scratch(scale).to_json()
    if args.get("name") in RESNETS:
        args.setdefault("schedule", "torchvision")
    return args


def _upgrade_format_1(path, config):
    """Format 1 -> 2: the build arguments move out of ``config["model"]``, what the first
    files left out filled in (:func:`_older_build_args`)."""
    config = dict(config)
    args = config.pop("model", None)
    return _older_build_args(path, args, config, 1), config


def _read_npz_checkpoint(path):
    arrays = read_npz(path, what="checkpoint", error=CheckpointError)
    missing = [k for k in ("format", "iteration", "config") if k not in arrays]
    if missing:
        raise CheckpointError(f"{path!r} is {file_kind(path)[1]}, not a minideeplab "
                              f"checkpoint (no {missing} entries); {EXPECTED}", path)
    version = _scalar_int(path, arrays, "format")
    if version not in (1, FORMAT_VERSION):
        raise CheckpointError(f"checkpoint {path!r} has format {version}; this version of "
                              f"minideeplab reads formats 1 and {FORMAT_VERSION}", path)
    iteration = _scalar_int(path, arrays, "iteration")
    if iteration < 0:
        raise CheckpointError(f"checkpoint {path!r}: entry 'iteration' must be >= 0, got "
                              f"{iteration}", path)
    config = _json_entry(path, "config", arrays["config"])
    if not isinstance(config, dict):
        raise CheckpointError(f"checkpoint {path!r}: entry 'config' must be a JSON mapping, "
                              f"got {type(config).__name__}", path)
    top = {"format", "iteration", "config"} | ({"build_args"} if version > 1 else set())
    if version == 1:
        build_args, config = _upgrade_format_1(path, config)
    else:
        build_args = (_json_entry(path, "build_args", arrays["build_args"])
                      if "build_args" in arrays else None)
    groups = {"model/": {}, "optim/": {}, "rng/": {}}
    for key, value in arrays.items():
        prefix = next((p for p in groups if key.startswith(p) and len(key) > len(p)), None)
        if prefix is None:
            if key not in top:
                raise CheckpointError(f"checkpoint {path!r}: unknown entry {key!r} (entries "
                                      f"are model/*, optim/*, rng/*, {', '.join(sorted(top))})",
                                      path)
            continue
        if prefix == "rng/":
            state = _json_entry(path, key, value)
            if not isinstance(state, dict) or not isinstance(state.get("bit_generator"), str):
                raise CheckpointError(f"checkpoint {path!r}: entry {key!r} is not a random "
                                      "generator state (a JSON mapping with 'bit_generator')",
                                      path)
        else:
            _check_weights(path, key, value)
        groups[prefix][key[len(prefix):]] = value
    return Checkpoint(groups["model/"], groups["optim/"], iteration, groups["rng/"], config,
                      path, _check_build_args(path, build_args, version))


def _metadata_json(path, metadata, key, kind):
    try:
        value = json.loads(metadata[key])
    except KeyError:
        raise CheckpointError(f"network {path!r}: no {key!r} in its metadata", path) from None
    except ValueError as e:
        raise CheckpointError(f"network {path!r}: metadata {key!r} is not JSON ({e})",
                              path) from e
    if not isinstance(value, kind):
        raise CheckpointError(f"network {path!r}: metadata {key!r} must be a JSON "
                              f"{'mapping' if kind is dict else 'list'}", path)
    return value


def _read_network(path):
    metadata, tensors = read_safetensors(path, what="network", error=CheckpointError)
    if "format" not in metadata:             # another program's weights
        raise CheckpointError(f"{path!r} is {file_kind(path)[1]}, not a minideeplab network "
                              f"file; {EXPECTED}{TORCHVISION_HINT}", path)
    if metadata["format"] != NETWORK_FORMAT:
        raise CheckpointError(f"network {path!r} has format {metadata['format']!r}; this "
                              f"version reads {NETWORK_FORMAT!r}", path)
    config = _metadata_json(path, metadata, "config", dict)
    val = _metadata_json(path, metadata, "val", list)
    try:
        iteration, elapsed = int(metadata["iteration"]), float(metadata["elapsed"])
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"network {path!r}: metadata 'iteration'/'elapsed' missing or "
                              f"not numbers ({e})", path) from e
    weights, history = {}, {"val": val}
    for key, value in tensors.items():
        group, _, name = key.partition("/")
        if group == "model" and name:
            _check_weights(path, key, value)
            weights[name] = value
        elif group == "history" and name in HISTORY_KEYS:
            history[name] = value.tolist()
        else:
            raise CheckpointError(f"network {path!r}: unknown entry {key!r} (entries are "
                                  "model/* and history/{iteration,loss,lr,time})", path)
    missing = [k for k in HISTORY_KEYS if k not in history]
    if missing:
        raise CheckpointError(f"network {path!r}: no history/{missing[0]} entry", path)
    settings = {"train": config.get("train"), "history": history, "elapsed": elapsed}
    args = _older_build_args(path, config.get("model"), settings, NETWORK_FORMAT)
    return Checkpoint(weights, {}, iteration, {}, settings, path,
                      _check_build_args(path, args, NETWORK_FORMAT))


# what load_checkpoint reads, and where another program's weights go, for the messages that
# say what a file is when it is not one of them
EXPECTED = ("expected a network file (.safetensors: a shipped network, or one written by "
            "'python -m minideeplab ship') or a training checkpoint (.npz, written by train)")
TORCHVISION_HINT = ("; torchvision's DeepLabV3 weights are read by "
                    "minideeplab.models.load_torchvision (on the command line: --torchvision "
                    "FILE)")


def load_checkpoint(path):
    """Read and validate a training checkpoint (``.npz``, formats 1 and 2) or a network file
    (``.safetensors``): a :class:`Checkpoint`.

    Everything comes back as NumPy arrays on the host; :func:`restore_checkpoint` (or
    :func:`load_model`) moves them to the model's device. Nothing from the file is executed.
    Raises :class:`~minideeplab.errors.CheckpointError` naming the file and the entry when the
    file is missing, unreadable or corrupt, of an unknown format, has entries of another
    layout, an iteration that is not an integer >= 0, a config that is not a JSON mapping,
    build arguments without the model's preprocessing, a random generator state that is not a
    JSON mapping, or weights/optimiser state that are not real floating point or not finite.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):       # missing, a folder, a FIFO: the reader says which
        read_npz(path, what="checkpoint", error=CheckpointError)
    kind, description = file_kind(path)
    if kind == "safetensors" or (kind == "other" and path.endswith(".safetensors")):
        return _read_network(path)                  # (a damaged one: the reader says how)
    if kind in ("npz", "zip") or (kind == "other" and path.endswith(".npz")):
        return _read_npz_checkpoint(path)
    hint = TORCHVISION_HINT if kind in ("pytorch", "pickle") else ""
    raise CheckpointError(f"{path!r} is {description}, not a minideeplab network; "
                          f"{EXPECTED}{hint}", path)


def build_model_of(checkpoint, device=None):
    """The model a :class:`Checkpoint` describes, built from its ``build_args`` (preprocessing
    included), weights not loaded yet; CheckpointError when it cannot be built."""
    where = _where(checkpoint)
    if not checkpoint.build_args:
        raise CheckpointError(f"{where} does not record how to build its model (no build "
                              "arguments: a network built by hand)", checkpoint.path)
    try:
        # first a copy that allocates nothing: its parameters must be the file's weights
        # (names, shapes, dtypes) before the real one is built (a config claiming width=40
        # built 6.9 GiB before the weights were compared)
        with shapes_only():
            outline = build_model(**checkpoint.build_args)
        _check_state(where, "model", checkpoint.model_state, outline.state_dict())
        return build_model(**checkpoint.build_args, device=device or backend.default_device())
    except (ArgumentError, BudgetExceededError) as e:
        raise CheckpointError(f"{where}: its build arguments do not build a model ({e})",
                              checkpoint.path) from e


def load_model(source, device=None):
    """The model of a checkpoint or network file (a path or a :class:`Checkpoint`), weights
    loaded, in eval mode, on ``device`` (None: the default device). Its preprocessing is the
    one it was trained with (recorded in the file), so it is fed as it was trained."""
    checkpoint = source if isinstance(source, Checkpoint) else load_checkpoint(source)
    model = build_model_of(checkpoint, device)
    restore_checkpoint(checkpoint, model)
    return model.eval()


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
    where = _where(checkpoint)
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
        except (ValueError, TypeError, KeyError, AttributeError) as e:   # NumPy's refusals
            raise CheckpointError(f"{where}: entry 'rng/{name}' is not a usable state for "
                                  f"this generator ({e})") from e
    model.load_state_dict(checkpoint.model_state)
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint.optim_state)
    for name, rng in rngs.items():
        set_rng_state(rng, checkpoint.rng_states[name])
    return checkpoint.iteration
