"""Student notebooks from the solution notebooks, by nbgrader's convention.

The tutorials are the *source* versions: a code cell marks the solution with lines
``### BEGIN SOLUTION`` and ``### END SOLUTION`` (inside a function body, so that the stub can
raise without stopping the notebook), a markdown cell marks a written answer the same way.
:func:`student_notebook` replaces every code solution with::

    # YOUR CODE HERE
    raise NotImplementedError()

(indented like the markers), every written answer with ``YOUR ANSWER HERE``, and clears all
outputs. The checks of :mod:`minideeplab.paper.exercises` then print "not implemented yet"
for the stubs, and the student notebook still runs top to bottom.

    python -m minideeplab exercises                      # tutorials/ -> tutorials/student/
    python -m minideeplab exercises --check              # exit 1 if a student version is stale
"""
import re
from pathlib import Path

from ...errors import FileFormatError
from ...fileio import atomic_write_text

__all__ = ["BEGIN", "END", "CODE_STUB", "ANSWER_STUB", "strip_solutions", "relink",
           "student_notebook",
           "has_solutions", "write_student_notebooks", "stale_student_notebooks"]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
ANSWER_STUB = "YOUR ANSWER HERE"


def strip_solutions(source, kind, where="cell"):
    """``source`` with each BEGIN/END SOLUTION region replaced by the stub of ``kind``
    ("code" or "markdown"). Raises ValueError, naming ``where``, for an unclosed or nested
    region, or a code region not indented (at the top level its stub would stop the
    notebook)."""
    out, inside, indent = [], False, ""
    for number, line in enumerate(source.split("\n"), 1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise FileFormatError(f"{where}, line {number}: {BEGIN} inside another solution")
            inside = True
            indent = re.match(r"\s*", line).group(0)
            if kind == "code" and not indent:
                raise FileFormatError(f"{where}, line {number}: a code solution must be inside a "
                                      "function body (indented), so its stub raises only when "
                                      "the function is called")
            out.extend(indent + s for s in CODE_STUB) if kind == "code" else out.append(
                ANSWER_STUB)
        elif marker == END:
            if not inside:
                raise FileFormatError(f"{where}, line {number}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise FileFormatError(f"{where}: {BEGIN} without {END}")
    return "\n".join(out)


def has_solutions(nb):
    """True if any cell of the notebook has a solution region."""
    return any(BEGIN in c.source for c in nb.cells)


_LINK = re.compile(r"\]\((?![a-z][a-z0-9+.-]*:|#|/)([^)\s]+)\)")


def relink(source, siblings):
    """Markdown links relative to the source folder, rewritten for a folder one level down:
    ``](x)`` becomes ``](../x)`` unless x is one of ``siblings`` (student versions that sit
    beside it). Absolute URLs and anchors are kept."""
    def fix(m):
        target = m.group(1)
        return m.group(0) if target.split("#")[0] in siblings else f"](../{target})"
    return _LINK.sub(fix, source)


def student_notebook(nb, name="notebook", siblings=None):
    """A copy of ``nb`` with the solutions stubbed and every output cleared.

    ``siblings``: with a set of file names, the markdown links are rewritten for a folder one
    level below the source's (:func:`relink`); None leaves them alone.
    """
    import nbformat
    student = nbformat.reads(nbformat.writes(nb), as_version=4)      # a deep copy
    for i, cell in enumerate(student.cells):
        if BEGIN in cell.source or END in cell.source:
            kind = "code" if cell.cell_type == "code" else "markdown"
            cell.source = strip_solutions(cell.source, kind, f"{name}, cell {i}")
        if siblings is not None and cell.cell_type == "markdown":
            cell.source = relink(cell.source, siblings)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
    return student


def _sources(src_dir):
    """[(path, notebook)] of the notebooks of ``src_dir`` that have solutions."""
    import nbformat
    found = []
    for path in sorted(Path(src_dir).glob("[0-9]*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if has_solutions(nb):
            found.append((path, nb))
    return found


def _students(src_dir):
    """[(file name, student notebook)]; links rewritten for src_dir/student/."""
    sources = _sources(src_dir)
    siblings = {path.name for path, _ in sources}
    return [(path.name, student_notebook(nb, path.name, siblings)) for path, nb in sources]


def _text(nb):
    import nbformat
    return nbformat.writes(nb) + "\n"


def write_student_notebooks(src_dir, out_dir):
    """Write the student version of every notebook of ``src_dir`` that has solutions into
    ``out_dir`` (same file names; ``out_dir`` is meant to be ``src_dir/student``, for which
    the links are rewritten); remove student versions whose source is gone. Returns the
    written paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, student in _students(src_dir):
        target = out_dir / name
        atomic_write_text(target, _text(student))
        written.append(target)
    for old in out_dir.glob("*.ipynb"):
        if old not in written:
            old.unlink()
    return written


def stale_student_notebooks(src_dir, out_dir):
    """File names whose student version in ``out_dir`` is missing, out of date, or has no
    source any more (empty when everything is in sync)."""
    out_dir = Path(out_dir)
    stale, expected = [], set()
    for name, student in _students(src_dir):
        expected.add(name)
        target = out_dir / name
        if not target.is_file() or target.read_text(encoding="utf-8") != _text(student):
            stale.append(name)
    stale += sorted(p.name for p in out_dir.glob("*.ipynb") if p.name not in expected)
    return stale
