"""The figures' numeric claims, checked against outside oracles.

Each figure function returns the numbers it draws, and the measurements behind the figures
(:mod:`minideeplab.paper.speed`, the resize gradient check) return theirs; these tests check
them against references that do not use the library: the paper's eq. (1) as a plain loop,
``scipy.signal.correlate2d`` with the filter "with holes", ``numpy.interp``, the
align_corners formulas of docs/conventions.md and receptive fields. They also check that the
figure modules never touch pyplot.
"""
import subprocess
import sys

import numpy as np
import pytest
import scipy.signal

from minideeplab import backend
from minideeplab.gradcheck import gradient_arrays
from minideeplab.paper import speed
from minideeplab.paper.figures import atrous, deinterlace, fov, resize
from minideeplab.paper.jobs.resize import resize_gradient_checks
from minideeplab.paper.figures.common import save_figure


def eq1(x, w, r):
    """DeepLab v2 eq. (1), centred, zero outside the signal: y[i] = sum_k x[i + r(k-c)] w[k]."""
    c = (len(w) - 1) // 2
    return np.array([sum(w[k] * x[i + r * (k - c)] for k in range(len(w))
                         if 0 <= i + r * (k - c) < len(x)) for i in range(len(x))])


@pytest.mark.parametrize("rate, length", [(2, 13), (2, 14), (3, 19), (4, 9)])
def test_fig2_dense_equals_sparse_on_sparse_positions(device, rate, length):
    fig, n = atrous.fig2_atrous_1d(length=length, w=(1.0, -2.0, 3.0), rate=rate, seed=rate,
                                   device=device)
    np.testing.assert_array_equal(n.x_low, n.x[::rate])
    np.testing.assert_allclose(n.y_dense, eq1(n.x, n.w, rate), atol=1e-12)
    np.testing.assert_allclose(n.y_sparse, eq1(n.x[::rate], n.w, 1), atol=1e-12)
    np.testing.assert_array_equal(n.y_dense[::rate], n.y_sparse)
    assert n.max_abs_diff == 0.0
    assert fig.axes  # a figure was drawn


def test_fig3_sparse_is_dense_subsampled_and_dense_is_correlation_with_holes(device):
    rng = np.random.default_rng(0)
    image = rng.random((22, 18))
    kernel = atrous.gaussian_derivative(5, 1.0)
    fig, a = atrous.fig3_atrous_2d(image=image, kernel=kernel, rate=2, zoom=(4, 4, 8),
                                   device=device)
    holes = atrous.upsample_filter(kernel, 2)
    assert holes.shape == (9, 9) and np.count_nonzero(holes[1::2, :]) == 0
    np.testing.assert_allclose(a.dense, scipy.signal.correlate2d(image, holes, mode="same"),
                               atol=1e-12)
    np.testing.assert_allclose(a.sparse, scipy.signal.correlate2d(image[::2, ::2], kernel,
                                                                  mode="same"), atol=1e-12)
    np.testing.assert_allclose(a.dense[::2, ::2], a.sparse, atol=1e-12)
    assert a.max_abs_diff < 1e-12
    assert np.isfinite(a.implanted).sum() == a.sparse.size          # 1/4 of the positions
    np.testing.assert_array_equal(a.implanted[::2, ::2], a.sparse)


def test_gaussian_derivative_is_a_vertical_edge_detector():
    g = atrous.gaussian_derivative(7, 1.5)
    np.testing.assert_allclose(g, -g[::-1, :])                        # odd in y
    np.testing.assert_allclose(g, g[:, ::-1])                         # even in x
    assert np.isclose(np.abs(g).sum(), 1.0) and abs(g.sum()) < 1e-12


@pytest.mark.parametrize("rate, size", [(1, 7), (2, 11), (3, 11), (4, 10), (5, 13)])
def test_deinterlace_steps_match_slicing_and_correlation(device, rate, size):
    rng = np.random.default_rng(rate)
    x = rng.random((size, size + 1))
    k = rng.standard_normal((3, 3))
    s = deinterlace.deinterlace_steps(x, k, rate, device)
    assert s.padded.shape[0] % rate == 0 and s.padded.shape[1] % rate == 0
    assert all(0 <= e < rate for e in s.extra)
    for a in range(rate):
        for b in range(rate):
            np.testing.assert_array_equal(s.sub[a * rate + b], s.padded[a::rate, b::rate])
    oracle = scipy.signal.correlate2d(x, atrous.upsample_filter(k, rate), mode="same")
    np.testing.assert_allclose(s.holes, oracle, atol=1e-12)
    np.testing.assert_allclose(s.out, oracle, atol=1e-12)
    assert s.max_abs_diff < 1e-12


def test_deinterlace_figure_returns_the_default_steps():
    fig, s = deinterlace.fig_deinterlace_steps(rate=2)
    assert s.x.shape == (11, 11) and s.padded.shape == (16, 16) and s.sub.shape == (4, 8, 8)
    assert len(fig.axes) == 1 + 4 + 4 + 2


def test_format_timing_reports_the_ratio():
    rows = [speed.TimingRow(2, "holes", 0.010, 23),
            speed.TimingRow(2, "deinterlace", 0.025, 23)]
    line = speed.format_timing(rows).splitlines()[1].split()
    assert line == ["2", "23", "10.0", "25.0", "2.50"]


