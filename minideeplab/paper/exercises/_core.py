"""The machinery every exercise check shares: run the student's function on cases, compare.

:func:`evaluate` runs the cases and returns a :class:`CheckResult` whose status is "passed",
"not implemented yet" (the function still raises ``NotImplementedError``: the stub of a student
notebook) or "failed", with one paragraph saying which case failed, where the first wrong entry
is, what was expected and, when the answer equals a known mistake, which one. :func:`report`
turns it into what a notebook's check cell does, so that nbgrader grades the cell:

* passed: prints ``[name] PASSED: ...`` and returns None (no value for the cell to display);
* not implemented yet: prints ``[name] NOT IMPLEMENTED YET: ...`` and raises
  ``NotImplementedError`` (the stub's own error: the cell fails, the exercise scores 0);
* failed: raises ``AssertionError`` whose message is the paragraph (the hint included).
"""
import traceback

import numpy as np

__all__ = ["CheckResult", "Case", "evaluate", "report", "run_check", "first_mismatch"]

PASSED, NOT_IMPLEMENTED, FAILED = "passed", "not implemented yet", "failed"


class CheckResult:
    """The outcome of one check: ``status`` (passed / not implemented yet / failed), ``message``.

    Truthy only when passed. Shown in a notebook as one line starting with the exercise name.
    """

    def __init__(self, name, status, message="", error=None):
        self.name, self.status, self.message = name, status, message
        self.error = error          # the exception the student's function raised, if any

    @property
    def passed(self):
        return self.status == PASSED

    def __bool__(self):
        return self.passed

    def __str__(self):
        head = f"[{self.name}] {self.status.upper()}"
        return f"{head}: {self.message}" if self.message else head

    __repr__ = __str__


class Case:
    """One test case: a description, the arguments, and the expected answer.

    ``args`` is a tuple passed to the student's function (each array is copied first, so an
    answer that writes into its input cannot corrupt the next comparison).
    """

    def __init__(self, description, args, expected, atol=1e-8):
        self.description, self.args, self.expected, self.atol = description, args, expected, atol


def _copy(a):
    return a.copy() if isinstance(a, np.ndarray) else a


def _fmt(v):
    """A value for a message: arrays abbreviated, numbers to 6 digits."""
    if np.ndim(v):
        return np.array2string(np.asarray(v), precision=6, threshold=8)
    v = v.item() if isinstance(v, np.generic) else v
    return f"{v:.6g}" if isinstance(v, float) else repr(v)


def first_mismatch(got, expected, atol=1e-8, what="your answer"):
    """None if ``got`` matches ``expected`` (arrays: shape and values to ``atol``), else words.

    Tuples/lists are compared element by element (``what`` names each element).
    """
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return (f"{what} should be a sequence of {len(expected)} values, got "
                    f"{type(got).__name__}" + (f" of length {len(got)}"
                                               if isinstance(got, (tuple, list)) else ""))
        for k, (g, e) in enumerate(zip(got, expected)):
            m = first_mismatch(g, e, atol, f"{what}[{k}]")
            if m:
                return m
        return None
    if isinstance(expected, np.ndarray):
        if got is None:
            return f"{what} is None: did you forget to return it?"
        try:
            got = np.asarray(got)
        except Exception:  # noqa: BLE001 - anything that is not array-like
            return f"{what} is a {type(got).__name__}, not an array"
        if got.shape != expected.shape:
            return f"{what} has shape {got.shape}, expected {expected.shape}"
        if expected.dtype == bool or got.dtype == bool:
            bad = got.astype(bool) != expected
        else:
            with np.errstate(invalid="ignore"):
                bad = ~np.isclose(got.astype(np.float64), expected.astype(np.float64),
                                  rtol=1e-6, atol=atol, equal_nan=True)
        if not bad.any():
            return None
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        return (f"{what} differs at {list(idx)}: got {_fmt(got[idx])}, expected "
                f"{_fmt(expected[idx])} ({int(bad.sum())} of {bad.size} entries differ)")
    if isinstance(expected, (int, np.integer)) and not isinstance(expected, bool):
        ok = isinstance(got, (int, np.integer)) and int(got) == int(expected)
        return None if ok else f"{what} is {got!r}, expected {expected!r}"
    if isinstance(expected, (float, np.floating)):
        ok = isinstance(got, (int, float, np.number)) and abs(float(got) - expected) <= atol
        return None if ok else f"{what} is {got!r}, expected {_fmt(expected)}"
    return None if got == expected else f"{what} is {got!r}, expected {expected!r}"


