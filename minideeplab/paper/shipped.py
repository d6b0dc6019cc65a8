"""The trained tiny networks that ship with the book, so that a first run takes minutes.

Tables 2 and 3, the CRF cross-validation and Figs. 5, 6, 8 and 10 in miniature need four
trained networks (:data:`SHIPPED`, seed 0 of :mod:`.variants`). Training one takes 5-10 minutes
on 2 CPU cores, so the repository carries them, made by the project's own training code::

    minideeplab/paper/networks/<variant>-<config key>/
        network.safetensors       the weights (float32), the training curves, the config
        crf_search-<key>.json     the CRF's cross-validation on that network (ASPP-L only)

The folder name is the training cache's (:func:`.variants.run_folder`): the key hashes the
whole training configuration, so a network is only ever used for the configuration that made
it; change a setting and the book trains again. ``network.safetensors`` holds

* tensors ``model/<name>``: the model's ``state_dict()`` (weights only: no SGD velocities, no
  random generator states: the file is for evaluating, not for resuming);
* tensors ``history/iteration``, ``history/loss`` (float64: the losses exactly as logged),
  ``history/lr`` and ``history/time``: the learning curves of the figures;
* metadata (text): ``format`` (:data:`FORMAT`), ``config`` (JSON: the build arguments of the
  model, ``model``, and its :class:`~minideeplab.config.TrainConfig`, ``train``), ``val`` (JSON:
  the validations during training), ``iteration`` and ``elapsed`` (training seconds).

Loading reads the file with safetensors (no code from the file runs) and validates it: the
format, the configuration (as a training checkpoint's), weights real floating point and finite,
names and shapes those of the model its configuration builds.

``python -m minideeplab reproduce --retrain`` trains the networks again from scratch
(training is seeded and deterministic) and compares them with these (:mod:`.ship`);
``python -m minideeplab.paper.ship`` writes the cached runs into the package folder
(``--retrain``: trains them first).
"""
import json
import os

import numpy as np

from ..checkpoint import Checkpoint, CheckpointError, load_checkpoint
from ..errors import ArgumentError
from ..fileio import atomic_write
from ..inference import model_from_loaded
from ..io import read_safetensors, save_safetensors

__all__ = ["FORMAT", "SHIPPED", "NETWORK_FILE", "shipped_dir", "shipped_folder",
           "export_checkpoint", "load_network", "read_network"]

FORMAT = "minideeplab-network-1"
NETWORK_FILE = "network.safetensors"
SHIPPED = ("aspp-l", "aspp-l-step", "largefov", "aspp-s")   # seed 0: what the default run needs
_HISTORY = {"iteration": np.int64, "loss": np.float64, "lr": np.float64, "time": np.float64}


def shipped_dir():
    """The package folder of the shipped networks."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "networks")


def shipped_folder(run_folder):
    """Where the shipped copy of the cached run ``run_folder`` lives (same folder name)."""
    return os.path.join(shipped_dir(), os.path.basename(os.path.normpath(run_folder)))


def export_checkpoint(checkpoint_path, out_folder):
    """Write the weights, curves and config of a training checkpoint as ``out_folder/``
    :data:`NETWORK_FILE` (atomically), and copy the CRF searches cached beside it. Returns the
    list of paths written."""
    loaded = load_checkpoint(checkpoint_path)
    config = loaded.config
    history = config.get("history") or {}
    if not history.get("iteration"):
        raise ArgumentError(f"export_checkpoint: {checkpoint_path!r} has no training history")
    tensors = {f"model/{k}": np.ascontiguousarray(v) for k, v in loaded.model_state.items()}
    for key, dtype in _HISTORY.items():
        tensors[f"history/{key}"] = np.asarray(history[key], dtype=dtype)
    metadata = {"format": FORMAT,
                "config": json.dumps({"model": config["model"], "train": config["train"]}),
                "val": json.dumps(history.get("val", [])),
                "iteration": str(loaded.iteration),
                "elapsed": repr(float(config.get("elapsed", 0.0)))}
    os.makedirs(out_folder, exist_ok=True)
    path = os.path.join(out_folder, NETWORK_FILE)
    written = [save_safetensors(path, tensors, metadata)]
    folder = os.path.dirname(os.path.abspath(checkpoint_path))
    for name in sorted(os.listdir(folder)):
        if name.startswith("crf_search-") and name.endswith(".json"):
            with open(os.path.join(folder, name)) as f:
                text = f.read()
            written.append(atomic_write(os.path.join(out_folder, name),
                                        lambda f: f.write(text), text=True))
    return written


def read_network(path):
    """(metadata dict, tensors dict) of a network file, unvalidated; CheckpointError if it is
    not a safetensors file."""
    return read_safetensors(path, what="network", error=CheckpointError)


def _json(path, metadata, key):
    try:
        return json.loads(metadata[key])
    except KeyError:
        raise CheckpointError(f"network {path!r}: no {key!r} in its metadata") from None
    except ValueError as e:
        raise CheckpointError(f"network {path!r}: metadata {key!r} is not JSON ({e})") from e


def load_network(path, device=None):
    """(model in eval mode, TrainConfig, history dict) from a shipped ``network.safetensors``.

    Raises :class:`~minideeplab.checkpoint.CheckpointError` naming the file and the entry when
    it is not such a file or does not hold a usable network.
    """
    path = os.fspath(path)
    metadata, tensors = read_network(path)
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"network {path!r} has format {metadata.get('format')!r}; this "
                              f"version reads {FORMAT!r}")
    config = _json(path, metadata, "config")
    val = _json(path, metadata, "val")
    if not isinstance(config, dict) or not isinstance(val, list):
        raise CheckpointError(f"network {path!r}: metadata 'config' must be a JSON mapping and "
                              "'val' a JSON list")
    try:
        iteration, elapsed = int(metadata["iteration"]), float(metadata["elapsed"])
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"network {path!r}: metadata 'iteration'/'elapsed' missing or "
                              f"not numbers ({e})") from e
    weights, history = {}, {"val": val}
    for key, value in tensors.items():
        group, _, name = key.partition("/")
        if group == "model" and name:
            if value.dtype.kind != "f" or not np.isfinite(value).all():
                raise CheckpointError(f"network {path!r}: entry {key!r} must be real floating "
                                      f"point and finite (dtype {value.dtype})")
            weights[name] = value
        elif group == "history" and name in _HISTORY:
            history[name] = value.tolist()
        else:
            raise CheckpointError(f"network {path!r}: unknown entry {key!r} (entries are "
                                  "model/* and history/{iteration,loss,lr,time})")
    missing = [k for k in _HISTORY if k not in history]
    if missing:
        raise CheckpointError(f"network {path!r}: no history/{missing[0]} entry")
    loaded = Checkpoint(weights, {}, iteration, {},
                        dict(config, history=history, elapsed=elapsed), path)
    model, train_config = model_from_loaded(loaded, path, device=device)
    return model, train_config, history
