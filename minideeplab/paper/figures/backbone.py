"""The ResNet backbone's pictures: feature maps at output stride 32, 16 and 8; the scale that
wins the max of multi-scale inputs (DeepLab v2 Sec. 4.1, v3 Sec. 3.1)."""
import numpy as np

from .common import new_figure, style_axes

__all__ = ["fig_output_stride_maps", "fig_msc_winners"]


def fig_output_stride_maps(image, features):
    """The input crop and, per output stride, one feature channel of the trunk's output
    (the one with the largest spread at output stride 8), drawn over the same extent so
    that each cell covers ``output_stride`` input pixels. ``image`` (H, W, 3) in [0, 1];
    ``features`` {output stride: (1, C, h, w)}."""
    c = int(np.argmax(features[8][0].std(axis=(1, 2))))
    lo = min(float(f[0, c].min()) for f in features.values())
    hi = max(float(f[0, c].max()) for f in features.values())
    fig = new_figure(3.0 * (len(features) + 1), 3.3,
                     suptitle=f"One ResNet channel ({c}) at each output stride, same weights")
    axes = fig.subplots(1, len(features) + 1)
    H, W = image.shape[:2]
    axes[0].imshow(np.clip(image, 0, 1))
    style_axes(axes[0], f"input {H}x{W}")
    for ax, (os_, f) in zip(axes[1:], sorted(features.items(), reverse=True)):
        im = ax.imshow(f[0, c], extent=(0, W, H, 0), vmin=lo, vmax=hi, cmap="viridis",
                       interpolation="nearest")
        style_axes(ax, f"output stride {os_}: {f.shape[2]}x{f.shape[3]}")
    fig.colorbar(im, ax=axes[1:], shrink=0.8, label="activation")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def fig_msc_winners(result, class_index=0):
    """Per scale, the score map of one class (resized to the scale-1 map), and which scale
    wins the max at each position (:func:`minideeplab.paper.backbone.multi_scale`)."""
    S = len(result.scales)
    fig = new_figure(2.9 * (S + 2), 3.2, suptitle=f"Multi-scale inputs fused by max (class "
                     f"{class_index})")
    axes = fig.subplots(1, S + 2)
    maps = [y[0, class_index] for y in result.per_scale] + [result.fused[0, class_index]]
    lo, hi = min(float(m.min()) for m in maps), max(float(m.max()) for m in maps)
    for ax, m, title in zip(axes, maps, [f"scale {s:g}" for s in result.scales] + ["max"]):
        im = ax.imshow(m, vmin=lo, vmax=hi, cmap="viridis")
        style_axes(ax, title)
    fig.colorbar(im, ax=axes[S], shrink=0.8, label="score")
    w = result.winner[0, class_index]
    cmap = __import__("matplotlib").colormaps["tab10"]
    axes[-1].imshow(w, cmap=cmap, vmin=0, vmax=9, interpolation="nearest")
    handles = [__import__("matplotlib").patches.Patch(color=cmap(k), label=f"{s:g}")
               for k, s in enumerate(result.scales)]
    axes[-1].legend(handles=handles, title="winner", fontsize=7, title_fontsize=7,
                    loc="upper left", bbox_to_anchor=(1.0, 1.0))
    style_axes(axes[-1], "which scale wins")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig
