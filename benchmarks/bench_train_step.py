"""One training step of the full-width DeepLab networks: minideeplab against PyTorch on the CPU.

    PYTHONPATH=. python benchmarks/bench_train_step.py --torch-python /path/to/venv/bin/python
    PYTHONPATH=. python benchmarks/bench_train_step.py --nets largefov --batches 1 --busy 1
    PYTHONPATH=. python benchmarks/bench_train_step.py --tiny         # seconds; no PyTorch

A training step is: zero the gradients, forward, softmax cross-entropy at output stride 8
(labels 0..20, ignore label 255), backward, one SGD update (momentum 0.9, weight decay 5e-4),
on a batch of random Nx3xSxS float32 crops. The networks:

* ``largefov``, ``aspp-l``: DeepLab v2 on VGG-16 (``build_model``), 20.5M / 74.0M parameters;
* ``resnet101``: DeepLab v2 on ResNet-101 (four 3x3 convolutions to the classes at rates 6, 12,
  18, 24, summed), ``build_model("resnet")`` as a user trains it from scratch: batch norm on
  the batch's statistics (DeepLab v2 froze it at the statistics of its ImageNet weights,
  which are not shipped);
* ``v3-resnet50``: torchvision's DeepLabV3-ResNet50 layout (``build_torchvision``), batch norm
  trained on batch statistics (so not at batch 1: the image-pooling branch's batch norm sees one
  value per channel; batch 1 is run as batch 2).

PyTorch runs the same network (``torch_deeplab.py``: built layer by layer, with the same names,
from a description of minideeplab's; torchvision's own model for ``v3-resnet50``) under the
interpreter given by ``--torch-python``; without it only minideeplab's column is measured. Each
side runs in its own process (``side_by_side.py``); after a warm-up step the two take turns,
one step each, ``--repeats`` times, and the medians are compared. Then ``--layer-repeats``
steps are timed layer by layer on both sides (minideeplab: around each layer's forward and
backward; PyTorch: module hooks), and the table gives each layer's median forward and backward
time and the ratios. Peak memory is each process's peak RSS (imports, model, every step).
``--busy K`` runs K processes spinning on one core each beside both, all the while.

Writes ``--out`` (.md and .json; default ``benchmarks/results/train_step``).
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from side_by_side import BusyNeighbours, Worker, current_rss_mb, serve  # noqa: E402

NETS = ("largefov", "aspp-l", "resnet101", "v3-resnet50")
NUM_CLASSES = 21


# ----------------------------------------------------------------------------- the networks
def make_model(net, tiny):
    """minideeplab's network ``net`` (one of NETS), full width or ``tiny``."""
    from minideeplab.models import build_model
    from minideeplab.models.torchvision_deeplab import build_torchvision, torchvision_config
    if net in ("largefov", "aspp-l"):
        return build_model(net, NUM_CLASSES, tiny=tiny)
    if net == "resnet101":
        return build_model("resnet", NUM_CLASSES, tiny=tiny)
    if tiny:
        cfg = torchvision_config("deeplabv3_resnet50")
        for key in ("width", "depth", "multi_grid"):     # the tiny preset's instead
            cfg.pop(key)
        return build_model(cfg.pop("name"), NUM_CLASSES, tiny=True, **cfg).train()
    return build_torchvision("deeplabv3_resnet50", NUM_CLASSES).train().keep_caches(True)


def describe(module):
    """minideeplab's module tree as JSON, for ``torch_deeplab.build`` to rebuild in PyTorch."""
    from minideeplab import nn
    from minideeplab.models.resnet import Bottleneck
    m = module
    if isinstance(m, nn.Conv2d):
        O, C, KH, KW = m.params["weight"].shape
        pad = m.padding if isinstance(m.padding, (tuple, list)) else (m.padding, m.padding)
        return dict(kind="conv", **{"in": C}, out=O, kernel=[KH, KW], stride=m.stride,
                    padding=list(pad), rate=m.rate, bias="bias" in m.params)
    if isinstance(m, nn.ReLU):
        return dict(kind="relu")
    if isinstance(m, nn.Dropout):
        return dict(kind="dropout", p=m.p)
    if isinstance(m, nn.MaxPool2d):
        return dict(kind="maxpool", kernel=m.kernel,
                    stride=m.kernel if m.stride is None else m.stride, padding=m.padding,
                    ceil_mode=m.ceil_mode)
    if isinstance(m, nn.BatchNorm2d):
        return dict(kind="bn", channels=int(m.params["gamma"].shape[0]), eps=m.eps,
                    momentum=m.momentum, frozen=m.frozen)
    if isinstance(m, Bottleneck):
        return dict(kind="residual", main=describe(m.main), relu=describe(m.relu),
                    shortcut=describe(m.shortcut) if m.has_shortcut else None)
    children = [(name, describe(c)) for name, c in m.children()]
    if isinstance(m, nn.Parallel):
        if m.combine != "sum":
            raise ValueError("only summed parallel branches are described")
        return dict(kind="sum", children=children)
    return dict(kind="seq", children=children)   # containers whose forward runs the children


