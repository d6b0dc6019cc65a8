"""The inputs of the robustness sweep (benchmarks/sweep_robustness.py): a checkpoint, an image
and probabilities, and crafted files that lie about their sizes: images claiming 121 Mpx and
more, .npy/.npz headers and zip directories that claim gigabytes (or less than their deflated
stream holds), .safetensors with broken headers, .pth pickles with shared references, deep
nesting, cycles, absurd counts, stride-0 views, zip bombs and code. Every crafted file is at
most 10 MB (checked); a test of the readers builds the same kind of file beside it
(reference_tests/test_pth_budgets.py, test_file_budgets.py).
"""
import os
import pickle
import struct
import sys
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MiB = 2 ** 20


def _png_claiming(path, width, height):
    """A valid 4x4 grey PNG whose IHDR then claims ``width`` x ``height`` (CRC fixed)."""
    from PIL import Image
    Image.new("L", (4, 4)).save(path)
    data = bytearray(path.read_bytes())
    i = data.index(b"IHDR")
    data[i + 4:i + 12] = struct.pack(">II", width, height)
    data[i + 17:i + 21] = struct.pack(">I", zlib.crc32(bytes(data[i:i + 17])))
    path.write_bytes(bytes(data))


def _npy_header(dtype, shape):
    import io

    import numpy as np
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": np.lib.format.dtype_to_descr(
        np.dtype(dtype)), "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def _deflated_zeros(z, name, head, nbytes, chunk=64 * MiB):
    """Member ``name`` of zip ``z``: ``head`` then ``nbytes`` zero bytes, deflated (streamed)."""
    zero = bytes(chunk)
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with z.open(info, "w", force_zip64=True) as f:
        f.write(head)
        left = nbytes
        while left:
            f.write(zero[:min(left, chunk)])
            left -= min(left, chunk)


