"""Robustness sweep: misuse and crafted inputs, each case in a fresh process, judged clean or not.

A case is a command line (``python -m minideeplab ...``), a few lines of Python against the
library, or a training run sent SIGTERM or SIGHUP. Each runs in its own process (a fresh
interpreter: the first ``dense_crf`` of a process is a case of its own) and is **clean** when

- it ends within ``--timeout`` seconds (5): no hang;
- its peak resident memory exceeds that of a process that only imports the library by at most
  ``--max-growth-mib`` (1024): no small file allocates gigabytes (every crafted file here is at
  most 10 MB; the process also runs under an address-space limit, ``--address-limit-gib``, so a
  case that does try to allocate gigabytes fails instead of taking the shared machine's memory);
- nothing is lost: every input it names is unchanged afterwards (SHA-256), and no output is
  written when the command is refused;
- it says what it promises: a refused command exits with status 2 and prints one line on stderr
  (``minideeplab CMD: error: ...``) matching the case's pattern, without a traceback or a
  warning; a library call raises one of ``minideeplab.errors``' user errors whose message
  matches the pattern, and prints nothing; an accepted call or command succeeds, and prints no
  warning; a signalled training run exits with 128 + the signal, prints one line and, when the
  line says it saved, the checkpoint it names loads.

The table at the end counts tried and clean cases per category; each unclean case is listed with
why. Nothing here is timed for speed: the time limit only tells a hang.

    python benchmarks/sweep_robustness.py                  # every case (about 3 minutes)
    python benchmarks/sweep_robustness.py --only crafted   # categories whose name contains it
    python benchmarks/sweep_robustness.py --list           # the cases, not run

The last run's table: benchmarks/results/robustness.md.
"""
import argparse
import hashlib
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import namedtuple
from pathlib import Path

from sweep_files import make_files

ROOT = Path(__file__).resolve().parents[1]
MiB = 2 ** 20

# kind: "cli" (argv of python -m minideeplab), "py" (code; ``D`` is the files' folder, a str),
# "signal" (argv of a training run; ``send`` = (signal name, seconds after the start)).
# expect: "refused", "ok" or "failed" (a command whose work failed: status 1, one line).
# pattern: a regex the error line (or the user error's message) must match.
# keep: files (names in D) that must be unchanged; absent: files that must not exist after.
Case = namedtuple("Case", "category name kind body expect pattern keep absent send",
                  defaults=(None, (), (), None))
Outcome = namedtuple("Outcome", "rc stdout stderr seconds peak_mib changed created")


# ------------------------------------------------------------------------------ the cases
def _cli(category, name, argv, expect="refused", pattern=".", keep=(), absent=()):
    return Case(category, name, "cli", argv, expect, pattern, tuple(keep), tuple(absent))


def _py(category, name, code, expect="refused", pattern=".", keep=()):
    return Case(category, name, "py", code, expect, pattern, tuple(keep))


