"""Benchmark: train the tiny DeepLab-ASPP-L on the synthetic shapes on the CPU; mIoU vs wall time.

The target: val mIoU >= 0.80 within 10 minutes on 2 CPU cores. On the same budget
(the same iterations) it also trains LargeFOV and ASPP-L with the "step" policy: the paper's
Tables 3 (LargeFOV vs ASPP) and 2 (poly vs step) in miniature; and ASPP-L on the "large"
preset (objects 1/4 .. 3/4 of the side instead of 1/16 .. 1/2).

The runs are the book's variants (:mod:`minideeplab.paper.variants`). Every run is trained
from scratch in this run and timed (never the networks shipped with the book, whose recorded
curves another machine made); it lands in the checkpoint cache that ``python -m minideeplab
reproduce`` and the tutorials read. ``--reuse`` takes a finished run from that cache instead of
training it: such a row is printed and written as "cached", its times were not measured in
this run, and the table says so.

    python benchmarks/bench_train.py                          # all four, ~10 minutes each
    python benchmarks/bench_train.py --runs aspp-l            # only ASPP-L (the 10-minute target)
    python benchmarks/bench_train.py --tiny --out /tmp/b      # seconds: the code path, no numbers

Wall time counts training only (the validation passes every 500 iterations are excluded).
``--tiny`` trains the variants' quick configuration (a few iterations on 33x33 images), the
mode every benchmark has and the test suite runs.
Writes benchmarks/results/train_synthetic.{json,md,png}; the CRF column uses the CRF
parameters cross-validated on 20 val images of that run (:func:`minideeplab.paper.crf_experiments.crf_search`).
"""
import argparse
import json
import os

import numpy as np


from minideeplab import backend
from minideeplab.fileio import atomic_write_text
from minideeplab.paper import crf_experiments, variants
from minideeplab.timing import describe_machine

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = ("aspp-l", "largefov", "aspp-l-step", "aspp-l-large")




def minutes_to(history, target):
    """Training minutes until val mIoU first reached ``target`` (None if never)."""
    for v in history["val"]:
        if v["mean_iou"] >= target:
            return v["time"] / 60
    return None


