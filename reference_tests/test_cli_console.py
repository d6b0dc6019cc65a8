"""What the commands print for a newcomer: timings that are medians of warmed, repeated calls,
and a training run that shows its validations as they come."""
import re

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
