"""Command line: ``python -m minideeplab COMMAND ...`` (also installed as ``minideeplab``).

Each sub-command lives in its own module here with two functions: ``add_parser(subparsers)``
and ``run(args)``; :data:`COMMANDS` lists them in the order ``--help`` shows them.
"""
import argparse
import importlib
import sys

COMMANDS = ["demo", "train", "evaluate", "predict", "crf", "reproduce"]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m minideeplab",
        description="DeepLab from scratch in NumPy/CuPy: atrous convolution, ASPP, dense CRF.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"minideeplab.cli.{name}")
        p = module.add_parser(sub)
        p.set_defaults(_run=module.run)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args._run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