def torch_spec(net, tiny):
    if net == "v3-resnet50":
        return None if tiny else dict(kind="torchvision", arch="deeplabv3_resnet50",
                                      num_classes=NUM_CLASSES)
    from minideeplab.nn import init
    with init.shapes_only():
        spec = describe(make_model(net, tiny))
    spec["num_classes"] = NUM_CLASSES
    return spec


# ----------------------------------------------------------------------------- our worker
_KINDS = {"Conv2d": "conv", "BatchNorm2d": "bn", "ReLU": "relu", "MaxPool2d": "maxpool",
          "Dropout": "dropout", "GlobalAvgPool": "avgpool", "Resize": "resize"}


def ours_worker(net, batch, size, tiny):
    import numpy as np

    from minideeplab import functional as F
    from minideeplab.optim import SGD
    rss_imports = current_rss_mb()
    model = make_model(net, tiny)
    opt = SGD(model, lr=1e-3, momentum=0.9, weight_decay=5e-4)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
    from minideeplab import nn
    with nn.no_cache():
        out_shape = tuple(model(x).shape[2:])
    labels = rng.integers(0, NUM_CLASSES, size=(batch,) + out_shape)
    rss_loaded = current_rss_mb()

    def step():
        t0 = time.perf_counter()
        model.zero_grad()
        loss, cache = F.softmax_cross_entropy(model(x), labels)
        t1 = time.perf_counter()
        model.backward(F.softmax_cross_entropy_backward(cache))
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        return dict(forward=t1 - t0, backward=t2 - t1, sgd=t3 - t2, total=t3 - t0)

    def layers():
        times = {}
        leaves = [(name, m) for name, m in model.named_modules() if not m.children()]
        for name, m in leaves:
            w = m.params.get("weight")
            kernel = list(w.shape[2:]) if type(m).__name__ == "Conv2d" else None
            times[name] = [_KINDS.get(type(m).__name__, type(m).__name__), kernel, 0.0, 0.0]
            m.forward = _timed(m.forward, times[name], 2)
            m.backward = _timed(m.backward, times[name], 3)
        try:
            extra = step()
        finally:
            for _, m in leaves:
                del m.forward, m.backward           # back to the class's methods
        return dict(layers=times, **extra)

    step()                                          # warm-up
    info = dict(params=model.num_parameters(), out_shape=out_shape, rss_imports_mb=rss_imports,
                rss_loaded_mb=rss_loaded)
    serve(step, layers=layers, info=info)


def _timed(fn, row, col):
    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        row[col] += time.perf_counter() - t0
        return out
    return timed


# ----------------------------------------------------------------------------- the driver
def _ours_cmd(net, batch, size, tiny):
    return [sys.executable, os.path.abspath(__file__), "--worker",
            json.dumps([net, batch, size, tiny])]


def _torch_cmd(python, spec, batch, size, threads):
    return [python, os.path.join(HERE, "torch_deeplab.py"),
            json.dumps([spec, batch, size, threads, 0])]


