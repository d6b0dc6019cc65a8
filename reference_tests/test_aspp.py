"""ASPP v2 and v3: structure, Table 1 parameter counts, functional re-computation, holes vs
deinterlace, end-to-end gradient checks including every parameter, and the valid taps of an
atrous filter (a brute-force count and a convolution of ones)."""
import numpy as np
import pytest

from helpers import assert_close
from minideeplab import backend, functional as F, nn
from minideeplab.nn import init
from module_check import check_module_gradients

VGG16_CONV_PARAMS = 14_714_688   # docs/conventions.md, "Table 1": VGG-16's 13 convolutions, biases included


def _x(on, shape, seed=0):
    return on(np.random.default_rng(seed).standard_normal(shape))


def _reseed_dropout(module, seed=11):
    def reseed():
        for i, (_, m) in enumerate(module.named_modules()):
            if isinstance(m, nn.Dropout):
                m.reseed(seed + i)
    return reseed


def test_presets():
    assert nn.ASPP_S_RATES == (2, 4, 8, 12) and nn.ASPP_L_RATES == (6, 12, 18, 24)
    assert nn.LARGEFOV_RATES == (12,)
    assert nn.aspp_v3_rates(16) == (6, 12, 18) and nn.aspp_v3_rates(8) == (12, 24, 36)
    with pytest.raises(ValueError, match="output_stride must be 16 or 8, got 32"):
        nn.aspp_v3_rates(32)
    kw = dict(fc_channels=4, dtype="float64")
    assert nn.ASPPv2.largefov(3, 2, **kw).rates == (12,)
    assert [b.fc6.rate for b in nn.ASPPv2.aspp_s(3, 2, **kw)] == [2, 4, 8, 12]
    assert [b.fc6.rate for b in nn.ASPPv2.aspp_l(3, 2, **kw)] == [6, 12, 18, 24]
    assert len(nn.ASPPv2.largefov(3, 2, **kw)) == 1


def test_aspp_v2_structure_and_caffe_multipliers():
    aspp = nn.ASPPv2(5, 21, (2, 4), fc_channels=6, dropout=0.5, seed=0)
    names = [n for n, _ in aspp.named_parameters()]
    assert names[:6] == ["branch0.fc6.weight", "branch0.fc6.bias", "branch0.fc7.weight",
                         "branch0.fc7.bias", "branch0.fc8.weight", "branch0.fc8.bias"]
    b = aspp.branch1
    assert b.fc6.params["weight"].shape == (6, 5, 3, 3) and b.fc6.padding == 4
    assert b.fc8.params["weight"].shape == (21, 6, 1, 1)
    assert b.fc8.lr_mult == {"weight": 10.0, "bias": 20.0} and b.fc8.decay_mult == {"bias": 0.0}
    assert b.fc6.lr_mult == {"bias": 2.0}
    assert [m.p for m in (b.drop6, b.drop7)] == [0.5, 0.5]
    w8 = np.concatenate([backend.asnumpy(br.fc8.params["weight"]).ravel() for br in aspp] * 50)
    assert abs(w8.std() - 0.01) < 0.002                      # Caffe's gaussian std 0.01
    # the dropout layers must not share their mask sequences
    seeds = {m.rng.bit_generator.state["state"]["state"] for _, m in aspp.named_modules()
             if isinstance(m, nn.Dropout)}
    assert len(seeds) == 4


@pytest.mark.parametrize("kernel,rate,fc,total", [(7, 4, 4096, 134_346_581),
                                                  (4, 4, 4096, 65_140_565),
                                                  (4, 8, 4096, 65_140_565),
                                                  (3, 12, 1024, 20_505_429)])
def test_table1_parameter_counts(kernel, rate, fc, total):
    """DeepLab v2, Table 1: VGG-16 + LargeFOV head, 21 classes, biases included."""
    with init.shapes_only():
        head = nn.ASPPv2(512, 21, (rate,), kernel_size=kernel, fc_channels=fc)
    assert head.num_parameters() + VGG16_CONV_PARAMS == total


def test_odd_padding_and_bad_rates_are_refused():
    with pytest.raises(ValueError, match=r"kernel_size=4 with rate 3 cannot keep the map size"):
        nn.ASPPv2(3, 2, (3,), kernel_size=4, fc_channels=2)
    with pytest.raises(ValueError, match=r"rates must be a non-empty tuple of ints >= 1"):
        nn.ASPPv2(3, 2, (), fc_channels=2)
    with pytest.raises(ValueError, match=r"rates must be a non-empty tuple of ints >= 1"):
        nn.ASPPv3(3, 4, (6, 0))


