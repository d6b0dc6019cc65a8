"""Bilinear upsampling of score maps: the two align_corners conventions, and its gradient.

DeepLab v2, Sec. 3.1: "using atrous convolution to increase by a factor of 4 the density of
computed feature maps, followed by fast bilinear interpolation by an additional factor of 8 to
recover feature maps at the original image resolution." Caffe's ``Interp`` layer, which
DeepLab uses, aligns the corner pixels (``align_corners=True``); PyTorch's default aligns the
pixel edges (``align_corners=False``). :func:`fig_align_corners` draws where each output pixel
samples the input under both, :func:`fig_upsample_scores` shows the resulting half-pixel
shift on a score map, and :func:`fig_gradient_check` compares the hand-written backward pass
(``dx = A_h^T dy A_w``) with central differences. All numbers come from
:mod:`minideeplab.functional.resize` and :mod:`minideeplab.gradcheck`.
"""
from collections import namedtuple

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.patches import Rectangle

from ... import backend
from ...functional import interp_matrix, resize_bilinear
from .common import SUBIMAGE_COLORS, caption, new_figure, style_axes

__all__ = ["source_coordinates", "Resize1D", "resize_1d", "fig_align_corners",
           "fig_upsample_scores", "fig_gradient_check"]

CONVENTIONS = (
    (True, "align_corners=True (Caffe Interp, DeepLab)", "src(i) = i (H_in - 1) / (H_out - 1)"),
    (False, "align_corners=False (PyTorch's default)",
     "src(i) = max((i + 0.5) H_in / H_out - 0.5, 0)"),
)

Resize1D = namedtuple("Resize1D", "values src out matrix align_corners")
Resize1D.__doc__ = """One convention in 1-D: input values (H_in,), the source coordinate of
every output pixel src (H_out,) read off the interpolation matrix, the upsampled values out
(H_out,) from resize_bilinear, and the matrix A (H_out, H_in) with out = A @ values."""

def source_coordinates(matrix):
    """Where each output pixel samples the input: ``sum_j A[i, j] * j`` (rows of A sum to 1)."""
    return matrix @ np.arange(matrix.shape[1], dtype=np.float64)


def resize_1d(values, out_size, align_corners, device="cpu"):
    """Upsample a 1-D signal with :func:`resize_bilinear` (as a (1, 1, 1, H_in) image)."""
    values = np.asarray(values, np.float64)
    x = backend.to_device(values.reshape(1, 1, 1, -1), device)
    y, _ = resize_bilinear(x, (1, out_size), align_corners=align_corners)
    a = interp_matrix(len(values), out_size, align_corners=align_corners)   # (H_out, H_in)
    return Resize1D(values, source_coordinates(a), backend.asnumpy(y).reshape(-1), a,
                    align_corners)


def _cells(ax, centres, width, y, color, label):
    for c in centres:
        ax.add_patch(Rectangle((c - width / 2, y - 0.18), width, 0.36, facecolor=color,
                               alpha=0.25, edgecolor=color, lw=1))
    ax.text(-0.75, y, label, ha="right", va="center", fontsize=8, color=color)


def fig_align_corners(values=(0.0, 3.0, 1.0, 2.0), out_size=9, device="cpu"):
    """Where output pixel i samples the input, under both conventions; returns (fig, results).

    Left: input samples (stems) and the upsampled output plotted at its source coordinates,
    with the pixel cells of input and output drawn below in input-pixel units. Right: the
    interpolation matrix A (H_out x H_in). ``results`` is a dict ``align_corners ->``
    :class:`Resize1D`.
    """
    values = np.asarray(values, np.float64)
    n_in = len(values)
    results = {}
    fig = new_figure(12.5, 6.8)
    gs = fig.add_gridspec(2, 2, width_ratios=[2.2, 1.1])
    top = float(values.max()) + 0.6
    for row, (ac, name, formula) in enumerate(CONVENTIONS):
        res = resize_1d(values, out_size, ac, device)
        results[ac] = res
        ax = fig.add_subplot(gs[row, 0])
        ax.stem(np.arange(n_in), values, linefmt="k-", markerfmt="ko", basefmt=" ",
                label="input samples")
        ax.plot(res.src, res.out, "o-", color=SUBIMAGE_COLORS[1], ms=5,
                label=f"output ({out_size} pixels) at src(i)")
        for i, s in enumerate(res.src):
            ax.annotate(str(i), (s, res.out[i]), textcoords="offset points", xytext=(0, 6),
                        ha="center", fontsize=7, color=SUBIMAGE_COLORS[1])
        out_width = (n_in - 1) / (out_size - 1) if ac else n_in / out_size
        # output pixel i covers [src - w/2, src + w/2] in input units (before clamping)
        centres = (np.arange(out_size) * out_width if ac
                   else (np.arange(out_size) + 0.5) * n_in / out_size - 0.5)
        _cells(ax, np.arange(n_in), 1.0, -0.55, "black", "input pixels")
        _cells(ax, centres, out_width, -1.05, SUBIMAGE_COLORS[1], "output pixels")
        ax.plot(centres, np.full(out_size, -1.05), "|", color=SUBIMAGE_COLORS[1], ms=6)
        ax.set_xlim(-1.9, n_in - 0.3)
        ax.set_ylim(-1.4, top)
        ax.axhline(0, color="0.8", lw=0.8)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
        style_axes(ax, title=f"{name}: {formula}",
                   xlabel="position in input pixel units", ylabel="value")
        ax = fig.add_subplot(gs[row, 1])
        ax.imshow(res.matrix, cmap="Greys", vmin=0, vmax=1, aspect="auto")
        for (i, j), v in np.ndenumerate(res.matrix):
            if v > 0:
                ax.text(j, i, f"{v:.3f}".rstrip("0").rstrip("."), ha="center", va="center",
                        fontsize=6.5, color="white" if v > 0.6 else "black")
        ax.set_xticks(range(n_in))
        ax.set_yticks(range(out_size))
        style_axes(ax, title=f"A (out = A @ in), align_corners={ac}", xlabel="input pixel j",
                   ylabel="output pixel i")
    fig.suptitle(f"Bilinear upsampling {n_in} -> {out_size}: where output pixel i samples the "
                 "input", fontsize=11)
    caption(fig, "True: first and last pixel centres coincide (Caffe's Interp, zoom "
                 "H + (H-1)(z-1)). False: pixel edges coincide, border outputs clamp to the "
                 "border input. The backward pass is A^T.")
    return fig, results


