"""The trained networks shipped with the book (minideeplab/paper/networks/).

* Each one, evaluated now on its val images, gives the mIoU that the committed tables in
  figures/ print (the tables were made from these networks by ``reproduce``).
* Training is deterministic: the first iterations of each shipped network's configuration,
  trained here from scratch twice, give the same losses bit for bit, and the losses the
  shipped network's own training logged (to float32 rounding: another machine's BLAS may sum
  in another order). So ``reproduce --retrain`` retraces the shipped runs.
* Export and load are exact, ``trained`` prefers the shipped file, ``retraining`` does not,
  and the loader refuses broken files with a message naming the file and the entry.
"""
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from minideeplab.checkpoint import CheckpointError, load_checkpoint, load_model
from minideeplab.config import TrainConfig
from minideeplab.data import SyntheticShapes, make_datasets
from minideeplab.metrics import ConfusionMatrix
from minideeplab.paper import ship, shipped, variants
from minideeplab.train import Trainer

FIGURES = Path(__file__).resolve().parents[1] / "figures"


def _printed(table, row, column):
    """The number printed in figures/``table`` at row ``row`` (first cell) and ``column``."""
    lines = (FIGURES / table).read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if set(line.replace(" ", "")) == {"-"}) - 1
    starts = [m.start() for m in re.finditer(r"-+", lines[header + 1])]
    ends = [m.end() for m in re.finditer(r"-+", lines[header + 1])]
    names = [lines[header][s:e].strip() for s, e in zip(starts, ends)]
    for line in lines[header + 2:]:
        cells = [line[s:e].strip() for s, e in zip(starts, ends)]
        if cells[0] == row:
            return float(cells[names.index(column)])
    raise AssertionError(f"no row {row!r} in {table}")


def _val_miou(run):
    images, labels = variants.val_arrays(run.config)
    probs = variants.val_probabilities(run, images)
    return 100 * ConfusionMatrix(probs.shape[1]).update(probs.argmax(axis=1), labels).mean_iou()


@pytest.mark.parametrize("name,table,row,column", [
    ("aspp-l", "table2.txt", "poly", "mIoU %"),
    ("aspp-l-step", "table2.txt", "step", "mIoU %"),
    ("largefov", "table3.txt", "largefov", "mIoU % before CRF"),
    ("aspp-s", "table3.txt", "aspp-s", "mIoU % before CRF"),
    ("aspp-l", "table3.txt", "aspp-l", "mIoU % before CRF"),
])
def test_each_shipped_network_gives_the_miou_its_table_prints(name, table, row, column):
    run = variants.trained(name, progress=False)
    assert os.path.dirname(run.path).startswith(shipped.shipped_dir()), run.path
    assert _val_miou(run) == pytest.approx(_printed(table, row, column), abs=0.0051)


def test_every_default_network_is_shipped():
    for name in shipped.SHIPPED:
        folder = variants.run_folder(name, variants.variant_config(name))
        path = os.path.join(shipped.shipped_folder(folder), shipped.NETWORK_FILE)
        assert os.path.exists(path), (f"{name}: no shipped network for today's configuration "
                                      "(run `python -m minideeplab ship --retrain`)")


class _OnDemand:
    """A dataset read image by image (no ``load_arrays``): the first iterations draw 30 of the
    1000 training images, and only those are generated."""

    def __init__(self, dataset):
        self.dataset, self.num_classes = dataset, dataset.num_classes

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        return self.dataset[index]


@pytest.fixture(scope="module")
def shipped_data():
    """The default variants' training data (every shipped network was trained on the same),
    and one val image: validation draws no random numbers, so it does not change what the
    first iterations compute."""
    config = variants.variant_config(shipped.SHIPPED[0])
    train, _ = make_datasets(config)
    val = SyntheticShapes("val", 1, size=config.image_size, seed=config.seed)
    return config, _OnDemand(train), val


