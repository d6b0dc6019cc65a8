"""Ctrl-C, SIGTERM and SIGHUP between steps: a long loop finishes its step, saves, and stops;
a second signal stops at once.

``kill``, a batch scheduler's time limit, a container's stop and a closed terminal send
SIGTERM or SIGHUP, whose default action ends the process on the spot, with nothing saved. They
are handled like Ctrl-C:

* :func:`terminate_like_ctrl_c` (a ``with`` block around every command) makes SIGTERM and
  SIGHUP raise :class:`Interrupted`, a KeyboardInterrupt, wherever the program is, as Python's
  own SIGINT handler does: ``finally`` blocks run, atomic writes remove their temporary files,
  and the command line exits with ``128 + signal`` (130, 143, 129).
* :func:`deferred_interrupt` replaces those handlers for the duration of a ``with`` block (a
  training run): the first signal only records the request; the loop asks ``requested()`` at
  a point where its state is consistent, saves and raises :class:`TrainingInterrupted`, which
  names the signal and says how to resume. A second signal raises :class:`Interrupted`
  immediately.

Outside the main thread, or where a signal has a handler of someone else's (an embedding
program's, a scheduler wrapper's), nothing is changed for that signal.
"""
import contextlib
import signal
import threading

__all__ = ["Interrupted", "TrainingInterrupted", "deferred_interrupt", "terminate_like_ctrl_c",
           "SIGNALS"]

# the signals handled like Ctrl-C (SIGHUP does not exist on Windows)
SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                if hasattr(signal, name))


class Interrupted(KeyboardInterrupt):
    """A signal (``signum``: SIGINT, SIGTERM or SIGHUP) stopped the program."""

    def __init__(self, message="", signum=signal.SIGINT):
        super().__init__(message)
        self.signum = signum

    @property
    def signal_name(self):
        return signal.Signals(self.signum).name


class TrainingInterrupted(Interrupted):
    """A signal stopped a run between two steps; the message says what was saved."""


def _raise_interrupted(signum, frame):
    raise Interrupted("", signum)


def _ours(handler):
    """Handlers this module may replace: the defaults and its own."""
    return handler in (signal.default_int_handler, signal.SIG_DFL, _raise_interrupted)


@contextlib.contextmanager
def terminate_like_ctrl_c(ignore_after=False):
    """Within the block, SIGTERM and SIGHUP raise :class:`Interrupted` where they still have
    their default action (main thread only); the handlers are restored after it, or, with
    ``ignore_after`` (a program whose work ends with the block), set to ignore the signals:
    a signal in the last moments of the process (its teardown) would otherwise kill a run
    that has already saved and finished, with the status of a killed process."""
    changed = []
    if threading.current_thread() is threading.main_thread():
        for signum in SIGNALS:
            if signum != signal.SIGINT and signal.getsignal(signum) is signal.SIG_DFL:
                signal.signal(signum, _raise_interrupted)
                changed.append(signum)
    try:
        yield changed
    finally:
        for signum in changed:
            signal.signal(signum, signal.SIG_IGN if ignore_after else signal.SIG_DFL)


@contextlib.contextmanager
def deferred_interrupt():
    """Yields ``requested()``: the first signal's number (truthy) once SIGINT, SIGTERM or
    SIGHUP arrived inside the block, else 0."""
    hits = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: 0
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    mine = [s for s, handler in previous.items() if _ours(handler)]

    def handler(signum, frame):
        hits.append(signum)
        if len(hits) > 1:
            raise Interrupted("", signum)

    for signum in mine:
        signal.signal(signum, handler)
    try:
        yield lambda: hits[0] if hits else 0
    finally:
        for signum in mine:
            signal.signal(signum, previous[signum])
