"""Jobs for Sec. 3.2: ASPP's sampling grids (Fig. 4) and LargeFOV vs ASPP-S vs ASPP-L (Table 3)."""
from .. import table2_table3
from ..registry import job
from ..figures import aspp
from ..figures.common import save_figure, save_text


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
     notebook="07_dense_crf.ipynb")
def table3(out_dir, quick, device, progress):
    """LargeFOV vs ASPP-S vs ASPP-L on the synthetic shapes, before and after the CRF."""
    result = table2_table3.table3(quick, device, progress)
    save_text(out_dir / "table3.txt", result.text + "\n")
    return [out_dir / "table3.txt", save_figure(result.curves, out_dir / "table3_curves.png"),
            save_figure(result.predictions, out_dir / "fig8_aspp_predictions.png")]


@job(name="table3_seeds", paper="Table 3 (miniature, 3 seeds)",
     files={"table3_seeds.txt": "LargeFOV vs ASPP-S vs ASPP-L over seeds 0, 1, 2: val mIoU "
                                "before / after the CRF per seed, mean +- sd, and the "
                                "differences (trains 6 networks that are not shipped)."},
     notebook="07_dense_crf.ipynb", optional=True)
def table3_seeds(out_dir, quick, device, progress):
    """Table 3 in miniature repeated over three seeds."""
    result = table2_table3.table3_seeds(quick, device, progress)
    return [save_text(out_dir / "table3_seeds.txt", result.text + "\n")]
