"""DeepLab in one picture (Fig. 1): the image, the DCNN's stride-8 labels, the labels after
bilinear upsampling, after the CRF; and samples of the synthetic shapes. Every label map has a
class legend."""
import numpy as np

from ...data.palette import colorize
from .common import class_legend, new_figure, style_axes

__all__ = ["fig_pipeline", "fig_label_samples"]


def fig_pipeline(result, class_names, title="DeepLab in one picture (Fig. 1)"):
    """Four panels: the image, the DCNN's argmax at output stride 8 (drawn over the image's
    extent), the argmax after bilinear upsampling by 8, after the fully connected CRF."""
    H, W = result.image.shape[:2]
    coarse = result.logits.argmax(axis=0)
    maps = [coarse, result.probs.argmax(axis=0), result.crf.argmax(axis=0)]
    fig = new_figure(13, 3.6, suptitle=title)
    axes = fig.subplots(1, 4)
    axes[0].imshow(result.image)
    style_axes(axes[0], f"input {H}x{W}")
    h, w = coarse.shape
    titles = [f"DCNN scores, argmax ({h}x{w})", "bilinear x8, argmax", "fully connected CRF"]
    for ax, m, t in zip(axes[1:], maps, titles):
        ax.imshow(colorize(m.astype(np.uint8)), extent=(0, W, H, 0), interpolation="nearest")
        style_axes(ax, t)
    class_legend(fig, maps, class_names)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def fig_label_samples(images, labels, class_names, title="The synthetic shapes"):
    """Images over their label maps, one column each, with a class legend."""
    n = len(images)
    fig = new_figure(2.3 * n + 1.2, 4.6, suptitle=title)
    axes = fig.subplots(2, n, squeeze=False)
    for k, (im, lab) in enumerate(zip(images, labels)):
        axes[0, k].imshow(im)
        axes[1, k].imshow(colorize(lab), interpolation="nearest")
        for ax in axes[:, k]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("image")
    axes[1, 0].set_ylabel("label")
    class_legend(fig, labels, class_names)
    return fig
