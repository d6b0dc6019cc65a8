"""The paper's Fig. 2 (atrous convolution in 1-D) and Fig. 3 (in 2-D, on a photo).

DeepLab v2, Sec. 3.1: "we can compute responses at all image positions if we convolve the full
resolution image with a filter 'with holes', in which we upsample the original filter by a
factor of 2, and introduce zeros in between filter values." Both figures compare

* sparse feature extraction: downsample the input by r (keep every r-th sample), convolve
  with the K-tap filter (rate 1, padding (K-1)/2);
* dense feature extraction: convolve the full-resolution input with the same K taps at rate
  r (padding r(K-1)/2).

Why they agree where both exist: ``dense[r*i] = sum_k w[k] x[r*i + r*(k - c)]
= sum_k w[k] x_low[i + k - c] = sparse[i]`` (c = (K-1)/2, ``x_low = x[::r]``); the zero padding
matches too, since ``x_low`` runs out exactly where the even samples of ``x`` do. Every
convolution here is :func:`minideeplab.functional.conv2d`; the figures only draw its results.
"""
from collections import namedtuple

import matplotlib
import numpy as np
from matplotlib.patches import Rectangle

from ... import backend
from ...functional import conv2d, effective_kernel_size
from .common import SUBIMAGE_COLORS, caption, new_figure, sample_image, style_axes

__all__ = ["atrous_conv1d", "atrous_conv2d_image", "upsample_filter", "gaussian_derivative",
           "Atrous1D", "Atrous2D", "atrous_1d", "atrous_2d", "fig2_atrous_1d",
           "fig3_atrous_2d"]

SPARSE, DENSE = SUBIMAGE_COLORS[1], SUBIMAGE_COLORS[0]

Atrous1D = namedtuple("Atrous1D", "x x_low w rate y_sparse y_dense max_abs_diff")
Atrous1D.__doc__ = """Fig. 2's numbers: input x (L,), x_low = x[::rate], kernel w (K,),
y_sparse (len(x_low),) = conv(x_low, w), y_dense (L,) = atrous conv(x, w, rate), and
max |y_dense[::rate] - y_sparse|."""

Atrous2D = namedtuple("Atrous2D", "image image_low kernel rate sparse dense implanted "
                                  "max_abs_diff")
Atrous2D.__doc__ = """Fig. 3's arrays: image (H, W), image_low = image[::r, ::r], kernel
(K, K), sparse (H/r, W/r) response of the low-resolution image, dense (H, W) atrous response,
implanted (H, W): the sparse response put back at its image positions (NaN elsewhere), and
max |dense[::r, ::r] - sparse|."""


