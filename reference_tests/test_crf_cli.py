"""``python -m minideeplab crf``: end to end on a tiny image in a temporary directory.

Oracle: the label PNG must hold exactly ``dense_crf(...).argmax(0)`` (the library call) as palette
indices with the VOC colours, and the overlay exactly ``minideeplab.data.overlay`` of it.
"""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from crf_oracles import network_probs
from minideeplab.cli import main
from minideeplab.crf import dense_crf
from minideeplab.data import SyntheticShapes, overlay
from minideeplab.io import voc_palette


@pytest.fixture
def files(tmp_path):
    image, label = SyntheticShapes("val", num_images=1, size=33, seed=7)[0]
    probs = network_probs(label, 6, seed=7)
    Image.fromarray(image).save(tmp_path / "image.png")
    np.save(tmp_path / "probs.npy", probs)
    return tmp_path, image, probs


def test_crf_command_writes_labels_and_overlay(files, capsys):
    tmp, image, probs = files
    rc = main(["crf", str(tmp / "image.png"), str(tmp / "probs.npy"), "--out", str(tmp / "l.png"),
               "--overlay", str(tmp / "o.png"), "--preset", "resnet", "--w1", "5",
               "--save-probs", str(tmp / "q.npy")])
    assert rc == 0
    Q = dense_crf(image, probs, w1=5.0, theta_alpha=67.0, theta_beta=3.0, w2=3.0,
                  theta_gamma=1.0)
    with Image.open(tmp / "l.png") as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.asarray(im), Q.argmax(0))
        assert np.array_equal(np.reshape(im.getpalette()[:63], (21, 3)), voc_palette(21))
    with Image.open(tmp / "o.png") as im:
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")),
                                      overlay(image, Q.argmax(0).astype(np.uint8)))
    np.testing.assert_allclose(np.load(tmp / "q.npy"), Q, rtol=1e-6, atol=1e-7)
    out = capsys.readouterr().out
    assert "w1=5" in out and "theta_gamma=1" in out and "33x33, 6 labels" in out


def test_crf_command_reports_bad_probs(files, capsys):
    tmp, image, probs = files
    np.save(tmp / "bad.npy", probs[:, :, :-1])
    rc = main(["crf", str(tmp / "image.png"), str(tmp / "bad.npy"), "--out", str(tmp / "l.png")])
    assert rc == 2
    assert "probs must have shape (L, H, W) = (L, 33, 33)" in capsys.readouterr().err
    assert not (tmp / "l.png").exists()


def test_python_dash_m_runs_the_naive_method(files):
    tmp, image, probs = files
    done = subprocess.run([sys.executable, "-m", "minideeplab", "crf", str(tmp / "image.png"),
                           str(tmp / "probs.npy"), "--out", str(tmp / "n.png"), "--method",
                           "naive", "--iterations", "3"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with Image.open(tmp / "n.png") as im:
        np.testing.assert_array_equal(
            np.asarray(im), dense_crf(image, probs, method="naive", iterations=3).argmax(0))


def test_naive_method_on_a_large_image_suggests_the_flag(tmp_path, capsys, monkeypatch):
    """The exact O(N^2) filter refuses images above its limit before any work, and the
    command line names its own flag (not the Python argument)."""
    from minideeplab.cli import crf as crf_cli
    from minideeplab.crf import naive
    side = int(np.sqrt(naive.MAX_PIXELS)) + 2                     # just above the limit
    Image.fromarray(np.zeros((side, side, 3), np.uint8)).save(tmp_path / "big.png")
    np.save(tmp_path / "p.npy", np.full((2, side, side), 0.5, np.float32))
    monkeypatch.setattr(crf_cli, "dense_crf", lambda *a, **k: pytest.fail("the CRF ran"))
    rc = main(["crf", str(tmp_path / "big.png"), str(tmp_path / "p.npy"), "--out",
               str(tmp_path / "l.png"), "--method", "naive"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert f"--method naive: the image has {side}x{side} = {side * side} pixels" in err
    assert "use --method lattice" in err and 'method="lattice"' not in err
    assert not (tmp_path / "l.png").exists()
