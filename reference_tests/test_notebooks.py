"""Every tutorial notebook runs top to bottom without error (quick mode), and is committed
executed, with its outputs and without path hacks.

Notebooks are found by globbing tutorials/*.ipynb, so new ones are tested automatically. Each
runs in a fresh python3 kernel with MINIDEEPLAB_QUICK=1 (which shrinks heavy cells) and a
per-cell timeout; any exception in any cell fails the test with the cell and its traceback.
"""
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

from minideeplab import backend  # noqa: E402
from minideeplab.paper.tutorials import execute_notebook  # noqa: E402

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("[0-9]*.ipynb"))
CELL_TIMEOUT = 300  # seconds per cell in quick mode
CHECK_LINE = re.compile(r"^\[[^\]]+\] (PASSED|FAILED|NOT IMPLEMENTED YET)", re.M)


def exercise_checks(nb):
    """(statuses printed by the exercise checks, number of check calls) of a notebook."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    text = "".join(o.get("text", "") for c in code for o in c.get("outputs", [])
                   if o.get("output_type") == "stream")
    calls = sum(len(re.findall(r"^exercises\.check_\w+\(", c.source, re.M)) for c in code)
    return CHECK_LINE.findall(text), calls


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no tutorials/*.ipynb found in {TUTORIALS}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(path):
    nb, _ = execute_notebook(path, quick=True, timeout=CELL_TIMEOUT, write=False)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    statuses, calls = exercise_checks(nb)          # the solutions pass their exercise checks
    assert len(statuses) == calls and set(statuses) <= {"PASSED"}, statuses
    if path.name.startswith("08_") and backend.gpu_available():   # the CuPy stand-in, or a GPU
        text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                       for o in c.get("outputs", []) if o.get("output_type") == "stream")
        assert "GPU available: True" in text and "skipped: no GPU" not in text, text[:2000]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_executed_and_clean(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "no code cell"
    not_run = [i for i, c in enumerate(code) if c.execution_count is None]
    assert not not_run, (f"code cells {not_run} have no outputs: execute it with "
                         f"`python -m minideeplab.paper.tutorials {path.name}` before committing")
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), \
        "cells were not run top to bottom in one kernel"
    assert not any(o.get("output_type") == "error" for c in code for o in c.outputs)
    assert not any("sys.path" in c.source for c in code), "import the installed library"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


def test_tutorials_readme_lists_every_notebook():
    index = (TUTORIALS / "README.md").read_text()
    missing = [p.name for p in NOTEBOOKS if f"]({p.name})" not in index]
    assert not missing, f"add {missing} to tutorials/README.md"
