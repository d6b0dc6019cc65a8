"""Student notebooks (nbgrader's convention): the generator strips what it must and nothing
else, the committed student versions match their sources, they run top to bottom with every
check saying "not implemented yet", and the solution notebooks pass every check.
"""
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

from minideeplab.cli import main as cli_main  # noqa: E402
from minideeplab.paper.exercises import notebooks  # noqa: E402
from minideeplab.paper.tutorials import execute_notebook  # noqa: E402
from test_notebooks import exercise_checks  # noqa: E402

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
STUDENT = TUTORIALS / "student"
STUDENT_NOTEBOOKS = sorted(STUDENT.glob("[0-9]*.ipynb"))
CELL_TIMEOUT = 300


SOLUTION = '''def f(x):
    """doc"""
    y = 1
    ### BEGIN SOLUTION
    return x + y
    ### END SOLUTION


check(f)'''


def test_strip_solutions_stubs_code_at_the_markers_indent_and_keeps_the_rest():
    out = notebooks.strip_solutions(SOLUTION, "code")
    assert "return x + y" not in out and "BEGIN" not in out and "END SOLUTION" not in out
    assert "    # YOUR CODE HERE\n    raise NotImplementedError()" in out
    assert out.startswith('def f(x):\n    """doc"""\n    y = 1\n') and out.endswith("check(f)")
    scope = {"check": lambda f: None}
    exec(out, scope)
    with pytest.raises(NotImplementedError):
        scope["f"](1)


def test_strip_solutions_blanks_written_answers():
    src = "**Q?**\n\n### BEGIN SOLUTION\nThe answer is 42.\nTwo lines.\n### END SOLUTION\nafter"
    assert notebooks.strip_solutions(src, "markdown") == "**Q?**\n\nYOUR ANSWER HERE\nafter"


@pytest.mark.parametrize("src, words", [
    ("def f():\n    ### BEGIN SOLUTION\n    pass\n", "without"),
    ("def f():\n    ### END SOLUTION\n", "without"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n", "inside another"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", "function body"),
])
def test_strip_solutions_refuses_bad_markers(src, words):
    with pytest.raises(ValueError, match=words):
        notebooks.strip_solutions(src, "code", "nb.ipynb, cell 3")


def test_student_notebook_clears_outputs_and_rewrites_links():
    nb = nbformat.v4.new_notebook()
    md = nbformat.v4.new_markdown_cell(
        "See [the code](../minideeplab/x.py), [next](02_b.ipynb), [far](08_c.ipynb), "
        "[web](https://example.org/a) and [here](#top).\n### BEGIN SOLUTION\nsecret\n"
        "### END SOLUTION")
    code = nbformat.v4.new_code_cell(SOLUTION)
    code.outputs = [nbformat.v4.new_output("stream", text="PASSED")]
    code.execution_count = 3
    nb.cells = [md, code]
    student = notebooks.student_notebook(nb, "01_a.ipynb", siblings={"02_b.ipynb"})
    text = student.cells[0].source
    assert "secret" not in text and "YOUR ANSWER HERE" in text
    assert "](../../minideeplab/x.py)" in text and "](02_b.ipynb)" in text
    assert "](../08_c.ipynb)" in text and "](https://example.org/a)" in text and "](#top)" in text
    assert student.cells[1].outputs == [] and student.cells[1].execution_count is None
    assert nb.cells[1].outputs and "secret" in nb.cells[0].source     # the source is untouched


def test_cli_writes_and_checks_student_versions(tmp_path, capsys):
    src = tmp_path / "tutorials"
    src.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# T"), nbformat.v4.new_code_cell(SOLUTION)]
    nbformat.write(nb, src / "01_t.ipynb")
    nbformat.write(nbformat.v4.new_notebook(), src / "02_no_exercises.ipynb")
    out = src / "student"
    assert cli_main(["exercises", str(src), str(out), "--check"]) == 1
    assert cli_main(["exercises", str(src), str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["01_t.ipynb"]
    assert cli_main(["exercises", str(src), str(out), "--check"]) == 0
    nb.cells[1].source = SOLUTION.replace("x + y", "x - y") + "\n# changed"
    nbformat.write(nb, src / "01_t.ipynb")
    assert cli_main(["exercises", str(src), str(out), "--check"]) == 1
    assert "01_t.ipynb" in capsys.readouterr().out


def test_committed_student_notebooks_match_their_sources():
    stale = notebooks.stale_student_notebooks(TUTORIALS, STUDENT)
    assert not stale, f"run `python -m minideeplab exercises` to regenerate {stale}"
    assert STUDENT_NOTEBOOKS


@pytest.mark.parametrize("path", STUDENT_NOTEBOOKS, ids=[p.name for p in STUDENT_NOTEBOOKS])
def test_student_notebook_runs_top_to_bottom_with_every_check_not_implemented(path):
    nb, _ = execute_notebook(path, quick=True, timeout=CELL_TIMEOUT, write=False)
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                if o.get("output_type") == "error"]
    statuses, calls = exercise_checks(nb)
    assert len(statuses) == calls and set(statuses) <= {"NOT IMPLEMENTED YET"}


@pytest.mark.parametrize("path", [TUTORIALS / p.name for p in STUDENT_NOTEBOOKS],
                         ids=[p.name for p in STUDENT_NOTEBOOKS])
def test_committed_solution_notebook_passes_every_check(path):
    nb = nbformat.read(path, as_version=4)
    statuses, calls = exercise_checks(nb)
    assert len(statuses) == calls and set(statuses) <= {"PASSED"}


def test_relative_links_of_the_tutorials_resolve():
    """Every relative markdown link of the notebooks (solution and student) and of
    tutorials/README.md points to a file or folder of the repository (library modules move)."""
    link = re.compile(r"\]\((?![a-z][a-z0-9+.-]*:|#)([^)\s]+)\)")
    pages = [(p, "\n".join(c.source for c in nbformat.read(p, as_version=4).cells
                            if c.cell_type == "markdown"))
             for p in sorted(TUTORIALS.glob("*.ipynb")) + STUDENT_NOTEBOOKS]
    pages.append((TUTORIALS / "README.md", (TUTORIALS / "README.md").read_text()))
    broken = [f"{p.relative_to(TUTORIALS.parent)}: {t}" for p, text in pages
              for t in link.findall(text) if not (p.parent / t.split("#")[0]).exists()]
    assert not broken, broken
    assert link.findall("[a](../x.py) [b](https://e.org) [c](#top)") == ["../x.py"]
