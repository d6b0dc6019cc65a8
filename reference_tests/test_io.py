"""minideeplab.io: every format read in one place, refusing what it cannot read with an error of
the family that names the file (Pillow, NumPy and safetensors as the outside readers)."""
import pickle

import numpy as np
import pytest
from PIL import Image

from minideeplab import io
from minideeplab.errors import CheckpointError, DataError, FileFormatError, MissingFileError


def test_save_rgb_writes_what_pillow_reads_back(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    for name in ("a.png", "a.bmp", "a.tiff"):                # lossless formats: exact
        io.save_rgb(tmp_path / name, image)
        with Image.open(tmp_path / name) as im:
            assert im.format == io.IMAGE_FORMATS["." + name.split(".")[1]]
            np.testing.assert_array_equal(np.asarray(im.convert("RGB")), image)
        np.testing.assert_array_equal(io.read_image(tmp_path / name), image)
    with pytest.raises(ValueError, match="has extension '.txt'"):
        io.save_rgb(tmp_path / "a.txt", image)
    with pytest.raises(TypeError, match=r"\(H, W, 3\) uint8"):
        io.save_rgb(tmp_path / "b.png", image.astype(np.float32))


def test_npy_round_trip_and_refusals(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    io.save_npy(tmp_path / "a.npy", a)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), a)       # NumPy reads ours
    np.testing.assert_array_equal(io.read_npy(tmp_path / "a.npy"), a)
    np.savez(tmp_path / "z.npz", a=a)
    np.save(tmp_path / "o.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "cut.npy").write_bytes((tmp_path / "a.npy").read_bytes()[:90])
    for name, message in [("missing.npy", "does not exist"), ("z.npz", "is an .npz archive"),
                          ("o.npy", "pickled Python objects"), ("empty.npy", "empty.npy"),
                          ("cut.npy", "cut.npy"), ("", "is a folder")]:
        with pytest.raises(DataError, match=message) as e:
            io.read_npy(tmp_path / name, "probs")
        assert "probs" in str(e.value)


def test_npz_round_trip_and_the_callers_error(tmp_path):
    arrays = {"w": np.ones((2, 3), np.float32), "i": np.array(7, np.int64)}
    io.save_npz(tmp_path / "c.npz", arrays)
    with np.load(tmp_path / "c.npz") as f:                               # NumPy reads ours
        assert sorted(f.files) == ["i", "w"] and int(f["i"]) == 7
    back = io.read_npz(tmp_path / "c.npz")
    assert back["w"].shape == (2, 3) and back["i"].dtype == np.int64
    with open(tmp_path / "p.npz", "wb") as f:
        pickle.dump(arrays, f)
    with pytest.raises(CheckpointError, match="checkpoint .*p.npz' is truncated or corrupt: "
                                              "it is a pickle"):
        io.read_npz(tmp_path / "p.npz", what="checkpoint", error=CheckpointError)
    with pytest.raises(DataError, match="does not exist"):
        io.read_npz(tmp_path / "none.npz")
    with pytest.raises(TypeError, match="only numeric arrays"):
        io.save_npz(tmp_path / "s.npz", {"s": np.array(["text"])})
    assert not (tmp_path / "s.npz").exists()


def test_safetensors_round_trip_and_refusals(tmp_path):
    from safetensors.numpy import load_file
    tensors = {"a": np.ones((2, 2), np.float32), "n": np.zeros((), np.int64)}
    io.save_safetensors(tmp_path / "t.safetensors", tensors, {"format": "x"})
    back = load_file(str(tmp_path / "t.safetensors"))                  # safetensors reads ours
    assert back["n"].shape == () and back["a"].dtype == np.float32
    metadata, tensors_back = io.read_safetensors(tmp_path / "t.safetensors")
    assert metadata == {"format": "x"} and sorted(tensors_back) == ["a", "n"]
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(FileFormatError, match="bad.safetensors' cannot be read as safetensors"):
        io.read_safetensors(tmp_path / "bad.safetensors", what="weights")
    with pytest.raises(MissingFileError, match="no such file"):
        io.read_weights(tmp_path / "none.pth")


@pytest.mark.parametrize("damage", ["empty", "header length beyond the file",
                                    "offsets beyond the data", "header not JSON"])
def test_damaged_safetensors_are_file_errors_naming_the_file(tmp_path, damage):
    """safetensors' own SafetensorError escaped (a traceback from predict --torchvision)."""
    import struct
    io.save_safetensors(tmp_path / "good.safetensors", {"w": np.zeros(4, np.float32)})
    good = (tmp_path / "good.safetensors").read_bytes()
    n = struct.unpack("<Q", good[:8])[0]
    assert b"[0,16]" in good[8:8 + n]                     # the offsets of w's 16 bytes
    data = {"empty": b"", "header length beyond the file": struct.pack("<Q", 2 ** 40) + good[8:],
            "offsets beyond the data": good[:8] + good[8:8 + n].replace(b"[0,16]", b"[0,99]")
            + good[8 + n:],
            "header not JSON": struct.pack("<Q", n) + b"x" * n + good[8 + n:]}[damage]
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(data)
    for read in (io.read_safetensors, io.read_weights):
        with pytest.raises(FileFormatError, match=r"bad.safetensors' cannot be read as "
                                                  r"safetensors \(.+\)"):
            read(bad)


def test_output_checks_refuse_lossy_label_maps(tmp_path):
    with pytest.raises(ValueError, match="JPEG is lossy"):
        io.check_label_png_output(str(tmp_path / "l.jpg"))
    assert io.check_label_png_output(str(tmp_path / "l.png")) == str(tmp_path / "l.png")
    with pytest.raises(ValueError, match="expected .npy"):
        io.check_npy_output(str(tmp_path / "p.npz"), "--probs")
