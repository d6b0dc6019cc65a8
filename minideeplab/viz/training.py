"""Training figures: learning curves (Tables 2 and 3 in miniature) and predictions (Fig. 8).

All functions take the ``history`` dicts of :meth:`minideeplab.train.Trainer.run` (lists
``iteration``, ``loss``, ``lr``, ``time`` and ``val``, a list of dicts with ``iteration``,
``time``, ``mean_iou``, ``pixel_accuracy``).
"""
import numpy as np

from ..data.palette import colorize
from .common import SUBIMAGE_COLORS, new_figure, style_axes

__all__ = ["fig_training_curves", "fig_predictions", "smooth", "table_text"]


def smooth(values, window=25):
    """Running mean over ``window`` steps (the first values average what exists so far)."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    n = np.minimum(np.arange(1, len(v) + 1), window)
    return (c[1:] - c[np.arange(1, len(v) + 1) - n]) / n


def fig_training_curves(histories, *, title="Training on the synthetic shapes", show_lr=True):
    """Loss, val mIoU and (optionally) the learning rate against iterations, one line per run.

    Parameters
    ----------
    histories : dict run name -> history dict
    """
    panels = 3 if show_lr else 2
    fig = new_figure(4.0 * panels, 3.4, suptitle=title)
    axes = [fig.add_subplot(1, panels, k + 1) for k in range(panels)]
    for color, (name, h) in zip(SUBIMAGE_COLORS, histories.items()):
        it = np.asarray(h["iteration"])
        axes[0].plot(it, smooth(h["loss"]), color=color, lw=1.2, label=name)
        val = h.get("val", [])
        axes[1].plot([v["iteration"] for v in val], [v["mean_iou"] for v in val], "o-",
                     color=color, ms=3, lw=1.2, label=name)
        if show_lr:
            axes[2].plot(it, h["lr"], color=color, lw=1.2, label=name)
    style_axes(axes[0], "training loss (running mean)", "iteration", "cross-entropy")
    style_axes(axes[1], "val mean IOU", "iteration", "mIoU")
    if show_lr:
        style_axes(axes[2], "learning rate", "iteration", "lr")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def fig_predictions(images, labels, predictions, *, titles=None, max_images=4,
                    suptitle="Predictions on val images"):
    """A grid: image, ground truth, then one column per method's predicted labels.

    Parameters
    ----------
    images : (n, H, W, 3) uint8
    labels : (n, H, W) ground truth
    predictions : dict method name -> (n, H, W) predicted labels
    """
    n = min(len(images), max_images)
    cols = 2 + len(predictions)
    fig = new_figure(1.9 * cols, 1.9 * n + 0.5, suptitle=suptitle)
    names = ["image", "ground truth"] + list(predictions)
    for i in range(n):
        panels = [images[i], colorize(labels[i])] + [colorize(p[i]) for p in
                                                     predictions.values()]
        for j, panel in enumerate(panels):
            ax = fig.add_subplot(n, cols, i * cols + j + 1)
            ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                style_axes(ax, title=names[j] if titles is None else titles[j])
    return fig


def table_text(rows, header):
    """Format rows (lists of values) as an aligned plain-text table with a header line."""
    cells = [header] + [[f"{v:.4f}" if isinstance(v, float) else str(v) for v in r]
                        for r in rows]
    widths = [max(len(r[k]) for r in cells) for k in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
