"""Tables 2 and 3 in miniature: the learning-rate policy, and LargeFOV vs ASPP-S vs ASPP-L.

Both train the variants of :mod:`.variants` (or load them from the checkpoint cache) and
compare our numbers on the synthetic shapes with the paper's on PASCAL VOC 2012 val.

=====================  ================================================  ============
function               what                                              tutorial
=====================  ================================================  ============
:func:`table2`         "poly" vs "step" (Table 2 in miniature)           06_training
:func:`table3`         LargeFOV vs ASPP-S vs ASPP-L (Table 3), Fig. 8    07_dense_crf
:func:`table2_seeds`   Table 2 over :data:`SEEDS`: mean, spread          06_training
:func:`table3_seeds`   Table 3 over :data:`SEEDS`: mean, spread          07_dense_crf
=====================  ================================================  ============

One training run is one draw: a seed fixes the synthetic images (train and val), the initial
weights, the batches and the augmentation. The ``*_seeds`` tables repeat the experiment for
each of :data:`SEEDS` and report every seed, the mean and the sample standard deviation, and
the per-seed differences that the paper's claims are about. Seed 0 is the default run's (its
networks are shipped); the others are trained when first asked for (about 6 minutes each on 2
CPU cores).
"""
import os
import statistics
from collections import namedtuple

from ..errors import MissingFileError
from ..progress import progress_bar
from .crf_experiments import before_after_crf, crf_params
from .figures.training import fig_predictions, fig_training_curves
from .tables import table_text
from .variants import trained

__all__ = ["PAPER_TABLE2", "PAPER_TABLE3", "SEEDS", "Table2Result", "table2", "Table3Result",
           "table3", "SeedsResult", "spread", "table2_seeds", "table3_seeds", "committed_table"]

SEEDS = (0, 1, 2)

# The paper's numbers (PASCAL VOC 2012 val, mean IOU %), printed beside ours for comparison
PAPER_TABLE2 = {"step": 62.25, "poly": 63.42}      # LargeFOV, batch 30, 6K iterations
PAPER_TABLE3 = {"largefov": (65.76, 69.84), "aspp-s": (66.98, 69.73),
                "aspp-l": (68.96, 71.57)}           # (before CRF, after CRF)


Table2Result = namedtuple("Table2Result", "runs rows header text figure")
Table2Result.__doc__ = ("Table 2 in miniature: runs {name: TrainedRun}, the table's rows and "
                        "header, its text, and the learning-curve figure.")


def table2(quick=False, device=None, progress=None):
    """ASPP-L trained with the "poly" and the "step" policy for the same iterations (Table 2).

    ``progress``: :func:`minideeplab.progress.progress_bar`'s convention, for the loop over the
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


SeedsResult = namedtuple("SeedsResult", "seeds values rows header text")
SeedsResult.__doc__ = ("A table over seeds: the seeds, values {row name: [value per seed]} "
                       "(mIoU %), the table's rows and header, and its text.")


def spread(values):
    """``"mean +- sd"`` of a list of numbers (sample standard deviation; 0 for one value)."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.2f} +- {sd:.2f}"


def _seed_rows(values, paper):
    """One row per entry: its per-seed values, their spread and the paper's number."""
    return [[name, *(f"{v:.2f}" for v in vals), spread(vals), paper.get(name, "")]
            for name, vals in values.items()]


def table2_seeds(quick=False, device=None, progress=None, seeds=SEEDS):
    """Table 2 in miniature repeated for each seed: the final val mIoU of "poly" and "step"
    and their difference, per seed, with mean and sample standard deviation."""
    values = {"poly": [], "step": []}
    for seed in progress_bar(progress, seeds, desc="table 2 seeds"):
        for name in ("aspp-l", "aspp-l-step"):
            run = trained(name, quick, device, progress=progress, seed=seed)
            values[run.config.lr_policy].append(100 * run.history["val"][-1]["mean_iou"])
    values["poly - step"] = [p - s for p, s in zip(values["poly"], values["step"])]
    paper = {k: f"{v:.2f}" for k, v in PAPER_TABLE2.items()}
    paper["poly - step"] = f"{PAPER_TABLE2['poly'] - PAPER_TABLE2['step']:+.2f}"
    header = ["policy", *(f"seed {s}" for s in seeds), "mean +- sd", "paper (VOC)"]
    rows = _seed_rows(values, paper)
    text = (f"Table 2 in miniature over {len(seeds)} seeds: val mIoU % of the tiny ASPP-L "
            "after the same iterations (each seed: its own shapes, initial weights and "
            "batches; sd: sample standard deviation)\n" + table_text(rows, header))
    return SeedsResult(tuple(seeds), values, rows, header, text)


def table3_seeds(quick=False, device=None, progress=None, seeds=SEEDS):
    """Table 3 in miniature repeated for each seed: val mIoU before and after the CRF of
    LargeFOV, ASPP-S and ASPP-L, per seed, with mean and sample standard deviation.

    Every seed's networks are post-processed with the same CRF parameters, cross-validated
    once on seed 0's ASPP-L (:func:`~minideeplab.paper.crf_experiments.crf_params`), as the
    paper fixes them once for all its models.
    """
    crf = crf_params(trained("aspp-l", quick, device, progress=progress), quick,
                     progress=progress)
    names = ("largefov", "aspp-s", "aspp-l")
    values = {f"{n} {when}": [] for when in ("before", "after") for n in names}
    for seed in progress_bar(progress, seeds, desc="table 3 seeds"):
        for name in names:
            res = before_after_crf(trained(name, quick, device, progress=progress, seed=seed),
                                   crf)
            values[f"{name} before"].append(100 * res.miou_before)
            values[f"{name} after"].append(100 * res.miou_after)
    for when in ("before", "after"):
        values[f"aspp-l - largefov {when}"] = [
            a - b for a, b in zip(values[f"aspp-l {when}"], values[f"largefov {when}"])]
    values["CRF gain, aspp-l"] = [a - b for a, b in zip(values["aspp-l after"],
                                                        values["aspp-l before"])]
    paper = {f"{n} {when}": f"{PAPER_TABLE3[n][i]:.2f}" for n in names
             for i, when in enumerate(("before", "after"))}
    for i, when in enumerate(("before", "after")):
        paper[f"aspp-l - largefov {when}"] = (
            f"{PAPER_TABLE3['aspp-l'][i] - PAPER_TABLE3['largefov'][i]:+.2f}")
    paper["CRF gain, aspp-l"] = f"{PAPER_TABLE3['aspp-l'][1] - PAPER_TABLE3['aspp-l'][0]:+.2f}"
    header = ["model, CRF", *(f"seed {s}" for s in seeds), "mean +- sd", "paper (VOC)"]
    rows = _seed_rows(values, paper)
    text = (f"Table 3 in miniature over {len(seeds)} seeds: val mIoU % before / after the CRF "
            f"(each seed: its own shapes, initial weights and batches; CRF {crf}, "
            "cross-validated on seed 0's ASPP-L; sd: sample standard deviation)\n"
            + table_text(rows, header))
    return SeedsResult(tuple(seeds), values, rows, header, text)


def committed_table(name):
    """The text of figures/``name`` as committed in the repository (what the full run wrote),
    for the notebooks that show a table too slow to compute on the spot."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
                        "figures", name)
    if not os.path.exists(path):
        raise MissingFileError(f"committed_table: {os.path.normpath(path)} does not exist (it "
                               "is in the repository's figures/, not in an installed package); "
                               f"compute it with `python -m minideeplab reproduce --only "
                               f"{os.path.splitext(name)[0]}`")
    with open(path) as f:
        return f.read().rstrip()
