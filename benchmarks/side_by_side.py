"""Two implementations timed side by side, each in its own process, taking turns.

Used by ``bench_torchvision.py`` and ``bench_train_step.py``. A worker process builds its
model, runs a warm-up and prints ``ready {json}``; then it reads one command per line on stdin
and answers on stdout: ``run`` -> ``time SECONDS`` (one timed call), ``layers`` ->
``layers {json}`` (one call timed layer by layer), ``quit`` -> a last JSON line (medians, peak
RSS) before it exits. The driver sends ``run`` to each worker in turn, so that both see the
same load on a shared machine, and compares medians. Peak RSS is ``ru_maxrss`` of each worker
process: its imports, its model and every call it made.

This module imports nothing but the standard library: the PyTorch worker runs it under another
Python.
"""
import json
import os
import resource
import signal
import subprocess
import sys
import time


def peak_rss_mb():
    """Peak resident memory of this process so far, in MB (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb():
    """Resident memory of this process now, in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def serve(call, layers=None, info=None):
    """The worker's loop: announce readiness, answer ``run``/``layers`` until ``quit``.

    ``call()`` is the timed work; ``layers()`` returns a dict of per-layer times for one call;
    ``info`` is a dict sent with ``ready``. Prints the final JSON on quit: the wall times, the
    process's CPU times (all its threads: steadier than wall time on a loaded machine) and the
    peak RSS.
    """
    print("ready " + json.dumps(info or {}), flush=True)
    times, cpu_times = [], []
    for line in sys.stdin:
        command = line.strip()
        if command == "run":
            t0, c0 = time.perf_counter(), time.process_time()
            call()
            times.append(time.perf_counter() - t0)
            cpu_times.append(time.process_time() - c0)
            print(f"time {times[-1]}", flush=True)
        elif command == "layers" and layers is not None:
            print("layers " + json.dumps(layers()), flush=True)
        else:
            break
    print(json.dumps(dict(times=times, cpu_times=cpu_times, peak_rss_mb=peak_rss_mb())),
          flush=True)


class Worker:
    """A worker process (``cmd``) driven through :func:`serve`'s protocol."""

    def __init__(self, cmd, env=None):
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("ready"):
            self.proc.kill()
            raise RuntimeError(f"worker {' '.join(cmd)} did not start (its output: {line!r})")
        self.info = json.loads(line[len("ready"):] or "{}")

    def _ask(self, command, answer):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().strip()
        if not line.startswith(answer):
            raise RuntimeError(f"worker answered {line!r} to {command!r}")
        return line[len(answer):].strip()

    def run(self):
        return float(self._ask("run", "time"))

    def layers(self):
        return json.loads(self._ask("layers", "layers"))

    def finish(self):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        out = self.proc.stdout.read()
        self.proc.wait()
        return json.loads(out.strip().splitlines()[-1])


class BusyNeighbours:
    """``count`` processes spinning on one core each, for as long as the ``with`` block runs:
    a machine shared with other work, made on purpose."""

    def __init__(self, count):
        self.count, self.procs = count, []

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                      for _ in range(self.count)]
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
            p.wait()
        self.procs = []
