"""``python -m minideeplab crf IMAGE PROBS.npy --out labels.png``: refine labels with the CRF.

IMAGE is any picture Pillow reads (converted to RGB); PROBS.npy holds the network's softmax
probabilities as an (L, H, W) float array at the image's size (DeepLab upsamples its stride-8
scores bilinearly before the CRF; ``predict --probs`` writes them). In its place a network
computes them first: a shipped network's name, a network file or a checkpoint
(``crf photo.png aspp-l --out refined.png``). The refined labels (argmax of the CRF's marginals) are written
as a palette PNG with the PASCAL VOC colours (pixel values = label indices, like VOC's
SegmentationClass files; PNG because it is lossless); ``--overlay`` also writes them blended
over the image. Output paths are checked before the CRF runs; every file is written atomically.
"""
import os
import time

import numpy as np

from .. import backend, checkpoint as ckpt
from ..crf import CRF_METHODS, CRF_SETTINGS, NORMALIZATIONS, dense_crf, naive
from ..errors import ArgumentError, CheckpointError, DataError
from ..inference import predict
from ..io import (LABEL_PNG_CLASSES, check_image_output, check_label_png_output,
                  check_npy_output, file_kind, read_image, read_npy, save_label_png, save_npy,
                  save_rgb)
from .arguments import (NETWORK_HELP, check_outputs, network_file, nonnegative_float,
                        nonnegative_int, positive_float)

_PARAMS = tuple(CRF_SETTINGS["default"])      # w1, theta_alpha, theta_beta, w2, theta_gamma


def _preset_help():
    return "parameter set: " + ", ".join(
        f"{name} ({', '.join(f'{v:g}' for v in values.values())})"
        for name, values in CRF_SETTINGS.items()) + "; the flags below override it"


def add_parser(sub):
    p = sub.add_parser("crf", help="refine network probabilities with the fully connected CRF",
                       description=__doc__)
    p.add_argument("image", help="RGB image (any format Pillow reads)")
    p.add_argument("probs", metavar="PROBS_OR_NETWORK",
                   help="the network's probabilities: a .npy file of (L, H, W) at the image's "
                        "size (predict --probs writes one); or " + NETWORK_HELP + ", run on "
                        "the image first")
    p.add_argument("--out", required=True, help="output label PNG (VOC palette)")
    p.add_argument("--overlay", help="also write the labels blended over the image here")
    p.add_argument("--method", choices=CRF_METHODS, default="lattice",
                   help="lattice (fast, default) or naive (exact O(N^2), small images only)")
    p.add_argument("--normalization", choices=NORMALIZATIONS, default="symmetric")
    p.add_argument("--preset", choices=tuple(CRF_SETTINGS), default="default",
                   help=_preset_help())
    for name in _PARAMS:
        p.add_argument("--" + name.replace("_", "-"), dest=name, default=None,
                       type=positive_float if name.startswith("theta") else nonnegative_float)
    p.add_argument("--iterations", type=nonnegative_int, default=10,
                   help="mean-field iterations (10)")
    p.add_argument("--save-probs", help="also save the refined marginals Q, (L, H, W) float32 .npy")
    p.add_argument("--device", choices=backend.DEVICES, default=None)
    return p


def read_probs(path):
    """The (L, H, W) float probabilities of a .npy file (``predict --probs`` writes one);
    DataError naming the file otherwise."""
    probs = read_npy(path, "probs")
    if probs.dtype.kind != "f":
        raise DataError(f"probs {path!r} holds {probs.dtype} values; expected floating point "
                        "probabilities", path)
    if probs.ndim == 3 and probs.shape[0] > LABEL_PNG_CLASSES:
        raise DataError(f"probs {path!r} has shape {probs.shape}: expected (L, H, W) with "
                        f"L <= {LABEL_PNG_CLASSES} labels (labels first, as the network's "
                        "(C, H, W) output)",
                        path)
    return probs


def _has_format(path):
    """True when the .npz archive at ``path`` has a "format" entry, as checkpoints do."""
    import zipfile
    with zipfile.ZipFile(path) as z:
        return "format.npy" in z.namelist()


def _probabilities(args, image):
    """(L, H, W) probabilities: read from a .npy file, or computed by the network named."""
    kind, what = file_kind(args.probs) if os.path.isfile(args.probs) else (None, None)
    if kind == "npy":
        return read_probs(args.probs)
    try:
        model = ckpt.load_model(network_file(args.probs), device=args.device)
    except CheckpointError as e:
        if kind in (None, "safetensors", "zip") or (kind == "npz" and _has_format(args.probs)):
            raise                       # a network or checkpoint: its reader says what is wrong
        raise DataError(f"{args.probs!r} is {what}: expected probabilities (a .npy file of "
                        "one (L, H, W) array, which predict --probs writes) or a network (a "
                        "shipped network's name, a network file or a checkpoint)",
                        args.probs) from e
    return predict(model, image, device=args.device)[1]


def run(args):
    from ..data import overlay
    check_outputs(args, (("out", check_label_png_output), ("overlay", check_image_output),
                         ("save_probs", check_npy_output)),
                  {"image": args.image, "probs": args.probs})
    params = dict(CRF_SETTINGS[args.preset])
    params.update({k: getattr(args, k) for k in _PARAMS if getattr(args, k) is not None})
    image = read_image(args.image)
    H, W, _ = image.shape
    if args.method == "naive" and H * W > naive.MAX_PIXELS:
        raise ArgumentError(f"--method naive: the image has {W}x{H} = {H * W} pixels, more than "
                            f"the exact O(N^2) filter's limit of {naive.MAX_PIXELS} (it would "
                            "take minutes); use --method lattice (the default)")
    probs = _probabilities(args, image)
    xp = backend.xp_for(args.device)
    t0 = time.perf_counter()
    Q = dense_crf(xp.asarray(image), xp.asarray(probs), iterations=args.iterations,
                  method=args.method, normalization=args.normalization, **params)
    backend.synchronize(xp)
    seconds = time.perf_counter() - t0
    labels = backend.asnumpy(Q.argmax(axis=0))                             # (H, W)
    before = probs.argmax(axis=0)
    picture = overlay(image, labels) if args.overlay else None   # all made before any is written
    save_label_png(args.out, labels)
    if picture is not None:
        save_rgb(args.overlay, picture)
    if args.save_probs:
        save_npy(args.save_probs, backend.asnumpy(Q))
    print(f"dense CRF ({args.method}, {args.normalization}, {args.iterations} iterations, "
          + ", ".join(f"{k}={v:g}" for k, v in params.items())
          + f") on {W}x{H}, {probs.shape[0]} labels: {seconds:.2f} s; "
          f"{100 * float(np.mean(labels != before)):.2f}% of the pixels changed label; "
          f"wrote {args.out}" + (f" and {args.overlay}" if args.overlay else ""))
    return 0
