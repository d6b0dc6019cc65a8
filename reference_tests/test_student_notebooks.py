"""Student notebooks (nbgrader's metadata): the generator stubs what it must and nothing else,
locks and checksums the cells as nbgrader does, refuses what nbgrader would refuse, the
committed student versions match their sources, the solution notebooks' committed outputs
pass every check, and the exercise table of tutorials/README.md is the notebooks' own.

That nbgrader itself writes the same files, and that the notebooks run, is test_nbgrader.py.
"""
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

from minideeplab.cli import main as cli_main  # noqa: E402
from minideeplab.errors import FileFormatError  # noqa: E402
from minideeplab.paper.exercises import notebooks  # noqa: E402
from test_notebooks import exercise_checks  # noqa: E402

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
STUDENT = TUTORIALS / "student"
STUDENT_NOTEBOOKS = sorted(STUDENT.glob("[0-9]*.ipynb"))


SOLUTION = '''def f(x):
    """doc"""
    y = 1
    ### BEGIN SOLUTION
    return x + y
    ### END SOLUTION'''


def _meta(grade_id, grade=False, solution=False, locked=False, points=None):
    m = dict(grade=grade, grade_id=grade_id, locked=locked, schema_version=3,
             solution=solution, task=False)
    if points is not None:
        m["points"] = points
    return {"nbgrader": m}


def _exercise_notebook():
    """A statement (read-only), a solution, its check (5 points), a written answer (2)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["celltoolbar"] = "Create Assignment"
    question = nbformat.v4.new_markdown_cell("**Exercise 9.1 (code).** Write f.",
                                             metadata=_meta("ex9_1_question", locked=True))
    question.metadata["minideeplab"] = dict(exercise="9.1", kind="code", difficulty=2,
                                            minutes=15)
    solution = nbformat.v4.new_code_cell(SOLUTION, metadata=_meta("ex9_1_solution",
                                                                  solution=True))
    solution.outputs = [nbformat.v4.new_output("stream", text="secret\n")]
    solution.execution_count = 3
    check = nbformat.v4.new_code_cell("check(f)", metadata=_meta("ex9_1_check", grade=True,
                                                                 locked=True, points=5))
    check.metadata["scrolled"] = True
    written = nbformat.v4.new_markdown_cell("**Q?**", metadata=_meta("ex9_2_question",
                                                                     locked=True))
    written.metadata["minideeplab"] = dict(exercise="9.2", kind="written", difficulty=1,
                                           minutes=5)
    answer = nbformat.v4.new_markdown_cell(
        "**Your answer.**\n\n### BEGIN SOLUTION\nThe answer is 42.\n### END SOLUTION",
        metadata=_meta("ex9_2_answer", grade=True, solution=True, points=2))
    nb.cells = [nbformat.v4.new_markdown_cell("# T"), question, solution, check, written,
                answer]
    return nb


def test_strip_solutions_stubs_code_at_the_markers_indent_and_keeps_the_rest():
    out, found = notebooks.strip_solutions(SOLUTION + "\n\n\ncheck(f)", "code")
    assert found and "return x + y" not in out and "SOLUTION" not in out
    assert "    # YOUR CODE HERE\n    raise NotImplementedError()" in out
    assert out.startswith('def f(x):\n    """doc"""\n    y = 1\n') and out.endswith("check(f)")
    scope = {"check": lambda f: None}
    exec(out, scope)
    with pytest.raises(NotImplementedError):
        scope["f"](1)
    assert notebooks.strip_solutions("x = 1", "code") == ("x = 1", False)


def test_strip_solutions_blanks_written_answers():
    src = "**Q?**\n\n### BEGIN SOLUTION\nThe answer is 42.\nTwo lines.\n### END SOLUTION\nafter"
    assert notebooks.strip_solutions(src, "markdown") == ("**Q?**\n\nYOUR ANSWER HERE\nafter",
                                                          True)


@pytest.mark.parametrize("src, words", [
    ("def f():\n    ### BEGIN SOLUTION\n    pass\n", "without"),
    ("def f():\n    ### END SOLUTION\n", "without"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n", "inside another"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", "function body"),
])
def test_strip_solutions_refuses_bad_markers(src, words):
    with pytest.raises(FileFormatError, match=words):
        notebooks.strip_solutions(src, "code", "nb.ipynb, cell 3")


def test_student_notebook_stubs_locks_and_clears_as_nbgrader_does():
    nb = _exercise_notebook()
    student = notebooks.student_notebook(nb, "09_t.ipynb")
    title, question, solution, check, written, answer = student.cells
    assert solution.source == ('def f(x):\n    """doc"""\n    y = 1\n    # YOUR CODE HERE\n'
                               '    raise NotImplementedError()')
    assert answer.source == "**Your answer.**\n\nYOUR ANSWER HERE"
    assert solution.outputs == [] and solution.execution_count is None
    assert "scrolled" not in check.metadata and "celltoolbar" not in student.metadata
    # nbgrader's LockCells: solutions cannot be deleted, checks and read-only cells not edited
    assert (solution.metadata["deletable"], answer.metadata["deletable"]) == (False, False)
    assert "editable" not in solution.metadata and "editable" not in answer.metadata
    for cell in (question, check, written):
        assert cell.metadata["deletable"] is False and cell.metadata["editable"] is False
    assert "deletable" not in title.metadata and "nbgrader" not in title.metadata
    assert nb.cells[2].outputs and "42" in nb.cells[5].source       # the source is untouched


def test_checksums_are_nbgraders():
    """The oracle: nbgrader's own compute_checksum on the same cells."""
    utils = pytest.importorskip("nbgrader.utils")
    student = notebooks.student_notebook(_exercise_notebook(), "09_t.ipynb")
    cells = [c for c in student.cells if "nbgrader" in c.metadata]
    assert len(cells) == 5
    for cell in cells:
        assert cell.metadata["nbgrader"]["checksum"] == utils.compute_checksum(cell)
        assert cell.metadata["nbgrader"]["cell_type"] == cell.cell_type


