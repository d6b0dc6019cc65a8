"""Jobs for Sec. 4.1's training protocol: "poly" vs "step" learning rate (Table 2)."""
from .. import experiments as ex
from ..reproduce import job
from ..viz import training
from ..viz.common import save_figure


@job(name="table2", paper="Table 2 (miniature)",
     files={"table2.txt": "poly vs step learning rate: val mIoU of the tiny ASPP-L after the "
                          "same number of iterations.",
            "table2_curves.png": "Loss, val mIoU and learning rate of both policies."},
     notebook="06_training.ipynb")
def table2(out_dir, quick, device, progress):
    """ASPP-L trained with the "poly" and the "step" policy for the same iterations."""
    runs = {name: ex.trained(name, quick, device, show_progress=False)
            for name in progress(("aspp-l", "aspp-l-step"), desc="train")}
    rows = [[r.config.lr_policy, r.config.max_iter, r.config.batch_size,
             r.history["val"][-1]["mean_iou"]] for r in runs.values()]
    (out_dir / "table2.txt").write_text(
        "Table 2 in miniature: learning-rate policy, tiny ASPP-L, synthetic shapes (val)\n"
        + training.table_text(rows, ["policy", "iterations", "batch", "mIoU"]) + "\n")
    fig = training.fig_training_curves({f"{r.config.lr_policy}": r.history
                                        for r in runs.values()},
                                       title="Table 2 in miniature: 'poly' vs 'step'")
    return [out_dir / "table2.txt", save_figure(fig, out_dir / "table2_curves.png")]
