"""The ResNet backbone in miniature: output stride, multi-grid, multi-scale inputs.

DeepLab v2, Sec. 3.1 and 4.1 ("we re-purpose ResNet-101 by atrous convolution"; multi-scale
inputs, Table 4's MSC) and DeepLab v3, Sec. 3.1-3.2 (output stride, multi-grid). Everything here
runs a tiny ResNet (:data:`minideeplab.models.resnet.TINY_RESNET` widths, any depth) on a crop
of the sample photo, and measures what the notebook shows: the maps at output stride 8, 16
and 32, whether they agree where they overlap (exactly with torchvision's schedule; not with
the paper's, whose first 3x3 of a converted stage reads other pixels: see
:mod:`minideeplab.models.resnet`), their cost in multiply-adds, receptive fields.
``schedule`` is the backbone's (``"paper"`` by default).
"""
from collections import namedtuple

import numpy as np

from .. import functional as F
from ..data import sample_photo
from ..models.fov import receptive_field
from ..models.resnet import RESNET_DEPTHS, ResNetBackbone, stage_strides_and_rates

__all__ = ["OUTPUT_STRIDES", "photo_batch", "backbones", "count_conv_macs",
           "resnet_geometry", "resnet_receptive_field", "OutputStrideResult", "output_strides",
           "MscResult", "multi_scale"]

OUTPUT_STRIDES = (32, 16, 8)


def photo_batch(size=129, top=170, left=190):
    """A (1, 3, size, size) float32 crop of the sample photo (the face), centred to 0."""
    img = sample_photo().astype(np.float32)[top:top + size, left:left + size] / 255.0
    return np.ascontiguousarray((img - 0.5).transpose(2, 0, 1)[None])


def backbones(depth=(1, 1, 1, 1), width=1 / 8, multi_grid=None, seed=0, schedule="paper"):
    """One ResNet trunk per output stride, in eval mode, with the *same* weights (the same
    seed: the stride and rate do not change any parameter's shape)."""
    return {os_: ResNetBackbone(depth, width, os_, multi_grid, schedule=schedule,
                                seed=seed).eval()
            for os_ in OUTPUT_STRIDES}


def count_conv_macs(run):
    """Run ``run()`` with every convolution counted; returns its multiply-adds,
    ``N * O * OH * OW * C * KH * KW`` summed over the calls (forward only)."""
    conv2d, total = F.conv2d, [0]

    def counted(x, w, *args, **kwargs):
        y, cache = conv2d(x, w, *args, **kwargs)
        total[0] += int(np.prod(y.shape)) * int(np.prod(w.shape[1:]))
        return y, cache
    F.conv2d = counted
    try:
        run()
    finally:
        F.conv2d = conv2d
    return total[0]


def resnet_geometry(output_stride, depth=101, multi_grid=None, schedule="paper"):
    """(kernel, stride, rate) of the layers along ResNet's main path (stem, then each
    bottleneck's 1x1, 3x3, 1x1), for :func:`minideeplab.models.fov.receptive_field`."""
    blocks = RESNET_DEPTHS.get(depth, depth)
    chain = [(7, 2, 1), (3, 2, 1)]                        # conv1 7x7/2, max pool 3x3/2
    for stage in stage_strides_and_rates(output_stride, blocks, multi_grid, schedule):
        for stride, rate in stage:
            chain += [(1, 1, 1), (3, stride, rate), (1, 1, 1)]
    return chain


def resnet_receptive_field(output_stride, depth=101, multi_grid=None, schedule="paper"):
    """Theoretical receptive field and jump (input pixels) of one output unit of the trunk."""
    return receptive_field(resnet_geometry(output_stride, depth, multi_grid, schedule))


OutputStrideResult = namedtuple("OutputStrideResult", "features macs max_diff")
OutputStrideResult.__doc__ = """features: {output stride: (1, C, h, w) trunk output};
macs: {output stride: multiply-adds of the forward pass}; max_diff: {output stride:
max |features[os][::32/os, ::32/os] - features[32]|}, the equality where both exist."""


def output_strides(x=None, **kwargs):
    """Run the trunks of :func:`backbones` (``kwargs``: its arguments) on ``x`` (default
    :func:`photo_batch`)."""
    x = photo_batch() if x is None else x
    nets = backbones(**kwargs)
    features, macs = {}, {}
    for os_, net in nets.items():
        macs[os_] = count_conv_macs(lambda: features.__setitem__(os_, net(x)))
    ref = features[32]
    max_diff = {os_: float(np.abs(f[:, :, ::32 // os_, ::32 // os_] - ref).max())
                for os_, f in features.items()}
    return OutputStrideResult(features, macs, max_diff)


MscResult = namedtuple("MscResult", "scales per_scale fused winner")
MscResult.__doc__ = """scales; per_scale: the score maps (1, L, h, w) of each scale, resized
to the scale-1 map; fused: MultiScale's output; winner: (1, L, h, w) index of the scale that
won the max at each position and class."""


def multi_scale(x=None, scales=(1.0, 0.75, 0.5), num_classes=5, seed=0):
    """A tiny DeepLab-ResNet (v2 head, output stride 8, random weights) run by
    :class:`minideeplab.models.MultiScale` on ``x``, and each scale by hand."""
    from ..models import DeepLabResNet, MultiScale
    from ..models.msc import scaled_size
    x = photo_batch() if x is None else x
    net = DeepLabResNet(num_classes, "v2", depth=(1, 1, 1, 1), width=1 / 8, seed=seed).eval()
    fused = MultiScale(net, scales)(x)
    H, W = x.shape[2:]
    per_scale = []
    for s in scales:
        xs = x if s == 1.0 else F.resize_bilinear(x, (scaled_size(H, s), scaled_size(W, s)))[0]
        y = net(xs)
        if y.shape[2:] != fused.shape[2:]:
            y = F.resize_bilinear(y, fused.shape[2:])[0]
        per_scale.append(y)
    winner = np.stack(per_scale).argmax(axis=0)
    return MscResult(tuple(scales), per_scale, fused, winner)
