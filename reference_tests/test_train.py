"""The training loop: the loss falls, resume is bit-exact, divergence stops cleanly, the CLI works."""
import os

import numpy as np
import pytest

from minideeplab import backend, checkpoint
from minideeplab.cli import main as cli_main
from minideeplab.data import DataError, SyntheticShapes
from minideeplab.metrics import ConfusionMatrix
from minideeplab.inference import evaluate, predict
from minideeplab.preprocess import Preprocessing
from minideeplab.train import TrainConfig, Trainer, TrainingDiverged

# 33x33 images: a stride-8 map of 5x5, a tiny network, a few ms per step
SMALL = TrainConfig(model="aspp-l", tiny=True, image_size=33, crop_size=33, num_train=8,
                    num_val=4, batch_size=4, max_iter=6, base_lr=0.01, loss_at="stride8",
                    scale_range=(0.5, 1.5), preset="large")


def _weights(trainer):
    return {k: backend.asnumpy(v).copy() for k, v in trainer.model.state_dict().items()}


def test_loss_falls_on_a_few_images(device):
    config = SMALL.replace(max_iter=60, scale_range=None, mirror=False, num_train=4,
                           base_lr=0.02, model="largefov")
    trainer = Trainer(config, device=device, progress=False)
    history = trainer.run(log=None)
    losses = np.array(history["loss"])
    assert np.all(np.isfinite(losses))
    assert losses[-10:].mean() < 0.6 * losses[:5].mean(), losses


def test_resume_is_bit_exact(tmp_path, device):
    straight = Trainer(SMALL, device=device, progress=False)
    straight.run(log=None)

    first = Trainer(SMALL, out_dir=str(tmp_path), device=device, progress=False)
    first.run(until=3, log=None)
    first.save(str(tmp_path / "checkpoint.npz"))
    resumed = Trainer.resume(str(tmp_path / "checkpoint.npz"), device=device,
                             progress=False)
    assert resumed.iteration == 3
    resumed.run(log=None)
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), f"{k} differs after resume"
    assert straight.history["loss"] == resumed.history["loss"]
    # and the run really changed the weights (a resume that restored nothing would also
    # "match" if training did nothing)
    fresh = _weights(Trainer(SMALL, device=device, progress=False))
    assert any(not np.array_equal(fresh[k], a[k]) for k in a)


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(tmp_path, device):
    config = SMALL.replace(max_iter=10, checkpoint_every=2)
    trainer = Trainer(config, out_dir=str(tmp_path), device=device, progress=False)
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
                      progress=False)
    history = trainer.run(log=None)
    assert all(np.isfinite(history["loss"]))
    with pytest.raises(ValueError, match="loss_at must be 'stride8' or 'full'"):
        Trainer(SMALL.replace(loss_at="half"), device=device, progress=False).step()


class _ConstantModel:
    """A stand-in network: class ``c`` everywhere (scores at stride 8)."""

    preprocessing = Preprocessing()

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
                  progress=False)
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


def test_a_setting_added_later_keeps_older_configurations():
    """warmup_iter came after checkpoints were written: a saved configuration without it means
    no warm-up (not today's default), and at that value it stays out of the JSON, so the
    configuration's JSON (and cache key) is what it was."""
    from minideeplab.config import LATER_SETTINGS
    assert LATER_SETTINGS == {"warmup_iter": 0} and TrainConfig().warmup_iter > 0
    older = {k: v for k, v in SMALL.to_json().items() if k != "warmup_iter"}
    assert "warmup_iter" not in older
    config = TrainConfig.from_json(older)
    assert config.warmup_iter == 0
    assert config.to_json() == older                                  # the same JSON back
    warm = config.replace(warmup_iter=5)
    assert warm.to_json()["warmup_iter"] == 5 and TrainConfig.from_json(warm.to_json()) == warm
    with pytest.raises(ValueError, match="warmup_iter must be >= 0"):
        config.replace(warmup_iter=-1)


