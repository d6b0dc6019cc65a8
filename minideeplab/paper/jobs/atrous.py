"""Jobs for Sec. 3.1, atrous convolution: Fig. 2, Fig. 3, and holes vs deinterlacing."""
from .. import speed
from ..registry import job
from ..figures import atrous, deinterlace
from ..figures.common import save_figure, save_text


@job(name="fig2", paper="Fig. 2", files=["fig2_atrous_1d.png"],
     notebook="01_atrous_convolution.ipynb")
def fig2(out_dir, quick, device, progress):
    """Atrous convolution in 1-D: sparse (low resolution, rate 1) vs dense (rate 2) extraction."""
    fig, _ = atrous.fig2_atrous_1d(device=device)
    return [save_figure(fig, out_dir / "fig2_atrous_1d.png")]


@job(name="fig3", paper="Fig. 3", files=["fig3_atrous_2d.png"],
     notebook="01_atrous_convolution.ipynb")
def fig3(out_dir, quick, device, progress):
    """Atrous convolution in 2-D on a photo: downsample-convolve-upsample vs rate 2 at full size."""
    fig, _ = atrous.fig3_atrous_2d(device=device)
    return [save_figure(fig, out_dir / "fig3_atrous_2d.png")]


@job(name="deinterlace", paper="Sec. 3.1", files=["deinterlace_steps.png"],
     notebook="02_holes_vs_deinterlacing.ipynb")
def deinterlace_job(out_dir, quick, device, progress):
    """Deinterlacing step by step (pad, r*r sub-images, ordinary conv, re-interlace) equals the
    holes result."""
    fig, _ = deinterlace.fig_deinterlace_steps(rate=2, device=device)
    return [save_figure(fig, out_dir / "deinterlace_steps.png")]


@job(name="atrous_timing", paper="Sec. 3.1", notebook="02_holes_vs_deinterlacing.ipynb",
     timing=True,
     files={"deinterlace_timing.png": "conv2d forward+backward time vs rate, holes vs "
                                      "deinterlacing, on the machine named in the figure.",
            "deinterlace_timing.txt": "The same timings as a table, with the machine and "
                                      "the date."})
def deinterlace_timing(out_dir, quick, device, progress):
    """Holes vs deinterlacing timed over rates on this machine (its files change with it)."""
    cfg = speed.TIMING_QUICK if quick else speed.TIMING_FULL
    rows = speed.time_atrous_methods(device=device, progress=progress, **cfg)
    title = speed.timing_title(cfg["channels"], device)
    machine = speed.timing_machine(device)
    paths = [save_figure(deinterlace.fig_deinterlace_timing(rows, title, machine=machine),
                         out_dir / "deinterlace_timing.png", description=machine)]
    path = out_dir / "deinterlace_timing.txt"
    save_text(path, f"Holes vs deinterlacing, median of {cfg['repeats']}: {title}\n"
                    f"{machine}\n{speed.format_timing(rows)}\n")
    return paths + [path]
