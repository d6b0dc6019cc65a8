"""How long things take: wall-clock timing that is honest on a GPU, and the machine it ran on.

CuPy launches kernels asynchronously, so ``time.perf_counter()`` around a call measures only
the launch unless the device is synchronised first. Benchmarks, figures and notebooks all time
code with :func:`median_time`, and name the machine with :func:`describe_machine`. (Progress
bars: :mod:`minideeplab.progress`.)
"""
import os
import platform
import time

import numpy as np

from . import backend

__all__ = ["median_time", "describe_machine"]


def median_time(fn, xp=np, repeats=5, warmup=1):
    """Median wall time in seconds of ``fn()`` over ``repeats`` calls, after ``warmup`` calls.

    The warm-up calls absorb one-off costs (first allocations, BLAS thread start, GPU kernel
    compilation); ``xp`` (numpy or cupy) says which device to synchronise around each call.
    """
    for _ in range(warmup):
        fn()
    backend.synchronize(xp)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        backend.synchronize(xp)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def describe_machine():
    """One line naming the CPU, its cores, the BLAS thread setting, NumPy and Python versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    return (f"{cpu}, {os.cpu_count()} cores, OpenBLAS threads {threads}{_blas_kernel()}, "
            f"NumPy {np.__version__}, Python {platform.python_version()}")


def _blas_kernel():
    """", kernel NAME": the CPU kernel OpenBLAS runs (it halves or doubles a matmul's rate).

    ``OPENBLAS_CORETYPE`` forces a kernel (some machines set it to work around old OpenBLAS
    builds); threadpoolctl, where installed, reports the kernel actually loaded.
    """
    try:
        import threadpoolctl
        kernels = {d.get("architecture") for d in threadpoolctl.threadpool_info()
                   if d.get("internal_api") == "openblas"}
    except ImportError:
        kernels = set()
    forced = os.environ.get("OPENBLAS_CORETYPE")
    names = ", ".join(sorted(k for k in kernels if k)) or "unknown"
    return f", kernel {names}" + (f" (OPENBLAS_CORETYPE={forced})" if forced else "")
