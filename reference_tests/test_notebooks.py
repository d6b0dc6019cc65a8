"""Every tutorial notebook is committed executed, with its outputs and without path hacks, and
is listed in tutorials/README.md.

That every notebook *runs* top to bottom (quick mode, MINIDEEPLAB_QUICK=1), solution and
student version, is tested once, by nbgrader's autograder in test_nbgrader.py, which executes
each of them. Notebooks are found by globbing tutorials/*.ipynb, so new ones are tested
automatically.
"""
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("[0-9]*.ipynb"))
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
def test_notebook_is_committed_executed_and_clean(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "no code cell"
    not_run = [i for i, c in enumerate(code) if c.execution_count is None]
    assert not not_run, (f"code cells {not_run} have no outputs: execute it with "
                         f"`python -m minideeplab tutorials {path.name}` before committing")
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), \
        "cells were not run top to bottom in one kernel"
    assert not any(o.get("output_type") == "error" for c in code for o in c.outputs)
    assert not any("sys.path" in c.source for c in code), "import the installed library"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


def test_tutorials_readme_lists_every_notebook():
    index = (TUTORIALS / "README.md").read_text()
    missing = [p.name for p in NOTEBOOKS if f"]({p.name})" not in index]
    assert not missing, f"add {missing} to tutorials/README.md"
