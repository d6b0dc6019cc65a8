"""The jobs of ``python -m minideeplab reproduce``, one module per topic, in the paper's order.

Importing this package registers every job with :func:`minideeplab.paper.registry.job`. To add a
topic, write ``minideeplab/paper/jobs/<topic>.py`` with ``@job(...)`` functions and import it here;
then run ``python -m minideeplab reproduce --readme`` to update figures/README.md.
"""
from . import atrous, fov, resize, training, aspp, crf, lattice, real_photos  # noqa: F401
