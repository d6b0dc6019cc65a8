"""nbgrader grades the course as it is, with its default configuration.

One real run in a scratch course folder: the solution notebooks (tutorials/*.ipynb) become
nbgrader's source assignment; ``nbgrader generate_assignment`` must write exactly the committed
student notebooks (tutorials/student/, byte for byte, which ``python -m minideeplab exercises``
also writes: see test_student_notebooks.py); then ``nbgrader autograde`` grades two
submissions, the solutions themselves and the unfilled student notebooks. The solutions get
every point of every check cell (their written answers wait for a person); the stubs get 0
everywhere.

The autograder executes every notebook top to bottom in quick mode (MINIDEEPLAB_QUICK=1), so
this run is also the test that every notebook, solution and student version, runs: each
solution notebook without a single error and every check printing PASSED; each student
notebook with errors only in its check cells, each one a NotImplementedError after "NOT
IMPLEMENTED YET". Where the test process has a GPU device (the CuPy stand-in, inherited by the
kernels through MINIDEEPLAB_CUPY_STANDIN, or a real GPU), notebook 08's GPU cells must run on
it, not skip. (Notebooks are executed nowhere else in the suite.)
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbgrader")

from minideeplab import backend  # noqa: E402
from minideeplab.paper import QUICK_ENV  # noqa: E402

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
SOLUTIONS = sorted(TUTORIALS.glob("[0-9]*.ipynb"))
STUDENT = sorted((TUTORIALS / "student").glob("[0-9]*.ipynb"))
ASSIGNMENT = "tutorials"


def _nbgrader_env(root):
    """nbgrader's defaults: no configuration file in the course folder, and a Jupyter
    configuration folder of its own (empty); the notebooks in quick mode."""
    return dict(os.environ, JUPYTER_CONFIG_DIR=str(root / ".jupyter"), **{QUICK_ENV: "1"})


def _nbgrader(root, *args):
    """Start ``nbgrader ARGS`` in ``root``; :func:`_finished` waits for it."""
    return subprocess.Popen([sys.executable, "-m", "nbgrader", *args], cwd=root,
                            env=_nbgrader_env(root), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finished(run):
    stdout, stderr = run.communicate(timeout=1500)
    assert run.returncode == 0, f"{' '.join(run.args[2:])} failed:\n{stdout}\n{stderr}"


def _graded(course, student):
    """The course folder in which ``student``'s submission was autograded."""
    return course.with_name(f"{course.name}-{student}")


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder after generate_assignment, and one copy of it per 'student' after
    autograde. The two students are graded in two copies at the same time (one gradebook
    each: two autograders would contend for one), which halves the time on two cores."""
    root = tmp_path_factory.mktemp("course")
    source = root / "source" / ASSIGNMENT
    source.mkdir(parents=True)
    for path in SOLUTIONS:
        shutil.copy(path, source / path.name)
    _finished(_nbgrader(root, "generate_assignment", ASSIGNMENT))
    runs = []
    for student, folder in (("solutions", source), ("stubs", root / "release" / ASSIGNMENT)):
        graded = _graded(root, student)
        shutil.copytree(root, graded)
        submitted = graded / "submitted" / student / ASSIGNMENT
        submitted.mkdir(parents=True)
        for path in folder.glob("*.ipynb"):
            shutil.copy(path, submitted / path.name)
        runs.append(_nbgrader(graded, "autograde", ASSIGNMENT))
    for run in runs:
        _finished(run)
    return root


def _grades(course, student):
    """{notebook: [grade dicts]} from the gradebook nbgrader wrote."""
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{_graded(course, student) / 'gradebook.db'}") as gb:
        return {path.stem: [g.to_dict() for g in gb.find_submission_notebook(
                    path.stem, ASSIGNMENT, student).grades] for path in SOLUTIONS}


def _autograded(course, student, name):
    return nbformat.read(_graded(course, student) / "autograded" / student / ASSIGNMENT / name,
                         as_version=4)


def _is_check(cell):
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and meta.get("grade", False)


def _errors(cell):
    return [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]


def _stdout(cell):
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")


def _gpu_cells_ran(nb, name):
    """Notebook 08 on a machine (or stand-in) with a GPU device: its GPU cells ran."""
    if name.startswith("08_") and backend.gpu_available():
        text = "".join(_stdout(c) for c in nb.cells if c.cell_type == "code")
        assert "GPU available: True" in text and "skipped: no GPU" not in text, text[:2000]


def test_generate_assignment_writes_exactly_the_student_notebooks(course):
    release = course / "release" / ASSIGNMENT
    assert sorted(p.name for p in release.glob("*.ipynb")) == [p.name for p in STUDENT]
    differ = [p.name for p in STUDENT
              if (release / p.name).read_bytes() != p.read_bytes()]
    assert not differ, f"nbgrader's release differs from tutorials/student/ in {differ}"


def test_solutions_get_every_autograded_point_and_wait_for_a_person(course):
    grades = _grades(course, "solutions")
    checks = [g for gs in grades.values() for g in gs if g["cell_type"] == "code"]
    written = [g for gs in grades.values() for g in gs if g["cell_type"] == "markdown"]
    assert checks and written
    lost = [(g["name"], g["auto_score"], g["max_score"]) for g in checks
            if g["auto_score"] != g["max_score"]]
    assert not lost, f"solution check cells below full marks: {lost}"
    assert all(g["auto_score"] is None and g["needs_manual_grade"] for g in written)


def test_unfilled_student_notebooks_score_zero(course):
    grades = _grades(course, "stubs")
    scored = [(nb, g["name"], g["auto_score"]) for nb, gs in grades.items() for g in gs
              if g["auto_score"] != 0]
    assert not scored, f"unfilled cells that scored: {scored}"
    assert sum(len(gs) for gs in grades.values()) == sum(
        len(gs) for gs in _grades(course, "solutions").values())


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.name for p in SOLUTIONS])
def test_solution_notebook_ran_without_error_and_passed_every_check(course, path):
    nb = _autograded(course, "solutions", path.name)
    assert not [i for i, c in enumerate(nb.cells) if _errors(c)]
    checks = [c for c in nb.cells if _is_check(c)]
    assert all("] PASSED" in _stdout(c) for c in checks), [_stdout(c) for c in checks]
    _gpu_cells_ran(nb, path.name)


@pytest.mark.parametrize("path", STUDENT, ids=[p.name for p in STUDENT])
def test_student_notebook_fails_only_in_its_checks_saying_not_implemented(course, path):
    nb = _autograded(course, "stubs", path.name)
    for i, cell in enumerate(nb.cells):
        if _is_check(cell):
            errors = _errors(cell)
            assert len(errors) == 1 and errors[0]["ename"] == "NotImplementedError", i
            assert "NOT IMPLEMENTED YET" in _stdout(cell), i
        else:
            assert not _errors(cell), (i, cell.source[:200], _errors(cell))
    _gpu_cells_ran(nb, path.name)
