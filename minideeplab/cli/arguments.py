"""What the commands share: argument types, output checks, the dataset and model arguments.

The types are for ``argparse`` (``type=positive_int``): a bad value ends in argparse's usual
``minideeplab COMMAND: error: argument --batch-size: must be a positive integer, got '0'``
and exit status 2, before any work. Output paths are checked by :func:`check_outputs` (with
the checks of :mod:`minideeplab.io`, ``check_label_png_output`` and the like) at the start of
a command, before anything is computed.
"""
import argparse
import math
import os
from collections import namedtuple

from .. import backend
from ..errors import ArgumentError
from ..fileio import check_outputs_apart

__all__ = ["positive_int", "nonnegative_int", "positive_float", "nonnegative_float",
           "check_outputs", "add_dataset_argument", "parse_dataset", "add_model_arguments",
           "ModelSource", "load_model", "NETWORK_HELP", "add_network_argument", "network_file"]


def _number(text, kind, cast, ok):
    try:
        value = cast(text)
    except ValueError:
        value = None
    if (value is None or (isinstance(value, float) and not math.isfinite(value))
            or not ok(value)):
        raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}")
    return value


def positive_int(text):
    """An integer >= 1."""
    return _number(text, "a positive integer", int, lambda v: v >= 1)


def nonnegative_int(text):
    """An integer >= 0."""
    return _number(text, "an integer >= 0", int, lambda v: v >= 0)


def positive_float(text):
    """A finite number > 0."""
    return _number(text, "a finite number > 0", float, lambda v: v > 0)


def nonnegative_float(text):
    """A finite number >= 0."""
    return _number(text, "a finite number >= 0", float, lambda v: v >= 0)


def check_outputs(args, names, inputs=None):
    """Check every output path before any work: each one writable, none of them an input, no
    two of them one file (:func:`minideeplab.fileio.check_outputs_apart`: the same file by any
    path, hard links and ``..`` included).

    ``names``: ``(attribute of args, check(path, flag))`` pairs, e.g.
    ``(("out", io.check_label_png_output), ("probs", io.check_npy_output))``; an attribute
    that is None (an output not asked for) is skipped. ``inputs``: the command's input paths,
    by the name the usage line shows (``{"image": args.image, ...}``; None: not given).
    """
    outputs = {}
    for name, check in names:
        path = getattr(args, name)
        if path is None:
            continue
        flag = "--" + name.replace("_", "-")
        check(path, flag)
        outputs[flag] = path
    check_outputs_apart(outputs, inputs)


def add_dataset_argument(p, default=("synthetic",)):
    """--dataset NAME [PATH] (train and evaluate)."""
    p.add_argument("--dataset", nargs="+", metavar=("NAME", "PATH"),
                   default=None if default is None else list(default),
                   help="'synthetic' (built in, the default) or 'voc PATH' with PATH the "
                        "VOCdevkit/VOC2012 folder")


def parse_dataset(values):
    """('synthetic', None) or ('voc', PATH) from the --dataset values; ArgumentError
    otherwise."""
    values = values or ["synthetic"]
    name = values[0]
    if name == "synthetic" and len(values) == 1:
        return name, None
    if name == "voc" and len(values) == 2:
        return name, values[1]
    raise ArgumentError(f"--dataset must be 'synthetic' or 'voc PATH', got {' '.join(values)!r}")


NETWORK_HELP = ("a network: a shipped one's name ('python -m minideeplab networks' lists them), "
                "a network file (.safetensors), or a checkpoint.npz written by train (or the "
                "run's folder)")


def add_network_argument(p, torchvision=True):
    """The positional NETWORK (``args.checkpoint``): a shipped network's name or a file."""
    p.add_argument("checkpoint", metavar="NETWORK", nargs="?" if torchvision else None,
                   help=NETWORK_HELP + (" (or give --torchvision FILE)" if torchvision else ""))


def network_file(source):
    """The file of NETWORK: a shipped network's name, a network or checkpoint file, or a
    training run's folder (:func:`minideeplab.paper.shipped.resolve`)."""
    from ..paper import shipped
    return shipped.resolve(source)


def add_model_arguments(p):
    """--torchvision FILE, --shorter-side N and --device (predict and evaluate)."""
    p.add_argument("--torchvision", metavar="FILE",
                   help="torchvision DeepLabV3 weights (.pth or .safetensors) instead of a "
                        "checkpoint, e.g. DeepLabV3_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1's")
    p.add_argument("--shorter-side", type=positive_int, default=None, metavar="N",
                   help="resize each image so that its shorter side is N pixels before the "
                        "network (default: the model's own: 520 for torchvision's weights, "
                        "none for checkpoints); the labels keep the image's size")
    p.add_argument("--device", choices=backend.DEVICES, default=None)


ModelSource = namedtuple("ModelSource", "model checkpoint name crf")
ModelSource.__doc__ = """What predict and evaluate run: ``model`` (in eval mode), the
``checkpoint`` it was read from (a :class:`~minideeplab.checkpoint.Checkpoint`; None for
torchvision's weights), a ``name`` for messages, and ``crf``: the name of the CRF settings
(:data:`minideeplab.crf.CRF_SETTINGS`) that go with the network: DeepLab v2's ResNet-101 set
for torchvision's DeepLabV3, dense_crf's defaults for the networks trained here."""


def load_model(args):
    """The :class:`ModelSource` of a checkpoint or network file (``args.checkpoint``), or of
    torchvision's weights (``args.torchvision``); ``--shorter-side`` overrides its resizing."""
    import dataclasses

    from .. import checkpoint as ckpt
    if (args.checkpoint is None) == (args.torchvision is None):
        raise ArgumentError("give either a NETWORK (a shipped network's name or a file) or "
                            "--torchvision FILE (one of them)")
    if args.torchvision is not None:
        from ..models import load_torchvision
        model = load_torchvision(args.torchvision, device=args.device)
        source = ModelSource(model, None, f"{model.torchvision_arch} ({args.torchvision})",
                             "resnet")
    else:
        path = network_file(args.checkpoint)
        loaded = ckpt.load_checkpoint(path)
        shipped = path != args.checkpoint and not os.path.isdir(args.checkpoint)
        name = f"{args.checkpoint} (a shipped network)" if shipped else path
        source = ModelSource(ckpt.load_model(loaded, device=args.device), loaded, name,
                             "default")
    if args.shorter_side is not None:
        source.model.preprocessing = dataclasses.replace(source.model.preprocessing,
                                                         resize_shorter=args.shorter_side)
    return source
