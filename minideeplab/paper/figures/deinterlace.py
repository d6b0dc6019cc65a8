"""Holes vs deinterlacing: the two ways of Sec. 3.1, drawn step by step and timed.

DeepLab v2, Sec. 3.1: "The second method ... is to subsample the input feature map by a factor
equal to the atrous convolution rate r, deinterlacing it to produce r^2 reduced resolution
maps, one for each of the r x r possible shifts. This is followed by applying standard
convolution to these intermediate feature maps and reinterlacing them to the original image
resolution."

:func:`deinterlace_steps` runs those steps with the library's own pieces
(:func:`~minideeplab.functional.space_to_batch`, an ordinary
:func:`~minideeplab.functional.conv2d`, :func:`~minideeplab.functional.batch_to_space`) and
keeps every intermediate array; :func:`fig_deinterlace_steps` draws them next to the "holes"
result. :func:`fig_deinterlace_timing` draws the times of both methods over rates, measured by
:func:`minideeplab.paper.speed.time_atrous_methods`.
"""
import textwrap
from collections import namedtuple

import numpy as np
from matplotlib.patches import Rectangle

from ... import backend
from ...functional import batch_to_space, conv2d, space_to_batch
from ...functional.im2col import pad2d
from .common import SUBIMAGE_COLORS, caption, new_figure, sample_image, style_axes

__all__ = ["DeinterlaceSteps", "deinterlace_steps", "fig_deinterlace_steps",
           "fig_deinterlace_timing"]

DeinterlaceSteps = namedtuple(
    "DeinterlaceSteps", "x kernel rate padding extra padded sub sub_out interlaced out holes "
                        "max_abs_diff")
DeinterlaceSteps.__doc__ = """Every intermediate of deinterlacing, for one grey (H, W) input:
padded (Hr, Wr): zero padding ``padding`` plus ``extra`` rows/columns at the bottom/right so
that Hr, Wr are multiples of r; sub (r*r, Hs, Ws): sub-image a*r + b is padded[a::r, b::r];
sub_out (r*r, hs, ws): each convolved with the K x K kernel at rate 1, no padding;
interlaced (r*hs, r*ws): batch_to_space; out: interlaced cropped to the true output size;
holes: conv2d(method="holes") of x; max_abs_diff: max |out - holes|."""

EDGE_KERNEL = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]]) / 8


def deinterlace_steps(x=None, kernel=None, rate=2, device="cpu"):
    """Atrous convolution of a grey image by deinterlacing, keeping every step.

    Parameters
    ----------
    x : (H, W) array; default an 11 x 11 patch of the sample photo (odd, so that the extra
        padding to a multiple of r shows)
    kernel : (K, K) array, K odd; default a 3x3 horizontal-edge (Sobel) kernel
    rate : int r >= 1; padding is r(K-1)/2 so the output has the input's size

    Returns :class:`DeinterlaceSteps` (NumPy arrays).
    """
    x = sample_image(scale=4)[60:71, 58:69] if x is None else np.asarray(x, np.float64)
    kernel = EDGE_KERNEL if kernel is None else np.asarray(kernel, np.float64)
    xp = backend.xp_for(device)
    r, K = rate, kernel.shape[0]
    p = r * (K - 1) // 2
    xd = xp.asarray(x)[None, None]                                  # (1, 1, H, W)
    wd = xp.asarray(kernel)[None, None]                              # (1, 1, K, K)
    padded = pad2d(xd, p, p)                                        # (1, 1, H+2p, W+2p)
    extra = (r - padded.shape[2] % r) % r, (r - padded.shape[3] % r) % r
    padded = xp.pad(padded, ((0, 0), (0, 0), (0, extra[0]), (0, extra[1])))
    sub = space_to_batch(padded, r)                                 # (r*r, 1, Hs, Ws)
    sub_out, _ = conv2d(sub, wd, rate=1)                            # (r*r, 1, hs, ws)
    interlaced = batch_to_space(sub_out, r)                         # (1, 1, r*hs, r*ws)
    H_out, W_out = x.shape[0] + 2 * p - r * (K - 1), x.shape[1] + 2 * p - r * (K - 1)
    out = interlaced[:, :, :H_out, :W_out]
    holes, _ = conv2d(xd, wd, padding=p, rate=r, method="holes")
    n = backend.asnumpy
    return DeinterlaceSteps(x, kernel, r, p, extra, n(padded)[0, 0], n(sub)[:, 0],
                            n(sub_out)[:, 0], n(interlaced)[0, 0], n(out)[0, 0],
                            n(holes)[0, 0], float(np.abs(n(out) - n(holes)).max()))


def _grid(ax, img, vmin, vmax, shift_of=None, crop=None, border=None):
    """Draw img as cells; a coloured dot on each cell marks its shift (a, b), if given."""
    ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
    if shift_of is not None:
        rows, cols = np.mgrid[0:img.shape[0], 0:img.shape[1]]
        colors = [SUBIMAGE_COLORS[shift_of(i, j) % len(SUBIMAGE_COLORS)]
                  for i, j in zip(rows.ravel(), cols.ravel())]
        ax.scatter(cols.ravel(), rows.ravel(), c=colors, s=12, linewidths=0)
    if crop is not None:  # hatch what gets cropped away
        h, w = crop
        H, W = img.shape
        for (x0, y0, ww, hh) in ((w - 0.5, -0.5, W - w, H), (-0.5, h - 0.5, W, H - h)):
            if ww > 0 and hh > 0:
                ax.add_patch(Rectangle((x0, y0), ww, hh, facecolor="none", hatch="///",
                                       edgecolor="red", lw=0))
    ax.set_xticks([])
    ax.set_yticks([])
    if border is not None:
        for spine in ax.spines.values():
            spine.set_edgecolor(border)
            spine.set_linewidth(2.5)