def test_aspp_v2_equals_the_sum_of_its_branches_computed_by_hand(on, device):
    """Eval mode (no dropout): sum over rates of fc8(relu(fc7(relu(fc6_r(x)))))."""
    aspp = nn.ASPPv2(3, 2, (1, 3), fc_channels=4, seed=1, dtype="float64", device=device).eval()
    x = _x(on, (2, 3, 8, 9))
    expected = 0
    for b in aspp:
        p = {k: m.params for k, m in b.named_modules() if k}
        h = F.relu(F.conv2d(x, p["fc6"]["weight"], p["fc6"]["bias"], padding=b.fc6.rate,
                            rate=b.fc6.rate, method="direct")[0])[0]
        h = F.relu(F.conv2d(h, p["fc7"]["weight"], p["fc7"]["bias"])[0])[0]
        expected = expected + backend.asnumpy(F.conv2d(h, p["fc8"]["weight"],
                                                       p["fc8"]["bias"])[0])
    y = aspp(x)
    assert y.shape == (2, 2, 8, 9)
    assert_close(y, expected, 1e-12, 1e-12)


def _run(module, x, dy, reseed):
    module.zero_grad()
    reseed()
    y = module(x)
    dx = module.backward(dy)
    grads = {s.name: s.module.grads[s.key] for s in module.parameter_slots()}
    return y, dx, grads


@pytest.mark.parametrize("kind", ["v2", "v2_kernel4", "v3"])
def test_holes_and_deinterlace_give_the_same_branches(kind, on, device):
    rng = np.random.default_rng(3)
    x = _x(on, (2, 3, 11, 10), seed=3)
    outs = {}
    for method in ("holes", "deinterlace", "direct"):
        if kind == "v3":
            m = nn.ASPPv3(3, 4, (2, 3, 5), num_classes=2, dropout=0.2, method=method, seed=5,
                          dtype="float64", device=device)
        else:
            k = 4 if kind == "v2_kernel4" else 3
            m = nn.ASPPv2(3, 2, (2, 4), kernel_size=k, fc_channels=5, method=method, seed=5,
                          dtype="float64", device=device)
        m.train()
        y = m(x)
        dy = on(rng.standard_normal(y.shape)) if not outs else outs["holes"][3]
        outs[method] = _run(m, x, dy, _reseed_dropout(m)) + (dy,)
    for method in ("deinterlace", "direct"):
        y, dx, grads, _ = outs[method]
        y0, dx0, grads0, _ = outs["holes"]
        assert_close(y, y0, 1e-12, 1e-12, f"{method} vs holes: y")
        assert_close(dx, dx0, 1e-12, 1e-12, f"{method} vs holes: dx")
        for name in grads0:
            assert_close(grads[name], grads0[name], 1e-11, 1e-11, f"{method}: d{name}")


def _random_biases(module, on, seed=0):
    """Non-zero biases: with zero biases a ReLU input can be exactly 0 (a kink) where every
    input of a 1x1 convolution is 0, and central differences there are one-sided."""
    rng = np.random.default_rng(seed)
    for _, m in module.named_modules():
        if "bias" in m.params:
            m.params["bias"] = on(rng.standard_normal(m.params["bias"].shape) * 0.5)
    return module


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_aspp_v2_gradient_check(mode, on, device):
    aspp = nn.ASPPv2(3, 3, (1, 3), fc_channels=4, seed=2, dtype="float64", device=device)
    _random_biases(aspp, on)
    aspp.train(mode == "train")
    x = _x(on, (2, 3, 7, 6), seed=4)
    check_module_gradients(aspp, x, before_forward=_reseed_dropout(aspp), max_checks=15)


@pytest.mark.parametrize("classifier", [False, True])
def test_aspp_v3_gradient_check(classifier, on, device):
    kw = dict(num_classes=3, dropout=0.3) if classifier else {}
    aspp = nn.ASPPv3(3, 4, (1, 2, 3), seed=6, dtype="float64", device=device, **kw).train()
    x = _x(on, (2, 3, 6, 7), seed=5)
    check_module_gradients(aspp, x, before_forward=_reseed_dropout(aspp), max_checks=12)