@pytest.mark.parametrize("change, words", [
    (lambda nb: nb.cells[2].metadata["nbgrader"].update(solution=False), "not marked"),
    (lambda nb: nb.cells[3].metadata["nbgrader"].pop("points"), "points > 0"),
    (lambda nb: nb.cells[5].metadata["nbgrader"].update(grade=False), "written answer"),
    (lambda nb: nb.cells[4].metadata["nbgrader"].update(grade_id="ex9_1_check"), "used twice"),
    (lambda nb: nb.cells[1].metadata["nbgrader"].update(grade_id=""), "grade_id"),
])
def test_student_notebook_refuses_what_nbgrader_would_refuse(change, words):
    nb = _exercise_notebook()
    change(nb)
    with pytest.raises(FileFormatError, match=words):
        notebooks.student_notebook(nb, "09_t.ipynb")


def test_a_solution_region_without_metadata_is_refused_not_skipped(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SOLUTION)]
    nbformat.write(nb, tmp_path / "01_t.ipynb")
    with pytest.raises(FileFormatError, match="not marked as a solution"):
        notebooks.write_student_notebooks(tmp_path, tmp_path / "student")


def test_exercises_of_reads_labels_and_points():
    assert notebooks.exercises_of(_exercise_notebook()) == [
        dict(number="9.1", kind="code", difficulty=2, minutes=15, points=5, autograded=5),
        dict(number="9.2", kind="written", difficulty=1, minutes=5, points=2, autograded=0)]
    nb = _exercise_notebook()
    nb.cells[1].metadata["minideeplab"]["difficulty"] = 4
    with pytest.raises(FileFormatError, match="difficulty 1-3"):
        notebooks.exercises_of(nb)
    nb = _exercise_notebook()
    nb.cells[3].metadata["nbgrader"]["grade_id"] = "other_check"
    with pytest.raises(FileFormatError, match="no graded cell"):
        notebooks.exercises_of(nb)


