"""Student notebooks from the solution notebooks, exactly as nbgrader makes them.

The tutorials are nbgrader *source* notebooks: every exercise cell carries nbgrader's cell
metadata (``cell.metadata["nbgrader"]``, schema version 3), so that ``nbgrader
generate_assignment`` with its default configuration turns them into the student versions in
``tutorials/student/``. The roles (nbgrader's names in brackets):

* the exercise's statement and the cells that compute the truth of a prediction: read-only
  (``locked``) [read-only];
* the function a student writes: a code cell with a solution region, ``### BEGIN SOLUTION`` ..
  ``### END SOLUTION`` inside the function body [autograded answer, ``solution``];
* the cell that runs its check: ``grade`` with ``points`` [autograder tests]; a check raises
  when the answer is wrong or missing, so nbgrader scores the cell 0 (:mod:`._core`);
* a written answer: a markdown cell with ``solution`` and ``grade`` and ``points`` [manually
  graded answer]; its region, or the whole cell, becomes ``YOUR ANSWER HERE``.

Each statement cell also carries ``cell.metadata["minideeplab"]``: the exercise's number,
kind, difficulty (1-3) and minutes, read by :func:`exercises_of` for the course's table.

:func:`student_notebook` applies what ``generate_assignment`` does to a notebook with nbgrader's
default configuration, in its order: lock the cells (``deletable``/``editable``), replace each
solution region by the stub (code: ``# YOUR CODE HERE`` / ``raise NotImplementedError()``,
indented like the marker; markdown: ``YOUR ANSWER HERE``; a solution cell without a region is
replaced whole), clear the outputs, and record each graded, solution or read-only cell's
checksum (nbgrader's ``compute_checksum``: MD5 of source, type, flags, grade id and points).
The result is byte for byte the file nbgrader writes (the test suite runs nbgrader to check).
It refuses, naming the cell, what nbgrader would refuse or silently break: a solution region
in a cell not marked as a solution, an unclosed or nested region, a code region outside a
function body (its stub would stop the notebook where the student has not written anything
yet), a graded cell without points, a duplicate grade id.

    python -m minideeplab exercises                      # tutorials/ -> tutorials/student/
    python -m minideeplab exercises --check              # exit 1 if a student version is stale
    python -m minideeplab exercises --table              # the exercises, points and labels
"""
import hashlib
import re
from pathlib import Path

from ...errors import FileFormatError
from ...fileio import atomic_write_text

__all__ = ["BEGIN", "END", "CODE_STUB", "ANSWER_STUB", "strip_solutions", "checksum",
           "student_notebook", "has_solutions", "write_student_notebooks",
           "stale_student_notebooks", "exercises_of", "exercise_table"]

BEGIN, END = "BEGIN SOLUTION", "END SOLUTION"     # nbgrader finds them anywhere in a line
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
ANSWER_STUB = "YOUR ANSWER HERE"
KINDS = ("code", "predict", "written")