def test_the_caffe_recipe_is_the_papers_solver():
    """DeepLab v2, Sec. 4.1 and the Caffe release: batch 10, 20k iterations of "poly" (power
    0.9) from 1e-3, momentum 0.9, weight decay 5e-4, 321x321 crops rescaled by 0.5 .. 1.5, the
    loss against labels shrunk to stride 8, images in 0..255 units; no warm-up."""
    c = TrainConfig.recipe("caffe", model="largefov")
    assert (c.batch_size, c.max_iter, c.lr_policy, c.power, c.base_lr) == (10, 20000, "poly",
                                                                           0.9, 1e-3)
    assert (c.momentum, c.weight_decay, c.warmup_iter) == (0.9, 5e-4, 0)
    assert (c.crop_size, c.scale_range, c.loss_at, c.input_scale) == (321, (0.5, 1.5),
                                                                      "stride8", 1.0)
    assert c.model == "largefov" and TrainConfig.recipe("default") == TrainConfig()
    with pytest.raises(ValueError, match="unknown recipe 'adam'; choose one of"):
        TrainConfig.recipe("adam")


def test_command_line_recipes(tmp_path, capsys):
    """--recipe starts from a recipe and each flag changes one setting of it; a resumed run
    keeps its recipe (--recipe is refused with --resume)."""
    from minideeplab.cli import train as train_cli
    from minideeplab.cli import build_parser
    args = build_parser().parse_args(["train", "--recipe", "caffe", "--crop-size", "65"])
    config = train_cli.config_from_args(args)
    assert config == TrainConfig.recipe("caffe", crop_size=65)
    args = build_parser().parse_args(["train", "--lr", "0.02", "--warmup", "0"])
    assert train_cli.config_from_args(args) == TrainConfig(base_lr=0.02, warmup_iter=0)
    rc = cli_main(["train", "--resume", str(tmp_path / "c.npz"), "--recipe", "caffe"])
    assert rc == 2 and "--recipe cannot be changed" in capsys.readouterr().err


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


# ----------------------------------------------------------------------------- nothing lost
def _checkpointing(tmp_path, **changes):
    config = SMALL.replace(**{"max_iter": 6, "checkpoint_every": 1, **changes})
    return Trainer(config, out_dir=str(tmp_path), progress=False)


