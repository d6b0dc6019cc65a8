"""Threads on the CPU: how many, and how an op shares its work out between them.

NumPy's matrix products run in the BLAS (OpenBLAS), which has its own threads. They suit one
large product on an idle machine, but a training step is thousands of products and
element-wise passes in between, and OpenBLAS's threads busy-wait between products: on a
machine whose cores are shared with other work they take turns with the work itself, and a
step that takes 1.6 s alone took 3.7 s beside one other busy process (docs/conventions.md,
"Threads"). So minideeplab's ops run every product of theirs on **one** BLAS thread and split
their work into independent blocks (bands of output rows, groups of input channels) that its
own threads take one at a time. A thread with nothing to do sleeps; a thread that gets less of
the CPU takes fewer blocks.

* how many threads: :func:`get_threads` (``MINIDEEPLAB_THREADS``, else the cores this process
  may run on), changed with :func:`set_threads`;
* :func:`run_all` runs ``fn`` on every block, on the threads, with BLAS at one thread.

How the work is cut depends on the shapes only, never on the number of threads
(:func:`split`: at most ``PARTS`` parts), and every block writes its own part of the result or a
part that is added up in a fixed order, so the numbers are the same, bit for bit, for any number
of threads. (A BLAS may round a product's entries differently when it is cut differently, so
the cut must not follow the thread count.) The kernels that do the work (BLAS,
NumPy's copies and ufuncs on large arrays) release the GIL. On CuPy the GPU does the work:
one thread.
"""
import contextlib
import contextvars
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import backend
from .errors import ArgumentError

__all__ = ["default_threads", "get_threads", "set_threads", "run_all", "split", "matmul",
           "elementwise", "blas_threads", "PARTS"]

_ENV_VAR = "MINIDEEPLAB_THREADS"
# An element-wise op (:func:`elementwise`) is cut into parts of at least this many numbers.
ELEMENTWISE_PART = 2 ** 20
# Work that is cut for the threads is cut into at most this many parts (enough for two parts on
# each of 2-4 cores, so that a thread that gets less of the CPU takes fewer).
PARTS = 8
_state = threading.local()            # .inside: this thread is running a block of run_all
_lock = threading.Lock()
_threads = None                       # set_threads(), else $MINIDEEPLAB_THREADS, else the cores
_pool = None                          # (pid, ThreadPoolExecutor) for get_threads() - 1 helpers
_blas = None                          # threadpoolctl's controllers of the loaded BLAS libraries


