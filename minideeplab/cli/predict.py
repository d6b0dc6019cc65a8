"""``python -m minideeplab predict CHECKPOINT IMAGE --out labels.png``: segment one image.

Writes the label map as a palette PNG (VOC colours, pixel value = class index; PNG because it
is lossless: a JPEG would change the indices); ``--overlay`` the labels blended over the image
(PNG, JPEG, BMP, TIFF or WebP); ``--probs`` the (L, H, W) softmax at the image size as .npy,
which ``python -m minideeplab crf IMAGE PROBS.npy`` takes as input. Every output path is
checked before the network runs; every file is written atomically. The image is prepared the
way the checkpoint's model was trained (its recorded preprocessing).
"""
import os

import numpy as np

from .. import backend
from ..inference import model_from_checkpoint, predict
from .arguments import image_file, label_png, npy_file, save_npy, save_rgb


def add_parser(sub):
    p = sub.add_parser("predict", help="segment one image with a checkpoint", description=__doc__)
    p.add_argument("checkpoint")
    p.add_argument("image", help="RGB image (any format Pillow reads)")
    p.add_argument("--out", required=True, help="label PNG to write")
    p.add_argument("--overlay", help="also write the labels blended over the image")
    p.add_argument("--probs", help="also save the (L, H, W) probabilities as .npy")
    p.add_argument("--device", choices=backend.DEVICES, default=None)
    return p


def check_outputs(args, names):
    """Check every output path before any work; two outputs may not share one file."""
    seen = {}
    for name, check in names:
        path = getattr(args, name)
        if path is None:
            continue
        flag = "--" + name.replace("_", "-")
        check(path, flag)
        key = os.path.realpath(path)
        if key in seen:
            raise ValueError(f"{seen[key]} and {flag} name the same file {path!r}")
        seen[key] = flag


def run(args):
    from ..data import overlay, read_image, save_label_png
    check_outputs(args, (("out", label_png), ("overlay", image_file), ("probs", npy_file)))
    model, _ = model_from_checkpoint(args.checkpoint, device=args.device)
    image = read_image(args.image)
    labels, probs = predict(model, image, device=args.device)
    if not np.isfinite(probs).all():
        raise ValueError(f"the network's scores on {args.image!r} are not finite: the weights "
                         f"in {args.checkpoint!r} are unusable (a run that diverged?); nothing "
                         "was written")
    save_label_png(args.out, labels.astype(np.uint8))
    if args.overlay:
        save_rgb(args.overlay, overlay(image, labels))
    if args.probs:
        save_npy(args.probs, probs.astype(np.float32))
    counts = np.bincount(labels.ravel(), minlength=probs.shape[0])
    print(f"{args.image}: {image.shape[1]}x{image.shape[0]} -> {args.out}; pixels per class "
          f"{counts.tolist()}")
    return 0
