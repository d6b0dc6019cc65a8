"""torchvision's DeepLabV3 in minideeplab: golden outputs, the safe .pth reader, the export.

Oracle: torchvision 0.29.1 itself. ``fixtures/make_torchvision_fixtures.py`` built its
DeepLabV3-ResNet50/101, set every parameter and BN statistic from
:func:`torchvision_state.make_state` (a seed and the stored names and shapes), and stored the
inputs and torchvision's outputs; here the same state is regenerated and loaded into
minideeplab's network. The ``.pth`` fixtures were written by ``torch.save`` in both formats.
"""
import dataclasses
import os
import pickle
import zipfile

import numpy as np
import pytest

from minideeplab import backend, functional as F, nn
from minideeplab.models import build_model, load_torchvision, save_torchvision
from minideeplab.models.torchvision_deeplab import torchvision_names
from minideeplab.pth import UnsafePickleError, load_pth
from minideeplab.preprocess import TORCHVISION_SEGMENTATION, Preprocessing
from torchvision_state import make_state

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
GOLDEN = np.load(os.path.join(FIXTURES, "torchvision_deeplabv3.npz"))
CASES = sorted({k.split("/")[0] for k in GOLDEN.files if k.startswith("case")})


def _case(name):
    g = {k.split("/", 1)[1]: GOLDEN[k] for k in GOLDEN.files if k.startswith(name + "/")}
    names = bytes(g["names"]).decode().split("\n")
    dims, shapes, i = list(g["dims"]), [], 0
    for n in g["ndims"]:
        shapes.append(tuple(dims[i:i + n]))
        i += n
    state = make_state(list(zip(names, shapes)), int(g["seed"]))
    return g, state


def _rel_err(actual, expected):
    return float(np.abs(actual - expected).max() / np.abs(expected).max())


@pytest.mark.parametrize("case", CASES)
def test_network_equals_torchvision(case, device):
    g, state = _case(case)
    model = load_torchvision(state, device=device)
    assert model.torchvision_arch == str(g["arch"])
    assert not any(m.training for _, m in model.named_modules())
    x = backend.to_device(g["x"], device)
    logits = model(x)
    assert logits.dtype == np.float32 and logits.shape == g["logits"].shape
    assert _rel_err(backend.asnumpy(logits), g["logits"]) < 1e-4
    if "out" in g:                   # torchvision's final resize, align_corners=False
        out, _ = F.resize_bilinear(logits, g["x"].shape[2:], align_corners=False)
        assert _rel_err(backend.asnumpy(out), g["out"]) < 1e-4


def test_golden_test_can_fail():
    """The comparison sees a changed rule: Caffe's ceil pooling, or one swapped weight."""
    g, state = _case("case0")                   # 33x47: the stem's pool rounds differently
    model = load_torchvision(state)
    model.backbone.stem.pool.ceil_mode = True
    assert model(g["x"]).shape != g["logits"].shape
    bad = dict(state)
    bad["classifier.1.weight"] = bad["classifier.1.weight"][::-1].copy()
    assert _rel_err(load_torchvision(bad)(g["x"]), g["logits"]) > 1e-2


def test_arch_inference_and_aux_keys():
    g, state = _case("case0")
    assert any(k.startswith("aux_classifier.") for k in state)     # accepted, ignored
    model = load_torchvision(state, arch="deeplabv3_resnet50")
    assert model.head.classifier.params["weight"].shape[0] == int(g["num_classes"])
    assert model.preprocessing == TORCHVISION_SEGMENTATION                      # what its weights expect
    with pytest.raises(ValueError, match="deeplabv3_resnet101.*deeplabv3_resnet50"):
        load_torchvision(state, arch="deeplabv3_resnet101")
    with pytest.raises(ValueError, match=r"missing keys \['classifier.2.running_var'\]"):
        load_torchvision({k: v for k, v in state.items() if k != "classifier.2.running_var"})
    with pytest.raises(ValueError, match="unexpected keys.*backbone.fc.weight"):
        load_torchvision({**state, "backbone.fc.weight": np.zeros((3, 2048), np.float32)})
    wrong = {**state, "classifier.1.weight": np.zeros((256, 256, 1, 1), np.float32)}
    with pytest.raises(ValueError, match="head.head_conv.conv.weight.*classifier.1.weight"):
        load_torchvision(wrong)
    with pytest.raises(ValueError, match="layer3 has 2 blocks"):
        load_torchvision({k: v for k, v in state.items()
                          if not k.startswith("backbone.layer3.") or ".layer3.0." in k
                          or ".layer3.1." in k})


def test_save_torchvision_round_trip(tmp_path):
    g, state = _case("case0")
    model = load_torchvision(state)
    path = tmp_path / "model.safetensors"
    written = save_torchvision(model, path)
    expected = {k: v for k, v in state.items() if not k.startswith("aux_classifier.")}
    assert set(written) == set(expected)
    from safetensors.numpy import load_file
    back = load_file(str(path))
    assert set(back) == set(expected)
    for k, v in expected.items():
        assert back[k].shape == v.shape and back[k].dtype == v.dtype, k
        if k.endswith("num_batches_tracked"):
            assert back[k] == 0                               # not tracked (documented)
        else:
            np.testing.assert_array_equal(back[k], v, err_msg=k)
    again = load_torchvision(path)                            # and it loads back
    np.testing.assert_array_equal(again(g["x"]), model(g["x"]))


def test_save_torchvision_refuses_other_layouts(tmp_path):
    model = build_model("v3", 3, tiny=True)
    with pytest.raises(ValueError, match="save_torchvision: .*torchvision's DeepLabV3 layout"):
        save_torchvision(model, tmp_path / "x.safetensors")


