"""Dense-CRF figures: the mean-field iterations (Fig. 5), before/after (Fig. 6), trimap (Fig. 10),
and naive vs lattice filtering (time and agreement).
"""
import numpy as np

from ...data.palette import colorize
from ...data.synthetic import CLASS_NAMES
from ...metrics import boundary_band
from .common import caption, class_legend, new_figure, style_axes

__all__ = ["fig5_meanfield", "fig6_before_after", "fig10_trimap", "fig_naive_vs_lattice"]

OUTSIDE_BAND = 40      # grey level of the pixels outside a trimap band (Fig. 10)


def fig5_meanfield(image, history, label_index, *, steps=(0, 1, 2, 3, 5, 10),
                   class_name=None):
    """Score maps (row 1) and belief maps (row 2) of one class after mean-field iterations.

    Parameters
    ----------
    image : (H, W, 3) uint8
    history : :class:`minideeplab.crf.MeanFieldHistory` (``dense_crf(..., return_history=True)``);
        ``scores[t]`` and ``Q[t]`` are (L, H, W) after t iterations, t = 0 the DCNN output
    label_index : the class whose maps are shown (the paper shows "Aeroplane")
    """
    steps = [t for t in steps if t < len(history.Q)]
    cols = len(steps) + 1
    fig = new_figure(1.9 * cols, 4.2, suptitle="Fig. 5: score map (before softmax) and belief "
                     f"map (after softmax) for '{class_name or label_index}' after each "
                     "mean-field iteration")
    ax = fig.add_subplot(2, cols, 1)
    ax.imshow(image)
    ax.set_axis_off()
    style_axes(ax, title="image")
    scores = [np.asarray(history.scores[t][label_index]) for t in steps]
    lo, hi = min(s.min() for s in scores), max(s.max() for s in scores)
    tops, bottoms = [], []
    for k, t in enumerate(steps):
        top = fig.add_subplot(2, cols, k + 2)
        im_top = top.imshow(scores[k], cmap="jet", vmin=lo, vmax=hi)
        style_axes(top, title="DCNN output" if t == 0 else f"iteration {t}")
        bottom = fig.add_subplot(2, cols, cols + k + 2)
        im_bottom = bottom.imshow(np.asarray(history.Q[t][label_index]), cmap="jet", vmin=0,
                                  vmax=1)
        for a in (top, bottom):
            a.set_xticks([])
            a.set_yticks([])
        tops.append(top)
        bottoms.append(bottom)
    tops[0].set_ylabel("score map\n(before softmax)", fontsize=8)
    bottoms[0].set_ylabel("belief map\n(after softmax)", fontsize=8)
    fig.colorbar(im_top, ax=tops, shrink=0.8, label="score")
    fig.colorbar(im_bottom, ax=bottoms, shrink=0.8, label="belief")
    fig.add_subplot(2, cols, cols + 1).set_axis_off()
    caption(fig, "The DCNN's scores are smooth and blobby; a few mean-field iterations of the "
                 "fully connected CRF move the belief onto the colour edges near them, but keep "
                 "a confident mistake of the DCNN larger than the kernels' reach, such as a "
                 "filled hole.")
    return fig


def fig6_before_after(images, labels, before, after, *, max_images=4,
                      title="synthetic val images", class_names=CLASS_NAMES):
    """Image, ground truth, DeepLab before the CRF, after the CRF (paper Fig. 6), with a legend
    of the classes drawn.

    ``labels`` may be None (photos without ground truth): the column is left out.
    ``class_names``: the synthetic shapes' by default; VOC's for photos.
    """
    n = min(len(images), max_images)
    cols = 3 if labels is None else 4
    fig = new_figure(1.9 * cols, 1.9 * n + 0.5,
                     suptitle=f"Fig. 6: DeepLab results before / after CRF ({title})")
    names = ("image",) + (() if labels is None else ("ground truth",)) + ("DCNN output",
                                                                          "after CRF")
    drawn = [m[i] for m in ((before, after) if labels is None else (labels, before, after))
             for i in range(n)]
    class_legend(fig, drawn, class_names)
    for i in range(n):
        panels = ((images[i],) + (() if labels is None else (colorize(labels[i]),))
                  + (colorize(before[i]), colorize(after[i])))
        for j, panel in enumerate(panels):
            ax = fig.add_subplot(n, cols, cols * i + j + 1)
            ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                style_axes(ax, title=names[j])
    return fig


