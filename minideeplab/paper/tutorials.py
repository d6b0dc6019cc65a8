"""Execute the tutorial notebooks (tutorials/*.ipynb), in place or as a check.

    python -m minideeplab tutorials                 # run every notebook, save the outputs
    python -m minideeplab tutorials 01 05           # only these (by number or file name)
    python -m minideeplab tutorials --quick --check # MINIDEEPLAB_QUICK=1, don't save

The committed notebooks are executed by the first form (full mode) so that they read well on
a web page; the test suite runs the last form (reference_tests/test_notebooks.py). Needs the
``test`` extra (nbclient, nbformat, ipykernel).
"""
import os
import time
from contextlib import contextmanager
from pathlib import Path

from ..errors import ArgumentError
from ..fileio import atomic_write
from . import QUICK_ENV

__all__ = ["tutorials_dir", "find_notebooks", "execute_notebook", "run_notebooks"]


def tutorials_dir():
    """The repository's tutorials/ folder (next to the package), else ./tutorials."""
    here = Path(__file__).resolve().parents[2] / "tutorials"
    return here if here.is_dir() else Path("tutorials")


def find_notebooks(names=None, directory=None):
    """Sorted notebook paths; ``names`` filters by file name or its leading number ("01")."""
    directory = Path(directory) if directory is not None else tutorials_dir()
    paths = sorted(p for p in directory.glob("*.ipynb") if not p.name.startswith("."))
    if not names:
        return paths
    def matches(p, n):
        return n in (p.name, p.stem, p.name.split("_")[0])

    chosen = [p for p in paths if any(matches(p, n) for n in names)]
    missing = [n for n in names if not any(matches(p, n) for p in chosen)]
    if missing:
        raise ArgumentError(f"no notebook matches {missing} in {directory}; there are "
                            f"{[p.name for p in paths]}")
    return chosen


@contextmanager
def _environment(**values):
    """Set environment variables for the kernel (it inherits ours) and restore them."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def execute_notebook(path, *, quick=False, timeout=600, write=False, kernel_name="python3"):
    """Run a notebook top to bottom in a fresh kernel, with tutorials/ as working directory.

    ``quick`` sets ``MINIDEEPLAB_QUICK=1`` for the kernel; ``timeout`` bounds each cell
    (seconds). Raises ``nbclient.exceptions.CellExecutionError`` (with the failing cell and
    its traceback) on any error. With ``write``, the executed notebook replaces the file.
    Returns (the executed notebook, seconds).
    """
    import nbclient
    import nbformat
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                                     resources={"metadata": {"path": str(path.parent)}},
                                     record_timing=False)  # no timestamps: quieter diffs
    t0 = time.perf_counter()
    with _environment(**{QUICK_ENV: "1" if quick else "0"}):
        client.execute()
    seconds = time.perf_counter() - t0
    if write:
        atomic_write(path, lambda f: nbformat.write(nb, f), text=True)
    return nb, seconds


def run_notebooks(names=None, *, quick=False, check=False, timeout=600):
    """Execute the notebooks ``names`` (all: None), saving their outputs unless ``check``;
    yields ``(path, seconds, error)`` for each (error: None, or the exception it raised)."""
    for path in find_notebooks(names):
        try:
            _, seconds = execute_notebook(path, quick=quick, timeout=timeout, write=not check)
            yield path, seconds, None
        except Exception as e:  # report every notebook, then fail
            yield path, None, e
