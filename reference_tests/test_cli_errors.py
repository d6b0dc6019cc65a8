"""One error path for every command: bad input is ``minideeplab COMMAND: error: ...``, exit
status 2, no traceback, and it comes before any work (nothing is written)."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import cli_files
from minideeplab import backend, checkpoint as ckpt, fileio
from minideeplab.cli import main
from minideeplab.errors import ArgumentError, UserError
from minideeplab.train import Trainer


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A one-iteration checkpoint, a 17x17 image and its probabilities."""
    tmp = cli_files(tmp_path_factory.mktemp("cli"))
    probs = np.load(tmp / "probs.npy")
    np.savez(tmp / "probs.npz", probs=probs)
    return tmp


def _error(capsys, argv, message, status=2):
    """Run the command line in this process; it must fail cleanly with ``message``."""
    try:
        rc = main(argv)
    except SystemExit as e:         # argparse refuses bad values this way
        rc = e.code
    err = capsys.readouterr().err
    assert rc == status, err
    command = argv[0]
    assert f"minideeplab {command}: error: " in err, err
    assert message in err, err
    assert "Traceback" not in err
    return err


def _no_new_files(folder, before):
    assert sorted(os.listdir(folder)) == before, "a refused command wrote something"


# ------------------------------------------------------------------------ numbers up front
@pytest.mark.parametrize("argv, message", [
    (["train", "--batch-size", "0"], "argument --batch-size: must be a positive integer, got '0'"),
    (["train", "--batch-size", "-2"], "--batch-size: must be a positive integer, got '-2'"),
    (["train", "--crop-size", "0"], "--crop-size: must be a positive integer"),
    (["train", "--num-train", "0"], "--num-train: must be a positive integer"),
    (["train", "--num-val", "0"], "--num-val: must be a positive integer"),
    (["train", "--image-size", "x"], "--image-size: must be a positive integer, got 'x'"),
    (["train", "--max-iter", "0"], "--max-iter: must be a positive integer"),
    (["train", "--checkpoint-every", "-1"], "--checkpoint-every: must be an integer >= 0"),
    (["train", "--val-every", "-1"], "--val-every: must be an integer >= 0"),
    (["train", "--seed", "-1"], "--seed: must be an integer >= 0"),
    (["train", "--lr", "inf"], "--lr: must be a finite number > 0, got 'inf'"),
    (["train", "--lr", "nan"], "--lr: must be a finite number > 0, got 'nan'"),
    (["train", "--lr", "0"], "--lr: must be a finite number > 0, got '0'"),
    (["train", "--width", "-1"], "--width: must be a finite number > 0"),
    (["evaluate", "c.npz", "--num-val", "0"], "--num-val: must be a positive integer"),
    (["demo", "--rate", "0"], "--rate: must be a positive integer, got '0'"),
    (["demo", "--size", "0"], "--size: must be a positive integer"),
    (["demo", "--size", "-5"], "--size: must be a positive integer, got '-5'"),
    (["demo", "--channels", "0"], "--channels: must be a positive integer"),
    (["crf", "i.png", "p.npy", "--out", "o.png", "--iterations", "-1"],
     "--iterations: must be an integer >= 0"),
    (["crf", "i.png", "p.npy", "--out", "o.png", "--theta-alpha", "0"],
     "--theta-alpha: must be a finite number > 0"),
    (["crf", "i.png", "p.npy", "--out", "o.png", "--w1", "-1"],
     "--w1: must be a finite number >= 0"),
])
def test_numbers_are_refused_by_argparse(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    _error(capsys, argv, message)
    _no_new_files(tmp_path, [])


def test_v3_with_batch_size_one_is_refused_up_front(capsys, tmp_path):
    _error(capsys, ["train", "--model", "v3", "--batch-size", "1", "--out",
                    str(tmp_path / "run")], "batch_size must be >= 2 for model 'v3'")
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------ devices
@pytest.mark.parametrize("argv", [["demo"], ["train"], ["evaluate", "c.npz"],
                                  ["predict", "c.npz", "i.png", "--out", "o.png"],
                                  ["crf", "i.png", "p.npy", "--out", "o.png"],
                                  ["reproduce", "--only", "fig2"]])
@pytest.mark.parametrize("how", ["flag", "environment"])
def test_an_unavailable_gpu_is_a_clean_error(capsys, tmp_path, monkeypatch, argv, how):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(backend, "_default_device", None)
    monkeypatch.setattr(backend, "_gpu_available", False)   # a machine without a GPU
    if argv[0] == "reproduce" and how == "environment":
        pytest.skip("reproduce runs on --device (default cpu), not on $MINIDEEPLAB_DEVICE")
    if how == "flag":
        argv = argv + ["--device", "gpu"]
    else:
        monkeypatch.setenv("MINIDEEPLAB_DEVICE", "gpu")
    _error(capsys, argv, "CuPy with a CUDA device is not available")
    _no_new_files(tmp_path, [])


def test_an_unknown_device_in_the_environment_is_a_clean_error(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(backend, "_default_device", None)
    monkeypatch.setenv("MINIDEEPLAB_DEVICE", "tpu")
    _error(capsys, ["demo"], "$MINIDEEPLAB_DEVICE must be one of ('cpu', 'gpu'), got 'tpu'")


# ------------------------------------------------------------------------ output paths
def _outputs_cases(tmp):
    (tmp / "file").write_text("x")
    return [
        ("--out", "o.jpg", "JPEG is lossy: its compression would change the class indices"),
        ("--out", "o.JPEG", "JPEG is lossy"),
        ("--out", "o.xyz", "has extension '.xyz'; expected .png"),
        ("--out", "", "--out: the path is empty"),
        ("--out", ".", "is a folder; give a file name"),
        ("--out", "missing/o.png", "folder 'missing' of 'missing/o.png' does not exist"),
        ("--out", "file/o.png", "'file' (in 'file/o.png') is not a folder"),
        ("--overlay", "ov.txt", "--overlay: 'ov.txt' has extension '.txt'"),
    ]


@pytest.mark.parametrize("command", ["predict", "crf"])
def test_output_paths_are_checked_before_any_work(files, capsys, tmp_path, monkeypatch,
                                                  command):
    monkeypatch.chdir(tmp_path)
    inputs = ([str(files / "checkpoint.npz"), str(files / "image.png")] if command == "predict"
              else [str(files / "image.png"), str(files / "probs.npy")])
    probs_flag = "--probs" if command == "predict" else "--save-probs"
    cases = _outputs_cases(tmp_path) + [
        (probs_flag, "p.txt", f"{probs_flag}: 'p.txt' has extension '.txt'; expected .npy"),
        (probs_flag, "p", f"{probs_flag}: 'p' has extension '(none)'"),
        (probs_flag, "missing/p.npy", "folder 'missing' of 'missing/p.npy' does not exist")]
    for flag, path, message in cases:
        argv = [command, *inputs, "--out", "labels.png"]
        argv = argv[:-2] + [flag, path] if flag == "--out" else argv + [flag, path]
        _error(capsys, argv, message)
        _no_new_files(tmp_path, ["file"])
    # the check comes first: a missing checkpoint/image is not even looked at
    _error(capsys, [command, "nope.npz", "nope.png", "--out", "o.jpg"], "JPEG is lossy")
    _error(capsys, [command, *inputs, "--out", "a.png", "--overlay", "./a.png"],
           "--overlay: './a.png' is the same file as --out ('a.png')")


def test_read_only_output_folder(files, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")
    monkeypatch.setattr(fileio.tempfile, "mkstemp", read_only)
    _error(capsys, ["predict", str(files / "checkpoint.npz"), str(files / "image.png"),
                    "--out", "o.png"], "--out: cannot write into folder")
    _error(capsys, ["train", "--out", "run"], "--out: cannot write into folder")
    _error(capsys, ["reproduce", "--only", "fig2", "--out", "figs"],
           "--out: cannot write into folder")


def test_reproduce_out_must_be_a_folder(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    _error(capsys, ["reproduce", "--only", "fig2", "--out", str(tmp_path / "file")],
           "exists and is not a folder")
    _error(capsys, ["reproduce", "--only", "fig2", "--out", str(tmp_path / "file" / "sub")],
           "a part of the path is a file")
    _error(capsys, ["reproduce", "--only", "nope"], "unknown job(s) ['nope']")


# ------------------------------------------------------------------------ inputs
def test_bad_input_files(files, capsys, tmp_path):
    image, probs, chk = files / "image.png", files / "probs.npy", files / "checkpoint.npz"
    out = str(tmp_path / "o.png")
    _error(capsys, ["crf", str(image), str(files / "probs.npz"), "--out", out],
           "probs.npz' is an .npz archive of 1 array(s) ('probs'): expected probabilities (a "
           ".npy file")
    _error(capsys, ["crf", str(image), str(tmp_path / "none.npy"), "--out", out],
           "none.npy")
    (tmp_path / "ints.npy").write_bytes(b"")
    np.save(tmp_path / "ints.npy", np.ones((6, 17, 17), np.int64))
    _error(capsys, ["crf", str(image), str(tmp_path / "ints.npy"), "--out", out],
           "holds int64 values; expected floating point")
    (tmp_path / "broken.png").write_bytes(image.read_bytes()[:60])
    _error(capsys, ["crf", str(tmp_path / "broken.png"), str(probs), "--out", out],
           "cannot read image ")
    _error(capsys, ["predict", str(chk), str(tmp_path / "broken.png"), "--out", out],
           "broken.png': the file is corrupt, truncated or not an image")
    _error(capsys, ["predict", str(tmp_path / "none.npz"), str(image), "--out", out],
           "none.npz' does not exist")
    _error(capsys, ["evaluate", str(image)], "image.png' is a PNG image, not a minideeplab "
                                             "network")
    _error(capsys, ["evaluate", str(chk), "--dataset", "voc", str(tmp_path)],
           "no JPEGImages/ folder")
    _error(capsys, ["evaluate", str(chk), "--dataset", "voc", str(tmp_path), "--num-val", "3"],
           "--num-val is for the synthetic data")
    assert not os.path.exists(out)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning",
                            "ignore:invalid value:RuntimeWarning")
def test_poisoned_checkpoints_are_refused(files, capsys, tmp_path):
    """NaN weights: refused at load. Finite weights so large that the scores overflow:
    predict refuses to write NaN probabilities."""
    entries = dict(np.load(files / "checkpoint.npz"))
    name = next(k for k in entries if k.startswith("model/") and k.endswith("weight"))
    poisoned = dict(entries, **{name: entries[name] * np.float32(np.nan)})
    with open(tmp_path / "nan.npz", "wb") as f:
        np.savez(f, **poisoned)
    for argv in (["predict", str(tmp_path / "nan.npz"), str(files / "image.png"), "--out",
                  str(tmp_path / "o.png")], ["evaluate", str(tmp_path / "nan.npz")]):
        _error(capsys, argv, f"nan.npz': entry '{name}' holds")
    huge = {k: (v * np.float32(1e30) if k.startswith("model/") and k.endswith("weight")
                else v) for k, v in entries.items()}
    with open(tmp_path / "huge.npz", "wb") as f:
        np.savez(f, **huge)
    _error(capsys, ["predict", str(tmp_path / "huge.npz"), str(files / "image.png"), "--out",
                    str(tmp_path / "o.png"), "--probs", str(tmp_path / "p.npy")],
           "scores on")
    assert sorted(os.listdir(tmp_path)) == ["huge.npz", "nan.npz"]


# ------------------------------------------------------------------------ train's --out
def _train(out, *extra):
    return ["train", "--model", "largefov", "--image-size", "17", "--crop-size", "17",
            "--num-train", "2", "--num-val", "2", "--batch-size", "2", "--max-iter", "2",
            "--loss-at", "stride8", "--out", str(out), *extra]


def test_train_out_is_checked_before_the_first_iteration(capsys, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setattr(Trainer, "step", lambda self: pytest.fail("trained before the check"))
    _error(capsys, _train(tmp_path / "file"), "--out: ")
    _error(capsys, _train(tmp_path / "file" / "below"), "a part of the path is a file")
    _error(capsys, _train(""), "--out: the path is empty")


def test_train_refuses_to_overwrite_a_run(capsys, tmp_path):
    run = tmp_path / "run"
    assert main(_train(run)) == 0
    first = (run / "checkpoint.npz").read_bytes()
    capsys.readouterr()
    _error(capsys, _train(run), "already holds a run (checkpoint.npz); continue it with "
                                f"'train --resume {run / 'checkpoint.npz'}', or pass --overwrite")
    assert (run / "checkpoint.npz").read_bytes() == first
    assert main(_train(run, "--overwrite", "--seed", "3")) == 0
    assert (run / "checkpoint.npz").read_bytes() != first
    assert ckpt.load_checkpoint(run / "checkpoint.npz").config["train"]["seed"] == 3


def test_resume_refuses_new_settings_and_applies_allowed_ones(capsys, tmp_path):
    run = tmp_path / "run"
    assert main(_train(run)) == 0
    path = str(run / "checkpoint.npz")
    capsys.readouterr()
    _error(capsys, ["train", "--resume", path, "--lr", "5"],
           "--resume continues a run with the settings saved in its checkpoint; --lr cannot "
           "be changed")
    _error(capsys, ["train", "--resume", path, "--batch-size", "3", "--model", "v3"],
           "--model, --batch-size cannot be changed")
    assert main(["train", "--resume", path]) == 0
    assert "nothing to do: the run has finished (2 of 2 iterations)" in capsys.readouterr().out
    assert main(["train", "--resume", path, "--max-iter", "3"]) == 0
    out = capsys.readouterr().out
    assert "resumed" in out and "--max-iter 2 -> 3" in out
    assert ckpt.load_checkpoint(path).iteration == 3
    _error(capsys, ["train", "--resume", path, "--max-iter", "2"],
           "max_iter 2 is below iteration 3, which checkpoint")
    other = tmp_path / "other"
    assert main(_train(other)) == 0
    _error(capsys, ["train", "--resume", path, "--max-iter", "4", "--out", str(other)],
           f"--out {str(other)!r} already holds another run (checkpoint.npz, history.json); "
           "give another --out for this run, or pass --overwrite")
    # without --out the run goes to the checkpoint's own folder: the message names --resume
    copy = run / "copy.npz"
    copy.write_bytes((run / "checkpoint.npz").read_bytes())
    _error(capsys, ["train", "--resume", str(copy), "--max-iter", "4"],
           f"--resume's folder {str(run)!r} already holds another run (checkpoint.npz, "
           "history.json); give an --out for this run, or pass --overwrite")


def test_train_json_summary_is_valid_json(capsys, tmp_path):
    import json
    assert main(_train(tmp_path / "run")) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["iteration"] == 2 and 0 <= summary["mean_iou"] <= 1


# ------------------------------------------------------------------------ --debug, Ctrl-C
def test_debug_shows_the_traceback(capsys, tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="does not exist"):
        main(["evaluate", str(tmp_path / "none.npz"), "--debug"])


def test_interrupt_is_one_line(capsys, monkeypatch):
    from minideeplab.cli import demo

    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(demo, "run", interrupted)
    assert main(["demo"]) == 130
    err = capsys.readouterr().err
    assert "minideeplab demo: interrupted" in err and "Traceback" not in err


# ------------------------------------------------------------------------ a bug is not a user error
def _broadcasting_bug(*args, **kwargs):
    """A planted bug deep in the library: shapes that do not broadcast (a plain ValueError)."""
    return np.ones((2, 3)) + np.ones((4, 5))


def test_a_bug_inside_a_command_keeps_its_traceback(capsys, monkeypatch):
    """A ValueError that is not a UserError is a bug: main() lets it out, it is not turned into
    one line and exit status 2."""
    from minideeplab import functional as F
    monkeypatch.setattr(F, "conv2d", _broadcasting_bug)
    with pytest.raises(ValueError, match="could not be broadcast") as e:
        main(["demo", "--size", "9", "--channels", "2"])
    assert not isinstance(e.value, UserError)
    assert "error:" not in capsys.readouterr().err


@pytest.mark.parametrize("error, one_line", [
    (UserError("a user's mistake"), True),
    (ArgumentError("a bad argument"), True),
    (FileNotFoundError(2, "No such file or directory", "in.png"), True),
    (PermissionError(13, "Permission denied", "out.png"), True),
    (OSError("an OSError that names no path"), False),
    (ValueError("a plain ValueError: a bug"), False),
    (TypeError("a plain TypeError: a bug"), False),
    (MemoryError(), False),
    (IndexError("a bug"), False)])
def test_the_rule_tells_user_errors_from_bugs(capsys, monkeypatch, error, one_line):
    from minideeplab.cli import demo

    def run(args):
        raise error
    monkeypatch.setattr(demo, "run", run)
    if one_line:
        assert main(["demo"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "minideeplab demo: error: " in err
        if isinstance(error, OSError):
            assert f"{error.filename}: {error.strerror}" in err
    else:
        with pytest.raises(type(error)):
            main(["demo"])


def test_a_bug_shows_its_traceback_from_the_real_entry_point():
    """``python -m minideeplab`` with a planted broadcasting bug: traceback, exit status 1."""
    code = ("import sys, numpy as np; from minideeplab import functional as F; "
            "from minideeplab.cli import main; "
            "F.conv2d = lambda *a, **k: np.ones((2, 3)) + np.ones((4, 5)); "
            "sys.exit(main(['demo', '--size', '9', '--channels', '2']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    assert "Traceback (most recent call last)" in done.stderr
    assert "operands could not be broadcast together" in done.stderr
    assert "error:" not in done.stderr


def test_python_dash_m_prints_no_traceback(tmp_path):
    """The real entry point: exit status 2, the one-line message on stderr, no traceback."""
    no_gpu = importlib.util.find_spec("cupy") is None      # CuPy not installed: no GPU
    env = {k: v for k, v in os.environ.items() if k != "MINIDEEPLAB_CUPY_STANDIN"}
    env = dict(env, MINIDEEPLAB_DEVICE="gpu") if no_gpu else None   # (nor the stand-in)
    for argv, message, extra_env in [
            (["demo", "--size", "0"], "argument --size: must be a positive integer", None),
            (["evaluate", str(tmp_path / "x.npz")], "x.npz' does not exist", None),
            (["demo"], "CuPy with a CUDA device is not available", env)]:
        if message.startswith("CuPy") and env is None:
            continue
        done = subprocess.run([sys.executable, "-m", "minideeplab", *argv],
                              capture_output=True, text=True, env=extra_env)
        assert done.returncode == 2, done.stderr
        assert f"minideeplab {argv[0]}: error: " in done.stderr and message in done.stderr
        assert "Traceback" not in done.stderr


def test_resume_names_the_checkpoint_whose_settings_cannot_run_here(capsys, tmp_path):
    # a checkpoint whose saved settings ask for 10^9 synthetic images: the refusal (memory) must
    # say which file's settings they are, since the user typed none of them
    import json
    run = tmp_path / "run"
    assert main(_train(run)) == 0
    arrays = dict(np.load(run / "checkpoint.npz", allow_pickle=False))
    config = json.loads(bytes(arrays["config"]).decode())
    config["train"]["num_train"] = 10 ** 9
    arrays["config"] = np.frombuffer(json.dumps(config).encode(), dtype=np.uint8)
    big = tmp_path / "big.npz"
    np.savez(big, **arrays)
    capsys.readouterr()
    _error(capsys, ["train", "--resume", str(big), "--max-iter", "3", "--out",
                    str(tmp_path / "out")],
           f"resume: checkpoint {str(big)!r}: its settings cannot run here: "
           "SyntheticShapes.load_arrays: num_images=1000000000")
