"""Argument types shared by the commands: bad values are refused up front.

The types are for ``argparse`` (``type=positive_int``): a bad value ends in argparse's usual
``minideeplab COMMAND: error: argument --batch-size: must be a positive integer, got '0'``
and exit status 2, before any work. Output paths are checked by :func:`check_outputs` (with
the checks of :mod:`minideeplab.io`, ``check_label_png_output`` and the like) at the start of
a command, before anything is computed.
"""
import argparse
import math
import os

from ..errors import ArgumentError
from ..fileio import check_outputs_apart

__all__ = ["positive_int", "nonnegative_int", "positive_float", "nonnegative_float",
           "check_outputs"]


def _number(text, kind, cast, ok):
    try:
        value = cast(text)
    except ValueError:
        value = None
    if value is None or (isinstance(value, float) and not math.isfinite(value)) \
            or not ok(value):
        raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}")
    return value


def positive_int(text):
    """An integer >= 1."""
    return _number(text, "a positive integer", int, lambda v: v >= 1)


def nonnegative_int(text):
    """An integer >= 0."""
    return _number(text, "an integer >= 0", int, lambda v: v >= 0)


def positive_float(text):
    """A finite number > 0."""
    return _number(text, "a finite number > 0", float, lambda v: v > 0)


def nonnegative_float(text):
    """A finite number >= 0."""
    return _number(text, "a finite number >= 0", float, lambda v: v >= 0)


def check_outputs(args, names, inputs=None):
    """Check every output path before any work: each one writable, none of them an input, no
    two of them one file (:func:`minideeplab.fileio.check_outputs_apart`: the same file by any
    path, hard links and ``..`` included).

    ``names``: ``(attribute of args, check(path, flag))`` pairs, e.g.
    ``(("out", io.check_label_png_output), ("probs", io.check_npy_output))``; an attribute
    that is None (an output not asked for) is skipped. ``inputs``: the command's input paths,
    by the name the usage line shows (``{"image": args.image, ...}``; None: not given).
    """
    outputs = {}
    for name, check in names:
        path = getattr(args, name)
        if path is None:
            continue
        flag = "--" + name.replace("_", "-")
        check(path, flag)
        outputs[flag] = path
    check_outputs_apart(outputs, inputs)
