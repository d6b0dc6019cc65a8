"""Field of view of DeepLab's fc6 variants (Table 1), drawn and measured.

DeepLab v2, Sec. 3.1: "Atrous convolution with rate r introduces r - 1 zeros between consecutive
filter values, effectively enlarging the kernel size of a k x k filter to k_e = k + (k - 1)(r - 1)
without increasing the number of parameters or the amount of computation." Sec. 4.1 and
Table 1 trade kernel size for rate in VGG-16's fc6.

Two numbers describe how far an output unit sees (:mod:`minideeplab.models.fov`):

* the theoretical receptive field (RF): every input pixel that can change the unit,
  ``RF = 8 r (k - 1) + 227`` (pool5's RF is 227 input pixels, and fc6's taps are 8r apart);
* the table's "FOV" column, ``8 r (k - 1) + 32``: fc6's tap extent in input pixels plus 32.

:func:`minideeplab.models.fov.impulse_receptive_field` *measures* the RF of a real network,
independently of the formula. :func:`fig_table1_fov` draws fc6's taps, the FOV and the RF of
each row of Table 1 in input pixels.
"""
import numpy as np
from matplotlib.patches import Rectangle

from ...models import table1
from ...models.fov import POOL5_RF, STRIDE
from .common import SUBIMAGE_COLORS, caption, new_figure, style_axes

__all__ = ["fc6_tap_offsets", "fig_table1_fov"]

def fc6_tap_offsets(kernel, rate):
    """Offsets of fc6's taps from the output unit, in input pixels: ``8 r (t - (k-1)/2)``."""
    return STRIDE * rate * (np.arange(kernel) - (kernel - 1) / 2)


def _square(ax, side, **kw):
    ax.add_patch(Rectangle((-side / 2, -side / 2), side, side, **kw))


def fig_table1_fov(rows=None, measured=None):
    """Table 1's four fc6 variants in input pixels: taps, FOV and receptive field.

    Parameters
    ----------
    rows : list of :class:`~minideeplab.models.fov.Table1Row` (default: ``table1()``)
    measured : optional list of measured receptive fields (:func:`impulse_receptive_field`),
        one per row, shown next to the theoretical ones

    Returns the Figure.
    """
    rows = table1() if rows is None else rows
    fig = new_figure(15, 4.3)
    *axes, legend_ax = fig.subplots(1, len(rows) + 1,
                                    width_ratios=[1] * len(rows) + [0.55])
    lim = max(r.receptive_field for r in rows) / 2 + 25
    for i, (ax, row) in enumerate(zip(axes, rows)):
        offs = fc6_tap_offsets(row.kernel, row.rate)
        _square(ax, 321, fill=False, ls=":", edgecolor="0.5", lw=1)
        _square(ax, row.receptive_field, facecolor=SUBIMAGE_COLORS[0], alpha=0.15,
                edgecolor=SUBIMAGE_COLORS[0], lw=1.5)
        corner = offs[-1]
        ax.add_patch(Rectangle((corner - POOL5_RF / 2, corner - POOL5_RF / 2), POOL5_RF,
                               POOL5_RF, fill=False, edgecolor=SUBIMAGE_COLORS[2], lw=1,
                               ls="--"))
        _square(ax, row.fov, fill=False, edgecolor=SUBIMAGE_COLORS[1], lw=2, ls="--")
        xx, yy = np.meshgrid(offs, offs)
        ax.plot(xx.ravel(), yy.ravel(), "o", color=SUBIMAGE_COLORS[3], ms=4)
        ax.plot([0], [0], "+", color="black", ms=8)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(lim, -lim)
        ax.set_aspect("equal")
        meas = "" if measured is None else f" (measured {measured[i]})"
        style_axes(ax, title=f"{row.kernel}x{row.kernel}, rate {row.rate}, "
                             f"{row.channels} ch: {row.params / 1e6:.1f}M params\n"
                             f"k_e = {row.effective_kernel}, FOV {row.fov}, "
                             f"RF {row.receptive_field}{meas}",
                   xlabel="input pixels from the unit's centre")
        if i == 0:
            ax.set_ylabel("input pixels", fontsize=9)
            ax.plot([], [], "o", color=SUBIMAGE_COLORS[3], ms=4,
                    label="fc6 taps (8r pixels apart)")
            ax.plot([], [], "s", mfc="none", mec=SUBIMAGE_COLORS[1], ls="none",
                    label="table FOV = 8r(k-1)+32")
            ax.plot([], [], "s", mfc="#c6dbef", mec=SUBIMAGE_COLORS[0], ls="none",
                    label="receptive field = 8r(k-1)+227")
            ax.plot([], [], "s", mfc="none", mec=SUBIMAGE_COLORS[2], ls="none",
                    label="pool5 RF (227) of a corner tap")
            ax.plot([], [], "s", mfc="none", mec="0.5", ls="none", label="321x321 crop")
    legend_ax.axis("off")
    legend_ax.legend(*axes[0].get_legend_handles_labels(), loc="center left", fontsize=8,
                     frameon=False)
    fig.suptitle("Table 1: fc6 variants of DeepLab-VGG16 (output stride 8), what one output "
                 "unit sees in the input image", fontsize=11)
    caption(fig, "Smaller kernels at larger rates keep the field of view with fewer "
                 "parameters: 3x3 at rate 12 sees as far as 7x7 at rate 4 with 15% of the "
                 "parameters.")
    return fig
