"""Measure a student's first contact: the README's commands, typed in a fresh clone.

Clones the repository into a new folder, makes a new virtual environment there (no system
site packages: pip installs everything, as on a student's laptop) and runs, one after the
other, the commands of the README's "Start here" (the first 5 minutes, then the first hour)
and of "Reproduce the paper, run the tests", exactly as a user types them. For each it records
the wall time, the CPU time of the command and everything it started (user + system, all
threads), the load average before and after, the exit status and the output. At the end it
prints a table and the figures in the form of ``minideeplab/cli/measured.py``, to paste there
(the README, tutorials/README.md and the help texts state the same figures; a test checks that
they agree), and writes the whole transcript to ``OUT/first_contact.md`` (``--out``, default
benchmarks/results).

    python benchmarks/bench_first_contact.py                  # everything (an hour on 2 cores)
    python benchmarks/bench_first_contact.py --steps reproduce tests   # the main job, the tests
    python benchmarks/bench_first_contact.py --repo /path/to/repository --branch main --keep
    python benchmarks/bench_first_contact.py --tiny           # the code path in seconds

The environment of the commands is the caller's without PYTHONPATH, OPENBLAS_* and OMP_*
(a student's laptop sets none of them; OPENBLAS_CORETYPE halves NumPy's matmul rate on this
project's machine). On a machine that other programs share, the wall times are longer than a
student's and the CPU times about the same: the load average printed beside each step says
which. ``--tiny`` runs only the cheap steps, in a clone of this checkout, for the tests.
"""
import argparse
import datetime
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from minideeplab.fileio import atomic_write_text  # noqa: E402

# the first run's validation lines, CPU seconds of a process and load: read as bench_first_run does
from bench_first_run import VAL_LINE, cpu_seconds, load_average  # noqa: E402

# (key, command as the user types it): the README's order. "python" and "pip" are the venv's.
STEPS = [
    ("clone", "git clone {repo} minideeplab"),
    ("venv", "python -m venv .venv"),
    ("install", "pip install -e ."),
    ("machine", "python -c 'from minideeplab.timing import describe_machine; "
                "print(describe_machine())'"),
    ("demo", "python -m minideeplab demo"),
    ("networks", "python -m minideeplab networks"),
    ("evaluate", "python -m minideeplab evaluate aspp-l"),
    ("reproduce", "python -m minideeplab reproduce"),
    ("status", "git status --porcelain"),
    ("train", "python -m minideeplab train --out runs/first"),
    ("quick", "python -m minideeplab reproduce --quick --out /tmp/figures"),
    ('install_notebooks', 'pip install -e ".[notebooks]"'),
    ("notebook00", "python -m minideeplab tutorials 00 --check"),
    ("exercises", "python -m minideeplab exercises --check"),
    ('install_test', 'pip install -e ".[test]"'),
    ("tests", "python -m pytest reference_tests"),
    ("notebooks", "python -m minideeplab tutorials --check"),
]
TINY_STEPS = ["clone", "venv", "machine", "networks", "status"]
NEEDS = {"notebook00": "install_notebooks", "tests": "install_test", "notebooks": "install_test"}

def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def user_env(venv):
    """The caller's environment as a student's shell has it, with the venv activated."""
    env = {k: v for k, v in os.environ.items()
           if k != "PYTHONPATH" and not k.startswith(("OPENBLAS_", "OMP_"))}
    if venv:
        env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", "")
        env["VIRTUAL_ENV"] = venv
    env.pop("PYTHONHOME", None)
    return env


