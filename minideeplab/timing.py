"""How long things take: wall-clock timing that is honest on a GPU, and progress bars.

CuPy launches kernels asynchronously, so ``time.perf_counter()`` around a call measures only
the launch unless the device is synchronised first. Benchmarks, figures and notebooks all time
code with :func:`median_time`.

Every loop that runs for long (training, evaluation, the CRF's cross-validation, the
reproduce jobs) takes the same ``progress=`` argument, read by :func:`progress_bar`: ``True``
draws a tqdm bar (``tqdm.auto``: a widget in a notebook, a line in a terminal), ``False`` or
``None`` draws nothing, and a callable is used as the bar itself (``tqdm.tqdm``,
``functools.partial(tqdm.auto.tqdm, leave=False)``, or any ``f(iterable, desc=, total=)``
that returns an iterable).
"""
import os
import platform
import time
import warnings

import numpy
from tqdm import TqdmWarning

# In a notebook without ipywidgets, tqdm.auto falls back to text bars and warns that it does:
# the warning would be the first output of every tutorial, so it is silenced here.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", TqdmWarning)
    from tqdm.auto import tqdm

from . import backend
from .errors import ArgumentError

__all__ = ["median_time", "describe_machine", "progress_bar", "check_progress"]


def median_time(fn, xp=numpy, repeats=5, warmup=1):
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
    return float(numpy.median(times))


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
            f"NumPy {numpy.__version__}, Python {platform.python_version()}")


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



def progress_bar(progress, iterable=None, *, desc=None, total=None, **kwargs):
    """Wrap ``iterable`` in the bar that ``progress`` asks for (see the module docstring).

    Parameters
    ----------
    progress : True, False, None, or a callable ``f(iterable, desc=..., total=..., **kwargs)``
    iterable : what the loop runs over (None: a bar counted with ``update``)
    desc, total, kwargs : passed to the bar (tqdm's ``desc``, ``total``, ``leave``, ...)

    Returns
    -------
    An iterable over ``iterable``: for True/False/None a ``tqdm`` object (disabled for
    False/None), so ``set_postfix`` and ``update`` work either way; otherwise what
    ``progress`` returns.
    """
    check_progress("progress_bar", progress)
    if progress is None or isinstance(progress, bool):
        return tqdm(iterable, desc=desc, total=total, disable=not progress, **kwargs)
    return progress(iterable, desc=desc, total=total, **kwargs)


def check_progress(fn, progress):
    """Raise a TypeError naming ``fn`` unless ``progress`` is True, False, None or a callable;
    returns it."""
    if not (progress is None or isinstance(progress, bool) or callable(progress)):
        raise ArgumentError(f"{fn}: progress must be True, False, None or a callable "
                            f"f(iterable, desc=..., total=...), got {progress!r}")
    return progress
