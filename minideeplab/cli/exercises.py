"""``python -m minideeplab exercises``: write the student versions of the tutorials.

Each tutorial with exercises is the source (solutions between ``### BEGIN SOLUTION`` and
``### END SOLUTION``, nbgrader's convention); its student version has the solutions replaced
by stubs that raise NotImplementedError, the written answers by "YOUR ANSWER HERE", and no
outputs (:mod:`minideeplab.paper.exercises.notebooks`). ``--check`` writes nothing and exits
with status 1 when a student version is missing or out of date.
"""


def add_parser(sub):
    p = sub.add_parser("exercises", help="write the student notebooks (solutions stubbed)",
                       description=__doc__)
    p.add_argument("src", nargs="?", default=None,
                   help="folder of the solution notebooks (default: the repository's tutorials/)")
    p.add_argument("out", nargs="?", default=None, help="output folder (default: SRC/student)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if a student version is stale")
    return p


def run(args):
    from pathlib import Path

    from ..paper.exercises import notebooks
    from ..paper.tutorials import tutorials_dir
    src = Path(args.src) if args.src else tutorials_dir()
    out = Path(args.out) if args.out else src / "student"
    if args.check:
        stale = notebooks.stale_student_notebooks(src, out)
        if stale:
            print(f"stale student notebooks in {out}: {', '.join(stale)}; run "
                  f"`python -m minideeplab exercises {src} {out}`")
            return 1
        print(f"student notebooks in {out} are up to date")
        return 0
    for path in notebooks.write_student_notebooks(src, out):
        print(f"wrote {path}")
    return 0
