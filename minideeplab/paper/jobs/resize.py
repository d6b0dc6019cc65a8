"""Jobs for the bilinear upsampling of score maps (Sec. 3.1, Caffe's Interp) and its gradient."""
from ..registry import job
from ..figures import resize
from ..figures.common import save_figure


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
    checks = [resize.resize_gradient_check(align_corners=ac, device=device)
              for ac in (True, False)]
    paths.append(save_figure(resize.fig_gradient_check(checks),
                             out_dir / "resize_gradcheck.png"))
    return paths
