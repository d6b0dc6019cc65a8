"""Writing files so that nothing is half written: one atomic-write helper and output checks.

Every file minideeplab writes (checkpoints, ``history.json``, label PNGs, probability ``.npy``
files, figures, the tables of ``reproduce``) goes through :func:`atomic_write`:

1. a new temporary file is created *exclusively* (``O_CREAT | O_EXCL``, via
   :func:`tempfile.mkstemp`) in the target's folder, under a name of its own pattern
   ``.<name>.<pid>.<random>.minideeplab-tmp``; an existing file or symlink of that name makes
   the creation fail, so no symlink is ever followed;
2. the caller's ``writer(f)`` fills it; it is flushed and ``fsync``-ed;
3. :func:`os.replace` renames it over the target (atomic on POSIX and Windows on one file
   system). If the target is a symlink, the link itself is replaced, never the file it points
   to. The folder is then ``fsync``-ed, so the rename survives a power cut (POSIX).

On any error (including ``KeyboardInterrupt``) the temporary file is removed and the target
keeps its previous content. A process killed with SIGKILL cannot clean up, so its temporary
file stays behind; :func:`clean_stale_temps` removes those whose writing process is gone (the
pid is in the name) and is called at the start of every run that writes into a folder
(:func:`prepare_output_dir`). It touches only names of the pattern above.

:func:`check_output_file` and :func:`prepare_output_dir` check output paths *before* any work:
an empty path, a folder where a file is wanted, a missing or read-only parent folder, a path
below a file, or an unsupported extension are :class:`OutputPathError` (a ``ValueError``)
naming the argument and the path, raised before the work that would produce the file starts.
:func:`check_outputs_apart` refuses, also before any work, an output that is one of the inputs
(the same file by any path: a hard link, a symlink, ``..``, another spelling) or two outputs
that are one file: writing one would replace the other.
"""
import os
import re
import tempfile

from .errors import MissingFileError, OutputPathError

__all__ = ["OutputPathError", "atomic_write", "atomic_write_text", "clean_stale_temps",
           "is_temp_name", "check_output_file", "prepare_output_dir", "check_outputs_apart",
           "same_file", "TEMP_SUFFIX"]

