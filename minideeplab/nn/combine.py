"""Parallel branches on one input, their outputs summed or concatenated (ASPP's container)."""
from .. import functional as F
from ..errors import ArgumentError
from .module import Module

__all__ = ["Parallel"]

COMBINE = ("sum", "concat")


class Parallel(Module):
    """Run every branch on the same input and combine their outputs.

    ``combine="sum"``: ``y = b_1(x) + ... + b_B(x)``, DeepLab v2's ASPP (VGG: four
    fc6-fc7-fc8 branches; ResNet-101: four 3x3 convolutions straight to the classes), Sec. 3.3.
    ``combine="concat"``: ``y = [b_1(x), ..., b_B(x)]`` along the channels, DeepLab v3's ASPP.

    The backward pass gives each branch its part of ``dy`` and sums the branches' input
    gradients, since x fans out to every branch.

    Parameters
    ----------
    branches : list of Modules (named "0", "1", ...) or dict name -> Module
    combine : "sum" | "concat"

    Shapes: x (N, C, H, W) -> each branch (N, C_b, H', W') -> y (N, C_1, H', W') for "sum"
    (all C_b equal), (N, C_1 + ... + C_B, H', W') for "concat".
    """

    def __init__(self, branches, combine="sum"):
        super().__init__()
        if combine not in COMBINE:
            raise ArgumentError(f"Parallel: unknown combine {combine!r}; choose one of {COMBINE}")
        items = (list(branches.items()) if isinstance(branches, dict)
                 else [(str(i), b) for i, b in enumerate(branches)])
        if not items:
            raise ArgumentError("Parallel: branches must hold at least one Module")
        for name, b in items:
            if not isinstance(b, Module):
                raise ArgumentError(f"Parallel: branch {name!r} is a {type(b).__name__}, "
                                    "not a Module")
            setattr(self, name, b)
        self.branches = [b for _, b in items]
        self.combine = combine

    def forward(self, x):
        outs = [b(x) for b in self.branches]
        op = F.add if self.combine == "sum" else F.concat
        y, self.cache = op(outs)
        return y

    def backward(self, dy):
        back = F.add_backward if self.combine == "sum" else F.concat_backward
        dys = back(dy, self.saved_cache())
        dx = None
        for b, dy_b in zip(self.branches, dys):
            g = b.backward(dy_b)
            dx = g if dx is None else dx + g
        return dx

    def __getitem__(self, i):
        return self.branches[i]

    def __len__(self):
        return len(self.branches)

    def __repr__(self):
        inner = "\n".join("  " + repr(b).replace("\n", "\n  ") for b in self.branches)
        return f"Parallel(combine={self.combine!r},\n{inner}\n)"