def atrous_conv1d(x, w, rate, device="cpu"):
    """1-D atrous convolution ``y[i] = sum_k x[i + r(k - c)] w[k]`` (Sec. 3.1, eq. 1), same size.

    A 1-D signal is a (1, 1, 1, L) image and the filter a (1, 1, 1, K) one, so this is exactly
    :func:`~minideeplab.functional.conv2d` with padding ``r(K-1)/2`` along the width.
    x (L,), w (K,) with K odd -> y (L,), float64 NumPy.
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    xd, wd = backend.to_device([x.reshape(1, 1, 1, -1), w.reshape(1, 1, 1, -1)], device)
    y, _ = conv2d(xd, wd, padding=(0, rate * (len(w) - 1) // 2), rate=rate)
    return backend.asnumpy(y).reshape(-1)


def atrous_conv2d_image(image, kernel, rate, device="cpu", method="holes"):
    """A grey image (H, W) convolved with a (K, K) kernel at ``rate``, same size, float64."""
    xd, wd = backend.to_device([np.asarray(image, np.float64)[None, None],
                                np.asarray(kernel, np.float64)[None, None]], device)
    y, _ = conv2d(xd, wd, padding=rate * (kernel.shape[0] - 1) // 2, rate=rate,
                  method=method)
    return backend.asnumpy(y)[0, 0]


def upsample_filter(kernel, rate):
    """The filter "with holes": ``rate - 1`` zeros between taps, (K, K) -> (k_e, k_e).

    Only for drawing: the convolutions never build it (that is the point of Sec. 3.1).
    """
    K = kernel.shape[0]
    ke = effective_kernel_size(K, rate)
    big = np.zeros((ke, ke))
    big[::rate, ::rate] = kernel
    return big


def gaussian_derivative(size=7, sigma=1.5):
    """Vertical derivative of a Gaussian, ``-y/s^2 exp(-(x^2 + y^2) / 2s^2)``, (size, size).

    Fig. 3's kernel: it responds to horizontal edges. Normalised to unit L1 norm.
    """
    c = (size - 1) / 2
    yy, xx = np.mgrid[0:size, 0:size] - c
    g = -yy / sigma ** 2 * np.exp(-(xx ** 2 + yy ** 2) / (2 * sigma ** 2))
    return g / np.abs(g).sum()


def atrous_1d(length=13, w=(1.0, 2.0, 1.0), rate=2, seed=0, device="cpu"):
    """Fig. 2's numbers: small integer inputs so that every value can be printed exactly."""
    x = np.random.default_rng(seed).integers(0, 6, size=length).astype(np.float64)
    w = np.asarray(w, dtype=np.float64)
    x_low = x[::rate]
    y_sparse = atrous_conv1d(x_low, w, 1, device)
    y_dense = atrous_conv1d(x, w, rate, device)
    return Atrous1D(x, x_low, w, rate, y_sparse, y_dense,
                    float(np.abs(y_dense[::rate] - y_sparse).max()))


def _cells(ax, positions, values, y, *, color=None, norm=1.0, edge="black", dashed=False):
    """Draw one row of unit cells at ``positions`` with their values written inside."""
    cmap = matplotlib.colormaps["Blues"]
    for p, v in zip(positions, values):
        face = "white" if dashed else cmap(0.15 + 0.6 * v / norm)
        ax.add_patch(Rectangle((p - 0.4, y - 0.4), 0.8, 0.8, facecolor=face,
                               edgecolor=color or edge, lw=2.2 if color else 0.8,
                               ls="--" if dashed else "-"))
        ax.text(p, y, f"{v:g}", ha="center", va="center", fontsize=8,
                color="0.5" if dashed else "black")


def _links(ax, out_pos, in_pos, w, *, highlight=False):
    for q, wk in zip(in_pos, w):
        ax.plot([out_pos, q], [1.6, 0.4], color=SPARSE if highlight else "0.75",
                lw=1.8 if highlight else 0.6, zorder=0)
        if highlight:
            ax.text((out_pos + 2 * q) / 3, 0.8, f"w={wk:g}", fontsize=7, color=SPARSE,
                    ha="center", va="center",
                    bbox=dict(facecolor="white", edgecolor="none", pad=0.5))


