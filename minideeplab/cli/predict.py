"""``python -m minideeplab predict NETWORK IMAGE --out labels.png``: segment one image.

NETWORK is a shipped network's name (``python -m minideeplab networks`` lists them: ``predict
aspp-l photo.jpg --out labels.png``), a network file, or a checkpoint written by ``train`` (or
its run's folder).

Writes the label map as a palette PNG (VOC colours, pixel value = class index; PNG because it
is lossless: a JPEG would change the indices); ``--overlay`` the labels blended over the image
(PNG, JPEG, BMP, TIFF or WebP); ``--probs`` the (L, H, W) softmax at the image size as .npy,
which ``python -m minideeplab crf IMAGE PROBS.npy`` takes as input. Every output path is
checked before the network runs; every file is written atomically. The image is prepared the
way the network was trained (the preprocessing its file records).

``--torchvision FILE`` takes torchvision's DeepLabV3 weights (``.pth`` or ``.safetensors``)
instead of NETWORK: the real network on any photo, fed as torchvision feeds it (shorter
side 520, ImageNet normalisation). ``--crf`` refines the labels with the dense CRF on the
upsampled probabilities (DeepLab v2's ResNet-101 parameters; ``--probs`` keeps the network's
probabilities).
"""
import numpy as np

from .. import backend
from ..crf import CRF_SETTINGS, crf_labels, describe_crf_settings
from ..errors import ArgumentError, FileFormatError
from ..inference import predict
from ..io import (LABEL_PNG_CLASSES, check_image_output, check_label_png_output,
                  check_npy_output, read_image, save_label_png, save_npy, save_rgb)
from .arguments import add_model_arguments, add_network_argument, check_outputs, load_model


def add_parser(sub):
    p = sub.add_parser("predict", help="segment one image with a network", description=__doc__)
    add_network_argument(p)
    p.add_argument("image", help="RGB image (any format Pillow reads)")
    p.add_argument("--out", required=True, help="label PNG to write")
    p.add_argument("--overlay", help="also write the labels blended over the image")
    p.add_argument("--probs", help="also save the (L, H, W) probabilities as .npy")
    p.add_argument("--crf", action="store_true",
                   help="refine the labels with the dense CRF (DeepLab v2's ResNet-101 "
                        "parameters for --torchvision, dense_crf's defaults for a checkpoint)")
    add_model_arguments(p)
    return p


def run(args):
    from ..data import overlay
    check_outputs(args, (("out", check_label_png_output), ("overlay", check_image_output),
                         ("probs", check_npy_output)),
                  {"checkpoint": args.checkpoint, "--torchvision": args.torchvision,
                   "image": args.image})
    source = load_model(args)
    classes = source.model.build_args["num_classes"]
    if classes > LABEL_PNG_CLASSES:    # before any work: indices above 255 would wrap in the PNG
        raise ArgumentError(f"--out: the model has {classes} classes, but a label PNG holds the "
                            f"class indices 0..{LABEL_PNG_CLASSES - 1}; nothing was computed")
    image = read_image(args.image)
    labels, probs = predict(source.model, image, device=args.device)
    if not np.isfinite(probs).all():
        raise FileFormatError(f"the network's scores on {args.image!r} are not finite: the "
                              f"weights in {source.name!r} are unusable (a run that "
                              "diverged?); nothing was written")
    if args.crf:
        labels = backend.asnumpy(crf_labels(image, probs, **CRF_SETTINGS[source.crf]))
    picture = overlay(image, labels) if args.overlay else None   # all made before any is written
    save_label_png(args.out, labels)
    if picture is not None:
        save_rgb(args.overlay, picture)
    if args.probs:
        save_npy(args.probs, probs.astype(np.float32))
    counts = np.bincount(labels.ravel(), minlength=probs.shape[0])
    crf = f", dense CRF {describe_crf_settings(source.crf)}" if args.crf else ""
    print(f"{args.image}: {image.shape[1]}x{image.shape[0]} -> {args.out} ({source.name}{crf}); "
          f"pixels per class {counts.tolist()}")
    return 0
