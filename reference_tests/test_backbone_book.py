"""The backbone notebook's measurements (minideeplab.paper.backbone) against independent
arithmetic: multiply-adds of known layers, the receptive field of a plain chain, the equality
of the output strides, max fusion."""
import numpy as np

from minideeplab import functional as F, nn
from minideeplab.models.fov import receptive_field
from minideeplab.paper import backbone


def test_count_conv_macs_counts_each_call():
    x = np.zeros((2, 3, 11, 11), np.float32)
    a = nn.Conv2d(3, 4, 3, padding=2, rate=2, seed=0)
    b = nn.Conv2d(4, 5, 1, stride=2, seed=0)
    macs = backbone.count_conv_macs(lambda: b(a(x)))
    assert macs == 2 * 4 * 11 * 11 * 3 * 9 + 2 * 5 * 6 * 6 * 4
    assert F.conv2d.__name__ == "conv2d"                     # the library's function is back


def test_resnet_geometry_is_the_plain_chain_and_atrous_keeps_the_receptive_field():
    chain = backbone.resnet_geometry(32, (1, 1, 1, 1))
    assert chain == [(7, 2, 1), (3, 2, 1)] + [g for s in (1, 2, 2, 2)
                                              for g in ((1, 1, 1), (3, s, 1), (1, 1, 1))]
    rf32 = backbone.resnet_receptive_field(32, 101)
    for os_ in (16, 8):
        rf, jump = backbone.resnet_receptive_field(os_, 101, schedule="torchvision")
        assert rf == rf32[0] and jump == os_
    # the paper's schedule widens the first 3x3 of each converted stage, whose units are the
    # output stride apart: rate 1 -> 2 at output stride 16; 1 -> 2 (layer3) and 2 -> 4 at 8
    k_e = lambda r: 3 + 2 * (r - 1)                                    # noqa: E731
    assert backbone.resnet_receptive_field(16, 101)[0] == rf32[0] + (k_e(2) - k_e(1)) * 16
    assert backbone.resnet_receptive_field(8, 101)[0] == \
        rf32[0] + (k_e(2) - k_e(1)) * 8 + (k_e(4) - k_e(2)) * 8
    assert backbone.resnet_receptive_field(16, 101, (1, 2, 4))[0] > rf32[0]
    assert receptive_field(chain) == backbone.resnet_receptive_field(32, (1, 1, 1, 1))


def test_output_strides_agree_where_they_overlap_and_msc_is_the_max():
    x = backbone.photo_batch(33)
    r = backbone.output_strides(x, schedule="torchvision")
    assert {k: v.shape[2] for k, v in r.features.items()} == {32: 2, 16: 3, 8: 5}
    assert max(r.max_diff.values()) < 1e-4 and r.macs[8] > r.macs[16] > r.macs[32]
    paper = backbone.output_strides(x)                   # the first 3x3s read other pixels
    assert paper.max_diff[32] == 0 and min(paper.max_diff[8], paper.max_diff[16]) > 1e-3
    m = backbone.multi_scale(x)
    assert np.array_equal(m.fused, np.max(np.stack(m.per_scale), axis=0))
    assert np.array_equal(np.take_along_axis(np.stack(m.per_scale), m.winner[None], 0)[0],
                          m.fused)
