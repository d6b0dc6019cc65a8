"""Prediction and evaluation feed a model the way it was trained: the model owns its preprocessing.

Oracles: the preprocessing formula written out by hand with NumPy (and torchvision's
``(image / 255 - m) / s`` for its normalisation), the network's own forward pass on that input,
and a checkpoint written the way earlier versions wrote them (no preprocessing recorded).
"""
import numpy as np
import pytest

from minideeplab import backend, checkpoint, functional as F
from minideeplab.cli import main as cli_main
from minideeplab.data import SyntheticShapes
from minideeplab.inference import evaluate, model_from_checkpoint, predict, predict_logits
from minideeplab.models import build_model
from minideeplab.preprocess import (CAFFE_VGG, MEAN_RGB, TORCHVISION, Preprocessing, from_scratch,
                                    preprocessing_of)
from minideeplab.train import TrainConfig, Trainer

# the paper's VOC recipe (input scale 1) in miniature: a tiny LargeFOV on 33x33 images
VOC_LIKE = TrainConfig(model="largefov", tiny=True, image_size=33, crop_size=33, num_train=4,
                       num_val=2, batch_size=2, max_iter=2, base_lr=1e-3, loss_at="stride8",
                       input_scale=1.0, mirror=False)


def _image(seed=0, size=33):
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def _probs_by_hand(model, image, scale):
    """The softmax of the upsampled scores for input ``(image - Caffe's mean) * scale``, RGB."""
    x = (image.astype(np.float64) - np.asarray(MEAN_RGB)) * scale          # (H, W, 3)
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)  # (1, 3, H, W)
    model.eval()
    scores, _ = F.resize_bilinear(model(x), image.shape[:2], align_corners=True)
    return backend.asnumpy(F.softmax(scores, axis=1)[0])


