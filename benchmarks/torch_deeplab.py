"""The PyTorch side of ``bench_train_step.py``: the same networks, built in PyTorch.

Runs under a Python with torch (and torchvision for its DeepLabV3), never minideeplab's: the
driver describes minideeplab's network as a JSON tree (``bench_train_step.describe``) and
:func:`build` makes the same layers with the same names here, so both sides train the same
network and their per-layer times can be matched by name. torchvision's DeepLabV3 is taken
from torchvision itself (``--net v3-resnet50``).

Each worker times one training step: zero the gradients, forward, softmax cross-entropy at
output stride 8 (ignore label 255), backward, SGD with momentum 0.9 and weight decay 5e-4.
ReLUs are in place, as in torchvision; while the layers are timed (hooks cannot follow an
in-place ReLU) they are not.
"""
import json
import time

import torch
import torch.nn.functional as TF
from torch import nn

from side_by_side import current_rss_mb, serve


class Seq(nn.Module):
    def __init__(self, children):
        super().__init__()
        for name, child in children:
            self.add_module(name, child)

    def forward(self, x):
        for child in self.children():
            x = child(x)
        return x


class Sum(nn.Module):
    """Parallel branches on one input, outputs summed (DeepLab v2's ASPP)."""

    def __init__(self, children):
        super().__init__()
        for name, child in children:
            self.add_module(name, child)

    def forward(self, x):
        branches = list(self.children())
        y = branches[0](x)
        for b in branches[1:]:
            y = y + b(x)
        return y


class Residual(nn.Module):
    """ResNet's bottleneck: relu(main(x) + shortcut(x)), torchvision's in-place sum."""

    inplace = True

    def __init__(self, main, shortcut, relu):
        super().__init__()
        self.main = main
        if shortcut is not None:
            self.shortcut = shortcut
        self.relu = relu

    def forward(self, x):
        identity = self.shortcut(x) if hasattr(self, "shortcut") else x
        out = self.main(x)
        if self.inplace:
            out += identity
        else:
            out = out + identity
        return self.relu(out)


def _bottleneck_forward(self, x):
    """torchvision's Bottleneck.forward with the residual sum out of place (for the hooks)."""
    identity = self.downsample(x) if self.downsample is not None else x
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.relu(self.bn2(self.conv2(out)))
    return self.relu(self.bn3(self.conv3(out)) + identity)


def build(spec):
    """A PyTorch module from minideeplab's JSON description (see bench_train_step.describe)."""
    kind = spec["kind"]
    if kind == "seq":
        return Seq([(name, build(child)) for name, child in spec["children"]])
    if kind == "sum":
        return Sum([(name, build(child)) for name, child in spec["children"]])
    if kind == "residual":
        shortcut = build(spec["shortcut"]) if spec["shortcut"] else None
        return Residual(build(spec["main"]), shortcut, build(spec["relu"]))
    if kind == "conv":
        return nn.Conv2d(spec["in"], spec["out"], spec["kernel"], stride=spec["stride"],
                         padding=spec["padding"], dilation=spec["rate"], bias=spec["bias"])
    if kind == "relu":
        return nn.ReLU(inplace=True)
    if kind == "dropout":
        return nn.Dropout(spec["p"])
    if kind == "maxpool":
        return nn.MaxPool2d(spec["kernel"], spec["stride"], spec["padding"],
                            ceil_mode=spec["ceil_mode"])
    if kind == "bn":
        bn = nn.BatchNorm2d(spec["channels"], eps=spec["eps"], momentum=spec["momentum"])
        if spec["frozen"]:                    # running statistics, gamma and beta fixed
            bn.requires_grad_(False)
            bn.train = lambda mode=True: bn   # stays in eval mode
            nn.Module.train(bn, False)
        return bn
    raise ValueError(f"unknown layer kind {kind!r}")


def torchvision_model(arch, num_classes):
    from torchvision.models import segmentation
    tv = getattr(segmentation, arch)(weights=None, weights_backbone=None,
                                     num_classes=num_classes, aux_loss=False)

    class Logits(nn.Module):                  # the logits at output stride 8, not upsampled
        def __init__(self):
            super().__init__()
            self.backbone, self.classifier = tv.backbone, tv.classifier

        def forward(self, x):
            return self.classifier(self.backbone(x)["out"])
    return Logits()


def _kind(module):
    return {"Conv2d": "conv", "BatchNorm2d": "bn", "ReLU": "relu", "MaxPool2d": "maxpool",
            "Dropout": "dropout", "AdaptiveAvgPool2d": "avgpool"}.get(type(module).__name__,
                                                                     type(module).__name__)


def layer_times(model, step):
    """One step with hooks on every leaf module: {name: [kind, kernel, forward s, backward s]}."""
    times, handles, stack = {}, [], {}
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU) and m.inplace]
    for m in relus:
        m.inplace = False                     # a full backward hook cannot follow in-place ops
    Residual.inplace = False
    bottlenecks = [m for m in model.modules() if type(m).__name__ == "Bottleneck"]
    for m in bottlenecks:
        m.forward = _bottleneck_forward.__get__(m)
    for name, m in model.named_modules():
        if list(m.children()):
            continue
        kernel = list(m.kernel_size) if isinstance(m, nn.Conv2d) else None
        times[name] = [_kind(m), kernel, 0.0, 0.0]

        def pre(mod, *args, name=name, key="f"):
            stack[name, key] = time.perf_counter()

        def post(mod, *args, name=name, key="f", col=2):
            times[name][col] += time.perf_counter() - stack.pop((name, key))
        handles += [m.register_forward_pre_hook(pre), m.register_forward_hook(post),
                    m.register_full_backward_pre_hook(lambda mod, go, name=name:
                                                      pre(mod, name=name, key="b")),
                    m.register_full_backward_hook(lambda mod, gi, go, name=name:
                                                  post(mod, name=name, key="b", col=3))]
    try:
        extra = step(hooked=True)
    finally:
        for h in handles:
            h.remove()
        for m in relus:
            m.inplace = True
        Residual.inplace = True
        for m in bottlenecks:
            del m.forward
    return dict(layers=times, **extra)


def worker(spec, batch, size, threads, repeats):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rss_imports = current_rss_mb()
    if spec["kind"] == "torchvision":
        model = torchvision_model(spec["arch"], spec["num_classes"])
    else:
        model = build(spec)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9, weight_decay=5e-4)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, size, size, generator=gen)
    with torch.no_grad():
        out_shape = tuple(model(x).shape[2:])
    labels = torch.randint(0, spec["num_classes"], (batch,) + out_shape, generator=gen)
    rss_loaded = current_rss_mb()

    def step(hooked=False):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        xin = x.requires_grad_(True) if hooked else x    # so conv1's backward hook fires last
        loss = TF.cross_entropy(model(xin), labels, ignore_index=255)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if hooked:
            x.requires_grad_(False)
            x.grad = None
        return dict(forward=t1 - t0, backward=t2 - t1, sgd=t3 - t2, total=t3 - t0)

    step()                                                # warm-up
    info = dict(params=sum(p.numel() for p in model.parameters()), out_shape=out_shape,
                rss_imports_mb=rss_imports, rss_loaded_mb=rss_loaded,
                version=torch.__version__, threads=torch.get_num_threads())
    serve(step, layers=lambda: layer_times(model, step), info=info)


if __name__ == "__main__":
    import sys
    spec, batch, size, threads, repeats = json.loads(sys.argv[1])
    worker(spec, batch, size, threads, repeats)
