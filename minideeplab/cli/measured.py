"""Figures measured for the help texts: how long things take, and what a first run reaches.

The one place for every time a user reads before running something: the help texts format
these values, README.md, tutorials/README.md and the notebooks state the same phrases, and
``reference_tests/test_measured_figures.py`` checks that every copy agrees (and that no other
duration hides in those texts). Each was measured with the command a user types, in a fresh
clone and a new virtual environment, by ``python benchmarks/bench_first_contact.py`` (its
transcript: ``benchmarks/results/first_contact.md``). Times depend on the machine and on what
else it runs, so each is given as wall time and, beside it, the CPU time of the command and
all it started. To update: run that benchmark, paste what it prints below, and fix the copies
the test names.
"""

import textwrap

__all__ = ["fill", "DATE", "MACHINE", "CONDITIONS", "TIMES", "FIRST_RUN", "RETRAIN_MINUTES", "NOTEBOOKS",
           "seconds_text", "took", "measured_on", "first_run_text", "first_run_phrases", "retrain_text",
           "notebooks_text"]

DATE = "2026-12-08"
MACHINE = "2 cores of an AMD EPYC (OpenBLAS's SkylakeX kernel, NumPy 2.4.6)"
CONDITIONS = ("quiet (load average 0.3-2.2; 2.4-3.7 beside a benchmark for the training run and "
              "the notebooks)")

# key: (wall seconds, CPU seconds) of the command, as bench_first_contact.py prints them (a fresh
# clone, a new venv); "train" is FIRST_RUN's run and "notebooks" the tutorials command, both in
# that clone's venv (bench_first_run.py and /usr/bin/time)
TIMES = {
    "install": (14, 14),       # pip install -e .   (a new venv: NumPy, SciPy, ... from the index)
    "demo": (1.3, 1.4),        # python -m minideeplab demo
    "evaluate": (1.2, 1.3),    # python -m minideeplab evaluate aspp-l
    "reproduce": (26, 34),     # python -m minideeplab reproduce
    "train": (372, 369),       # python -m minideeplab train --out runs/first
    "quick": (11, 12),         # python -m minideeplab reproduce --quick --out /tmp/figures
    "tests": (154, 287),       # python -m pytest reference_tests (2302 passed, 15 skipped)
    "notebooks": (91, 84),     # python -m minideeplab tutorials --check (every notebook, full)
}

# python -m minideeplab train --out runs/first (the default model, aspp-l; default threads), by
# env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_first_run.py
# (benchmarks/results/first_run.md): its validations, (iteration, wall s, CPU s, val mIoU); the
# all-background baseline scores 0.1504
FIRST_RUN = dict(model="aspp-l", parameters=150_012, iterations=3000, val_every=250,
                 baseline=0.1504,
                 validations=[(250, 31, 32, 0.1659), (500, 59, 60, 0.2698),
                              (750, 95, 96, 0.4142), (1000, 130, 130, 0.6237),
                              (1250, 161, 162, 0.6848), (1500, 190, 191, 0.7131),
                              (1750, 218, 218, 0.7260), (2000, 252, 251, 0.7236),
                              (2250, 281, 280, 0.7384), (2500, 312, 310, 0.7473),
                              (2750, 341, 339, 0.7467), (3000, 372, 369, 0.7494)])

# python -m minideeplab reproduce --retrain: training time of each network, in minutes, as
# the shipped networks recorded it (the wall time on the machine that trained them, 2026-11-29:
# python -m minideeplab networks lists them); the CPU time was not recorded
RETRAIN_MINUTES = (4.7, 9.5)

# the "notebooks" run above: wall seconds of the quickest and the slowest notebook but 07, and
# of 07 (the tutorials command prints each notebook's time)
NOTEBOOKS = dict(fastest=2.7, slowest=5.7, n07=50)


def seconds_text(t):
    """'8.5 s', '37 s' under 100 s, '1.7 minutes' from 100 s on."""
    if t < 10:
        return f"{t:.1f} s"
    return f"{t:.0f} s" if t < 100 else f"{t / 60:.1f} minutes"


def took(key):
    """'W, CPU C' for :data:`TIMES` ``[key]``, each in seconds or minutes (:func:`seconds_text`)."""
    wall, cpu = TIMES[key]
    return f"{seconds_text(wall)}, CPU {seconds_text(cpu)}"


def measured_on():
    """Where and when: 'MACHINE, CONDITIONS, DATE'."""
    return f"{MACHINE}, {CONDITIONS}, {DATE}"


def _first(target):
    return next(v for v in FIRST_RUN["validations"] if v[3] > target)


def first_run_phrases():
    """The first run's milestones as the README states them: (first validation, mIoU 0.5, end)."""
    it0, w0, c0, m0 = FIRST_RUN["validations"][0]
    ith, wh, ch, _ = _first(0.5)
    *_, mend = FIRST_RUN["validations"][-1]
    return (f"{m0:.3f} at iteration {it0}, after {seconds_text(w0)} (CPU {seconds_text(c0)})",
            f"{ith} iterations ({seconds_text(wh)}, CPU {seconds_text(ch)})",
            f"val mIoU {mend:.3f} after {FIRST_RUN['iterations']} iterations ({took('train')})")


def first_run_text():
    """The paragraph of ``train --help`` on the first run."""
    r = FIRST_RUN
    first, half, end = first_run_phrases()
    return (f"trains the tiny DeepLab-ASPP-L ({r['parameters']:,} parameters) from scratch for "
            f"{r['iterations']} iterations, with a progress bar of the loss, and prints every "
            f"{r['val_every']} iterations the mean training loss and the val mIoU (a network "
            f"that says background everywhere scores {r['baseline']:.2f}). Measured "
            f"(benchmarks/bench_first_run.py) on {measured_on()}: val mIoU "
            f"{first}; past 0.5 after {half}; {end}: a useful run. --max-iter sets the length (fewer iterations "
            f"end sooner and lower).")


def retrain_text():
    lo, hi = RETRAIN_MINUTES
    return f"{lo}-{hi} minutes each"


def notebooks_text():
    """'F-S s each (07: N s), all of them W minutes, CPU C' from :data:`NOTEBOOKS`."""
    n = NOTEBOOKS
    return (f"{n['fastest']}-{n['slowest']} s each (07: {n['n07']} s), all of them "
            f"{took('notebooks')}")


def fill(text, width=92):
    """``text`` with each paragraph (blank-line separated) refilled to ``width`` columns."""
    return "\n\n".join(textwrap.fill(" ".join(p.split()), width) for p in text.split("\n\n"))
