"""``python -m minideeplab COMMAND``: see :mod:`minideeplab.cli`."""
import sys

from minideeplab.cli import main

if __name__ == "__main__":
    sys.exit(main())
