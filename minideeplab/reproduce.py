"""Regenerate every figure and table of figures/: the registry of "jobs" and their runner.

``python -m minideeplab reproduce [--quick] [--device cpu|gpu] [--out figures/] [--only NAME]``
runs the registered jobs (see :mod:`minideeplab.cli.reproduce`). A job is one function that
writes one or more files for one of the paper's figures or tables::

    from minideeplab.reproduce import job

    @job(name="fig2", paper="Fig. 2", files=["fig2_atrous_1d.png"],
         notebook="01_atrous_convolution.ipynb")
    def fig2(out_dir, quick, device, progress):
        \"\"\"Atrous convolution in 1-D: sparse vs dense feature extraction.\"\"\"
        fig, _ = viz.fig2_atrous_1d(device=device)
        return [save_figure(fig, out_dir / "fig2_atrous_1d.png")]

* ``out_dir`` is a :class:`pathlib.Path` (it exists); ``quick`` asks for a small, fast run
  that writes the same files; ``device`` is "cpu" or "gpu"; ``progress`` wraps an iterable
  with a progress bar, ``progress(iterable, total=None, desc="")`` (a silent one when bars
  are off). Return the list of paths written.
* Every file in ``files`` must be written (the runner checks), and nothing else. Text files
  (``.txt``) are tables: the runner prints them after the job.
* The docstring's first line describes the job's files in figures/README.md (or give each
  file its own caption: ``files={"a.png": "what a shows", "b.txt": "what b holds"}``).
* Jobs live in :mod:`minideeplab.jobs`, one module per topic; a new module is imported in
  ``minideeplab/jobs/__init__.py``. After adding a job, rewrite figures/README.md with
  ``python -m minideeplab reproduce --readme`` (a test checks that it matches the registry).
"""
import os
import sys
import time
import traceback
from collections import namedtuple
from pathlib import Path

from . import backend
from .progress import progress as _progress

__all__ = ["Job", "JobResult", "job", "jobs", "get_jobs", "run_jobs", "figures_readme",
           "write_readme", "quick_mode", "QUICK_ENV", "README_NAME"]

QUICK_ENV = "MINIDEEPLAB_QUICK"
README_NAME = "README.md"
REPRODUCE_CMD = "python -m minideeplab reproduce"

Job = namedtuple("Job", "name paper files func description notebook captions")
Job.__doc__ = """A registered job: its ``name`` (for ``--only``), the ``paper`` figure or table
it corresponds to, the ``files`` it writes (a tuple of names), the function, a one-line
description, the tutorial notebook that shows the same figure (or None), and ``captions``:
file name -> what that file shows (the README's "what" column; default: the description)."""

JobResult = namedtuple("JobResult", "name files seconds error")
JobResult.__doc__ = ("The outcome of one job: paths written, wall time, and the traceback "
                     "text if it failed (else None).")

_REGISTRY = {}  # name -> Job, in registration order (the order of figures/README.md)


