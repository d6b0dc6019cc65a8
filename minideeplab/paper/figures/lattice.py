"""The permutohedral lattice drawn step by step, and its kernel measured against the Gaussian.

Adams, Baek & Davis 2010 (the filter of the dense CRF, DeepLab v2 Sec. 3.3): elevation onto
the plane ``sum x = 0`` in d+1 dimensions, the enclosing simplex by sorting, barycentric
weights, splat, blur, slice (:mod:`minideeplab.crf.lattice` computes them; this module only
exposes the intermediate arrays and draws them).
"""
from collections import namedtuple

import numpy as np

from ...crf import lattice, simplex
from .common import new_figure, style_axes

__all__ = ["LatticeSteps", "lattice_steps", "plane_coordinates", "fig_lattice_2d",
           "KernelProfile", "lattice_impulse_response", "fig_lattice_kernel",
           "fig_bilateral_kernel"]

LatticeSteps = namedtuple("LatticeSteps", "features elevated rem0 rank bary corners")
LatticeSteps.__doc__ = """features (N, d); elevated (d+1, N): the points on the plane sum = 0;
rem0 (d+1, N): the nearest remainder-0 lattice point; rank (d+1, N): the order of the
coordinates of elevated - rem0; bary (d+1, N): the barycentric weights of the enclosing
simplex's corners; corners (d+1, d+1, N): corner r's lattice coordinates, [r, :, n]."""


def lattice_steps(features):
    """The intermediate arrays of the lattice's splat for ``features`` (N, d), already divided
    by the sigmas (the library's own functions; corner r of point n gets weight bary[r, n])."""
    features = np.asarray(features, dtype=np.float64)
    elevated = simplex.elevate(features, np)
    rem0, rank, bary = simplex.enclosing_simplex(elevated, np)
    d1 = rem0.shape[0]
    corners = np.stack([rem0 + np.where(rank <= d1 - 1 - r, r, r - d1) for r in range(d1)])
    return LatticeSteps(features, elevated, rem0, rank, bary, corners)


def plane_coordinates(points3):
    """(3, ...) points of the plane x + y + z = 0 -> (2, ...) coordinates in an orthonormal
    basis of that plane (to draw the 2-D lattice flat)."""
    u = np.array([[1.0, -1.0, 0.0], [1.0, 1.0, -2.0]])
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return np.tensordot(u, points3, axes=1)


def fig_lattice_2d(features, values=None, *, highlight=0):
    """Three panels: the 2-D points; the points elevated onto the plane with the lattice's
    vertices and each point's enclosing triangle (point ``highlight``'s corners joined with
    line widths proportional to its barycentric weights); the splatted values on the vertices.

    Returns (figure, LatticeSteps).
    """
    steps = lattice_steps(features)
    N = steps.features.shape[0]
    values = np.ones(N) if values is None else np.asarray(values, dtype=np.float64)
    fig = new_figure(11, 3.8, suptitle="The permutohedral lattice in 2-D: elevate, find the "
                     "enclosing triangle, splat")
    axes = fig.subplots(1, 3)
    ax = axes[0]
    ax.scatter(steps.features[:, 0], steps.features[:, 1], c="k", s=10)
    ax.scatter(*steps.features[highlight], c="tab:red", s=40, zorder=3)
    ax.set_aspect("equal")
    style_axes(ax, "points (features / sigma)", "f0", "f1")
    ax = axes[1]
    verts = np.unique(steps.corners.transpose(0, 2, 1).reshape(-1, 3), axis=0)   # (M, 3)
    vp = plane_coordinates(verts.T.astype(np.float64))
    for n in range(N):
        tri = plane_coordinates(steps.corners[:, :, n].T.astype(np.float64))      # (2, 3)
        ax.fill(tri[0], tri[1], facecolor="none", edgecolor="0.8", lw=0.6)
    pts = plane_coordinates(steps.elevated)
    ax.scatter(vp[0], vp[1], marker="s", c="tab:blue", s=14, label="lattice vertices")
    ax.scatter(pts[0], pts[1], c="k", s=8, label="elevated points")
    h = plane_coordinates(steps.corners[:, :, highlight].T.astype(np.float64))
    for r in range(3):
        ax.plot([pts[0, highlight], h[0, r]], [pts[1, highlight], h[1, r]], c="tab:red",
                lw=0.5 + 5 * steps.bary[r, highlight])
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="upper right")
    style_axes(ax, "on the plane x+y+z = 0, with enclosing triangles", "u1", "u2")
    ax = axes[2]
    mass = np.zeros(len(verts))
    index = {tuple(v): k for k, v in enumerate(verts)}
    for r in range(3):
        for n in range(N):
            mass[index[tuple(steps.corners[r, :, n])]] += steps.bary[r, n] * values[n]
    sc = ax.scatter(vp[0], vp[1], c=mass, s=20 + 40 * mass / max(mass.max(), 1e-12),
                    cmap="viridis", marker="s")
    fig.colorbar(sc, ax=ax, shrink=0.8, label="splatted value")
    ax.set_aspect("equal")
    style_axes(ax, "splat: each vertex's share", "u1", "u2")
    return fig, steps


