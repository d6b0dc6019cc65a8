"""The command line with torchvision weights: predict, evaluate, reproduce on random weights.

CI has no trained weights, so the files here hold a randomly initialised DeepLabV3-ResNet50
with few classes (written by ``save_torchvision``). Oracle: the library calls the commands are
made of (``load_torchvision``, ``inference.predict``, ``dense_crf``, ``ConfusionMatrix``); the
label PNGs must hold exactly their labels.
"""
import dataclasses

import numpy as np
import pytest
from PIL import Image

from minideeplab.cli import main
from minideeplab.crf import dense_crf
from minideeplab.inference import predict
from minideeplab.metrics import ConfusionMatrix
from minideeplab.models import build_torchvision, load_torchvision, save_torchvision
from minideeplab.crf import CRF_SETTINGS

SHORTER = 40        # the tests' images are resized to this shorter side (the weights: 520)


def _model(path, shorter=SHORTER):
    model = load_torchvision(path)
    model.preprocessing = dataclasses.replace(model.preprocessing, resize_shorter=shorter)
    return model


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tv")
    model = build_torchvision("deeplabv3_resnet50", 4, seed=3)
    rng = np.random.default_rng(3)
    for _, m in model.named_modules():                   # BN statistics that mean something
        if "running_mean" in m.buffers:
            C = m.buffers["running_mean"].shape[0]
            m.buffers["running_mean"][...] = 0.1 * rng.standard_normal(C)
            m.buffers["running_var"][...] = rng.uniform(0.5, 1.5, C)
    model.head.classifier.params["weight"] *= 0.003       # soft probabilities: the CRF acts
    save_torchvision(model, tmp / "w.safetensors")
    image = rng.integers(0, 256, (30, 44, 3), dtype=np.uint8)
    image[:, 20:] //= 3                                   # two regions
    Image.fromarray(image).save(tmp / "photo.png")
    return tmp, image


@pytest.mark.parametrize("crf", [False, True])
def test_predict_with_torchvision_weights(weights, crf, capsys):
    tmp, image = weights
    out, probs_path = tmp / f"l{crf}.png", tmp / f"p{crf}.npy"
    rc = main(["predict", "--torchvision", str(tmp / "w.safetensors"), str(tmp / "photo.png"),
               "--out", str(out), "--probs", str(probs_path), "--overlay", str(tmp / "o.png"),
               "--shorter-side", str(SHORTER)] + (["--crf"] if crf else []))
    assert rc == 0, capsys.readouterr().err
    labels, probs = predict(_model(tmp / "w.safetensors"), image)
    assert probs.shape == (4, 30, 44)
    np.testing.assert_allclose(np.load(probs_path), probs, rtol=1e-5, atol=1e-6)
    if crf:
        refined = dense_crf(image, probs.astype(np.float32), **CRF_SETTINGS["resnet"]).argmax(0)
        assert (refined != labels).mean() > 0.005          # the CRF changed some labels
        labels = refined
    with Image.open(out) as im:
        np.testing.assert_array_equal(np.asarray(im), labels)
    assert "deeplabv3_resnet50" in capsys.readouterr().out


def test_predict_needs_exactly_one_source(weights, capsys):
    tmp, _ = weights
    rc = main(["predict", str(tmp / "w.safetensors"), str(tmp / "photo.png"), "--torchvision",
               str(tmp / "w.safetensors"), "--out", str(tmp / "x.png")])
    assert rc == 2 and "either a NETWORK (a shipped network's name or a file) or " \
                       "--torchvision" in capsys.readouterr().err
    rc = main(["predict", str(tmp / "photo.png"), "--out", str(tmp / "x.png")])
    assert rc == 2 and "either a NETWORK (a shipped network's name or a file) or " \
                       "--torchvision" in capsys.readouterr().err
    assert not (tmp / "x.png").exists()


