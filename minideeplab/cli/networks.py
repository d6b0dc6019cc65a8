"""python -m minideeplab networks: the trained networks that ship with minideeplab.

Lists each shipped network with what it is, what it was trained on, its val mIoU (the last
validation of its training, on the val images of its data) and its file. A name works
wherever a command takes a network: predict aspp-l IMAGE --out labels.png, evaluate aspp-l,
crf IMAGE aspp-l --out refined.png; in Python, minideeplab.paper.shipped.load("aspp-l").
"""
import os
import textwrap

from ..checkpoint import load_checkpoint
from ..config import TrainConfig
from ..nn import ASPP_L_RATES, ASPP_S_RATES, LARGEFOV_RATE



def _rates(rates):
    return ", ".join(map(str, rates))


# what each model is (the model names of minideeplab.models.build_model)
MODELS = {"largefov": f"DeepLab-LargeFOV, one fc6 branch at rate {LARGEFOV_RATE}",
          "aspp-s": f"DeepLab-ASPP-S, four branches at rates {_rates(ASPP_S_RATES)}",
          "aspp-l": f"DeepLab-ASPP-L, four branches at rates {_rates(ASPP_L_RATES)}",
          "resnet": "DeepLab-ResNet", "v3": "DeepLab v3"}
INDENT = " " * 13


def add_parser(sub):
    return sub.add_parser("networks", help="list the trained networks that ship with "
                                           "minideeplab", description=__doc__)


def describe(name, path):
    """The paragraph about shipped network ``name`` (its file ``path``): what it is, its last val
    mIoU, what it was trained on and how long, and the file."""
    loaded = load_checkpoint(path)
    c = TrainConfig.from_checkpoint(loaded)
    history = loaded.config["history"]
    val = history["val"][-1] if history.get("val") else None
    parameters = sum(int(a.size) for a in loaded.model_state.values())
    score = (f"val mIoU {val['mean_iou']:.4f} (its {c.num_val} val images, at the end of "
             "training)" if val else "not validated during training")
    data = (f"the synthetic shapes (preset {c.preset}, {c.image_size}x{c.image_size}, "
            f"{c.num_train} images, seed {c.seed})" if c.dataset == "synthetic" else c.dataset)
    warmup = f" after a {c.warmup_iter}-iteration warm-up" if c.warmup_iter else ""
    minutes = loaded.config.get("elapsed", 0.0) / 60
    trained = (f"trained from scratch on {data}: {loaded.iteration} iterations of "
               f"\"{c.lr_policy}\" from {c.base_lr:g}{warmup}, batches of {c.batch_size} "
               f"({minutes:.1f} minutes on the machine that trained it)")
    where = os.path.relpath(path)
    lines = [f"{name:12s} {MODELS.get(c.model, c.model)} ({'tiny: ' if c.tiny else ''}"
             f"{parameters:,} parameters)", INDENT + score]
    lines += textwrap.wrap(trained, 92, initial_indent=INDENT, subsequent_indent=INDENT)
    return lines + [INDENT + (path if where.startswith("..") else where)]


def run(args):
    from ..paper import shipped
    print("The trained networks that ship with minideeplab, made by the book's code\n"
          "(minideeplab/paper); give a name wherever a command takes a network:\n")
    for name in shipped.names():
        print("\n".join(describe(name, shipped.network_path(name))) + "\n")
    print("  python -m minideeplab predict aspp-l IMAGE --out labels.png --overlay overlay.png"
          "\n  python -m minideeplab evaluate aspp-l"
          "\n  python -m minideeplab crf IMAGE aspp-l --out refined.png")
    return 0
