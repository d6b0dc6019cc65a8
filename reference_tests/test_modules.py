"""Layers and containers: Sequential, Parallel, parameter names, state_dict, train/eval."""
import numpy as np
import pytest

from helpers import assert_close
from minideeplab import backend, functional as F, nn
from minideeplab.errors import ArgumentError
from module_check import check_module_gradients


def _small_net(device, seed=0):
    """conv - BN - ReLU - dropout - maxpool - conv: one of each kind of layer."""
    return nn.Sequential({
        "conv1": nn.Conv2d(2, 3, 3, padding=1, seed=seed, dtype="float64", device=device),
        "bn1": nn.BatchNorm2d(3, dtype="float64", device=device),
        "relu1": nn.ReLU(),
        "drop1": nn.Dropout(0.5, seed=seed + 1),
        "pool1": nn.MaxPool2d(3, 2, 1),
        "conv2": nn.Conv2d(3, 4, 1, seed=seed + 2, dtype="float64", device=device),
    })


def test_named_parameters_and_buffers(device):
    net = _small_net(device)
    names = [n for n, _ in net.named_parameters()]
    assert names == ["conv1.weight", "conv1.bias", "bn1.gamma", "bn1.beta", "conv2.weight",
                     "conv2.bias"]
    assert net.num_parameters() == 2 * 3 * 9 + 3 + 3 + 3 + 3 * 4 + 4
    state = net.state_dict()
    assert set(state) == set(names) | {"bn1.running_mean", "bn1.running_var"}
    assert net.bn1.decay_mult == {"gamma": 0.0, "beta": 0.0}


def test_state_dict_round_trip(device, on):
    net, other = _small_net(device, seed=0), _small_net(device, seed=10)
    x = on(np.random.default_rng(0).standard_normal((2, 2, 7, 7)))
    net.train()
    net(x)                                              # updates bn1's running statistics
    net.eval()
    other.eval()
    assert not np.allclose(backend.asnumpy(net(x)), backend.asnumpy(other(x)))
    saved = {k: backend.asnumpy(v).copy() for k, v in net.state_dict().items()}  # host copies
    other.load_state_dict(saved)
    assert_close(other(x), net(x), 0, 0)
    for k, v in other.state_dict().items():
        assert_close(v, saved[k], 0, 0, k)
    with pytest.raises(ArgumentError, match="missing keys"):
        other.load_state_dict({k: v for k, v in saved.items() if k != "bn1.running_var"})


def test_train_eval_reaches_every_layer(on, device):
    net = _small_net(device)
    x = on(np.random.default_rng(1).standard_normal((2, 2, 6, 6)))
    net.eval()
    assert all(not m.training for _, m in net.named_modules())
    y1, y2 = net(x), net(x)
    assert_close(y1, y2, 0, 0)                          # eval: no dropout, running statistics
    mean0 = net.bn1.buffers["running_mean"].copy()
    net(x)
    assert_close(net.bn1.buffers["running_mean"], mean0, 0, 0)   # eval: no update
    net.train()
    assert all(m.training for _, m in net.named_modules())
    t1, t2 = net(x), net(x)
    assert not np.allclose(backend.asnumpy(t1), backend.asnumpy(t2))   # new dropout masks
    assert not np.allclose(backend.asnumpy(net.bn1.buffers["running_mean"]),
                           backend.asnumpy(mean0))


def test_sequential_gradient_end_to_end(on, device):
    net = _small_net(device)
    net.train()
    x = on(np.random.default_rng(2).standard_normal((2, 2, 6, 5)))
    check_module_gradients(net, x, before_forward=lambda: net.drop1.reseed(5), max_checks=20)
    net.eval()
    check_module_gradients(net, x, max_checks=20)


