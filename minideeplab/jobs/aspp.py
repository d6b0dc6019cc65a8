"""Jobs for Sec. 3.2: ASPP's sampling grids (Fig. 4) and LargeFOV vs ASPP-S vs ASPP-L (Table 3)."""
from .. import experiments as ex
from ..reproduce import job
from ..viz import aspp, training
from ..viz.common import save_figure


@job(name="fig4", paper="Fig. 4", files=["fig4_aspp_grids.png"],
     notebook="04_aspp.ipynb")
def fig4(out_dir, quick, device, progress):
    """ASPP-S and ASPP-L: the taps of the four 3x3 branches around one pixel, on a photo."""
    fig, _ = aspp.fig4_aspp_grids()
    return [save_figure(fig, out_dir / "fig4_aspp_grids.png")]


@job(name="table3", paper="Table 3 (miniature)",
     files={"table3.txt": "LargeFOV vs ASPP-S vs ASPP-L: val mIoU before / after the CRF, "
                          "parameters, training time (tiny models, synthetic shapes).",
            "table3_curves.png": "Training loss and val mIoU of the three models.",
            "fig8_aspp_predictions.png": "Fig. 8 in miniature: LargeFOV vs ASPP-L predictions "
                                         "on val images."},
     notebook="04_aspp.ipynb")
def table3(out_dir, quick, device, progress):
    """LargeFOV vs ASPP-S vs ASPP-L on the synthetic shapes, before and after the CRF."""
    rows, histories, preds = [], {}, {}
    for name in progress(("largefov", "aspp-s", "aspp-l"), desc="train"):
        run = ex.trained(name, quick, device, show_progress=False)
        res = ex.before_after_crf(run, ex.crf_params(ex.trained("aspp-l", quick, device,
                                                                show_progress=False), quick))
        histories[name] = run.history
        preds[name] = res["before"]
        rows.append([name, run.model.num_parameters(), res["miou_before"], res["miou_after"],
                     f"{run.history['time'][-1] / 60:.1f}"])
    header = ["model", "params", "mIoU before CRF", "mIoU after CRF", "train min"]
    (out_dir / "table3.txt").write_text(
        "Table 3 in miniature: tiny DeepLab-VGG16 on the synthetic shapes (val)\n"
        + training.table_text(rows, header) + "\n")
    curves = training.fig_training_curves(histories, title="Table 3 in miniature: LargeFOV vs "
                                          "ASPP-S vs ASPP-L", show_lr=False)
    fig8 = training.fig_predictions(res["images"], res["labels"],
                                    {"LargeFOV": preds["largefov"], "ASPP-L": preds["aspp-l"]},
                                    suptitle="Fig. 8 in miniature: LargeFOV vs ASPP-L (before "
                                             "CRF)")
    return [out_dir / "table3.txt", save_figure(curves, out_dir / "table3_curves.png"),
            save_figure(fig8, out_dir / "fig8_aspp_predictions.png")]
