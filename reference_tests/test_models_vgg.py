"""DeepLab-VGG16: Table 1 (exact counts, receptive fields, FOV), output stride, gradients."""
import tracemalloc

import numpy as np
import pytest

from minideeplab import functional as F, nn
from minideeplab.gradcheck import check_gradients
from minideeplab.models import deeplab_vgg16, fov, table1

TINY = 1 / 16


def test_table1_is_exact():
    rows = table1()
    assert [(r.kernel, r.rate, r.channels) for r in rows] == [
        (7, 4, 4096), (4, 4, 4096), (4, 8, 4096), (3, 12, 1024)]
    # docs/conventions.md, "Table 1": the Caffe release's exact counts (21 classes, biases included)
    assert [r.params for r in rows] == [134_346_581, 65_140_565, 65_140_565, 20_505_429]
    assert [r.fov for r in rows] == [224, 128, 224, 224]              # the paper's column
    assert [r.receptive_field for r in rows] == [419, 323, 419, 419]  # 227 + 8 r (k-1)
    assert [r.effective_kernel for r in rows] == [25, 13, 25, 25]     # k + (k-1)(r-1)
    text = fov.format_table1(rows)
    assert "134,346,581" in text and "134.3M" in text and "20.5M" in text


def test_table1_allocates_no_parameters():
    tracemalloc.start()
    try:
        with nn.init.shapes_only():
            model = deeplab_vgg16(fc6_kernel=7, fc6_rate=4, fc_channels=4096)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert model.num_parameters() == 134_346_581
    assert peak < 5e6, f"building in shapes_only mode allocated {peak / 1e6:.1f} MB"


def test_aspp_parameter_count_by_hand():
    # VGG-16 convs 14,714,688 (docs/conventions.md); each ASPP-L branch: fc6 3x3 512->1024 + bias
    # = 4,718,592 + 1,024 = 4,719,616; fc7 1024*1024 + 1024 = 1,049,600; fc8 1024*21 + 21
    # = 21,525; branch 5,790,741; four branches 23,162,964; total 37,877,652.
    with nn.init.shapes_only():
        model = deeplab_vgg16(aspp_rates=(6, 12, 18, 24))
    assert model.num_parameters() == 37_877_652


def test_receptive_field_matches_impulse_response():
    """The RF formula against brute force: the support of d y[centre] / d x in a linear chain."""
    chain = [(3, 1, 1), (3, 2, 1), (3, 1, 2), (2, 2, 1), (3, 1, 3)]   # (k, s, r)
    rf, jump = fov.receptive_field(chain)
    x = np.ones((1, 1, 1, 101))
    caches, y = [], x
    for k, s, r in chain:
        y, cache = F.conv2d(y, np.ones((1, 1, 1, k)), stride=s, rate=r)
        caches.append(cache)
    dy = np.zeros_like(y)
    dy[..., y.shape[-1] // 2] = 1.0
    for cache in reversed(caches):
        dy = F.conv2d_backward(dy, cache)[0]
    support = np.flatnonzero(dy[0, 0, 0])
    assert rf == support[-1] - support[0] + 1 == len(support)
    assert jump == 4


@pytest.mark.parametrize("size,aspp_rates", [(321, None), (65, (6, 12, 18, 24)),
                                               ((50, 37), (2, 4))])
def test_output_stride_8(size, aspp_rates, device, on):
    H, W = (size, size) if isinstance(size, int) else size
    model = deeplab_vgg16(num_classes=5, width=1 / 32, aspp_rates=aspp_rates).to(device)
    x = on(np.random.default_rng(0).standard_normal((1, 3, H, W)).astype(np.float32))
    y = model(x)
    # three 3x3/2 pad-1 poolings that round up (Caffe): 321 -> 161 -> 81 -> 41, 65 -> 9
    h, w = H, W
    for _ in range(3):
        h, w = (F.pool_output_size(h, 3, 2, 1), F.pool_output_size(w, 3, 2, 1))
    assert y.shape == (1, 5, h, w) and y.dtype == np.float32
    if H == 321:
        assert (h, w) == (41, 41)
    assert model.backward(y * 0 + 1).shape == x.shape
    assert len(model.head.branches) == (1 if aspp_rates is None else len(aspp_rates))


def test_width_scales_every_channel():
    model = deeplab_vgg16(num_classes=3, width=0.25, fc_channels=64)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes["features.conv1_1.weight"] == (16, 3, 3, 3)
    assert shapes["features.conv5_3.weight"] == (128, 128, 3, 3)
    assert shapes["head.branch0.fc6.weight"] == (16, 128, 3, 3)
    assert shapes["head.branch0.fc8.weight"] == (3, 16, 1, 1)


def test_trunk_layout_follows_the_caffe_release():
    model = deeplab_vgg16(width=TINY)
    f = model.features
    assert [(p.kernel, p.stride, p.padding) for p in (f.pool1, f.pool2, f.pool3, f.pool4,
                                                      f.pool5)] == [(3, 2, 1)] * 3 + [(3, 1, 1)] * 2
    assert [(c.rate, c.padding) for c in (f.conv4_3, f.conv5_1, f.conv5_3)] == [
        (1, 1), (2, 2), (2, 2)]
    fc6 = model.head.branches[0].fc6
    assert (fc6.rate, fc6.padding, fc6.params["weight"].shape[2]) == (12, 12, 3)
    fc8 = model.head.branches[0].fc8
    assert (fc8.lr_mult, fc8.decay_mult) == ({"weight": 10.0, "bias": 20.0}, {"bias": 0.0})


def test_holes_and_deinterlace_give_the_same_network_output():
    x = np.random.default_rng(1).standard_normal((1, 3, 41, 41))
    outs = []
    for method in ("holes", "deinterlace"):
        model = deeplab_vgg16(num_classes=4, width=TINY, aspp_rates=(2, 4), method=method,
                              dtype="float64", seed=3).eval()
        outs.append(model(x))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-10, atol=1e-12)


