"""``python -m minideeplab evaluate NETWORK``: mIoU of a trained network the paper's way.

NETWORK is a shipped network's name (``evaluate aspp-l``), a network file, or a checkpoint
written by ``train`` (or its run's folder); it is evaluated on the val split it was validated
on while training. One confusion matrix accumulated over the whole val set (label 255
ignored), per-class IOU, pixel accuracy; ``--crf`` refines every prediction with the dense CRF
first; ``--trimap`` also reports pixel accuracy and mIoU within bands of each width around the
label boundaries (Fig. 10).

``--torchvision FILE --dataset voc PATH`` evaluates torchvision's published DeepLabV3 weights
on VOC 2012 val instead of NETWORK (``--crf``: with DeepLab v2's ResNet-101 CRF
parameters). The images are fed as torchvision feeds them (shorter side 520); the labels are
compared at the image's own size.
"""
import functools

import numpy as np

from ..config import TrainConfig
from ..crf import CRF_SETTINGS, crf_labels, describe_crf_settings
from ..data import make_datasets
from ..errors import ArgumentError
from ..inference import evaluate
from ..metrics import TrimapMatrices
from ..paper.crf_experiments import TRIMAP_WIDTHS as SYNTHETIC_WIDTHS
from ..paper.real_photos import TRIMAP_WIDTHS as PHOTO_WIDTHS
from .arguments import (add_dataset_argument, add_model_arguments, add_network_argument,
                        load_model, nonnegative_float, parse_dataset, positive_int)


def add_parser(sub):
    p = sub.add_parser("evaluate", help="mIoU of a network on a val set", description=__doc__)
    add_network_argument(p)
    add_dataset_argument(p)
    p.add_argument("--num-val", type=positive_int, default=None,
                   help="synthetic: val images (default: the network's)")
    p.add_argument("--crf", action="store_true",
                   help="dense CRF on top (DeepLab v2's ResNet-101 parameters for "
                        "--torchvision, dense_crf's defaults for a checkpoint; the output "
                        "names them)")
    p.add_argument("--trimap", nargs="*", type=nonnegative_float, metavar="W", default=None,
                   help="also report pixel accuracy and mIoU within W pixels of a label "
                        "boundary, for each width W (Fig. 10's trimap); without widths, "
                        "the book's: " + ", ".join(map(str, SYNTHETIC_WIDTHS)) + " on the "
                        "synthetic shapes, " + ", ".join(map(str, PHOTO_WIDTHS)) + " on VOC")
    add_model_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args):
    name, root = parse_dataset(args.dataset)
    if args.num_val is not None and name != "synthetic":
        raise ArgumentError(f"--num-val is for the synthetic data; dataset {name!r} is evaluated "
                            "on its whole val split")
    if args.torchvision is not None and name != "voc":
        raise ArgumentError("--torchvision weights know the 21 PASCAL VOC classes: evaluate them "
                            "with --dataset voc PATH")
    source = load_model(args)
    if source.checkpoint is None:
        from ..data import VOCSegmentation
        val = VOCSegmentation(root, "val")
    else:                                  # the val split the network was validated on
        changes = dict(dataset=name, data_root=root)
        if args.num_val is not None:
            changes["num_val"] = args.num_val
        _, val = make_datasets(TrainConfig.from_checkpoint(source.checkpoint).replace(**changes))
    post = functools.partial(crf_labels, **CRF_SETTINGS[source.crf]) if args.crf else None
    bands = None
    if args.trimap is not None:
        widths = args.trimap or (SYNTHETIC_WIDTHS if name == "synthetic" else PHOTO_WIDTHS)
        bands = TrimapMatrices(widths, val.num_classes)
    cm = evaluate(source.model, val, device=args.device, postprocess=post,
                  progress=not args.no_progress, per_image=bands and bands.update)
    names = getattr(val, "class_names", None) or [str(c) for c in range(val.num_classes)]
    print(f"{len(val)} images, {int(cm.matrix.sum())} labelled pixels"
          + (f", dense CRF {describe_crf_settings(source.crf)}" if args.crf else ""))
    for n, iou in zip(names, cm.iou()):
        print(f"  {n:>14s}  IOU {iou:.4f}" if np.isfinite(iou) else f"  {n:>14s}  IOU   n/a")
    print(f"mean IOU {cm.mean_iou():.4f}   pixel accuracy {cm.pixel_accuracy():.4f}")
    if bands is not None:
        r = bands.result()
        print("trimap (Fig. 10): the pixels within W pixels of a label boundary\n"
              f"{'W':>6s} {'pixels':>10s} {'pixel acc':>10s} {'mean IOU':>9s}")
        for w, n, acc, miou in zip(r.widths, r.num_pixels, r.pixel_accuracy, r.mean_iou):
            print(f"{w:6g} {n:10d} {acc:10.4f} {miou:9.4f}")
    return 0
