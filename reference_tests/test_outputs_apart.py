"""No output replaces an input, through any path: the same file by a hard link, a symlink,
``..`` or another spelling is refused before any work, and the input is left byte for byte as
it was (the oracle: its bytes before the command)."""
import os
from pathlib import Path

import pytest

from helpers import cli_files
from minideeplab.cli import main
from minideeplab.errors import OutputPathError
from minideeplab.fileio import check_outputs_apart, same_file

@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return cli_files(tmp_path_factory.mktemp("apart"))


def _spellings(folder, name):
    """Other paths of ``folder/name``: a hard link, a symlink, '..' and './'."""
    (folder / "sub").mkdir(exist_ok=True)
    link, sym = folder / f"hard_{name}", folder / f"sym_{name}"
    if not link.exists():
        os.link(folder / name, link)
        os.symlink(folder / name, sym)
    return {"hard link": str(link), "symlink": str(sym), "..": str(folder / "sub" / ".." / name),
            "./": os.path.join(str(folder), ".", name)}


def test_same_file_sees_every_path(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    for how, path in _spellings(tmp_path, "a.png").items():
        assert same_file(path, tmp_path / "a.png"), how
    assert not same_file(tmp_path / "a.png", tmp_path / "b.png")
    assert same_file(tmp_path / "new.png", tmp_path / "sub" / ".." / "new.png")   # not there
    assert not same_file(tmp_path / "new.png", tmp_path / "new2.png")


def test_outputs_apart_names_both_arguments(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    with pytest.raises(OutputPathError, match=r"--out: '.*sub/../a.png' is the input image "
                                              r"\('.*a.png'\), the same file"):
        check_outputs_apart({"--out": str(tmp_path / "sub" / ".." / "a.png")},
                            {"image": str(tmp_path / "a.png")})
    with pytest.raises(OutputPathError, match=r"--overlay: .* is the same file as --out"):
        check_outputs_apart({"--out": tmp_path / "n.png", "--overlay": tmp_path / "." / "n.png"})
    check_outputs_apart({"--out": tmp_path / "n.png", "--probs": None},
                        {"image": tmp_path / "a.png", "--torchvision": None})


def _refused(capsys, argv, message):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("how", ["hard link", "symlink", "..", "./"])
def test_predict_and_crf_never_replace_an_input(files, tmp_path, capsys, how):
    checkpoint, image, probs = files / "checkpoint.npz", files / "image.png", files / "probs.npy"
    before = {p: p.read_bytes() for p in (checkpoint, image, probs)}
    cases = [
        (["predict", str(checkpoint), str(image), "--out"], image, "--out", "image"),
        (["predict", str(checkpoint), str(image), "--out", str(tmp_path / "l.png"),
          "--overlay"], image, "--overlay", "image"),
        (["predict", str(checkpoint), str(image), "--out", str(tmp_path / "l.png"),
          "--probs"], probs, None, None),                           # probs is not an input here
        (["crf", str(image), str(probs), "--out", str(tmp_path / "l.png"), "--save-probs"],
         probs, "--save-probs", "probs"),
        (["crf", str(image), str(probs), "--out"], image, "--out", "image"),
    ]
    for argv, target, flag, name in cases:
        path = _spellings(target.parent, target.name)[how]
        if flag is None:
            continue
        _refused(capsys, argv + [path], f"{flag}: {path!r} is the input {name}")
    for p, data in before.items():
        assert p.read_bytes() == data, p


def test_train_refuses_a_folder_holding_only_a_history(tmp_path, capsys):
    """history.json without checkpoint.npz is a run too: a new run would replace it."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.json").write_text('{"loss": [1.0]}')
    argv = ["train", "--model", "largefov", "--image-size", "17", "--crop-size", "17",
            "--num-train", "2", "--num-val", "2", "--batch-size", "2", "--max-iter", "1",
            "--loss-at", "stride8", "--out", str(run)]
    _refused(capsys, argv, f"--out {str(run)!r} already holds a run (history.json); give "
                           "another --out for this run, or pass --overwrite to replace it")
    assert (run / "history.json").read_text() == '{"loss": [1.0]}'
    assert os.listdir(run) == ["history.json"]
    assert main(argv + ["--overwrite"]) == 0
    assert sorted(os.listdir(run)) == ["checkpoint.npz", "history.json"]


def test_exercises_never_write_over_their_sources(tmp_path, capsys):
    """exercises SRC SRC replaced the solution notebooks by the student versions."""
    src = tmp_path / "tutorials"
    src.mkdir()
    notebook = next(p for p in sorted((Path(__file__).parents[1] / "tutorials").glob("0*.ipynb")))
    (src / notebook.name).write_bytes(notebook.read_bytes())
    for out in (src, tmp_path / "tutorials" / ".." / "tutorials"):
        _refused(capsys, ["exercises", str(src), str(out)], "is the input SRC")
    assert (src / notebook.name).read_bytes() == notebook.read_bytes()


def test_predict_refuses_more_classes_than_a_label_png_holds(tmp_path, capsys, files):
    """300 classes: the PNG said 43 where the argmax was 299 (indices wrapped modulo 256)."""
    from minideeplab import checkpoint as ckpt
    from minideeplab.models import build_model
    model = build_model("largefov", 300, tiny=True)
    ckpt.save_checkpoint(tmp_path / "c300.npz", model, iteration=1)
    _refused(capsys, ["predict", str(tmp_path / "c300.npz"), str(files / "image.png"), "--out",
                      str(tmp_path / "l.png")], "--out: the model has 300 classes, but a label "
                                                "PNG holds the class indices 0..255")
    assert not (tmp_path / "l.png").exists()


@pytest.mark.parametrize("command", ["predict", "crf"])
def test_outputs_are_all_made_before_any_is_written(files, tmp_path, capsys, monkeypatch,
                                                    command):
    """An overlay that fails (here: made to fail) leaves no label PNG behind."""
    from minideeplab import data
    from minideeplab.errors import ArgumentError

    def failing(image, labels, *args, **kwargs):
        raise ArgumentError("overlay: made to fail")
    monkeypatch.setattr(data, "overlay", failing)
    inputs = ([str(files / "checkpoint.npz"), str(files / "image.png")] if command == "predict"
              else [str(files / "image.png"), str(files / "probs.npy")])
    _refused(capsys, [command, *inputs, "--out", str(tmp_path / "l.png"), "--overlay",
                      str(tmp_path / "o.png")], "overlay: made to fail")
    assert os.listdir(tmp_path) == []
