"""Tables 2 and 3 in miniature: the learning-rate policy, and LargeFOV vs ASPP-S vs ASPP-L.

Both train the variants of :mod:`.variants` (or load them from the checkpoint cache) and
compare our numbers on the synthetic shapes with the paper's on PASCAL VOC 2012 val.

=====================  ================================================  ============
function               what                                              tutorial
=====================  ================================================  ============
:func:`table2`         "poly" vs "step" (Table 2 in miniature)           06_training
:func:`table3`         LargeFOV vs ASPP-S vs ASPP-L (Table 3), Fig. 8    04_aspp
=====================  ================================================  ============
"""
from collections import namedtuple

from ..timing import progress_bar
from .crf_experiments import before_after_crf, crf_params
from .figures.training import fig_predictions, fig_training_curves
from .tables import table_text
from .variants import trained

__all__ = ["PAPER_TABLE2", "PAPER_TABLE3", "Table2Result", "table2", "Table3Result", "table3"]

# The paper's numbers (PASCAL VOC 2012 val, mean IOU %), printed beside ours for comparison
PAPER_TABLE2 = {"step": 62.25, "poly": 63.42}      # LargeFOV, batch 30, 6K iterations
PAPER_TABLE3 = {"largefov": (65.76, 69.84), "aspp-s": (66.98, 69.73),
                "aspp-l": (68.96, 71.57)}           # (before CRF, after CRF)


Table2Result = namedtuple("Table2Result", "runs rows header text figure")
Table2Result.__doc__ = ("Table 2 in miniature: runs {name: TrainedRun}, the table's rows and "
                        "header, its text, and the learning-curve figure.")


def table2(quick=False, device=None, progress=None):
    """ASPP-L trained with the "poly" and the "step" policy for the same iterations (Table 2).

    ``progress``: :func:`minideeplab.timing.progress_bar`'s convention, for the loop over the
    variants and their training. Returns a :class:`Table2Result`; the figure shows loss, val
    mIoU and learning rate.
    """
    runs = {name: trained(name, quick, device, progress=progress)
            for name in progress_bar(progress, ("aspp-l", "aspp-l-step"), desc="table 2")}
    rows = [[r.config.lr_policy, r.config.max_iter, r.config.batch_size,
             f"{100 * r.history['val'][-1]['mean_iou']:.2f}",
             f"{PAPER_TABLE2[r.config.lr_policy]:.2f}"] for r in runs.values()]
    header = ["policy", "iterations", "batch", "mIoU %", "paper (VOC) %"]
    text = ("Table 2 in miniature: learning-rate policy, tiny ASPP-L, synthetic shapes (val); "
            "paper: LargeFOV on VOC, batch 30, 6K iterations\n" + table_text(rows, header))
    fig = fig_training_curves({r.config.lr_policy: r.history for r in runs.values()},
                              title="Table 2 in miniature: 'poly' vs 'step'")
    return Table2Result(runs, rows, header, text, fig)


Table3Result = namedtuple("Table3Result", "runs results crf rows header text curves predictions")
Table3Result.__doc__ = ("Table 3 in miniature: runs {name: TrainedRun}, results {name: "
                        ":class:`~minideeplab.paper.crf_experiments.BeforeAfterCRF`}, the CRF "
                        "parameters used, the table's rows, header and text, the learning "
                        "curves and the Fig. 8 grid.")


def table3(quick=False, device=None, progress=None):
    """LargeFOV vs ASPP-S vs ASPP-L on the synthetic shapes, before and after the CRF.

    All three are post-processed with the CRF parameters cross-validated on ASPP-L's output
    (:func:`~minideeplab.paper.crf_experiments.crf_params`). ``progress``: as :func:`table2`.
    Returns a :class:`Table3Result`.
    """
    crf = crf_params(trained("aspp-l", quick, device, progress=progress), quick,
                     progress=progress)
    runs, results, rows = {}, {}, []
    for name in progress_bar(progress, ("largefov", "aspp-s", "aspp-l"), desc="table 3"):
        runs[name] = run = trained(name, quick, device, progress=progress)
        results[name] = res = before_after_crf(run, crf)
        rows.append([name, run.model.num_parameters(), f"{100 * res.miou_before:.2f}",
                     f"{100 * res.miou_after:.2f}", f"{run.history['time'][-1] / 60:.1f}",
                     "{:.2f} / {:.2f}".format(*PAPER_TABLE3[name])])
    header = ["model", "params", "mIoU % before CRF", "after CRF", "train min",
              "paper (VOC) before / after"]
    text = ("Table 3 in miniature: tiny DeepLab-VGG16 on the synthetic shapes (val)\n"
            + table_text(rows, header))
    curves = fig_training_curves({n: r.history for n, r in runs.items()},
                                 title="Table 3 in miniature: LargeFOV vs ASPP-S vs ASPP-L",
                                 show_lr=False)
    res = results["aspp-l"]
    predictions = fig_predictions(
        res.images, res.labels, {"LargeFOV": results["largefov"].before, "ASPP-L": res.before},
        suptitle="Fig. 8 in miniature: LargeFOV vs ASPP-L (before CRF)")
    return Table3Result(runs, results, crf, rows, header, text, curves, predictions)
