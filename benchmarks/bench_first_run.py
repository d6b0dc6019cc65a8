"""Benchmark: a student's first training run, val mIoU against wall time.

Runs the command a user types, ``python -m minideeplab train --out DIR`` (plus ``--model M``
and any settings given after ``--``), in a fresh process, and times each validation line it
prints as the line arrives: the wall time since the command started (imports, data and the
validations included), the CPU time of the process so far (all its threads) and the val mIoU.
The goals: beat the all-background baseline (val mIoU 0.15) within the first minute and reach
val mIoU >= 0.5 within 5 minutes on 2 quiet CPU cores.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_first_run.py
    python benchmarks/bench_first_run.py --models largefov aspp-s aspp-l resnet v3
    python benchmarks/bench_first_run.py --label lr0.06 --threads 1 -- --lr 0.06
    python benchmarks/bench_first_run.py --tiny     # the code path in seconds (33x33, 4 steps)

Writes benchmarks/results/first_run.{json,md,png} (``--out``, ``--name``), the runs of this
invocation only. The first line names the machine and the BLAS kernel; the load average before
and after each run says whether the machine was quiet (while other programs run the wall time
is longer; the CPU time much less so). The "within 5 minutes on 2 quiet cores" measurement:
the first command above with nothing else running (load average < 0.5).
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from minideeplab.fileio import atomic_write_text  # noqa: E402
from minideeplab.timing import describe_machine  # noqa: E402

TINY = ["--image-size", "33", "--crop-size", "33", "--num-train", "8", "--num-val", "4",
        "--batch-size", "2", "--max-iter", "4", "--val-every", "2"]
VAL_LINE = re.compile(r"^iteration (\d+): loss ([\d.]+) .*val mIoU ([\d.]+)")
BASELINE = re.compile(r"background everywhere scores ([\d.]+)")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid):
    """User + system CPU seconds of process ``pid`` so far (Linux /proc; None elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except (OSError, IndexError, ValueError):
        return None


def load_average():
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def run_once(model, extra, threads):
    """Run the train command; returns a dict with its validations (iteration, wall s, CPU s,
    loss, mIoU), the baseline, the totals, the command and the load averages."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if threads:
        env.update(OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "minideeplab", "train", "--out", os.path.join(tmp, "run"),
               "--no-progress"] + (["--model", model] if model else []) + list(extra)
        shown = " ".join(["python", "-m", "minideeplab", "train", "--out", "runs/first"]
                         + (["--model", model] if model else []) + list(extra))
        load_before = load_average()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, cwd=ROOT)
        vals, baseline, lines = [], None, []
        for line in proc.stdout:
            wall, cpu = time.perf_counter() - t0, cpu_seconds(proc.pid)
            lines.append(line.rstrip())
            m = VAL_LINE.match(line)
            if m:
                vals.append(dict(iteration=int(m[1]), wall=wall, cpu=cpu, loss=float(m[2]),
                                 miou=float(m[3])))
                print(f"  {shown}: iteration {m[1]:>5}  {wall:7.1f} s  CPU {cpu or 0:7.1f} s  "
                      f"val mIoU {m[3]}", flush=True)
            b = BASELINE.search(line)
            if b:
                baseline = float(b[1])
        cpu_end = cpu_seconds(proc.pid)
        err = proc.stderr.read()
        rc = proc.wait()
        wall_end = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError(f"{shown} failed ({rc}):\n" + "\n".join(lines[-20:]) + err[-2000:])
    return dict(command=shown, threads=threads or "default", vals=vals, baseline=baseline,
                wall=wall_end, cpu=cpu_end, load_before=load_before, load_after=load_average(),
                date=datetime.date.today().isoformat())


def summary_row(label, model, r):
    def fmt(v, spec=".0f"):
        return "-" if v is None else format(v, spec)

    def at(target):
        """'wall s / CPU s (iteration)' of the first validation above ``target``."""
        v = next((v for v in r["vals"] if v["miou"] > target), None)
        return "-" if v is None else (f"{v['wall']:.0f} / {fmt(v['cpu'])} "
                                      f"({v['iteration']} it.)")
    vals = r["vals"]
    return (f"| {label} | {model} | {r['threads']} | {vals[0]['iteration']}: "
            f"{vals[0]['miou']:.3f} | {at(r['baseline'] or 0.15)} | {at(0.5)} | "
            f"{vals[-1]['miou']:.3f} | {r['wall'] / 60:.1f} / "
            f"{fmt(r['cpu'] and r['cpu'] / 60, '.1f')} | {fmt(r['load_before'], '.1f')} / "
            f"{fmt(r['load_after'], '.1f')} | {r['date']} |")


def write_results(results, out, machine, name="first_run"):
    lines = [f"Machine: {machine}", "",
             "Command: " + "; ".join(sorted({r["command"] for runs in results.values()
                                             for r in runs.values()})), "",
             "Wall times count from the command's start (imports, data, validations included); "
             "the CPU time is the process's (all its threads). Times are given as wall / CPU "
             "seconds; the load average (1 minute) before and after each run says whether the "
             "machine was quiet (on a busy machine the wall time is longer, the CPU time "
             "about the same).", "",
             "| label | model | BLAS threads | first validation (it.: mIoU) | to beat the "
             "baseline (s) | to mIoU 0.5 (s) | final mIoU | run (min) | load | date |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for label, runs in results.items():
        for model, r in runs.items():
            lines.append(summary_row(label, model, r))
    atomic_write_text(os.path.join(out, f"{name}.md"), "\n".join(lines) + "\n")
    atomic_write_text(os.path.join(out, f"{name}.json"),
                      json.dumps({"machine": machine, "results": results}, indent=1))
    plot(results, os.path.join(out, f"{name}.png"))
    print("\n".join(lines))


def plot(results, path):
    """val mIoU against the wall time (left) and the CPU time (right) of each run."""
    from minideeplab.paper.figures.common import new_figure, save_figure, style_axes
    fig = new_figure(10.0, 4.2, suptitle="First training run: python -m minideeplab train")
    for k, (key, what) in enumerate((("wall", "wall time since the command started"),
                                     ("cpu", "CPU time of the process"))):
        ax = fig.add_subplot(1, 2, k + 1)
        for label, runs in results.items():
            for model, r in runs.items():
                pts = [(v[key] / 60, v["miou"]) for v in r["vals"] if v[key] is not None]
                ax.plot(*zip(*pts), marker="o", ms=3, label=f"{label}: {model}")
        ax.axhline(0.15, color="grey", lw=0.8, ls=":")
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.axvline(1, color="grey", lw=0.8, ls=":")
        ax.axvline(5, color="grey", lw=0.8, ls="--")
        style_axes(ax, None, f"{what} (minutes)", "val mean IOU")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    save_figure(fig, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=[None],
                    help="models to train (default: the command's default)")
    ap.add_argument("--label", default="default", help="the name of these runs in the results")
    ap.add_argument("--threads", type=int, default=None,
                    help="OPENBLAS_NUM_THREADS for the runs (default: as set)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--tiny", action="store_true",
                    help="the code path in seconds: 4 iterations on 33x33 images (the tests)")
    ap.add_argument("--name", default="first_run", help="file name of the results (OUT/NAME.md, "
                                                        ".json, .png)")
    ap.add_argument("extra", nargs=argparse.REMAINDER,
                    help="after --: settings passed to train (e.g. -- --lr 0.06)")
    args = ap.parse_args()
    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    if args.tiny:
        extra = TINY + list(extra)
    os.makedirs(args.out, exist_ok=True)
    machine = describe_machine()
    print(machine, flush=True)
    results = {}
    for model in args.models:
        r = run_once(model, extra, args.threads)
        results.setdefault(args.label, {})[model or "default"] = r
        write_results(results, args.out, machine, args.name)


if __name__ == "__main__":
    main()
