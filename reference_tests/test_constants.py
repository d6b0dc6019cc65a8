"""Each choice list and parameter set is defined once and imported: the command line offers
exactly the library's choices, the CRF's parameter sets are the released ones, and
``evaluate --crf`` names the set it used."""
import inspect

import numpy as np

from minideeplab import crf, nn
from minideeplab.cli import build_parser, main
from minideeplab.config import LOSS_TARGETS, TrainConfig
from minideeplab.data import DATASETS, SyntheticShapes
from minideeplab.functional import CONV_METHODS
from minideeplab.models import MODEL_NAMES, build_model
from minideeplab.optim import SCHEDULES
from minideeplab.train import Trainer


def _choices(command):
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    return {a.dest: a for a in sub._actions}


def test_the_command_line_offers_the_librarys_choices():
    train = _choices("train")
    assert train["model"].choices == MODEL_NAMES
    assert train["method"].choices == CONV_METHODS
    assert train["preset"].choices == tuple(SyntheticShapes.PRESETS)
    assert train["lr_policy"].choices == SCHEDULES
    assert train["loss_at"].choices == LOSS_TARGETS
    refine = _choices("crf")
    assert refine["preset"].choices == tuple(crf.CRF_SETTINGS)
    assert refine["method"].choices == crf.CRF_METHODS
    assert _choices("demo")["rate"].default == nn.LARGEFOV_RATE
    for name, choices in [("model", MODEL_NAMES), ("method", CONV_METHODS),
                          ("dataset", DATASETS), ("lr_policy", SCHEDULES),
                          ("loss_at", LOSS_TARGETS)]:            # TrainConfig refuses the rest
        for value in choices:
            changes = {name: value, **({"data_root": "x"} if value == "voc" else {})}
            TrainConfig(**changes)


def test_the_crf_parameter_sets_are_deeplabs_and_dense_crfs_defaults_are_one_of_them():
    # (w1, theta_alpha, theta_beta, w2, theta_gamma) of the released prototxts: DeepLab v2's
    # ResNet-101 on VOC and DeepLab v1's VGG-16 (docs/conventions.md, "Dense CRF")
    assert crf.CRF_SETTINGS["resnet"] == dict(w1=4, theta_alpha=67, theta_beta=3, w2=3,
                                              theta_gamma=1)
    assert crf.CRF_SETTINGS["vgg"] == dict(w1=4, theta_alpha=121, theta_beta=5, w2=3,
                                           theta_gamma=3)
    defaults = {k: p.default for k, p in inspect.signature(crf.dense_crf).parameters.items()
                if k in crf.CRF_SETTINGS["default"]}
    assert defaults == crf.CRF_SETTINGS["default"]


def test_largefov_is_built_with_rate_12():
    model = build_model("largefov", 3, tiny=True)
    fc6 = [m for name, m in model.named_modules() if name.endswith("fc6")]
    assert [m.rate for m in fc6] == [12] == [nn.LARGEFOV_RATE]


def test_evaluate_with_the_crf_names_the_settings_it_used(tmp_path, capsys):
    config = TrainConfig(model="largefov", image_size=17, crop_size=17, num_train=2,
                         num_val=2, batch_size=2, max_iter=1, loss_at="stride8")
    Trainer(config, out_dir=str(tmp_path), progress=False).run(log=None)
    assert main(["evaluate", str(tmp_path / "checkpoint.npz"), "--crf"]) == 0
    out = capsys.readouterr().out
    assert ("dense CRF 'default' (w1=4, theta_alpha=67, theta_beta=3, w2=3, theta_gamma=3)"
            in out), out
    assert np.isfinite(float(out.split("mean IOU")[1].split()[0]))