TEMP_SUFFIX = ".minideeplab-tmp"
_TEMP_RE = re.compile(r"^\..*\.(\d+)\.[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + r"$")
_NAME_IN_TEMP = 64          # characters of the target's name kept in its temporary name




def is_temp_name(name):
    """True when ``name`` (a bare file name) has the pattern of :func:`atomic_write`'s temps."""
    return _TEMP_RE.match(name) is not None


def _read_umask():
    mask = os.umask(0)      # the only way to read it; done once, at import (not thread-safe)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_read_umask()   # what open() would give a new file


def _fsync_dir(directory):
    """Make a rename in ``directory`` durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, writer, *, text=False):
    """Write ``path`` atomically: ``writer(f)`` fills a new temporary file, then it is renamed.

    Parameters
    ----------
    path : str or PathLike
        The file to write (replaced if it exists; a symlink there is replaced by the file,
        its target is left alone). Its folder must exist.
    writer : callable
        ``writer(f)`` writes the content to the open file object ``f`` (binary, or text in
        UTF-8 with ``text=True``). Its return value is ignored.
    text : bool
        Open the temporary file in text mode.

    Returns
    -------
    str, the path written.

    Raises
    ------
    OutputPathError
        ``path`` is empty or is a folder.
    MissingFileError
        The folder of ``path`` does not exist (a ``FileNotFoundError``).
    Whatever ``writer`` or the file system raises; the temporary file is removed first and
    ``path`` keeps its previous content.
    """
    path = os.fspath(path)
    if not path:
        raise OutputPathError("atomic_write: path is empty")
    if os.path.isdir(path) and not os.path.islink(path):
        raise OutputPathError(f"atomic_write: {path!r} is a folder, not a file")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise MissingFileError(f"atomic_write: folder {directory!r} does not exist (for "
                               f"{path!r})")
    name = os.path.basename(path)[:_NAME_IN_TEMP]
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.{os.getpid()}.", suffix=TEMP_SUFFIX,
                               dir=directory)
    try:
        if hasattr(os, "fchmod"):           # mkstemp makes 0600; a result gets the usual mode
            os.fchmod(fd, _FILE_MODE)
        with (os.fdopen(fd, "w", encoding="utf-8", newline="") if text
              else os.fdopen(fd, "wb")) as f:
            fd = None                       # the file object owns it now
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if fd is not None:
            os.close(fd)
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(directory)
    return path


def atomic_write_text(path, content):
    """:func:`atomic_write` of a string (UTF-8). Returns the path."""
    return atomic_write(path, lambda f: f.write(content), text=True)


def _pid_alive(pid):
    if pid == os.getpid():
        return True
    if os.name != "posix":      # no cheap, harmless liveness test: treat the writer as gone
        return False
    try:
        os.kill(pid, 0)         # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:             # exists, owned by someone else
        return True
    return True


def clean_stale_temps(folder):
    """Remove the temporary files that killed writers left in ``folder``; returns their paths.

    Only names of :func:`atomic_write`'s pattern whose process id is no longer running are
    removed (a temp of a writer still at work in the same folder is left alone). Nothing else
    is touched; sub-folders are not searched.
    """
    removed = []
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return removed
    for name in sorted(names):
        match = _TEMP_RE.match(name)
        if match is None or _pid_alive(int(match.group(1))):
            continue
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            continue
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


def _prove_writable(argname, folder):
    """Create and remove one temporary file in ``folder``: the only sure test of writing."""
    try:
        fd, probe = tempfile.mkstemp(prefix=f".probe.{os.getpid()}.", suffix=TEMP_SUFFIX,
                                     dir=folder)
    except OSError as e:
        raise OutputPathError(f"{argname}: cannot write into folder {folder!r} "
                              f"({e.strerror or e})") from e
    os.close(fd)
    os.unlink(probe)


def _describe_extensions(extensions):
    return ", ".join(extensions)


def check_output_file(path, argname, *, extensions=None, refuse=None):
    """Check, before any work, that ``path`` can be written as a new or replaced file.

    Parameters
    ----------
    path : str or PathLike, the file to be written
    argname : str, names the argument in errors (e.g. ``"--out"``)
    extensions : tuple of str, optional
        Accepted extensions, lower case with the dot (``(".png",)``); case is ignored.
    refuse : dict, optional
        ``extension -> reason`` for extensions refused with a specific explanation (e.g.
        JPEG for label maps: lossy compression changes the class indices).

    Returns
    -------
    str, the path. Raises :class:`OutputPathError` naming ``argname`` and the path when it is
    empty, a folder, has a refused or unknown extension, or its folder is missing, not a
    folder, or not writable (proved by writing a probe file there).
    """
    if path is None or not os.fspath(path):
        raise OutputPathError(f"{argname}: the path is empty")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise OutputPathError(f"{argname}: {path!r} is a folder; give a file name")
    ext = os.path.splitext(path)[1].lower()
    if refuse and ext in refuse:
        raise OutputPathError(f"{argname}: cannot write {path!r}: {refuse[ext]}")
    if extensions is not None and ext not in extensions:
        raise OutputPathError(f"{argname}: {path!r} has extension {ext or '(none)'!r}; "
                              f"expected {_describe_extensions(extensions)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(folder):
        raise OutputPathError(f"{argname}: folder {os.path.dirname(path) or folder!r} of "
                              f"{path!r} does not exist")
    if not os.path.isdir(folder):
        raise OutputPathError(f"{argname}: {os.path.dirname(path)!r} (in {path!r}) is not a "
                              "folder")
    _prove_writable(argname, folder)
    return path


def prepare_output_dir(path, argname="out_dir"):
    """Create the output folder ``path`` if needed, prove it writable, clean stale temps.

    Returns ``(path, removed)``: the path as given and the stale temporary files removed
    (see :func:`clean_stale_temps`). Raises :class:`OutputPathError` naming ``argname`` when
    ``path`` is empty, an existing file, below a file, or cannot be created or written.
    """
    if path is None or not os.fspath(path):
        raise OutputPathError(f"{argname}: the path is empty")
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputPathError(f"{argname}: {path!r} exists and is not a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as e:
        raise OutputPathError(f"{argname}: cannot create folder {path!r}: a part of the path "
                              "is a file, not a folder") from e
    except OSError as e:
        raise OutputPathError(f"{argname}: cannot create folder {path!r} "
                              f"({e.strerror or e})") from e
    _prove_writable(argname, path)
    return path, clean_stale_temps(path)


def _identity(path):
    """What names a file: (device, inode) when it exists (hard links, symlinks and ``..``
    agree), else the real path of its folder and its name (two spellings of one new file)."""
    try:
        st = os.stat(path)
        return ("inode", st.st_dev, st.st_ino)
    except OSError:
        folder, name = os.path.split(os.path.abspath(path))
        return ("path", os.path.normcase(os.path.realpath(folder)), os.path.normcase(name))


def same_file(a, b):
    """True when paths ``a`` and ``b`` name one file (see :func:`_identity`)."""
    return _identity(os.fspath(a)) == _identity(os.fspath(b))


def check_outputs_apart(outputs, inputs=None):
    """Refuse, before any work, outputs that would replace an input or each other.

    ``outputs``, ``inputs``: dicts argument name -> path (None: not given). An output that is
    the same file as an input (:func:`same_file`: through a hard link, a symlink, ``..`` or
    another spelling) would be replaced by the result computed from it; two outputs that are
    one file would replace each other. Either is an :class:`OutputPathError` naming both
    arguments and paths.
    """
    given = [(arg, os.fspath(p)) for arg, p in outputs.items() if p is not None]
    sources = [(arg, os.fspath(p)) for arg, p in (inputs or {}).items() if p is not None]
    for arg, path in given:
        for source, source_path in sources:
            if same_file(path, source_path):
                kind = "folder" if os.path.isdir(path) else "file"
                raise OutputPathError(
                    f"{arg}: {path!r} is the input {source} ({source_path!r}), the same {kind}; "
                    "writing it would replace the input: give the output another name")
    for i, (arg, path) in enumerate(given):
        for other, other_path in given[:i]:
            if same_file(path, other_path):
                raise OutputPathError(f"{arg}: {path!r} is the same file as {other} "
                                      f"({other_path!r}); one would replace the other: give "
                                      "them different names")
