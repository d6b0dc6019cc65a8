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

from ... import backend
from ...data.palette import colorize
from ...data.photo import sample_photo
from ...errors import ArgumentError
from ...fileio import atomic_write, atomic_write_text

__all__ = ["DPI", "STYLE", "new_figure", "save_figure", "save_text", "sample_image", "caption",
           "SUBIMAGE_COLORS", "class_legend", "legend_classes", "text_collisions",
           "check_text_collisions"]

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


def legend_classes(labels, class_names, *, ignore_index=255, fn="legend_classes"):
    """The class indices present in the label maps ``labels``, sorted (``ignore_index`` last).

    Parameters
    ----------
    labels : iterable of integer arrays (any shapes; NumPy or CuPy), the maps a figure draws
    class_names : sequence of names, one per class index 0..L-1
    ignore_index : int or None, the "no label" value (VOC's 255), allowed beside the classes

    Raises
    ------
    ArgumentError, naming ``fn``, for a value that is neither a class of ``class_names`` nor
    ``ignore_index`` (a legend cannot name it), or for a non-integer map.
    """
    present = set()
    for k, lab in enumerate(labels):
        lab = np.asarray(backend.asnumpy(lab))
        if lab.dtype.kind not in "iub":
            raise ArgumentError(f"{fn}: label map {k} must hold integers, got dtype {lab.dtype} "
                                f"(shape {lab.shape})")
        present.update(int(v) for v in np.unique(lab))
    unknown = sorted(v for v in present if not 0 <= v < len(class_names) and v != ignore_index)
    if unknown:
        raise ArgumentError(f"{fn}: label map values {unknown} have no class name: class_names has "
                            f"{len(class_names)} names (0..{len(class_names) - 1})"
                            + (f" and {ignore_index} means ignored" if ignore_index is not None
                            else "") + "; pass the dataset's class names")
    classes = sorted(v for v in present if v != ignore_index)
    return classes + ([ignore_index] if ignore_index in present else [])


def class_legend(fig, labels, class_names, *, ignore_index=255, extra=(), title="classes"):
    """A legend naming the colour of every class present in the drawn label maps ``labels``.

    One patch per class present (in :func:`minideeplab.data.colorize`'s VOC palette, the colours
    the maps are drawn with), "ignored" for ``ignore_index`` (drawn white), then the ``extra``
    (name, colour) entries. It sits in the figure's right margin, outside every axes (a
    figure legend of the constrained layout, ``loc="outside right upper"``), so it never
    covers an image; with more than 12 entries it gets two columns.

    Parameters
    ----------
    fig : a Figure with constrained layout (:func:`new_figure`'s default)
    labels : iterable of integer label maps, those the figure draws
    class_names : names of the classes 0..L-1 (the synthetic shapes' ``CLASS_NAMES``, VOC's
        ``VOC_CLASS_NAMES``)
    ignore_index, extra, title : as above

    Returns
    -------
    matplotlib.legend.Legend

    Raises
    ------
    ValueError: a value without a name (:func:`legend_classes`), or a figure without
    constrained layout (the legend would be placed over the axes).
    """
    from matplotlib.layout_engine import ConstrainedLayoutEngine
    from matplotlib.patches import Patch
    if not isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine):
        raise ValueError("class_legend: fig must use constrained layout (new_figure's default), "
                         "which keeps the legend outside the axes")
    present = legend_classes(labels, class_names, ignore_index=ignore_index, fn="class_legend")
    colours = colorize(np.array([present], dtype=np.uint8), ignore_index=ignore_index)[0]
    entries = [(f"{class_names[k]}" if k != ignore_index else f"ignored ({k})", c / 255.0)
               for k, c in zip(present, colours)] + list(extra)
    handles = [Patch(facecolor=c, edgecolor="0.4", linewidth=0.5, label=name)
               for name, c in entries]
    return fig.legend(handles=handles, loc="outside right upper", fontsize=7, title=title,
                      title_fontsize=7, ncols=2 if len(handles) > 12 else 1,
                      handlelength=1.2, frameon=False)


def save_figure(fig, path, *, dpi=DPI, description=None):
    """Write ``fig`` as a PNG (``dpi`` 120, tight bounding box, white background), atomically.

    ``description``: text stored in the PNG's "Description" field (e.g. the machine a timing
    was measured on). Creates the parent folder if needed and returns the path written, as a
    string.
    """
    path = _parent_made(path)
    metadata = {"Software": None}   # no matplotlib version in the file: stable bytes
    if description:
        metadata["Description"] = description
    return atomic_write(path, lambda f: fig.savefig(
        f, format="png", dpi=dpi, bbox_inches="tight", facecolor="white", metadata=metadata))


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