def cases():
    C = []
    img, probs, ck = "{D}/image.png", "{D}/probs.npy", "{D}/checkpoint.npz"
    out = "{D}/out.png"
    # -- outputs that name an input, and runs that must not be replaced
    cat = "data loss: outputs vs inputs"
    for flag in ("--out", "--overlay", "--probs"):
        C.append(_cli(cat, f"predict {flag} = the image", ["predict", ck, img, "--out", out,
                                                           flag, img] if flag != "--out" else
                      ["predict", ck, img, "--out", img], pattern="same file|extension",
                      keep=["image.png"]))
    C.append(_cli(cat, "predict --probs = the checkpoint", ["predict", ck, img, "--out", out,
                                                            "--probs", ck],
                  pattern="extension", keep=["checkpoint.npz"], absent=["out.png"]))
    C.append(_cli(cat, "predict --probs = a .npy symlink to the image",
                  ["predict", ck, img, "--out", out, "--probs", "{D}/image_symlink.npy"],
                  pattern="same file", keep=["image.png"], absent=["out.png"]))
    C.append(_cli(cat, "predict --out = hard link of the image",
                  ["predict", ck, img, "--out", "{D}/image_link.png"], pattern="same file",
                  keep=["image.png"]))
    C.append(_cli(cat, "predict --out = image via ..", ["predict", ck, img, "--out",
                                                        "{D}/sub/../image.png"],
                  pattern="same file", keep=["image.png"]))
    C.append(_cli(cat, "crf --save-probs = the probabilities",
                  ["crf", img, probs, "--out", out, "--save-probs", probs],
                  pattern="same file", keep=["probs.npy"], absent=["out.png"]))
    C.append(_cli(cat, "crf --save-probs = symlink to the probabilities",
                  ["crf", img, probs, "--out", out, "--save-probs", "{D}/probs_symlink.npy"],
                  pattern="same file", keep=["probs.npy"], absent=["out.png"]))
    C.append(_cli(cat, "crf --out = the image", ["crf", img, probs, "--out", img],
                  pattern="same file|input", keep=["image.png"]))
    C.append(_cli(cat, "crf --overlay = --out", ["crf", img, probs, "--out", out,
                                                 "--overlay", out], pattern="same file",
                  absent=["out.png"]))
    C.append(_cli(cat, "train --out = a folder with only history.json",
                  ["train", "--out", "{D}/history", "--max-iter", "1"], pattern="history",
                  keep=["history/history.json"]))
    C.append(_cli(cat, "train --out = a finished run", ["train", "--out", "{D}", "--max-iter",
                                                        "1"], pattern="checkpoint|run",
                  keep=["checkpoint.npz"]))
    C.append(_cli(cat, "predict (valid: writes its outputs)",
                  ["predict", ck, img, "--out", out, "--overlay", "{D}/ov.png"], expect="ok",
                  keep=["image.png", "checkpoint.npz"]))
    # -- signals during training
    cat = "data loss: signals"
    train = ["train", "--model", "largefov", "--image-size", "17", "--crop-size", "17",
             "--num-train", "4", "--num-val", "2", "--batch-size", "2", "--max-iter", "100000",
             "--loss-at", "stride8", "--no-progress"]
    for signame in ("SIGTERM", "SIGHUP"):
        for after in (0.8, 2.5, 4.0):
            C.append(Case(cat, f"{signame} {after} s into training", "signal",
                          train + ["--out", f"{{D}}/run_{signame}_{after}"], "ok", None, (), (),
                          (signame, after)))
    # -- the first dense_crf of fresh processes (a lazy import raced between threads)
    cat = "crash: first dense_crf of a process"
    first = ("import numpy as np\nfrom PIL import Image\nfrom minideeplab.crf import dense_crf\n"
             "im = np.asarray(Image.open(D + '/photo.png'))\n"
             "q = dense_crf(im, np.load(D + '/photo_probs.npy'), iterations={})\n"
             "assert q.shape == (21, 375, 500) and np.isfinite(q).all()\n")
    for i in range(8):
        C.append(_py(cat, f"fresh process {i + 1} (500x375, 21 labels)", first.format(3), "ok"))
    for i in range(2):
        C.append(_cli(cat, f"crf command, fresh process {i + 1}",
                      ["crf", "{D}/photo.png", "{D}/photo_probs.npy", "--out", out,
                       "--iterations", "3"], expect="ok"))
    # -- wrong output with exit status 0
    cat = "wrong output: CRF numbers"
    for flag in ("--w1", "--w2"):
        C.append(_cli(cat, f"crf {flag} 1e300", ["crf", img, probs, "--out", out, flag,
                                                 "1e300"], pattern=flag.lstrip("-"),
                      absent=["out.png"]))
    C.append(_py(cat, "dense_crf(w1=1e300)",
                 "import numpy as np\nfrom minideeplab.crf import dense_crf\n"
                 "dense_crf(np.zeros((9, 9, 3), np.uint8), np.full((3, 9, 9), 1/3, np.float32),"
                 " w1=1e300)", pattern="dense_crf: w1"))
    C.append(_cli(cat, "crf on scores (not probabilities)", ["crf", img, "{D}/scores.npy",
                                                             "--out", out],
                  pattern="probabilit", absent=["out.png"]))
    C.append(_cli(cat, "crf on NaN probabilities", ["crf", img, "{D}/nan.npy", "--out", out],
                  pattern="finite|NaN|probabilit", absent=["out.png"]))
    C.append(_cli(cat, "crf --theta-beta 1e-300", ["crf", img, probs, "--out", out,
                                                   "--theta-beta", "1e-300"],
                  pattern="theta", absent=["out.png"]))
    C.append(_cli(cat, "crf --theta-alpha 1e-300", ["crf", img, probs, "--out", out,
                                                    "--theta-alpha", "1e-300"],
                  pattern="theta", absent=["out.png"]))
    C.append(_cli(cat, "crf --iterations 10**30", ["crf", img, probs, "--out", out,
                                                   "--iterations", str(10 ** 30)],
                  pattern="iterations", absent=["out.png"]))
    C.append(_py(cat, "dense_crf(return_history='yes')",
                 "import numpy as np\nfrom minideeplab.crf import dense_crf\n"
                 "dense_crf(np.zeros((9, 9, 3), np.uint8), np.full((3, 9, 9), 1/3, np.float32),"
                 " return_history='yes')", pattern="return_history"))
    cat = "wrong output: label maps"
    C.append(_cli(cat, "predict with 300 classes", ["predict", "{D}/c300.npz", img, "--out", out,
                                                    "--overlay", "{D}/ov300.png"],
                  pattern="300 classes", absent=["out.png", "ov300.png"]))
    C.append(_py(cat, "save_label_png of index 299",
                 "import numpy as np\nfrom minideeplab.io import save_label_png\n"
                 "save_label_png(D + '/l299.png', np.full((2, 2), 299))", pattern="0..255"))
    # -- weight and array files (every one at most 10 MB)
    cat = "crafted files: .pth"
    pth = [("laughs", "objects"), ("laughs_legacy", "objects"), ("deep", "deep"),
           ("cycle", "contains itself"), (f"count_{2 ** 62}", "elements"),
           (f"count_{2 ** 40}", "elements"), ("count_-5", "-5"), ("bytes8", "decoded"),
           ("ext1", "extension code"), ("negative", "negative"), ("stride0", "expands"),
           ("overlap", "times the bytes"), ("zipbomb", "decompress"), ("zipliar", "CRC"),
           ("code", "."), ("code_legacy", "."), ("not_a_pth", ".")]
    for name, pattern in pth:
        C.append(_py(cat, f"load_pth {name}.pth", "from minideeplab.pth import load_pth\n"
                     f"load_pth(D + '/{name}.pth')", pattern=pattern, keep=[f"{name}.pth"]))
    for name, pattern in [("laughs", "objects"), ("zipbomb", "decompress"),
                          ("stride0", "expands"), ("code", ".")]:
        C.append(_cli(cat, f"predict --torchvision {name}.pth",
                      ["predict", "--torchvision", f"{{D}}/{name}.pth", img, "--out", out],
                      pattern=pattern, absent=["out.png", "pwned"]))
    cat = "crafted files: .safetensors"
    for name in ("st_empty", "st_length", "st_offsets", "st_json"):
        C.append(_py(cat, f"read_safetensors {name}", "from minideeplab.io import "
                     f"read_safetensors\nread_safetensors(D + '/{name}.safetensors')"))
        C.append(_cli(cat, f"predict --torchvision {name}",
                      ["predict", "--torchvision", f"{{D}}/{name}.safetensors", img, "--out",
                       out], absent=["out.png"]))
    cat = "crafted files: .npz/.npy"
    for name, pattern in [("bomb", "decompress"), ("lying", "claims"), ("zipliar", "CRC")]:
        C.append(_py(cat, f"read_npz {name}.npz", "from minideeplab.io import read_npz\n"
                     f"read_npz(D + '/{name}.npz')", pattern=pattern))
    C.append(_cli(cat, "predict with the .npz bomb as checkpoint",
                  ["predict", "{D}/bomb.npz", img, "--out", out], pattern="decompress",
                  absent=["out.png"]))
    for name in ("batch", "crop", "images", "iter", "lr"):
        C.append(_cli(cat, f"train --resume a checkpoint claiming {name}",
                      ["train", "--resume", f"{{D}}/resume_{name}/checkpoint.npz",
                       "--max-iter", "5", "--no-progress"],
                      pattern="checkpoint|TrainConfig|num_images",
                      keep=[f"resume_{name}/checkpoint.npz"]))
    for name in ("width40", "classes1e9"):
        C.append(_cli(cat, f"predict with a checkpoint claiming {name}",
                      ["predict", f"{{D}}/ckpt_{name}.npz", img, "--out", out],
                      pattern="checkpoint", absent=["out.png"]))
    C.append(_cli(cat, "crf on a zero-byte .npy", ["crf", img, "{D}/empty.npy", "--out", out],
                  pattern="empty.npy", absent=["out.png"]))
    C.append(_cli(cat, "crf on a .npy claiming 10**10 elements", ["crf", img, "{D}/lying.npy",
                                                                  "--out", out],
                  pattern="claims", absent=["out.png"]))
    cat = "crafted files: images"
    for w in (11000, 10000, 20000, 100000):
        C.append(_cli(cat, f"predict on a PNG claiming {w}x{w}",
                      ["predict", ck, f"{{D}}/claims_{w}.png", "--out", out], pattern="Mpx",
                      absent=["out.png"]))
    C.append(_cli(cat, "crf on a real 11000x11000 PNG (120 KB)",
                  ["crf", "{D}/real_11000.png", probs, "--out", out], pattern="Mpx",
                  absent=["out.png"]))
    C.append(_py(cat, "read_label_png on a real 11000x11000 PNG",
                 "from minideeplab.io import read_label_png\n"
                 "read_label_png(D + '/real_11000.png')", pattern="Mpx"))
    C.append(_cli(cat, "predict on a truncated PNG", ["predict", ck, "{D}/truncated.png",
                                                      "--out", out], pattern="truncated",
                  absent=["out.png"]))
    cat = "crafted files: not regular files"
    C.append(_cli(cat, "crf on a FIFO", ["crf", "{D}/fifo", "{D}/fifo", "--out", out],
                  pattern="regular file"))
    C.append(_cli(cat, "predict --torchvision /dev/zero",
                  ["predict", "--torchvision", "/dev/zero", img, "--out", out],
                  pattern="regular file"))
    C.append(_cli(cat, "predict on /dev/zero as checkpoint",
                  ["predict", "/dev/zero", img, "--out", out], pattern="regular file"))
    # -- one line where one line is promised
    cat = "one line: command line"
    C.append(_cli(cat, "predict --shorter-side 10**30", ["predict", ck, img, "--out", out,
                                                         "--shorter-side", str(10 ** 30)],
                  pattern="shorter|resize|Mpx", absent=["out.png"]))
    C.append(_cli(cat, "train --max-iter 10**30", ["train", "--out", "{D}/r30", "--max-iter",
                                                   str(10 ** 30)], pattern="max.iter"))
    C.append(_cli(cat, "train --lr 1e300", ["train", "--out", "{D}/rlr", "--lr", "1e300",
                                            "--max-iter", "3", "--image-size", "17",
                                            "--crop-size", "17", "--num-train", "2",
                                            "--num-val", "2", "--batch-size", "2",
                                            "--no-progress"], expect="failed",
                  pattern="non-finite|diverg"))
    C.append(_cli(cat, "train on a VOC folder with missing files",
                  ["train", "--dataset", "voc", "{D}/sub", "--out", "{D}/rvoc"],
                  pattern="VOC|missing|does not exist|no such"))
    C.append(_cli(cat, "predict with a missing checkpoint", ["predict", "{D}/nope.npz", img,
                                                             "--out", out], pattern="nope"))
    # -- the library's arguments
    cat = "library arguments"
    head = ("import math\nimport numpy as np\nfrom minideeplab import functional as F, nn, "
            "checks\nX = np.ones((1, 2, 8, 8), np.float32)\n")
    calls = [
        ("space_to_batch(x, 0)", "F.space_to_batch(X, 0)", "rate"),
        ("space_to_batch layout='nhwc'", "F.space_to_batch(X, 2, layout='nhwc')", "layout"),
        ("interp_shrink_size(5, 0)", "F.interp_shrink_size(5, 0)", "shrink_factor"),
        ("pool_output_size(5, 3, 0, 0)", "F.pool_output_size(5, 3, 0, 0)", "stride"),
        ("conv_output_size(5, 3, stride=0)", "checks.conv_output_size(5, 3, stride=0)",
         "stride"),
        ("interp_matrix(0, 5)", "F.interp_matrix(0, 5)", "in_size"),
        ("linear_taps(0, 4)", "F.linear_taps(0, 4)", "in_size"),
        ("effective_kernel_size(3, 0)", "checks.effective_kernel_size(3, 0)", "rate"),
        ("softmax_cross_entropy_backward(cache, nan)",
         "c = F.softmax_cross_entropy(np.zeros((1, 3, 2, 2), np.float32), "
         "np.zeros((1, 2, 2), np.int64))[1]\nF.softmax_cross_entropy_backward(c, math.nan)",
         "dloss"),
        ("conv2d(padding=10**6)", "F.conv2d(X, np.ones((3, 2, 3, 3), np.float32), "
                                  "padding=10**6)", "padding"),
        ("conv2d(padding=rate=10**12)", "F.conv2d(X, np.ones((3, 2, 3, 3), np.float32), "
                                        "padding=10**12, rate=10**12)", "padding"),
        ("resize_bilinear(x, 10**9)", "F.resize_bilinear(X, 10**9)", "size"),
        ("build_model(num_classes=10**9)", "from minideeplab.models import build_model\n"
                                           "build_model('largefov', num_classes=10**9)",
         "parameters"),
        ("build_model(dtype='longdouble')", "from minideeplab.models import build_model\n"
                                            "build_model('largefov', dtype='longdouble')",
         "dtype"),
        ("Conv2d.load_state_dict missing key", "nn.Conv2d(1, 1, 1).load_state_dict("
                                               "{'weight': np.zeros((1, 1, 1, 1), np.float32)})",
         "bias"),
        ("Conv2d.load_state_dict list value", "nn.Conv2d(1, 1, 1).load_state_dict("
                                              "{'weight': [[[[1.0]]]], 'bias': np.zeros(1)})",
         "weight"),
        ("SGD.load_state_dict missing key", "from minideeplab.optim import SGD\n"
                                            "SGD(nn.Conv2d(1, 1, 1)).load_state_dict({})", "."),
        ("SGD(lr=inf)", "from minideeplab.optim import SGD\nSGD(nn.ReLU(), lr=math.inf)", "lr"),
        ("SGD(weight_decay=inf)", "from minideeplab.optim import SGD\n"
                                  "SGD(nn.ReLU(), weight_decay=math.inf)", "weight_decay"),
        ("SGD(momentum=1.0)", "from minideeplab.optim import SGD\n"
                              "SGD(nn.ReLU(), momentum=1.0)", "momentum"),
        ("ConfusionMatrix(3, ignore_index='x')", "from minideeplab.metrics import "
                                                 "ConfusionMatrix\nConfusionMatrix(3, "
                                                 "ignore_index='x')", "ignore_index"),
        ("Conv2d(seed=-1)", "nn.Conv2d(3, 4, 3, seed=-1)", "Conv2d: seed"),
        ("Preprocessing(mean='abc')", "from minideeplab.preprocess import Preprocessing\n"
                                      "Preprocessing(mean='abc')", "Preprocessing: mean"),
        ("load_torchvision int key", "from minideeplab.models import load_torchvision\n"
                                     "load_torchvision({3: np.zeros(1)})", "load_torchvision"),
        ("load_torchvision 0-d classifier",
         "from minideeplab.models import load_torchvision\nload_torchvision({"
         "**{f'backbone.layer3.{i}.conv1.weight': np.zeros((1, 1, 1, 1), np.float32) for i in "
         "range(6)}, 'classifier.4.weight': np.float32(1)})", "classifier.4.weight"),
        ("load_torchvision string classifier",
         "from minideeplab.models import load_torchvision\nload_torchvision({"
         "**{f'backbone.layer3.{i}.conv1.weight': np.zeros((1, 1, 1, 1), np.float32) for i in "
         "range(6)}, 'classifier.4.weight': 'abc'})", "classifier.4.weight"),
    ]
    for name, code, pattern in calls:
        C.append(_py(cat, name, head + code, pattern=pattern))
    C.append(_py(cat, "avg_pool2d(x, 2, stride=10**30): one window", head +
                 "y, _ = F.avg_pool2d(X, 2, stride=10**30)\nassert y.shape == (1, 2, 1, 1)",
                 expect="ok"))
    C.append(_py(cat, "augment(rng=0): an int seed", head +
                 "from minideeplab.data import augment\n"
                 "r = np.random.default_rng(1)\n"
                 "im = r.integers(0, 256, (20, 24, 3), dtype=np.uint8)\n"
                 "augment(im, np.zeros((20, 24), np.uint8), 0, crop_size=16)", expect="ok"))
    return C