def quick_mode():
    """True when ``$MINIDEEPLAB_QUICK`` is 1/true/yes: notebooks and tests shrink their work."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def job(*, name, paper, files, notebook=None, description=None):
    """Decorator: register ``func(out_dir, quick, device, progress) -> [paths]`` as a job.

    Parameters
    ----------
    name : str, unique; ``--only NAME`` selects it
    paper : str, the paper's figure/table, e.g. "Fig. 2", "Table 1", "Sec. 3.1"
    files : the file names (relative to the output folder) the job writes: a list, or a
        dict ``{name: what it shows}`` when the files of one job deserve their own captions
    notebook : optional tutorial file name (in tutorials/) that shows the same figure
    description : one line for the README (default: the function's docstring, first line)
    """
    if not name or not isinstance(name, str) or any(c.isspace() for c in name):
        raise ValueError(f"job: name must be a non-empty string without spaces, got {name!r}")
    captions = dict(files) if isinstance(files, dict) else {}
    files = tuple(files)
    if not files:
        raise ValueError(f"job {name!r}: files must list at least one file")

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
                              {f: captions.get(f) or doc for f in files})
        return func
    return register


def jobs():
    """Every registered job, in order (imports :mod:`minideeplab.jobs`, which registers them)."""
    from . import jobs as _jobs  # noqa: F401  (the import registers the jobs)
    return list(_REGISTRY.values())


def get_jobs(names=None):
    """The jobs called ``names`` (all when None), in registry order; unknown names raise."""
    all_jobs = jobs()
    if not names:
        return all_jobs
    known = {j.name for j in all_jobs}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown job(s) {unknown}; the jobs are: {sorted(known)}")
    return [j for j in all_jobs if j.name in set(names)]


def _run_one(j, out_dir, quick, device, progress):
    start = time.time()
    written = j.func(out_dir, quick, device, progress)
    written = [Path(p) for p in (written or [])]
    names = sorted(p.name for p in written)
    if names != sorted(j.files):
        raise RuntimeError(f"job {j.name!r} declared files {sorted(j.files)} but returned "
                           f"{names}; make the decorator's files= match what it writes")
    stale = [p for p in written if not p.exists() or p.stat().st_mtime < start - 1]
    if stale:
        raise RuntimeError(f"job {j.name!r} returned {[str(p) for p in stale]} but did not "
                           "write them in this run")
    return written


def run_jobs(names=None, out_dir="figures", *, quick=False, device="cpu", show_progress=True,
             stream=None):
    """Run the selected jobs into ``out_dir``; print their tables; return :class:`JobResult` s.

    A failing job does not stop the others: its traceback is printed and kept in the result.
    While the jobs run, ``device`` is also the default device for new arrays.
    """
    stream = sys.stdout if stream is None else stream
    selected = get_jobs(names)
    backend.xp_for(device)                     # refuses "gpu" where there is none, clearly
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    def inner_progress(iterable=None, total=None, desc="", disable=False, **kw):
        """The ``progress`` a job gets: an indented bar, silent when bars are off."""
        return _progress(iterable, total=total, desc=f"  {desc}",
                         disable=disable or not show_progress, **kw)
    results = []
    previous = backend.set_default_device(device)
    bar = _progress(total=len(selected), desc="reproduce", disable=not show_progress)
    try:
        for j in selected:
            bar.set(job=j.name)
            start = time.perf_counter()
            try:
                files = _run_one(j, out_dir, quick, device, inner_progress)
                error = None
            except Exception:  # report and go on with the next job
                files, error = [], traceback.format_exc()
                print(f"\njob {j.name!r} failed:\n{error}", file=sys.stderr)
            results.append(JobResult(j.name, files, time.perf_counter() - start, error))
            for path in files:
                if path.suffix == ".txt":
                    print(f"\n{path.read_text().rstrip()}\n", file=stream, flush=True)
            bar.update(1)
    finally:
        bar.close()
        backend.set_default_device(previous)
    return results


def figures_readme(all_jobs=None):
    """The text of figures/README.md, generated from the registry (never edited by hand)."""
    all_jobs = jobs() if all_jobs is None else all_jobs
    lines = [
        "# figures/",
        "",
        "Every file here is written by one job of the registry in `minideeplab/reproduce.py`",
        f"(the jobs live in `minideeplab/jobs/`). `{REPRODUCE_CMD}` regenerates all of them",
        "and prints the tables; the committed files come from the full run. `--quick` writes",
        "the same files from smaller, faster runs; `--device gpu` runs on CuPy.",
        "",
        "| file | paper | what | command | tutorial |",
        "| --- | --- | --- | --- | --- |",
    ]
    for j in all_jobs:
        nb = f"[{j.notebook}](../tutorials/{j.notebook})" if j.notebook else ""
        for f in j.files:
            lines.append(f"| [{f}]({f}) | {j.paper} | {j.captions[f]} | "
                         f"`{REPRODUCE_CMD} --only {j.name}` | {nb} |")
    lines += ["", f"This file is generated: `{REPRODUCE_CMD} --readme` rewrites it from the "
                  "registry, and a test checks that it matches.", ""]
    return "\n".join(lines)


def write_readme(out_dir="figures"):
    """Write :func:`figures_readme` to ``out_dir/README.md``; returns the path."""
    path = Path(out_dir) / README_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(figures_readme())
    return path


def readme_files(text):
    """The file names a figures/README.md lists (the first column of its table)."""
    files = []
    for line in text.splitlines():
        if line.startswith("| [") and "](" in line:
            files.append(line[3:line.index("]")])
    return files