def _first_steps(name, shipped_data, steps=3):
    config, train, val = shipped_data
    trainer = Trainer(variants.variant_config(name), train_set=train, val_set=val,
                      progress=False)
    for field in ("dataset", "image_size", "num_train", "seed", "preset"):
        assert getattr(trainer.config, field) == getattr(config, field), field
    trainer.run(until=steps, log=None)
    return trainer


@pytest.mark.parametrize("name", shipped.SHIPPED)
def test_the_variants_keep_the_configuration_that_trained_the_shipped_networks(name):
    """Each shipped network records the configuration that trained it: the variant's today is
    that configuration setting by setting, and its key is the shipped folder's (TrainConfig's
    defaults, tuned for a first run, and settings added since then do not change them)."""
    from safetensors import safe_open
    folders = {f.rsplit("-", 1)[0]: f for f in os.listdir(shipped.shipped_dir())}
    with safe_open(os.path.join(shipped.shipped_dir(), folders[name], shipped.NETWORK_FILE),
                   framework="np") as f:
        recorded = json.loads(f.metadata()["config"])["train"]
    config = variants.variant_config(name)
    assert config.to_json() == recorded
    assert TrainConfig.from_json(recorded) == config
    assert f"{name}-{variants.config_key(config)}" == folders[name]


@pytest.mark.parametrize("name", shipped.SHIPPED)
def test_training_retraces_the_shipped_run(name, shipped_data):
    config = variants.variant_config(name)
    network = os.path.join(shipped.shipped_folder(variants.run_folder(name, config)),
                           shipped.NETWORK_FILE)
    logged = load_file(network)["history/loss"]
    trainer = _first_steps(name, shipped_data)
    np.testing.assert_allclose(trainer.history["loss"], logged[:3], rtol=2e-5)


def test_training_is_deterministic(shipped_data):
    a, b = (_first_steps("largefov", shipped_data) for _ in range(2))
    assert a.history["loss"] == b.history["loss"]
    for k, v in a.model.state_dict().items():
        assert np.array_equal(v, b.model.state_dict()[k]), k


# ------------------------------------------------------------------- export, load, precedence
@pytest.fixture(scope="module")
def quick_run():
    return variants.trained("aspp-l", quick=True, progress=False)


def test_export_then_load_gives_the_same_network(quick_run, tmp_path):
    written = shipped.export_checkpoint(quick_run.path, tmp_path)
    assert os.path.basename(written[0]) == shipped.NETWORK_FILE
    loaded = load_checkpoint(written[0])                 # the library's one reader
    model, config, history = (load_model(loaded), TrainConfig.from_checkpoint(loaded),
                              loaded.config["history"])
    assert config == quick_run.config
    assert not loaded.optim_state and loaded.build_args == quick_run.model.build_args
    reference = load_checkpoint(quick_run.path)
    for k, v in model.state_dict().items():
        assert np.array_equal(v, reference.model_state[k]), k
    assert history == reference.config["history"]


