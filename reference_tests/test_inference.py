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
from minideeplab.inference import evaluate, predict, predict_logits
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
    loaded = checkpoint.load_checkpoint(tmp_path / "checkpoint.npz")
    model = checkpoint.load_model(loaded, device="cpu")
    assert TrainConfig.from_checkpoint(loaded).input_scale == 1.0
    assert model.preprocessing == from_scratch(1.0)
    image = _image()
    labels, probs = predict(model, image)                     # no scale given anywhere
    np.testing.assert_allclose(probs, _probs_by_hand(model, image, 1.0), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(labels, probs.argmax(axis=0))
    # the same numbers as the model that was trained, before it was saved
    np.testing.assert_array_equal(probs, predict(trainer.model, image)[1])
    # and the check can fail: the old default scale 1/64 gives other probabilities
    assert np.abs(probs - _probs_by_hand(model, image, 1 / 64)).max() > 1e-3


def _save_format_1(path, model, train_config, with_preprocessing=False):
    """A checkpoint of format 1, written by hand as that version's Trainer.save wrote it: the
    build arguments inside the config (``config["model"]``), and in its first files without
    the preprocessing."""
    build_args = dict(model.build_args)
    if not with_preprocessing:
        build_args.pop("preprocessing")
    entries = {f"model/{k}": v for k, v in model.state_dict().items()}
    entries.update(iteration=np.array(0, np.int64), format=np.array(1, np.int64),
                   config=checkpoint.json_to_array({
                       "train": train_config.to_json(), "model": build_args,
                       "history": {"iteration": [], "loss": [], "lr": [], "time": [],
                                   "val": []}, "elapsed": 0.0}))
    with open(path, "wb") as f:
        np.savez(f, **entries)


def test_format_1_resnet_keeps_the_rate_schedule_it_was_trained_with(tmp_path):
    """Format-1 ResNet checkpoints from before the rate schedule was recorded were trained with
    torchvision's schedule (layer4's first block at the previous rate); a new one records the
    paper's, and a format-2 file must say which."""
    model = build_model("v3", 4, tiny=True, depth=(1, 1, 1, 3), seed=0)
    assert model.build_args["schedule"] == "paper" and model.backbone.plan[3][0] == (1, 2)
    old = tmp_path / "old.npz"
    model.build_args = {k: v for k, v in model.build_args.items() if k != "schedule"}
    _save_format_1(old, model, VOC_LIKE, with_preprocessing=True)
    assert checkpoint.load_model(old, device="cpu").backbone.plan[3] == [(1, 1), (1, 4), (1, 8)]
    new = tmp_path / "new.npz"
    model.build_args["schedule"] = "paper"
    _save_format_1(new, model, VOC_LIKE, with_preprocessing=True)
    assert checkpoint.load_model(new, device="cpu").backbone.plan[3] == [(1, 2), (1, 4), (1, 8)]
    checkpoint.save_checkpoint(tmp_path / "v2.npz", model, build_args={
        k: v for k, v in model.build_args.items() if k != "schedule"})
    with pytest.raises(checkpoint.CheckpointError, match="does not record the ResNet's rate "
                                                         "schedule"):
        checkpoint.load_checkpoint(tmp_path / "v2.npz")


def test_format_1_without_preprocessing_loads_with_its_training_scale(tmp_path):
    config = VOC_LIKE.replace(input_scale=0.5)
    model = build_model("largefov", 6, tiny=True, seed=3)
    path = tmp_path / "old.npz"
    _save_format_1(path, model, config)
    with np.load(path) as f:
        assert int(f["format"]) == 1 and "build_args" not in f.files
    loaded = checkpoint.load_checkpoint(path)
    assert "model" not in loaded.config                  # upgraded: it moved to build_args
    assert loaded.build_args["preprocessing"] == from_scratch(0.5).to_json()
    model_back = checkpoint.load_model(loaded, device="cpu")
    assert model_back.preprocessing == from_scratch(0.5)
    image = _image(1)
    _, probs = predict(model_back, image)
    np.testing.assert_allclose(probs, _probs_by_hand(model, image, 0.5), rtol=1e-4, atol=1e-6)
    # a new save of the same model is format 2, records the preprocessing, reloads identically
    trainer = Trainer(config, device="cpu", model=model_back, progress=False)
    trainer.save(tmp_path / "new.npz")
    with np.load(tmp_path / "new.npz") as f:
        assert int(f["format"]) == checkpoint.FORMAT_VERSION == 2
        assert checkpoint.array_to_json(f["build_args"])["preprocessing"] \
            == from_scratch(0.5).to_json()
    again = checkpoint.load_model(tmp_path / "new.npz", device="cpu")
    np.testing.assert_array_equal(predict(again, image)[1], probs)


def test_format_1_with_preprocessing_keeps_it_and_a_format_2_file_must_have_it(tmp_path):
    model = build_model("largefov", 6, tiny=True, seed=3, preprocessing=TORCHVISION)
    _save_format_1(tmp_path / "v1.npz", model, VOC_LIKE, with_preprocessing=True)
    assert checkpoint.load_model(tmp_path / "v1.npz").preprocessing == TORCHVISION
    # format 1 without the preprocessing nor a usable input_scale: refused, not guessed
    _save_format_1(tmp_path / "v1bad.npz", model, VOC_LIKE)
    entries = dict(np.load(tmp_path / "v1bad.npz"))
    config = checkpoint.array_to_json(entries["config"])
    del config["train"]
    entries["config"] = checkpoint.json_to_array(config)
    with open(tmp_path / "v1bad.npz", "wb") as f:
        np.savez(f, **entries)
    with pytest.raises(checkpoint.CheckpointError, match="format 1.*neither its model's "
                                                         "preprocessing nor the input_scale"):
        checkpoint.load_checkpoint(tmp_path / "v1bad.npz")
    # format 2 has no "older version" rule: build arguments without preprocessing are refused
    args = {k: v for k, v in model.build_args.items() if k != "preprocessing"}
    checkpoint.save_checkpoint(tmp_path / "v2.npz", model, build_args=args)
    with pytest.raises(checkpoint.CheckpointError, match=r"format 2\): entry 'build_args' "
                                                         "does not record"):
        checkpoint.load_checkpoint(tmp_path / "v2.npz")


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
    recorded = checkpoint.load_checkpoint(ckpt_path).build_args["preprocessing"]
    assert recorded == from_scratch(1.0).to_json()
    capsys.readouterr()
    for command in (["evaluate", str(ckpt_path)], ["predict", str(ckpt_path), "im.png", "--out",
                                                   "l.png"]):
        with pytest.raises(SystemExit):
            cli_main(command + ["--input-scale", "1"])
        assert "unrecognized arguments: --input-scale" in capsys.readouterr().err