def run_step(key, command, cwd, env):
    """Run ``command`` (a shell line as typed) in ``cwd``; returns its record. The output is
    read line by line as it comes, so that each validation of ``train`` gets its times."""
    load_before = load_average()
    cpu0 = children_cpu()
    t0 = time.perf_counter()
    # exec: the shell becomes the command, so that /proc/PID is the command's (its CPU time)
    proc = subprocess.Popen("exec " + command, shell=True, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace")
    lines, vals = [], []
    for line in proc.stdout:
        parts = line.rstrip("\n").split("\r")             # a progress bar's redraws
        lines += [p.rstrip() for p in parts if p.strip()] or [""]
        m = VAL_LINE.match(line)
        if m:
            vals.append(dict(iteration=int(m[1]), wall=time.perf_counter() - t0,
                             cpu=cpu_seconds(proc.pid), miou=float(m[3])))
            print(f"  iteration {m[1]:>5}: {vals[-1]['wall']:7.1f} s, CPU "
                  f"{vals[-1]['cpu'] or 0:7.1f} s, val mIoU {m[3]}", flush=True)
    rc = proc.wait()
    if key == "status" and any(lines):
        rc = "dirty"                 # the commands changed or left files git does not ignore
    record = dict(key=key, command=command, rc=rc, wall=time.perf_counter() - t0,
                  cpu=children_cpu() - cpu0, load_before=load_before,
                  load_after=load_average(), lines=lines, vals=vals)
    print(f"{key:18s} rc {rc!s:5s} {record['wall']:8.1f} s  CPU {record['cpu']:8.1f} s  load "
          f"{load_before or 0:.1f} -> {record['load_after'] or 0:.1f}   $ {command}", flush=True)
    return record


def shown_output(lines, head=25, tail=15):
    """A progress bar keeps only its last state; long outputs keep their head and tail."""
    kept = []
    for line in lines:
        bar = re.match(r"^(.*?):\s+\d+%\|", line)
        if kept and bar and kept[-1].startswith(bar[1] + ":") and "%|" in kept[-1]:
            kept[-1] = line
        else:
            kept.append(line)
    if len(kept) > head + tail:
        kept = kept[:head] + [f"[... {len(kept) - head - tail} lines ...]"] + kept[-tail:]
    return kept


def transcript(records, machine, repo, date, tiny):
    venv = ("with this Python's packages (--tiny)" if tiny else
            "(no system site packages: pip installs everything)")
    out = [f"# A student's first contact, measured ({date})", "",
           f"Machine: {machine}", "",
           f"A fresh clone of {repo} in a new virtual environment {venv}; "
           "each command typed as the README gives it, in this order. Times: wall / CPU "
           "seconds (the command and all it started); load: the 1-minute load average before "
           "and after.", "",
           "| step | command | rc | wall s | CPU s | load |", "|---|---|---|---|---|---|"]
    for r in records:
        out.append(f"| {r['key']} | `{r['command']}` | {r['rc']} | {r['wall']:.1f} | "
                   f"{r['cpu']:.1f} | {r['load_before'] or 0:.1f} / {r['load_after'] or 0:.1f} |")
    for r in records:
        out += ["", f"## {r['key']}", "", "```", f"$ {r['command']}"]
        out += shown_output(r["lines"])
        out += [f"# exit status {r['rc']}; {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU", "```"]
        if r["vals"]:
            out += ["", "| iteration | wall s | CPU s | val mIoU |", "|---|---|---|---|"]
            out += [f"| {v['iteration']} | {v['wall']:.0f} | {v['cpu'] or 0:.0f} | "
                    f"{v['miou']:.4f} |" for v in r["vals"]]
    return "\n".join(out) + "\n"


def measured_block(records, machine, date):
    """The figures as ``minideeplab/cli/measured.py`` holds them."""
    lines = [f"DATE = {date!r}", f"MACHINE = {machine!r}",
             "LOAD = {" + ", ".join(f"{r['key']!r}: ({r['load_before'] or 0:.1f}, "
                                    f"{r['load_after'] or 0:.1f})" for r in records) + "}",
             "TIMES = {   # key: (wall s, CPU s) of the command a user types"]
    lines += [f"    {r['key']!r}: ({r['wall']:.0f}, {r['cpu']:.0f}),   # {r['command']}"
              for r in records if r["rc"] == 0]
    lines.append("}")
    train = next((r for r in records if r["key"] == "train" and r["vals"]), None)
    if train:
        lines.append("FIRST_RUN_VALIDATIONS = [   # (iteration, wall s, CPU s, val mIoU)")
        lines += [f"    ({v['iteration']}, {v['wall']:.0f}, {v['cpu'] or 0:.0f}, "
                  f"{v['miou']:.4f})," for v in train["vals"]]
        lines.append("]")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repo", default=ROOT, help="the repository to clone (default: this one)")
    ap.add_argument("--branch", help="the branch to clone (default: the repository's HEAD)")
    ap.add_argument("--steps", nargs="+", choices=[k for k, _ in STEPS],
                    help="only these steps (and clone, venv, install, machine and the extra "
                         "a step needs)")
    ap.add_argument("--workdir", help="where to clone (default: a new temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the clone and its venv")
    ap.add_argument("--out", default=os.path.join(HERE, "results"),
                    help="folder of the transcript, OUT/first_contact.md")
    ap.add_argument("--tiny", action="store_true",
                    help="only the cheap steps (clone, venv from this Python, networks), "
                         "for the tests")
    args = ap.parse_args()
    wanted = set(TINY_STEPS if args.tiny else (args.steps or [k for k, _ in STEPS]))
    wanted |= {"clone", "venv"} | ({"machine"} if args.tiny else {"install", "machine"})
    for step, needs in NEEDS.items():          # the installs a chosen step needs
        if step in wanted and not args.tiny:
            wanted.add(needs)
    work = args.workdir or tempfile.mkdtemp(prefix="first-contact-")
    os.makedirs(work, exist_ok=True)
    clone = os.path.join(work, "minideeplab")
    venv = os.path.join(clone, ".venv")
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# first contact: {args.repo} cloned into {clone}, {date}", flush=True)
    records, machine = [], "unknown (the machine step did not run)"
    os.makedirs(args.out, exist_ok=True)
    transcript_path = os.path.join(args.out, "first_contact.md")
    for key, command in STEPS:
        if key not in wanted:
            continue
        command = command.format(repo=shlex.quote(args.repo))
        if key == "clone" and args.branch:
            command = command.replace("git clone", f"git clone -b {shlex.quote(args.branch)}")
        if key == "venv" and args.tiny:
            # the tests have no package index: the venv sees this Python's packages
            command += " --system-site-packages --without-pip"
        env = user_env(None if key in ("clone", "venv") else venv)
        if args.tiny and key != "clone":
            env["PYTHONPATH"] = clone       # no install in tiny mode: import the clone
        r = run_step(key, command, work if key == "clone" else clone, env)
        records.append(r)
        atomic_write_text(transcript_path, transcript(records, machine, args.repo, date,
                                                      args.tiny))   # so far
        if key == "machine" and r["rc"] == 0 and r["lines"]:
            machine = r["lines"][-1]
        if r["rc"] != 0 and key in ("clone", "venv", "install"):
            break
    text = transcript(records, machine, args.repo, date, args.tiny)
    atomic_write_text(transcript_path, text)
    print("\n" + "\n".join(text.split("\n## ")[0].splitlines()[2:]))
    print("\n# for minideeplab/cli/measured.py:\n" + measured_block(records, machine, date))
    if not args.keep and not args.workdir:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    return 1 if any(r["rc"] != 0 for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
