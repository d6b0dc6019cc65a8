"""``python -m minideeplab reproduce``: regenerate figures/ and print the tables.

Runs the jobs of :mod:`minideeplab.paper.jobs` (one per paper figure or table) with a
progress bar, prints each table, writes figures/README.md from the registry, and exits with
status 1 if any job failed. ``--quick`` writes the same files from small, fast runs.

The default run starts from the trained tiny networks shipped with the book
(:mod:`minideeplab.paper.shipped`) and trains nothing. ``--retrain`` trains every network it
needs again from scratch ({retrain} on 2 CPU cores), also runs the optional jobs (the
tables over several seeds, which train 8 more networks), and at the end says whether each
retrained network is bit for bit the shipped one. The default run took {took_default} and
--quick {took_quick} ({measured_on}).

The default run leaves the committed figures/ unchanged: the jobs that time this machine
(holes vs deinterlacing) run only with --timings or --only NAME, and their committed files
name the machine and the date they were measured on.

``--torchvision FILE`` (torchvision's published DeepLabV3 weights, ``.pth`` or ``.safetensors``)
runs the jobs that draw Figs. 5 and 6 on real photos (job ``real_photos``; and Fig. 10 with
``--voc PATH``, the VOCdevkit/VOC2012 folder: job ``fig10_real``) beside the miniature
versions: ``*_real.png`` (:mod:`minideeplab.paper.real_photos`). Without it those jobs are
skipped, with a message saying how to get the weights.
"""
import contextlib
import os
import time

from .. import backend
from ..errors import ArgumentError
from ..fileio import prepare_output_dir
from . import measured


def add_parser(sub):
    description = measured.fill(__doc__.format(
        retrain=measured.retrain_text(), measured_on=measured.measured_on(),
        took_default=measured.took("reproduce"), took_quick=measured.took("quick")))
    p = sub.add_parser("reproduce", help="regenerate the paper's figures and tables into "
                                         "figures/", description=description)
    p.add_argument("--quick", action="store_true",
                   help=f"small, fast runs ({measured.took('quick')}); same files")
    p.add_argument("--device", choices=backend.DEVICES, default="cpu",
                   help="run on NumPy (cpu, default) or CuPy (gpu)")
    p.add_argument("--out", default="figures", help="output folder (default: figures)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these jobs (see --list)")
    p.add_argument("--retrain", action="store_true",
                   help="train the networks again from scratch instead of starting from the "
                        "shipped ones, and run the optional jobs too: 12 networks, "
                        f"{measured.retrain_text()}")
    p.add_argument("--timings", action="store_true",
                   help="also run the jobs that time this machine (holes vs deinterlacing); "
                        "the default run skips them, so that it leaves the committed figures/ "
                        "as they are")
    p.add_argument("--list", action="store_true", help="list the jobs and exit")
    p.add_argument("--readme", action="store_true",
                   help="only rewrite OUT/README.md from the registry (runs no job)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--torchvision", metavar="FILE",
                   help="torchvision DeepLabV3 weights (.pth or .safetensors): also draw Figs. "
                        "5, 6 (and 10 with --voc) on real photos")
    p.add_argument("--voc", metavar="PATH",
                   help="PASCAL VOC 2012 folder for the real-photo figures (Fig. 10 needs it)")
    return p


def _compare_with_shipped():
    """Say, for each shipped network that was retrained, whether it is bit for bit the same."""
    from ..paper import ship
    for name, same, detail in ship.compare_with_cache():
        print(f"retrained {name}: " + ("bit for bit the shipped network" if same else detail))


def _status(result):
    from ..paper.reproduce import INPUT_FLAGS
    if result.error:
        return "FAILED"
    if result.skipped:
        return "skipped: needs " + " and ".join(INPUT_FLAGS[k] for k in result.skipped)
    return ", ".join(p.name for p in result.files)


def run(args):
    from ..paper import reproduce
    if args.list:
        for j in reproduce.all_jobs():
            needs = "".join(f" ({reproduce.INPUT_FLAGS[k]})" for k in j.needs)
            print(f"{j.name:14s} {j.paper:34s} {', '.join(j.files)}"
                  + ("  (optional)" if j.optional else "")
                  + ("  (times this machine: --timings)" if j.timing else "") + needs)
        return 0
    if args.voc and not args.torchvision:
        raise ArgumentError("--voc is for the real-photo figures: give --torchvision FILE too")
    selected = reproduce.get_jobs(args.only, optional=args.retrain, timing=args.timings)
    _, stale = prepare_output_dir(args.out, "--out")
    for path in stale:
        print(f"removed {path}, a temporary file left by a killed run")
    if args.readme:
        print(f"wrote {reproduce.write_readme(args.out)}")
        return 0
    mode = ("quick" if args.quick else "full") + (", retraining" if args.retrain else "")
    print(f"reproduce: {len(selected)} job(s), {mode} run on {args.device}, into {args.out}/")
    t0 = time.perf_counter()
    from ..paper import variants
    with variants.retraining() if args.retrain else contextlib.nullcontext():
        results = reproduce.run_jobs([j.name for j in selected], args.out, quick=args.quick,
                                     device=args.device, progress=not args.no_progress,
                                     inputs={"torchvision": args.torchvision, "voc": args.voc})
    reproduce.write_readme(args.out)
    if args.retrain and not args.quick:
        _compare_with_shipped()
    skipped = [j.name for j in reproduce.all_jobs() if j.timing and j not in selected]
    if skipped and not args.only:
        print(f"skipped {', '.join(skipped)}: it times this machine (the committed files say "
              "which machine made them); --timings runs it")
    print(f"{'job':14s} {'seconds':>8s}  files")
    for r in results:
        print(f"{r.name:14s} {r.seconds:8.1f}  {_status(r)}")
    if any(r.skipped and "torchvision" in r.skipped for r in results):
        from ..paper.real_photos import WEIGHTS_HINT
        print(f"the real-photo figures need {WEIGHTS_HINT}")
    failed = [r.name for r in results if r.error]
    print(f"total {time.perf_counter() - t0:.1f} s" +
          (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0
