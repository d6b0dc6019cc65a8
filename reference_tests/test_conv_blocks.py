"""The holes method by blocks of output rows (functional/holes.py) and its threads.

The blocks are small here (the budgets are patched down), so that one small convolution is
cut into bands of rows, groups of images, groups of filters and groups of input channels, and
the threads share them out. Each result must equal the direct method's (the plain sum over
taps), the gradients must pass the float64 check with a random upstream gradient, and the
numbers must not change with the number of threads (docs/conventions.md, "Threads").
"""
import numpy as np
import pytest

from helpers import assert_close
from minideeplab import functional as F, parallel
from minideeplab.functional import holes
from minideeplab.gradcheck import check_gradients


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few dozen columns: every path of holes.py runs on tiny inputs."""
    monkeypatch.setattr(holes, "BLOCK_BUDGET", 64)
    monkeypatch.setattr(holes, "BLOCK_COLUMNS", 16)
    monkeypatch.setattr(holes, "BLOCK_WORK", 1)
    monkeypatch.setattr(holes, "WHOLE_WORK", 0)     # no layer is small enough to go whole


@pytest.fixture(params=["col2im", "flipped"])
def dx_path(request, monkeypatch):
    """The input gradient of a stride-1 layer two ways: col2im by groups of channels (small
    maps, the default here) and the convolution with the flipped filters (large maps)."""
    if request.param == "flipped":
        monkeypatch.setattr(holes, "SMALL_MAP", 0)
    return request.param


@pytest.fixture(params=[1, 2, 3])
def threads(request):
    previous = parallel.set_threads(request.param)
    yield request.param
    parallel.set_threads(previous)


@pytest.mark.parametrize("N,OH,OW,O,rows", [(1, 321, 321, 64, 576), (10, 41, 41, 1024, 4608),
                                            (10, 13, 13, 4, 36), (3, 7, 5, 2, 9),
                                            (2, 1, 1, 8, 8)])
def test_blocks_cover_every_output_once(N, OH, OW, O, rows):
    seen = np.zeros((N, OH), int)
    for n0, n1, i0, i1 in holes.row_blocks(N, OH, OW, O, rows):
        assert 0 <= n0 < n1 <= N and 0 <= i0 < i1 <= OH
        assert n1 - n0 == 1 or (i0, i1) == (0, OH)        # bands of one image, or whole images
        seen[n0:n1, i0:i1] += 1
    assert (seen == 1).all()


CASES = [  # N, C, O, H, W, kernel, stride, padding, rate
    (2, 3, 4, 11, 9, 3, 1, 1, 1), (1, 2, 3, 13, 12, 3, 1, 2, 2), (3, 2, 2, 9, 10, 3, 1, 0, 1),
    (2, 3, 2, 12, 11, 3, 2, 1, 1), (2, 2, 3, 15, 13, 7, 2, 3, 1), (1, 3, 5, 10, 8, 1, 1, 0, 1),
    (2, 4, 3, 9, 9, 1, 2, 0, 1), (1, 2, 2, 9, 11, 3, 1, 5, 4), (2, 2, 3, 8, 7, 2, 1, 1, 3),
    (1, 3, 2, 6, 7, 3, 1, 4, 1),                     # padding beyond the kernel's reach
    (2, 1, 4, 9, 8, 3, 1, 1, 1), (1, 2, 8, 11, 10, 3, 1, 2, 2),   # few inputs: dx by col2im
    (2, 130, 8, 6, 5, 3, 1, 1, 1)]                   # dx by col2im in groups of input channels


def _case(case, dtype="float64", seed=0):
    N, C, O, H, W, k, stride, padding, rate = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((O, C, k, k)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype)
    kw = dict(stride=stride, padding=padding, rate=rate)
    OH = F.conv_output_size(H, k, stride=stride, padding=padding, rate=rate)
    OW = F.conv_output_size(W, k, stride=stride, padding=padding, rate=rate)
    dy = rng.standard_normal((N, O, OH, OW)).astype(dtype)
    return x, w, b, dy, kw


@pytest.mark.parametrize("case", CASES)
def test_holes_by_small_blocks_equals_direct(case, small_blocks, threads, dx_path, on):
    x, w, b, dy, kw = on(*_case(case)[:4]) + (_case(case)[4],)
    y, cache = F.conv2d(x, w, b, method="holes", **kw)
    y_ref, cache_ref = F.conv2d(x, w, b, method="direct", **kw)
    assert_close(y, y_ref, 1e-10, 1e-10, "y")
    for name, a, e in zip(("dx", "dw", "db"), F.conv2d_backward(dy, cache),
                          F.conv2d_backward(dy, cache_ref)):
        assert_close(a, e, 1e-10, 1e-10, name)


@pytest.mark.parametrize("case", CASES[:5] + CASES[-3:])
def test_holes_by_small_blocks_gradient_check(case, small_blocks, threads, dx_path):
    x, w, b, _, kw = _case(case, seed=1)

    def forward(x, w, b):
        return F.conv2d(x, w, b, **kw)[0]

    def backward(dy, x, w, b):
        return dict(zip("xwb", F.conv2d_backward(dy, F.conv2d(x, w, b, **kw)[1])))

    check_gradients(forward, backward, dict(x=x, w=w, b=b), max_checks=40)


def test_filters_are_split_when_the_map_gives_few_blocks(monkeypatch):
    """One small image and 600 filters: the threads get the filters in groups of at least 256
    (holes_forward's ``groups``); the result is still the direct method's."""
    calls = []
    real = holes.im2col
    monkeypatch.setattr(holes, "im2col", lambda *a: calls.append(1) or real(*a))
    previous = parallel.set_threads(2)
    try:
        x, w, _, dy, kw = _case((1, 3, 600, 6, 5, 3, 1, 1, 1))
        y = F.conv2d(x, w, **kw)[0]
    finally:
        parallel.set_threads(previous)
    assert len(calls) == 2                     # one image, one band, two groups of filters
    assert_close(y, F.conv2d(x, w, method="direct", **kw)[0], 1e-10, 1e-10)


@pytest.mark.parametrize("case", [CASES[0], CASES[3], CASES[7], (1, 64, 600, 9, 13, 3, 1, 1, 1),
                                  (2, 70, 90, 17, 11, 3, 1, 2, 2), (1, 300, 70, 5, 6, 1, 1, 0, 1),
                                  (1, 200, 256, 9, 9, 3, 1, 1, 1)])
def test_results_do_not_change_with_the_number_of_threads(case, dx_path):
    """The work is cut by the shapes only, so every number comes out the same, bit for bit, on
    1, 2 or 3 threads (real block sizes; float32)."""
    x, w, b, dy, kw = _case(case, "float32")
    results = []
    for n in (1, 2, 3):
        previous = parallel.set_threads(n)
        try:
            y, cache = F.conv2d(x, w, b, **kw)
            results.append((y,) + F.conv2d_backward(dy, cache))
        finally:
            parallel.set_threads(previous)
    for other in results[1:]:
        for a, e in zip(other, results[0]):
            np.testing.assert_array_equal(a, e)
