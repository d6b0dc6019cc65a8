"""Jobs for the permutohedral lattice (the dense CRF's filter, Sec. 3.3): the 2-D lattice
step by step, its kernel against the exact Gaussian, the bilateral kernel of one pixel."""
import numpy as np

from ..figures import lattice
from ..figures.common import sample_image, save_figure
from ..registry import job

NOTEBOOK = "07b_permutohedral_lattice.ipynb"
POINTS_2D = dict(n=14, box=3.0, seed=2)                 # random 2-D points (features / sigma)
GRID_2D = dict(side=40, sigma=3.0)                      # a pixel grid, spatial kernel
PHOTO = dict(scale=8, theta_alpha=10.0, theta_beta=20.0)  # 75x64 photo, bilateral kernel
PIXEL = (52, 22)                 # on the dark jacket, near the flag and the white shirt


def points_2d(n=POINTS_2D["n"], box=POINTS_2D["box"], seed=POINTS_2D["seed"]):
    """``n`` random 2-D feature vectors in [0, box)^2."""
    return np.random.default_rng(seed).random((n, 2)) * box


def grid_features(side=GRID_2D["side"], sigma=GRID_2D["sigma"]):
    """(side^2, 2) positions of a side x side pixel grid divided by sigma (row-major)."""
    yy, xx = np.mgrid[:side, :side]
    return np.stack([xx.ravel(), yy.ravel()], axis=1) / sigma


def photo(scale=PHOTO["scale"]):
    """The sample photo as (H, W, 3) float64 in 0..255, every ``scale``-th pixel."""
    return sample_image(gray=False, scale=scale) * 255.0


def kernel_profiles():
    """The lattice's impulse response against the Gaussian: 2-D pixel grid (centre pixel) and
    5-D bilateral features of the photo (at :data:`PIXEL`)."""
    from ...crf.dense import bilateral_features
    side = GRID_2D["side"]
    grid = lattice.lattice_impulse_response(grid_features(), (side // 2) * side + side // 2)
    image = photo()
    feats = bilateral_features(image, PHOTO["theta_alpha"], PHOTO["theta_beta"])
    five = lattice.lattice_impulse_response(feats, PIXEL[0] * image.shape[1] + PIXEL[1])
    return grid, five


@job(name="lattice", paper="Sec. 3.3 (the CRF's filter)",
     files={"lattice_2d.png": "The 2-D permutohedral lattice: points, elevation onto the "
                              "plane with enclosing triangles, splatted values.",
            "lattice_kernel.png": "The lattice's impulse response against the exact Gaussian "
                                  "(2-D grid, 5-D bilateral features of the photo).",
            "bilateral_kernel.png": "The bilateral kernel of one pixel of the photo, exact "
                                    "and by the lattice."},
     notebook=NOTEBOOK)
def lattice_figures(out_dir, quick, device, progress):
    """The permutohedral lattice step by step, and its kernel measured against the Gaussian."""
    fig, _ = lattice.fig_lattice_2d(points_2d())
    paths = [save_figure(fig, out_dir / "lattice_2d.png")]
    paths.append(save_figure(lattice.fig_lattice_kernel(kernel_profiles()),
                             out_dir / "lattice_kernel.png"))
    fig, _, _ = lattice.fig_bilateral_kernel(photo(), PIXEL, PHOTO["theta_alpha"],
                                         PHOTO["theta_beta"])
    paths.append(save_figure(fig, out_dir / "bilateral_kernel.png"))
    return paths
