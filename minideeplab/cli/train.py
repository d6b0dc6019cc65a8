"""``python -m minideeplab train``: train a DeepLab (tiny on the synthetic shapes by default).

Examples::

    python -m minideeplab train --model aspp-l --max-iter 2000 --out runs/aspp-l
    python -m minideeplab train --resume runs/aspp-l/checkpoint.npz       # continue
    python -m minideeplab train --model largefov --full --dataset voc VOCdevkit/VOC2012 \\
        --crop-size 321 --random-scale --loss-at stride8 --lr 1e-3 --input-scale 1 \\
        --max-iter 20000 --device gpu --out runs/voc
"""
import json
import os
import sys

from .. import backend
from ..models import MODEL_NAMES
from ..train import TrainConfig, Trainer, TrainingDiverged

DEFAULTS = TrainConfig()


def add_dataset_argument(p):
    p.add_argument("--dataset", nargs="+", metavar=("NAME", "PATH"), default=["synthetic"],
                   help="'synthetic' (built in) or 'voc PATH' with PATH the VOCdevkit/VOC2012 "
                        "folder")


def parse_dataset(values):
    """('synthetic', None) or ('voc', PATH) from the --dataset values; ValueError otherwise."""
    name = values[0]
    if name == "synthetic" and len(values) == 1:
        return name, None
    if name == "voc" and len(values) == 2:
        return name, values[1]
    raise ValueError(f"--dataset must be 'synthetic' or 'voc PATH', got {' '.join(values)!r}")


def add_parser(sub):
    p = sub.add_parser("train", help="train a DeepLab model", description=__doc__,
                       formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=MODEL_NAMES, default=DEFAULTS.model)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--tiny", dest="tiny", action="store_true", default=True,
                      help="small CPU preset (default)")
    size.add_argument("--full", dest="tiny", action="store_false",
                      help="the paper's full-width network")
    p.add_argument("--width", type=float, default=None, help="channel multiplier")
    p.add_argument("--method", choices=("holes", "deinterlace"), default=DEFAULTS.method)
    p.add_argument("--msc", action="store_true", help="multi-scale inputs (1, 0.75, 0.5), max")
    add_dataset_argument(p)
    p.add_argument("--preset", choices=("default", "hard", "large"), default=DEFAULTS.preset,
                   help="synthetic data: object sizes and clutter (see minideeplab.data)")
    p.add_argument("--image-size", type=int, default=DEFAULTS.image_size)
    p.add_argument("--num-train", type=int, default=DEFAULTS.num_train)
    p.add_argument("--num-val", type=int, default=DEFAULTS.num_val)
    p.add_argument("--crop-size", type=int, default=DEFAULTS.crop_size)
    p.add_argument("--random-scale", action="store_true",
                   help="the paper's random rescaling by 0.5 .. 1.5")
    p.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    p.add_argument("--max-iter", type=int, default=DEFAULTS.max_iter)
    p.add_argument("--lr", type=float, default=DEFAULTS.base_lr, help="base learning rate")
    p.add_argument("--lr-policy", choices=("poly", "step"), default=DEFAULTS.lr_policy)
    p.add_argument("--step-size", type=int, default=DEFAULTS.step_size)
    p.add_argument("--loss-at", choices=("stride8", "full"), default=DEFAULTS.loss_at)
    p.add_argument("--input-scale", type=float, default=DEFAULTS.input_scale)
    p.add_argument("--val-every", type=int, default=DEFAULTS.val_every)
    p.add_argument("--checkpoint-every", type=int, default=DEFAULTS.checkpoint_every)
    p.add_argument("--seed", type=int, default=DEFAULTS.seed)
    p.add_argument("--out", default=None, help="folder for checkpoint.npz and history.json")
    p.add_argument("--resume", default=None, help="continue from this checkpoint")
    p.add_argument("--device", choices=backend.DEVICES, default=None)
    return p


def config_from_args(args):
    dataset, root = parse_dataset(args.dataset)
    return TrainConfig(
        model=args.model, tiny=args.tiny, width=args.width, method=args.method,
        scales=(1.0, 0.75, 0.5) if args.msc else None, dataset=dataset, data_root=root,
        preset=args.preset, image_size=args.image_size, num_train=args.num_train,
        num_val=args.num_val, crop_size=args.crop_size, scale_range=(0.5, 1.5) if args.random_scale else None,
        batch_size=args.batch_size, max_iter=args.max_iter, base_lr=args.lr,
        lr_policy=args.lr_policy, step_size=args.step_size, loss_at=args.loss_at,
        input_scale=args.input_scale, val_every=args.val_every,
        checkpoint_every=args.checkpoint_every, seed=args.seed)


def run(args):
    try:
        if args.resume:
            out = args.out or os.path.dirname(os.path.abspath(args.resume))
            trainer = Trainer.resume(args.resume, out_dir=out, device=args.device)
            print(f"resumed {args.resume} at iteration {trainer.iteration}")
        else:
            trainer = Trainer(config_from_args(args), out_dir=args.out, device=args.device)
    except (ValueError, OSError, KeyError) as e:
        print(f"minideeplab train: error: {e}", file=sys.stderr)
        return 2
    print(f"training {trainer.config.model} ({trainer.model.num_parameters():,} parameters) "
          f"on {trainer.config.dataset}, {trainer.config.max_iter} iterations, "
          f"device {trainer.device}")
    try:
        history = trainer.run()
    except TrainingDiverged as e:
        print(f"minideeplab train: {e}", file=sys.stderr)
        return 1
    last = history["val"][-1] if history["val"] else {}
    print(json.dumps({"iteration": trainer.iteration, "seconds": round(trainer.elapsed, 1),
                      **{k: round(v, 4) for k, v in last.items() if k != "iteration"}}))
    return 0