def test_names_are_a_bijection():
    g, state = _case("case1")
    model = load_torchvision(state)
    names = torchvision_names(model)
    assert len(set(names.values())) == len(names)
    assert set(names.values()) == {k for k in state if not k.endswith("num_batches_tracked")}


def test_preprocessing_matches_torchvisions_transform():
    """torchvision's SemanticSegmentation transform (shorter side resized, normalised) on an
    image it enlarges and one it shrinks (antialiased); it rounds the resized image to uint8
    as Pillow does, so the two may differ by one grey level."""
    g = np.load(os.path.join(FIXTURES, "torchvision_preprocess.npz"))
    pre = dataclasses.replace(TORCHVISION_SEGMENTATION, resize_shorter=40)
    level = 1 / (255 * 0.224)
    for name in ("up", "down"):
        x = pre(g[f"{name}/image"][None])[0]
        assert x.shape == g[f"{name}/x"].shape
        assert np.abs(x - g[f"{name}/x"]).max() <= 1.01 * 1 / (255 * 0.225)
        assert np.abs(x - g[f"{name}/x"]).mean() < 0.25 * level
    assert Preprocessing.from_json(pre.to_json()) == pre
    plain = dataclasses.replace(pre, resize_shorter=None)        # the check can fail
    assert plain(g["down/image"][None]).shape[2:] == g["down/image"].shape[:2]
    with pytest.raises(ValueError, match="resize_shorter must be None or an int >= 1"):
        Preprocessing(resize_shorter=0)


# ----------------------------------------------------------------------------- .pth reader
@pytest.mark.parametrize("name", ["tiny_zip.pth", "tiny_legacy.pth"])
def test_load_pth_reads_both_torch_save_formats(name):
    expected = np.load(os.path.join(FIXTURES, "tiny_expected.npz"))
    got = load_pth(os.path.join(FIXTURES, name))
    assert list(got) == list(expected.files)                  # order kept
    for k in expected.files:
        assert got[k].dtype == expected[k].dtype and got[k].shape == expected[k].shape, k
        np.testing.assert_array_equal(got[k], expected[k], err_msg=k)
        assert got[k].flags.c_contiguous


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _legacy(*objects):
    return b"".join(pickle.dumps(o, protocol=2) for o in objects)


def _malicious_files(tmp_path, marker):
    evil = {"weight": _Evil(marker)}
    files = {"zip.pth": None, "legacy.pth": _legacy(0x1950a86a20f9469cfc6c, 1001, {}, evil, []),
             "legacy_header.pth": _legacy(_Evil(marker)),
             "eval.pth": pickle.dumps({"w": (eval, ("__import__('os')",))}, protocol=2)}
    with zipfile.ZipFile(tmp_path / "zip.pth", "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(evil, protocol=2))
        z.writestr("archive/version", "3\n")
    for name, data in files.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
    return [tmp_path / n for n in files]


def test_load_pth_refuses_code_and_runs_none(tmp_path):
    marker = tmp_path / "ran"
    for path in _malicious_files(tmp_path, marker):
        with pytest.raises(UnsafePickleError, match=r"load_pth: .*\.pth refers to the global "
                                                    r"(posix|nt|__builtin__)\.(system|eval)"):
            load_pth(path)
        with pytest.raises(UnsafePickleError):
            load_torchvision(path)
        assert not marker.exists(), path
    # the files are what they claim: a plain unpickler would run the command
    pickle.loads((tmp_path / "legacy_header.pth").read_bytes())
    assert marker.exists()


def test_load_pth_rejects_non_torch_files(tmp_path):
    (tmp_path / "a.pth").write_bytes(pickle.dumps([1, 2], protocol=2))
    with pytest.raises(ValueError, match="wrong magic number"):
        load_pth(tmp_path / "a.pth")
    with zipfile.ZipFile(tmp_path / "b.pth", "w") as z:
        z.writestr("x.txt", "hello")
    with pytest.raises(ValueError, match="not a torch.save file"):
        load_pth(tmp_path / "b.pth")


# ----------------------------------------------------------------------------- no-cache
def test_no_cache_same_numbers_and_no_backward():
    g, state = _case("case0")
    model = load_torchvision(state)
    y = model(g["x"])
    assert all(m.cache is None for _, m in model.named_modules())
    with pytest.raises(RuntimeError, match="Conv2d.backward: no cache"):
        model.backward(np.ones_like(y))
    model.keep_caches(True)
    y2 = model(g["x"])
    np.testing.assert_array_equal(y, y2)
    assert model.head.classifier.cache is not None
    with nn.no_cache():
        np.testing.assert_array_equal(model(g["x"]), y)
        assert all(m.cache is None for _, m in model.named_modules())
    model(g["x"])                                   # caches again after the block
    assert model.backbone.stem.conv1.cache is not None


@pytest.mark.parametrize("name", ["tiny_zip.pth", "tiny_legacy.pth"])
@pytest.mark.parametrize("damage", ["truncated", "zip magic only", "empty"])
def test_load_pth_damaged_files_are_value_errors_naming_the_file(tmp_path, name, damage):
    """Truncated or garbled weight files end in a ValueError naming the file (which the
    command line reports in one line), never a bare UnpicklingError or EOFError."""
    data = open(os.path.join(FIXTURES, name), "rb").read()
    bad = tmp_path / f"bad_{name}"
    bad.write_bytes({"truncated": data[:len(data) // 2], "zip magic only": b"PK\x03\x04 junk",
                     "empty": b""}[damage])
    with pytest.raises(ValueError, match=f"load_pth: .*bad_{name}"):
        load_pth(bad)
