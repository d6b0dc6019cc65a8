"""The dense CRF's threads in a fresh process: nothing is imported inside them.

The CRF builds its two lattices on two threads. A lazy import inside them (``scipy.sparse``
on the first CRF of a process) let one thread find the module half loaded in ``sys.modules``
while the other was still importing it: an AttributeError on valid input, in some fresh
processes only. Two tests: every import of a fresh process's first CRFs happens in the
calling thread (seen by an audit hook; deterministic), and the first ``dense_crf`` of 20
fresh processes gives the one-thread result in every one of them.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from minideeplab.crf import dense_crf

ROOT = Path(__file__).resolve().parents[1]

CASE = """
import numpy as np
rng = np.random.default_rng(7)
image = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
probs = rng.random((21, 90, 120), dtype=np.float32)
probs /= probs.sum(axis=0)
"""

AUDIT = CASE + """
import json, sys, threading
imports = []
def hook(event, args):
    if event == "import" and threading.current_thread() is not threading.main_thread():
        imports.append(f"{threading.current_thread().name}: {args[0]}")
sys.addaudithook(hook)
from minideeplab.crf import dense_crf, mean_field, LatticeFilter, normalized_filter
from minideeplab.crf.dense import bilateral_features, unary_from_probs
for normalization in ("symmetric", "after", "before", "none"):
    dense_crf(image, probs, threads=3, iterations=2, normalization=normalization,
              return_history=True)
filt = normalized_filter(LatticeFilter(bilateral_features(image, 67.0, 3.0)), "symmetric", 4.0)
mean_field(unary_from_probs(probs), [filt], 2, threads=2)
print(json.dumps(sorted(set(imports))))
"""

FIRST_CRF = CASE + """
from minideeplab.crf import dense_crf
labels = dense_crf(image, probs, threads=2, iterations=2).argmax(axis=0)
print(labels.astype(np.uint8).tobytes().hex())
"""


def _env():
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    env.pop("MINIDEEPLAB_DEVICE", None)
    return env


def test_crf_threads_import_nothing():
    out = subprocess.run([sys.executable, "-c", AUDIT], capture_output=True, text=True,
                         env=_env(), timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_first_dense_crf_of_20_fresh_processes():
    scope = {}
    exec(CASE, scope)
    expected = dense_crf(scope["image"], scope["probs"], threads=1, iterations=2).argmax(axis=0)
    results = []
    for batch in range(5):                       # 4 processes at a time, 20 in all
        procs = [subprocess.Popen([sys.executable, "-c", FIRST_CRF], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=_env())
                 for _ in range(4)]
        results += [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    failed = [err.strip().splitlines()[-1] for _, err, rc in results if rc != 0]
    assert not failed, f"{len(failed)} of 20 fresh processes failed: {failed[:3]}"
    for out, _, _ in results:
        labels = np.frombuffer(bytes.fromhex(out.strip()), dtype=np.uint8).reshape(expected.shape)
        # two threads compute what one does up to float32 rounding: near-ties may flip
        assert (labels == expected).mean() > 0.999
