"""Field of view of DeepLab's fc6 variants (Table 1), drawn and measured.

DeepLab v2, Sec. 3.1: "Atrous convolution with rate r introduces r - 1 zeros between consecutive
filter values, effectively enlarging the kernel size of a k x k filter to k_e = k + (k - 1)(r - 1)
without increasing the number of parameters or the amount of computation." Sec. 4.1 and
Table 1 trade kernel size for rate in VGG-16's fc6.

Two numbers describe how far an output unit sees (:mod:`minideeplab.models.fov`):

* the theoretical receptive field (RF): every input pixel that can change the unit,
  ``RF = 8 r (k - 1) + 227`` (pool5's RF is 227 input pixels, and fc6's taps are 8r apart);
* the table's "RF/FOV" column, ``8 r (k - 1) + 32``: fc6's tap extent in input pixels plus 32.

:func:`impulse_receptive_field` *measures* the RF of a real network (the same
:func:`~minideeplab.models.deeplab_vgg16` layers, very thin), independently of the
formula: with every weight 1, every bias 0 and an input that is 0 except one pixel, a unit is
non-zero exactly when that pixel is in its receptive field (sums of non-negative numbers,
ReLU and max pooling all keep "some path is positive"). :func:`fig_table1_fov` draws fc6's
taps, the FOV and the RF of each row of Table 1 in input pixels.
"""
import numpy as np
from matplotlib.patches import Rectangle

from ... import backend
from ...models import deeplab_vgg16, table1
from .common import SUBIMAGE_COLORS, caption, new_figure, style_axes

__all__ = ["impulse_receptive_field", "fc6_tap_offsets", "fig_table1_fov"]

POOL5_RF = 227       # receptive field of one pool5 unit of DeepLab's VGG-16, input pixels
STRIDE = 8           # output stride: pool5 units are 8 input pixels apart


def impulse_receptive_field(kernel, rate, channels=1024, *, width=1 / 64, device="cpu"):
    """Measure the receptive field of a DeepLab-VGG16 output unit by single-pixel impulses.

    Builds ``deeplab_vgg16(fc6_kernel=kernel, fc6_rate=rate)`` with ``width`` times the
    channels, sets every weight to 1 and every bias to 0 (float64, eval mode: no dropout), and
    feeds 8 images, each 0 except one pixel at column offsets 0..7 from a multiple of the
    stride 8. The output row that sees the pixel's row is non-zero exactly at the units whose
    receptive field contains the pixel, ``|8 j - p| <= h``; the 8 offsets pin the half-width h
    down to the pixel (each offset bounds h to an interval of 8 values).

    Returns the measured receptive field ``2 h + 1`` in input pixels (an int).
    """
    model = deeplab_vgg16(21, fc6_kernel=kernel, fc6_rate=rate, fc_channels=channels,
                          width=width, dtype="float64", device=device)
    model.eval()
    for _, m in model.named_modules():
        m.params = {k: (v * 0 + 1 if k == "weight" else v * 0) for k, v in m.params.items()}
    xp = backend.xp_for(device)
    reach = (rate * (kernel - 1) + 1) // 2 + 1       # fc6's reach in pool5 units, rounded up
    height = 2 * STRIDE * reach + 1                  # enough rows for every tap row (even k)
    half = POOL5_RF + STRIDE * rate * kernel         # a generous bound on h, to size the width
    c0 = STRIDE * (half // STRIDE + 1)               # a multiple of the stride, > h
    x = np.zeros((STRIDE, 3, height, 2 * c0 + STRIDE + 1))
    for q in range(STRIDE):
        x[q, :, STRIDE * reach, c0 + q] = 1.0        # one bright pixel per image
    y = backend.asnumpy(model(xp.asarray(x)))[:, 0, reach]   # (8, w): the row that sees it
    lower, upper = 0, np.inf
    for q in range(STRIDE):
        p = c0 + q
        seen = np.nonzero(y[q] > 0)[0]
        if len(seen) == 0 or seen[0] == 0 or seen[-1] == y.shape[1] - 1:
            raise RuntimeError("impulse_receptive_field: the receptive field reaches the "
                               f"image border (kernel={kernel}, rate={rate}); enlarge the input")
        # the right-most unit j that sees p: 8j - p <= h < 8(j+1) - p; same on the left
        lower = max(lower, STRIDE * seen[-1] - p, p - STRIDE * seen[0])
        upper = min(upper, STRIDE * (seen[-1] + 1) - p - 1, p - STRIDE * (seen[0] - 1) - 1)
    if lower != upper:
        raise RuntimeError(f"impulse_receptive_field: half-width not pinned down "
                           f"({lower}..{upper})")
    return int(2 * lower + 1)


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