def default_threads():
    """The number of CPU cores this process may run on (``os.sched_getaffinity``, else
    ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:                     # not available on macOS / Windows
        return max(1, os.cpu_count() or 1)


def get_threads():
    """How many threads minideeplab's CPU ops use: :func:`set_threads`, else
    ``$MINIDEEPLAB_THREADS``, else :func:`default_threads`."""
    if _threads is not None:
        return _threads
    value = os.environ.get(_ENV_VAR, "").strip()
    if not value:
        return default_threads()
    if not value.isdigit() or int(value) < 1:
        raise ArgumentError(f"${_ENV_VAR} must be an integer >= 1, got {value!r}")
    return int(value)


def set_threads(threads):
    """Use ``threads`` threads (an int >= 1) from now on; None goes back to the default.
    Returns the previous setting (None for the default)."""
    global _threads
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise ArgumentError(f"set_threads: threads must be None or an int >= 1, got "
                            f"{threads!r}")
    previous, _threads = _threads, threads
    return previous


def _helpers(count):
    """A pool of ``count`` helper threads, made again after a fork or when the count changes."""
    global _pool
    with _lock:
        if _pool is None or _pool[0] != (os.getpid(), count):
            if _pool is not None and _pool[0][0] == os.getpid():
                _pool[1].shutdown(wait=False)
            _pool = ((os.getpid(), count),
                     ThreadPoolExecutor(max_workers=count, thread_name_prefix="minideeplab"))
        return _pool[1]


@contextlib.contextmanager
def blas_threads(count):
    """Run the block with the BLAS libraries limited to ``count`` threads (threadpoolctl)."""
    global _blas
    if _blas is None:
        import threadpoolctl
        _blas = threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers
    changed = [(lib, n) for lib in _blas if (n := lib.get_num_threads()) != count]
    for lib, _ in changed:                  # (setting costs more than asking)
        lib.set_num_threads(count)
    try:
        yield
    finally:
        for lib, n in changed:
            lib.set_num_threads(n)


def run_all(fn, items, xp=np):
    """``[fn(item) for item in items]``, shared out between :func:`get_threads` threads.

    The calling thread takes part; each thread takes the next item until none is left, so a
    thread that gets less of the CPU takes fewer items. BLAS runs on one thread meanwhile, and
    the helpers see the caller's context variables (NumPy's ``errstate``).
    Inside a block of another ``run_all`` (or on CuPy, or with one thread) the items run one
    after the other in the calling thread. The first exception raised by any item is raised
    here, after every thread has stopped.
    """
    items = list(items)
    pool_size = get_threads() - 1
    threads = min(pool_size + 1, len(items)) if xp is np else 1
    if getattr(_state, "inside", False) or threads <= 1:
        if xp is not np or getattr(_state, "inside", False):
            return [fn(item) for item in items]
        with blas_threads(1):
            return [fn(item) for item in items]
    results = [None] * len(items)
    counter = itertools.count()

    def work():
        _state.inside = True
        try:
            for k in iter(lambda: next(counter), None):
                if k >= len(items):
                    return
                results[k] = fn(items[k])
        finally:
            _state.inside = False

    context = contextvars.copy_context()       # the caller's NumPy errstate, for the helpers
    with blas_threads(1):
        futures = [_helpers(pool_size).submit(context.copy().run, work)
                   for _ in range(threads - 1)]
        try:
            work()
        finally:
            errors = [f.exception() for f in futures]
    for e in errors:
        if e is not None:
            raise e
    return results


def split(count, minimum=1):
    """Cut range(count) into at most ``PARTS`` equal parts of at least ``minimum`` (one part if
    count < 2 * minimum): a list of (start, stop). It depends on ``count`` only."""
    parts = max(1, min(PARTS, count // max(1, minimum)))
    return [(count * k // parts, count * (k + 1) // parts) for k in range(parts)]


def matmul(a, b):
    """``a @ b`` for 2-D arrays, shared out between the threads by bands of the product.

    Bands of at least 64 rows of ``a``, or, for a product of few rows, bands of at least 1024
    columns of ``b`` (:func:`split`); a product of under 2^25 multiply-adds (the tiny
    networks' layers) is not cut. Every entry is still one row of ``a`` times one column of
    ``b``, and the bands depend on the shapes only.
    """
    xp = backend.get_array_module(a, b)
    (M, K), N = a.shape, b.shape[1]
    big = xp is np and M * K * N >= 2 ** 25
    rows = split(M, 64) if big else [(0, M)]
    cols = split(N, 1024) if big and len(rows) == 1 else [(0, N)]
    if len(rows) == 1 and len(cols) == 1:
        return run_all(lambda _: a @ b, [0], xp)[0]
    out = xp.empty((M, N), dtype=xp.result_type(a, b))

    def band(part):
        (r0, r1), (c0, c1) = part
        out[r0:r1, c0:c1] = a[r0:r1] @ b[:, c0:c1]

    run_all(band, [(r, c) for r in rows for c in cols], xp)
    return out


def elementwise(fn, out, *arrays, part=None):
    """``fn(*arrays, out=out)`` for arrays of one shape, by parts shared out between the threads.

    ``fn`` works element by element (a ufunc, or a function of ufuncs that writes ``out``), so
    each part of the flat arrays is computed on its own: parts of at least
    ``ELEMENTWISE_PART`` numbers (4 MB in float32; ReLU on VGG's conv1_2 output, 26 MB, ran
    on one core while the other waited), or of ``part`` numbers for a costlier ``fn``. Small or
    non-contiguous arrays, and CuPy's, are computed in one call. Returns ``out``.
    """
    shapes = [tuple(a.shape) for a in arrays]
    if any(shape != tuple(out.shape) for shape in shapes):
        raise ArgumentError(f"elementwise: the arrays must have out's shape {tuple(out.shape)}, "
                            f"got {shapes}")
    if part is not None and (isinstance(part, bool) or not isinstance(part, int) or part < 1):
        raise ArgumentError(f"elementwise: part must be None or an int >= 1, got {part!r}")
    xp = backend.get_array_module(out, *arrays)
    size = out.size
    part = part or ELEMENTWISE_PART
    if (xp is not np or size < 2 * part
            or not all(a.flags.c_contiguous for a in (out,) + arrays)):
        fn(*arrays, out=out)
        return out
    flat = [a.reshape(-1) for a in arrays]
    out_flat = out.reshape(-1)

    def compute(bounds):
        a, b = bounds
        fn(*(f[a:b] for f in flat), out=out_flat[a:b])

    run_all(compute, split(size, part), xp)
    return out
