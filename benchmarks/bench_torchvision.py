"""torchvision's DeepLabV3-ResNet50/101 forward: minideeplab (NumPy) against PyTorch on the CPU.

    PYTHONPATH=. python benchmarks/bench_torchvision.py --torch-python /path/to/venv/bin/python

Each implementation runs in its own subprocess (``--worker``), so that its peak resident memory
(``ru_maxrss``) is its own: the model with random weights (speed does not depend on them), one
1x3xSxS float32 input, a warm-up forward; then the two processes take turns, one forward each,
``--repeats`` times (so that both see the same load on a shared machine), and the medians are
compared.
minideeplab runs inside ``nn.no_cache()`` (no backward caches, as ``predict``), PyTorch inside
``torch.no_grad()``, both with the same number of threads (OpenBLAS's, and
``torch.set_num_threads``). PyTorch runs under the interpreter given by ``--torch-python`` (an
environment with torch and torchvision; minideeplab never imports torch); without it only
minideeplab's column is measured.

Reported per (arch, size): median forward time, peak RSS of the process (imports, weights and
the forward), the ratios ours / PyTorch (goal: <= 1.5 for both), and the RSS after loading the
model (before any forward), so that the forward's own memory can be read off. Then the peak RSS
of ``minideeplab.inference.predict`` (preprocessing, forward, upsampling, softmax) with
ResNet-101 on a 513x513 image, against PyTorch's forward of the same size.
Writes ``benchmarks/results/torchvision.md`` (and ``.json``).
"""
import argparse
import json
import os
import statistics
import sys

from side_by_side import Worker, current_rss_mb, serve

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ARCHS = ("deeplabv3_resnet50", "deeplabv3_resnet101")


def worker(impl, arch, size, threads):
    """Runs in the subprocess: builds the model, then serves ``run`` requests
    (:mod:`side_by_side`)."""
    import numpy as np
    x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
    if impl == "predict":                          # the whole of inference.predict
        sys.path.insert(0, ROOT)
        import dataclasses

        from minideeplab.inference import predict
        from minideeplab.models import build_torchvision
        model = build_torchvision(arch, 21)
        model.preprocessing = dataclasses.replace(model.preprocessing, resize_shorter=None)
        image = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)

        def forward():
            return predict(model, image)[1]
    elif impl == "torch":
        import torch
        from torchvision.models import segmentation
        torch.set_num_threads(threads)
        model = getattr(segmentation, arch)(weights=None, weights_backbone=None,
                                            num_classes=21, aux_loss=False).eval()
        xt = torch.from_numpy(x)

        def forward():
            with torch.no_grad():
                return model.classifier(model.backbone(xt)["out"])
    else:
        sys.path.insert(0, ROOT)
        from minideeplab import nn
        from minideeplab.models import build_torchvision
        model = build_torchvision(arch, 21).eval()

        def forward():
            with nn.no_cache():
                return model(x)
    loaded = current_rss_mb()
    out_shape = list(forward().shape)              # warm-up
    serve(forward, info=dict(impl=impl, arch=arch, size=size, threads=threads,
                             rss_after_load_mb=loaded, out_shape=out_shape))


