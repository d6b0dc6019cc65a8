"""``python -m minideeplab exercises``: write the student versions of the tutorials.

The tutorials are nbgrader source notebooks (cell metadata marks the solutions, the graded
cells and their points). This writes the student versions exactly as ``nbgrader
generate_assignment`` does with its default configuration, without needing nbgrader: the
solutions replaced by stubs that raise NotImplementedError, the written answers by "YOUR ANSWER
HERE", no outputs, the cells locked and checksummed for nbgrader's autograder
(:mod:`minideeplab.paper.exercises.notebooks`). ``--check`` writes nothing and exits with
status 1 when a student version is missing or out of date; ``--table`` prints every exercise
with its points, difficulty and minutes (the table of tutorials/README.md).
"""


def add_parser(sub):
    p = sub.add_parser("exercises", help="write the student notebooks (solutions stubbed)",
                       description=__doc__)
    p.add_argument("src", nargs="?", default=None,
                   help="folder of the solution notebooks (default: the repository's tutorials/)")
    p.add_argument("out", nargs="?", default=None, help="output folder (default: SRC/student)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 if a student version is stale")
    what.add_argument("--table", action="store_true",
                      help="write nothing; print the exercises as a Markdown table")
    return p


def run(args):
    from pathlib import Path

    from ..fileio import check_outputs_apart
    from ..paper.exercises import notebooks
    from ..paper.tutorials import tutorials_dir
    src = Path(args.src) if args.src else tutorials_dir()
    out = Path(args.out) if args.out else src / "student"
    if args.table:
        print(notebooks.exercise_table(src))
        return 0
    if args.check:
        stale = notebooks.stale_student_notebooks(src, out)
        if stale:
            print(f"stale student notebooks in {out}: {', '.join(stale)}; run "
                  f"`python -m minideeplab exercises {src} {out}`")
            return 1
        print(f"student notebooks in {out} are up to date")
        return 0
    check_outputs_apart({"OUT": out}, {"SRC": src})   # the same folder: solutions replaced
    for path in notebooks.write_student_notebooks(src, out):
        print(f"wrote {path}")
    return 0