def _poison_after_update(trainer, at, target, value):
    """From iteration ``at`` on, the update writes ``value`` into one element of ``target``
    ("parameter" or "optimiser state"); returns that entry's name."""
    states = trainer.model.state_dict() if target == "parameter" else \
        trainer.optimizer.state_dict()
    name = sorted(states)[len(states) // 2]
    step = trainer.optimizer.step

    def poisoned(lr=None):
        step(lr)
        if trainer.iteration >= at:
            (trainer.model.state_dict() if target == "parameter" else
             trainer.optimizer.state_dict())[name].reshape(-1)[0] = value
    trainer.optimizer.step = poisoned
    return name


@pytest.mark.parametrize("target", ["parameter", "optimiser state"])
def test_non_finite_weights_stop_before_any_save(tmp_path, target):
    trainer = _checkpointing(tmp_path)
    name = _poison_after_update(trainer, 3, target, np.inf)
    path = str(tmp_path / "checkpoint.npz")
    with pytest.raises(TrainingDiverged, match=rf"{target} '{name}' became non-finite in the "
                                               rf"update of iteration 3 .*the last good "
                                               rf"checkpoint is '{path}' \(iteration 3\)"):
        trainer.run(log=None)
    saved = checkpoint.load_checkpoint(path)            # validates: every entry finite
    assert saved.iteration == 3


def test_finite_but_unusable_weights_are_not_saved(tmp_path):
    """Weights of 1e30 are finite but overflow the next layer: the eval-mode scores on the
    last batch are checked before a save, and the message does not claim a checkpoint that
    this run never wrote."""
    trainer = _checkpointing(tmp_path, checkpoint_every=2)
    step = trainer.optimizer.step

    def blow_up(lr=None):
        step(lr)
        if trainer.iteration == 1:            # the update of the second iteration
            for w in trainer.model.state_dict().values():
                w *= np.float32(1e30)
    trainer.optimizer.step = blow_up
    with pytest.raises(TrainingDiverged, match=r"weights after iteration 2 give non-finite "
                                               r"scores .* no checkpoint was written by this "
                                               r"run"):
        with np.errstate(all="ignore"):
            trainer.run(log=None)
    assert not os.path.exists(tmp_path / "checkpoint.npz")


def test_a_diverging_learning_rate_leaves_only_usable_checkpoints(tmp_path):
    """The user's case: a far too large learning rate, a checkpoint every iteration. The run
    stops, and whatever checkpoint it left is one predict can use (finite probabilities)."""
    trainer = _checkpointing(tmp_path, base_lr=1e3, max_iter=20)
    with pytest.raises(TrainingDiverged, match="training stopped|not saved") as e:
        with np.errstate(all="ignore"):
            trainer.run(log=None)
    path = tmp_path / "checkpoint.npz"
    if trainer.last_checkpoint is None:
        assert "no checkpoint was written by this run" in str(e.value)
        assert not path.exists()
    else:
        assert f"(iteration {trainer.last_checkpoint[1]})" in str(e.value)
        model = checkpoint.load_model(str(path))
        image, _ = SyntheticShapes("val", 1, size=33)[0]
        _, probs = predict(model, image)
        assert np.isfinite(probs).all()


def test_divergence_without_out_dir_says_nothing_was_saved():
    trainer = Trainer(SMALL, progress=False)
    _poison_after_update(trainer, 1, "parameter", np.nan)
    with pytest.raises(TrainingDiverged, match="nothing was saved"):
        trainer.run(log=None)


class _Flaky:
    """A file-backed dataset (no load_arrays) whose reads fail while ``broken`` is set."""

    def __init__(self, dataset):
        self.dataset, self.broken = dataset, False
        self.num_classes = dataset.num_classes

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        if self.broken:
            raise DataError(f"read_image: cannot read image 'img{i}.jpg': the file is corrupt",
                            f"img{i}.jpg")
        return self.dataset[i]


def test_a_corrupt_file_mid_run_saves_the_finished_iterations(tmp_path):
    """Nothing is lost: the run stops at the damaged file with a checkpoint of every finished
    iteration and the data generator rewound, so after the file is fixed the resumed run ends
    with the weights of an uninterrupted one."""
    config = SMALL.replace(max_iter=6)
    straight = Trainer(config, train_set=_Flaky(SyntheticShapes("train", 8, size=33,
                                                                preset="large")),
                       progress=False)
    straight.run(log=None)

    flaky = _Flaky(SyntheticShapes("train", 8, size=33, preset="large"))
    trainer = Trainer(config, out_dir=str(tmp_path), train_set=flaky, progress=False)
    trainer.run(until=3, log=None)
    flaky.broken = True
    path = str(tmp_path / "checkpoint.npz")
    with pytest.raises(DataError, match=rf"img\d+.jpg'.*; training stopped before iteration "
                                        rf"4; the 3 finished iterations are saved in "
                                        rf"'{path}'") as e:
        trainer.run(log=None)
    assert e.value.path.startswith("img") and "\n" not in str(e.value)     # one line
    flaky.broken = False
    resumed = Trainer.resume(path, progress=False, train_set=flaky)
    assert resumed.iteration == 3
    resumed.run(log=None)
    a, b = _weights(straight), _weights(resumed)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_a_corrupt_val_file_saves_the_finished_iterations(tmp_path):
    flaky = _Flaky(SyntheticShapes("val", 2, size=33, preset="large"))
    trainer = Trainer(SMALL.replace(val_every=2), out_dir=str(tmp_path), val_set=flaky,
                      progress=False)
    trainer.run(until=3, log=None)
    flaky.broken = True
    path = str(tmp_path / "checkpoint.npz")
    with pytest.raises(DataError, match=rf"; training stopped while validating after iteration "
                                        rf"4; the 4 finished iterations are saved in '{path}'"):
        trainer.run(log=None)
    assert checkpoint.load_checkpoint(path).iteration == 4
    with pytest.raises(DataError, match="the 3 finished iterations are not saved"):
        no_out = Trainer(SMALL.replace(val_every=3), val_set=flaky, progress=False)
        no_out.run(log=None)


def test_trainer_checks_out_dir_before_any_work(tmp_path, monkeypatch):
    from minideeplab.fileio import OutputPathError
    (tmp_path / "file").write_text("x")
    monkeypatch.setattr(Trainer, "step", lambda self: pytest.fail("trained"))
    with pytest.raises(OutputPathError, match="out_dir: .*file' exists and is not a folder"):
        Trainer(SMALL, out_dir=str(tmp_path / "file"), progress=False).run()


def _rewrite_config(src, dst, edit, key="config"):
    entries = dict(np.load(src))
    if key in ("config", "build_args"):
        config = checkpoint.array_to_json(entries[key])
        edit(config)
        entries[key] = checkpoint.json_to_array(config)
    else:
        entries[key] = edit
    with open(dst, "wb") as f:
        np.savez(f, **entries)
    return str(dst)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["train"].update(batch_size="ten"), "batch_size must be an integer, got 'ten'"),
    (lambda c: c["train"].update(batch_size=0), "batch_size must be >= 1, got 0"),
    (lambda c: c["train"].update(crop_size=-3), "crop_size must be >= 1, got -3"),
    (lambda c: c["train"].update(base_lr=None), "base_lr must be a finite real number, got None"),
    (lambda c: c["train"].update(base_lr=float("nan")), "base_lr must be a finite real number"),
    (lambda c: c["train"].update(max_iter=2), "entry 'iteration' is 3, beyond max_iter 2"),
    (lambda c: c["train"].update(inc=1), r"unknown settings \['inc'\]"),
    (lambda c: c.update(train=[1, 2]), "the settings must be a mapping, got list"),
    (lambda c: c.update(history={"loss": 1}), "'history' is not a training history"),
    (lambda c: c.update(elapsed="long"), "'elapsed' must be a number >= 0, got 'long'"),
])
def test_resume_validates_the_saved_settings(tmp_path, edit, message):
    trainer = Trainer(SMALL, out_dir=str(tmp_path), progress=False)
    trainer.run(until=3, log=None)
    trainer.save(str(tmp_path / "checkpoint.npz"))
    Trainer.resume(str(tmp_path / "checkpoint.npz"), progress=False)     # the control
    bad = _rewrite_config(tmp_path / "checkpoint.npz", tmp_path / "bad.npz", edit)
    with pytest.raises(checkpoint.CheckpointError, match=r"bad.npz'.*" + message):
        Trainer.resume(bad, progress=False)