def stride8_ceiling(config, max_iter=300):
    """The val mIoU of the best logits a stride-8 network could output (an upper bound).

    For each val label it fits free logits on the network's output grid (13x13 for a 97x97
    image), upsampled bilinearly with align_corners=True as
    :func:`minideeplab.inference.predict_logits` does, to minimise the training loss (cross-entropy
    at full resolution) with L-BFGS; the fit is convex because upsampling is linear. What the
    fitted logits score is what output stride 8 itself allows: the gap between it and a
    trained network is the network's (capacity, iterations), not the resolution's.
    """
    from scipy.optimize import minimize
    from minideeplab import functional as F, metrics
    _, labels = variants.val_arrays(config)
    num_classes = int(labels[labels != 255].max()) + 1
    h, w = labels.shape[1:]
    a_h = np.asarray(F.interp_matrix((h - 1) // 8 + 1, h, align_corners=True))   # (h, gh)
    a_w = np.asarray(F.interp_matrix((w - 1) // 8 + 1, w, align_corners=True))   # (w, gw)
    shape = (num_classes, a_h.shape[1], a_w.shape[1])
    cm = metrics.ConfusionMatrix(num_classes)
    for label in labels:
        onehot = (label[None] == np.arange(num_classes)[:, None, None]).astype(np.float64)

        def loss_and_grad(z):
            scores = a_h @ z.reshape(shape) @ a_w.T                       # (L, h, w)
            logp = F.log_softmax(scores, axis=0)
            dscores = (np.exp(logp) - onehot) * (label != 255)
            return -(logp * onehot).sum(), (a_h.T @ dscores @ a_w).ravel()

        z0 = np.zeros(int(np.prod(shape)))
        z = minimize(loss_and_grad, z0, jac=True, method="L-BFGS-B",
                     options=dict(maxiter=max_iter)).x
        cm.update((a_h @ z.reshape(shape) @ a_w.T).argmax(axis=0), label)
    return cm.mean_iou()


def trained_now_or_cached(name, tiny, device, reuse):
    """(TrainedRun, measured): variant ``name`` trained from scratch now (``measured``: its
    times were measured in this run), or with ``reuse`` its finished run from the cache if
    there is one (not measured now). Never the shipped network."""
    config = variants.variant_config(name, quick=tiny)
    cached = os.path.join(variants.run_folder(name, config), "checkpoint.npz")
    measured = not (reuse and os.path.exists(cached))
    run = variants.trained(name, quick=tiny, device=device, retrain=measured, use_shipped=False,
                           progress=False)
    return run, measured


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", nargs="+", choices=RUNS, default=None,
                    help=f"default: all ({', '.join(RUNS)}); with --tiny: {RUNS[0]}")
    ap.add_argument("--no-crf", action="store_true", help="skip the CRF column")
    ap.add_argument("--device", choices=backend.DEVICES, default="cpu")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--reuse", action="store_true",
                    help="take finished runs from the cache (labelled cached: not timed now)")
    ap.add_argument("--tiny", action="store_true",
                    help="a few iterations on tiny images: the code path in seconds")
    args = ap.parse_args()
    args.runs = args.runs or (list(RUNS[:1]) if args.tiny else list(RUNS))
    os.makedirs(args.out, exist_ok=True)
    results = {}
    for name in args.runs:
        run, measured = trained_now_or_cached(name, args.tiny, args.device, args.reuse)
        h = run.history
        row = dict(measured=measured, config=run.config.to_json(), val=h["val"],
                   train_minutes=h["time"][-1] / 60,
                   final_miou=h["val"][-1]["mean_iou"],
                   miou_at_10_min=max([v["mean_iou"] for v in h["val"] if v["time"] <= 600],
                                      default=None),
                   minutes_to_080=minutes_to(h, 0.80),
                   stride8_ceiling=stride8_ceiling(run.config))
        if not args.no_crf:
            params = crf_experiments.crf_params(run, quick=args.tiny)
            res = crf_experiments.before_after_crf(run, params)
            row["miou_after_crf"] = res.miou_after
        results[name] = row
        when = "trained now" if measured else "cached: trained earlier, not timed in this run"
        print(f"{name} ({when}): val mIoU {row['final_miou']:.4f} after "
              f"{row['train_minutes']:.2f} min"
              + (f", {row['miou_after_crf']:.4f} with the CRF" if "miou_after_crf" in row
                 else ""), flush=True)
    atomic_write_text(os.path.join(args.out, "train_synthetic.json"), json.dumps(
        {"machine": describe_machine(), "results": results}, indent=1))
    lines = [f"Machine: {describe_machine()}", "",
             "| run | preset | iterations | train time (min) | val mIoU at end | best by 10 min "
             "| minutes to 0.80 | with CRF | stride-8 ceiling |",
             "|---|---|---|---|---|---|---|---|---|"]
    if not all(r["measured"] for r in results.values()):
        lines[1:1] = ["Rows marked (cached) were taken from the checkpoint cache: their times "
                      "were measured when they were trained, not in this run.", ""]

    def fmt(v, spec):
        return "-" if v is None else format(v, spec)
    for name, r in results.items():
        label = name if r["measured"] else f"{name} (cached)"
        lines.append(f"| {label} | {r['config']['preset']} | {r['config']['max_iter']} | "
                     f"{r['train_minutes']:.1f} | {r['final_miou']:.4f} | "
                     f"{fmt(r['miou_at_10_min'], '.4f')} | {fmt(r['minutes_to_080'], '.1f')} | "
                     f"{fmt(r.get('miou_after_crf'), '.4f')} | {r['stride8_ceiling']:.4f} |")
    table = "\n".join(lines)
    print(table)
    atomic_write_text(os.path.join(args.out, "train_synthetic.md"), table + "\n")
    plot(results, os.path.join(args.out, "train_synthetic.png"))


def plot(results, path):
    from minideeplab.paper.figures.common import new_figure, save_figure, style_axes
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    for name, r in results.items():
        ax.plot([v["time"] / 60 for v in r["val"]], [v["mean_iou"] for v in r["val"]],
                marker="o", ms=3, label=f"{name} ({r['config']['preset']} preset)")
    ax.axhline(0.8, color="grey", lw=0.8, ls="--")
    ax.axvline(10, color="grey", lw=0.8, ls=":")
    style_axes(ax, "Tiny DeepLab on the synthetic shapes, 2 CPU cores",
               "training wall time (minutes)", "val mean IOU")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
