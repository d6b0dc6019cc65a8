"""Command line: ``python -m minideeplab COMMAND ...`` (also installed as ``minideeplab``).

Each sub-command lives in its own module here with two functions: ``add_parser(subparsers)``
and ``run(args)``; :data:`COMMANDS` lists them in the order ``--help`` shows them.

One error rule for every command (:mod:`minideeplab.errors`): bad arguments are refused by
argparse types before any work (:mod:`.arguments`); a user's mistake that the library finds
(a :class:`~minideeplab.errors.UserError`: a bad value, a file that cannot be read or written,
corrupt data, a checkpoint that fails validation, a device that is not available), or an
``OSError`` about a named path, is printed as ``minideeplab COMMAND: error: MESSAGE`` with exit
status 2 and no traceback; ``--debug`` shows the traceback instead. Anything else is a bug in
minideeplab and keeps its traceback (exit status 1). Ctrl-C, SIGTERM and SIGHUP print
``interrupted`` (``train`` first finishes its step, saves a checkpoint and says how to resume)
and exit with 128 + the signal's number (130, 143, 129).
"""
import argparse
import importlib
import re
import signal
import sys

from ..backend import xp_for
from ..errors import is_user_error
from ..interrupt import terminate_like_ctrl_c

COMMANDS = ["demo", "networks", "train", "evaluate", "predict", "crf", "reproduce", "exercises",
            "tutorials", "ship"]
PROG = "minideeplab"


class Parser(argparse.ArgumentParser):
    """argparse's parser with one change: a bad argument is one line,
    ``minideeplab COMMAND: error: MESSAGE (see: python -m minideeplab COMMAND --help)``, exit
    status 2, instead of the whole usage block before it."""

    commands = {}       # the top parser's: command name -> its parser

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see: python -m {self.prog} --help)\n")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but an unknown argument is the command's error, not the top one's."""
        args, extra = self.parse_known_args(args, namespace)
        if extra:
            self.commands.get(getattr(args, "command", None), self).error(
                f"unrecognized arguments: {' '.join(extra)}")
        return args


_ROLE = re.compile(r":(?:mod|func|class|meth|data|attr|exc):`(~?)([^`]+)`")


def plain_text(text):
    """A docstring's reStructuredText as plain text for --help: roles (:mod:`x`, :func:`~a.b`)
    become their names, double back-quotes and the "::" of a literal block go."""
    if not text:
        return text
    text = _ROLE.sub(lambda m: m.group(2).split(".")[-1] if m.group(1) else m.group(2), text)
    return re.sub(r"::$", ":", text.replace("``", ""), flags=re.MULTILINE)


def build_parser():
    parser = Parser(
        prog=PROG,
        description="DeepLab from scratch in NumPy/CuPy: atrous convolution, ASPP, dense CRF.")
    parser.commands = {}
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"minideeplab.cli.{name}")
        p = module.add_parser(sub)
        p.add_argument("--debug", action="store_true",
                       help="show the full traceback of an error instead of one line")
        p.set_defaults(_run=module.run)
        parser.commands[name] = p
        # help in plain text, the description as written (its paragraphs and examples)
        p.formatter_class = argparse.RawDescriptionHelpFormatter
        p.description = plain_text(p.description)
        for action in p._actions:
            action.help = plain_text(action.help)
    return parser


def describe(error):
    """One line for a user error: an OSError as 'PATH: reason', others as their message."""
    if isinstance(error, OSError) and error.strerror and error.filename is not None:
        return f"{error.filename}: {error.strerror}"
    return str(error) or type(error).__name__


def fail(command, message, status=2):
    """Print ``minideeplab COMMAND: error: MESSAGE`` on stderr; returns ``status``."""
    print(f"{PROG} {command}: error: {message}", file=sys.stderr)
    return status


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        # SIGTERM and SIGHUP: as Ctrl-C (train saves first); as the program, ignored once the
        # work is done (only the interpreter's exit is left)
        with terminate_like_ctrl_c(ignore_after=argv is None):
            if hasattr(args, "device"):
                xp_for(args.device)      # --device gpu / $MINIDEEPLAB_DEVICE, before any work
            return args._run(args) or 0
    except Exception as e:               # the rule: a user's mistake is one line, a bug is not
        if args.debug or not is_user_error(e):
            raise
        return fail(args.command, describe(e))
    except KeyboardInterrupt as e:       # TrainingInterrupted says what was saved
        if args.debug:
            raise
        signum = getattr(e, "signum", signal.SIGINT)
        what = str(e) or (e.signal_name if hasattr(e, "signal_name") else "")
        print(f"\n{PROG} {args.command}: interrupted" + (f" by {what}" if what else ""),
              file=sys.stderr)
        return 128 + signum                # 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP


if __name__ == "__main__":
    sys.exit(main())
