"""SIGTERM and SIGHUP (``kill``, a batch scheduler, a container stop, a closed terminal) are
handled like Ctrl-C: the step finishes, the run saves and says how to resume; the resumed run
ends with an uninterrupted run's weights, bit for bit (the oracle)."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minideeplab import backend, checkpoint
from minideeplab.interrupt import Interrupted, deferred_interrupt
from minideeplab.train import TrainConfig, Trainer, TrainingInterrupted

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="needs POSIX signals")
ROOT = Path(__file__).resolve().parents[1]
SMALL = TrainConfig(model="largefov", tiny=True, image_size=17, crop_size=17, num_train=4,
                    num_val=2, batch_size=2, max_iter=6, loss_at="stride8")


def _weights(model):
    return {k: backend.asnumpy(v).copy() for k, v in model.state_dict().items()}


@pytest.fixture(autouse=True)
def default_signal_handlers():
    """Each test starts from Python's default handlers: a test run started in the background by
    a shell inherits SIGINT ignored (SIG_IGN), which deferred_interrupt rightly leaves alone."""
    defaults = {s: signal.default_int_handler if s == signal.SIGINT else signal.SIG_DFL
                for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    previous = {s: signal.signal(s, h) for s, h in defaults.items()}
    yield
    for s, h in previous.items():
        signal.signal(s, h)


def _same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_signal_finishes_the_step_saves_and_says_how_to_resume(tmp_path, signame):
    signum = getattr(signal, signame)
    before = signal.getsignal(signum)
    straight = Trainer(SMALL, progress=False)
    straight.run(log=None)
    trainer = Trainer(SMALL, out_dir=str(tmp_path), progress=False)
    step = trainer.optimizer.step

    def signalled_during_the_update(lr=None):
        if trainer.iteration == 2:
            os.kill(os.getpid(), signum)            # lands in the middle of iteration 3
        step(lr)
    trainer.optimizer.step = signalled_during_the_update
    path = str(tmp_path / "checkpoint.npz")
    with pytest.raises(TrainingInterrupted, match=rf"{signame} after iteration 3: saved to "
                                                  rf"'{path}'; continue with: python -m "
                                                  rf"minideeplab train --resume {path}") as e:
        trainer.run(log=None)
    assert e.value.signum == signum and signal.getsignal(signum) == before
    resumed = Trainer.resume(path, progress=False)
    assert resumed.iteration == 3
    resumed.run(log=None)
    assert _same(_weights(straight.model), _weights(resumed.model))


def test_a_second_signal_stops_at_once():
    with deferred_interrupt() as requested:
        os.kill(os.getpid(), signal.SIGTERM)
        assert requested() == signal.SIGTERM
        with pytest.raises(Interrupted) as e:
            os.kill(os.getpid(), signal.SIGHUP)
    assert e.value.signum == signal.SIGHUP
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_someone_elses_handler_is_kept():
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        with deferred_interrupt() as requested:
            os.kill(os.getpid(), signal.SIGTERM)
            assert not requested() and seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


# The command line, with each step slowed so that the signal arrives mid-run, and a file
# written after iteration 2 so that the parent knows when to send it.
CHILD = ("import os, sys, time\n"
         "from minideeplab import train\n"
         "step = train.Trainer.step\n"
         "def slow(self):\n"
         "    out = step(self)\n"
         "    if self.iteration == 2:\n"
         "        open(os.environ['MARKER'], 'w').close()\n"
         "    time.sleep(0.3)\n"
         "    return out\n"
         "train.Trainer.step = slow\n"
         "from minideeplab.cli import main\n"
         "sys.exit(main(sys.argv[1:]))\n")
ARGS = ["train", "--model", "largefov", "--image-size", "17", "--crop-size", "17",
        "--num-train", "4", "--num-val", "2", "--batch-size", "2", "--max-iter", "6",
        "--loss-at", "stride8"]


def _run(args, env, **kwargs):
    return subprocess.run([sys.executable, "-c", CHILD, *args], env=env, capture_output=True,
                          text=True, timeout=300, **kwargs)


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_train_command_saves_on_a_signal_with_the_default_checkpointing(tmp_path, signame):
    """The default --checkpoint-every 0 saves only at the end: the signal must save too. Exit
    status 128 + signal, one line on stderr, and the resumed run equals an uninterrupted one."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), MARKER=str(tmp_path / "marker"),
               OPENBLAS_NUM_THREADS="1")
    straight = _run(ARGS + ["--out", str(tmp_path / "straight")], env)
    assert straight.returncode == 0, straight.stderr
    (tmp_path / "marker").unlink()                      # written by the straight run too
    child = subprocess.Popen([sys.executable, "-c", CHILD, *ARGS, "--out",
                              str(tmp_path / "run")], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        while not (tmp_path / "marker").exists():
            assert child.poll() is None, child.communicate()
        child.send_signal(getattr(signal, signame))
        _, err = child.communicate(timeout=300)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 128 + getattr(signal, signame), err
    path = tmp_path / "run" / "checkpoint.npz"
    lines = [line for line in err.splitlines() if "minideeplab" in line]   # (and the bar)
    assert lines == [f"minideeplab train: interrupted by {signame} after iteration 2: saved to "
                     f"'{path}'; continue with: python -m minideeplab train --resume {path}"]
    assert "Traceback" not in err
    assert checkpoint.load_checkpoint(str(path)).iteration == 2
    resumed = _run(["train", "--resume", str(path)], env)
    assert resumed.returncode == 0, resumed.stderr
    a = checkpoint.load_checkpoint(str(tmp_path / "straight" / "checkpoint.npz"))
    b = checkpoint.load_checkpoint(str(path))
    assert b.iteration == 6 and _same(a.model_state, b.model_state)


LATE = ("import os, sys, time\n"
        "from minideeplab.cli import main\n"
        "sys.argv = ['minideeplab', 'demo', '--size', '9', '--channels', '2']\n"
        "status = main()\n"                                   # as the program: argv is None
        "open(os.environ['MARKER'], 'w').close()\n"
        "time.sleep(3)\n"                                     # a slow interpreter exit
        "sys.exit(status)\n")


def test_a_signal_after_the_work_does_not_kill_the_finished_program(tmp_path):
    """A SIGTERM after the command has finished (its files saved) used to kill the process
    in its exit, with the status of a killed process (-15): it is ignored then."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), MARKER=str(tmp_path / "marker"))
    child = subprocess.Popen([sys.executable, "-c", LATE], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        while not (tmp_path / "marker").exists():
            assert child.poll() is None, child.communicate()
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
