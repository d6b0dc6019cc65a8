"""What every figure shares: one style, one way to save, the sample photo as floats.

Every figure in ``figures/`` is a :class:`matplotlib.figure.Figure` built by a function of
:mod:`minideeplab.paper.figures`, without pyplot: no global figure state, nothing to close, no GUI
backend needed (``python -m minideeplab reproduce`` runs headless). A notebook displays the
returned figure (after ``%matplotlib inline``); the command line saves it with
:func:`save_figure`. Both call the same function, so both show the same picture.
"""
import os

import numpy as np
from matplotlib.figure import Figure

from ...data.photo import sample_photo
from ...fileio import atomic_write, atomic_write_text

__all__ = ["DPI", "STYLE", "new_figure", "save_figure", "save_text", "sample_image", "caption",
           "SUBIMAGE_COLORS"]

DPI = 120  # PNGs in figures/: sharp on a web page, small in git
STYLE = {  # applied to each figure's axes by new_figure (rcParams would be global state)
    "title_size": 10,
    "label_size": 9,
    "tick_size": 8,
}
# one colour per deinterlacing shift (a, b), also used for "sparse" vs "dense" highlights
SUBIMAGE_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                   "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def new_figure(width, height, *, suptitle=None, layout="constrained"):
    """A pyplot-free Figure of ``width`` x ``height`` inches (constrained layout by default)."""
    fig = Figure(figsize=(width, height), layout=layout)
    if suptitle:
        fig.suptitle(suptitle, fontsize=STYLE["title_size"] + 1)
    return fig


def style_axes(ax, title=None, xlabel=None, ylabel=None):
    """Title and axis labels in the house sizes; returns ``ax``."""
    if title is not None:
        ax.set_title(title, fontsize=STYLE["title_size"])
    if xlabel is not None:
        ax.set_xlabel(xlabel, fontsize=STYLE["label_size"])
    if ylabel is not None:
        ax.set_ylabel(ylabel, fontsize=STYLE["label_size"])
    ax.tick_params(labelsize=STYLE["tick_size"])
    return ax


def caption(fig, text):
    """Put a caption under the figure (the paper's caption, or what the figure checks).

    With constrained layout the caption is the figure's ``supxlabel`` (space is reserved for
    it); otherwise a text just below the axes.
    """
    if fig.get_layout_engine() is not None:
        fig.supxlabel(text, fontsize=STYLE["label_size"], style="italic", wrap=True)
    else:
        fig.text(0.5, 0.01, text, ha="center", va="bottom", fontsize=STYLE["label_size"],
                 wrap=True, style="italic")
    return fig


def save_figure(fig, path, *, dpi=DPI):
    """Write ``fig`` as a PNG (``dpi`` 120, tight bounding box, white background), atomically.

    Creates the parent folder if needed and returns the path written, as a string.
    """
    path = _parent_made(path)
    return atomic_write(path, lambda f: fig.savefig(
        f, format="png", dpi=dpi, bbox_inches="tight", facecolor="white",
        metadata={"Software": None}))  # no matplotlib version in the file: stable bytes


def save_text(path, text):
    """Write a table (text) atomically, creating the parent folder; returns the path."""
    return atomic_write_text(_parent_made(path), text)


def _parent_made(path):
    path = os.fspath(path)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    return path


def sample_image(gray=True, scale=1):
    """The sample photo (:func:`minideeplab.data.sample_photo`) as floats in [0, 1].

    Parameters
    ----------
    gray : bool, luminance (ITU-R 601 weights) instead of RGB
    scale : int >= 1, keep every ``scale``-th pixel (quick modes use 2)

    Returns
    -------
    (600 // scale, 512 // scale) float64 array, or (H, W, 3) with ``gray=False``
    """
    img = sample_photo().astype(np.float64)[::scale, ::scale] / 255.0
    if gray:
        img = img @ np.array([0.299, 0.587, 0.114])
    return np.ascontiguousarray(img)
