"""Threads for the dense CRF on the CPU: a small pool and the row ranges it splits work into.

scipy's sparse products and NumPy's ufuncs release the GIL, so the lattice's product chain and
the softmax run in parallel when each thread takes its own range of rows (pixels or lattice
vertices): the rows' results are independent, the index arrays are not read twice and every
product keeps all the labels as its columns (splitting the labels instead was measured at
15-37% more CPU time: shorter rows make scipy's per-entry overhead count more).
"""
import os
from concurrent.futures import ThreadPoolExecutor

__all__ = ["Workers", "cpu_threads"]


def cpu_threads():
    """The number of CPU cores this process may run on (its affinity mask where the system has
    one): the default number of threads of ``dense_crf``."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                                      # not Linux
        return os.cpu_count() or 1


class Workers:
    """``n`` threads (none for n = 1): ``map(fn, items)`` and ``ranges(rows)``.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, n=1):
        self.n = max(1, int(n))
        self.pool = ThreadPoolExecutor(self.n) if self.n > 1 else None

    def map(self, fn, items):
        """``[fn(item) for item in items]``, in parallel on the pool."""
        return list(map(fn, items) if self.pool is None else self.pool.map(fn, items))

    def ranges(self, rows):
        """Split ``range(rows)`` into at most n contiguous, non-empty ``(start, stop)`` pairs."""
        n = max(1, min(self.n, rows))
        bounds = [round(i * rows / n) for i in range(n + 1)]
        return list(zip(bounds[:-1], bounds[1:]))

    def close(self):
        if self.pool is not None:
            self.pool.shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
