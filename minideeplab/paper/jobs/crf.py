"""Jobs for Sec. 3.3: the fully connected CRF (cross-validation, Figs. 5, 6 and 10)."""
from .. import crf_experiments
from ..registry import job
from ..figures.common import save_figure, save_text


@job(name="crf_crossval", paper="Sec. 4.1 (CRF cross-validation)",
     files=["crf_crossval.txt"], notebook="07_dense_crf.ipynb")
def crf_crossval(out_dir, quick, device, progress):
    """Coarse-to-fine search of w1, theta_alpha, theta_beta on val images (ASPP-L's output)."""
    result = crf_experiments.crf_crossval(quick, device, progress)
    save_text(out_dir / "crf_crossval.txt", result.text + "\n")
    return [out_dir / "crf_crossval.txt"]


@job(name="fig5", paper="Fig. 5", files=["fig5_meanfield.png"], notebook="07_dense_crf.ipynb")
def fig5(out_dir, quick, device, progress):
    """Score and belief maps of one class after each mean-field iteration (val image)."""
    figure = crf_experiments.fig5(quick, device, progress).figure
    return [save_figure(figure, out_dir / "fig5_meanfield.png")]


@job(name="fig6_fig10", paper="Fig. 6 and Fig. 10",
     files={"fig6_crf_before_after.png": "Fig. 6: val images before / after the CRF.",
            "fig10_trimap.png": "Fig. 10: trimap examples; mean IOU and pixel accuracy in a "
                                "band around boundaries vs its width, before / after the CRF.",
            "fig10_trimap.txt": "Fig. 10's numbers."},
     notebook="07_dense_crf.ipynb")
def fig6_fig10(out_dir, quick, device, progress):
    """DeepLab-ASPP-L before and after the CRF on the val set: examples and trimap curves."""
    result = crf_experiments.fig6_fig10(quick, device, progress)
    save_text(out_dir / "fig10_trimap.txt", result.text + "\n")
    return [save_figure(result.fig6, out_dir / "fig6_crf_before_after.png"),
            save_figure(result.fig10, out_dir / "fig10_trimap.png"), out_dir / "fig10_trimap.txt"]
