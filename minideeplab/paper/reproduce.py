"""Regenerate every figure and table of figures/: the runner of the registered jobs.

``python -m minideeplab reproduce [--quick] [--device cpu|gpu] [--out figures/] [--only NAME]``
(:mod:`minideeplab.cli.reproduce`) runs the jobs of :mod:`minideeplab.paper.jobs`, which
register themselves with :func:`minideeplab.paper.registry.job` when imported (this module
imports them). :func:`run_jobs` runs them and checks that each wrote exactly the files it
declared; :func:`figures_readme` writes figures/README.md from the registry.
"""
import functools
import sys
import time
import traceback
from collections import namedtuple
from pathlib import Path

from .. import backend
from ..fileio import atomic_write_text
from ..progress import check_progress, progress_bar
from . import jobs as _jobs  # noqa: F401  (importing the jobs registers them)
from .registry import get_jobs, registered

__all__ = ["JobResult", "all_jobs", "get_jobs", "job_progress", "run_jobs", "figures_readme",
           "write_readme", "readme_files", "README_NAME"]

README_NAME = "README.md"
REPRODUCE_CMD = "python -m minideeplab reproduce"
INPUT_FLAGS = {"torchvision": "--torchvision FILE", "voc": "--voc PATH"}   # the command's flags

JobResult = namedtuple("JobResult", "name files seconds error skipped", defaults=(None,))
JobResult.__doc__ = ("The outcome of one job: paths written, wall time, the traceback text if "
                     "it failed (else None), and the inputs it needed but did not get when it "
                     "was skipped (else None).")


def all_jobs():
    """Every job of :mod:`minideeplab.paper.jobs`, in the order of figures/README.md."""
    return registered()


def _run_one(j, out_dir, quick, device, progress, inputs):
    start = time.time()
    given = {k: inputs.get(k) for k in j.needs + j.uses}
    written = j.func(out_dir, quick, device, progress, **given)
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


def job_progress(progress):
    """The ``progress`` callable a job gets: the same convention, its bars nested, not kept."""
    if callable(progress) and not isinstance(progress, bool):
        return progress
    return functools.partial(progress_bar, progress, leave=False)


def run_jobs(names=None, out_dir="figures", *, quick=False, device="cpu", progress=True,
             stream=None, inputs=None):
    """Run the selected jobs into ``out_dir``; print their tables; return :class:`JobResult` s.

    ``names``: the jobs to run (None: all of them but the optional ones). ``inputs``: what
    the jobs that need more than the repository get (:data:`registry.INPUTS`, e.g.
    ``{"torchvision": path, "voc": path}``); a job whose ``needs`` are not all given is
    skipped, its result says which were missing.

    ``progress`` follows :func:`minideeplab.progress.progress_bar` (True: a bar over the jobs and
    the jobs' own bars; False: none). A failing job does not stop the others: its traceback is
    printed and kept in the result. While the jobs run, ``device`` is also the default device
    for new arrays.
    """
    stream = sys.stdout if stream is None else stream
    check_progress("run_jobs", progress)
    selected = get_jobs(names)
    backend.xp_for(device)                     # refuses "gpu" where there is none, clearly
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    inner = job_progress(progress)
    inputs = {k: v for k, v in (inputs or {}).items() if v is not None}
    results = []
    previous = backend.set_default_device(device)
    bar = progress_bar(progress, selected, desc="reproduce")
    try:
        for j in bar:
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(job=j.name)
            start = time.perf_counter()
            missing = [k for k in j.needs if k not in inputs]
            if missing:
                results.append(JobResult(j.name, [], 0.0, None, tuple(missing)))
                continue
            try:
                files = _run_one(j, out_dir, quick, device, inner, inputs)
                error = None
            except Exception:  # report and go on with the next job
                files, error = [], traceback.format_exc()
                print(f"\njob {j.name!r} failed:\n{error}", file=sys.stderr)
            results.append(JobResult(j.name, files, time.perf_counter() - start, error))
            for path in files:
                if path.suffix == ".txt":
                    print(f"\n{path.read_text().rstrip()}\n", file=stream, flush=True)
    finally:
        backend.set_default_device(previous)
    return results


def figures_readme(jobs=None):
    """The text of figures/README.md, generated from the registry (never edited by hand)."""
    jobs = all_jobs() if jobs is None else jobs
    lines = [
        "# figures/",
        "",
        "Every file here is written by one job of `minideeplab/paper/jobs/` (registered in",
        f"`minideeplab/paper/registry.py`). `{REPRODUCE_CMD}` regenerates all of them and",
        "prints the tables; the committed files come from the full run. `--quick` writes the",
        "same files from smaller, faster runs; `--device gpu` runs on CuPy. The default run",
        "starts from the trained networks shipped in `minideeplab/paper/networks/`; `--retrain`",
        "trains them again from scratch and also runs the jobs marked *optional*, which train",
        "more networks (`--only NAME` runs one of them). The files without a link need what the",
        "repository does not hold (torchvision's weights, PASCAL VOC): their command says what,",
        "and they are not committed here. The jobs marked *timing* time the machine they run",
        "on: the default run skips them, so that it leaves this folder as it is (`--timings`",
        "runs them), and their files name the machine and the date.",
        "",
        "| file | paper | what | command | tutorial |",
        "| --- | --- | --- | --- | --- |",
    ]
    for j in jobs:
        nb = f"[{j.notebook}](../tutorials/{j.notebook})" if j.notebook else ""
        needs = ("".join(f" {INPUT_FLAGS[k]}" for k in j.needs)
                 + "".join(f" [{INPUT_FLAGS[k]}]" for k in j.uses))
        for f in j.files:
            name = f if j.needs else f"[{f}]({f})"        # not committed: no link
            lines.append(f"| {name} | {j.paper} | {j.captions[f]} | "
                         f"`{REPRODUCE_CMD} --only {j.name}{needs}`"
                         f"{' (optional)' if j.optional else ''}"
                         f"{' (timing)' if j.timing else ''} | {nb} |")
    lines += ["", f"This file is generated: `{REPRODUCE_CMD} --readme` rewrites it from the "
                  "registry, and a test checks that it matches.", ""]
    return "\n".join(lines)


def write_readme(out_dir="figures"):
    """Write :func:`figures_readme` to ``out_dir/README.md``; returns the path."""
    path = Path(out_dir) / README_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, figures_readme())
    return path


def readme_files(text):
    """The file names a figures/README.md lists (the first column of its table)."""
    files = []
    for line in text.splitlines():
        if line.startswith("| [") and "](" in line:
            files.append(line[3:line.index("]")])
    return files
