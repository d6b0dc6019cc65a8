"""A small text progress bar (no dependency): ``for x in progress(items, desc="train"): ...``.

It writes one line to stderr, rewritten in place with ``\\r``, with the count, the rate, the
time left and an optional postfix (``bar.set(loss=0.31, lr=1e-3)``). When stderr is not a
terminal (CI logs, notebooks' captured output) it prints at most ~20 lines, not thousands.
"""
import sys
import time

__all__ = ["progress", "Progress"]


def _fmt_time(seconds):
    seconds = int(round(seconds))
    m, s = divmod(seconds, 60)
    h, m = divmod(m, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """Progress over ``total`` steps. Use as an iterator wrapper or call :meth:`update`."""

    def __init__(self, iterable=None, total=None, desc="", width=24, file=None, disable=False):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total = total
        self.desc = desc
        self.width = width
        self.file = file if file is not None else sys.stderr
        self.disable = disable
        self.n = 0
        self.postfix = {}
        self.start = time.perf_counter()
        self._last_print = -1.0
        self._interactive = getattr(self.file, "isatty", lambda: False)()

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def set(self, **values):
        """Show ``key=value`` pairs after the bar (floats in 4 significant digits)."""
        self.postfix.update(values)
        self._draw()

    def update(self, k=1):
        self.n += k
        self._draw()

    def _line(self):
        elapsed = time.perf_counter() - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        post = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in self.postfix.items())
        if self.total:
            frac = min(self.n / self.total, 1.0)
            filled = int(frac * self.width)
            left = (self.total - self.n) / rate if rate > 0 else 0.0
            bar = "#" * filled + "-" * (self.width - filled)
            head = (f"{self.desc} |{bar}| {self.n}/{self.total} [{_fmt_time(elapsed)}<"
                    f"{_fmt_time(left)}, {rate:.3g} it/s]")
        else:
            head = f"{self.desc} {self.n} [{_fmt_time(elapsed)}, {rate:.3g} it/s]"
        return f"{head} {post}".rstrip()

    def _draw(self, final=False):
        if self.disable:
            return
        now = time.perf_counter()
        if self._interactive:
            if final or now - self._last_print > 0.1:
                self.file.write("\r" + self._line() + ("\n" if final else ""))
                self.file.flush()
                self._last_print = now
        else:  # a log: print about every 5% (and the last step)
            step = max(1, (self.total or 20) // 20)
            if final or self.n % step == 0 and self.n != self._last_print:
                self.file.write(self._line() + "\n")
                self.file.flush()
                self._last_print = self.n

    def close(self):
        if not self.disable and (self._interactive or (self.total and self.n % max(1, self.total // 20))):
            self._draw(final=True)
        self.disable = True


def progress(iterable=None, total=None, desc="", **kwargs):
    """Wrap an iterable (or count to ``total``) with a :class:`Progress` bar."""
    return Progress(iterable, total=total, desc=desc, **kwargs)
