"""Bilinear resizing (both conventions) and nearest label resizing."""
import numpy as np
import pytest

from golden_layers import golden, golden_cases
from helpers import assert_close
from minideeplab import backend, functional as F
from minideeplab.gradcheck import check_gradients


@pytest.mark.parametrize("case", golden_cases("resize"))
def test_resize_against_pytorch_golden(case, on):
    g = golden("resize", case)
    H_out, W_out, ac = (int(v) for v in g["meta"])
    x, dy = on(g["x"], g["dy"])
    y, cache = F.resize_bilinear(x, (H_out, W_out), align_corners=bool(ac))
    assert_close(y, g["y"], 1e-12, 1e-12, f"{case}: y vs PyTorch")
    assert_close(F.resize_bilinear_backward(dy, cache), g["dx"], 1e-12, 1e-12,
                 f"{case}: dx vs PyTorch")


def _brute_bilinear(x, H_out, W_out, align_corners):
    """Per-pixel formula, written out: the 4 neighbours and their weights."""
    N, C, H, W = x.shape

    def src(i, n_in, n_out):
        if align_corners:
            return i * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        return max((i + 0.5) * n_in / n_out - 0.5, 0.0)

    y = np.zeros((N, C, H_out, W_out))
    for i in range(H_out):
        sh = src(i, H, H_out)
        h0 = min(int(np.floor(sh)), H - 1)
        h1, lh = min(h0 + 1, H - 1), sh - h0
        for j in range(W_out):
            sw = src(j, W, W_out)
            w0 = min(int(np.floor(sw)), W - 1)
            w1, lw = min(w0 + 1, W - 1), sw - w0
            y[:, :, i, j] = ((1 - lh) * (1 - lw) * x[:, :, h0, w0] + (1 - lh) * lw * x[:, :, h0, w1]
                             + lh * (1 - lw) * x[:, :, h1, w0] + lh * lw * x[:, :, h1, w1])
    return y


@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("shape,size", [((1, 2, 5, 6), (9, 11)), ((2, 1, 9, 7), (4, 3)),
                                        ((1, 1, 4, 4), (1, 7)), ((1, 2, 3, 8), (10, 8))])
def test_resize_brute_force_and_gradient(shape, size, align_corners, on):
    x = np.random.default_rng(sum(size)).standard_normal(shape)
    y, _ = F.resize_bilinear(on(x), size, align_corners=align_corners)
    assert_close(y, _brute_bilinear(x, *size, align_corners), 1e-12, 1e-12)

    def forward(x):
        return F.resize_bilinear(x, size, align_corners=align_corners)[0]

    def backward(dy, x):
        return {"x": F.resize_bilinear_backward(dy, F.resize_bilinear(
            x, size, align_corners=align_corners)[1])}

    check_gradients(forward, backward, {"x": on(x)}, max_checks=60)


def test_align_corners_zoom_keeps_the_input_grid(on):
    """Caffe's zoom_factor 8: 41 -> 321 and out[8i, 8j] = in[i, j] (corners aligned)."""
    assert F.interp_zoom_size(41, 8) == 321 and F.interp_shrink_size(321, 8) == 41
    x = on(np.random.default_rng(1).standard_normal((1, 2, 6, 5)))
    y, _ = F.resize_bilinear(x, (F.interp_zoom_size(6, 8), F.interp_zoom_size(5, 8)))
    assert_close(y[:, :, ::8, ::8], x, 1e-12, 1e-12)
    y_half, _ = F.resize_bilinear(x, (12, 10), align_corners=False)
    assert not np.allclose(backend.asnumpy(y_half[:, :, ::2, ::2]), backend.asnumpy(x))


@pytest.mark.parametrize("align_corners", [True, False])
def test_interp_matrix_rows_are_convex_weights(align_corners):
    for n_in, n_out in [(41, 321), (321, 41), (7, 7), (1, 5), (5, 1), (13, 20)]:
        a = F.interp_matrix(n_in, n_out, align_corners=align_corners)
        assert a.shape == (n_out, n_in)
        assert_close(a.sum(axis=1), np.ones(n_out), 1e-12, 1e-12)
        assert (a >= 0).all() and ((a > 0).sum(axis=1) <= 2).all()
    assert_close(F.interp_matrix(6, 6, align_corners=align_corners), np.eye(6), 0, 0)


def test_resize_from_1x1_is_a_broadcast(on):
    x = on(np.random.default_rng(2).standard_normal((2, 3, 1, 1)))
    for ac in (True, False):
        y, _ = F.resize_bilinear(x, (5, 7), align_corners=ac)
        assert_close(y, np.broadcast_to(backend.asnumpy(x), (2, 3, 5, 7)), 0, 0)


def test_resize_float32_and_no_mutation(on):
    x = on(np.random.default_rng(3).standard_normal((1, 2, 5, 5)).astype("float32"))
    x0 = x.copy()
    y, cache = F.resize_bilinear(x, (9, 9))
    assert y.dtype == np.float32
    dx = F.resize_bilinear_backward(y, cache)
    assert dx.dtype == np.float32
    assert_close(x, x0, 0, 0)


