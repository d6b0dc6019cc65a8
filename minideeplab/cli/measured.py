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
CONDITIONS = ("quiet (nothing else running; load average 0.6-1.9 before each command, 2.6 "
              "right after the tests' own run)")

# key: (wall seconds, CPU seconds) of the command, as bench_first_contact.py prints them (a fresh
# clone, a new venv); "train" is FIRST_RUN's run and "notebooks" the tutorials command, both in
# that clone's venv (bench_first_run.py and /usr/bin/time)
TIMES = {
    "install": (14, 14),       # pip install -e .   (a new venv: NumPy, SciPy, ... from the index)
    "demo": (1.1, 1.2),        # python -m minideeplab demo
    "evaluate": (1.3, 1.4),    # python -m minideeplab evaluate aspp-l
    "reproduce": (23, 30),     # python -m minideeplab reproduce
    "train": (293, 295),       # python -m minideeplab train --out runs/first
    "quick": (9.8, 10.5),      # python -m minideeplab reproduce --quick --out /tmp/figures
    "tests": (149, 280),       # python -m pytest reference_tests (2439 passed, 15 skipped)
    "notebooks": (65, 80),     # python -m minideeplab tutorials --check (every notebook, full)
}

# python -m minideeplab train --out runs/first (the default model, aspp-l; default threads), by
# env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_first_run.py
# (benchmarks/results/first_run.md): its validations, (iteration, wall s, CPU s, val mIoU); the
# all-background baseline scores 0.1504
FIRST_RUN = dict(model="aspp-l", parameters=150_012, iterations=3000, val_every=250,
                 baseline=0.1504,
                 validations=[(250, 26, 26, 0.1640), (500, 49, 49, 0.2669),
                              (750, 71, 71, 0.4877), (1000, 93, 94, 0.6290),
                              (1250, 117, 118, 0.6831), (1500, 142, 143, 0.7016),
                              (1750, 168, 170, 0.7203), (2000, 193, 195, 0.7208),
                              (2250, 217, 219, 0.7245), (2500, 240, 243, 0.7311),
                              (2750, 265, 267, 0.7439), (3000, 293, 295, 0.7466)])

# python -m minideeplab reproduce --retrain: training time of each network, in minutes, as
# the shipped networks recorded it (the wall time on the machine that trained them, 2026-11-29:
# python -m minideeplab networks lists them); the CPU time was not recorded
RETRAIN_MINUTES = (4.7, 9.5)

# the "notebooks" run above: wall seconds of the quickest and the slowest notebook but 07, and
# of 07 (the tutorials command prints each notebook's time)
NOTEBOOKS = dict(fastest=2.3, slowest=4.9, n07=32)


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