def test_load_model_validates_the_build_arguments(tmp_path):
    trainer = Trainer(SMALL.replace(max_iter=1), out_dir=str(tmp_path), progress=False)
    trainer.run(log=None)
    src = tmp_path / "checkpoint.npz"
    for edit, message in [
            (lambda a: a.update(device="gpu"), "'build_args' must be a mapping"),
            (lambda a: a.pop("preprocessing"), "does not record the model's preprocessing"),
            (lambda a: a.update(name="resnet", schedule="paper", num_classes="21"),
             "build arguments do not build a model"),
            (lambda a: a.update(fc6_kernel="big"), "build arguments do not build a model"),
            (lambda a: a.update(num_classes=3), "model entry 'head")]:
        bad = _rewrite_config(src, tmp_path / "bad.npz", edit, key="build_args")
        with pytest.raises(checkpoint.CheckpointError, match=r"bad.npz'.*" + message):
            checkpoint.load_model(bad)


def test_prediction_does_not_read_the_training_settings(tmp_path):
    """A model loads from its build arguments alone: broken or missing training settings stop
    a resume, not a prediction."""
    trainer = Trainer(SMALL.replace(max_iter=1), out_dir=str(tmp_path), progress=False)
    trainer.run(log=None)
    for edit in (lambda c: c.pop("train"), lambda c: c["train"].update(max_iter=0),
                 lambda c: c.update(history=3)):
        bad = _rewrite_config(tmp_path / "checkpoint.npz", tmp_path / "bad.npz", edit)
        model = checkpoint.load_model(bad)
        assert model.preprocessing == trainer.model.preprocessing
        with pytest.raises(checkpoint.CheckpointError, match="bad.npz'"):
            Trainer.resume(bad, progress=False)


