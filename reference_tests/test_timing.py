"""The ``progress=`` convention (progress.progress_bar): True/False/None give tqdm bars (drawn or
silent) that yield every item, a callable is used as the bar, anything else is refused by name
before any work; and median_time returns the median of the timed calls."""
import io

import pytest

from minideeplab import progress, timing
from minideeplab.crf import cross_validate


@pytest.mark.parametrize("setting", [True, False, None])
def test_bars_yield_every_item_and_accept_a_postfix(setting):
    bar = progress.progress_bar(setting, range(5), desc="x", file=io.StringIO())
    items = []
    for i in bar:
        bar.set_postfix(loss=0.5)
        items.append(i)
    assert items == [0, 1, 2, 3, 4]


def test_a_silent_bar_writes_nothing_and_a_drawn_one_does():
    quiet, loud = io.StringIO(), io.StringIO()
    list(progress.progress_bar(False, range(3), desc="quiet", file=quiet))
    list(progress.progress_bar(True, range(3), desc="loud", file=loud))
    assert quiet.getvalue() == "" and "loud" in loud.getvalue() and "3/3" in loud.getvalue()


def test_a_callable_is_the_bar():
    calls = []

    def mine(iterable, desc=None, total=None, **kwargs):
        calls.append((desc, total, kwargs))
        return reversed(list(iterable))

    assert list(progress.progress_bar(mine, range(3), desc="d", leave=False)) == [2, 1, 0]
    assert calls == [("d", None, {"leave": False})]


@pytest.mark.parametrize("bad", ["yes", 1, 0.5])
def test_other_values_are_refused_by_name(bad):
    with pytest.raises(TypeError, match="progress_bar: progress must be True, False, None or a"):
        progress.progress_bar(bad, range(2))
    with pytest.raises(TypeError, match="Trainer: progress must be"):
        progress.check_progress("Trainer", bad)
    with pytest.raises(TypeError, match="cross_validate: progress must be"):
        cross_validate([], progress=bad)                 # refused before the samples are read


def test_median_time_is_the_median_of_the_calls(monkeypatch):
    ticks = iter([0.0, 1.0, 1.0, 4.0, 4.0, 6.0])          # three calls: 1 s, 3 s, 2 s
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(ticks))
    assert timing.median_time(lambda: None, repeats=3, warmup=0) == 2.0