def test_resize_bad_input(on):
    x = on(np.zeros((1, 2, 4, 4)))
    for bad, pattern in [((0, 3), r"size\[0\] must be >= 1, got 0"),
                         ((3, -2), r"size\[1\] must be >= 1, got -2"),
                         ((3, 2.5), r"size\[1\] must be an integer"),
                         ((1, 2, 3), r"size must be an int or a pair")]:
        with pytest.raises((ValueError, TypeError), match=pattern):
            F.resize_bilinear(x, bad)
    with pytest.raises(ValueError, match=r"resize_bilinear: x must have 4 dimensions"):
        F.resize_bilinear(x[0], (3, 3))
    with pytest.raises(ValueError, match=r"unknown align_corners 'yes'"):
        F.resize_bilinear(x, (3, 3), align_corners="yes")
    _, cache = F.resize_bilinear(x, (3, 5))
    with pytest.raises(ValueError, match=r"dy.shape=\(1, 2, 5, 3\) does not match the forward "
                                         r"output shape \(1, 2, 3, 5\)"):
        F.resize_bilinear_backward(on(np.zeros((1, 2, 5, 3))), cache)


# ------------------------------------------------------------------------------ labels
def _touches(n_in, n_out, align_corners, k):
    """Outputs whose 1-D interpolation weight on input k is non-zero (brute-force weights)."""
    w = np.array([[_brute_weight(i, j, n_in, n_out, align_corners) for j in range(n_in)]
                  for i in range(n_out)])
    return np.flatnonzero(w[:, k] != 0), w


def _brute_weight(i, j, n_in, n_out, align_corners):
    """Weight of input j in output i, from the formula of the module doc (pure Python)."""
    if align_corners:
        s = i * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    else:
        s = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
    i0 = min(int(np.floor(s)), n_in - 1)
    i1, lam = min(i0 + 1, n_in - 1), s - i0
    return (1 - lam) * (j == i0) + lam * (j == i1)


@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("in_hw,out_hw,pixel", [
    ((9, 9), (17, 17), (4, 4)), ((9, 9), (17, 17), (3, 5)), ((9, 9), (9, 9), (2, 2)),
    ((13, 8), (5, 21), (6, 0)), ((1, 6), (4, 9), (0, 5))])
def test_a_non_finite_pixel_stays_local(in_hw, out_hw, pixel, value, align_corners, on):
    """One NaN/Inf input pixel reaches exactly the outputs that interpolate it with a non-zero
    weight (3x3 of a 9x9 -> 17x17 map, not all 289); the others equal the finite result. The
    same for one NaN/Inf in dy in the backward pass."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3) + in_hw)
    rows, a_h = _touches(in_hw[0], out_hw[0], align_corners, pixel[0])
    cols, a_w = _touches(in_hw[1], out_hw[1], align_corners, pixel[1])
    expected = np.zeros(out_hw, bool)
    expected[np.ix_(rows, cols)] = True
    finite, _ = F.resize_bilinear(on(x), out_hw, align_corners=align_corners)
    x[1, 2][pixel] = value
    y, cache = F.resize_bilinear(on(x), out_hw, align_corners=align_corners)
    y = backend.asnumpy(y)
    bad = ~np.isfinite(y)
    assert (bad[1, 2] == expected).all() and not bad[:1].any() and not bad[1, :2].any()
    if np.isinf(value):                           # all weights are positive: the sign stays
        assert (y[1, 2][expected] == value).all()
    assert_close(np.where(bad, 0, y), np.where(bad, 0, backend.asnumpy(finite)), 1e-12, 1e-12)

    dy = rng.standard_normal((2, 3) + out_hw)
    i, j = out_hw[0] // 2, out_hw[1] - 1
    dy[0, 1, i, j] = value
    dx = backend.asnumpy(F.resize_bilinear_backward(on(dy), cache))
    want = np.zeros(in_hw, bool)
    want[np.ix_(np.flatnonzero(a_h[i]), np.flatnonzero(a_w[j]))] = True
    assert ((~np.isfinite(dx[0, 1])) == want).all()
    assert np.isfinite(np.delete(dx.reshape(6, -1), 1, axis=0)).all()


def test_label_shrink_321_to_41_is_every_8th_pixel(on):
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 21, (2, 321, 321)).astype(np.uint8)
    labels[rng.random(labels.shape) < 0.2] = 255
    out = backend.asnumpy(F.resize_labels_nearest(on(labels), (41, 41)))
    brute = np.empty((2, 41, 41), np.uint8)
    for i in range(41):
        for j in range(41):
            brute[:, i, j] = labels[:, 8 * i, 8 * j]
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, brute)


@pytest.mark.parametrize("in_size,out_size", [(17, 5), (10, 4), (5, 13), (1, 3), (9, 1), (8, 8)])
def test_label_resize_never_invents_labels(in_size, out_size, on):
    rng = np.random.default_rng(in_size * 31 + out_size)
    labels = rng.choice(np.array([0, 3, 7, 255]), size=(in_size, in_size + 2)).astype(np.int32)
    out = backend.asnumpy(F.resize_labels_nearest(on(labels), (out_size, out_size + 1)))
    assert set(np.unique(out)) <= set(np.unique(labels))
    # each output pixel is the input pixel nearest to its align-corners source coordinate
    for i in range(out_size):
        for j in range(out_size + 1):
            si = i * (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
            sj = j * (in_size + 1) / out_size
            assert out[i, j] == labels[int(np.floor(si + 0.5)), int(np.floor(sj + 0.5))]


def test_label_resize_bad_input(on):
    with pytest.raises(TypeError, match=r"labels must be an integer array, got dtype float64"):
        F.resize_labels_nearest(on(np.zeros((2, 5, 5))), (3, 3))
    with pytest.raises(ValueError, match=r"labels must be \(N, H, W\) or \(H, W\)"):
        F.resize_labels_nearest(on(np.zeros((1, 2, 5, 5), np.int64)), (3, 3))
    with pytest.raises(ValueError, match=r"size\[1\] must be >= 1, got 0"):
        F.resize_labels_nearest(on(np.zeros((5, 5), np.int64)), (3, 0))
