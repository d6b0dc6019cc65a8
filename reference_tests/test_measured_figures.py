"""The times a newcomer reads agree everywhere: README.md, tutorials/README.md, the notebooks and
every command's --help state the figures of ``minideeplab/cli/measured.py`` (one measurement,
``benchmarks/bench_first_contact.py``), and no other duration hides in those texts.

A copy is found by its phrase (whitespace and line breaks aside); a duration (a number followed
by s, seconds, minutes, hours) outside every phrase is a figure nobody measured, or a stale
copy of one. The README's Performance section and the benchmarks' results are left out: their
figures come from the benchmarks, with their own dates."""
import json
import re
from pathlib import Path

import pytest

from minideeplab.cli import build_parser, measured

ROOT = Path(__file__).resolve().parents[1]
DURATION = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?\s*"
                      r"(?:ms|s|sec|seconds?|min|minutes?|hours?)\b")


def flat(text):
    return " ".join(text.replace("`", "").split())


def phrases():
    """Every phrase measured.py makes, longest first (a shorter one may sit inside)."""
    found = [measured.took(k) for k in measured.TIMES] + list(measured.first_run_phrases())
    found += [measured.retrain_text(), measured.notebooks_text()]
    return sorted(set(found), key=len, reverse=True)


def stray_durations(text, allowed=None):
    """The durations in ``text`` that are not part of a measured phrase."""
    text = flat(text)
    for phrase in allowed or phrases():
        text = text.replace(flat(phrase), " ")
    return DURATION.findall(text)


def section(markdown, first, end):
    """The lines of ``markdown`` from the heading ``first`` to the heading ``end``."""
    start = markdown.index(f"\n## {first}\n")
    return markdown[start:markdown.index(f"\n## {end}\n", start)]


def readme():
    return (ROOT / "README.md").read_text()


def newcomer_sections():
    """The README from its first section to "What is inside" (first steps, the tutorials,
    exercises, GPU, real photos, reproducing the paper and the tests), headings left out (the
    first 5 minutes is a plan, not a measurement)."""
    text = readme()
    text = text[text.index("\n## "):text.index("\n## What is inside\n")]
    return re.sub(r"^#+ .*$", "", text, flags=re.MULTILINE)


def sentences_about_the_machine(text):
    """The sentences of ``text`` that time something on this machine ("... CPU cores ..."),
    or show a command of reproduce; a course plan's minutes are left out."""
    found = re.split(r"(?<=[.;])\s+(?=[A-Z(`])", " ".join(text.split()))
    return "\n".join(s for s in found if "CPU core" in s or "reproduce" in s)


def help_texts():
    parser = build_parser()
    return {name: p.format_help() for name, p in parser.commands.items()}


def markdown_cells(path):
    return "\n\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                       if c["cell_type"] == "markdown")


def test_the_machine_sentences_are_found():
    text = ("Eight sessions of about 90 minutes. It trains 8 networks, 6 minutes each on 2 CPU "
            "cores. Then run `python -m minideeplab reproduce --only x` (about 25 min).")
    assert stray_durations(sentences_about_the_machine(text)) == ["6 minutes", "25 min"]


def test_the_checker_finds_a_stray_or_stale_duration(monkeypatch):
    """Wrong answers: an unmeasured figure, a stale copy, a copy of a phrase that differs."""
    monkeypatch.setitem(measured.TIMES, "quick", (35, 32))
    assert stray_durations("--quick takes 35 s, CPU 32 s.") == []
    assert stray_durations("--quick takes 35 s,\n   CPU 32 s.") == []    # wrapped
    assert stray_durations("the main job takes 16 seconds") == ["16 seconds"]
    assert stray_durations("about 6 minutes each") == ["6 minutes"]
    assert stray_durations("5-10 minutes each") == ["5-10 minutes"]
    assert stray_durations("--quick takes 36 s, CPU 32 s") == ["36 s", "32 s"]
    assert stray_durations("--quick takes 35 s") == ["35 s"]


def test_the_phrases_format_the_measured_values(monkeypatch):
    """took() states the wall and CPU times it was given, in seconds or minutes."""
    monkeypatch.setitem(measured.TIMES, "a", (35, 32))
    monkeypatch.setitem(measured.TIMES, "b", (600, 381))
    assert measured.took("a") == "35 s, CPU 32 s"
    assert measured.took("b") == "10.0 minutes, CPU 6.3 minutes"
    monkeypatch.setitem(measured.TIMES, "c", (103, 2.5))
    assert measured.took("c") == "1.7 minutes, CPU 2.5 s"


def test_readme_states_the_measured_times_and_no_others():
    text = flat(newcomer_sections())
    expected = [measured.took(k) for k in measured.TIMES] + [
        measured.retrain_text(), measured.notebooks_text(), measured.DATE,
        *measured.first_run_phrases()[1:]]
    missing = [p for p in expected if flat(p) not in text]
    assert not missing, f"README.md lacks these measured figures (minideeplab/cli/measured.py): {missing}"
    assert stray_durations(newcomer_sections()) == [], (
        "README.md states durations that are not in minideeplab/cli/measured.py")


@pytest.mark.parametrize("command", ["demo", "networks", "train", "evaluate", "predict", "crf",
                                     "reproduce", "exercises", "tutorials", "ship"])
def test_help_states_only_measured_times(command):
    assert stray_durations(help_texts()[command]) == [], help_texts()[command]


def test_help_texts_state_the_measured_times():
    texts = {k: flat(v) for k, v in help_texts().items()}
    assert flat(measured.took("quick")) in texts["reproduce"]
    assert flat(measured.took("reproduce")) in texts["reproduce"]
    assert flat(measured.retrain_text()) in texts["reproduce"]
    for phrase in measured.first_run_phrases():
        assert flat(phrase) in texts["train"]


def test_tutorials_readme_and_notebooks_state_the_measured_times():
    tutorials = (ROOT / "tutorials" / "README.md").read_text()
    runs = sentences_about_the_machine(tutorials)
    assert flat(measured.notebooks_text()) in flat(runs)
    assert flat(measured.retrain_text()) in flat(runs)
    assert stray_durations(runs) == [], runs
    for path in sorted((ROOT / "tutorials").glob("**/*.ipynb")):
        runs = sentences_about_the_machine(markdown_cells(path))
        assert stray_durations(runs) == [], f"{path.name}: {runs}"


def test_the_figures_agree_with_what_they_copy():
    """RETRAIN_MINUTES is the range of the training times the shipped networks recorded; the
    first run's settings are train's defaults, its parameters those of the same tiny model."""
    from minideeplab.checkpoint import load_checkpoint
    from minideeplab.config import TrainConfig
    from minideeplab.paper import shipped
    loaded = {n: load_checkpoint(shipped.network_path(n)) for n in shipped.names()}
    minutes = [c.config["elapsed"] / 60 for c in loaded.values()]
    assert measured.RETRAIN_MINUTES == (round(min(minutes), 1), round(max(minutes), 1))
    defaults = TrainConfig()
    r = measured.FIRST_RUN
    assert (r["model"], r["iterations"], r["val_every"]) == (
        defaults.model, defaults.max_iter, defaults.val_every)
    same_model = loaded[r["model"]]          # the shipped network of the same tiny model
    assert r["parameters"] == sum(int(a.size) for a in same_model.model_state.values())
    assert [v[0] for v in r["validations"]] == sorted(v[0] for v in r["validations"])
    assert all(v[0] % r["val_every"] == 0 for v in r["validations"])