# ------------------------------------------------------------------ text collisions
def _figure_texts(fig):
    """[(owner, kind, Text or Legend)] of every text a reader must be able to read."""
    items, sup = [], {}
    for name in ("_suptitle", "_supxlabel", "_supylabel"):       # Figure.get_suptitle() & co
        t = getattr(fig, name, None)                               # return strings, not Texts
        if t is not None:
            sup[id(t)] = name.strip("_")
    items += [(f"figure {sup.get(id(t), f'text {k}')}", sup.get(id(t), "text"), t)
              for k, t in enumerate(fig.texts)]
    items += [(f"figure legend {k}", "legend", lg) for k, lg in enumerate(fig.legends)]
    for k, ax in enumerate(fig.axes):
        owner = f"axes {k}" + (f" ({ax.get_title()!r})" if ax.get_title() else "")
        for t in (ax.title, ax._left_title, ax._right_title):
            items.append((owner, "title", t))
        for axis, letter in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            items.append((owner, f"{letter} label", axis.label))
            lo, hi = sorted(axis.get_view_interval())
            span = (hi - lo) or 1.0
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not lo - 1e-9 * span <= tick.get_loc() <= hi + 1e-9 * span:
                    continue                         # not drawn: outside the axes' limits
                for t in (tick.label1, tick.label2):
                    items.append((owner, f"{letter} tick label", t))
        items += [(owner, "text", t) for t in ax.texts]
        if ax.get_legend() is not None:
            items.append((owner, "legend", ax.get_legend()))
        if ax.axison:
            items.append((owner, "plot area", ax.patch))
    return items


def _visible(artist):
    if not artist.get_visible():
        return False
    text = getattr(artist, "get_text", None)
    return text is None or bool(text().strip())


def text_collisions(fig, *, dpi=DPI, pad=0.0):
    """Pairs of texts of ``fig`` that overlap when it is drawn at ``dpi``.

    Every title, figure title (suptitle, supxlabel, supylabel), axis label, tick label (of
    ticks inside the axes' limits), text and legend is measured in the drawn figure (its
    window extent, in pixels at ``dpi``: the resolution the PNGs of figures/ are saved at).
    The plot area of every axes with its frame on (images included) is measured too, so that
    a text spilling over a neighbouring plot counts. A pair collides when their boxes overlap
    by more than ``pad`` pixels and they belong to different owners: two axes (a colour bar is
    an axes), or an axes and the figure (a title under the suptitle, a figure legend over a
    plot), or two figure-level texts. Texts of one axes are not compared with each other (a
    legend inside its own plot is placed by matplotlib to avoid the data, not the ticks), nor
    plot areas with plot areas (adjacent plots may touch).

    Returns
    -------
    list of (description of text a, description of text b, overlap in pixels (w, h))
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    old_dpi, old_canvas = fig.dpi, fig.canvas
    canvas = FigureCanvasAgg(fig)
    try:
        fig.set_dpi(dpi)
        canvas.draw()                         # runs the layout engine, places every text
        renderer = canvas.get_renderer()
        boxes = []
        for owner, kind, artist in _figure_texts(fig):
            if not _visible(artist):
                continue
            bb = artist.get_window_extent(renderer)
            if bb.width <= 0 or bb.height <= 0:
                continue
            label = kind if kind in ("legend", "plot area") else f"{kind} {artist.get_text()!r}"
            boxes.append((owner, f"{owner}: {label}", bb))
    finally:
        fig.set_dpi(old_dpi)
        fig.set_canvas(old_canvas)
    found = []
    for i, (owner_a, a, bb_a) in enumerate(boxes):
        for owner_b, b, bb_b in boxes[i + 1:]:
            if owner_a == owner_b or (a.endswith("plot area") and b.endswith("plot area")):
                continue
            w = min(bb_a.x1, bb_b.x1) - max(bb_a.x0, bb_b.x0)
            h = min(bb_a.y1, bb_b.y1) - max(bb_a.y0, bb_b.y0)
            if w > pad and h > pad:
                found.append((a, b, (round(float(w), 1), round(float(h), 1))))
    return found


def check_text_collisions(fig, *, dpi=DPI, name="figure"):
    """Raise ValueError listing every pair of :func:`text_collisions` of ``fig`` (``name``
    says which figure); returns ``fig`` when no two texts overlap."""
    found = text_collisions(fig, dpi=dpi)
    if found:
        lines = "\n".join(f"  {a}  <->  {b}  (overlap {w} x {h} px)" for a, b, (w, h) in found)
        raise ValueError(f"check_text_collisions: {len(found)} overlapping text pair(s) in "
                         f"{name} at {dpi} dpi:\n{lines}")
    return fig
