"""``python -m minideeplab predict CHECKPOINT IMAGE --out labels.png``: segment one image.

Writes the label map as a palette PNG (VOC colours, pixel value = class index); ``--overlay``
the labels blended over the image; ``--probs`` the (L, H, W) softmax at the image size as .npy,
which ``python -m minideeplab crf IMAGE PROBS.npy`` takes as input.
"""
import sys

import numpy as np

from .. import backend
from ..train import model_from_checkpoint, predict


def add_parser(sub):
    p = sub.add_parser("predict", help="segment one image with a checkpoint", description=__doc__)
    p.add_argument("checkpoint")
    p.add_argument("image", help="RGB image (any format Pillow reads)")
    p.add_argument("--out", required=True, help="label PNG to write")
    p.add_argument("--overlay", help="also write the labels blended over the image")
    p.add_argument("--probs", help="also save the (L, H, W) probabilities as .npy")
    p.add_argument("--device", choices=backend.DEVICES, default=None)
    return p


def run(args):
    from ..data import overlay, read_image, save_label_png
    try:
        model, config = model_from_checkpoint(args.checkpoint, device=args.device)
        image = read_image(args.image)
    except (ValueError, OSError, KeyError) as e:
        print(f"minideeplab predict: error: {e}", file=sys.stderr)
        return 2
    labels, probs = predict(model, image, input_scale=config.input_scale, device=args.device)
    save_label_png(args.out, labels.astype(np.uint8))
    if args.overlay:
        from PIL import Image
        Image.fromarray(overlay(image, labels)).save(args.overlay)
    if args.probs:
        np.save(args.probs, probs.astype(np.float32))
    counts = np.bincount(labels.ravel(), minlength=probs.shape[0])
    print(f"{args.image}: {image.shape[1]}x{image.shape[0]} -> {args.out}; pixels per class "
          f"{counts.tolist()}")
    return 0
