"""The errors a user can cause: one family, under :class:`UserError`.

Two kinds of error, never confused:

* **A user's mistake**: a bad argument, a file that cannot be read or is not what it claims to
  be, an output that cannot be written, a device that is not there, a request beyond a stated
  budget. It raises a subclass of :class:`UserError`, with a message that names the function or
  file, the argument and the shapes involved. The command line prints it as one line,
  ``minideeplab COMMAND: error: MESSAGE``, and exits with status 2.
* **The file system saying no** about a path (an ``OSError`` that carries a ``filename``: no
  such file, permission denied, disk full, a read-only folder) is treated the same way: the
  command line prints ``PATH: reason``. The library turns what it can foresee into the family
  (a missing input is a :class:`MissingFileError`, an unwritable output folder an
  :class:`OutputPathError`); what it cannot (a disk that fills up mid-write) passes as it is.
* **Anything else is a bug** (a broadcasting mistake inside an op, an ``IndexError`` in our own
  code, an ``OSError`` that names no path, a ``MemoryError`` that no budget foresaw): it is
  never caught on the way out and keeps its traceback.

Each class also derives from the built-in exception a Python reader expects for that mistake
(``ValueError``, ``TypeError``, ``RuntimeError``, ``MemoryError``), so ``except ValueError``
written against NumPy habits still works; the rule is the common base, not the built-in.

:func:`is_user_error` is the rule in one place (the command line asks it). This module imports
nothing: every layer of the library may raise these.
"""

__all__ = ["UserError", "ArgumentError", "MissingFileError", "FileFormatError", "DataError",
           "CheckpointError", "OutputPathError", "DeviceUnavailableError", "BudgetExceededError", "is_user_error"]


class UserError(Exception):
    """Base of every error caused by the user's input rather than by a bug in minideeplab."""


class ArgumentError(UserError, ValueError, TypeError):
    """A bad argument: wrong type, value out of range, or shapes that do not fit together.

    One class for all three, so that the same mistake raises the same type everywhere (it is
    both a ``ValueError`` and a ``TypeError`` for callers who catch either).
    """


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder the user named does not exist (a data folder, a weights file, the folder
    an output goes into). The message names it. A missing data file or checkpoint is a
    :class:`DataError` or a :class:`CheckpointError`, which say what the file was for."""


class FileFormatError(UserError, ValueError):
    """A file that exists but is not what was expected: truncated, corrupt, another kind of
    file, or holding values that cannot be used. The message names the file."""

    def __init__(self, message, path=None):
        super().__init__(message)
        self.path = path


class DataError(FileFormatError):
    """A data file (a photo, a label PNG, an array of probabilities) is missing, unreadable,
    truncated, corrupt or holds invalid values. The message names the file; :attr:`path` holds
    it. (Training stops on it with its finished iterations saved.)"""


class CheckpointError(FileFormatError):
    """A checkpoint or network file is missing, truncated, corrupt, of an unknown format version,
    or does not fit the model it describes. The message names the file and the entry."""


class OutputPathError(UserError, ValueError):
    """An output path that cannot or must not be written; refused before any work is done."""


class DeviceUnavailableError(UserError, RuntimeError):
    """The GPU was asked for (an argument or ``$MINIDEEPLAB_DEVICE``) but CuPy or a CUDA device
    is missing."""


class BudgetExceededError(UserError, MemoryError):
    """A request (an input file, an image, an array size) is beyond a stated limit; refused
    before the memory or time is spent. The message names the limit and how to raise it."""


def is_user_error(error):
    """True for the errors the command line prints as one line: a :class:`UserError`, or an
    ``OSError`` about a named path; False for everything else (a bug: keep its traceback)."""
    return isinstance(error, UserError) or (isinstance(error, OSError)
                                            and getattr(error, "filename", None) is not None)
