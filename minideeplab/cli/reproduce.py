"""``python -m minideeplab reproduce``: regenerate figures/ and print the tables.

Runs the jobs of :mod:`minideeplab.paper.jobs` (one per paper figure or table) with a
progress bar, prints each table, writes figures/README.md from the registry, and exits with
status 1 if any job failed. ``--quick`` writes the same files from small, fast runs.
"""
import time

from .. import backend
from ..fileio import prepare_output_dir


def add_parser(sub):
    p = sub.add_parser("reproduce", help="regenerate the paper's figures and tables into "
                                         "figures/", description=__doc__)
    p.add_argument("--quick", action="store_true",
                   help="small, fast runs (minutes on 2 CPU cores); same files")
    p.add_argument("--device", choices=backend.DEVICES, default="cpu",
                   help="run on NumPy (cpu, default) or CuPy (gpu)")
    p.add_argument("--out", default="figures", help="output folder (default: figures)")
    p.add_argument("--only", nargs="+", metavar="NAME",
                   help="run only these jobs (see --list)")
    p.add_argument("--list", action="store_true", help="list the jobs and exit")
    p.add_argument("--readme", action="store_true",
                   help="only rewrite OUT/README.md from the registry (runs no job)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def run(args):
    from ..paper import reproduce
    if args.list:
        for j in reproduce.all_jobs():
            print(f"{j.name:14s} {j.paper:34s} {', '.join(j.files)}")
        return 0
    selected = reproduce.get_jobs(args.only)
    _, stale = prepare_output_dir(args.out, "--out")
    for path in stale:
        print(f"removed {path}, a temporary file left by a killed run")
    if args.readme:
        print(f"wrote {reproduce.write_readme(args.out)}")
        return 0
    mode = "quick" if args.quick else "full"
    print(f"reproduce: {len(selected)} job(s), {mode} run on {args.device}, into {args.out}/")
    t0 = time.perf_counter()
    results = reproduce.run_jobs([j.name for j in selected], args.out, quick=args.quick,
                                 device=args.device, progress=not args.no_progress)
    reproduce.write_readme(args.out)
    print(f"{'job':14s} {'seconds':>8s}  files")
    for r in results:
        status = "FAILED" if r.error else ", ".join(p.name for p in r.files)
        print(f"{r.name:14s} {r.seconds:8.1f}  {status}")
    failed = [r.name for r in results if r.error]
    print(f"total {time.perf_counter() - t0:.1f} s" +
          (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0
