"""The trained tiny networks that ship with the book, so that a first run takes minutes.

Tables 2 and 3, the CRF cross-validation and Figs. 5, 6, 8 and 10 in miniature need four
trained networks (:data:`SHIPPED`, seed 0 of :mod:`.variants`). Training one takes 5-10 minutes
on 2 CPU cores, so the repository carries them, made by the project's own training code::

    minideeplab/paper/networks/<variant>-<config key>/
        network.safetensors       the weights (float32), the training curves, the config
        crf_search-<key>.json     the CRF's cross-validation on that network (ASPP-L only)

The folder name is the training cache's (:func:`.variants.run_folder`): the key hashes the
whole training configuration, so a network is only ever used for the configuration that made
it; change a setting and the book trains again. ``network.safetensors`` is a network file of
the library (:func:`minideeplab.checkpoint.save_network`: weights, learning curves, settings;
no optimiser state), read like any checkpoint by :func:`minideeplab.checkpoint.load_checkpoint`
and :func:`minideeplab.checkpoint.load_model`, which validate it (format, configuration,
weights real floating point and finite, names and shapes those of the model it describes).

They are also everyone's first networks: :func:`names` lists them, :func:`resolve` turns a name
into its file, and :func:`load` builds the model of a name or of any network file or
checkpoint; the command line takes a name wherever it takes a network
(``python -m minideeplab predict aspp-l photo.jpg --out labels.png``; ``python -m minideeplab
networks`` lists them with what each was trained on and its val mIoU).

``python -m minideeplab reproduce --retrain`` trains the networks again from scratch
(training is seeded and deterministic) and compares them with these (:mod:`.ship`);
``python -m minideeplab ship`` writes the cached runs into the package folder
(``--retrain``: trains them first).
"""
import os

from ..checkpoint import load_checkpoint, load_model, save_network
from ..errors import ArgumentError, CheckpointError
from ..fileio import atomic_write_text

__all__ = ["SHIPPED", "NETWORK_FILE", "shipped_dir", "shipped_folder", "export_checkpoint",
           "names", "network_path", "resolve", "load"]

NETWORK_FILE = "network.safetensors"
SHIPPED = ("aspp-l", "aspp-l-step", "largefov", "aspp-s")   # seed 0: what the default run needs


def shipped_dir():
    """The package folder of the shipped networks."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "networks")


def shipped_folder(run_folder):
    """Where the shipped copy of the cached run ``run_folder`` lives (same folder name)."""
    return os.path.join(shipped_dir(), os.path.basename(os.path.normpath(run_folder)))


def export_checkpoint(checkpoint_path, out_folder):
    """Write the weights, curves and config of a training checkpoint as ``out_folder/``
    :data:`NETWORK_FILE` (:func:`minideeplab.checkpoint.save_network`), and copy the CRF
    searches cached beside it. Returns the list of paths written."""
    os.makedirs(out_folder, exist_ok=True)
    written = [save_network(os.path.join(out_folder, NETWORK_FILE),
                            load_checkpoint(checkpoint_path))]
    folder = os.path.dirname(os.path.abspath(checkpoint_path))
    for name in sorted(os.listdir(folder)):
        if name.startswith("crf_search-") and name.endswith(".json"):
            with open(os.path.join(folder, name)) as f:
                text = f.read()
            written.append(atomic_write_text(os.path.join(out_folder, name), text))
    return written


def names():
    """The names of the shipped networks, in :data:`SHIPPED`'s order."""
    return list(SHIPPED)


def network_path(name):
    """The network file of the shipped network ``name``; ArgumentError listing the names."""
    if name not in SHIPPED:
        raise ArgumentError(f"no shipped network is called {name!r}; the shipped networks are "
                            f"{', '.join(SHIPPED)} (python -m minideeplab networks lists them)")
    folders = [f for f in sorted(os.listdir(shipped_dir()))
               if f.rsplit("-", 1)[0] == name
               and os.path.isfile(os.path.join(shipped_dir(), f, NETWORK_FILE))]
    if len(folders) != 1:       # a packaging mistake, not the user's
        raise RuntimeError(f"shipped network {name!r}: expected one folder {name}-<key> with "
                           f"{NETWORK_FILE} in {shipped_dir()}, found {folders}")
    return os.path.join(shipped_dir(), folders[0], NETWORK_FILE)


def resolve(source):
    """The file of a network given by name or by path: an existing file as it is; a training
    run's folder (train's --out) as its checkpoint.npz; a shipped network's name as its file.
    Anything else is a CheckpointError that says what was looked for (a missing checkpoint,
    as :func:`minideeplab.checkpoint.load_checkpoint` says)."""
    source = os.fspath(source)
    if os.path.exists(source) and not os.path.isdir(source):
        return source                   # a file (a FIFO too: the reader refuses it, naming it)
    if source in SHIPPED:
        return network_path(source)
    run = os.path.join(source, "checkpoint.npz")
    if os.path.isdir(source) and os.path.isfile(run):
        return run
    listed = f"{', '.join(SHIPPED)}; python -m minideeplab networks lists them"
    if os.sep in source or os.path.splitext(source)[1]:           # meant as a path
        raise CheckpointError(f"network {source!r} does not exist (a network is a file, or "
                              f"the name of a shipped one: {listed})", source)
    raise CheckpointError(f"network {source!r}: no shipped network has that name and no such "
                          f"file exists (the shipped networks are {listed})", source)


def load(source, device=None):
    """The model (eval mode, weights loaded) of a shipped network's name, a network file or a
    training checkpoint (:func:`resolve`), fed as it was trained
    (:func:`minideeplab.checkpoint.load_model`)."""
    return load_model(resolve(source), device=device)