# ------------------------------------------------------------------------------ running
# The peak resident memory of the child itself: VmHWM of its own address space (a fresh one at
# exec), written at exit. (The rusage of a forked child starts at its parent's size: the tests'
# parent is 360 MiB.) The parent also samples it while the child runs, for one that is killed.
HWM = """\
import atexit, os
def _hwm():
    with open("/proc/self/status") as f:
        kib = next(line.split()[1] for line in f if line.startswith("VmHWM:"))
    with open(os.environ["SWEEP_HWM_FILE"], "w") as f:
        f.write(kib)
atexit.register(_hwm)
"""
CHILD = HWM + """\
import sys, traceback
D = sys.argv[1]
try:
    exec(compile(sys.argv[2], "<case>", "exec"), {"D": D, "__name__": "__case__"})
except BaseException as e:
    from minideeplab.errors import UserError
    if isinstance(e, UserError):
        print(f"USERERROR {type(e).__name__}: {e}")
        sys.exit(3)
    traceback.print_exc()
    sys.exit(1)
"""
COMMAND = HWM + """\
import runpy, sys
sys.argv[0] = "minideeplab"
runpy.run_module("minideeplab", run_name="__main__", alter_sys=True)   # python -m minideeplab
"""


def _limit(address_bytes):
    def preexec():
        resource.setrlimit(resource.RLIMIT_AS, (address_bytes, address_bytes))
    return preexec


