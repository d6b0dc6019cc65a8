"""python -m minideeplab train: its options, its recipes, and what a run prints.

The help text is :data:`DESCRIPTION`, formatted with the figures measured for it
(:mod:`.measured`).
"""
import argparse
import json
import math
import os
import textwrap

import numpy as np

from .. import backend
from ..errors import ArgumentError
from ..config import LOSS_TARGETS, RECIPES
from ..data import SyntheticShapes
from ..data.augment import RANDOM_SCALE_RANGE
from ..fileio import prepare_output_dir, same_file
from ..functional import CONV_METHODS
from ..models import MODEL_NAMES, MSC_SCALES
from ..optim import SCHEDULES
from ..train import TrainConfig, Trainer, TrainingDiverged
from . import fail, measured
from .arguments import (add_dataset_argument, nonnegative_int, parse_dataset, positive_float,
                        positive_int)

DEFAULTS = TrainConfig()
CHECKPOINT = "checkpoint.npz"
RUN_FILES = (CHECKPOINT, "history.json")      # what a run writes into --out

DESCRIPTION = """Train a DeepLab: by default the tiny DeepLab-ASPP-L on the built-in synthetic
shapes, on the CPU.

A first run:

    python -m minideeplab train --out runs/first

{first_run}

Recipes (--recipe NAME; any flag below changes one setting of it):
  default  the tiny networks from scratch on the synthetic shapes: learning rate {lr:g}
           (linear warm-up over the first {warmup} iterations), "poly" over {iterations}
           iterations, batches of {batch} crops of {crop}x{crop}, validation every {val_every}
  caffe    DeepLab v2's Caffe solver for PASCAL VOC (Sec. 4.1): {c_crop}x{c_crop} crops rescaled
           by {c_scale[0]:g} .. {c_scale[1]:g}, batches of {c_batch}, learning rate {c_lr:g} without warm-up,
           "poly" over {c_iterations} iterations, the loss at output stride 8, inputs in 0..255
           units; with --full and --dataset voc PATH it is the paper's setting (hours: a
           GPU's work)

More examples:

    python -m minideeplab train --model largefov --out runs/largefov
    python -m minideeplab train --resume runs/first/checkpoint.npz --max-iter 6000  # longer
    python -m minideeplab train --recipe caffe --model largefov --full \\
        --dataset voc VOCdevkit/VOC2012 --device gpu --out runs/voc

Nothing is lost: --out (default runs/MODEL) is created and proved writable before the first
iteration; a folder that already holds a run is refused unless you --resume it or pass
--overwrite; every file is written atomically; Ctrl-C finishes the step and saves a
checkpoint. --resume continues a run with the settings saved in its checkpoint: only
--max-iter, --val-every and --checkpoint-every may be changed (the change is printed); other
settings are refused.
"""

# The settings that define a run (refused with --resume) and those a resume may change:
# argparse dest -> TrainConfig field (None: handled by config_from_args)
RUN_SETTINGS = {"recipe": None, "model": "model", "tiny": "tiny", "width": "width", "method": "method",
                "msc": None, "dataset": None, "preset": "preset", "image_size": "image_size",
                "num_train": "num_train", "num_val": "num_val", "crop_size": "crop_size",
                "random_scale": None, "batch_size": "batch_size", "lr": "base_lr",
                "warmup": "warmup_iter",
                "lr_policy": "lr_policy", "step_size": "step_size", "loss_at": "loss_at",
                "input_scale": "input_scale", "seed": "seed"}
RESUME_SETTINGS = {"max_iter": "max_iter", "val_every": "val_every",
                   "checkpoint_every": "checkpoint_every"}


def _default(field):
    return f" (default {getattr(DEFAULTS, field)})"


def description():
    """The help text: :data:`DESCRIPTION` with the recipes' settings and the measured run."""
    caffe = TrainConfig.recipe("caffe")
    return DESCRIPTION.format(
        first_run=textwrap.fill(measured.first_run_text(), 90), lr=DEFAULTS.base_lr, warmup=DEFAULTS.warmup_iter,
        iterations=DEFAULTS.max_iter, batch=DEFAULTS.batch_size, crop=DEFAULTS.crop_size,
        val_every=DEFAULTS.val_every, c_crop=caffe.crop_size, c_scale=caffe.scale_range,
        c_batch=caffe.batch_size, c_lr=caffe.base_lr, c_iterations=caffe.max_iter)


