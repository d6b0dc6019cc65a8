"""``python -m minideeplab reproduce``: the quick run (with ``--retrain --timings``, so that the
optional and the timing jobs run too) produces every file figures/README.md lists,
prints Table 1 as in the paper, and figures/README.md matches the job registry.

The registry's own behaviour (declared files enforced, failures isolated, unknown names
refused) is tested on throw-away jobs registered into an empty registry.
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from minideeplab import paper
from minideeplab.paper import registry as job_registry, reproduce
from minideeplab.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "figures"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Table 1 of the paper (kernel, rate, FOV, params) -- as printed in the paper
PAPER_TABLE1 = [("7x7", 4, 224, "134.3M"), ("4x4", 4, 128, "65.1M"), ("4x4", 8, 224, "65.1M"),
                ("3x3", 12, 224, "20.5M")]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """``python -m minideeplab reproduce --quick --retrain --timings``, run through
    text_collision_run.py, which
    measures the texts of every figure it saves (report: quick_run_collisions)."""
    out = tmp_path_factory.mktemp("figures")
    report = tmp_path_factory.mktemp("layout") / "collisions.tsv"
    # --retrain: the optional jobs run too (in quick mode nothing is shipped: all is trained);
    # --timings: the jobs that time the machine
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("text_collision_run.py")),
                           str(report), "reproduce", "--quick", "--retrain", "--timings",
                           "--out", str(out), "--no-progress"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    return out, proc, report


@pytest.fixture(scope="module")
def quick_run_collisions(quick_run):
    """(names of the figures checked, lines of overlapping texts) of the quick run."""
    _, _, report = quick_run
    lines = report.read_text().splitlines() if report.exists() else []
    checked = [line.split("\t")[1] for line in lines if line.startswith("checked\t")]
    return checked, [line for line in lines if not line.startswith("checked\t")]


def test_quick_run_succeeds(quick_run):
    proc = quick_run[1]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_quick_run_writes_every_file_the_readme_lists(quick_run):
    out = quick_run[0]
    listed = reproduce.readme_files((FIGURES / "README.md").read_text())
    assert listed, "figures/README.md lists no file"
    missing = [f for f in listed if not (out / f).is_file() or (out / f).stat().st_size == 0]
    assert not missing, f"reproduce --quick did not write {missing}"
    for f in listed:
        if f.endswith(".png"):
            assert (out / f).read_bytes()[:8] == PNG_MAGIC, f


def test_quick_run_prints_table1_as_in_the_paper(quick_run):
    proc = quick_run[1]
    for kernel, rate, fov, params in PAPER_TABLE1:
        # kernel rate channels k_e params (M) RF FOV
        pattern = (rf"^\s*{kernel}\s+{rate}\s+\d+\s+\d+\s+[\d,]+\s+{re.escape(params)}"
                   rf"\s+\d+\s+{fov}\s*$")
        assert re.search(pattern, proc.stdout, re.MULTILINE), (kernel, rate, proc.stdout)


def test_quick_run_writes_the_same_readme(quick_run):
    out = quick_run[0]
    assert (out / "README.md").read_text() == (FIGURES / "README.md").read_text()


def test_quick_run_checks_every_png_for_overlapping_texts(quick_run, quick_run_collisions):
    out = quick_run[0]
    checked, collisions = quick_run_collisions
    assert sorted(checked) == sorted(p.name for p in out.glob("*.png"))
    assert not collisions, "texts overlap at 120 dpi:\n" + "\n".join(collisions)


def test_committed_readme_matches_the_registry():
    assert (FIGURES / "README.md").read_text() == reproduce.figures_readme(), (
        "figures/README.md is stale: run `python -m minideeplab reproduce --readme`")


def test_committed_figures_exist():
    listed = reproduce.readme_files((FIGURES / "README.md").read_text())
    missing = [f for f in listed if not (FIGURES / f).is_file()]
    assert not missing, f"run `python -m minideeplab reproduce` and commit {missing}"


@pytest.mark.parametrize("flags, timing_runs", [([], False), (["--retrain"], False),
                                                (["--timings"], True),
                                                (["--quick", "--retrain", "--timings"], True)])
def test_only_timings_asked_for_run_the_jobs_that_time_the_machine(monkeypatch, tmp_path, flags,
                                                                   timing_runs):
    """The default run (and --retrain) leaves the committed figures/ as they are: the jobs whose
    files are this machine's timings run only with --timings (or --only NAME)."""
    ran = []
    monkeypatch.setattr(reproduce, "run_jobs", lambda names, *a, **k: ran.extend(names) or [])
    monkeypatch.setattr(reproduce, "write_readme", lambda out: None)
    assert cli_main(["reproduce", "--out", str(tmp_path), "--no-progress"] + flags) == 0
    timing = {j.name for j in reproduce.all_jobs() if j.timing}
    assert timing, "no job is marked timing=True"
    assert timing <= set(ran) if timing_runs else not timing & set(ran), ran
    assert {j.name for j in reproduce.all_jobs() if not j.timing and not j.optional} <= set(ran)