def test_trained_prefers_the_shipped_network_and_retraining_does_not(quick_run, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setattr(shipped, "shipped_dir", lambda: str(tmp_path))
    folder = variants.run_folder("aspp-l", quick_run.config)
    shipped.export_checkpoint(quick_run.path, shipped.shipped_folder(folder))
    got = variants.trained("aspp-l", quick=True, progress=False)
    assert got.path == os.path.join(shipped.shipped_folder(folder), shipped.NETWORK_FILE)
    assert variants.trained("aspp-l", quick=True, use_shipped=False).path == quick_run.path
    with variants.retraining():
        first = variants.trained("aspp-l", quick=True, progress=False)
        again = variants.trained("aspp-l", quick=True, progress=False)
    assert first.path == again.path == quick_run.path
    assert first.model is not again.model           # the second one was loaded, not trained
    for k, v in first.model.state_dict().items():   # retrained: the same, bit for bit
        assert np.array_equal(v, got.model.state_dict()[k]), k


def test_compare_with_cache_reports_a_difference(quick_run, tmp_path, monkeypatch):
    monkeypatch.setattr(shipped, "shipped_dir", lambda: str(tmp_path))
    monkeypatch.setattr(ship, "variant_config",
                        lambda name, quick=False, seed=0: quick_run.config)
    target = shipped.shipped_folder(variants.run_folder("aspp-l", quick_run.config))
    path = shipped.export_checkpoint(quick_run.path, target)[0]
    assert ship.compare_with_cache(("aspp-l",)) == [("aspp-l", True, "")]
    _rewrite(path, lambda t, m: t.__setitem__(
        "model/head.branch0.fc8.bias", t["model/head.branch0.fc8.bias"] + np.float32(0.5)))
    [(name, same, detail)] = ship.compare_with_cache(("aspp-l",))
    assert not same and "largest weight difference 0.5" in detail


def _rewrite(path, change):
    """Load a network file, let ``change(tensors, metadata)`` edit it, write it back."""
    from safetensors import safe_open
    with safe_open(path, framework="np") as f:
        metadata = dict(f.metadata())
    tensors = load_file(path)
    change(tensors, metadata)
    save_file(tensors, path, metadata=metadata)


@pytest.mark.parametrize("breakage,message", [
    (lambda t, m: m.__setitem__("format", "other-1"), r"has format 'other-1'"),
    (lambda t, m: m.__setitem__("config", "{not json"), r"metadata 'config' is not JSON"),
    (lambda t, m: m.pop("val"), r"no 'val' in its metadata"),
    (lambda t, m: t.__setitem__("model/head.branch0.fc8.bias",
                                np.full(6, np.nan, np.float32)),
     r"entry 'model/head.branch0.fc8.bias' holds 6 non-finite value"),
    (lambda t, m: t.__setitem__("extra", np.zeros(2, np.float32)), r"unknown entry 'extra'"),
    (lambda t, m: t.pop("history/loss"), r"no history/loss entry"),
    (lambda t, m: t.pop("model/head.branch0.fc8.bias"), r"head.branch0.fc8.bias"),
    (lambda t, m: m.__setitem__("config", json.dumps({"model": {"name": "nope"},
                                                      "train": {}})),
     r"records neither its model's preprocessing nor the input_scale"),
])
def test_the_loader_refuses_broken_files(quick_run, tmp_path, breakage, message):
    path = shipped.export_checkpoint(quick_run.path, tmp_path)[0]
    _rewrite(path, breakage)
    with pytest.raises(CheckpointError, match=message) as e:
        load_model(path)
    assert path in str(e.value)


@pytest.mark.parametrize("content,message", [
    (b"\x80\x04 a pickle, not a safetensors file",
     r"is a Python pickle .*not a minideeplab network"),
    (b"\x07\x00\x00\x00\x00\x00\x00\x00garbage, a damaged header", r"cannot be read as safetensors"),
])
def test_the_loader_refuses_a_file_that_is_not_safetensors(tmp_path, content, message):
    """A file of another kind is named for what it is; a damaged one says it cannot be read."""
    path = tmp_path / "network.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_model(path)


def test_the_command_line_reads_a_shipped_network_file(tmp_path, capsys):
    """predict and evaluate take a shipped network.safetensors as they take a checkpoint (the
    one reader): the labels are those of the library's predict with load_model."""
    from PIL import Image

    from minideeplab.cli import main
    from minideeplab.data import SyntheticShapes
    from minideeplab.inference import predict
    folder = variants.run_folder("largefov", variants.variant_config("largefov"))
    path = os.path.join(shipped.shipped_folder(folder), shipped.NETWORK_FILE)
    image, _ = SyntheticShapes("val", 1, size=33, seed=5)[0]
    Image.fromarray(image).save(tmp_path / "image.png")
    assert main(["predict", path, str(tmp_path / "image.png"), "--out",
                 str(tmp_path / "labels.png")]) == 0
    with Image.open(tmp_path / "labels.png") as im:
        written = np.asarray(im)
    np.testing.assert_array_equal(written, predict(load_model(path), image)[0])
    assert main(["evaluate", path, "--num-val", "2"]) == 0
    assert "2 images" in capsys.readouterr().out
