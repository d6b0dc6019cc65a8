"""Fault test: SIGKILL a training run while it writes checkpoints, resume, and lose nothing.

A real ``python -m minideeplab train`` process (tiny network, 17x17 images, a checkpoint every
iteration) is killed a few times at random moments inside checkpoint writes (the parent waits
until a temporary file of :func:`minideeplab.fileio.atomic_write` appears, then waits a random
few milliseconds; the child's ``fsync`` is slowed a little so that the writes are long enough
to be hit). After every kill the checkpoint on disk must load, the next start must clean the
temporary files the killed writer left, and the final weights, optimiser state, generators and
losses must equal an uninterrupted run's bit for bit.
"""
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from minideeplab import checkpoint as ckpt, fileio

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")

MAX_ITER = 8
KILLS = 4
ARGS = ["train", "--model", "largefov", "--image-size", "17", "--crop-size", "17",
        "--num-train", "4", "--num-val", "2", "--batch-size", "2", "--max-iter", str(MAX_ITER),
        "--checkpoint-every", "1", "--loss-at", "stride8", "--seed", "5"]
# The child: the command line, with fsync slowed by 0..20 ms (a wider window to kill in).
CHILD = ("import os, random, sys, time\n"
         "fsync = os.fsync\n"
         "os.fsync = lambda fd: (time.sleep(random.uniform(0, 0.02)), fsync(fd))[1]\n"
         "from minideeplab.cli import main\n"
         "sys.exit(main(sys.argv[1:]))\n")


def _temps(folder):
    return [n for n in os.listdir(folder) if fileio.is_temp_name(n)] if os.path.isdir(folder) \
        else []


def _writes(folder):
    """Temporary files of checkpoint (and history) writes, not the start's writability probe."""
    return {n for n in _temps(folder) if n.startswith((".checkpoint.npz.", ".history.json."))}


def _command(out):
    path = os.path.join(out, "checkpoint.npz")
    if os.path.exists(path):
        return [sys.executable, "-c", CHILD, "train", "--resume", path]
    return [sys.executable, "-c", CHILD, *ARGS, "--out", out]


def _kill_during_a_write(out, rng, timeout=60):
    """Start the child, SIGKILL it a random moment after a checkpoint write begins; returns
    whether it was killed (False: it finished first)."""
    child = subprocess.Popen(_command(out), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    stale = _writes(out)                         # left by earlier kills: cleaned at start
    deadline = time.monotonic() + timeout
    writes_to_skip = rng.randrange(3)            # not always the first write
    try:
        while child.poll() is None and time.monotonic() < deadline:
            fresh = _writes(out) - stale
            if fresh:
                if writes_to_skip == 0:
                    time.sleep(rng.uniform(0, 0.01))
                    child.send_signal(signal.SIGKILL)
                    child.wait()
                    return True
                writes_to_skip -= 1
                while (_writes(out) - stale) and child.poll() is None:
                    time.sleep(0.0005)
            time.sleep(0.0005)
        assert child.poll() is not None, "the training run hung"
        return False
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_sigkill_during_checkpoint_writes_loses_nothing(tmp_path):
    rng = random.Random(1234)
    straight = str(tmp_path / "straight")
    done = subprocess.run([sys.executable, "-m", "minideeplab", *ARGS, "--out", straight],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    out = str(tmp_path / "killed")
    kills, temps_left = 0, 0
    for _ in range(3 * KILLS):
        if kills == KILLS:
            break
        if _kill_during_a_write(out, rng):
            kills += 1
            temps_left += len(_temps(out))
            path = os.path.join(out, "checkpoint.npz")
            if os.path.exists(path):
                ckpt.load_checkpoint(path)       # never half written: loads and validates
    assert kills == KILLS, f"only {kills} kills landed"
    assert temps_left > 0, "no kill interrupted a write: the test did not test anything"

    final = subprocess.run(_command(out), capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    assert _temps(out) == [], "stale temporary files were not cleaned at the next start"
    assert sorted(os.listdir(out)) == ["checkpoint.npz", "history.json"]

    a = ckpt.load_checkpoint(os.path.join(straight, "checkpoint.npz"))
    b = ckpt.load_checkpoint(os.path.join(out, "checkpoint.npz"))
    assert a.iteration == b.iteration == MAX_ITER
    for x, y in ((a.model_state, b.model_state), (a.optim_state, b.optim_state),
                 (a.rng_states, b.rng_states)):
        assert x.keys() == y.keys()
        for k in x:
            assert x[k].dtype == y[k].dtype and np.array_equal(x[k], y[k]), k
    assert a.config["history"]["loss"] == b.config["history"]["loss"]
