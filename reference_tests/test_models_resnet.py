"""ResNet backbones and DeepLab v2/v3 heads: counts, output strides, atrous equivalence, grads."""
import numpy as np
import pytest

from minideeplab import backend, nn
from minideeplab.gradcheck import check_gradients
from minideeplab.models import DeepLabResNet, ResNetBackbone, build_model
from minideeplab.models.resnet import stage_strides_and_rates
from minideeplab.optim import SGD

TINY = dict(depth=(1, 1, 1, 1), width=1 / 16)


def test_parameter_counts_match_torchvision():
    # torchvision's resnet50 / resnet101 have 25,557,032 / 44,549,160 parameters, of which
    # the ImageNet classifier fc is 2048*1000 + 1000 = 2,049,000: the trunks have
    # 23,508,032 and 42,500,160 (BN gamma and beta included, running statistics not).
    with nn.init.shapes_only():
        assert ResNetBackbone(50).num_parameters() == 23_508_032
        r101 = ResNetBackbone(101)
        model = DeepLabResNet(21, "v2", depth=101)
    assert r101.num_parameters() == 42_500_160
    # v2 head: four 3x3 convs 2048 -> 21 with bias: 4 * (2048*9*21 + 21) = 1,548,372
    assert model.num_parameters() == 42_500_160 + 1_548_372


def _layer4_conv_rates(model):
    """The rate of every layer4 block's 3x3 convolution, read from the built modules."""
    return tuple(block.main.conv2.rate for _, block in model.backbone.layer4.children())


def test_the_paper_multi_grid_rates():
    """DeepLab v3, Sec. 3.2: with output stride 16 and Multi_Grid = (1, 2, 4), block4's three
    convolutions have rates 2 x (1, 2, 4) = (2, 4, 8); the unit rate is 2 at output stride 16
    and 4 at 8 (every later rate doubled, Sec. 3.1), for every block of the stage."""
    depth = (1, 2, 2, 3)
    unit = {32: (1, 1), 16: (1, 2), 8: (2, 4)}          # (layer3, layer4) unit rates, by hand
    for os_ in (32, 16, 8):
        for grid in (None, (1, 2, 4)):
            g = grid or (1, 1, 1)
            expected = [[(1, 1)], [(2, 1), (1, 1)],
                        [(1 if os_ == 8 else 2, unit[os_][0]), (1, unit[os_][0])],
                        [(2 if os_ == 32 else 1, unit[os_][1] * g[0]),
                         (1, unit[os_][1] * g[1]), (1, unit[os_][1] * g[2])]]
            assert stage_strides_and_rates(os_, depth, grid) == expected, (os_, grid)
    v3 = DeepLabResNet(3, "v3", depth=(1, 1, 1, 3), width=1 / 16)        # grid (1, 2, 4)
    assert v3.output_stride == 16 and _layer4_conv_rates(v3) == (2, 4, 8)
    v3_os8 = DeepLabResNet(3, "v3", depth=(1, 1, 1, 3), width=1 / 16, output_stride=8)
    assert _layer4_conv_rates(v3_os8) == (4, 8, 16)
    assert v3_os8.backbone.layer3[0].main.conv2.rate == 2


def test_torchvision_schedule_keeps_the_previous_rate_in_the_first_block():
    """torchvision's replace_stride_with_dilation: the first block of a converted stage keeps
    the previous rate (its 3x3 carries the removed stride), the others get the new one."""
    depth = (1, 2, 2, 3)
    assert stage_strides_and_rates(32, depth, None, "torchvision") == [
        [(1, 1)], [(2, 1), (1, 1)], [(2, 1), (1, 1)], [(2, 1), (1, 1), (1, 1)]]
    assert stage_strides_and_rates(16, depth, None, "torchvision") == [
        [(1, 1)], [(2, 1), (1, 1)], [(2, 1), (1, 1)], [(1, 1), (1, 2), (1, 2)]]
    assert stage_strides_and_rates(8, depth, None, "torchvision") == [
        [(1, 1)], [(2, 1), (1, 1)], [(1, 1), (1, 2)], [(1, 2), (1, 4), (1, 4)]]
    from minideeplab.models import build_torchvision
    with nn.init.shapes_only():
        tv = build_torchvision("deeplabv3_resnet50")
    assert _layer4_conv_rates(tv) == (2, 4, 4) and tv.backbone.layer3[0].main.conv2.rate == 1


@pytest.mark.parametrize("output_stride,expected", [(8, 41), (16, 21), (32, 11)])
def test_output_sizes_on_321(output_stride, expected, device, on):
    model = DeepLabResNet(5, "v2", output_stride=output_stride, rates=(1, 2), **TINY).to(device)
    x = on(np.random.default_rng(0).standard_normal((1, 3, 321, 321)).astype(np.float32))
    y = model(x)
    assert y.shape == (1, 5, expected, expected)
    assert model.backward(y).shape == x.shape


def _randomise_bn_statistics(model, seed):
    rng = np.random.default_rng(seed)
    for _, m in model.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            C = m.params["gamma"].shape[0]
            m.buffers["running_mean"][...] = rng.standard_normal(C)
            m.buffers["running_var"][...] = rng.uniform(0.5, 2.0, C)
            m.params["gamma"][...] = rng.uniform(0.5, 1.5, C)
            m.params["beta"][...] = rng.standard_normal(C) * 0.1