def strip_solutions(source, kind, where="cell"):
    """``source`` with each solution region replaced by the stub of ``kind`` ("code" or
    "markdown"), as nbgrader's ClearSolutions does. Returns (new source, whether a region was
    found). Raises FileFormatError, naming ``where``, for an unclosed or nested region, or a
    code region not indented (at the top level its stub would stop the notebook)."""
    out, inside, found = [], False, False
    for number, line in enumerate(source.split("\n"), 1):
        if BEGIN in line:
            if inside:
                raise FileFormatError(f"{where}, line {number}: {BEGIN} inside another solution")
            inside = found = True
            indent = re.match(r"\s*", line).group(0)
            if kind == "code" and not indent:
                raise FileFormatError(f"{where}, line {number}: a code solution must be inside "
                                      "a function body (indented), so its stub raises only when "
                                      "the function is called")
            out.extend(indent + s for s in (CODE_STUB if kind == "code" else (ANSWER_STUB,)))
        elif END in line:
            if not inside:
                raise FileFormatError(f"{where}, line {number}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise FileFormatError(f"{where}: {BEGIN} without {END}")
    return "\n".join(out), found


def _flags(cell):
    meta = cell.metadata.get("nbgrader", {})
    solution, grade = bool(meta.get("solution")), bool(meta.get("grade"))
    locked = not solution and (grade or bool(meta.get("locked")))      # nbgrader's is_locked
    return solution, grade, locked


def checksum(cell):
    """nbgrader's checksum of a cell (``nbgrader.utils.compute_checksum``)."""
    solution, grade, locked = _flags(cell)
    meta = cell.metadata["nbgrader"]
    m = hashlib.md5()
    for part in (cell.source, cell.cell_type, str(grade), str(solution), str(locked),
                 meta["grade_id"]):
        m.update(part.encode("utf-8"))
    if grade:
        m.update(str(float(meta["points"])).encode("utf-8"))
    return m.hexdigest()


def _check_metadata(cell, where, ids):
    """What nbgrader's validator requires of a cell's nbgrader metadata, and a bit more."""
    meta = cell.metadata.get("nbgrader")
    if meta is None:
        return
    solution, grade, locked = _flags(cell)
    if not (solution or grade or locked):
        return
    grade_id = meta.get("grade_id")
    if not grade_id:
        raise FileFormatError(f"{where}: an nbgrader cell needs a grade_id")
    if grade_id in ids:
        raise FileFormatError(f"{where}: grade_id {grade_id!r} is used twice")
    ids.add(grade_id)
    if grade and not meta.get("points", 0) > 0:
        raise FileFormatError(f"{where} ({grade_id}): a graded cell needs points > 0")
    if cell.cell_type == "markdown" and solution != grade:
        raise FileFormatError(f"{where} ({grade_id}): a written answer is both a solution and a "
                              "graded cell (nbgrader grades it by hand)")


def student_notebook(nb, name="notebook"):
    """A copy of ``nb`` as ``nbgrader generate_assignment`` releases it (see the module doc)."""
    import nbformat
    student = nbformat.reads(nbformat.writes(nb), as_version=4)      # a deep copy
    student.metadata.pop("celltoolbar", None)
    ids = set()
    for i, cell in enumerate(student.cells):
        where = f"{name}, cell {i}"
        _check_metadata(cell, where, ids)
        solution, grade, locked = _flags(cell)
        if solution or grade or locked:                               # LockCells
            cell.metadata["deletable"] = False
            if not solution:
                cell.metadata["editable"] = False
        kind = "code" if cell.cell_type == "code" else "markdown"     # ClearSolutions
        source, found = strip_solutions(cell.source, kind, where)
        if found and not solution:
            raise FileFormatError(f"{where}: a solution region in a cell not marked as a "
                                  "solution (nbgrader's metadata 'solution': true)")
        if solution and not found:
            source = "\n".join(CODE_STUB) if kind == "code" else ANSWER_STUB
        cell.source = source
        if cell.cell_type == "code":                                  # ClearOutput
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("collapsed", None)
            cell.metadata.pop("scrolled", None)
        if solution or grade or locked:                               # ComputeChecksums
            cell.metadata["nbgrader"]["checksum"] = checksum(cell)
            cell.metadata["nbgrader"]["cell_type"] = cell.cell_type
    return student


def has_solutions(nb):
    """True if any cell of the notebook is an nbgrader solution or graded cell, or has a
    solution region (which :func:`student_notebook` then refuses without the metadata)."""
    return any(_flags(c)[0] or _flags(c)[1] or BEGIN in c.source for c in nb.cells)


def _sources(src_dir):
    """[(path, notebook)] of the notebooks of ``src_dir`` that have exercises."""
    import nbformat
    found = []
    for path in sorted(Path(src_dir).glob("[0-9]*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if has_solutions(nb):
            found.append((path, nb))
    return found


def _students(src_dir):
    return [(path.name, student_notebook(nb, path.name)) for path, nb in _sources(src_dir)]


def _text(nb):
    """The file's text as nbgrader (nbconvert's NotebookExporter) writes it."""
    import nbformat
    return nbformat.writes(nb) + "\n"


def write_student_notebooks(src_dir, out_dir):
    """Write the student version of every notebook of ``src_dir`` that has exercises into
    ``out_dir`` (same file names); remove student versions whose source is gone. Returns the
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


def _grade_id_base(number):
    """The grade-id prefix of exercise ``number``: "3b.1" -> "ex3b_1"."""
    return "ex" + number.replace(".", "_")


def exercises_of(nb, name="notebook"):
    """The exercises of a notebook, in order: dicts with ``number``, ``kind``, ``difficulty``,
    ``minutes`` (from the statement cell's ``minideeplab`` metadata), ``points`` (the sum of
    the points of its graded cells, whose grade ids start with its prefix) and ``autograded``
    (the points of its check cells). Raises FileFormatError for labels out of range or an
    exercise without a graded cell."""
    found = []
    for i, cell in enumerate(nb.cells):
        label = cell.metadata.get("minideeplab")
        if label is None or "exercise" not in label:
            continue
        ex = dict(number=str(label["exercise"]), kind=label.get("kind"),
                  difficulty=label.get("difficulty"), minutes=label.get("minutes"))
        where = f"{name}, cell {i}, exercise {ex['number']}"
        if ex["kind"] not in KINDS or ex["difficulty"] not in (1, 2, 3) \
                or not (isinstance(ex["minutes"], int) and ex["minutes"] > 0):
            raise FileFormatError(f"{where}: needs kind in {KINDS}, difficulty 1-3 and minutes "
                                  f"> 0, got {label}")
        prefix = _grade_id_base(ex["number"]) + "_"
        graded = [c for c in nb.cells if _flags(c)[1]
                  and c.metadata["nbgrader"]["grade_id"].startswith(prefix)]
        if not graded:
            raise FileFormatError(f"{where}: no graded cell has a grade id starting {prefix!r}")
        ex["points"] = sum(c.metadata["nbgrader"]["points"] for c in graded)
        ex["autograded"] = sum(c.metadata["nbgrader"]["points"] for c in graded
                               if c.cell_type == "code")
        found.append(ex)
    return found


def exercise_table(src_dir):
    """The Markdown table of every exercise of the notebooks in ``src_dir`` (the one in
    ``tutorials/README.md``), with a total row."""
    rows = ["| notebook | exercise | kind | points | of which autograded | difficulty | minutes |",
            "| --- | --- | --- | ---: | ---: | :---: | ---: |"]
    points = auto = minutes = 0
    for path, nb in _sources(src_dir):
        for ex in exercises_of(nb, path.name):
            rows.append(f"| {path.name.split('_')[0]} | {ex['number']} | {ex['kind']} | "
                        f"{ex['points']} | {ex['autograded']} | {ex['difficulty']} | "
                        f"{ex['minutes']} |")
            points, auto, minutes = points + ex["points"], auto + ex["autograded"], \
                minutes + ex["minutes"]
    rows.append(f"| all | | | {points} | {auto} | | {minutes} |")
    return "\n".join(rows)