def test_committed_timings_name_the_machine_and_the_date():
    """Each committed file of a timing job says where and when it was measured: a table in its
    text, a figure in its PNG's Description field (and its caption)."""
    from PIL import Image
    measured = re.compile(r"Measured on .*, \d+ cores, .*, \d{4}-\d\d-\d\d")
    files = [FIGURES / f for j in reproduce.all_jobs() if j.timing for f in j.files]
    assert files
    for path in files:
        if path.suffix == ".png":
            with Image.open(path) as im:
                text = im.text.get("Description", "")
        else:
            text = path.read_text()
        assert measured.search(text), (path.name, text[:300])


def test_every_job_names_an_existing_notebook():
    for j in reproduce.all_jobs():
        assert j.notebook is None or (ROOT / "tutorials" / j.notebook).is_file(), j


# ----------------------------------------------------------------------- the registry itself
@pytest.fixture
def registry(monkeypatch):
    """An empty registry for throw-away jobs (the real jobs are restored afterwards)."""
    monkeypatch.setattr(job_registry, "_REGISTRY", {})
    return job_registry


def test_registered_job_runs_and_its_table_is_printed(registry, tmp_path):
    @registry.job(name="t1", paper="Table 9", files={"t.txt": "a table", "f.png": "a figure"})
    def t1(out_dir, quick, device, progress):
        """A test job."""
        (out_dir / "t.txt").write_text(f"quick={quick} device={device}\n")
        (out_dir / "f.png").write_bytes(PNG_MAGIC)
        return [out_dir / "t.txt", out_dir / "f.png"]

    import io
    stream = io.StringIO()
    results = reproduce.run_jobs(None, tmp_path, quick=True, progress=False, stream=stream)
    assert [(r.name, r.error) for r in results] == [("t1", None)]
    assert "quick=True device=cpu" in stream.getvalue()
    text = reproduce.figures_readme()
    assert "| [t.txt](t.txt) | Table 9 | a table |" in text
    assert reproduce.readme_files(text) == ["t.txt", "f.png"]


def _register_a_good_job(registry):
    """A job "fine" that writes exactly its declared file b.png."""
    @registry.job(name="fine", paper="Fig. 2", files=["b.png"])
    def fine(out_dir, quick, device, progress):
        (out_dir / "b.png").write_bytes(PNG_MAGIC)
        return [out_dir / "b.png"]


def test_a_job_must_write_exactly_its_declared_files(registry, tmp_path):
    @registry.job(name="liar", paper="Fig. 1", files=["a.png"])
    def liar(out_dir, quick, device, progress):
        return []

    _register_a_good_job(registry)
    results = reproduce.run_jobs(None, tmp_path, progress=False)
    assert "declared files ['a.png'] but returned []" in results[0].error
    assert results[1].error is None and results[1].files == [tmp_path / "b.png"]


def test_a_failing_job_does_not_stop_the_others(registry, tmp_path):
    @registry.job(name="boom", paper="Fig. 1", files=["a.png"])
    def boom(out_dir, quick, device, progress):
        raise ZeroDivisionError("boom")

    _register_a_good_job(registry)
    results = reproduce.run_jobs(None, tmp_path, progress=False)
    assert "ZeroDivisionError: boom" in results[0].error
    assert results[1].error is None


def test_duplicate_names_and_files_are_refused(registry):
    registry.job(name="x", paper="Fig. 1", files=["x.png"])(lambda *a: None)
    with pytest.raises(ValueError, match="already registered"):
        registry.job(name="x", paper="Fig. 1", files=["y.png"])(lambda *a: None)
    with pytest.raises(ValueError, match=r"x.png.*already written by job 'x'"):
        registry.job(name="z", paper="Fig. 1", files=["x.png"])(lambda *a: None)
    with pytest.raises(ValueError, match="without spaces"):
        registry.job(name="a b", paper="Fig. 1", files=["q.png"])
    with pytest.raises(ValueError, match="at least one file"):
        registry.job(name="empty", paper="Fig. 1", files=[])


def test_unknown_job_names_are_refused(capsys):
    with pytest.raises(ValueError, match=r"unknown job\(s\) \['nope'\]"):
        reproduce.get_jobs(["nope"])
    assert cli_main(["reproduce", "--only", "nope", "--out", "unused"]) == 2
    assert "unknown job(s) ['nope']" in capsys.readouterr().err


def test_quick_mode_reads_the_environment(monkeypatch):
    for value, expected in (("1", True), ("true", True), ("0", False), ("", False)):
        monkeypatch.setenv(paper.QUICK_ENV, value)
        assert paper.quick_mode() is expected


# ----------------------------------------------------------------------- the book's other commands
def test_the_tutorials_and_ship_commands_live_in_the_command_line(capsys, tmp_path,
                                                                    monkeypatch):
    assert cli_main(["tutorials", "99_nope"]) == 2
    assert "no notebook matches ['99_nope']" in capsys.readouterr().err
    from minideeplab.paper import ship
    written = tmp_path / "network.safetensors"
    written.write_bytes(b"x" * 2048)
    monkeypatch.setattr(ship, "ship_networks", lambda retrain=False: iter([str(written)]))
    assert cli_main(["ship"]) == 0
    assert f"wrote {written} (2 KB)" in capsys.readouterr().out
