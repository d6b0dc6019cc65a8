"""Jobs for Table 1: field of view and parameters of the fc6 variants (Sec. 4.1)."""
from ...models import format_table1, table1
from ...models.fov import impulse_receptive_field
from ..registry import job
from ..figures import fov
from ..figures.common import save_figure, save_text


@job(name="table1", paper="Table 1",
     files={"table1.txt": "Table 1 computed from the models: kernel, rate, k_e, parameters, "
                          "RF and the table's FOV.",
            "table1_fov.png": "fc6 taps, FOV and receptive field of each variant in input "
                              "pixels; RF also measured with impulses."},
     notebook="03_field_of_view_table1.ipynb")
def table1_job(out_dir, quick, device, progress):
    """fc6 variants: effective kernel, parameters, RF and FOV, computed from the models."""
    rows = table1()
    path = out_dir / "table1.txt"
    save_text(path, format_table1(rows) + "\n")
    measured = [impulse_receptive_field(r.kernel, r.rate, r.channels, device=device)
                for r in progress(rows, desc="receptive fields")]
    return [path, save_figure(fov.fig_table1_fov(rows, measured), out_dir / "table1_fov.png")]