def test_atrous_conversion_computes_the_strided_network_on_its_grid():
    """Turning a stride into a rate (same weights) with torchvision's schedule samples the
    same inputs: the output stride 8 and 16 networks equal the stride-32 network at every
    4th / 2nd position exactly (the math guarantees it, padding included: the zero padding
    lands on the same taps). Batch norm in eval mode is a per-channel affine map, so it keeps
    the property. (The paper's schedule widens the first 3x3 of a converted stage here, so it
    does not: see the module doc of minideeplab/models/resnet.py.)"""
    x = np.random.default_rng(0).standard_normal((2, 3, 75, 83))
    out = {}
    for os_ in (8, 16, 32):
        net = ResNetBackbone((1, 2, 1, 3), 1 / 16, os_, (1, 2, 4), seed=0,
                             schedule="torchvision", dtype="float64").eval()
        _randomise_bn_statistics(net, 1)
        out[os_] = net(x)
    assert out[32].shape == (2, 128, 3, 3)
    np.testing.assert_allclose(out[8][:, :, ::4, ::4], out[32], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out[16][:, :, ::2, ::2], out[32], rtol=1e-12, atol=1e-12)
    assert out[8].shape[2:] == (10, 11) and out[16].shape[2:] == (5, 6)


def _check_model_gradients(model, x_shape, slots, seed=0):
    rng = np.random.default_rng(seed)
    inputs = {"x": rng.standard_normal(x_shape)}
    inputs.update({name: m.params[k].copy() for name, (m, k) in slots.items()})

    def forward(x, **params):
        for name, (m, k) in slots.items():
            m.params[k] = params[name]
        return model(x)

    def backward(dy, x, **params):
        forward(x, **params)
        model.zero_grad()
        grads = {"x": model.backward(dy)}
        grads.update({name: m.grads[k] for name, (m, k) in slots.items()})
        return grads

    check_gradients(forward, backward, inputs, max_checks=12)


def test_gradient_of_tiny_resnet_v2_end_to_end():
    model = DeepLabResNet(3, "v2", depth=(1, 1, 1, 2), width=1 / 32, rates=(1, 2),
                          dtype="float64", seed=0)
    b = model.backbone
    _check_model_gradients(model, (2, 3, 19, 17), {
        "stem": (b.stem.conv1, "weight"), "bn": (b.layer2[0].main.bn2, "gamma"),
        "short": (b.layer3[0].shortcut.conv, "weight"),
        "l4": (b.layer4[1].main.conv2, "weight"), "head": (model.head.c1, "weight")})


def test_gradient_of_tiny_resnet_v3_end_to_end():
    model = DeepLabResNet(3, "v3", depth=(1, 1, 1, 3), width=1 / 32, output_stride=8,
                          rates=(1, 2, 3), dtype="float64", seed=1)
    assert model.backbone.plan[3] == [(1, 4), (1, 8), (1, 16)]     # 4 x multi-grid (1, 2, 4)
    _check_model_gradients(model, (2, 3, 17, 17), {
        "l1": (model.backbone.layer1[0].main.conv1, "weight"),
        "pool": (model.head.branches.image_pool.conv, "weight"),
        "proj": (model.head.project.conv, "weight"),
        "cls": (model.head.classifier, "bias")})


def test_frozen_batch_norm_is_not_trained(on):
    model = build_model("resnet", 4, tiny=True, frozen_bn=True,
                        device=backend.device_of(on(np.zeros(1))))
    bn = model.backbone.layer1[0].main.bn1
    assert bn.frozen and bn.lr_mult == {"gamma": 0.0, "beta": 0.0}
    before = {k: v.copy() for k, v in bn.buffers.items()}
    gamma = bn.params["gamma"].copy()
    x = on(np.random.default_rng(0).standard_normal((2, 3, 33, 33)).astype(np.float32))
    opt = SGD(model, lr=0.1)
    model.zero_grad()
    model.backward(model(x))
    opt.step()
    for k, v in before.items():
        assert np.array_equal(backend.asnumpy(bn.buffers[k]), backend.asnumpy(v)), k
    assert np.array_equal(backend.asnumpy(bn.params["gamma"]), backend.asnumpy(gamma))


def test_head_learning_rate_multipliers():
    model = DeepLabResNet(3, "v2", **TINY)
    assert model.head.c0.lr_mult == {"weight": 10.0, "bias": 20.0}
    assert model.rates == (6, 12, 18, 24) and model.output_stride == 8
    v3 = DeepLabResNet(3, "v3", depth=(1, 1, 1, 3), width=1 / 16)
    assert v3.rates == (6, 12, 18) and v3.output_stride == 16
    assert v3.backbone.plan[3] == [(1, 2), (1, 4), (1, 8)]


def test_bad_arguments():
    with pytest.raises(ValueError, match="output_stride must be 8, 16 or 32, got 4"):
        ResNetBackbone(output_stride=4, **TINY)
    with pytest.raises(ValueError, match=r"multi_grid must have one factor per layer4 block "
                                         r"\(1\), got \(1, 2, 4\)"):
        ResNetBackbone(multi_grid=(1, 2, 4), **TINY)
    with pytest.raises(ValueError, match="depth must be one of"):
        ResNetBackbone(depth=34)
    with pytest.raises(ValueError, match=r"schedule must be one of \('paper', 'torchvision'\), "
                                         r"got 'caffe'"):
        ResNetBackbone(schedule="caffe", **TINY)
    with pytest.raises(ValueError, match="schedule"):
        DeepLabResNet(3, "v3", schedule="tf", **TINY)
    with pytest.raises(ValueError, match="head must be 'v2' or 'v3'"):
        DeepLabResNet(3, "v4", **TINY)
    with pytest.raises(ValueError, match="no default v2 rates for output_stride=32"):
        DeepLabResNet(3, "v2", output_stride=32, **TINY)
