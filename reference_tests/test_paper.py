"""The book's own helpers: text tables, and the CRF search cached beside a run's checkpoint.

The CRF search is run once for real (a quick ASPP-L, 2 val images) and compared with what the
cache file gives back; a doctored cache file must be what a second call returns (so the cache
is really read), and a different number of images must not hit it.
"""
import json
import os

import pytest

from minideeplab.paper import crf_experiments, variants
from minideeplab.paper.tables import table_text


def test_table_text_aligns_columns_and_writes_floats_with_four_decimals():
    rows = [["largefov", 3, 0.123456], ["aspp-l", 12345, 1.0]]
    lines = table_text(rows, ["model", "n", "mIoU"]).splitlines()
    assert len(lines) == 4 and len({len(line) for line in lines}) == 1   # one width
    assert set(lines[1].replace(" ", "")) == {"-"}
    cells = [line.split() for line in lines[2:]]
    assert [c[0] for c in cells] == ["largefov", "aspp-l"]
    assert [int(c[1]) for c in cells] == [3, 12345]
    assert [c[2] for c in cells] == [f"{0.123456:.4f}", f"{1.0:.4f}"]
    for line in lines:                                   # right-aligned: columns end together
        assert line.endswith(line.rstrip())


@pytest.fixture(scope="module")
def quick_run():
    return variants.trained("aspp-l", quick=True, progress=False)


def test_crf_search_is_cached_beside_the_checkpoint(quick_run, monkeypatch):
    small = dict(w1_values=(3.0, 5.0), theta_alpha_values=(5.0, 20.0),
                 theta_beta_values=(5.0, 10.0))
    monkeypatch.setattr(crf_experiments, "CRF_GRID", small)
    path = crf_experiments._search_paths(quick_run, 2)[1]
    if os.path.exists(path):
        os.remove(path)
    fresh = crf_experiments.crf_search(quick_run, 2, cache=False)
    assert not os.path.exists(path)
    first = crf_experiments.crf_search(quick_run, 2)
    assert os.path.dirname(path) == os.path.dirname(quick_run.path)
    assert first == fresh                                       # JSON keeps every value
    with open(path) as f:
        stored = json.load(f)
    stored["best_mean_iou"] = -1.0                              # doctor the cache file
    with open(path, "w") as f:
        json.dump(stored, f)
    assert crf_experiments.crf_search(quick_run, 2).best_mean_iou == -1.0
    assert crf_experiments._search_paths(quick_run, 3)[1] != path   # other n: another file
    monkeypatch.setattr(crf_experiments, "CRF_GRID", dict(small, w1_values=(4.0,)))
    assert crf_experiments._search_paths(quick_run, 2)[1] != path   # other grid: another file
