"""Jobs for Sec. 4.1's training protocol: "poly" vs "step" learning rate (Table 2)."""
from .. import table2_table3 as tables23
from ..registry import job
from ..figures.common import save_figure, save_text


@job(name="table2", paper="Table 2 (miniature)",
     files={"table2.txt": "poly vs step learning rate: val mIoU of the tiny ASPP-L after the "
                          "same number of iterations.",
            "table2_curves.png": "Loss, val mIoU and learning rate of both policies."},
     notebook="06_training.ipynb")
def table2(out_dir, quick, device, progress):
    """ASPP-L trained with the "poly" and the "step" policy for the same iterations."""
    result = tables23.table2(quick, device, progress)
    save_text(out_dir / "table2.txt", result.text + "\n")
    return [out_dir / "table2.txt", save_figure(result.figure, out_dir / "table2_curves.png")]