def test_layers_match_their_functional_ops(on):
    rng = np.random.default_rng(3)
    x = on(rng.standard_normal((2, 3, 9, 8)))
    cases = [(nn.ReLU(), lambda x: F.relu(x)[0]),
             (nn.MaxPool2d(3, 2, 1), lambda x: F.max_pool2d(x, 3, 2, 1)[0]),
             (nn.AvgPool2d(3, 1, 1), lambda x: F.avg_pool2d(x, 3, 1, 1)[0]),
             (nn.GlobalAvgPool(), lambda x: F.global_avg_pool(x)[0]),
             (nn.ResizeBilinear((5, 11)), lambda x: F.resize_bilinear(x, (5, 11))[0]),
             (nn.ResizeBilinear(zoom_factor=4, align_corners=False),
              lambda x: F.resize_bilinear(x, (33, 29), align_corners=False)[0])]
    for layer, fn in cases:
        assert_close(layer(x), fn(x), 0, 0, repr(layer))
        check_module_gradients(layer, x, max_checks=20)
    resize = nn.ResizeBilinear((4, 4))
    assert resize(x, size=(6, 7)).shape == (2, 3, 6, 7)   # a per-call size wins
    with pytest.raises(ValueError, match="ResizeBilinear: no output size"):
        nn.ResizeBilinear()(x)


def test_batchnorm_layer_modes(on, device):
    rng = np.random.default_rng(4)
    x = on(rng.standard_normal((4, 3, 5, 5)) * 2 + 1)
    bn = nn.BatchNorm2d(3, momentum=0.5, dtype="float64", device=device)
    bn.train()
    y = backend.asnumpy(bn(x))
    assert_close(y.mean(axis=(0, 2, 3)), np.zeros(3), 0, 1e-12)    # batch statistics
    xs = backend.asnumpy(x)
    assert_close(bn.buffers["running_mean"], 0.5 * xs.mean(axis=(0, 2, 3)), 1e-12, 1e-12)
    assert_close(bn.buffers["running_var"], 0.5 + 0.5 * xs.var(axis=(0, 2, 3), ddof=1),
                 1e-12, 1e-12)
    check_module_gradients(bn, x, max_checks=30)
    frozen = nn.BatchNorm2d(3, frozen=True, freeze_affine=True, dtype="float64",
                            device=device)
    frozen.train()
    stats = {k: v.copy() for k, v in frozen.buffers.items()}
    y = frozen(x)
    assert_close(y, xs / np.sqrt(1 + 1e-5), 1e-12, 1e-12)          # running statistics
    for k, v in frozen.buffers.items():
        assert_close(v, stats[k], 0, 0, f"frozen BN updated {k}")
    assert frozen.lr_mult == {"gamma": 0.0, "beta": 0.0}
    check_module_gradients(frozen, x, max_checks=30)
    with pytest.raises(ValueError, match=r"x has 3 channels but gamma has shape \(2,\)"):
        nn.BatchNorm2d(2, dtype="float64", device=device)(x)


def test_dropout_layer(on):
    x = on(np.ones((2, 4, 8, 8)))
    drop = nn.Dropout(0.5, seed=3)
    y1 = drop(x)
    dx = drop.backward(x)
    assert_close(dx, y1, 0, 0)                            # backward uses the forward's mask
    drop.reseed(3)
    assert_close(drop(x), y1, 0, 0)                      # same seed, same mask
    assert not np.allclose(backend.asnumpy(drop(x)), backend.asnumpy(y1))
    drop.eval()
    assert_close(drop(x), x, 0, 0)


@pytest.mark.parametrize("combine", ["sum", "concat"])
def test_parallel(combine, on, device):
    rng = np.random.default_rng(5)
    x = on(rng.standard_normal((2, 3, 7, 6)))
    branches = {f"b{r}": nn.Conv2d(3, 2, 3, padding=r, rate=r, seed=r, dtype="float64",
                                   device=device) for r in (1, 2, 3)}
    par = nn.Parallel(branches, combine=combine)
    outs = [backend.asnumpy(b(x)) for b in branches.values()]
    expected = sum(outs) if combine == "sum" else np.concatenate(outs, axis=1)
    assert_close(par(x), expected, 1e-12, 1e-12)
    assert [n for n, _ in par.named_parameters()][:2] == ["b1.weight", "b1.bias"]
    check_module_gradients(par, x, max_checks=15)


def test_parallel_bad_input(device):
    with pytest.raises(ValueError, match="unknown combine 'max'"):
        nn.Parallel([nn.ReLU()], combine="max")
    with pytest.raises(TypeError, match="branch '1' is a int, not a Module"):
        nn.Parallel([nn.ReLU(), 3])
    with pytest.raises(ValueError, match="at least one Module"):
        nn.Parallel([])