def measure(net, batch, size, args):
    """Both sides of one row: step times alternated, then per-layer steps alternated."""
    env = dict(os.environ)
    if args.threads:
        env.update(OPENBLAS_NUM_THREADS=str(args.threads), MINIDEEPLAB_THREADS=str(args.threads))
    cmds = {"ours": _ours_cmd(net, batch, size, args.tiny)}
    spec = torch_spec(net, args.tiny) if args.torch_python else None
    if spec is not None:
        cmds["torch"] = _torch_cmd(args.torch_python, spec, batch, size, args.threads or 2)
    workers = {}
    try:
        for side, cmd in cmds.items():
            workers[side] = Worker(cmd, env=env)
        for _ in range(args.repeats):
            for w in workers.values():
                w.run()
        layer_runs = {side: [] for side in workers}
        for _ in range(args.layer_repeats):
            for side, w in workers.items():
                layer_runs[side].append(w.layers())
        result = {}
        for side, w in workers.items():
            done = w.finish()
            result[side] = dict(w.info, times=done["times"], cpu_times=done.get("cpu_times"),
                                peak_rss_mb=done["peak_rss_mb"],
                                time_s=statistics.median(done["times"]),
                                layer_runs=layer_runs[side])
    finally:
        for w in workers.values():
            if w.proc.poll() is None:
                w.proc.kill()
    if "torch" in result and result["torch"]["params"] != result["ours"]["params"]:
        raise RuntimeError(f"{net}: the two networks differ: {result['ours']['params']} "
                           f"parameters in minideeplab, {result['torch']['params']} in PyTorch")
    return result


def stage_of(name):
    """The part of a ResNet a layer belongs to, from minideeplab's or torchvision's name."""
    parts = name.split(".")
    for p in parts:
        if p.startswith("layer") or p == "stem":
            return p
    if parts[0] == "backbone":
        return "stem"                          # torchvision's backbone.conv1, .bn1, .maxpool
    return "head"


def row_key(net, name, kind, kernel):
    """The table row of a layer: its name for VGG, (stage, kind, kernel) for a ResNet."""
    if net in ("largefov", "aspp-l"):
        parts = name.split(".")
        return parts[-1] + (f" ({parts[1]})" if net == "aspp-l" and parts[0] == "head" else "")
    k = f" {kernel[0]}x{kernel[1]}" if kernel else ""
    return f"{stage_of(name)} {kind}{k}"


def layer_rows(net, runs):
    """{row: (forward s, backward s)}, medians over the runs, rows summed within a run; and the
    rest of the step (loss, SGD, sums between layers) as rows of their own."""
    per_run = []
    for run in runs:
        rows = {}
        for name, (kind, kernel, f, b) in run["layers"].items():
            key = row_key(net, name, kind, kernel)
            acc = rows.setdefault(key, [0.0, 0.0])
            acc[0] += f
            acc[1] += b
        f_sum = sum(v[0] for v in rows.values())
        b_sum = sum(v[1] for v in rows.values())
        rows["loss, sums and glue outside the layers"] = [run["forward"] - f_sum,
                                                          run["backward"] - b_sum]
        rows["SGD update"] = [0.0, run["sgd"]]
        per_run.append(rows)
    keys = list(per_run[0])
    return {k: tuple(statistics.median(r.get(k, (0.0, 0.0))[i] for r in per_run)
                     for i in (0, 1)) for k in keys}


def _ms(v):
    return f"{1000 * v:.1f}"


def _ratio(a, b):
    return f"{a / b:.2f}" if b > 0 else "-"


