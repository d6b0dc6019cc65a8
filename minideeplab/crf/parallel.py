"""Threads for the dense CRF on the CPU: how many, and how the work is shared out.

Kraehenbuehl's C++ code runs on one core. On NumPy the CRF can use more: the kernels it spends
its time in (scipy's sparse products, NumPy's ``take``, ufuncs and reductions on large arrays)
release the GIL while they run, so Python threads working on disjoint arrays run at the same
time. What is split between the threads:

* the two kernels' lattices and their normalisations (one thread each);
* the mean-field messages, by blocks of labels: every block's product chain
  (splat, blurs, slice) is independent of the others' (the filters are linear and filter every
  label column alike), and one iteration's blocks only meet in the softmax;
* the softmax, by blocks of pixels (each pixel's softmax is its own).

Every thread computes exactly what one thread would compute for its block, in the same order,
so the result does not depend on the number of threads (``reference_tests/test_crf.py`` checks
1 against 2 and 3 threads). On CuPy the GPU runs the work and there is one thread: the kernels
are queued on one stream, and threads would only add host overhead.
"""
import contextlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..checks import check_int
from ..parallel import get_threads

__all__ = ["default_threads", "resolve_threads", "thread_pool", "run_all"]


def default_threads(xp=np):
    """minideeplab's thread count (:func:`minideeplab.parallel.get_threads`: the cores this
    process may run on unless ``MINIDEEPLAB_THREADS`` or ``set_threads`` says otherwise); 1 for
    CuPy arrays."""
    return get_threads() if xp is np else 1


def resolve_threads(fn, threads, xp):
    """``threads`` checked (None or an int >= 1; ``fn`` names the caller in errors) and
    resolved: None -> :func:`default_threads`; always 1 on CuPy."""
    if threads is None:
        return default_threads(xp)
    threads = check_int(fn, "threads", threads, 1)
    return threads if xp is np else 1


@contextlib.contextmanager
def thread_pool(threads):
    """A ``ThreadPoolExecutor`` of ``threads`` workers, or None for one thread (no pool)."""
    if threads <= 1:
        yield None
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dense_crf") as pool:
        yield pool


def run_all(pool, fn, items):
    """``[fn(item) for item in items]``, on the pool's threads if ``pool`` is not None (the
    first exception raised by any item is raised here)."""
    if pool is None or len(items) <= 1:
        return [fn(item) for item in items]
    return list(pool.map(fn, items))