def test_aspp_v3_structure_and_hand_computation(on, device):
    aspp = nn.ASPPv3(3, 4, (2, 4, 6), seed=7, dtype="float64", device=device).eval()
    assert list(aspp.branches._children) == ["conv1x1", "atrous2", "atrous4", "atrous6",
                                              "image_pool"]
    assert aspp.project.conv.params["weight"].shape == (4, 20, 1, 1)
    assert "bias" not in aspp.branches.atrous2.conv.params
    rng = np.random.default_rng(8)
    for _, m in aspp.named_modules():                       # non-trivial BN statistics
        if isinstance(m, nn.BatchNorm2d):
            C = m.params["gamma"].shape[0]
            m.buffers["running_mean"] = on(rng.standard_normal(C))
            m.buffers["running_var"] = on(rng.uniform(0.5, 2, C))
            m.params["gamma"] = on(rng.standard_normal(C))
            m.params["beta"] = on(rng.standard_normal(C))
    x = _x(on, (2, 3, 9, 8), seed=9)

    def cbr(seq, h, rate=1):
        w = seq.conv.params["weight"]
        h = F.conv2d(h, w, padding=rate * (w.shape[2] // 2), rate=rate, method="direct")[0]
        bn = seq.bn
        h = F.batch_norm(h, bn.params["gamma"], bn.params["beta"], bn.buffers["running_mean"],
                         bn.buffers["running_var"], training=False)[0]
        return backend.asnumpy(F.relu(h)[0])

    parts = [cbr(aspp.branches.conv1x1, x)]
    parts += [cbr(getattr(aspp.branches, f"atrous{r}"), x, r) for r in (2, 4, 6)]
    g = cbr(aspp.branches.image_pool, on(backend.asnumpy(x).mean(axis=(2, 3), keepdims=True)))
    parts.append(np.broadcast_to(g, (2, 4, 9, 8)))            # bilinear from 1x1: a broadcast
    expected = cbr(aspp.project, on(np.concatenate(parts, axis=1)))
    assert_close(aspp(x), expected, 1e-12, 1e-12)


def test_aspp_v3_batch_norm_modes(on, device):
    x = _x(on, (1, 3, 5, 5), seed=10)
    aspp = nn.ASPPv3(3, 4, (1, 2, 3), seed=1, dtype="float64", device=device).train()
    with pytest.raises(ValueError, match=r"more than one value per channel.*"
                                         r"x.shape=\(1, 4, 1, 1\)"):
        aspp(x)                                             # image pooling BN sees 1 value
    frozen = nn.ASPPv3(3, 4, (1, 2, 3), bn_frozen=True, seed=1, dtype="float64",
                       device=device).train()
    y = frozen(x)
    assert_close(y, nn.ASPPv3(3, 4, (1, 2, 3), seed=1, dtype="float64", device=device)
                 .eval()(x), 0, 0)                            # frozen = running statistics
    check_module_gradients(frozen, x, max_checks=8)


def brute_force_valid_taps(n, rate, kernel):
    half = (kernel - 1) // 2
    offs = [rate * (a - half) for a in range(kernel)]
    return np.array([[sum(0 <= i + dy < n and 0 <= j + dx < n for dy in offs for dx in offs)
                      for j in range(n)] for i in range(n)])


@pytest.mark.parametrize("n, rate, kernel", [(1, 1, 3), (5, 2, 3), (11, 6, 3), (11, 12, 3),
                                             (9, 2, 5), (41, 24, 3)])
def test_valid_tap_counts_match_a_brute_force_count(n, rate, kernel):
    np.testing.assert_array_equal(nn.aspp.valid_tap_counts(n, rate, kernel=kernel),
                                  brute_force_valid_taps(n, rate, kernel))


@pytest.mark.parametrize("rate", [1, 3, 6, 12])
def test_valid_tap_counts_equal_an_atrous_convolution_of_ones(device, rate):
    xp = backend.xp_for(device)
    x = xp.ones((1, 1, 11, 11))
    w = xp.ones((1, 1, 3, 3))
    y, _ = F.conv2d(x, w, None, padding=rate, rate=rate)        # zero padding: counts taps
    np.testing.assert_array_equal(backend.asnumpy(y[0, 0]), nn.aspp.valid_tap_counts(11, rate))


def test_valid_tap_counts_refuses_bad_arguments():
    with pytest.raises(ValueError, match=r"valid_tap_counts: rate must be >= 1, got 0"):
        nn.aspp.valid_tap_counts(11, 0)
    with pytest.raises(ValueError, match=r"valid_tap_counts: map_size must be an int or a pair"):
        nn.aspp.valid_tap_counts((11, 11, 3), 2)
