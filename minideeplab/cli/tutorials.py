"""``python -m minideeplab tutorials [NAME ...]``: execute the tutorial notebooks.

Runs tutorials/*.ipynb top to bottom in a fresh kernel each (or only the notebooks named, by
number such as ``03`` or by file name) and saves their outputs in place: the committed
notebooks are executed this way, in full mode, so that they read well on a web page.
``--quick --check`` runs them in quick mode (``MINIDEEPLAB_QUICK=1``) without saving, as the
tests do. Needs the ``test`` extra (nbclient, nbformat, ipykernel). Exits with status 1 when a
notebook fails, after running the others.
"""
import sys

from .arguments import positive_int


def add_parser(sub):
    p = sub.add_parser("tutorials", help="execute the tutorial notebooks (saving their outputs)",
                       description=__doc__)
    p.add_argument("names", nargs="*", help="notebooks by number (01) or file name")
    p.add_argument("--quick", action="store_true", help="small runs (MINIDEEPLAB_QUICK=1)")
    p.add_argument("--check", action="store_true", help="run only; do not save the outputs")
    p.add_argument("--timeout", type=positive_int, default=600,
                   help="seconds per cell (default 600)")
    return p


def run(args):
    from ..paper.tutorials import run_notebooks
    failed = []
    for path, seconds, error in run_notebooks(args.names, quick=args.quick, check=args.check,
                                              timeout=args.timeout):
        if error is None:
            print(f"{path.name:45s} {seconds:6.1f} s")
        else:
            failed.append(path.name)
            print(f"{path.name:45s} FAILED: {type(error).__name__}: {error}", file=sys.stderr)
    return 1 if failed else 0
