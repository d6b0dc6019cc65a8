"""Jobs for Sec. 4.1's training protocol: "poly" vs "step" learning rate (Table 2)."""
from .. import table2_table3
from ..registry import job
from ..figures.common import save_figure, save_text


@job(name="table2", paper="Table 2 (miniature)",
     files={"table2.txt": "poly vs step learning rate: val mIoU of the tiny ASPP-L after the "
                          "same number of iterations.",
            "table2_curves.png": "Loss, val mIoU and learning rate of both policies."},
     notebook="06_training.ipynb")
def table2(out_dir, quick, device, progress):
    """ASPP-L trained with the "poly" and the "step" policy for the same iterations."""
    result = table2_table3.table2(quick, device, progress)
    save_text(out_dir / "table2.txt", result.text + "\n")
    return [out_dir / "table2.txt", save_figure(result.figure, out_dir / "table2_curves.png")]


@job(name="table2_seeds", paper="Table 2 (miniature, 3 seeds)",
     files={"table2_seeds.txt": "poly vs step over seeds 0, 1, 2: val mIoU per seed, mean +- "
                                "sd, and the difference (trains 4 networks that are not "
                                "shipped)."},
     notebook="06_training.ipynb", optional=True)
def table2_seeds(out_dir, quick, device, progress):
    """Table 2 in miniature repeated over three seeds."""
    result = table2_table3.table2_seeds(quick, device, progress)
    return [save_text(out_dir / "table2_seeds.txt", result.text + "\n")]
