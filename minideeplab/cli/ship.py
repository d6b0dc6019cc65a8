"""``python -m minideeplab ship [--retrain]``: write the book's trained networks into the package.

For the maintainer: exports the cached default runs (:mod:`minideeplab.paper.variants`; trained
first if they are not cached, or with ``--retrain``) as the network files shipped in
``minideeplab/paper/networks/`` (:mod:`minideeplab.paper.shipped`), with their CRF searches.
"""
import os


def add_parser(sub):
    p = sub.add_parser("ship", help="write the book's trained networks into the package "
                                    "(maintainers)", description=__doc__)
    p.add_argument("--retrain", action="store_true", help="train the networks from scratch")
    return p


def run(args):
    from ..paper.ship import ship_networks
    for written in ship_networks(retrain=args.retrain):
        print(f"wrote {written} ({os.path.getsize(written) / 1024:.0f} KB)")
    return 0
