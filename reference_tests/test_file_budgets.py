"""The array and image readers' budgets (minideeplab.budgets): a small file whose headers claim
gigabytes is refused from the headers, before anything is decompressed, allocated or decoded.

Oracles: the sizes written into the crafted headers; Pillow's and NumPy's own readers for the
files within the budgets.
"""
import os
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from minideeplab import budgets
from minideeplab.errors import BudgetExceededError, DataError
from minideeplab.io import (read_image, read_label_png, read_npy, read_npz, read_safetensors,
                            save_npz, save_safetensors)


def _png_claiming(path, width, height, mode="L"):
    """A valid 4x4 PNG whose IHDR then claims ``width`` x ``height`` (CRC fixed): Pillow's open
    reads the claim; only decoding would find the data missing."""
    Image.new(mode, (4, 4)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr:ihdr + 17])))
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("width, height", [(11000, 11000), (9000, 8000), (20000, 20000)])
@pytest.mark.parametrize("reader", [read_image, read_label_png])
def test_images_beyond_the_pixel_budget_are_refused_before_decoding(tmp_path, reader, width,
                                                                    height):
    """Above MAX_IMAGE_PIXELS (8192 x 8192): refused from the header, with no Pillow warning
    on the way (11000 x 11000 is past Pillow's warning, 20000 x 20000 past its error)."""
    path = _png_claiming(tmp_path / "bomb.png", width, height)
    assert struct.unpack(">II", path.read_bytes()[16:24]) == (width, height)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(BudgetExceededError, match=rf"{reader.__name__}: .*bomb.png.* "
                                                      r"(more than the 67 Mpx|Mpx\), more than)"):
            reader(path)


def test_the_pixel_budget_is_the_limit(tmp_path, monkeypatch):
    image = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "small.png")
    monkeypatch.setattr(budgets, "MAX_IMAGE_PIXELS", 48)
    np.testing.assert_array_equal(read_image(tmp_path / "small.png"), image)
    monkeypatch.setattr(budgets, "MAX_IMAGE_PIXELS", 47)
    with pytest.raises(BudgetExceededError, match=r"is 8 x 6 pixels"):
        read_image(tmp_path / "small.png")


def _npy_claiming(array, shape):
    """The .npy bytes of ``array``'s data under a header that claims ``shape``."""
    import io
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": np.lib.format.dtype_to_descr(
        array.dtype), "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue() + array.tobytes()


@pytest.mark.parametrize("shape", [(10 ** 10,), (2 ** 31, 2 ** 31), (3,)])
def test_npy_headers_must_match_the_data(tmp_path, shape):
    """A 4-element array whose header claims 10**10 elements (NumPy allocated 37 GiB first)."""
    path = tmp_path / "lying.npy"
    path.write_bytes(_npy_claiming(np.zeros(4, np.float32), shape))
    with pytest.raises(DataError, match=r"read_npy: .*lying.npy.*header \(shape .*claims "
                                        r"\d+ bytes but the file holds 16"):
        read_npy(path)
    (tmp_path / "true.npy").write_bytes(_npy_claiming(np.zeros(4, np.float32), (4,)))
    np.testing.assert_array_equal(read_npy(tmp_path / "true.npy"), np.zeros(4))


def test_npz_members_are_checked_before_decompressing(tmp_path, monkeypatch):
    arrays = {"w": np.zeros(2 ** 18, np.float32), "b": np.arange(3.0)}        # 1 MiB of zeros
    save_npz(tmp_path / "plain.npz", arrays)
    np.savez_compressed(tmp_path / "bomb.npz", **arrays)
    assert (tmp_path / "bomb.npz").stat().st_size < 10_000
    monkeypatch.setattr(budgets, "MAX_EXTRA_BYTES", 0)
    got = read_npz(tmp_path / "plain.npz")
    np.testing.assert_array_equal(got["b"], arrays["b"])
    with pytest.raises(BudgetExceededError, match=r"read_npz: .*bomb.npz' claims \d+ bytes once "
                                                  "decompressed, more than twice"):
        read_npz(tmp_path / "bomb.npz")


def test_npz_member_headers_must_match_their_members(tmp_path):
    import zipfile
    with zipfile.ZipFile(tmp_path / "lying.npz", "w") as z:
        z.writestr("w.npy", _npy_claiming(np.zeros(4, np.float32), (10 ** 10,)))
    with pytest.raises(DataError, match=r"read_npz: .*lying.npz:w.npy.*claims 40000000000 bytes"):
        read_npz(tmp_path / "lying.npz")


