"""benchmarks/bench_train_step.py in its tiny mode: it runs, and it prints what it measured.

The benchmark times whole training steps in worker processes and prints their medians; here
it runs on the tiny networks (no PyTorch), and every time it prints must be the median of the
steps its workers timed in this run (their raw times are in its JSON record), no longer than
the run itself, with one row per network and batch asked for and a per-layer table naming
every layer of the network.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "bench_train_step.py"


def test_tiny_mode_prints_the_step_times_it_measured(tmp_path):
    out = tmp_path / "train_step"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, str(BENCH), "--tiny", "--nets", "largefov", "resnet101",
                          "--batches", "2", "--repeats", "2", "--out", str(out)],
                         capture_output=True, text=True, env=env, timeout=600)
    elapsed = time.perf_counter() - t0
    assert run.returncode == 0, run.stderr[-3000:]
    rows = json.loads(out.with_suffix(".json").read_text())
    assert [(r["net"], r["batch"]) for r in rows] == [("largefov", 2), ("resnet101", 2)]
    printed = re.findall(r"^\| (largefov|resnet101) \| (\d+) \| ([0-9.]+) \| - \|", run.stdout,
                         re.M)
    assert len(printed) == 4                   # each row as measured, then in the table
    for row in rows:
        times = row["ours"]["times"]
        assert len(times) == 2 and all(0 < t < elapsed for t in times)
        median = f"{statistics.median(times):.3f}"
        assert printed.count((row["net"], "2", median)) == 2, (row["net"], median, printed)
    md = out.with_suffix(".md").read_text()
    for layer in ("conv1_1", "pool5", "fc6", "fc8", "SGD update"):   # the VGG table, by name
        assert re.search(rf"^\| {layer} \| [0-9.-]+ \|", md, re.M), layer
    for layer in ("stem conv 7x7", "layer3 conv 3x3", "layer4 bn", "head conv 3x3"):
        assert re.search(rf"^\| {layer} \| [0-9.-]+ \|", md, re.M), layer
