"""Atomic writes (no symlink followed, nothing half written, temps cleaned) and output checks."""
import errno
import os
import stat
import subprocess
import sys
import tempfile

import pytest

from minideeplab import fileio


def _names(folder):
    return sorted(os.listdir(folder))


def test_atomic_write_writes_and_replaces(tmp_path):
    path = tmp_path / "a.bin"
    assert fileio.atomic_write(path, lambda f: f.write(b"one")) == str(path)
    fileio.atomic_write_text(path, "two \u00e9\n")
    assert path.read_bytes() == "two \u00e9\n".encode("utf-8")
    assert _names(tmp_path) == ["a.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask   # not mkstemp's 0600


def test_a_symlink_at_the_target_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "history.json").symlink_to(victim)
    (out / "history.json.tmp").symlink_to(victim)           # the old, predictable temp name
    fileio.atomic_write_text(out / "history.json", "new")
    assert victim.read_text() == "precious"
    assert not (out / "history.json").is_symlink()
    assert (out / "history.json").read_text() == "new"


def test_the_temp_file_is_created_exclusively(tmp_path, monkeypatch):
    """Even when the random temp name is taken (here by a symlink to a victim), mkstemp's
    O_EXCL refuses it and picks another name: the victim is never opened."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    names = iter(["fixed000", "fixed000", "other111"])
    monkeypatch.setattr(tempfile, "_get_candidate_names", lambda: names)
    taken = tmp_path / f".a.txt.{os.getpid()}.fixed000{fileio.TEMP_SUFFIX}"
    taken.symlink_to(victim)
    fileio.atomic_write_text(tmp_path / "a.txt", "data")
    assert victim.read_text() == "precious" and (tmp_path / "a.txt").read_text() == "data"


@pytest.mark.parametrize("failure", ["writer", "replace"])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch, failure):
    path = tmp_path / "c.txt"
    path.write_text("old")

    def writer(f):
        f.write("half")
        if failure == "writer":
            raise OSError(errno.ENOSPC, "No space left on device")

    if failure == "replace":
        def interrupted(src, dst):
            raise KeyboardInterrupt
        monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt if failure == "replace" else OSError):
        fileio.atomic_write(path, writer, text=True)
    monkeypatch.undo()
    assert path.read_text() == "old"
    assert _names(tmp_path) == ["c.txt"]


def test_atomic_write_refuses_bad_targets(tmp_path):
    with pytest.raises(fileio.OutputPathError, match="path is empty"):
        fileio.atomic_write("", lambda f: None)
    with pytest.raises(fileio.OutputPathError, match="is a folder"):
        fileio.atomic_write(tmp_path, lambda f: None)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fileio.atomic_write(tmp_path / "no" / "x", lambda f: None)


def _dead_pid():
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                       capture_output=True, text=True, check=True)
    return int(p.stdout)


def test_clean_stale_temps_removes_only_temps_of_dead_writers(tmp_path):
    dead = _dead_pid()
    stale = [f".checkpoint.npz.{dead}.abc_1234{fileio.TEMP_SUFFIX}",
             f".history.json.{dead}.zz99zz99{fileio.TEMP_SUFFIX}"]
    live = f".figure.png.{os.getpid()}.abcdefgh{fileio.TEMP_SUFFIX}"   # a writer at work
    others = ["checkpoint.npz", ".checkpoint.npz.x1y2z3.tmp", f"notes{fileio.TEMP_SUFFIX}",
              f".a.{dead}.short{fileio.TEMP_SUFFIX}", "history.json.tmp"]
    for name in stale + [live] + others:
        (tmp_path / name).write_text("x")
    assert all(fileio.is_temp_name(n) for n in stale + [live])
    assert not any(fileio.is_temp_name(n) for n in others)
    removed = fileio.clean_stale_temps(tmp_path)
    assert sorted(os.path.basename(p) for p in removed) == sorted(stale)
    assert _names(tmp_path) == sorted([live] + others)
    assert fileio.clean_stale_temps(tmp_path / "missing") == []


def test_check_output_file(tmp_path):
    png = (".png",)
    jpeg = {".jpg": "JPEG is lossy and would change the class indices"}
    assert fileio.check_output_file(tmp_path / "a.png", "--out", extensions=png) \
        == str(tmp_path / "a.png")
    (tmp_path / "file").write_text("x")
    cases = [("", "--out: the path is empty"),
             (tmp_path, "is a folder; give a file name"),
             (tmp_path / "a.JPG", "cannot write .*a.JPG'.*JPEG is lossy"),
             (tmp_path / "a.xyz", r"extension '.xyz'; expected .png"),
             (tmp_path / "a", r"extension '\(none\)'"),
             (tmp_path / "missing" / "a.png", "folder .*missing' of .* does not exist"),
             (tmp_path / "file" / "a.png", "is not a folder")]
    for path, message in cases:
        with pytest.raises(fileio.OutputPathError, match="--out: .*" + message
                           if path != "" else message):
            fileio.check_output_file(path, "--out", extensions=png, refuse=jpeg)
    assert _names(tmp_path) == ["file"]                       # the probes left nothing


def _unwritable(monkeypatch):
    """Every file creation fails as on a read-only file system (works even as root)."""
    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(tempfile, "mkstemp", refuse)


def test_read_only_folders_are_refused_before_any_work(tmp_path, monkeypatch):
    (tmp_path / "run").mkdir()
    _unwritable(monkeypatch)
    with pytest.raises(fileio.OutputPathError, match=r"--probs: cannot write into folder .*"
                                                     r"Read-only file system"):
        fileio.check_output_file(tmp_path / "p.npy", "--probs", extensions=(".npy",))
    with pytest.raises(fileio.OutputPathError, match=r"--out: cannot write into folder .*run"):
        fileio.prepare_output_dir(tmp_path / "run", "--out")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="permission bits do not stop root")
def test_a_chmod_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(fileio.OutputPathError, match="cannot write into folder"):
            fileio.check_output_file(folder / "a.png", "--out")
        with pytest.raises(fileio.OutputPathError, match="cannot write into folder"):
            fileio.prepare_output_dir(folder, "--out")
        with pytest.raises(fileio.OutputPathError, match="cannot create folder"):
            fileio.prepare_output_dir(folder / "sub", "--out")
    finally:
        folder.chmod(0o755)


def test_prepare_output_dir(tmp_path):
    dead = _dead_pid()
    run = tmp_path / "a" / "b"
    assert fileio.prepare_output_dir(run, "--out") == (str(run), [])
    assert run.is_dir()
    stale = run / f".checkpoint.npz.{dead}.abcdefgh{fileio.TEMP_SUFFIX}"
    stale.write_bytes(b"partial")
    assert fileio.prepare_output_dir(run, "--out") == (str(run), [str(stale)])
    assert _names(run) == []
    (tmp_path / "file").write_text("x")
    for path, message in [("", "the path is empty"),
                          (tmp_path / "file", "exists and is not a folder"),
                          (tmp_path / "file" / "below", "a part of the path is a file")]:
        with pytest.raises(fileio.OutputPathError, match=message):
            fileio.prepare_output_dir(path, "--out")


# ------------------------------------------------------------------ every write goes through it
_WRITERS = {"write_text", "write_bytes", "savefig", "save_file", "tofile", "save", "savez",
            "savez_compressed", "dump", "imsave"}


def direct_writes(source):
    """(line, call) of every call in ``source`` that writes a file by itself: ``open`` with a
    writing mode, or a saving call (``np.save``, ``fig.savefig``, ``Path.write_text``,
    ``json.dump``, ``Image.save``...) that is not given the file object ``f`` of an
    :func:`~minideeplab.fileio.atomic_write` writer."""
    import ast
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
        if name == "open":
            mode = node.args[1] if len(node.args) > 1 else next(
                (k.value for k in node.keywords if k.arg == "mode"), None)
            if isinstance(mode, ast.Constant) and set(str(mode.value)) & set("wax+"):
                found.append((node.lineno, f"open(..., {mode.value!r})"))
        elif name in _WRITERS:
            gets_f = [a for a in node.args[:2] if isinstance(a, ast.Name) and a.id == "f"]
            own = isinstance(f, ast.Attribute) and getattr(f.value, "id", None) == "self"
            if not gets_f and not own and not (name == "save" and isinstance(f, ast.Name)):
                found.append((node.lineno, name))   # a bare save(...) is safetensors' bytes
    return sorted(found)


def test_the_write_checker_finds_direct_writes():
    source = ("import json, numpy as np\n"
              "open('a', 'w').write('x')\n"
              "with open(p, mode='ab') as g: pass\n"
              "np.save('p.npy', a)\n"
              "path.write_text('t')\n"
              "fig.savefig('f.png')\n"
              "json.dump(obj, g)\n"
              "im.save(path)\n"
              "atomic_write(path, lambda f: np.save(f, a))\n"
              "atomic_write(path, lambda f: json.dump(obj, f))\n"
              "open('a').read()\n"
              "self.save(path)\n")
    assert [line for line, _ in direct_writes(source)] == [2, 3, 4, 5, 6, 7, 8]


def test_every_file_the_package_writes_goes_through_atomic_write():
    import pathlib

    import minideeplab
    root = pathlib.Path(minideeplab.__file__).parent
    found = [f"{p.relative_to(root)}:{line}: {call}" for p in sorted(root.rglob("*.py"))
             if p.name != "fileio.py" for line, call in direct_writes(p.read_text())]
    assert not found, "files written without fileio.atomic_write:\n" + "\n".join(found)
