"""Ctrl-C between steps: a long loop finishes its step, saves, and stops; a second Ctrl-C
stops at once.

:func:`deferred_interrupt` replaces Python's SIGINT handler (which raises KeyboardInterrupt
wherever the program happens to be, e.g. half way through an optimiser update) for the
duration of a ``with`` block. The first Ctrl-C only records the request; the loop asks
``requested()`` at a point where its state is consistent, saves and raises
:class:`TrainingInterrupted`. A second Ctrl-C raises KeyboardInterrupt immediately, as usual.
Outside the main thread, or where SIGINT has a handler of someone else's, nothing is changed.
"""
import contextlib
import signal
import threading

__all__ = ["TrainingInterrupted", "deferred_interrupt"]


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run between two steps; the message says what was saved."""


@contextlib.contextmanager
def deferred_interrupt():
    """Yields ``requested()``: True once Ctrl-C was pressed inside the block."""
    hits = []
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield lambda: False
        return

    def handler(signum, frame):
        hits.append(signum)
        if len(hits) > 1:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(hits)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
