"""Run the command line with every saved figure checked for overlapping texts.

``python reference_tests/text_collision_run.py REPORT ARGS...`` runs ``python -m minideeplab
ARGS...`` in this process with :func:`minideeplab.paper.figures.common.save_figure` wrapped
(in every module of the book that imported it): before each save,
:func:`~minideeplab.paper.figures.common.text_collisions` measures the figure at the
resolution of figures/ (120 dpi). REPORT gets one line ``checked<TAB>file`` per figure and one
line ``file<TAB>text a<TAB>text b<TAB>overlap`` per overlapping pair. test_reproduce.py runs
the quick reproduce through it and fails on any overlap.
"""
import os
import sys

import minideeplab.paper.reproduce  # noqa: F401  (imports every job, and with it save_figure)
from minideeplab.cli import main
from minideeplab.paper.figures import common


def wrap_save_figure(report):
    """Replace save_figure wherever the book imported it; returns the number of modules."""
    original = common.save_figure

    def save_figure(fig, path, *args, **kwargs):
        name = os.path.basename(os.fspath(path))
        found = common.text_collisions(fig)
        with open(report, "a", encoding="utf-8") as f:
            f.write(f"checked\t{name}\n")
            for a, b, (w, h) in found:
                f.write(f"{name}\t{a}\t{b}\t{w} x {h} px\n")
        return original(fig, path, *args, **kwargs)

    patched = 0
    for module in list(sys.modules.values()):
        if (getattr(module, "__name__", "").startswith("minideeplab")
                and getattr(module, "save_figure", None) is original):
            module.save_figure = save_figure
            patched += 1
    return patched


if __name__ == "__main__":
    wrap_save_figure(sys.argv[1])
    sys.exit(main(sys.argv[2:]))
