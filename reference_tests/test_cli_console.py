"""What the commands print for a newcomer: timings that are medians of warmed, repeated calls,
and a training run that shows its validations as they come."""
import re

import numpy as np
import pytest

from minideeplab import functional as F
from minideeplab.cli import main


def test_demo_times_the_median_of_repeated_calls_after_a_warm_up(monkeypatch, capsys):
    """Each method: one warm-up call (not timed), then --repeats timed calls; the printed time
    is their median. A fake clock makes the timed calls last 9, 2, 5 ms (median 5) for the
    first method, 10x that for the second, 100x for the third."""
    calls = {m: 0 for m in F.CONV_METHODS}
    conv2d = F.conv2d

    def counting_conv2d(x, w, *, method, **kwargs):
        calls[method] += 1
        return conv2d(x, w, method=method, **kwargs)

    durations = iter([d * scale for scale in (1, 10, 100) for d in (0.009, 0.002, 0.005)])
    now = [0.0]

    def fake_clock():                  # median_time reads it before and after each timed call
        fake_clock.calls += 1
        if fake_clock.calls % 2 == 0:
            now[0] += next(durations)
        return now[0]
    fake_clock.calls = 0
    import minideeplab.timing as timing
    monkeypatch.setattr(F, "conv2d", counting_conv2d)
    monkeypatch.setattr(timing.time, "perf_counter", fake_clock)
    assert main(["demo", "--size", "9", "--channels", "4", "--rate", "2",
                 "--repeats", "3"]) == 0
    out = capsys.readouterr().out
    assert calls == {m: 4 for m in F.CONV_METHODS}               # 1 warm-up + 3 timed
    assert "median of 3 after one warm-up" in out
    for method, ms in zip(F.CONV_METHODS, (5.0, 50.0, 500.0)):
        line = next(line for line in out.splitlines() if line.strip().startswith(method))
        assert re.search(rf"\b{ms:.1f} ms \(CPU time [\d.]+ ms\)", line), line
    errors = re.findall(r"max \|(\w+) - direct\| = ([\d.e+-]+)", out)
    assert [m for m, _ in errors] == ["holes", "deinterlace"]
    assert all(float(e) < 1e-4 for _, e in errors)


SMALL_RUN = ["--image-size", "33", "--crop-size", "33", "--num-train", "4", "--num-val", "4",
             "--batch-size", "2", "--max-iter", "4", "--val-every", "2"]


@pytest.mark.parametrize("bar", [True, False])
def test_train_prints_each_validation_as_it_comes_and_the_baseline(tmp_path, capsys, bar):
    from minideeplab.data import SyntheticShapes
    argv = ["train", "--out", str(tmp_path / "run")] + SMALL_RUN + ([] if bar else
                                                                   ["--no-progress"])
    assert main(argv) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    vals = [i for i, line in enumerate(lines) if line.startswith("iteration ")]
    assert [lines[i].split(":")[0] for i in vals] == ["iteration 2", "iteration 4"]
    assert vals[-1] < len(lines) - 1 and lines[-1].startswith("{")     # then the summary
    assert all("val mIoU" in lines[i] and "(mean of iterations" in lines[i] for i in vals)
    assert ("train aspp-l" in captured.err) is bar                      # the bar, or none
    # the all-background baseline, by hand: the background's IOU is its share of the
    # labelled pixels; every other class present in the labels has IOU 0
    _, labels = SyntheticShapes("val", 4, size=33).load_arrays()
    labelled = labels[labels != 255]
    present = np.unique(labelled)
    expected = np.mean([(labelled == 0).mean() if c == 0 else 0.0 for c in present])
    assert f"a network that says background everywhere scores {expected:.4f}" in captured.out


# ------------------------------------------------------------------------ help and errors
def _commands():
    from minideeplab.cli import COMMANDS
    return COMMANDS


@pytest.mark.parametrize("command", _commands())
def test_help_is_plain_text(command, capsys):
    """No reStructuredText in --help: no double back-quotes, no :mod:/:func: roles, no "::"."""
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: minideeplab {command}")
    found = re.findall(r"``|:(?:mod|func|class|meth|data|attr|exc):`|::$", out, re.MULTILINE)
    assert not found, (found, out)


@pytest.mark.parametrize("argv", [["train", "--batch-size", "0"], ["evaluate", "--nope"],
                                  ["crf", "image.png"], ["nope"], []])
def test_an_argument_error_is_one_line_that_points_to_help(argv, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err
    command = argv[0] if argv and argv[0] != "nope" else None
    prog = f"minideeplab {command}" if command else "minideeplab"
    assert err.count("\n") == 1 and "usage:" not in err, err
    assert err.startswith(f"{prog}: error: ") and err.rstrip().endswith(
        f"(see: python -m {prog} --help)"), err


def test_evaluate_shows_a_bar_unless_no_progress(capsys):
    assert main(["evaluate", "largefov", "--num-val", "20"]) == 0
    assert "evaluate:" in capsys.readouterr().err
    assert main(["evaluate", "largefov", "--num-val", "20", "--no-progress"]) == 0
    assert capsys.readouterr().err == ""


def test_evaluate_trimap_reports_the_bands_of_fig_10(capsys):
    """Each width's pixel accuracy and mIoU are those of metrics.trimap_accuracy (checked
    against brute force in test_metrics) on the predictions of the network, image by image."""
    from minideeplab.data import SyntheticShapes
    from minideeplab.inference import predict
    from minideeplab.metrics import trimap_accuracy
    from minideeplab.paper import shipped
    assert main(["evaluate", "largefov", "--num-val", "6", "--trimap", "0", "2.5", "8",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    rows = re.findall(r"^\s*([\d.]+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)$", out, re.MULTILINE)
    model = shipped.load("largefov")
    images, labels = SyntheticShapes("val", 6, size=97).load_arrays()
    preds = [predict(model, im)[0] for im in images]
    expected = trimap_accuracy(preds, list(labels), [0, 2.5, 8], 6)
    assert [float(r[0]) for r in rows] == [0, 2.5, 8]
    for row, n, acc, miou in zip(rows, expected.num_pixels, expected.pixel_accuracy,
                                 expected.mean_iou):
        assert int(row[1]) == n and row[2] == f"{acc:.4f}" and row[3] == f"{miou:.4f}", row