def test_voc_recipe_model_is_fed_its_own_scale_after_a_reload(tmp_path):
    trainer = Trainer(VOC_LIKE, out_dir=str(tmp_path), device="cpu", progress=False)
    trainer.run(log=None)
    model, config = model_from_checkpoint(tmp_path / "checkpoint.npz", device="cpu")
    assert config.input_scale == 1.0
    assert model.preprocessing == from_scratch(1.0)
    image = _image()
    labels, probs = predict(model, image)                     # no scale given anywhere
    np.testing.assert_allclose(probs, _probs_by_hand(model, image, 1.0), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(labels, probs.argmax(axis=0))
    # the same numbers as the model that was trained, before it was saved
    np.testing.assert_array_equal(probs, predict(trainer.model, image)[1])
    # and the check can fail: the old default scale 1/64 gives other probabilities
    assert np.abs(probs - _probs_by_hand(model, image, 1 / 64)).max() > 1e-3


def _save_the_old_way(path, model, train_config):
    """A checkpoint as written before models recorded their preprocessing (Trainer.save's
    layout: the training settings, the model's build arguments, history and elapsed time)."""
    old_build_args = {k: v for k, v in model.build_args.items() if k != "preprocessing"}
    checkpoint.save_checkpoint(path, model, None, iteration=0, config={
        "train": train_config.to_json(), "model": old_build_args,
        "history": {"iteration": [], "loss": [], "lr": [], "time": [], "val": []},
        "elapsed": 0.0})


def test_old_resnet_checkpoint_keeps_the_rate_schedule_it_was_trained_with(tmp_path):
    """ResNet checkpoints from before the rate schedule was recorded were trained with
    torchvision's schedule (layer4's first block at the previous rate); a new one records
    the paper's."""
    model = build_model("v3", 4, tiny=True, depth=(1, 1, 1, 3), seed=0)
    assert model.build_args["schedule"] == "paper" and model.backbone.plan[3][0] == (1, 2)
    old = tmp_path / "old.npz"
    model.build_args = {k: v for k, v in model.build_args.items() if k != "schedule"}
    _save_the_old_way(old, model, VOC_LIKE)
    loaded, _ = model_from_checkpoint(old, device="cpu")
    assert loaded.backbone.plan[3] == [(1, 1), (1, 4), (1, 8)]
    new = tmp_path / "new.npz"
    model.build_args["schedule"] = "paper"
    _save_the_old_way(new, model, VOC_LIKE)
    assert model_from_checkpoint(new, device="cpu")[0].backbone.plan[3] == [(1, 2), (1, 4), (1, 8)]


def test_old_checkpoint_without_preprocessing_loads_with_its_training_scale(tmp_path):
    config = VOC_LIKE.replace(input_scale=0.5)
    model = build_model("largefov", 6, tiny=True, seed=3)
    path = tmp_path / "old.npz"
    _save_the_old_way(path, model, config)
    assert "preprocessing" not in checkpoint.load_checkpoint(path).config["model"]
    loaded, loaded_config = model_from_checkpoint(path, device="cpu")
    assert loaded_config.input_scale == 0.5
    assert loaded.preprocessing == from_scratch(0.5)
    image = _image(1)
    _, probs = predict(loaded, image)
    np.testing.assert_allclose(probs, _probs_by_hand(model, image, 0.5), rtol=1e-4, atol=1e-6)
    # a new save of the same model records the preprocessing and reloads identically
    loaded.build_args = dict(loaded.build_args)
    trainer = Trainer(config, device="cpu", model=loaded, progress=False)
    trainer.save(tmp_path / "new.npz")
    assert checkpoint.load_checkpoint(tmp_path / "new.npz").config["model"]["preprocessing"] \
        == from_scratch(0.5).to_json()
    again, _ = model_from_checkpoint(tmp_path / "new.npz", device="cpu")
    np.testing.assert_array_equal(predict(again, image)[1], probs)


def test_build_model_records_preprocessing_in_build_args():
    model = build_model("aspp-s", 5, tiny=True, preprocessing=TORCHVISION)
    assert model.preprocessing == TORCHVISION
    rebuilt = build_model(**model.build_args)                 # as a checkpoint rebuilds it
    assert rebuilt.preprocessing == TORCHVISION
    assert build_model("largefov", 5, tiny=True).preprocessing == Preprocessing()


def test_preprocessing_formula(device):
    xp = backend.xp_for(device)
    images = np.random.default_rng(2).integers(0, 256, (2, 5, 4, 3), dtype=np.uint8)
    # torchvision's ImageNet normalisation, its own way: ToTensor's /255, then (t - m) / s
    m, s = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    expected = ((images / 255.0 - m) / s).transpose(0, 3, 1, 2)
    got = TORCHVISION(xp.asarray(images))
    assert backend.device_of(got) == device and got.dtype == np.float32
    np.testing.assert_allclose(backend.asnumpy(got), expected, rtol=1e-5, atol=1e-5)
    # Caffe's VGG: BGR, minus the mean pixel, nothing else
    expected = (images[..., ::-1] - np.asarray(MEAN_RGB)[::-1]).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(backend.asnumpy(CAFFE_VGG(xp.asarray(images))), expected,
                               rtol=1e-6, atol=1e-4)
    # every field at once
    pre = Preprocessing(mean=(10, 20, 30), std=(2, 4, 8), scale=0.5, channel_order="bgr")
    expected = ((images - np.array([10, 20, 30])) / np.array([2, 4, 8]) * 0.5)[..., ::-1]
    np.testing.assert_allclose(backend.asnumpy(pre(xp.asarray(images))),
                               expected.transpose(0, 3, 1, 2), rtol=1e-6, atol=1e-5)
    assert Preprocessing.from_json(pre.to_json()) == pre


def test_bad_preprocessing_and_models_without_one():
    with pytest.raises(ValueError, match="Preprocessing: mean must be 3 finite numbers"):
        Preprocessing(mean=(1, 2))
    with pytest.raises(ValueError, match=r"Preprocessing: std must be in \(0, 255\]"):
        Preprocessing(std=(1, 0, 1))
    with pytest.raises(ValueError, match="Preprocessing: scale must be a finite number > 0"):
        Preprocessing(scale=0)
    with pytest.raises(ValueError, match="unknown channel_order 'hsv'"):
        Preprocessing(channel_order="hsv")
    with pytest.raises(ValueError, match="unknown entries"):
        Preprocessing.from_json({"mean": [1, 2, 3], "input_scale": 1})
    with pytest.raises(ValueError, match=r"images must be \(N, H, W, 3\) uint8"):
        Preprocessing()(np.zeros((1, 4, 4, 3), np.float32))
    with pytest.raises(TypeError, match="predict_logits: the model .* has no preprocessing"):
        predict_logits(lambda x: x, _image()[None])
    with pytest.raises(TypeError, match="evaluate: the model .* has no preprocessing"):
        evaluate(lambda x: x, SyntheticShapes("val", 1, size=17), progress=False)
    with pytest.raises(TypeError, match="fn_name: the model"):
        preprocessing_of("fn_name", object())


def test_command_line_predict_and_evaluate_take_no_input_scale(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli_main(["train", "--model", "largefov", "--image-size", "33", "--crop-size", "33",
                     "--num-train", "4", "--num-val", "2", "--batch-size", "2", "--max-iter",
                     "1", "--input-scale", "1", "--out", str(out)]) == 0
    ckpt_path = out / "checkpoint.npz"
    recorded = checkpoint.load_checkpoint(ckpt_path).config["model"]["preprocessing"]
    assert recorded == from_scratch(1.0).to_json()
    capsys.readouterr()
    for command in (["evaluate", str(ckpt_path)], ["predict", str(ckpt_path), "im.png", "--out",
                                                   "l.png"]):
        with pytest.raises(SystemExit):
            cli_main(command + ["--input-scale", "1"])
        assert "unrecognized arguments: --input-scale" in capsys.readouterr().err
