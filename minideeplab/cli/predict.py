"""``python -m minideeplab predict CHECKPOINT IMAGE --out labels.png``: segment one image.

Writes the label map as a palette PNG (VOC colours, pixel value = class index; PNG because it
is lossless: a JPEG would change the indices); ``--overlay`` the labels blended over the image
(PNG, JPEG, BMP, TIFF or WebP); ``--probs`` the (L, H, W) softmax at the image size as .npy,
which ``python -m minideeplab crf IMAGE PROBS.npy`` takes as input. Every output path is
checked before the network runs; every file is written atomically. The image is prepared the
way the checkpoint's model was trained (its recorded preprocessing).

``--torchvision FILE`` takes torchvision's DeepLabV3 weights (``.pth`` or ``.safetensors``)
instead of a checkpoint: the real network on any photo, fed as torchvision feeds it (shorter
side 520, ImageNet normalisation). ``--crf`` refines the labels with the dense CRF on the
upsampled probabilities (DeepLab v2's ResNet-101 parameters; ``--probs`` keeps the network's
probabilities).
"""
import numpy as np

from .. import backend
from ..errors import ArgumentError
from ..inference import model_from_checkpoint, predict
from ..io import (check_image_output, check_label_png_output, check_npy_output, read_image,
                  save_label_png, save_npy, save_rgb)
from .arguments import check_outputs, positive_int


def add_parser(sub):
    p = sub.add_parser("predict", help="segment one image with a checkpoint", description=__doc__)
    p.add_argument("checkpoint", nargs="?", help="a checkpoint.npz written by 'train' (or give "
                                                  "--torchvision FILE)")
    p.add_argument("image", help="RGB image (any format Pillow reads)")
    p.add_argument("--out", required=True, help="label PNG to write")
    p.add_argument("--overlay", help="also write the labels blended over the image")
    p.add_argument("--probs", help="also save the (L, H, W) probabilities as .npy")
    p.add_argument("--crf", action="store_true",
                   help="refine the labels with the dense CRF (DeepLab v2's ResNet parameters)")
    add_model_arguments(p)
    return p


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


def load_model(args):
    """(model, TrainConfig or None, a name for messages) from the checkpoint or --torchvision."""
    import dataclasses
    if (args.checkpoint is None) == (args.torchvision is None):
        raise ArgumentError("give either a checkpoint or --torchvision FILE (one of them)")
    if args.torchvision is not None:
        from ..models import load_torchvision
        model, config = load_torchvision(args.torchvision, device=args.device), None
        name = f"{model.torchvision_arch} ({args.torchvision})"
    else:
        model, config = model_from_checkpoint(args.checkpoint, device=args.device)
        name = args.checkpoint
    if args.shorter_side is not None:
        model.preprocessing = dataclasses.replace(model.preprocessing,
                                                  resize_shorter=args.shorter_side)
    return model, config, name


def crf_labels(image, probs):
    """Labels after the dense CRF (DeepLab v2's ResNet-101 parameters) on one image's
    (L, H, W) softmax."""
    from ..crf import RESNET_CRF_PARAMS, dense_crf
    q = dense_crf(image, probs.astype(np.float32, copy=False), **RESNET_CRF_PARAMS)
    return backend.asnumpy(q.argmax(axis=0))


def run(args):
    from ..data import overlay
    check_outputs(args, (("out", check_label_png_output), ("overlay", check_image_output),
                         ("probs", check_npy_output)),
                  {"checkpoint": args.checkpoint, "--torchvision": args.torchvision,
                   "image": args.image})
    model, _, source = load_model(args)
    image = read_image(args.image)
    labels, probs = predict(model, image, device=args.device)
    if not np.isfinite(probs).all():
        raise ArgumentError(f"the network's scores on {args.image!r} are not finite: the weights "
                            f"in {source!r} are unusable (a run that diverged?); nothing was "
                            "written")
    if args.crf:
        labels = crf_labels(image, probs)
    save_label_png(args.out, labels.astype(np.uint8))
    if args.overlay:
        save_rgb(args.overlay, overlay(image, labels))
    if args.probs:
        save_npy(args.probs, probs.astype(np.float32))
    counts = np.bincount(labels.ravel(), minlength=probs.shape[0])
    print(f"{args.image}: {image.shape[1]}x{image.shape[0]} -> {args.out} ({source}"
          f"{', dense CRF' if args.crf else ''}); pixels per class {counts.tolist()}")
    return 0
