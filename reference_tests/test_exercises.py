"""The exercise checks (minideeplab.paper.exercises): each passes a right answer written here
independently of the library (printing PASSED, returning None), fails every plausible wrong
answer by raising AssertionError with words naming the mistake, prints "not implemented yet"
and raises NotImplementedError for a stub, and never prints the answer it grades.
"""
import re

import numpy as np
import pytest
from scipy import ndimage

from minideeplab import backend
from minideeplab.paper import exercises as ex
from minideeplab.paper.exercises import convolution, crf, gpu, training


def _stub(*args):
    raise NotImplementedError


# ------------------------------------------------------------- right answers, written plainly
def im2col_loops(x, kernel, rate):
    C, H, W = x.shape
    ke = kernel + (kernel - 1) * (rate - 1)
    OH, OW = H - ke + 1, W - ke + 1
    cols = np.zeros((C * kernel * kernel, OH * OW))
    for c in range(C):
        for p in range(kernel):
            for q in range(kernel):
                for i in range(OH):
                    for j in range(OW):
                        cols[(c * kernel + p) * kernel + q, i * OW + j] = \
                            x[c, i + rate * p, j + rate * q]
    return cols


def space_to_batch_loops(x, rate):
    N = x.shape[0]
    return np.stack([x[n, :, a::rate, b::rate] for a in range(rate) for b in range(rate)
                     for n in range(N)])


def receptive_field_plain(layers):
    rf, jump = 1, 1
    for k, s, r in layers:
        rf += r * (k - 1) * jump
        jump *= s
    return rf, jump


def plan_plain(output_stride, depth, multi_grid):
    """The v3 paper's rule: every block of a stage gets the stage's unit rate times its grid
    factor (layer4 only); a stride that would pass the output stride becomes a doubled rate."""
    stride_so_far, rate, plan = 4, 1, []
    for k, (stride, blocks) in enumerate(zip((1, 2, 2, 2), depth)):
        if stride_so_far * stride > output_stride:        # would pass the output stride
            rate *= stride
            stride = 1
        stride_so_far *= stride
        grid = multi_grid if (k == 3 and multi_grid) else (1,) * blocks
        plan.append([(stride if b == 0 else 1, rate * grid[b]) for b in range(blocks)])
    return plan


