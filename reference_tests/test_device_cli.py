"""The command line with ``--device gpu``: train, resume, evaluate, predict and crf run on the
device (on the CuPy stand-in in every run, on CuPy where a GPU is used) and give what the
same commands give on the CPU.

Oracles: a resumed run equals an uninterrupted one bit for bit on its device; a network's
evaluation and prediction do not depend on the device that computes them (the checkpoint
written by the device run, evaluated in-process on NumPy); the dense CRF's labels are those
of the library call on NumPy. ``python -m minideeplab`` (a subprocess: the stand-in reaches
it through the environment) gives the same as the in-process call.
"""
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from minideeplab.checkpoint import load_model
from minideeplab.cli import main
from minideeplab.crf import dense_crf
from minideeplab.data import SyntheticShapes
from minideeplab.inference import predict
from minideeplab.io import read_image, read_npz
from test_crf_cli import files  # noqa: F401  (the fixture: a 33x33 image and its softmax)

TRAIN = ["--model", "largefov", "--image-size", "33", "--crop-size", "33", "--num-train", "4",
         "--num-val", "2", "--batch-size", "2", "--val-every", "0", "--lr-policy", "step",
         "--step-size", "100"]        # a learning rate that does not depend on --max-iter


def _weights(path):
    return {k: v for k, v in read_npz(path).items() if not k.startswith("config")}


def test_train_resume_evaluate_predict_on_the_device(tmp_path, device, capsys):
    straight, part = tmp_path / "straight", tmp_path / "part"
    flag = ["--device", device]
    assert main(["train", *TRAIN, "--max-iter", "3", "--out", str(straight), *flag]) == 0
    assert main(["train", *TRAIN, "--max-iter", "2", "--out", str(part), *flag]) == 0
    assert main(["train", "--resume", str(part / "checkpoint.npz"), "--max-iter", "3",
                 *flag]) == 0
    a, b = _weights(straight / "checkpoint.npz"), _weights(part / "checkpoint.npz")
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)       # bit-exact on the device
    ckpt = str(straight / "checkpoint.npz")
    printed = {}
    for where in ("cpu", device):                       # the same evaluation on either device
        capsys.readouterr()
        assert main(["evaluate", ckpt, "--num-val", "3", "--crf", "--device", where]) == 0
        printed[where] = [float(v) for v in re.findall(r"\d+\.\d+", capsys.readouterr().out)]
    assert len(printed["cpu"]) > 3
    np.testing.assert_allclose(printed[device], printed["cpu"], atol=1.5e-3)
    model = load_model(ckpt, device="cpu")
    image, _ = SyntheticShapes("val", 1, size=33, seed=3)[0]
    Image.fromarray(image).save(tmp_path / "im.png")
    assert main(["predict", ckpt, str(tmp_path / "im.png"), "--out", str(tmp_path / "l.png"),
                 "--probs", str(tmp_path / "p.npy"), *flag]) == 0
    labels, probs = predict(model, read_image(str(tmp_path / "im.png")))
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), probs, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", ["lattice", "naive"])
def test_crf_command_on_the_device(files, device, method):
    tmp, image, probs = files
    assert main(["crf", str(tmp / "image.png"), str(tmp / "probs.npy"), "--out",
                 str(tmp / "l.png"), "--method", method, "--save-probs", str(tmp / "q.npy"),
                 "--device", device]) == 0
    Q = dense_crf(image, probs, method=method)                    # on NumPy
    np.testing.assert_allclose(np.load(tmp / "q.npy"), Q, rtol=1e-4, atol=1e-5)
    with Image.open(tmp / "l.png") as im:
        assert (np.asarray(im) == Q.argmax(0)).mean() > 0.999


def test_python_dash_m_on_the_device(files, device):
    """A subprocess: the device reaches ``python -m minideeplab`` through the environment."""
    tmp, image, probs = files
    done = subprocess.run([sys.executable, "-m", "minideeplab", "crf", str(tmp / "image.png"),
                           str(tmp / "probs.npy"), "--out", str(tmp / "s.png"), "--save-probs",
                           str(tmp / "s.npy"), "--device", device],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert main(["crf", str(tmp / "image.png"), str(tmp / "probs.npy"), "--out",
                 str(tmp / "i.png"), "--save-probs", str(tmp / "i.npy"), "--device", device]) == 0
    np.testing.assert_array_equal(np.load(tmp / "s.npy"), np.load(tmp / "i.npy"))


def test_reproduce_quick_on_the_device(device, tmp_path):
    """``reproduce --quick --device gpu``: every job runs on the device and writes its files
    (the quick run on the CPU is test_reproduce.py's); Table 1, counted from the networks
    built on the device, is the paper's."""
    if device == "cpu":
        pytest.skip("the quick run on the CPU is test_reproduce.py's")
    from minideeplab.paper import reproduce
    from test_reproduce import FIGURES, PAPER_TABLE1
    done = subprocess.run([sys.executable, "-m", "minideeplab", "reproduce", "--quick",
                           "--device", device, "--out", str(tmp_path), "--no-progress"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "quick run on gpu" in done.stdout
    listed = reproduce.readme_files((FIGURES / "README.md").read_text())
    optional = {f for j in reproduce.all_jobs() if j.optional or j.timing for f in j.files}
    missing = [f for f in listed if f not in optional and not (tmp_path / f).is_file()]
    assert not missing, missing
    for kernel, rate, fov, params in PAPER_TABLE1:
        assert re.search(rf"^\s*{kernel}\s+{rate}\s+\d+\s+\d+\s+[\d,]+\s+{re.escape(params)}"
                         rf"\s+\d+\s+{fov}\s*$", done.stdout, re.MULTILINE), done.stdout