def fig10_trimap(image, label, results, *, example_widths=(1, 4), class_names=CLASS_NAMES):
    """(a) trimap examples: bands of two widths; (b) mean IOU (and pixel accuracy) vs width.

    Parameters
    ----------
    image, label : one example (H, W, 3) uint8 and (H, W)
    results : dict curve name (e.g. "before CRF") -> :class:`minideeplab.metrics.TrimapResult`
    class_names : names for the legend of the label maps (the synthetic shapes' by default)
    """
    fig = new_figure(11.5, 3.3, suptitle="Fig. 10: accuracy in a band around object boundaries")
    grid = fig.add_gridspec(1, 2 + len(example_widths) + 2)
    panels = [(image, "image"), (colorize(label), "ground truth")]
    for w in example_widths:
        band = np.asarray(boundary_band(label, w))
        shown = np.where(band[..., None], colorize(label), OUTSIDE_BAND).astype(np.uint8)
        panels.append((shown, f"trimap of {w} px"))
    for k, (panel, title) in enumerate(panels):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(panel, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        style_axes(ax, title="(a) " + title if k == 0 else title)
    class_legend(fig, [label], class_names,
                 extra=[("outside the band", (OUTSIDE_BAND / 255.0,) * 3)])
    ax = fig.add_subplot(grid[0, len(panels):])
    for name, r in results.items():
        ax.plot(r.widths, 100 * r.mean_iou, "o-", ms=3, label=f"{name}: mean IOU")
        ax.plot(r.widths, 100 * r.pixel_accuracy, "s--", ms=3, alpha=0.6,
                label=f"{name}: pixel acc.")
    style_axes(ax, "(b) accuracy vs trimap width", "trimap width (pixels)", "%")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def fig_naive_vs_lattice(comparisons):
    """Time of one dense_crf call vs pixels (log-log), and the labels' agreement, per method.

    Parameters
    ----------
    comparisons : list of :class:`minideeplab.crf.MethodComparison` (one per image size)
    """
    n = np.array([c.pixels for c in comparisons], dtype=np.float64)
    fig = new_figure(9.0, 3.4, suptitle="Dense CRF: exact O(N^2) filtering vs the permutohedral "
                                        "lattice")
    ax = fig.add_subplot(1, 2, 1)
    for name, key, marker in (("naive (exact)", "naive_seconds", "o-"),
                              ("lattice", "lattice_seconds", "s-")):
        ax.loglog(n, [getattr(c, key) for c in comparisons], marker, ms=4, label=name)
    style_axes(ax, "time of one CRF (10 iterations)", "pixels N = H x W", "seconds")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax = fig.add_subplot(1, 2, 2)
    agreement = [100 * c.agreement for c in comparisons]
    ax.semilogx(n, agreement, "o-", ms=4, color="#2ca02c")
    for x, y, c in zip(n, agreement, comparisons):
        ax.annotate(f"max |dQ| {c.max_abs_diff:.0e}", (x, y), textcoords="offset points",
                    xytext=(0, -14), ha="center", fontsize=7)
    style_axes(ax, "lattice vs naive: pixels with the same label", "pixels N = H x W", "%")
    ax.set_ylim(min(95.0, min(agreement) - 1), 100.5)
    ax.margins(x=0.15)
    ax.grid(alpha=0.3, which="both")
    return fig