def report(result):
    """Print and raise as a notebook's check cell should (see the module doc)."""
    if result.status == PASSED:
        print(result)
        return None
    if result.status == NOT_IMPLEMENTED:
        print(result)
        raise NotImplementedError(str(result)) from None
    raise AssertionError(str(result)) from result.error


def run_check(name, fn, cases, mistakes=(), diagnoses=()):
    """Run ``fn`` on every case and :func:`report` the result (see :func:`evaluate`)."""
    return report(evaluate(name, fn, cases, mistakes, diagnoses))


def evaluate(name, fn, cases, mistakes=(), diagnoses=()):
    """Run ``fn`` on every case; stop at the first wrong one and explain it.

    Parameters
    ----------
    name : the exercise's name, shown in the result
    fn : the student's function
    cases : iterable of :class:`Case` (may be a generator: cases are built lazily)
    mistakes : sequence of (wrong_function, hint): when the student's answer on the failing
        case equals what ``wrong_function`` returns there, ``hint`` names the likely mistake
    diagnoses : sequence of functions ``(got, case) -> hint or None``, asked in turn when no
        mistake matched: a hint from the shape of the error rather than one exact wrong answer
        (e.g. an answer that is the right one times a constant)

    Returns a :class:`CheckResult`; never raises for the student's code.
    """
    if not callable(fn):
        return CheckResult(name, FAILED, f"pass your function itself, got {type(fn).__name__}")
    n = 0
    for case in cases:
        n += 1
        try:
            got = fn(*(_copy(a) for a in case.args))
        except NotImplementedError:
            return CheckResult(name, NOT_IMPLEMENTED,
                               "replace the `raise NotImplementedError` with your code")
        except Exception as e:  # noqa: BLE001 - a student's bug is reported with its cause
            frame = traceback.extract_tb(e.__traceback__)[-1]
            return CheckResult(name, FAILED, f"on {case.description}, your function raised "
                               f"{type(e).__name__}: {e} (line {frame.lineno}: "
                               f"{(frame.line or '').strip()})", error=e)
        mismatch = first_mismatch(got, case.expected, case.atol)
        if mismatch is None:
            continue
        return CheckResult(name, FAILED, f"on {case.description}, {mismatch}"
                           + _hint(got, case, mistakes, diagnoses))
    return CheckResult(name, PASSED, f"{n} cases, edge cases included")


def _hint(got, case, mistakes, diagnoses):
    """". hint" of the first mistake the answer equals, else of the first diagnosis, else ""."""
    for wrong, hint in mistakes:
        try:
            if first_mismatch(got, wrong(*(_copy(a) for a in case.args)), case.atol) is None:
                return f". {hint}"
        except Exception:  # noqa: BLE001 - a mistake model may not apply to this case
            continue
    for diagnose in diagnoses:
        try:
            hint = diagnose(got, case)
        except Exception:  # noqa: BLE001 - nor a diagnosis
            continue
        if hint:
            return f". {hint}"
    return ""


def scaled_by(got, expected):
    """The constant c with ``got == c * expected`` (c != 1), or None: an answer off by a
    factor, e.g. a mean divided by the wrong count."""
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape or not np.isfinite(got).all():
        return None
    big = np.abs(expected) > 1e-6 * np.abs(expected).max(initial=0.0)
    if not big.any():
        return None
    c = float(np.median(got[big] / expected[big]))
    if abs(c - 1) < 1e-6 or not np.allclose(got, c * expected, rtol=1e-6,
                                            atol=1e-9 * np.abs(expected).max()):
        return None
    return c