def test_gradient_of_a_tiny_model_end_to_end():
    model = deeplab_vgg16(num_classes=3, width=1 / 32, fc_channels=256, aspp_rates=(1, 2),
                          dropout=0.0, dtype="float64", seed=0)
    slots = {"conv1_1": model.features.conv1_1, "conv5_2": model.features.conv5_2,
             "fc6": model.head.branches[1].fc6, "fc8": model.head.branches[0].fc8}
    rng = np.random.default_rng(0)
    inputs = {"x": rng.standard_normal((2, 3, 13, 11))}
    inputs.update({f"{n}_w": m.params["weight"].copy() for n, m in slots.items()})
    inputs["fc8_b"] = rng.standard_normal(3)

    def forward(x, **params):
        for n, m in slots.items():
            m.params["weight"] = params[f"{n}_w"]
        slots["fc8"].params["bias"] = params["fc8_b"]
        return model(x)

    def backward(dy, x, **params):
        forward(x, **params)
        model.zero_grad()
        grads = {"x": model.backward(dy)}
        grads.update({f"{n}_w": m.grads["weight"] for n, m in slots.items()})
        grads["fc8_b"] = slots["fc8"].grads["bias"]
        return grads

    check_gradients(forward, backward, inputs, max_checks=15)


def test_bad_arguments():
    with pytest.raises(ValueError, match="fc6_kernel must be an integer >= 1, got 0"):
        deeplab_vgg16(fc6_kernel=0)
    with pytest.raises(ValueError, match="width must be a number > 0"):
        deeplab_vgg16(width=0)
    with pytest.raises(ValueError, match="aspp_rates must be None"):
        deeplab_vgg16(aspp_rates=())
    with pytest.raises(ValueError, match="kernel_size=4 with rate 3 cannot keep the map size"):
        deeplab_vgg16(fc6_kernel=4, fc6_rate=3, width=TINY)


@pytest.mark.parametrize("kernel, rate", [(4, 4), (3, 2)])
def test_impulse_receptive_field_matches_the_theory(kernel, rate):
    # docs/conventions.md, "Table 1": pool5's receptive field is 227 at jump 8, so fc6 adds 8 r (k - 1);
    # Table 1's 4x4 rate 4 row has RF 323
    expected = 227 + 8 * rate * (kernel - 1)
    assert fov.impulse_receptive_field(kernel, rate, 64) == expected
    if (kernel, rate) == (4, 4):
        assert expected == 323