def add_parser(sub):
    p = sub.add_parser("train", help="train a DeepLab model", description=description(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    # Settings default to None here, so that --resume can tell which ones were given.
    p.add_argument("--recipe", choices=tuple(RECIPES), default=None,
                   help="the settings to start from (default: default); see above")
    p.add_argument("--model", choices=MODEL_NAMES, default=None, help=_default("model"))
    size = p.add_mutually_exclusive_group()
    size.add_argument("--tiny", dest="tiny", action="store_const", const=True, default=None,
                      help="small CPU preset (default)")
    size.add_argument("--full", dest="tiny", action="store_const", const=False,
                      help="the paper's full-width network")
    p.add_argument("--width", type=positive_float, default=None, help="channel multiplier")
    p.add_argument("--method", choices=CONV_METHODS, default=None,
                   help=_default("method"))
    p.add_argument("--msc", action="store_const", const=True, default=None,
                   help=f"multi-scale inputs {MSC_SCALES}, max")
    add_dataset_argument(p, default=None)
    p.add_argument("--preset", choices=tuple(SyntheticShapes.PRESETS), default=None,
                   help="synthetic data: object sizes and clutter (see minideeplab.data)"
                        + _default("preset"))
    p.add_argument("--image-size", type=positive_int, default=None, help=_default("image_size"))
    p.add_argument("--num-train", type=positive_int, default=None, help=_default("num_train"))
    p.add_argument("--num-val", type=positive_int, default=None, help=_default("num_val"))
    p.add_argument("--crop-size", type=positive_int, default=None, help=_default("crop_size"))
    p.add_argument("--random-scale", action="store_const", const=True, default=None,
                   help="the paper's random rescaling by %g .. %g" % RANDOM_SCALE_RANGE)
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help=_default("batch_size"))
    p.add_argument("--max-iter", type=positive_int, default=None, help=_default("max_iter"))
    p.add_argument("--lr", type=positive_float, default=None,
                   help="base learning rate" + _default("base_lr"))
    p.add_argument("--warmup", type=nonnegative_int, default=None, metavar="N",
                   help="raise the learning rate linearly over the first N iterations (0: "
                        "none)" + _default("warmup_iter"))
    p.add_argument("--lr-policy", choices=SCHEDULES, default=None,
                   help=_default("lr_policy"))
    p.add_argument("--step-size", type=positive_int, default=None, help=_default("step_size"))
    p.add_argument("--loss-at", choices=LOSS_TARGETS, default=None,
                   help="full: the loss on the scores upsampled to the labels' size (objects "
                        "a few pixels wide vanish from labels shrunk to stride 8); stride8: "
                        "against the labels shrunk to stride 8, the paper's (recipe caffe)"
                        + _default("loss_at"))
    p.add_argument("--input-scale", type=positive_float, default=None,
                   help="a new model's preprocessing: (image - mean) * this (1 for the paper's "
                        f"VOC recipe); recorded in the checkpoint (default "
                        f"{DEFAULTS.input_scale:g})")
    p.add_argument("--val-every", type=nonnegative_int, default=None,
                   help="0: only at the end" + _default("val_every"))
    p.add_argument("--checkpoint-every", type=nonnegative_int, default=None,
                   help="0: only at the end" + _default("checkpoint_every"))
    p.add_argument("--seed", type=nonnegative_int, default=None, help=_default("seed"))
    p.add_argument("--out", default=None,
                   help="folder for checkpoint.npz and history.json (default runs/MODEL; "
                        "with --resume, the checkpoint's folder)")
    p.add_argument("--overwrite", action="store_true",
                   help="start a new run in an --out folder that already holds one")
    p.add_argument("--resume", default=None, help="continue from this checkpoint")
    p.add_argument("--device", choices=backend.DEVICES, default=None)
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (the validation lines are still printed)")
    return p


def config_from_args(args):
    dataset, root = parse_dataset(args.dataset)
    changes = {field: getattr(args, dest) for dest, field in
               {**RUN_SETTINGS, **RESUME_SETTINGS}.items()
               if field is not None and getattr(args, dest) is not None}
    if args.msc:
        changes["scales"] = MSC_SCALES
    if args.random_scale:
        changes["scale_range"] = RANDOM_SCALE_RANGE
    return TrainConfig.recipe(args.recipe or "default", dataset=dataset, data_root=root,
                              **changes)


def _flag(dest):
    return "--" + dest.replace("_", "-")


def _holds_other_run(out, resume=None):
    """The files of a run (checkpoint.npz, history.json) that ``out`` holds, unless they are
    the run being resumed (its checkpoint is ``resume``, by any path): a history without a
    checkpoint is a run too, and a new run would replace it."""
    existing = [name for name in RUN_FILES if os.path.exists(os.path.join(out, name))]
    if (existing and resume is not None and os.path.exists(resume)
            and same_file(os.path.join(out, CHECKPOINT), resume)):
        return []
    return existing


def _prepare_out(out, args, resume=None):
    # without --out, a resumed run writes to its checkpoint's folder: name it as the user gave it
    out_given = resume is None or args.out is not None
    where = f"--out {out!r}" if out_given else f"--resume's folder {out!r}"
    if out == "":
        raise ArgumentError("--out: the path is empty; give the folder for checkpoint.npz and "
                            "history.json")
    if os.path.exists(out) and not os.path.isdir(out):
        prepare_output_dir(out, "--out")                # raises, naming the file
    held = [] if args.overwrite else _holds_other_run(out, resume)
    if held:
        if resume is None and CHECKPOINT in held:
            raise ArgumentError(f"--out {out!r} already holds a run ({CHECKPOINT}); continue it "
                                f"with 'train --resume {os.path.join(out, CHECKPOINT)}', or pass "
                                "--overwrite to replace it")
        raise ArgumentError(f"{where} already holds {'another' if resume else 'a'} run "
                            f"({', '.join(held)}); give {'another' if out_given else 'an'} --out "
                            "for this run, or pass --overwrite to replace it")
    _, stale = prepare_output_dir(out, "--out")
    for path in stale:
        print(f"removed {path}, a temporary file left by a killed run")
    return out


def _resume(args):
    given = [_flag(dest) for dest in RUN_SETTINGS if getattr(args, dest) is not None]
    if given:
        raise ArgumentError(f"--resume continues a run with the settings saved in its checkpoint; "
                            f"{', '.join(given)} cannot be changed (start a new run with --out "
                            "for other settings); --max-iter, --val-every and --checkpoint-every "
                            "may be given")
    out = args.out if args.out is not None else os.path.dirname(os.path.abspath(args.resume))
    out = _prepare_out(out, args, resume=args.resume)
    changes = {field: getattr(args, dest) for dest, field in RESUME_SETTINGS.items()
               if getattr(args, dest) is not None}
    trainer = Trainer.resume(args.resume, out_dir=out, device=args.device, changes=changes,
                             progress=not args.no_progress)
    print(f"resumed {args.resume} at iteration {trainer.iteration}" + "".join(
        f"; {_flag(dest)} {getattr(trainer.saved_config, field)} -> {changes[field]}"
        for dest, field in RESUME_SETTINGS.items()
        if field in changes and getattr(trainer.saved_config, field) != changes[field]))
    return trainer


def _baseline(val_set):
    """'' or '; a network that says background everywhere scores val mIoU X' (in-memory val
    sets only: a file-backed one would be read once more just for this)."""
    if not hasattr(val_set, "load_arrays"):
        return ""
    from ..metrics import ConfusionMatrix
    _, labels = val_set.load_arrays()
    cm = ConfusionMatrix(val_set.num_classes).update(np.zeros_like(labels), labels)
    return f" (a network that says background everywhere scores {cm.mean_iou():.4f})"


def _json_value(v):
    if isinstance(v, float):
        return round(v, 4) if math.isfinite(v) else None     # NaN is not JSON
    return v


def run(args):
    if args.resume:
        trainer = _resume(args)
        if trainer.iteration >= trainer.config.max_iter:
            print(f"nothing to do: the run has finished ({trainer.iteration} of "
                  f"{trainer.config.max_iter} iterations); pass --max-iter N > "
                  f"{trainer.config.max_iter} to train further")
            return 0
    else:
        config = config_from_args(args)
        out = args.out if args.out is not None else os.path.join("runs", config.model)
        out = _prepare_out(out, args)
        trainer = Trainer(config, out_dir=out, device=args.device,
                          progress=not args.no_progress)
    c = trainer.config
    print(f"training {c.model} ({trainer.model.num_parameters():,} parameters) on "
          f"{c.dataset}, {c.max_iter} iterations, device {trainer.device}, into "
          f"{trainer.out_dir}")
    print(f"  learning rate {c.base_lr:g}"
          + (f" (warm-up over {c.warmup_iter} iterations)" if c.warmup_iter else "")
          + f", {c.lr_policy}, batches of {c.batch_size} crops of {c.crop_size}x{c.crop_size}; "
          + (f"validation every {c.val_every} iterations and at the end"
             if c.val_every else "validation at the end")
          + f" on {len(trainer.val_set)} val images{_baseline(trainer.val_set)}")
    try:
        history = trainer.run()
    except TrainingDiverged as e:
        return fail("train", str(e), status=1)
    last = history["val"][-1] if history["val"] else {}
    print(json.dumps({"iteration": trainer.iteration, "seconds": round(trainer.elapsed, 1),
                      **{k: _json_value(v) for k, v in last.items() if k != "iteration"}},
                     allow_nan=False))
    return 0
