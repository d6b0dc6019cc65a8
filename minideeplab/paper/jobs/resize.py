"""Jobs for the bilinear upsampling of score maps (Sec. 3.1, Caffe's Interp) and its gradient."""
import numpy as np

from ... import backend
from ...functional import resize_bilinear, resize_bilinear_backward
from ...gradcheck import gradient_arrays
from ..figures import resize
from ..figures.common import save_figure
from ..registry import job


def resize_gradient_checks(in_size=(4, 5), out_size=(7, 9), seed=0, device="cpu"):
    """The gradient of bilinear resizing, analytic and numerical, under both conventions.

    x (1, 1, *in_size) and the upstream gradient dy (1, 1, *out_size) are drawn from
    ``seed`` (float64). Returns {"align_corners=True": GradientArrays, "...=False": ...}, for
    :func:`minideeplab.paper.figures.resize.fig_gradient_check`.
    """
    rng = np.random.default_rng(seed)
    x = backend.to_device(rng.standard_normal((1, 1) + tuple(in_size)), device)
    dy = rng.standard_normal((1, 1) + tuple(out_size))
    checks = {}
    for ac in (True, False):
        def forward(x):
            return resize_bilinear(x, out_size, align_corners=ac)[0]

        def backward(dy, x):
            return {"x": resize_bilinear_backward(dy, resize_bilinear(x, out_size,
                                                                      align_corners=ac)[1])}
        checks[f"align_corners={ac}"] = gradient_arrays(forward, backward, {"x": x}, "x", dy=dy)
    return checks


@job(name="upsampling", paper="Sec. 3.1 (bilinear interpolation)",
     files={"align_corners.png": "Where each output pixel samples the input: "
                                 "align_corners=True (Caffe, DeepLab) vs False (PyTorch).",
            "upsample_scores.png": "A score map upsampled by 8 both ways, and their "
                                   "difference.",
            "resize_gradcheck.png": "Gradient check of bilinear resizing: analytic A^T dy "
                                    "vs central differences."},
     notebook="05_bilinear_upsampling_and_backprop.ipynb")
def upsampling(out_dir, quick, device, progress):
    """Bilinear upsampling: align_corners conventions, a score map zoomed by 8, gradient check."""
    fig, _ = resize.fig_align_corners(device=device)
    paths = [save_figure(fig, out_dir / "align_corners.png")]
    fig, _ = resize.fig_upsample_scores(device=device)
    paths.append(save_figure(fig, out_dir / "upsample_scores.png"))
    paths.append(save_figure(resize.fig_gradient_check(resize_gradient_checks(device=device)),
                             out_dir / "resize_gradcheck.png"))
    return paths
