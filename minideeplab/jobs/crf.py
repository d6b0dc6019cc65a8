"""Jobs for Sec. 3.3: the fully connected CRF (cross-validation, Figs. 5, 6 and 10)."""
import numpy as np

from .. import backend, experiments as ex
from ..crf import dense_crf
from ..data.synthetic import CLASS_NAMES
from ..metrics import trimap_accuracy
from ..reproduce import job
from ..viz import crf as viz_crf, training
from ..viz.common import save_figure

TRIMAP_WIDTHS = (0, 1, 2, 3, 4, 6, 8, 10, 15, 20)


@job(name="crf_crossval", paper="Sec. 4.1 (CRF cross-validation)",
     files=["crf_crossval.txt"], notebook="07_dense_crf.ipynb")
def crf_crossval(out_dir, quick, device, progress):
    """Coarse-to-fine search of w1, theta_alpha, theta_beta on val images (ASPP-L's output)."""
    run = ex.trained("aspp-l", quick, device, show_progress=False)
    params = ex.crf_params(run, quick)
    if quick:
        text = f"quick mode: no search, parameters {params}\n"
    else:
        result = ex.crf_search(run)
        rows = [[r["stage"], r["w1"], r["theta_alpha"], r["theta_beta"], r["mean_iou"]]
                for r in result.table]
        text = (f"CRF cross-validation on 20 val images (w2 = {ex.CRF_PARAMS['w2']}, "
                f"theta_gamma = {ex.CRF_PARAMS['theta_gamma']})\n"
                f"no CRF: mIoU {result.baseline_mean_iou:.4f}; best: {result.best} -> "
                f"{result.best_mean_iou:.4f}\n\n"
                + training.table_text(rows, ["stage", "w1", "theta_alpha", "theta_beta",
                                             "mIoU"]))
    (out_dir / "crf_crossval.txt").write_text(text + "\n")
    return [out_dir / "crf_crossval.txt"]


def _aspp_l_with_crf(quick, device):
    run = ex.trained("aspp-l", quick, device, show_progress=False)
    return run, ex.crf_params(run, quick)


@job(name="fig5", paper="Fig. 5", files=["fig5_meanfield.png"], notebook="07_dense_crf.ipynb")
def fig5(out_dir, quick, device, progress):
    """Score and belief maps of one class after each mean-field iteration (val image)."""
    run, params = _aspp_l_with_crf(quick, device)
    images, labels = ex.val_arrays(run.config, 10)
    k = int(np.argmax([(lb > 0).sum() for lb in labels]))            # the most foreground
    probs = ex.val_probabilities(run, images[k:k + 1])[0]
    cls = int(np.bincount(labels[k][labels[k] > 0]).argmax()) if (labels[k] > 0).any() else 1
    _, history = dense_crf(images[k], probs, return_history=True, **params)
    history = type(history)([backend.asnumpy(q) for q in history.Q],
                            [backend.asnumpy(s) for s in history.scores])
    fig = viz_crf.fig5_meanfield(images[k], history, cls, class_name=CLASS_NAMES[cls])
    return [save_figure(fig, out_dir / "fig5_meanfield.png")]


@job(name="fig6_fig10", paper="Fig. 6 and Fig. 10",
     files={"fig6_crf_before_after.png": "Fig. 6: val images before / after the CRF.",
            "fig10_trimap.png": "Fig. 10: trimap examples; mean IOU and pixel accuracy in a "
                                "band around boundaries vs its width, before / after the CRF.",
            "fig10_trimap.txt": "Fig. 10's numbers."},
     notebook="07_dense_crf.ipynb")
def fig6_fig10(out_dir, quick, device, progress):
    """DeepLab-ASPP-L before and after the CRF on the val set: examples and trimap curves."""
    run, params = _aspp_l_with_crf(quick, device)
    res = ex.before_after_crf(run, params)
    L = res["probs"].shape[1]
    curves = {name: trimap_accuracy(list(res[key]), list(res["labels"]), TRIMAP_WIDTHS, L)
              for name, key in (("before CRF", "before"), ("after CRF", "after"))}
    order = np.argsort([-(lb > 0).sum() for lb in res["labels"]])[:4]
    fig6 = viz_crf.fig6_before_after(res["images"][order], res["labels"][order],
                                     res["before"][order], res["after"][order])
    fig10 = viz_crf.fig10_trimap(res["images"][order[0]], res["labels"][order[0]], curves)
    rows = [[int(w)] + [float(curves[n].mean_iou[i]) for n in curves]
            + [float(curves[n].pixel_accuracy[i]) for n in curves]
            for i, w in enumerate(TRIMAP_WIDTHS)]
    text = (f"Fig. 10: trimap evaluation of ASPP-L on {len(res['images'])} val images, CRF "
            f"{params}; whole image: mIoU {res['miou_before']:.4f} before, "
            f"{res['miou_after']:.4f} after the CRF\n"
            + training.table_text(rows, ["width", "mIoU before", "mIoU after", "acc before",
                                         "acc after"]))
    (out_dir / "fig10_trimap.txt").write_text(text + "\n")
    return [save_figure(fig6, out_dir / "fig6_crf_before_after.png"),
            save_figure(fig10, out_dir / "fig10_trimap.png"), out_dir / "fig10_trimap.txt"]
