"""The training loop: the loss falls, resume is bit-exact, divergence stops cleanly, the CLI works."""
import os

import numpy as np
import pytest

from minideeplab import backend, checkpoint
from minideeplab.cli import main as cli_main
from minideeplab.data import SyntheticShapes
from minideeplab.metrics import ConfusionMatrix
from minideeplab.train import TrainConfig, Trainer, TrainingDiverged, evaluate

# 33x33 images: a stride-8 map of 5x5, a tiny network, a few ms per step
SMALL = TrainConfig(model="aspp-l", tiny=True, image_size=33, crop_size=33, num_train=8,
                    num_val=4, batch_size=4, max_iter=6, base_lr=0.01, loss_at="stride8",
                    scale_range=(0.5, 1.5), preset="large")


def _weights(trainer):
    return {k: backend.asnumpy(v).copy() for k, v in trainer.model.state_dict().items()}


def test_loss_falls_on_a_few_images(device):
    config = SMALL.replace(max_iter=60, scale_range=None, mirror=False, num_train=4,
                           base_lr=0.02, model="largefov")
    trainer = Trainer(config, device=device, show_progress=False)
    history = trainer.run(log=None)
    losses = np.array(history["loss"])
    assert np.all(np.isfinite(losses))
    assert losses[-10:].mean() < 0.6 * losses[:5].mean(), losses


def test_resume_is_bit_exact(tmp_path, device):
    straight = Trainer(SMALL, device=device, show_progress=False)
    straight.run(log=None)

    first = Trainer(SMALL, out_dir=str(tmp_path), device=device, show_progress=False)
    first.run(until=3, log=None)
    first.save(str(tmp_path / "checkpoint.npz"))
    resumed = Trainer.resume(str(tmp_path / "checkpoint.npz"), device=device,
                             show_progress=False)
    assert resumed.iteration == 3
    resumed.run(log=None)
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), f"{k} differs after resume"
    assert straight.history["loss"] == resumed.history["loss"]
    # and the run really changed the weights (a resume that restored nothing would also
    # "match" if training did nothing)
    fresh = _weights(Trainer(SMALL, device=device, show_progress=False))
    assert any(not np.array_equal(fresh[k], a[k]) for k in a)


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(tmp_path, device):
    config = SMALL.replace(max_iter=10, checkpoint_every=2)
    trainer = Trainer(config, out_dir=str(tmp_path), device=device, show_progress=False)
    path = tmp_path / "checkpoint.npz"
    forward = trainer.model.forward

    def poisoned(x):
        y = forward(x)
        return y * np.nan if trainer.iteration == 5 else y

    trainer.model.forward = poisoned
    with pytest.raises(TrainingDiverged, match=r"loss became nan at iteration 5 .*untouched"):
        trainer.run(log=None)
    saved = checkpoint.load_checkpoint(str(path))
    assert saved.iteration == 4
    assert all(np.all(np.isfinite(v)) for v in saved.model_state.values())
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_resume_from_a_corrupt_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip file")
    with pytest.raises(checkpoint.CheckpointError, match="checkpoint.npz"):
        Trainer.resume(str(path))
    assert path.read_bytes() == b"PK\x03\x04 not really a zip file"


def test_full_resolution_loss_trains(device):
    trainer = Trainer(SMALL.replace(loss_at="full", max_iter=2), device=device,
                      show_progress=False)
    history = trainer.run(log=None)
    assert all(np.isfinite(history["loss"]))
    with pytest.raises(ValueError, match="loss_at must be 'stride8' or 'full'"):
        Trainer(SMALL.replace(loss_at="half"), device=device, show_progress=False).step()


class _ConstantModel:
    """A stand-in network: class ``c`` everywhere (scores at stride 8)."""

    def __init__(self, c, L):
        self.c, self.L = c, L

    def eval(self):
        return self

    def __call__(self, x):
        xp = backend.get_array_module(x)
        N, _, H, W = x.shape
        s = xp.zeros((N, self.L, (H - 1) // 8 + 1, (W - 1) // 8 + 1), dtype=x.dtype)
        s[:, self.c] = 1
        return s


def test_evaluate_accumulates_one_matrix_over_the_set(device):
    val = SyntheticShapes("val", 7, size=33)
    cm = evaluate(_ConstantModel(2, val.num_classes), val, device=device, batch_size=3,
                  show_progress=False)
    images, labels = val.load_arrays()
    expected = ConfusionMatrix(val.num_classes).update(np.full_like(labels, 2), labels)
    np.testing.assert_array_equal(cm.matrix, expected.matrix)


def test_bad_configs():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        Trainer(SMALL.replace(dataset="imagenet"))
    with pytest.raises(ValueError, match="needs data_root"):
        Trainer(SMALL.replace(dataset="voc"))
    with pytest.raises(ValueError, match="unknown settings"):
        TrainConfig.from_json({"model": "aspp-l", "learning_rate": 1})


def test_command_line_train_evaluate_predict(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli_main(["train", "--model", "largefov", "--image-size", "33", "--crop-size", "33",
                     "--num-train", "6", "--num-val", "3", "--batch-size", "2", "--max-iter",
                     "3", "--out", str(out)]) == 0
    assert (out / "checkpoint.npz").exists() and (out / "history.json").exists()
    assert cli_main(["evaluate", str(out / "checkpoint.npz"), "--num-val", "3"]) == 0
    assert "mean IOU" in capsys.readouterr().out
    from PIL import Image
    image, _ = SyntheticShapes("val", 1, size=33)[0]
    Image.fromarray(image).save(tmp_path / "im.png")
    assert cli_main(["predict", str(out / "checkpoint.npz"), str(tmp_path / "im.png"), "--out",
                     str(tmp_path / "labels.png"), "--probs", str(tmp_path / "p.npy")]) == 0
    probs = np.load(tmp_path / "p.npy", allow_pickle=False)
    assert probs.shape == (6, 33, 33)
    np.testing.assert_allclose(probs.sum(axis=0), 1, atol=1e-5)
    labels = np.asarray(Image.open(tmp_path / "labels.png"))
    np.testing.assert_array_equal(labels, probs.argmax(axis=0))
    assert cli_main(["train", "--dataset", "voc"]) == 2
    assert "--dataset must be 'synthetic' or 'voc PATH'" in capsys.readouterr().err
