"""Figures measured for the help texts: how long things take, and what a first run reaches.

One source for each number a user reads: the help texts format these, README.md and
tutorials/README.md state the same values, and a test checks that they agree. Each was
measured with the command a user types, on the machine and the date given; times depend on
the machine and on what else it runs, so the CPU time is given beside (or, on a busy machine,
instead of) the wall time.
"""

__all__ = ["MACHINE", "FIRST_RUN", "first_run_text"]

MACHINE = "2 cores of an AMD EPYC, OpenBLAS's SkylakeX kernel, NumPy 2.4.6"

# python -m minideeplab train --out runs/first, measured by benchmarks/bench_first_run.py
# (benchmarks/results/first_run.md). The machine was shared with other work, so the times are
# the process's CPU time on one BLAS thread; on 2 quiet cores the wall time is about the same
# (2 BLAS threads bring these tiny networks 1.1x).
FIRST_RUN = dict(date="2026-12-07", model="aspp-l", parameters=150_012, iterations=3000,
                 val_every=250, baseline=0.1504, first_miou=0.167, first_cpu_s=30,
                 half_iteration=750, half_cpu_min=1.5, final_miou=0.745, cpu_min=6.3)


def first_run_text():
    """The paragraph of ``train --help`` on the first run, from :data:`FIRST_RUN`."""
    r = FIRST_RUN
    return (f"trains the tiny DeepLab-ASPP-L ({r['parameters']:,} parameters) from scratch for "
            f"{r['iterations']} iterations, with a progress bar of the loss, and prints every "
            f"{r['val_every']} iterations the mean training loss and the val mIoU (a network "
            f"that says background everywhere scores {r['baseline']:.2f}). Measured on "
            f"{MACHINE} ({r['date']}) as CPU time, which on 2 quiet cores is about the wall "
            f"time: the first validation, after {r['first_cpu_s']} s, scores "
            f"{r['first_miou']:.3f}; val mIoU passes 0.5 after {r['half_iteration']} "
            f"iterations ({r['half_cpu_min']:.1f} minutes) and the run ends at "
            f"{r['final_miou']:.3f} after {r['cpu_min']:.1f} minutes: a useful run. A slower "
            f"or busier machine takes longer; --max-iter sets the length (fewer iterations "
            f"end sooner and lower).")