class _CountingBar:
    """A progress callable's bar that records what the trainer asks of it."""

    def __init__(self, iterable, desc=None, total=None, **kwargs):
        self.iterable, self.desc, self.postfixes = iterable, desc, []

    def __iter__(self):
        return iter(self.iterable)

    def set_postfix(self, refresh=True, **values):
        self.postfixes.append((refresh, values))


def test_run_shows_each_step_once_and_logs_each_validation_as_it_comes():
    bars, logged = [], []

    def progress(iterable, **kwargs):
        bars.append(_CountingBar(iterable, **kwargs))
        return bars[-1]

    config = SMALL.replace(max_iter=4, val_every=2)
    history = Trainer(config, progress=progress).run(log=logged.append)
    (bar,) = bars
    assert bar.desc == f"train {config.model}" and len(bar.postfixes) == 4
    assert all(refresh is False and set(v) == {"loss", "lr"} for refresh, v in bar.postfixes)
    assert [v["iteration"] for v in history["val"]] == [2, 4]
    assert [line.split(":")[0] for line in logged] == ["iteration 2", "iteration 4"]
    # each line: the mean training loss of the iterations since the last validation
    for line, (first, last) in zip(logged, ((1, 2), (3, 4))):
        mean = np.mean(history["loss"][first - 1:last])
        assert f"loss {mean:.4f} (mean of iterations {first}-{last})" in line, line
    for line, v in zip(logged, history["val"]):
        assert f"val mIoU {v['mean_iou']:.4f}" in line, line
    logged.clear()
    Trainer(config, progress=False).run(log=logged.append)
    assert [line.split(":")[0] for line in logged] == ["iteration 2", "iteration 4"]


def test_the_bar_of_a_resumed_run_counts_the_runs_iterations(tmp_path):
    """Resumed at 3 of 6, the bar starts at 3/6 and ends at 6/6 (not 0/3 .. 3/3); the
    validation lines are written above it, not through it."""
    import functools
    import io
    import re

    import tqdm
    config = SMALL.replace(max_iter=6, val_every=3)
    Trainer(config, out_dir=str(tmp_path), progress=False).run(until=3, log=None)
    screen, logged = io.StringIO(), []
    bar = functools.partial(tqdm.tqdm, file=screen, mininterval=0, ascii=True)
    resumed = Trainer.resume(str(tmp_path / "checkpoint.npz"), progress=bar)
    resumed.run(log=lambda line: (logged.append(line), screen.write(line + "\n")))
    counts = re.findall(r"(\d+)/(\d+) \[", screen.getvalue())
    assert counts[0] == ("3", "6") and counts[-1] == ("6", "6"), counts
    assert logged and logged[0].startswith("iteration 6:") and "iterations 4-6" in logged[0]


def test_a_full_disk_is_refused_at_the_start_and_reported_mid_run(tmp_path, monkeypatch):
    import collections
    import errno
    import shutil

    from minideeplab.fileio import OutputPathError
    usage = collections.namedtuple("usage", "total used free")
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10 ** 6, 10 ** 6 - 5000, 5000))
    with pytest.raises(OutputPathError, match=r"has 0.0 MB free; the checkpoints of this run "
                                              r"take \d+.\d MB"):
        Trainer(SMALL, out_dir=str(tmp_path), progress=False)
    monkeypatch.setattr(shutil, "disk_usage", real)

    trainer = _checkpointing(tmp_path)
    trainer.run(until=2, log=None)
    path = str(tmp_path / "checkpoint.npz")
    before = open(path, "rb").read()
    savez = np.savez

    def disk_full(f, **arrays):
        savez(f, **arrays)
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OSError, match=r"cannot write the checkpoint of iteration 3 \(No space "
                                      rf"left on device\); the last good checkpoint is '{path}' "
                                      r"\(iteration 2\)") as e:
        trainer.run(log=None)
    assert e.value.filename == path and open(path, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz", "history.json"]
