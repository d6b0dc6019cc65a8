"""Multi-scale inputs fused by max (DeepLab v2, Sec. 4.1, "MSC").

"We separately feed to the DCNN images at scale = {0.5, 0.75, 1}, fusing their score maps by
taking the maximum response across scales for each position separately" (Sec. 4.1, after
Chen et al. 2016). One network (shared weights) runs on each rescaled input; the score maps of
the smaller inputs are resized bilinearly to the size of the scale-1 score map; the fused map
is their element-wise maximum::

    y = max_s  resize(net(resize(x, s)), size of net(x))

Sizes follow Caffe's ``Interp`` layer: an input of H pixels at scale s has
``floor((H - 1) s) + 1`` pixels (321 -> 241 -> 161 at 0.75 and 0.5, all ``8k + 1`` sizes), and
every resize is bilinear with ``align_corners=True``. (The Caffe release also adds a loss on
each scale's own score map during training; this module returns the fused map only.)

Training through it. The backward pass sends ``dy`` to the scale that won the max at each
position, through that scale's output resize, network and input resize, and sums the three
input gradients. Each layer keeps only the cache of its *last* forward pass, so after the
forward pass the network's caches belong to the last scale. Rather than recomputing each
scale's forward pass (which would draw new dropout masks and update batch-norm statistics
twice), the forward pass keeps each scale's caches (references, no copies) and the backward
pass puts them back before running the network's backward for that scale. This needs the
network's layers to keep all they need for ``backward`` in their ``cache`` attribute, the
library's convention (:mod:`minideeplab.nn.module`). Parameter gradients accumulate across the
scales (:meth:`Module.accumulate_grad`), which is exactly the gradient of shared weights.

Shapes: x (N, C, H, W) -> y (N, L, h, w), (h, w) the network's output size on x itself.
"""
import math
from collections import namedtuple

from .. import backend, functional as F, nn
from ..errors import ArgumentError

__all__ = ["MSC_SCALES", "MultiScale", "scaled_size"]

MSC_SCALES = (1.0, 0.75, 0.5)

_ScaleState = namedtuple("_ScaleState", "in_cache out_cache layer_caches")


def scaled_size(size, scale):
    """Caffe ``Interp`` size of a ``size``-pixel side at ``scale``: ``floor((size-1) s) + 1``."""
    return int(math.floor((size - 1) * scale + 1e-9)) + 1


class MultiScale(nn.Module):
    """Run ``net`` on several scales of the input and fuse the score maps by maximum.

    Parameters
    ----------
    net : Module, x (N, C, H, W) -> scores (N, L, h, w), with ``backward``
    scales : tuple of floats in (0, 1]; must contain 1.0 (the output has the scale-1 size);
        default (1, 0.75, 0.5), the paper's
    align_corners : resizing convention (True: Caffe's Interp, DeepLab's)

    The child ``net`` is the network itself (its ``state_dict`` keys start with ``net.``).
    """

    def __init__(self, net, scales=MSC_SCALES, *, align_corners=True):
        super().__init__()
        if not isinstance(net, nn.Module):
            raise ArgumentError(f"MultiScale: net must be a Module, got {type(net).__name__}")
        scales = tuple(float(s) for s in scales)
        if (not scales or any(not 0 < s <= 1 for s in scales) or 1.0 not in scales
                or len(set(scales)) != len(scales)):
            raise ArgumentError(f"MultiScale: scales must be distinct numbers in (0, 1] that "
                                f"include 1.0, got {scales!r}")
        self.net = net
        self.scales = (1.0,) + tuple(s for s in scales if s != 1.0)   # scale 1 first
        self.align_corners = align_corners
        self.output_stride = getattr(net, "output_stride", None)

    def _layers(self):
        return [m for _, m in self.net.named_modules()]

    def forward(self, x):
        """Fused scores (N, L, h, w); each scale's caches are kept for :meth:`backward`."""
        N, C, H, W = x.shape
        layers = self._layers()
        outputs, states = [], []
        for s in self.scales:
            in_cache = None
            xs = x
            if s != 1.0:
                xs, in_cache = F.resize_bilinear(x, (scaled_size(H, s), scaled_size(W, s)),
                                                 align_corners=self.align_corners)
            ys = self.net(xs)
            out_cache = None
            if outputs and ys.shape[2:] != outputs[0].shape[2:]:
                ys, out_cache = F.resize_bilinear(ys, outputs[0].shape[2:],
                                                  align_corners=self.align_corners)
            outputs.append(ys)
            states.append(_ScaleState(in_cache, out_cache, [m.cache for m in layers]))
        xp = backend.get_array_module(x)
        stacked = xp.stack(outputs)                        # (S, N, L, h, w)
        winner = stacked.argmax(axis=0)                    # (N, L, h, w); ties: first scale
        fused = xp.take_along_axis(stacked, winner[None], axis=0)[0]
        self.cache = (winner, states, layers)
        return fused

    def backward(self, dy):
        """dx (N, C, H, W): each position's gradient goes to the scale that won its max."""
        if self.cache is None:
            raise RuntimeError("MultiScale.backward: call forward first (the caches of a "
                               "forward pass are used once)")
        winner, states, layers = self.cache
        xp = backend.get_array_module(dy)
        if tuple(dy.shape) != tuple(winner.shape):
            raise ArgumentError(f"MultiScale.backward: dy.shape={tuple(dy.shape)} does not match "
                                f"the output shape {tuple(winner.shape)}")
        zero = xp.zeros((), dtype=dy.dtype)
        dx = None
        for k in reversed(range(len(self.scales))):       # the last scale's caches are live
            state = states[k]
            dys = xp.where(winner == k, dy, zero)
            if state.out_cache is not None:
                dys = F.resize_bilinear_backward(dys, state.out_cache)
            for m, c in zip(layers, state.layer_caches):
                m.cache = c
            dxs = self.net.backward(dys)
            if state.in_cache is not None:
                dxs = F.resize_bilinear_backward(dxs, state.in_cache)
            dx = dxs if dx is None else dx + dxs
        self.cache = None                                 # free the scales' caches
        return dx

    def __repr__(self):
        return f"MultiScale(scales={self.scales}, net={type(self.net).__name__})"