def test_cli_writes_and_checks_student_versions(tmp_path, capsys):
    src = tmp_path / "tutorials"
    src.mkdir()
    nb = _exercise_notebook()
    nbformat.write(nb, src / "01_t.ipynb")
    nbformat.write(nbformat.v4.new_notebook(), src / "02_no_exercises.ipynb")
    out = src / "student"
    assert cli_main(["exercises", str(src), str(out), "--check"]) == 1
    assert cli_main(["exercises", str(src), str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["01_t.ipynb"]
    assert cli_main(["exercises", str(src), str(out), "--check"]) == 0
    nb.cells[2].source = SOLUTION.replace("x + y", "x - y") + "\n# changed"
    nbformat.write(nb, src / "01_t.ipynb")
    assert cli_main(["exercises", str(src), str(out), "--check"]) == 1
    assert "01_t.ipynb" in capsys.readouterr().out
    assert cli_main(["exercises", str(src), "--table"]) == 0
    assert "| 01 | 9.1 | code | 5 | 5 | 2 | 15 |" in capsys.readouterr().out


def test_committed_student_notebooks_match_their_sources():
    stale = notebooks.stale_student_notebooks(TUTORIALS, STUDENT)
    assert not stale, f"run `python -m minideeplab exercises` to regenerate {stale}"
    assert STUDENT_NOTEBOOKS


@pytest.mark.parametrize("path", [TUTORIALS / p.name for p in STUDENT_NOTEBOOKS],
                         ids=[p.name for p in STUDENT_NOTEBOOKS])
def test_committed_solution_notebook_passes_every_check(path):
    nb = nbformat.read(path, as_version=4)
    statuses, calls = exercise_checks(nb)
    assert len(statuses) == calls and set(statuses) <= {"PASSED"}


def test_the_readme_table_is_the_notebooks_own():
    """tutorials/README.md's exercise table is `python -m minideeplab exercises --table`:
    points, difficulty and minutes cannot drift from the notebooks' metadata."""
    table = notebooks.exercise_table(TUTORIALS)
    assert table in (TUTORIALS / "README.md").read_text(), \
        "paste `python -m minideeplab exercises --table` into tutorials/README.md"
    assert "| 08 | 8.1 |" in table


def test_relative_links_of_the_tutorials_resolve():
    """Every relative markdown link of the notebooks (solution and student) and of
    tutorials/README.md points to a file or folder of the repository; the notebooks link only
    to notebooks (the student versions are nbgrader's files as they are, one folder down)."""
    import re
    link = re.compile(r"\]\((?![a-z][a-z0-9+.-]*:|#)([^)\s]+)\)")
    pages = [(p, "\n".join(c.source for c in nbformat.read(p, as_version=4).cells
                            if c.cell_type == "markdown"))
             for p in sorted(TUTORIALS.glob("*.ipynb")) + STUDENT_NOTEBOOKS]
    outside = [(p.name, t) for p, text in pages for t in link.findall(text)
               if not t.split("#")[0].endswith(".ipynb") or "/" in t]
    assert not outside, outside
    pages.append((TUTORIALS / "README.md", (TUTORIALS / "README.md").read_text()))
    broken = [f"{p.relative_to(TUTORIALS.parent)}: {t}" for p, text in pages
              for t in link.findall(text) if not (p.parent / t.split("#")[0]).exists()]
    assert not broken, broken
    assert link.findall("[a](../x.py) [b](https://e.org) [c](#top)") == ["../x.py"]


def test_every_written_answer_has_a_rubric_with_its_points():
    """tutorials/INSTRUCTORS.md has one rubric row per answer graded by hand, with the points
    of its cell."""
    import re
    graded = set()
    for path in sorted(TUTORIALS.glob("[0-9]*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and cell.cell_type == "markdown":
                graded.add((meta["grade_id"], meta["points"]))
    guide = (TUTORIALS / "INSTRUCTORS.md").read_text()
    rows = re.findall(r"^\| (\S+) \((?:predict|written)\) \| (\d+) \|", guide, re.M)
    assert len(graded) >= 24
    assert {(notebooks._grade_id_base(n) + "_answer", int(p)) for n, p in rows} == graded