def test_weight_files_have_at_most_max_objects_tensors(tmp_path, monkeypatch):
    arrays = {f"t{i}": np.zeros(2, np.float32) for i in range(5)}
    save_safetensors(tmp_path / "w.safetensors", arrays)
    save_npz(tmp_path / "w.npz", arrays)
    monkeypatch.setattr(budgets, "MAX_OBJECTS", 5)
    assert set(read_safetensors(tmp_path / "w.safetensors")[1]) == set(arrays)
    assert set(read_npz(tmp_path / "w.npz")) == set(arrays)
    monkeypatch.setattr(budgets, "MAX_OBJECTS", 4)
    with pytest.raises(BudgetExceededError, match="holds 5 tensors, more than 4"):
        read_safetensors(tmp_path / "w.safetensors")
    with pytest.raises(BudgetExceededError, match="holds 5 arrays, more than 4"):
        read_npz(tmp_path / "w.npz")


@pytest.mark.parametrize("change, entry", [(dict(width=40), "is float32"),
                                           (dict(num_classes=10 ** 9), "is float32"),
                                           (dict(num_classes=10 ** 30), "build a model")])
def test_a_checkpoint_whose_build_arguments_disagree_with_its_weights(tmp_path, monkeypatch,
                                                                      change, entry):
    """A checkpoint whose build arguments claim width=40 (or 10**9 classes) over small weights
    built the whole network (6.9 GiB) before the weights were compared: now the shapes are
    compared on a copy that allocates nothing, and the file is refused by name."""
    from minideeplab import checkpoint as ckpt
    from minideeplab.errors import CheckpointError
    from minideeplab.models import build_model
    from minideeplab.nn import init
    model = build_model("largefov", 3, tiny=True)
    good = tmp_path / "good.npz"
    ckpt.save_checkpoint(good, model, iteration=1)
    entries = dict(np.load(good))
    args = ckpt.array_to_json(entries["build_args"])
    args.update(change)
    entries["build_args"] = ckpt.json_to_array(args)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **entries)
    assert ckpt.load_model(good) is not None
    monkeypatch.setattr(init, "_check_size", lambda *a: pytest.fail("allocated a parameter"))
    with pytest.raises(CheckpointError, match=rf"checkpoint '{bad}'.*{entry}"):
        ckpt.load_model(bad)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_inputs_that_are_not_regular_files_are_refused_without_reading(tmp_path, capsys):
    """A FIFO as an input made every command wait forever for a writer (and /dev/zero never
    ends): inputs must be regular files, checked before they are opened."""
    from minideeplab.cli import main
    from minideeplab.errors import FileFormatError
    from minideeplab.pth import load_pth
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for reader in (read_image, read_label_png, read_npy, read_npz, read_safetensors, load_pth):
        with pytest.raises(FileFormatError, match="is not a regular file"):
            reader(fifo)
    for argv in (["crf", str(fifo), str(fifo), "--out", str(tmp_path / "o.png")],
                 ["predict", str(fifo), str(fifo), "--out", str(tmp_path / "o.png")],
                 ["predict", "--torchvision", str(fifo), str(fifo), "--out",
                  str(tmp_path / "o.png")]):
        assert main(argv) == 2
        assert "is not a regular file" in capsys.readouterr().err


def test_a_checkpoint_whose_training_settings_claim_a_batch_beyond_memory(tmp_path):
    """Resuming a checkpoint whose settings say batch_size=10**9 grew to 16 GiB at the first
    step: the settings are refused when read, naming the file."""
    from minideeplab import checkpoint as ckpt
    from minideeplab.errors import CheckpointError
    from minideeplab.train import TrainConfig, Trainer
    trainer = Trainer(TrainConfig(model="largefov", image_size=17, crop_size=17, num_train=2,
                                  num_val=2, batch_size=2, max_iter=1, loss_at="stride8"),
                      progress=False)
    good = tmp_path / "good.npz"
    trainer.save(str(good))
    entries = dict(np.load(good))
    config = ckpt.array_to_json(entries["config"])
    config["train"]["batch_size"] = 10 ** 9
    bad = tmp_path / "bad.npz"
    np.savez(bad, **{**entries, "config": ckpt.json_to_array(config)})
    assert Trainer.resume(str(good), progress=False).iteration == 0
    with pytest.raises(CheckpointError, match=rf"checkpoint '{bad}': config entry 'train' is "
                                              r"invalid: TrainConfig: batch_size=1000000000"):
        Trainer.resume(str(bad), progress=False)