def _hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0


def run_case(case, d, args):
    """Run one case in a fresh process: its Outcome (``rc`` None after a hang)."""
    D = str(d)
    if case.kind == "py":
        argv = [sys.executable, "-c", CHILD, D, case.body]
    else:
        argv = [sys.executable, "-c", COMMAND, *[a.format(D=D) for a in case.body]]
    keep = {name: d / name for name in case.keep}
    before = {name: hashlib.sha256(p.read_bytes()).hexdigest() for name, p in keep.items()}
    for name in case.absent:
        assert not (d / name).exists(), name
    with (tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err,
          tempfile.TemporaryDirectory() as scratch):
        hwm_file = os.path.join(scratch, "hwm")
        env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1",
                   SWEEP_HWM_FILE=hwm_file)
        start = time.monotonic()
        proc = subprocess.Popen(argv, cwd=D, env=env, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL,
                                preexec_fn=_limit(int(args.address_limit_gib * 2 ** 30)))
        deadline = start + args.timeout
        sent, peak_kib = None, 0
        if case.kind == "signal":
            deadline = start + case.send[1] + args.timeout
        while True:
            peak_kib = max(peak_kib, _hwm_kib(proc.pid))
            pid, status = os.waitpid(proc.pid, os.WNOHANG)
            if pid:
                break
            now = time.monotonic()
            if case.kind == "signal" and sent is None and now - start >= case.send[1]:
                proc.send_signal(getattr(signal, case.send[0]))
                sent = now
            if now > deadline:
                proc.kill()
                os.waitpid(proc.pid, 0)
                status = None
                break
            time.sleep(0.01)
        seconds = time.monotonic() - (sent or start)
        proc.returncode = 0                               # reaped here, not by Popen
        rc = None if status is None else os.waitstatus_to_exitcode(status)
        if os.path.exists(hwm_file):
            with open(hwm_file) as f:
                peak_kib = max(peak_kib, int(f.read()))
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    changed = [name for name, p in keep.items() if not p.exists()
               or hashlib.sha256(p.read_bytes()).hexdigest() != before[name]]
    created = [name for name in case.absent if (d / name).exists()]
    if (d / "pwned").exists():
        created.append("pwned (code from a file ran)")
    for name in case.absent + ("out.png",):
        if (d / name).exists():
            (d / name).unlink()
    return Outcome(rc, stdout, stderr, seconds, peak_kib / 1024, changed, created)


