"""Make and check the shipped networks (:mod:`.shipped`).

:func:`ship_networks` (``python -m minideeplab ship [--retrain]``, the maintainer's command)
writes the cached default runs (trained first with ``--retrain``) into
``minideeplab/paper/networks/``; :func:`compare_with_cache` says whether a retrained network
is bit for bit the shipped one (``reproduce --retrain`` prints it).
"""
import os
import shutil

import numpy as np

from ..checkpoint import load_checkpoint
from . import shipped
from .variants import run_folder, trained, variant_config

__all__ = ["compare_with_cache", "ship_networks"]


def compare_with_cache(names=shipped.SHIPPED):
    """For each shipped network whose run is in the training cache: ``(name, same, detail)``,
    ``same`` True when every weight is bit for bit equal, else ``detail`` says by how much the
    two differ (another machine's BLAS may sum in another order) and both val mIoUs."""
    out = []
    for name in names:
        folder = run_folder(name, variant_config(name))
        cached = os.path.join(folder, "checkpoint.npz")
        network = os.path.join(shipped.shipped_folder(folder), shipped.NETWORK_FILE)
        if not (os.path.exists(cached) and os.path.exists(network)):
            continue
        mine, shipped_run = load_checkpoint(cached), load_checkpoint(network)
        theirs = shipped_run.model_state
        same = mine.model_state.keys() == theirs.keys() and all(
            np.array_equal(mine.model_state[k], theirs[k]) for k in theirs)
        detail = ""
        if not same:
            common = [k for k in theirs if k in mine.model_state
                      and mine.model_state[k].shape == theirs[k].shape]
            worst = max((float(np.abs(mine.model_state[k] - theirs[k]).max()) for k in common),
                        default=float("nan"))
            val_mine = mine.config["history"]["val"][-1]["mean_iou"]
            val_theirs = shipped_run.config["history"]["val"][-1]["mean_iou"]
            detail = (f"differs (largest weight difference {worst:.3g}); val mIoU "
                      f"{100 * val_mine:.2f} retrained, {100 * val_theirs:.2f} shipped")
        out.append((name, same, detail))
    return out


def ship_networks(retrain=False):
    """Export the cached default runs into the package folder (``retrain``: train them from
    scratch first); yields the paths written."""
    for name in shipped.SHIPPED:
        run = trained(name, retrain=retrain, use_shipped=False)
        target = shipped.shipped_folder(run_folder(name, variant_config(name)))
        if os.path.isdir(target):
            shutil.rmtree(target)
        yield from shipped.export_checkpoint(run.path, target)