def resize_backward_loops(dy, in_size, clamp=True):
    N, C, Ho, Wo = dy.shape
    H, W = in_size

    def taps(o, n_in, n_out):
        src = (o + 0.5) * n_in / n_out - 0.5
        src = max(src, 0.0) if clamp else src
        i0 = min(int(np.floor(src)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        lam = src - i0
        return [(i0, 1 - lam), (i1, lam)]

    dx = np.zeros((N, C, H, W))
    for i in range(Ho):
        for j in range(Wo):
            for a, wa in taps(i, H, Ho):
                for b, wb in taps(j, W, Wo):
                    dx[:, :, a, b] += wa * wb * dy[:, :, i, j]
    return dx


def ce_backward_plain(logits, labels, ignore_index, count=None):
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    valid = labels != ignore_index
    g = p.copy()
    n, i, j = np.nonzero(valid)
    g[n, labels[valid], i, j] -= 1
    return g * valid[:, None] / (max(valid.sum(), 1) if count is None else count(labels))


def _border(in_size, nc):
    """0.5 on the border pixels of an (N, C, *in_size) map, 0 inside."""
    b = np.full(tuple(nc) + tuple(in_size), 0.5)
    b[:, :, 1:-1, 1:-1] = 0
    return b


def resize_backward_index_clamped_only(dy, in_size):
    """Another form of the missing clamp: the index i0 kept in range, src itself not clamped,
    so lam = src - i0 < 0 near the edge (weights 1.25 and -0.25)."""
    mats = []
    for n_in, n_out in zip(in_size, dy.shape[2:]):
        src = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        i0 = np.clip(np.floor(src).astype(int), 0, n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        lam = src - i0
        a = np.zeros((n_out, n_in))
        np.add.at(a, (np.arange(n_out), i0), 1 - lam)
        np.add.at(a, (np.arange(n_out), i1), lam)
        mats.append(a)
    return np.einsum("oh,ncop,pw->nchw", mats[0], dy, mats[1])


def caffe_sgd_plain(w, grads, lrs, momentum, weight_decay):
    v = np.zeros_like(w)
    for g, lr in zip(grads, lrs):
        v = momentum * v + lr * (g + weight_decay * w)
        w = w - v
    return w


def mean_field_plain(unary, Q, kernels, weights, self_connection=True):
    if not self_connection:                               # the paper's sum over j != i
        kernels = [k - np.diag(np.diag(k)) for k in kernels]
    s = -unary + sum(w * k @ Q for k, w in zip(kernels, weights))
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def splat_plain(vertex, bary, values, M):
    out = np.zeros((M, values.shape[1]))
    for r in range(vertex.shape[0]):
        for n in range(vertex.shape[1]):
            out[vertex[r, n]] += bary[r, n] * values[n]
    return out


def band_plain(label, width):
    H, W = label.shape
    edge = np.zeros((H, W), dtype=bool)
    for y in range(H):
        for x in range(W):
            for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                if 0 <= y + dy < H and 0 <= x + dx < W and label[y + dy, x + dx] != label[y, x]:
                    edge[y, x] = True
    if not edge.any():
        return edge
    return ndimage.distance_transform_edt(~edge) <= width


def softmax_any_device(scores, axis):
    xp = backend.get_array_module(scores)
    e = xp.exp(scores - scores.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_numpy(scores, axis):                 # right numbers, NumPy named
    e = np.exp(scores - scores.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_scipy(scores, axis):                 # right numbers, the module never asked
    from scipy.special import softmax
    return softmax(scores, axis=axis).astype(scores.dtype)


def sync_lines_by_reading():
    """SYNC_LOOP read with CuPy's rules: `if` on a device scalar (line 8), int() (10), a
    boolean mask (11), float() inside the print (13)."""
    return {8, 10, 11, 13}


def conv_intensity_plain(c_in, c_out, k, h, w, bytes_per_value=4):
    flops = 2 * (c_out * h * w) * (c_in * k * k)
    values = c_in * h * w + c_out * c_in * k * k + c_out * h * w
    return flops / (values * bytes_per_value)


# (check, right answer, [(wrong answer, words the failure message must contain)])
CASES = {
    "im2col": (ex.check_atrous_im2col, im2col_loops, [
        (convolution._taps_adjacent, "1 pixel apart"),
        (convolution._taps_transposed, "(c, q, p)"),
        (lambda x, k, r: im2col_loops(x, k, r).T, "has shape")]),
    "space_to_batch": (ex.check_space_to_batch, space_to_batch_loops, [
        (convolution._s2b_swapped, "swapped the row offset"),
        (convolution._s2b_image_major, "image-major")]),
    "receptive_field": (ex.check_receptive_field, receptive_field_plain, [
        (convolution._rf_no_rate, "ignored the rate"),
        (convolution._rf_jump_first, "before adding its kernel"),
        (lambda layers: receptive_field_plain(layers)[0], "sequence of 2 values")]),
    "output_stride_plan": (ex.check_output_stride_plan, plan_plain, [
        (convolution._plan_previous_rate_first, "torchvision's schedule"),
        (convolution._plan_one_doubling, "layer4's is 4"),
        (convolution._plan_no_grid, "multi-grid"),
        (lambda os_, depth, grid: plan_plain(os_, depth, grid)[:3], "sequence of 4 values")]),
    "resize_backward": (ex.check_resize_backward, resize_backward_loops, [
        (lambda dy, s: training._resize_backward(dy, s, True), "align_corners=True"),
        (training._swapped_weights, "swap the interpolation weights"),
        (training._forward_instead, "the transpose"),
        (lambda dy, s: resize_backward_loops(dy, s, clamp=False), "Clamp the source coordinate"),
        (resize_backward_index_clamped_only, "Clamp the source coordinate"),
        (lambda dy, s: resize_backward_loops(dy, s) + _border(s, dy.shape[:2]),  # on the border
         "Only the border pixels")]),
    "cross_entropy_backward": (ex.check_cross_entropy_backward, ce_backward_plain, [
        (lambda lg, lb, ig: -ce_backward_plain(lg, lb, ig), "sign is flipped"),
        (training._ce_all_pixels, "divided by every pixel"),
        (lambda lg, lb, ig: ce_backward_plain(lg, lb, ig, lambda lb: lb.shape[0]),
         "divided by the batch size"),
        (lambda lg, lb, ig: ce_backward_plain(lg, lb, ig, lambda lb: 1), "times"),
        (lambda lg, lb, ig: ce_backward_plain(lg, lb, ig) / 3, "check what you divide by"),
        (training._ce_not_masked, "zero gradient"),
        (lambda lg, lb, ig: ce_backward_plain(lg.astype(np.float32) * 1.0, lb, ig) * np.nan,
         "differs at")]),
    "caffe_sgd": (ex.check_caffe_sgd, caffe_sgd_plain, [
        (training._torch_sgd, "PyTorch's update"),
        (training._sgd_no_decay, "left out the weight decay")]),
    "mean_field": (ex.check_mean_field_update, mean_field_plain, [
        (crf._mf_penalty, "subtracted the messages"),
        (crf._mf_wrong_axis, "over pixels"),
        (crf._mf_plus_unary, "U = -log P"),
        (lambda U, Q, K, w: mean_field_plain(U, Q, K, w, self_connection=False),
         "self-connection"),
        (lambda U, Q, K, w: Q, "differs at")]),
    "splat": (ex.check_splat, splat_plain, [
        (crf._splat_assign, "np.add.at"),
        (crf._splat_unweighted, "barycentric weights")]),
    "trimap_band": (ex.check_trimap_band, band_plain, [
        (crf._band_strict, "<=, not <"),
        (crf._band_one_sided, "only one side"),
        (crf._band_eight, "4-neighbour")]),
    "softmax": (ex.check_softmax, softmax_any_device, [
        (gpu._softmax_no_shift, "Subtract each pixel's maximum"),
        (gpu._softmax_global_max, "maximum of the whole array"),
        (gpu._softmax_no_keepdims, "Sum along `axis` only"),
        (gpu._softmax_float64, "'float64', expected 'float32'"),
        (softmax_numpy, "names NumPy"),
        (softmax_scipy, "never asks")]),
    "sync_lines": (ex.check_sync_lines, sync_lines_by_reading, [
        (lambda: {3, 8, 10, 11, 13}, "line 3 (`probs = xp.exp"),
        (lambda: {8, 10, 11}, "you left out 1 line(s) that do sync"),
        (lambda: {6, 7, 8, 10, 11, 13}, "2 of your lines do not sync; line 6"),
        (lambda: "8, 10", "set of line numbers")]),
    "conv_intensity": (ex.check_conv_intensity, conv_intensity_plain, [
        (gpu._ai_macs, "2 FLOPs"),
        (gpu._ai_no_weights, "The weights are read too"),
        (gpu._ai_values_not_bytes, "Count bytes"),
        (gpu._ai_k_not_squared, "k * k taps"),
        (lambda *a: conv_intensity_plain(*a[:5]), "bytes_per_value=2, your answer is")]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_check_passes_a_right_answer(name, capsys):
    check, right, _ = CASES[name]
    assert check(right) is None             # nothing for a notebook cell to display
    out = capsys.readouterr().out
    assert out.startswith("[") and "] PASSED" in out and out.count("\n") == 1, out


@pytest.mark.parametrize("name", sorted(CASES))
def test_check_rejects_wrong_answers_and_names_the_mistake(name, capsys):
    check, _, wrongs = CASES[name]
    for wrong, words in wrongs:
        with pytest.raises(AssertionError) as e:
            check(wrong)
        assert "FAILED" in str(e.value) and words in str(e.value), str(e.value)
    assert capsys.readouterr().out == ""           # a failure is the error, nothing printed


@pytest.mark.parametrize("name", sorted(CASES))
def test_stub_is_not_implemented_and_a_crash_fails_with_its_cause(name, capsys):
    check, _, _ = CASES[name]
    with pytest.raises(NotImplementedError, match="NOT IMPLEMENTED YET"):
        check(_stub)
    assert "NOT IMPLEMENTED YET" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="KeyError") as crash:
        check(lambda *a: {}["missing"])
    assert isinstance(crash.value.__cause__, KeyError)
    with pytest.raises(AssertionError, match="pass your function itself"):
        check(None)


def test_sync_lines_check_does_not_give_the_answer_away(capsys):
    """Neither an empty answer nor every line of the loop learns which lines sync: the
    message names no line that syncs (it did: all four, for an empty set)."""
    truth = sync_lines_by_reading()
    every = set(range(1, len(gpu.SYNC_LOOP.rstrip().split("\n")) + 1))
    for answer in (set(), every, {1}):
        with pytest.raises(AssertionError) as e:
            ex.check_sync_lines(lambda: answer)
        named = {int(n) for n in re.findall(r"line (\d+)", str(e.value))}
        assert not named & truth, str(e.value)
    assert capsys.readouterr().out == ""


def test_evaluate_gives_the_verdict_without_printing_or_raising(capsys):
    right = ex.evaluate("im2col", im2col_loops, convolution._im2col_cases(
        np.random.default_rng(0)))
    stub = ex.evaluate("im2col", _stub, convolution._im2col_cases(np.random.default_rng(0)))
    assert right.passed and right and stub.status == "not implemented yet" and not stub
    assert capsys.readouterr().out == ""


def test_first_mismatch_names_the_index_and_the_values():
    e = np.zeros((2, 3, 4))
    g = e.copy()
    g[1, 2, 3] = 5.0
    msg = ex.first_mismatch(g, e)
    assert "[1, 2, 3]" in msg and "got 5" in msg and "expected 0" in msg and "1 of 24" in msg
    assert ex.first_mismatch(e + 1e-12, e) is None
    assert "shape" in ex.first_mismatch(e[0], e)
    assert ex.first_mismatch((1, 2), (1, 2)) is None and ex.first_mismatch((1, 3), (1, 2))
    assert "return" in ex.first_mismatch(None, e)


def test_splat_inputs_rebuild_the_library_splat():
    rng = np.random.default_rng(1)
    feats = rng.random((20, 2)) * 4
    vertex, bary, M = ex.splat_inputs(feats)
    assert np.allclose(bary.sum(axis=0), 1, atol=1e-6) and (bary >= 0).all()
    from minideeplab.crf.lattice import build_lattice
    splat, _ = build_lattice(feats)
    values = rng.standard_normal((20, 2))
    assert np.allclose(splat_plain(vertex, bary, values, M), splat @ values, atol=1e-5)


def test_sync_stand_in_counts_each_syncing_call_once_per_iteration_and_refuses_numpy():
    per_line = ex.measure_syncs("for i in range(2):\n    y = xp.exp(images) + 1\n"
                                "    v = float(y.sum())\n    if (y > 2).any():\n"
                                "        z = y[y > 2]\n    k = xp.unique(labels)\n")
    assert per_line == {3: ["float"] * 2, 4: ["if / bool"] * 2, 5: ["x[boolean mask]"] * 2,
                        6: ["xp.unique"] * 2}
    with pytest.raises(TypeError, match="NumPy array mixed"):
        gpu.DeviceArrayStandIn(np.ones(3), gpu.SyncLog()) + np.ones(3)