def test_time_atrous_methods_times_each_rate_and_method(device):
    rows = speed.time_atrous_methods((1, 3), size=9, channels=2, repeats=1,
                                           device=device)
    assert [(t.rate, t.method) for t in rows] == [(1, "holes"), (1, "deinterlace"),
                                                   (3, "holes"), (3, "deinterlace")]
    assert [t.sub_size for t in rows] == [11, 11, 5, 5]              # ceil((9 + 2r) / r)
    assert all(t.seconds > 0 for t in rows)


def test_fc6_tap_offsets():
    np.testing.assert_array_equal(fov.fc6_tap_offsets(3, 12), [-96, 0, 96])
    np.testing.assert_array_equal(fov.fc6_tap_offsets(4, 4), [-48, -16, 16, 48])


def test_table1_figure_titles_show_the_papers_numbers():
    fig = fov.fig_table1_fov(measured=[419, 323, 419, 419])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    for params, fov_, rf in (("134.3M", 224, 419), ("65.1M", 128, 323), ("65.1M", 224, 419),
                             ("20.5M", 224, 419)):
        assert any(params in t and f"FOV {fov_}," in t and f"RF {rf} (measured {rf})" in t
                   for t in titles), (params, titles)


@pytest.mark.parametrize("n_in, n_out", [(4, 9), (5, 33), (3, 2)])
def test_align_corners_source_coordinates_and_values(device, n_in, n_out):
    values = np.random.default_rng(n_in).standard_normal(n_in)
    i = np.arange(n_out)
    src = {True: i * (n_in - 1) / (n_out - 1),                         # conventions.md: Caffe
           False: np.clip((i + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)}  # PyTorch's default
    for ac in (True, False):
        r = resize.resize_1d(values, n_out, ac, device)
        np.testing.assert_allclose(r.src, src[ac], atol=1e-12)
        np.testing.assert_allclose(r.out, np.interp(src[ac], np.arange(n_in), values),
                                   atol=1e-12)
        np.testing.assert_allclose(r.matrix.sum(axis=1), 1.0)


def test_align_corners_figure_draws_both_conventions():
    fig, res = resize.fig_align_corners()
    assert set(res) == {True, False}
    np.testing.assert_allclose(res[True].src, np.arange(9) * 3 / 8)


def test_upsampled_scores_hit_the_input_on_the_zoom_grid():
    fig, d = resize.fig_upsample_scores(size=5, zoom=8)
    assert d["up_true"].shape == (33, 33)                             # 5 + 4 * 7
    np.testing.assert_array_equal(d["up_true"][::8, ::8], d["x"])
    assert np.abs(d["up_false"][::8, ::8] - d["x"]).max() > 0.05      # shifted: not on grid


def test_resize_gradient_checks_agree(device):
    checks = resize_gradient_checks(device=device)
    assert list(checks) == ["align_corners=True", "align_corners=False"]
    for c in checks.values():
        assert c.x.shape == c.analytic.shape == c.numeric.shape == (1, 1, 4, 5)
        np.testing.assert_allclose(c.analytic, c.numeric, rtol=1e-6, atol=1e-8)
        assert c.max_rel_error < 1e-6
    fig = resize.fig_gradient_check(checks)
    assert len(fig.axes) == 16                                        # 2 x (4 panels + bars)


def test_gradient_arrays_expose_a_wrong_backward():
    """The check of the figure is a checker: a backward that flips dy must show a large error,
    while the right one (x -> 3 x^2 dy, elementwise) is exact to central differences."""
    x = np.random.default_rng(0).standard_normal((3, 4))

    def forward(x):
        return x ** 3

    right = gradient_arrays(forward, lambda dy, x: {"x": 3 * x ** 2 * dy}, {"x": x}, "x")
    wrong = gradient_arrays(forward, lambda dy, x: {"x": 3 * x ** 2 * dy[::-1]}, {"x": x}, "x")
    np.testing.assert_allclose(right.analytic, 3 * x ** 2 * right.dy, rtol=1e-12)
    assert right.max_rel_error < 1e-5 and wrong.max_rel_error > 0.1
    with pytest.raises(TypeError, match="gradient_arrays: input 'x' must be float64"):
        gradient_arrays(forward, None, {"x": x.astype(np.float32)}, "x")


def test_time_on_devices_skips_an_absent_gpu():
    rows = speed.time_on_devices(("cpu", "gpu"), quick=True, repeats=1)
    expected = {"cpu", "gpu"} if backend.gpu_available() else {"cpu"}
    assert {r.device for r in rows} == expected
    assert {r.workload for r in rows} == set(speed.workloads(quick=True))


def test_format_device_timing_speedup_column():
    rows = [speed.DeviceTiming("conv", "cpu", 0.5), speed.DeviceTiming("conv", "gpu",
                                                                                 0.01)]
    assert speed.format_device_timing(rows).splitlines()[1].split() == \
        ["conv", "500.0", "10.0", "50.0"]


def test_save_figure_writes_a_png(tmp_path):
    fig, _ = atrous.fig2_atrous_1d()
    path = save_figure(fig, tmp_path / "sub" / "fig.png")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_figures_are_made_without_pyplot():
    code = ("import sys; import minideeplab.paper.figures as v, minideeplab.paper.reproduce; "
            "v.fig2_atrous_1d(); v.fig_table1_fov(); "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
