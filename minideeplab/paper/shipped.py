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

``python -m minideeplab reproduce --retrain`` trains the networks again from scratch
(training is seeded and deterministic) and compares them with these (:mod:`.ship`);
``python -m minideeplab ship`` writes the cached runs into the package folder
(``--retrain``: trains them first).
"""
import os

from ..checkpoint import load_checkpoint, save_network
from ..fileio import atomic_write_text

__all__ = ["SHIPPED", "NETWORK_FILE", "shipped_dir", "shipped_folder", "export_checkpoint"]

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
