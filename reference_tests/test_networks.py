"""The shipped networks by name, and files of another kind named for what they are.

* ``python -m minideeplab networks`` lists every shipped network with the val mIoU its file
  records; ``predict``, ``evaluate`` and ``crf`` take a name where they take a file, and give
  what the library gives for that file; ``minideeplab.paper.shipped`` does the same in Python.
* A valid file of another kind (an image, an array, a PyTorch or foreign safetensors file,
  text) is refused with a message that says what it is and what was expected, never
  "corrupt"; a damaged checkpoint still says that it is damaged.

Oracles: the files are made by their own libraries (Pillow, NumPy, safetensors, PyTorch's
fixtures), the shipped folders are found from the variants' configuration keys, and the numbers
come from the committed tables and from the network files' own metadata.
"""
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open
from safetensors.numpy import save_file

from minideeplab import checkpoint as ckpt
from minideeplab.cli import main
from minideeplab.crf import dense_crf
from minideeplab.data import SyntheticShapes
from minideeplab.errors import CheckpointError
from minideeplab.inference import predict
from minideeplab.io import file_kind
from minideeplab.paper import shipped, variants

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "reference_tests" / "fixtures"


def _file(name):
    """The shipped network's file, found from its variant's configuration key."""
    folder = variants.run_folder(name, variants.variant_config(name))
    return os.path.join(shipped.shipped_folder(folder), shipped.NETWORK_FILE)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """A synthetic val image (97x97) saved as PNG, and the array."""
    path = tmp_path_factory.mktemp("img") / "shape.png"
    array, _ = SyntheticShapes("val", 1, size=97)[0]
    Image.fromarray(array).save(path)
    return path, array


# ---------------------------------------------------------------------------- by name
def test_names_resolve_to_the_shipped_files_and_files_to_themselves(tmp_path):
    assert shipped.names() == list(shipped.SHIPPED)
    for name in shipped.SHIPPED:
        assert os.path.samefile(shipped.resolve(name), _file(name))
    path = _file("largefov")
    assert shipped.resolve(path) == path
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(path, run / "checkpoint.npz")           # a training run's folder
    assert shipped.resolve(run) == str(run / "checkpoint.npz")
    with pytest.raises(CheckpointError, match=r"network 'aspp-x': no shipped network has that "
                                               r"name and no such file exists \(the shipped "
                                               r"networks are aspp-l, aspp-l-step, largefov, "
                                               r"aspp-s"):
        shipped.resolve("aspp-x")
    with pytest.raises(CheckpointError, match=r"network '.*none.npz' does not exist"):
        shipped.resolve(tmp_path / "none.npz")


def test_load_by_name_is_the_network_of_the_file(image):
    _, array = image
    by_name = shipped.load("aspp-s")
    by_file = ckpt.load_model(_file("aspp-s"))
    np.testing.assert_array_equal(predict(by_name, array)[1], predict(by_file, array)[1])


def test_networks_lists_each_with_the_val_miou_its_file_records(capsys):
    assert main(["networks"]) == 0
    out = capsys.readouterr().out
    for name in shipped.SHIPPED:
        with safe_open(_file(name), framework="np") as f:
            last = json.loads(f.metadata()["val"])[-1]["mean_iou"]
        block = out[out.index(f"\n{name} "):]
        assert f"val mIoU {last:.4f}" in block.split("\n\n")[0], block[:400]
        assert os.path.relpath(_file(name)) in block.split("\n\n")[0]
    assert "predict aspp-l IMAGE" in out


def test_evaluate_by_name_prints_the_miou_of_the_committed_table(capsys):
    """Table 2 (figures/table2.txt) prints ASPP-L poly's val mIoU in %, made from this file."""
    table = (ROOT / "figures" / "table2.txt").read_text()
    printed = float(re.search(r"^\s*poly\s+\d+\s+\d+\s+([\d.]+)", table, re.M).group(1))
    assert main(["evaluate", "aspp-l", "--no-progress"]) == 0
    out = capsys.readouterr().out
    miou = float(re.search(r"mean IOU ([\d.]+)", out).group(1))
    assert 100 * miou == pytest.approx(printed, abs=0.0051)