def _claim_size(path, member, size):
    """Rewrite ``member``'s uncompressed size in the local header and the central directory of
    zip ``path`` to ``size`` (a directory that lies about a deflate stream's length)."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    for sig, field in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := data.find(sig, start)) >= 0:
            name_at = start + (30 if sig == b"PK\x03\x04" else 46)
            if data[name_at:name_at + len(name)] == name:
                data[start + field:start + field + 4] = struct.pack("<I", size)
            start += 4
    path.write_bytes(bytes(data))


def make_files(d):
    """Write every input the cases name into folder ``d`` (a Path)."""
    import numpy as np
    from PIL import Image

    sys.path.insert(0, str(ROOT / "reference_tests"))
    from helpers import cli_files
    from pth_crafting import legacy_bytes, op_str, state_pickle, write_zip

    from minideeplab import checkpoint as ckpt
    from minideeplab.io import save_safetensors
    from minideeplab.models import build_model
    cli_files(d)                                    # checkpoint.npz, image.png, probs.npy (6)
    rng = np.random.default_rng(0)
    image = np.asarray(Image.open(d / "image.png"))
    H, W = image.shape[:2]
    np.save(d / "scores.npy", rng.uniform(0, 30, (6, H, W)).astype(np.float32))
    np.save(d / "nan.npy", np.full((6, H, W), np.nan, np.float32))
    (d / "empty.npy").write_bytes(b"")
    (d / "lying.npy").write_bytes(_npy_header("float32", (10 ** 10,)) + bytes(16))
    os.link(d / "image.png", d / "image_link.png")
    os.symlink(d / "image.png", d / "image_symlink.npy")
    os.symlink(d / "probs.npy", d / "probs_symlink.npy")
    (d / "sub").mkdir()
    (d / "history").mkdir()
    (d / "history" / "history.json").write_text('{"iterations": [1, 2, 3]}\n')
    # a 500x375 photo and its probabilities: the first dense_crf of a fresh process
    from minideeplab.data import sample_photo
    photo = sample_photo((500, 375))
    Image.fromarray(photo).save(d / "photo.png")
    logits = rng.standard_normal((21, 375, 500)).astype(np.float32)
    p = np.exp(logits - logits.max(0))
    np.save(d / "photo_probs.npy", (p / p.sum(0)).astype(np.float32))
    # images that claim more pixels than they hold
    for w, h in [(11000, 11000), (10000, 10000), (20000, 20000), (100000, 100000)]:
        _png_claiming(d / f"claims_{w}.png", w, h)
    Image.new("L", (11000, 11000)).save(d / "real_11000.png")          # ~120 KB, 121 Mpx
    (d / "truncated.png").write_bytes((d / "image.png").read_bytes()[:60])
    # checkpoints: 300 classes; build arguments claiming width=40 / 10**9 classes
    ckpt.save_checkpoint(d / "c300.npz", build_model("largefov", 300, tiny=True), iteration=1)
    entries = dict(np.load(d / "checkpoint.npz"))
    for name, change in [("width40", dict(width=40)), ("classes1e9", dict(num_classes=10 ** 9))]:
        args = ckpt.array_to_json(entries["build_args"])
        args.update(change)
        np.savez(d / f"ckpt_{name}.npz", **{**entries, "build_args": ckpt.json_to_array(args)})
    # checkpoints to resume whose training settings claim absurd sizes (each in its folder)
    for name, change in [("batch", dict(batch_size=10 ** 9)), ("crop", dict(crop_size=10 ** 6)),
                         ("images", dict(num_train=10 ** 9)), ("iter", dict(max_iter=10 ** 30)),
                         ("lr", dict(base_lr=float("nan")))]:
        config = ckpt.array_to_json(entries["config"])
        config["train"].update(change)
        (d / f"resume_{name}").mkdir()
        np.savez(d / f"resume_{name}" / "checkpoint.npz",
                 **{**entries, "config": ckpt.json_to_array(config)})
    # .npz: a 1.2 GiB bomb in about 1.2 MB, a lying member header, too many arrays
    with zipfile.ZipFile(d / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as z:
        _deflated_zeros(z, "w.npy", _npy_header("float32", (300 * 2 ** 20 + 2 ** 18,)),
                        (300 * 2 ** 20 + 2 ** 18) * 4)
    with zipfile.ZipFile(d / "lying.npz", "w") as z:
        z.writestr("w.npy", _npy_header("float32", (10 ** 10,)) + bytes(16))
    # .safetensors: empty, a header length beyond the file, offsets beyond the data, not JSON
    save_safetensors(d / "good.safetensors", {"w": np.zeros(4, np.float32)})
    good = (d / "good.safetensors").read_bytes()
    n = struct.unpack("<Q", good[:8])[0]
    (d / "st_empty.safetensors").write_bytes(b"")
    (d / "st_length.safetensors").write_bytes(struct.pack("<Q", 2 ** 62) + good[8:])
    (d / "st_offsets.safetensors").write_bytes(
        good[:8] + good[8:8 + n].replace(b"[0,16]", b"[0,99]") + good[8 + n:])
    (d / "st_json.safetensors").write_bytes(struct.pack("<Q", 8) + b"{not json" + bytes(8))
    # .pth: billion laughs, deep nesting, a cycle, sizes, stride 0, a zip bomb, code
    nest = []
    for _ in range(9):
        nest = [nest] * 10
    laughs = pickle.dumps({"x": nest}, protocol=2)
    write_zip(d / "laughs.pth", laughs, {})
    (d / "laughs_legacy.pth").write_bytes(legacy_bytes(laughs, {}))
    deep = b"\x80\x02}" + op_str("x") + b"]" * 5000 + b"a" * 4999 + b"s."
    write_zip(d / "deep.pth", deep, {})
    write_zip(d / "cycle.pth", b"\x80\x02}" + op_str("x") + b"]q\x00h\x00as.", {})
    w24 = np.arange(24, dtype=np.float32)
    for count in (2 ** 62, 2 ** 40, -5):
        p = state_pickle({"w": ("0", count, (24,), (1,))})
        (d / f"count_{count}.pth").write_bytes(legacy_bytes(p, {"0": w24}, counts={"0": count}))
    bytes8 = b"\x80\x02}" + op_str("x") + b"\x8e" + (2 ** 62).to_bytes(8, "little") + b"abc"
    write_zip(d / "bytes8.pth", bytes8 + b"s.", {})
    write_zip(d / "ext1.pth", b"\x80\x02}" + op_str("x") + b"\x82\x01s.", {})
    write_zip(d / "negative.pth", state_pickle({"w": ("0", 24, (-24,), (1,))}), {"0": w24})
    write_zip(d / "stride0.pth", state_pickle({"w": ("0", 1, (20000, 20000), (0, 0))}),
              {"0": np.ones(1, np.float32)})
    write_zip(d / "overlap.pth", state_pickle({f"v{i}": ("0", 2 ** 20, (2 ** 20,), (1,))
                                               for i in range(3)}),
              {"0": np.zeros(2 ** 20, np.float32)})
    numel = 3 * 2 ** 28 + 2 ** 26                   # 3.25 GiB of float32 zeros, deflated
    with zipfile.ZipFile(d / "zipbomb.pth", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", state_pickle({"w": ("0", numel, (numel,), (1,))}))
        z.writestr("archive/byteorder", "little")
        _deflated_zeros(z, "archive/data/0", b"", numel * 4)
        z.writestr("archive/version", "3\n")
    # the same bomb whose directory claims the true 96 bytes of a 24-element storage
    with zipfile.ZipFile(d / "zipliar.pth", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", state_pickle({"w": ("0", 24, (24,), (1,))}))
        z.writestr("archive/byteorder", "little")
        _deflated_zeros(z, "archive/data/0", b"", 2 ** 30)
        z.writestr("archive/version", "3\n")
    _claim_size(d / "zipliar.pth", "archive/data/0", 96)
    with zipfile.ZipFile(d / "zipliar.npz", "w", zipfile.ZIP_DEFLATED) as z:
        _deflated_zeros(z, "w.npy", _npy_header("float32", (24,)), 2 ** 30)
    _claim_size(d / "zipliar.npz", "w.npy", 128 + 96)
    code = (b"\x80\x02cos\nsystem\n" + op_str("touch " + str(d / "pwned")) + b"\x85R.")
    write_zip(d / "code.pth", code, {})
    (d / "code_legacy.pth").write_bytes(legacy_bytes(code, {}))
    (d / "not_a_pth.pth").write_bytes(b"hello, world\n" * 10)
    os.mkfifo(d / "fifo")
    for path in d.iterdir():
        if path.is_file() and not path.name.startswith("photo"):     # (valid 500x375 input)
            assert path.stat().st_size <= 10 * MiB, path    # small files only
    return d