def measure(pythons, arch, size, repeats, threads):
    """Start one worker per implementation (model loaded, one warm-up forward each), then
    alternate their forwards ``repeats`` times, so that both see the same machine load."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), MINIDEEPLAB_THREADS=str(threads))
    procs = {impl: Worker([py, os.path.abspath(__file__), "--worker", impl, "--arch", arch,
                           "--size", str(size), "--threads", str(threads)], env=env)
             for impl, py in pythons.items()}
    for _ in range(repeats):
        for proc in procs.values():
            proc.run()
    result = {}
    for impl, proc in procs.items():
        done = proc.finish()
        result[impl] = dict(proc.info, times=done["times"], peak_rss_mb=done["peak_rss_mb"],
                            time_s=float(statistics.median(done["times"])))
    return result


def table(rows, machine, threads):
    lines = [f"Machine: {machine}; {threads} thread(s) for both; medians of the repeats.", "",
             "| network | input | ours (s) | PyTorch (s) | time ratio | ours peak RSS (MB) | "
             "PyTorch peak RSS (MB) | memory ratio | ours RSS after load (MB) | "
             "PyTorch RSS after load (MB) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        o, t = r["ours"], r.get("torch")
        tt = f"{t['time_s']:.2f}" if t else "-"
        tr = f"{o['time_s'] / t['time_s']:.2f}" if t else "-"
        tm = f"{t['peak_rss_mb']:.0f}" if t else "-"
        mr = f"{o['peak_rss_mb'] / t['peak_rss_mb']:.2f}" if t else "-"
        tl = f"{t['rss_after_load_mb']:.0f}" if t else "-"
        lines.append(f"| {r['arch']} | 1x3x{r['size']}x{r['size']} | {o['time_s']:.2f} | {tt} | "
                     f"{tr} | {o['peak_rss_mb']:.0f} | {tm} | {mr} | "
                     f"{o['rss_after_load_mb']:.0f} | {tl} |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--worker", choices=("ours", "predict", "torch"))
    p.add_argument("--arch", choices=ARCHS)
    p.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    p.add_argument("--size", type=int)
    p.add_argument("--sizes", nargs="+", type=int, default=[321, 513])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--torch-python", help="a Python with torch and torchvision installed")
    p.add_argument("--out", default=os.path.join(HERE, "results", "torchvision"))
    p.add_argument("--no-predict", dest="predict", action="store_false",
                   help="skip the peak memory of inference.predict (ResNet-101, 513x513)")
    p.add_argument("--tiny", action="store_true",
                   help="ResNet-50 on a 65x65 input, one repeat, no predict: a check that it "
                        "runs, not a measurement")
    a = p.parse_args()
    if a.tiny and not a.worker:
        a.archs, a.sizes, a.repeats, a.predict = ["deeplabv3_resnet50"], [65], 1, False
    if a.worker:
        return worker(a.worker, a.arch, a.size, a.threads)
    sys.path.insert(0, ROOT)
    from minideeplab.timing import describe_machine
    rows = []
    for arch in a.archs:
        for size in a.sizes:
            row = dict(arch=arch, size=size)
            pythons = {"ours": sys.executable}
            if a.torch_python:
                pythons["torch"] = a.torch_python
            row.update(measure(pythons, arch, size, a.repeats, a.threads))
            rows.append(row)
            print(json.dumps(row), flush=True)
    if a.predict:
        pred = measure({"predict": sys.executable}, "deeplabv3_resnet101", 513, 1,
                       a.threads)["predict"]
        torch_row = next((r.get("torch") for r in rows if r["arch"] == "deeplabv3_resnet101"
                          and r["size"] == 513), None)
        rows.append(dict(arch="deeplabv3_resnet101", size=513, predict=pred, torch=torch_row))
        print(json.dumps(pred), flush=True)
    text = table([r for r in rows if "ours" in r], describe_machine(), a.threads)
    for r in rows:
        if "predict" in r:
            p, t = r["predict"], r["torch"]
            text += (f"\n`inference.predict` (uint8 image -> labels and probabilities, no "
                     f"backward caches), deeplabv3_resnet101 on a 513x513 image: peak RSS "
                     f"{p['peak_rss_mb']:.0f} MB, {p['time_s']:.2f} s"
                     + (f"; PyTorch's torch.no_grad() forward above: {t['peak_rss_mb']:.0f} MB, "
                        f"ratio {p['peak_rss_mb'] / t['peak_rss_mb']:.2f}" if t else "") + "\n")
    print(text)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    from minideeplab.fileio import atomic_write_text
    atomic_write_text(a.out + ".md",
                      "# torchvision's DeepLabV3 forward: minideeplab vs PyTorch (CPU, float32)\n\n"
                      "`PYTHONPATH=. python benchmarks/bench_torchvision.py --torch-python ...`"
                      "\n\n" + text)
    atomic_write_text(a.out + ".json", json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