def fig_deinterlace_steps(x=None, kernel=None, rate=2, device="cpu"):
    """Deinterlacing step by step (Sec. 3.1), next to the "holes" result; returns (fig, steps).

    Dots mark each pixel's shift (a, b) = (row mod r, column mod r): the colour follows a pixel
    from the padded input into its sub-image, and each output back to the sub-image it came
    from. Hatched: the extra rows/columns cropped after re-interlacing.
    """
    s = deinterlace_steps(x, kernel, rate, device)
    r = s.rate
    vmin, vmax = float(s.x.min()), float(s.x.max())
    omax = float(np.abs(s.holes).max())
    fig = new_figure(15, 4.4, layout=None)
    outer = fig.add_gridspec(1, 5, width_ratios=[1.2, 1, 1, 1.2, 1.2], wspace=0.12,
                             left=0.01, right=0.99, top=0.78, bottom=0.08)
    H, W = s.x.shape
    K = s.kernel.shape[0]
    ax = fig.add_subplot(outer[0])
    _grid(ax, s.padded, vmin, vmax, lambda i, j: (i % r) * r + j % r)
    ax.add_patch(Rectangle((s.padding - 0.5, s.padding - 0.5), W, H, fill=False,
                           edgecolor="yellow", lw=1.5))
    style_axes(ax, title=f"1. input {H}x{W} (yellow), zero pad {s.padding}\n"
                         f"+ {s.extra[0]} extra to a multiple of r: {s.padded.shape[0]}x"
                         f"{s.padded.shape[1]}")
    for col, (stack, lo, hi, title) in enumerate((
            (s.sub, vmin, vmax, f"2. space_to_batch: r*r = {r * r} sub-images\n"
                                f"{s.sub.shape[1]}x{s.sub.shape[2]}, sub-image (a, b) = "
                                "x[a::r, b::r]"),
            (s.sub_out, -omax, omax, f"3. ordinary {K}x{K} conv (rate 1)\n"
                                     f"on each: {s.sub_out.shape[1]}x{s.sub_out.shape[2]}"))):
        inner = outer[col + 1].subgridspec(r, r, wspace=0.1, hspace=0.1)
        for k in range(r * r):
            ax = fig.add_subplot(inner[k // r, k % r])
            _grid(ax, stack[k], lo, hi, border=SUBIMAGE_COLORS[k % len(SUBIMAGE_COLORS)])
        box = outer[col + 1].get_position(fig)
        fig.text((box.x0 + box.x1) / 2, box.y1 + 0.02, title, ha="center", va="bottom",
                 fontsize=10)
    ax = fig.add_subplot(outer[3])
    _grid(ax, s.interlaced, -omax, omax, lambda i, j: (i % r) * r + j % r, crop=s.out.shape)
    style_axes(ax, title=f"4. batch_to_space (re-interlace)\n{s.interlaced.shape[0]}x"
                         f"{s.interlaced.shape[1]}, crop to {s.out.shape[0]}x{s.out.shape[1]}")
    ax = fig.add_subplot(outer[4])
    _grid(ax, s.holes, -omax, omax)
    style_axes(ax, title=f"holes: im2col with taps {r} apart\nmax |4 - holes| = "
                         f"{s.max_abs_diff:.1e}")
    fig.suptitle(f"Atrous convolution (rate {r}, {K}x{K} kernel) by deinterlacing "
                 "(TensorFlow's atrous_conv2d) vs by holes (Caffe's im2col), Sec. 3.1",
                 fontsize=11, y=0.98)
    caption(fig, "Dot colours: the shift (row mod r, column mod r) of each pixel; every "
                 "output at shift (a, b) is computed from sub-image (a, b) alone.")
    return fig, s


def fig_deinterlace_timing(rows, title=None, machine=None):
    """Time vs rate for both methods (rows of :func:`~minideeplab.paper.speed.time_atrous_methods`);
    ``machine``: a caption naming where and when they were measured
    (:func:`~minideeplab.paper.speed.timing_machine`).

    Returns the figure.
    """
    fig = new_figure(7.5, 4.2)
    ax = fig.add_subplot()
    for method, color, marker in (("holes", SUBIMAGE_COLORS[0], "o"),
                                  ("deinterlace", SUBIMAGE_COLORS[1], "s")):
        pts = sorted((t.rate, t.seconds) for t in rows if t.method == method)
        ax.plot([p[0] for p in pts], [1e3 * p[1] for p in pts], marker=marker, color=color,
                label=method)
    rates = sorted({t.rate for t in rows})
    subs = {t.rate: t.sub_size for t in rows}
    ax.set_xticks(rates)
    ax.set_xticklabels([f"{r}\n({subs[r]})" for r in rates])
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    style_axes(ax, title=title or "conv2d forward + backward: holes vs deinterlacing",
               xlabel="atrous rate r (side of the deinterlaced sub-images)",
               ylabel="median time (ms)")
    if machine:
        caption(fig, textwrap.fill(machine, 100))
    return fig
