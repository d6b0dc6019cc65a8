"""The book: the code that reproduces the paper's figures and tables, and runs the tutorials.

The library (everything in :mod:`minideeplab` outside this package) never imports it; the
book uses the library as a reader would, and the command line uses both.

- :mod:`.variants`          the trained networks (Tables 2, 3; Figs. 5, 6, 8, 10) and their cache
- :mod:`.table2_table3`     Table 2 ("poly" vs "step") and Table 3 (LargeFOV vs ASPP) in miniature
- :mod:`.pipeline`          Fig. 1: DCNN scores, bilinear x8, fully connected CRF on one image
- :mod:`.backbone`          the ResNet backbone in miniature: output stride, cost, RF, MSC
- :mod:`.crf_experiments`   the CRF's cross-validation, Fig. 5, Figs. 6 and 10
- :mod:`.real_photos`       Figs. 5, 6 and 10 on real photos with torchvision's DeepLabV3
- :mod:`.shipped`, :mod:`.ship`   the trained networks shipped in networks/, and their export
- :mod:`.speed`             holes vs deinterlacing timed over rates; CPU vs GPU
- :mod:`.figures`           every picture of figures/ and the tutorials (drawing only)
- :mod:`.tables`            plain-text tables
- :mod:`.registry`          the reproduce jobs' registry (:func:`~.registry.job`)
- :mod:`.jobs`              the jobs, one module per topic
- :mod:`.reproduce`         the runner behind ``python -m minideeplab reproduce``
- :mod:`.tutorials`         executes tutorials/*.ipynb (``python -m minideeplab tutorials``)
- :mod:`.exercises`         the checks of the tutorials' coding exercises; the student notebooks

Quick mode (``$MINIDEEPLAB_QUICK=1``, :func:`quick_mode`) asks the notebooks for small, fast
runs; the test suite sets it.
"""
import os

__all__ = ["QUICK_ENV", "quick_mode", "notebook_setup"]

QUICK_ENV = "MINIDEEPLAB_QUICK"


def quick_mode():
    """True when ``$MINIDEEPLAB_QUICK`` is 1/true/yes/on: notebooks and tests shrink their work."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def notebook_setup(dpi=80):
    """The first cell of every tutorial: pictures at ``dpi`` in the page (figures/ PNGs are
    saved at :data:`~.figures.common.DPI`), one line naming the version and the mode, and
    :func:`quick_mode` returned (``QUICK = notebook_setup()``)."""
    import matplotlib
    from .. import __version__
    matplotlib.rcParams["figure.dpi"] = dpi
    quick = quick_mode()
    print(f"minideeplab {__version__}, quick mode: {quick}"
          + (" (the heavy cells run small)" if quick else ""))
    return quick
