"""Training figures: learning curves (Tables 2 and 3 in miniature), predictions (Fig. 8), the
learning-rate schedules and the data augmentation (Sec. 4.1).

All functions take the ``history`` dicts of :meth:`minideeplab.train.Trainer.run` (lists
``iteration``, ``loss``, ``lr``, ``time`` and ``val``, a list of dicts with ``iteration``,
``time``, ``mean_iou``, ``pixel_accuracy``).
"""
import numpy as np

from ...data.augment import augment, shrink_label
from ...data.palette import colorize
from ...data.synthetic import CLASS_NAMES
from ...optim import poly_lr, step_lr
from .common import SUBIMAGE_COLORS, caption, class_legend, new_figure, style_axes

__all__ = ["fig_training_curves", "fig_predictions", "smooth", "fig_lr_schedules",
           "fig_augmentation"]


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
                    suptitle="Predictions on val images", class_names=CLASS_NAMES):
    """A grid: image, ground truth, then one column per method's predicted labels, with a
    legend of the classes drawn.

    Parameters
    ----------
    images : (n, H, W, 3) uint8
    labels : (n, H, W) ground truth
    predictions : dict method name -> (n, H, W) predicted labels
    class_names : names of the label values (the synthetic shapes' by default)
    """
    n = min(len(images), max_images)
    cols = 2 + len(predictions)
    fig = new_figure(1.9 * cols, 1.9 * n + 0.5, suptitle=suptitle)
    names = ["image", "ground truth"] + list(predictions)
    class_legend(fig, [m[i] for m in [labels, *predictions.values()] for i in range(n)],
                 class_names)
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


def fig_lr_schedules(base_lr, max_iter, *, power=0.9, step_size=None, gamma=0.1):
    """The "poly" and "step" learning rates of iterations 0 .. max_iter - 1 (Sec. 4.1, Table 2).

    Pure functions of the iteration (:func:`minideeplab.optim.poly_lr`, :func:`step_lr`);
    ``step_size`` defaults to ``max_iter // 3``.

    Returns
    -------
    fig, lrs: dict "poly" / "step" -> (max_iter,) float64 learning rates
    """
    step_size = max(1, max_iter // 3) if step_size is None else step_size
    it = np.arange(max_iter)
    lrs = {"poly": np.array([poly_lr(base_lr, int(i), max_iter, power) for i in it]),
           "step": np.array([step_lr(base_lr, int(i), step_size, gamma) for i in it])}
    fig = new_figure(6.4, 3.4, suptitle="Learning-rate policies (Caffe's lr_policy)")
    ax = fig.add_subplot(1, 1, 1)
    labels = {"poly": f"poly: base (1 - it/{max_iter})^{power:g}",
              "step": f"step: base x {gamma:g}^(it // {step_size})"}
    for color, (name, lr) in zip(SUBIMAGE_COLORS, lrs.items()):
        ax.plot(it, lr, color=color, lw=1.5, label=labels[name],
                drawstyle="steps-post" if name == "step" else "default")
    style_axes(ax, None, "iteration", "learning rate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig, lrs


def fig_augmentation(image, label, *, n=4, seed=0, crop_size=None, scale_range=(0.5, 1.5),
                     mirror=True, stride=8, class_names=CLASS_NAMES):
    """One training image and ``n`` random augmentations of it, with their stride-8 targets.

    Rows: images, labels (white: 255, the padding that no loss counts), and the labels the
    loss sees at the score map's resolution, ``label[8i, 8j]``
    (:func:`minideeplab.data.augment.shrink_label`).

    Parameters
    ----------
    image : (H, W, 3) uint8
    label : (H, W) integer
    n, seed : how many augmentations, drawn from ``numpy.random.default_rng(seed)``
    crop_size, scale_range, mirror : as :func:`minideeplab.data.augment.augment`
    class_names : names for the legend of the label maps (the synthetic shapes' by default)

    Returns
    -------
    fig, samples: list of n + 1 (image, label, shrunk label) triples, the original first
    """
    rng = np.random.default_rng(seed)
    samples = [(image, label, shrink_label(label, stride))]
    for _ in range(n):
        im, lb = augment(image, label, rng, crop_size=crop_size, scale_range=scale_range,
                         mirror=mirror)
        samples.append((im, lb, shrink_label(lb, stride)))
    cols = len(samples)
    fig = new_figure(1.9 * cols, 6.2, suptitle="Training augmentation (Sec. 4.1): scale, "
                                               "mirror, pad, crop")
    class_legend(fig, [s[k] for s in samples for k in (1, 2)], class_names)
    for j, (im, lb, small) in enumerate(samples):
        for i, (panel, name) in enumerate(((im, "image"), (colorize(lb), "label"),
                                           (colorize(small), f"label at stride {stride}"))):
            ax = fig.add_subplot(3, cols, i * cols + j + 1)
            ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            title = ("original" if j == 0 else f"sample {j}") + (f": {name}" if i else "")
            style_axes(ax, title=title if i == 0 or j == 0 else
                       f"{panel.shape[0]}x{panel.shape[1]}")
    caption(fig, f"Bottom row: what the loss compares the {stride}x smaller score map with "
                 f"(nearest sampling, label[{stride}i, {stride}j]).")
    return fig, samples