def judge(case, o, baseline_mib, args):
    """Why the outcome ``o`` of ``case`` is not clean ("" when it is)."""
    if o.rc is None:
        return f"hang: still running after {args.timeout:g} s"
    if o.peak_mib - baseline_mib > args.max_growth_mib:
        return f"memory: peak {o.peak_mib:.0f} MiB, {o.peak_mib - baseline_mib:.0f} MiB above"
    if o.changed:
        return f"lost: changed {o.changed}"
    if o.created:
        return f"written although refused: {o.created}"
    if "Traceback" in o.stderr:
        return "traceback: " + o.stderr.strip().splitlines()[-1][:120]
    lines = [line for line in o.stderr.splitlines() if line.strip()]
    if case.kind == "signal":
        signum = getattr(signal, case.send[0])
        if o.rc != 128 + signum:
            return f"exit status {o.rc}, not {128 + signum}"
        if len(lines) != 1:
            return f"{len(lines)} lines on stderr: {lines[:3]}"
        saved = re.search(r"saved to '([^']+)'", lines[0])
        if saved:
            from minideeplab.checkpoint import load_checkpoint
            try:
                if load_checkpoint(saved.group(1)).iteration < 1:
                    return "the saved checkpoint has no iteration"
            except Exception as e:                     # noqa: BLE001 - reported, not raised
                return f"the saved checkpoint does not load: {e}"
        elif "interrupted" not in lines[0]:
            return f"unexpected line: {lines[0][:120]}"
        return ""
    if case.expect == "ok":
        if o.rc != 0:
            return f"exit status {o.rc}: {(lines or [''])[-1][:120]}"
        if lines and case.kind == "py":
            return f"printed on stderr: {lines[0][:120]}"
        if any("Warning" in line for line in lines):
            return f"warning: {next(line for line in lines if 'Warning' in line)[:120]}"
        return ""
    if case.kind == "py":
        if o.rc != 3:
            return f"exit status {o.rc}, not a user error: {(lines or [''])[-1][:120]}"
        if lines:
            return f"printed on stderr: {lines[0][:120]}"
        message = o.stdout.strip().splitlines()[-1]
    else:
        want = 1 if case.expect == "failed" else 2        # a run that failed: status 1
        if o.rc != want:
            return f"exit status {o.rc}, not {want}: {(lines or [''])[-1][:120]}"
        if len(lines) != 1 or "error:" not in lines[0]:
            return f"{len(lines)} lines on stderr: {lines[:3]}"
        message = lines[0]
    if not re.search(case.pattern, message):
        return f"message does not match {case.pattern!r}: {message[:160]}"
    return ""