def step_table(rows):
    lines = ["| network | batch | ours (s) | PyTorch (s) | time ratio | ours peak RSS (MB) | "
             "PyTorch peak RSS (MB) | memory ratio | parameters | CPU time ratio |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        o, t = r["ours"], r.get("torch")
        lines.append(
            f"| {r['net']} | {r['batch']} | {o['time_s']:.3f} | "
            + (f"{t['time_s']:.3f} | {o['time_s'] / t['time_s']:.2f} | " if t else "- | - | ")
            + f"{o['peak_rss_mb']:.0f} | "
            + (f"{t['peak_rss_mb']:.0f} | {o['peak_rss_mb'] / t['peak_rss_mb']:.2f} | "
               if t else "- | - | ")
            + f"{o['params']:,} | "
            + (f"{_cpu(o) / _cpu(t):.2f} |" if t else "- |"))
    return "\n".join(lines)


def _cpu(side):
    """The median CPU time of a side's timed steps (all its threads)."""
    return statistics.median(side["cpu_times"])


def layer_table(r):
    ours = layer_rows(r["net"], r["ours"]["layer_runs"])
    torch = layer_rows(r["net"], r["torch"]["layer_runs"]) if "torch" in r else {}
    lines = [f"{r['net']}, batch {r['batch']}, {r['size']}x{r['size']}: medians of "
             f"{len(r['ours']['layer_runs'])} step(s) timed layer by layer (ms)", "",
             "| layer | ours fwd | PyTorch fwd | fwd ratio | ours bwd | PyTorch bwd | bwd ratio |",
             "|---|---|---|---|---|---|---|"]
    for key, (f, b) in ours.items():
        tf, tb = torch.get(key, (None, None))
        lines.append(f"| {key} | {_ms(f)} | " + (f"{_ms(tf)} | {_ratio(f, tf)} | " if torch
                                                 else "- | - | ")
                     + f"{_ms(b)} | " + (f"{_ms(tb)} | {_ratio(b, tb)} |" if torch
                                         else "- | - |"))
    missing = [k for k in torch if k not in ours]
    if missing:
        lines.append("")
        lines.append("PyTorch layers without a minideeplab row: " + ", ".join(missing))
    return "\n".join(lines)


def report(rows, args, machine, torch_info):
    sides = "minideeplab" + (f" and PyTorch {torch_info}" if torch_info else "")
    head = [f"Machine: {machine}.",
            f"Measured: {sides}; {args.threads or 'default'} thread(s) "
            f"(PyTorch: torch.set_num_threads({args.threads or 2})); "
            + (f"{args.busy} busy process(es) beside both; " if args.busy else
               "no busy process added by the benchmark; ")
            + f"load average before the run {args.load_before}; "
            f"step times are medians of {args.repeats} alternating steps; the CPU time ratio "
            "compares the CPU seconds of those steps (all threads), steadier than wall time on "
            "a loaded machine.", ""]
    body = [step_table(rows), ""]
    for r in rows:
        if r["ours"]["layer_runs"]:
            body += ["", layer_table(r), ""]
    return "\n".join(head + body) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--nets", nargs="+", default=list(NETS), choices=NETS)
    p.add_argument("--batches", nargs="+", type=int, help="default 1 10 (--tiny: 1 2)")
    p.add_argument("--size", type=int, help="crop size (default 321; --tiny: 65)")
    p.add_argument("--repeats", type=int, help="timed steps per side (default 5; --tiny: 1)")
    p.add_argument("--layer-repeats", type=int,
                   help="steps timed layer by layer per side (default 3; --tiny: 1)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for minideeplab (MINIDEEPLAB_THREADS and OPENBLAS_NUM_THREADS) "
                        "and torch.set_num_threads for PyTorch (default: minideeplab's own "
                        "default; PyTorch 2)")
    p.add_argument("--busy", type=int, default=0, help="busy processes beside both sides")
    p.add_argument("--torch-python", help="a Python with torch (and torchvision for "
                                          "v3-resnet50)")
    p.add_argument("--tiny", action="store_true",
                   help="tiny networks (VGG width 1/16, ResNet blocks (1, 1, 1, 1) at width "
                        "1/8) and small defaults: a check that everything runs in seconds, not "
                        "a measurement of the real networks")
    p.add_argument("--out", default=os.path.join(HERE, "results", "train_step"))
    a = p.parse_args()
    if a.worker:
        net, batch, size, tiny = json.loads(a.worker)
        return ours_worker(net, batch, size, tiny)
    defaults = dict(batches=[1, 2], size=65, repeats=1, layer_repeats=1) if a.tiny else dict(
        batches=[1, 10], size=321, repeats=5, layer_repeats=3)
    for key, value in defaults.items():
        if getattr(a, key) is None:
            setattr(a, key, value)
    from minideeplab.timing import describe_machine
    a.load_before = " ".join(f"{v:.2f}" for v in os.getloadavg())
    rows, torch_info = [], None
    with BusyNeighbours(a.busy):
        for net in a.nets:
            for batch in a.batches:
                if net == "v3-resnet50" and batch == 1:
                    batch = 2                      # batch-norm statistics need 2 values
                result = measure(net, batch, a.size, a)
                if "torch" in result:
                    torch_info = result["torch"]["version"]
                rows.append(dict(net=net, batch=batch, size=a.size, **result))
                print(step_table(rows[-1:]).splitlines()[-1], flush=True)
    text = report(rows, a, describe_machine(), torch_info)
    print(text)
    from minideeplab.fileio import atomic_write_text
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    atomic_write_text(a.out + ".md", "# One DeepLab training step: minideeplab vs PyTorch (CPU, "
                      "float32)\n\n`" + " ".join(["python"] + sys.argv) + "`\n\n" + text)
    atomic_write_text(a.out + ".json", json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