def fig_upsample_scores(size=5, zoom=8, seed=0, device="cpu"):
    """A random (size x size) score map upsampled by Caffe's zoom, both ways; returns (fig, d).

    The output has ``size + (size - 1)(zoom - 1)`` pixels (Caffe ``Interp`` ``zoom_factor``,
    41 -> 321 for zoom 8). With align_corners=True, ``out[z i, z j] = in[i, j]`` exactly;
    with False the map is shifted by up to half an input pixel. ``d`` is a dict with the
    arrays and ``max_abs_diff_on_grid`` (True: max |out[::z, ::z] - in|).
    """
    x = np.random.default_rng(seed).standard_normal((size, size))
    out = size + (size - 1) * (zoom - 1)
    xd = backend.to_device(x[None, None], device)
    up = {ac: backend.asnumpy(resize_bilinear(xd, out, align_corners=ac)[0])[0, 0]
          for ac in (True, False)}
    d = dict(x=x, up_true=up[True], up_false=up[False],
             max_abs_diff_on_grid=float(np.abs(up[True][::zoom, ::zoom] - x).max()))
    fig = new_figure(13, 3.6)
    axes = fig.subplots(1, 4)
    lim = float(np.abs(x).max())
    kw = dict(cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    axes[0].imshow(x, **kw)
    style_axes(axes[0], title=f"score map {size}x{size}")
    for ax, ac in zip(axes[1:3], (True, False)):
        ax.imshow(up[ac], **kw)
        style_axes(ax, title=f"zoom {zoom}: {out}x{out}, align_corners={ac}")
    grid = np.arange(size) * zoom
    gx, gy = np.meshgrid(grid, grid)
    axes[1].plot(gx.ravel(), gy.ravel(), "k.", ms=3)
    diff = up[True] - up[False]
    dl = float(np.abs(diff).max())
    axes[3].imshow(diff, cmap="PuOr", vmin=-dl, vmax=dl, interpolation="nearest")
    style_axes(axes[3], title=f"True - False (max |diff| {dl:.2f})")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Upsampling a score map by 8 (Caffe Interp, as DeepLab does after the "
                 "stride-8 network)", fontsize=11)
    caption(fig, f"Dots: output pixels 8i; with align_corners=True they are the input scores "
                 f"exactly (max |diff| = {d['max_abs_diff_on_grid']:.1e}).")
    return fig, d


def fig_gradient_check(checks):
    """Upstream gradient, analytic and numerical dx, and their difference, one row per check.

    ``checks`` : dict row label -> :class:`minideeplab.gradcheck.GradientArrays` of a resize
    of one (1, 1, H, W) map (e.g. one per align_corners convention). Returns the figure.
    """
    fig = new_figure(12, 2.9 * len(checks) + 0.6)
    axes = np.atleast_2d(fig.subplots(len(checks), 4))
    for row, (label, c) in zip(axes, checks.items()):
        c = c._replace(dy=c.dy[0, 0], analytic=c.analytic[0, 0], numeric=c.numeric[0, 0])
        lim_dy = float(np.abs(c.dy).max())
        lim = float(max(np.abs(c.analytic).max(), np.abs(c.numeric).max()))
        panels = ((c.dy, dict(cmap="PuOr", vmin=-lim_dy, vmax=lim_dy),
                   f"dy: random upstream\ngradient {c.dy.shape[0]}x{c.dy.shape[1]}"),
                  (c.analytic, dict(cmap="RdBu_r", vmin=-lim, vmax=lim),
                   "analytic dx\n= A_h^T dy A_w"),
                  (c.numeric, dict(cmap="RdBu_r", vmin=-lim, vmax=lim),
                   "numerical dx\n(central differences)"))
        for ax, (img, kw, title) in zip(row, panels):
            im = ax.imshow(img, interpolation="nearest", **kw)
            fig.colorbar(im, ax=ax, shrink=0.8)
            style_axes(ax, title=title)
        err = np.abs(c.analytic - c.numeric)
        im = row[3].imshow(np.maximum(err, 1e-17), cmap="viridis", interpolation="nearest",
                           norm=LogNorm(vmin=1e-17, vmax=1e-8))
        fig.colorbar(im, ax=row[3], shrink=0.8)
        style_axes(row[3], title=f"|analytic - numerical|\n(max {err.max():.1e})")
        row[0].set_ylabel(label, fontsize=9)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("Gradient check of bilinear resizing: L = sum(resize(x) * dy), "
                 "float64, eps = 1e-6", fontsize=11)
    worst = max(float(np.abs(c.analytic - c.numeric).max()) for c in checks.values())
    caption(fig, "The backward pass is the transposed interpolation matrices; central "
                 f"differences agree to {worst:.1e} (absolute), the accuracy of a float64 "
                 "difference quotient.")
    return fig