def test_predict_refuses_a_malicious_pth(weights, tmp_path, capsys):
    import pickle
    import os

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {tmp_path / 'ran'}",)
    (tmp_path / "evil.pth").write_bytes(
        b"".join(pickle.dumps(o, protocol=2) for o in
                 (0x1950a86a20f9469cfc6c, 1001, {}, {"w": Evil()}, [])))
    rc = main(["predict", "--torchvision", str(tmp_path / "evil.pth"),
               str(weights[0] / "photo.png"), "--out", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert rc == 2 and "refers to the global posix.system" in err
    assert not (tmp_path / "ran").exists()


@pytest.fixture
def voc(tmp_path):
    root = tmp_path / "VOCdevkit" / "VOC2012"
    for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / d).mkdir(parents=True)
    rng = np.random.default_rng(1)
    ids, data = ["2007_000001", "2007_000002"], []
    for k, i in enumerate(ids):
        image = rng.integers(0, 256, (24 + 4 * k, 32, 3), dtype=np.uint8)
        label = rng.integers(0, 4, image.shape[:2]).astype(np.uint8)
        label[0] = 255
        Image.fromarray(image).save(root / "JPEGImages" / f"{i}.jpg", quality=95)
        im = Image.fromarray(label, mode="L").convert("P")
        im.putpalette([v for c in range(256) for v in (c, c, c)])
        im.save(root / "SegmentationClass" / f"{i}.png")
        data.append(i)
    (root / "ImageSets/Segmentation/val.txt").write_text("\n".join(ids) + "\n")
    (root / "ImageSets/Segmentation/train.txt").write_text("\n".join(ids) + "\n")
    return root


@pytest.mark.parametrize("crf", [False, True])
def test_evaluate_with_torchvision_weights(weights, voc, crf, capsys):
    from minideeplab.data import VOCSegmentation
    tmp, _ = weights
    rc = main(["evaluate", "--torchvision", str(tmp / "w.safetensors"), "--dataset", "voc",
               str(voc), "--shorter-side", str(SHORTER)]
              + (["--crf"] if crf else []))
    out = capsys.readouterr().out
    assert rc == 0
    model, cm = _model(tmp / "w.safetensors"), ConfusionMatrix(21)
    for image, label in VOCSegmentation(voc, "val"):
        labels, probs = predict(model, image)
        if crf:
            labels = dense_crf(image, probs.astype(np.float32), **CRF_SETTINGS["resnet"]).argmax(0)
        cm.update(labels, label)
    assert f"mean IOU {cm.mean_iou():.4f}" in out


def test_reproduce_real_photos_skipped_without_weights(capsys, tmp_path):
    rc = main(["reproduce", "--only", "real_photos", "fig10_real", "--out", str(tmp_path),
               "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "real_photos" in out and "skipped: needs --torchvision FILE" in out
    assert "skipped: needs --torchvision FILE and --voc PATH" in out
    assert "DeepLabV3_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1" in out
    assert "DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1" in out
    assert not list(tmp_path.glob("*_real.png"))


def test_reproduce_real_photos_with_weights(weights, voc, capsys, tmp_path):
    tmp, out = weights[0], tmp_path / "figures"
    rc = main(["reproduce", "--only", "real_photos", "fig10_real", "--quick", "--torchvision",
               str(tmp / "w.safetensors"), "--voc", str(voc), "--out", str(out),
               "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    names = sorted(p.name for p in out.iterdir())
    assert names == ["README.md", "fig10_trimap_real.png", "fig10_trimap_real.txt",
                     "fig5_meanfield_real.png", "fig6_crf_before_after_real.png"]
    assert "mIoU" in (out / "fig10_trimap_real.txt").read_text()


def test_reproduce_real_photos_on_the_sample_photo(weights, capsys, tmp_path):
    rc = main(["reproduce", "--only", "real_photos", "fig10_real", "--quick", "--torchvision",
               str(weights[0] / "w.safetensors"), "--out", str(tmp_path), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "README.md", "fig5_meanfield_real.png", "fig6_crf_before_after_real.png"]
    assert "fig10_real" in capsys.readouterr().out.split("skipped: needs --voc PATH")[0]