KernelProfile = namedtuple("KernelProfile", "distance exact lattice width reach dim")
KernelProfile.__doc__ = """distance (N,): |f_j - f_i| to the impulse's features; exact (N,):
exp(-distance^2 / 2); lattice (N,): the lattice filter's response, divided by its value at the
impulse; width: the sigma of the Gaussian exp(-distance^2 / (2 width^2)) that fits the
lattice's response best (least squares; 1 would be the exact kernel); reach: the largest
distance with a non-zero response; dim: d."""


def lattice_impulse_response(features, index):
    """The lattice filter's response to a unit impulse at point ``index`` of ``features``
    (N, d), against the exact Gaussian kernel (see :class:`KernelProfile`)."""
    features = np.asarray(features, dtype=np.float64)
    filt = lattice.LatticeFilter(features)
    v = np.zeros((features.shape[0], 1), dtype=np.float32)
    v[index] = 1.0
    response = np.asarray(filt(v))[:, 0].astype(np.float64)
    distance = np.linalg.norm(features - features[index], axis=1)
    response /= response[index]
    widths = np.linspace(0.5, 1.2, 141)
    err = [np.sum((np.exp(-distance ** 2 / (2 * s * s)) - response) ** 2) for s in widths]
    reach = float(distance[response > 0].max())
    return KernelProfile(distance, np.exp(-distance ** 2 / 2), response,
                         float(widths[int(np.argmin(err))]), reach, features.shape[1])


def fig_lattice_kernel(profiles):
    """One panel per :class:`KernelProfile`: the lattice's response against the distance in
    sigmas, the exact Gaussian, the best-fitting narrower Gaussian and the reach."""
    fig = new_figure(4.2 * len(profiles), 3.4,
                     suptitle="The lattice's kernel against the exact Gaussian")
    axes = np.atleast_1d(fig.subplots(1, len(profiles)))
    for ax, p in zip(axes, profiles):
        order = np.argsort(p.distance)
        ax.scatter(p.distance, p.lattice, s=3, c="tab:blue", alpha=0.4,
                   label="lattice (each point)")
        t = p.distance[order]
        ax.plot(t, p.exact[order], c="k", lw=1.5, label="exact exp(-t²/2)")
        ax.plot(t, np.exp(-t ** 2 / (2 * p.width ** 2)), c="tab:orange", ls="--",
                label=f"Gaussian of width {p.width:.2f}")
        ax.axvline(p.reach, c="tab:red", lw=1, ls=":", label=f"reach {p.reach:.2f}")
        ax.set_xlim(0, max(3.0, p.reach + 0.3))
        ax.legend(fontsize=7)
        style_axes(ax, f"d = {p.dim}", "distance |f_j - f_i| (in sigmas)",
                   "response / response at i")
    return fig


def fig_bilateral_kernel(image, pixel, theta_alpha, theta_beta):
    """The bilateral (appearance) kernel of one pixel over a photo: the photo with the pixel
    marked, the exact weights exp(-|p_i - p_j|^2 / 2 theta_alpha^2 - |I_i - I_j|^2 /
    2 theta_beta^2), and the lattice's (normalised at the pixel), each with a colour bar.

    image (H, W, 3) in 0..255; pixel (row, column). Returns (figure, exact (H, W),
    lattice (H, W)).
    """
    from ...crf.dense import bilateral_features
    H, W, _ = image.shape
    feats = bilateral_features(np.asarray(image, dtype=np.float64), theta_alpha, theta_beta)
    i = pixel[0] * W + pixel[1]
    prof = lattice_impulse_response(feats, i)
    exact, lat = prof.exact.reshape(H, W), prof.lattice.reshape(H, W)
    fig = new_figure(11, 3.9, suptitle=f"The bilateral kernel of one pixel (theta_alpha = "
                     f"{theta_alpha:g} px, theta_beta = {theta_beta:g} levels)")
    axes = fig.subplots(1, 3)
    axes[0].imshow(np.clip(image, 0, 255).astype(np.uint8))
    axes[0].scatter([pixel[1]], [pixel[0]], marker="+", c="red", s=80)
    style_axes(axes[0], "the photo and the pixel")
    for ax, k, title in ((axes[1], exact, "exact kernel"), (axes[2], lat, "lattice kernel")):
        im = ax.imshow(k, cmap="magma", vmin=0, vmax=1)
        ax.scatter([pixel[1]], [pixel[0]], marker="+", c="cyan", s=60)
        fig.colorbar(im, ax=ax, shrink=0.8, label="weight")
        style_axes(ax, title)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, exact, lat