def test_predict_and_crf_take_a_name(image, tmp_path, capsys):
    path, array = image
    labels = tmp_path / "l.png"
    assert main(["predict", "aspp-l", str(path), "--out", str(labels)]) == 0
    assert "aspp-l (a shipped network)" in capsys.readouterr().out
    expected, probs = predict(ckpt.load_model(_file("aspp-l")), array)
    with Image.open(labels) as im:
        np.testing.assert_array_equal(np.asarray(im), expected)
    refined = tmp_path / "r.png"
    assert main(["crf", str(path), "aspp-l", "--out", str(refined)]) == 0
    with Image.open(refined) as im:
        np.testing.assert_array_equal(np.asarray(im), dense_crf(array, probs).argmax(0))


def test_an_unknown_name_is_one_line_naming_the_shipped_ones(image, tmp_path, capsys):
    path, _ = image
    assert main(["predict", "aspp-xl", str(path), "--out", str(tmp_path / "l.png")]) == 2
    err = capsys.readouterr().err
    assert "network 'aspp-xl': no shipped network has that name and no such file" in err
    assert "python -m minideeplab networks lists them" in err and "Traceback" not in err


# ---------------------------------------------------------------------------- other kinds
@pytest.fixture(scope="module")
def other_kinds(tmp_path_factory):
    """name -> (path, kind, what the message must say): files of other kinds, made by their
    own libraries."""
    tmp = tmp_path_factory.mktemp("kinds")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp / "image.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp / "photo.jpg")
    np.save(tmp / "probs.npy", np.zeros((2, 3, 3), np.float32))
    np.savez(tmp / "arrays.npz", probs=np.zeros(3), labels=np.zeros(3))
    save_file({"backbone.conv1.weight": np.zeros((2, 2), np.float32)}, tmp / "tv.safetensors")
    shutil.copy(FIXTURES / "tiny_zip.pth", tmp / "weights.pth")
    shutil.copy(FIXTURES / "tiny_legacy.pth", tmp / "legacy.pth")
    (tmp / "notes.txt").write_text("a list of runs\n")
    (tmp / "empty.npz").write_bytes(b"")
    return {
        "image.png": ("image", "is a PNG image"),
        "photo.jpg": ("image", "is a JPEG image"),
        "probs.npy": ("npy", "is a NumPy array (.npy)"),
        "arrays.npz": ("npz", "is an .npz archive of 2 array(s)"),
        "tv.safetensors": ("safetensors", "is a safetensors file of 1 tensor(s) without "
                                          "minideeplab's metadata (e.g. 'backbone.conv1.weight')"),
        "weights.pth": ("pytorch", "is a PyTorch file (torch.save's zip format)"),
        "legacy.pth": ("pickle", "is a Python pickle"),
        "notes.txt": ("text", "is a text file"),
        "empty.npz": ("empty", "is an empty file"),
    }, tmp


def test_file_kind_names_each_kind(other_kinds):
    kinds, tmp = other_kinds
    for name, (kind, says) in kinds.items():
        got = file_kind(tmp / name)
        assert got[0] == kind and ("is " + got[1]).startswith(says), (name, got)
    with safe_open(_file("aspp-l"), framework="np") as f:
        count = len(f.keys())
    assert file_kind(_file("aspp-l")) == (
        "safetensors", f"a safetensors file of {count} tensor(s), format "
                       f"{ckpt.NETWORK_FORMAT!r}")


def test_a_file_of_another_kind_says_what_it_is_and_what_was_expected(other_kinds, image,
                                                                      tmp_path, capsys):
    kinds, tmp = other_kinds
    torchvision_like = {"tv.safetensors", "weights.pth", "legacy.pth"}
    for name, (_, says) in kinds.items():
        with pytest.raises(CheckpointError) as caught:
            ckpt.load_model(tmp / name)
        message = str(caught.value)
        assert f"{name}' {says}" in message and "expected a network file" in message, message
        assert "corrupt" not in message and "truncated" not in message, message
        assert ("--torchvision FILE" in message) is (name in torchvision_like), message
        rc = main(["predict", str(tmp / name), str(image[0]), "--out", str(tmp_path / "o.png")])
        err = capsys.readouterr().err
        assert rc == 2 and says in err and "Traceback" not in err, err


def test_a_damaged_network_or_checkpoint_still_says_so(tmp_path):
    data = Path(_file("largefov")).read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.safetensors' cannot be read as safetensors"):
        ckpt.load_checkpoint(tmp_path / "cut.safetensors")
    ckpt.save_checkpoint(tmp_path / "c.npz", {"w": np.arange(1000.0)}, iteration=1)
    blob = (tmp_path / "c.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(blob[:len(blob) // 2])
    with pytest.raises(CheckpointError, match="cut.npz' is truncated or corrupt"):
        ckpt.load_checkpoint(tmp_path / "cut.npz")
