"""Every benchmark runs in its tiny mode (``--tiny``: the smallest case once, the code path in
seconds) and prints only what it measured in that run.

A duration measured in a run cannot exceed the run's own wall time: every duration a benchmark
prints (a column headed ``(ms)``, ``(s)`` or ``(min)``, or a number followed by one of those
units) must fit in it. A shipped or cached result (a training history of minutes, recorded on
another day) fails this, unless the benchmark says that it is cached and keeps it out of its
timings. Benchmarks that write files get ``--out`` in a temporary folder (never
``benchmarks/results/``) and a fresh checkpoint cache.
"""
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted(p.name for p in (ROOT / "benchmarks").glob("bench_*.py"))
UNITS = {"ms": 1e-3, "s": 1.0, "min": 60.0}
_HEADER_UNIT = re.compile(r"\((ms|s|min)\)")
_INLINE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?) (ms|s|min)\b")


def _number(text):
    text = text.strip().replace(",", "")
    try:
        return float(text)
    except ValueError:
        return None


def _unit_columns(cells):
    return [(i, UNITS[m.group(1)]) for i, c in enumerate(cells)
            if (m := _HEADER_UNIT.search(c)) and _number(c) is None]


def printed_durations(text):
    """Every duration (seconds) the text prints: the cells of table columns headed with a unit
    (markdown tables, or plain ones whose columns are two or more spaces apart), and numbers
    followed by a unit elsewhere."""
    found, columns = [], None
    for line in text.splitlines():
        markdown = line.lstrip().startswith("|")
        cells = ([c.strip() for c in line.strip().strip("|").split("|")] if markdown
                 else [c for c in re.split(r"\s{2,}", line.strip()) if c])
        if not cells or (markdown and all(set(c) <= set("-: ") for c in cells)):
            columns = None if not cells else columns
            continue
        header = _unit_columns(cells)
        if header and all(_number(cells[i]) is None for i, _ in header):
            columns = (header, len(cells))
            continue
        if columns is not None and len(cells) == columns[1]:
            found += [v * scale for i, scale in columns[0] if (v := _number(cells[i])) is not None]
            continue
        columns = None
        found += [float(m.group(1)) * UNITS[m.group(2)] for m in _INLINE.finditer(line)]
    return found


def test_the_parser_finds_each_kind_of_printed_duration():
    text = ("| N | time (ms) | vs matmul |\n|---|---:|---|\n| 1 | 250.0 | 0.91 |\n\n"
            "model   params  1 thr (s)  /LFOV\nlargefov  80,874  0.026  1.00\n\n"
            "aspp-l: val mIoU 0.70 after 6.8 min, 10 iterations in 3 s\n")
    assert printed_durations(text) == pytest.approx([0.25, 0.026, 408.0, 3.0])


def _run(name, tmp, extra=()):
    """(wall seconds, return code, output) of ``benchmarks/name --tiny``."""
    command = [sys.executable, str(ROOT / "benchmarks" / name), "--tiny", *extra]
    help_text = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), "--help"],
                               capture_output=True, text=True, cwd=tmp).stdout
    if "--out" in help_text:
        command += ["--out", str(tmp / "out")]
    env = dict(os.environ, MINIDEEPLAB_CACHE=str(tmp / "cache"), PYTHONPATH=str(ROOT))
    env.pop("MINIDEEPLAB_CUPY_STANDIN", None)      # a benchmark measures the real devices
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp, env=env,
                          timeout=600)
    return time.perf_counter() - start, done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every benchmark in tiny mode, two at a time (the machine's 2 cores)."""
    folders = {name: tmp_path_factory.mktemp(name.replace(".py", "")) for name in BENCHMARKS}
    with ThreadPoolExecutor(2) as pool:
        futures = {name: pool.submit(_run, name, folders[name]) for name in BENCHMARKS}
        results = {name: f.result() for name, f in futures.items()}
    return results, folders


@pytest.mark.parametrize("name", BENCHMARKS)
def test_each_benchmark_prints_only_what_it_measured_in_its_tiny_run(runs, name):
    wall, rc, output = runs[0][name]
    assert rc == 0, f"{name} --tiny failed (every benchmark has a tiny mode):\n{output[-3000:]}"
    durations = printed_durations(output)
    assert durations, f"{name} --tiny printed no duration:\n{output[-3000:]}"
    assert all(d >= 0 for d in durations)
    assert max(durations) <= wall + 1.0, (
        f"{name} printed a duration of {max(durations):.1f} s in a run of {wall:.1f} s: it was "
        f"not measured in this run (a cached or shipped result must say so)\n{output[-3000:]}")


def test_bench_train_labels_a_reused_run_and_keeps_it_out_of_the_timings(runs):
    """The same network a second time with --reuse: taken from the cache, said so, and its
    training time (from the first run) is not printed as a fresh one."""
    folder = runs[1]["bench_train.py"]
    wall, rc, output = _run("bench_train.py", folder, ["--reuse", "--runs", "aspp-l",
                                                         "--no-crf"])
    assert rc == 0, output
    assert "aspp-l (cached: trained earlier, not timed in this run)" in output
    assert "| aspp-l (cached) |" in output
    assert "not in this run" in (folder / "out" / "train_synthetic.md").read_text()
