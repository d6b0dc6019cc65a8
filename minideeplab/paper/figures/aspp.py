"""Fig. 4: the sampling grids of ASPP's parallel branches, drawn on an image.

"To classify the center pixel (orange), ASPP exploits multi-scale features by employing
multiple parallel filters with different rates. The effective Field-Of-Views are shown in
different colors." (DeepLab v2, Fig. 4.) A 3x3 fc6 at rate r on the stride-8 map of pool5 reads
the input positions ``centre + 8 * r * (-1, 0, 1)`` in each direction: its taps span
``8 * r * 2 + 1`` input pixels (the 32 pixels of pool5's own stride-8 cell come on top; see
Table 1's FOV figure ``8 r (k-1) + 32``).

The flip side (DeepLab v3, Sec. 3.3, Fig. 4): at large rates fewer of the 3x3 weights fall on
the map instead of the padding. :func:`fig_valid_taps` draws their mean number against the
rate, counted by :func:`minideeplab.nn.aspp.valid_tap_counts`.
"""
import numpy as np
from matplotlib.patches import Rectangle

from ...nn import ASPP_L_RATES, ASPP_S_RATES
from ...nn.aspp import valid_tap_counts
from .common import SUBIMAGE_COLORS, caption, new_figure, sample_image, style_axes

__all__ = ["aspp_taps", "fig4_aspp_grids", "fig_valid_taps"]


def aspp_taps(center, rate, *, output_stride=8, kernel=3):
    """Input-pixel (row, col) positions read by a ``kernel``x``kernel`` branch at ``rate``.

    Returns (kernel*kernel, 2) int array: ``center + output_stride * rate * (i, j)`` for
    ``i, j`` in ``-(k-1)/2 .. (k-1)/2``.
    """
    half = (kernel - 1) // 2
    offsets = np.arange(-half, kernel - half) * output_stride * rate
    ii, jj = np.meshgrid(offsets, offsets, indexing="ij")
    return np.stack([ii.ravel(), jj.ravel()], axis=1) + np.asarray(center)


def fig4_aspp_grids(image=None, center=None, *, rate_sets=(("ASPP-S", ASPP_S_RATES),
                                                             ("ASPP-L", ASPP_L_RATES))):
    """One panel per preset: the taps of every branch around one centre pixel.

    Parameters
    ----------
    image : (H, W) or (H, W, 3) floats in [0, 1]; default: the grace_hopper photo
    center : (row, col) of the pixel to classify; default the image centre

    Returns
    -------
    fig, taps: dict preset -> {rate: (9, 2) positions}
    """
    if image is None:
        image = sample_image(gray=False)
    H, W = image.shape[:2]
    center = (H // 2, W // 2) if center is None else center
    fig = new_figure(4.2 * len(rate_sets), 4.6,
                     suptitle="Fig. 4: ASPP, parallel 3x3 branches at several rates on the "
                              "stride-8 map")
    taps = {}
    for k, (name, rates) in enumerate(rate_sets):
        ax = fig.add_subplot(1, len(rate_sets), k + 1)
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        taps[name] = {}
        for color, r in zip(SUBIMAGE_COLORS, rates):
            t = aspp_taps(center, r)
            taps[name][r] = t
            span = 8 * r * 2
            ax.add_patch(Rectangle((center[1] - span / 2, center[0] - span / 2), span, span,
                                   fill=False, ec=color, lw=1.5, ls="--"))
            ax.scatter(t[:, 1], t[:, 0], s=22, c=color, edgecolors="white", linewidths=0.6,
                       label=f"rate {r}: taps {8 * r} px apart", zorder=3)
        ax.scatter([center[1]], [center[0]], s=60, c="#ff7f0e", marker="s", edgecolors="black",
                   zorder=4, label="pixel to classify")
        ax.set_xlim(0, W - 1)
        ax.set_ylim(H - 1, 0)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=7, loc="lower left", framealpha=0.85)
        style_axes(ax, title=f"{name}: rates {tuple(rates)}")
    caption(fig, "Each colour is one branch's 3x3 filter: its taps in input pixels (dots) and "
                 "its field of view (dashed). The branches' class scores are summed.")
    return fig, taps


def fig_valid_taps(map_sizes=(13, 41, 65), rates=tuple(range(1, 41)), *,
                   marked=ASPP_L_RATES):
    """DeepLab v3's Fig. 4 for our maps: the mean number of valid taps of a 3x3 filter vs rate.

    Parameters
    ----------
    map_sizes : square map sides (13: a 97-pixel synthetic image at output stride 8; 41: a
        321-pixel VOC crop; 65: v3's 513 crop at output stride 8)
    rates : the x axis
    marked : rates drawn as vertical lines (ASPP-L's)

    Returns
    -------
    fig, counts: dict map side -> (len(rates),) mean valid taps (1 = a 1x1 filter, 9 = all)
    """
    fig = new_figure(6.4, 3.6, suptitle="Valid weights of a 3x3 atrous filter (DeepLab v3, "
                                        "Fig. 4)")
    ax = fig.add_subplot(1, 1, 1)
    counts = {}
    for color, n in zip(SUBIMAGE_COLORS, map_sizes):
        counts[n] = np.array([valid_tap_counts(n, r).mean() for r in rates])
        ax.plot(rates, counts[n], "o-", ms=2.5, lw=1.2, color=color, label=f"{n}x{n} map")
    for r in marked:
        ax.axvline(r, color="gray", lw=0.8, ls=":")
    ax.set_ylim(0, 9.5)
    style_axes(ax, "mean number of taps inside the map (of 9)", "atrous rate", "valid taps")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    caption(fig, "Dotted: ASPP-L's rates (6, 12, 18, 24). At 1 valid tap the filter is 1x1.")
    return fig, counts