def baseline(d, args):
    """Peak RSS (MiB) of a process that imports the library and its readers."""
    probe = _py("baseline", "import", "import numpy, PIL.Image, minideeplab.cli, "
                "minideeplab.crf, minideeplab.io", "ok")
    return run_case(probe, d, args).peak_mib


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run the categories whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the cases, run nothing")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds (default 5)")
    parser.add_argument("--max-growth-mib", type=float, default=1024.0)
    parser.add_argument("--address-limit-gib", type=float, default=4.0)
    args = parser.parse_args(argv)
    selected = [c for c in cases() if not args.only or args.only in c.category]
    if args.list:
        for c in selected:
            print(f"{c.category:40s} {c.name}")
        return 0
    with tempfile.TemporaryDirectory(prefix="sweep-") as tmp:
        d = Path(tmp)
        t0 = time.monotonic()
        make_files(d)
        largest = max(p.stat().st_size for p in d.iterdir()
                      if p.is_file() and not p.name.startswith("photo"))
        print(f"files made in {time.monotonic() - t0:.1f} s; the largest crafted file: "
              f"{largest / MiB:.1f} MiB")
        base = baseline(d, args)
        print(f"baseline peak RSS (a process importing the library): {base:.0f} MiB; "
              f"limits: {args.timeout:g} s, +{args.max_growth_mib:.0f} MiB")
        table, failures = {}, []
        for case in selected:
            o = run_case(case, d, args)
            why = judge(case, o, base, args)
            tried, clean = table.get(case.category, (0, 0))
            table[case.category] = (tried + 1, clean + (not why))  # (before the note below)
            mark = "clean" if not why else "NOT CLEAN"
            if case.kind == "signal" and not why:
                said = re.search(r"after iteration \d+|interrupted[^:;]*", o.stderr)
                why = f"({said.group(0) if said else o.stderr.strip()[:80]})"
            print(f"  {mark:9s} {o.seconds:5.2f} s {o.peak_mib:6.0f} MiB  {case.category}: "
                  f"{case.name}" + (f"\n            {why}" if why else ""), flush=True)
            if mark != "clean":
                failures.append((case, why))
    width = max(len(c) for c in table)
    print(f"\n{'category':{width}s}  tried  clean")
    for category, (tried, clean) in table.items():
        print(f"{category:{width}s}  {tried:5d}  {clean:5d}")
    total = [sum(v[i] for v in table.values()) for i in (0, 1)]
    print(f"{'all':{width}s}  {total[0]:5d}  {total[1]:5d}")
    for case, why in failures:
        print(f"NOT CLEAN: {case.category}: {case.name}: {why}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