def _panel_1d(ax, x_pos, x_vals, y_pos, y_vals, w, rate_in, pad_pos, title, in_label, norm,
              outline=()):
    K = len(w)
    c = (K - 1) // 2
    for j, (p, _) in enumerate(zip(y_pos, y_vals)):
        taps = [p + rate_in * (k - c) for k in range(K)]
        _links(ax, p, taps, w, highlight=(j == len(y_pos) // 2))
    _cells(ax, pad_pos, [0] * len(pad_pos), 0, dashed=True)
    _cells(ax, x_pos, x_vals, 0, norm=norm)
    for p, v in zip(y_pos, y_vals):
        _cells(ax, [p], [v], 2.0, norm=4 * norm, color=SPARSE if p in outline else None)
    ax.text(-rate_in - 0.9, 0, in_label, ha="right", va="center", fontsize=8)
    ax.text(-rate_in - 0.9, 2.0, "output", ha="right", va="center", fontsize=8)
    ax.set_xlim(-rate_in - 5.5, max(x_pos) + rate_in + 1)
    ax.set_ylim(-0.7, 2.7)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=9, loc="left")


def fig2_atrous_1d(length=13, w=(1.0, 2.0, 1.0), rate=2, seed=0, device="cpu"):
    """The paper's Fig. 2: sparse vs dense feature extraction in 1-D, rate 2.

    (a) the low-resolution input ``x[::2]`` convolved with a 3-tap kernel (stride 1, pad 1);
    (b) the full-resolution input convolved with the same taps at rate 2 (pad 2);
    (c) the two outputs on one axis: the dense output at the even positions *is* the sparse one.

    Returns
    -------
    fig : matplotlib Figure
    numbers : :class:`Atrous1D`
    """
    n = atrous_1d(length, w, rate, seed, device)
    K = len(n.w)
    pad = (K - 1) // 2
    L = len(n.x)
    low_pos = list(range(0, L, rate))
    norm = max(float(n.x.max()), 1.0)
    fig = new_figure(9.5, 6.4)
    gs = fig.add_gridspec(3, 1, height_ratios=[1, 1, 1.1])
    ax = fig.add_subplot(gs[0])
    _panel_1d(ax, low_pos, n.x_low, low_pos, n.y_sparse, n.w, rate,
              [-rate * k for k in range(1, pad + 1)] + [L - 1 + rate * k for k in range(1, pad + 1)
                                                         if (L - 1) % rate == 0],
              f"(a) Sparse feature extraction: standard convolution (kernel {K}, stride 1, "
              f"pad {pad}) on a low resolution input x[::{rate}]", "input\n(low res)", norm,
              outline=low_pos)
    ax = fig.add_subplot(gs[1])
    pads = range(1, rate * pad + 1)
    _panel_1d(ax, list(range(L)), n.x, list(range(L)), n.y_dense, n.w, rate,
              [-k for k in pads] + [L - 1 + k for k in pads],
              f"(b) Dense feature extraction: atrous convolution (kernel {K}, rate {rate}, "
              f"pad {rate * pad}) on the high resolution input x", "input\n(high res)", norm,
              outline=low_pos)
    ax = style_axes(fig.add_subplot(gs[2]),
                    title=f"(c) dense output at positions 0, {rate}, {2 * rate}, ... equals "
                          f"the sparse output: max |difference| = {n.max_abs_diff:g}",
                    xlabel="position i in the high resolution input", ylabel="output y[i]")
    ax.plot(range(L), n.y_dense, "-o", color=DENSE, ms=4, label=f"dense (atrous, rate {rate})")
    ax.plot(low_pos, n.y_sparse, "o", mfc="none", mec=SPARSE, ms=11, mew=2,
            label=f"sparse (low resolution, placed at i = {rate}j)")
    ax.set_xticks(range(L))
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    taps = ", ".join(f"{v:g}" for v in n.w)
    fig.suptitle(f"Fig. 2: atrous convolution in 1-D (kernel w = [{taps}])", fontsize=11)
    caption(fig, "Outlined outputs in (b) are computed at the same input positions as (a), "
                 "with the same taps; they agree exactly. (b) also fills the positions between.")
    return fig, n


def atrous_2d(image=None, kernel=None, rate=2, device="cpu"):
    """Fig. 3's arrays (see :class:`Atrous2D`); image defaults to the grey sample photo."""
    image = sample_image() if image is None else np.asarray(image, np.float64)
    kernel = gaussian_derivative() if kernel is None else np.asarray(kernel, np.float64)
    low = image[::rate, ::rate]                             # "downsampling ... by a factor 2"
    sparse = atrous_conv2d_image(low, kernel, 1, device)
    dense = atrous_conv2d_image(image, kernel, rate, device)
    implanted = np.full(image.shape, np.nan)
    implanted[::rate, ::rate] = sparse                      # responses at 1/r^2 of the positions
    diff = float(np.abs(dense[::rate, ::rate] - sparse).max())
    return Atrous2D(image, low, kernel, rate, sparse, dense, implanted, diff)


def fig3_atrous_2d(image=None, kernel=None, rate=2, zoom=(262, 226, 40), device="cpu"):
    """The paper's Fig. 3: downsample - convolve - upsample vs atrous convolution, on a photo.

    Top row (sparse): the image downsampled by 2, a 7x7 vertical Gaussian derivative
    (rate 1), the response, and the response implanted back into image coordinates (a zoomed
    crop, where only 1/4 of the positions have a value). Bottom row (dense): the full image,
    the same kernel at rate 2 (the "filter with holes"), the response at every position, and
    the same crop. ``zoom = (row, col, size)`` picks the crop.

    Returns
    -------
    fig : matplotlib Figure
    arrays : :class:`Atrous2D`
    """
    a = atrous_2d(image, kernel, rate, device)
    r0, c0, s = zoom
    vmax = float(np.abs(a.dense).max()) * 0.6
    resp = dict(cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    zmax = float(np.abs(a.dense[r0:r0 + s, c0:c0 + s]).max())
    zoomed = dict(resp, vmin=-zmax, vmax=zmax)
    kmax = float(np.abs(a.kernel).max())
    kern = dict(cmap="RdBu_r", vmin=-kmax, vmax=kmax, interpolation="nearest")
    K = a.kernel.shape[0]
    ke = effective_kernel_size(K, rate)
    fig = new_figure(12, 6.6)
    axes = fig.subplots(2, 4)
    H, W = a.image.shape
    h, w = a.image_low.shape
    top = [(a.image_low, dict(cmap="gray", vmin=0, vmax=1), f"input downsampled by {rate}\n"
                                                              f"({h}x{w})"),
           (a.kernel, kern, f"kernel {K}x{K}, rate 1\n(vertical Gaussian derivative)"),
           (a.sparse, resp, f"sparse response ({h}x{w})\n= responses at 1/{rate * rate} of "
                            "the positions"),
           (a.implanted[r0:r0 + s, c0:c0 + s], zoomed, "upsampled to image coords, zoom\n"
                                                    "(white: no response computed)")]
    bottom = [(a.image, dict(cmap="gray", vmin=0, vmax=1), f"input at full resolution\n"
                                                            f"({H}x{W})"),
              (upsample_filter(a.kernel, rate), kern,
               f"kernel {K}x{K}, rate {rate}\n(effective {ke}x{ke}, still {K * K} weights)"),
              (a.dense, resp, f"dense response ({H}x{W})\n= responses at all positions"),
              (a.dense[r0:r0 + s, c0:c0 + s], zoomed, "same zoom: every position computed")]
    for row, panels in enumerate((top, bottom)):
        for col, (img, kw, title) in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(img, **kw)
            style_axes(ax, title=title)
            ax.set_xticks([])
            ax.set_yticks([])
    for ax in (axes[0, 0], axes[1, 0]):
        ax.add_patch(Rectangle((c0 / (rate if ax is axes[0, 0] else 1) - 0.5,
                                r0 / (rate if ax is axes[0, 0] else 1) - 0.5),
                               s / (rate if ax is axes[0, 0] else 1),
                               s / (rate if ax is axes[0, 0] else 1),
                               fill=False, edgecolor="yellow", lw=1.2))
    axes[0, 0].set_ylabel("sparse feature extraction", fontsize=9, color=SPARSE)
    axes[1, 0].set_ylabel("dense feature extraction", fontsize=9, color=DENSE)
    fig.suptitle("Fig. 3: atrous convolution in 2-D. Top: sparse feature extraction with "
                 "standard convolution on a low resolution input.\nBottom: dense feature "
                 f"extraction with atrous convolution with rate r = {rate} on the high "
                 "resolution input.", fontsize=10)
    caption(fig, f"max |dense[::{rate}, ::{rate}] - sparse| = {a.max_abs_diff:.1e}: on the "
                 "positions the sparse path computes, the atrous result is the same number.")
    return fig, a
