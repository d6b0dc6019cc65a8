"""The registry of reproduce jobs: one job per paper figure or table of figures/.

A job is one function that writes one or more files::

    from minideeplab.paper.registry import job

    @job(name="fig2", paper="Fig. 2", files=["fig2_atrous_1d.png"],
         notebook="01_atrous_convolution.ipynb")
    def fig2(out_dir, quick, device, progress):
        \"\"\"Atrous convolution in 1-D: sparse vs dense feature extraction.\"\"\"
        fig, _ = atrous.fig2_atrous_1d(device=device)
        return [save_figure(fig, out_dir / "fig2_atrous_1d.png")]

* ``out_dir`` is a :class:`pathlib.Path` (it exists); ``quick`` asks for a small, fast run
  that writes the same files; ``device`` is "cpu" or "gpu"; ``progress`` wraps an iterable
  with a progress bar, ``progress(iterable, desc="")`` (a silent one when bars are off): pass
  it on as the ``progress=`` argument of the library and the experiments
  (:func:`minideeplab.progress.progress_bar`). Return the list of paths written.
* Every file in ``files`` must be written (the runner checks), and nothing else. Text files
  (``.txt``) are tables: the runner prints them after the job.
* The docstring's first line describes the job's files in figures/README.md (or give each
  file its own caption: ``files={"a.png": "what a shows", "b.txt": "what b holds"}``).
* A job that needs something the repository does not hold (torchvision's weights, the PASCAL
  VOC data) names it: ``needs=("torchvision",)`` (required: without it the job is skipped, with
  the reason), ``uses=("voc",)`` (optional); the runner passes them as keyword arguments. Its
  files are not committed in figures/ (its README row says what it needs).
* Jobs live in :mod:`minideeplab.paper.jobs`, one module per topic; a new module is imported
  in ``minideeplab/paper/jobs/__init__.py``. After adding a job, rewrite figures/README.md
  with ``python -m minideeplab reproduce --readme`` (a test checks that it matches).

This module only records jobs; :mod:`minideeplab.paper.reproduce` imports the jobs (which
registers them) and runs them.
"""
from collections import namedtuple
from ..errors import ArgumentError

__all__ = ["Job", "INPUTS", "job", "registered", "get_jobs"]

Job = namedtuple("Job", "name paper files func description notebook captions optional needs "
                        "uses timing", defaults=(False, (), (), False))
INPUTS = ("torchvision", "voc")   # what a job may need: torchvision's weights, PASCAL VOC
Job.__doc__ = """A registered job: its ``name`` (for ``--only``), the ``paper`` figure or table
it corresponds to, the ``files`` it writes (a tuple of names), the function, a one-line
description, the tutorial notebook that shows the same figure (or None), and ``captions``:
file name -> what that file shows (the README's "what" column; default: the description);
``optional``: True for a job that the default run skips because it trains many networks
(``--only NAME`` or ``--retrain`` runs it); ``needs`` and ``uses``: the :data:`INPUTS` it
requires and those it takes when given; ``timing``: True for a job whose files time the
machine it runs on, which the default run and ``--retrain`` skip, so that they leave the
committed figures/ as they are (``--only NAME`` or ``--timings`` runs it)."""

_REGISTRY = {}  # name -> Job, in registration order (the order of figures/README.md)


def job(*, name, paper, files, notebook=None, description=None, optional=False, needs=(),
        uses=(), timing=False):
    """Decorator: register ``func(out_dir, quick, device, progress) -> [paths]`` as a job.

    Parameters
    ----------
    name : str, unique; ``--only NAME`` selects it
    paper : str, the paper's figure/table, e.g. "Fig. 2", "Table 1", "Sec. 3.1"
    files : the file names (relative to the output folder) the job writes: a list, or a
        dict ``{name: what it shows}`` when the files of one job deserve their own captions
    notebook : optional tutorial file name (in tutorials/) that shows the same figure
    description : one line for the README (default: the function's docstring, first line)
    optional : the default run skips it (it trains networks that are not shipped); run it with
        ``--only NAME`` or ``--retrain``
    needs, uses : names of :data:`INPUTS` the job requires (skipped without them) or takes
        when given; passed to it as keyword arguments
    timing : its files are timings of this machine: only ``--only NAME`` or ``--timings``
        runs it (the committed copies say which machine made them)
    """
    if not name or not isinstance(name, str) or any(c.isspace() for c in name):
        raise ValueError(f"job: name must be a non-empty string without spaces, got {name!r}")
    captions = dict(files) if isinstance(files, dict) else {}
    files = tuple(files)
    if not files:
        raise ValueError(f"job {name!r}: files must list at least one file")
    unknown = [n for n in tuple(needs) + tuple(uses) if n not in INPUTS]
    if unknown:
        raise ValueError(f"job {name!r}: unknown inputs {unknown}; a job may need {INPUTS}")

    def register(func):
        if name in _REGISTRY:
            raise ValueError(f"job: a job named {name!r} is already registered "
                             f"({_REGISTRY[name].func.__module__})")
        taken = {f: j.name for j in _REGISTRY.values() for f in j.files}
        clash = [f for f in files if f in taken]
        if clash:
            raise ValueError(f"job {name!r}: file(s) {clash} already written by job "
                             f"{taken[clash[0]]!r}")
        doc = description or (func.__doc__ or "").strip().split("\n")[0]
        _REGISTRY[name] = Job(name, paper, files, func, doc, notebook,
                              {f: captions.get(f) or doc for f in files}, bool(optional),
                              tuple(needs), tuple(uses), bool(timing))
        return func
    return register


def registered():
    """Every job registered so far, in registration order."""
    return list(_REGISTRY.values())


def get_jobs(names=None, *, optional=False, timing=False):
    """The registered jobs called ``names``, in order; unknown names raise. With no names: every
    job, except the optional ones unless ``optional`` is True and the timing ones unless
    ``timing`` is True."""
    all_jobs = registered()
    if not names:
        return [j for j in all_jobs
                if (optional or not j.optional) and (timing or not j.timing)]
    known = {j.name for j in all_jobs}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ArgumentError(f"get_jobs: unknown job(s) {unknown}; the jobs are: {sorted(known)}")
    return [j for j in all_jobs if j.name in set(names)]
