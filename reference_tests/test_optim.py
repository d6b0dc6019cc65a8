"""SGD (Caffe's update) and the learning-rate schedules, against values worked out by hand.

The expected numbers below were computed with pen and paper from Caffe's update
``g' = g + wd*decay_mult*w; v = m*v + lr*lr_mult*g'; w -= v`` (not from this code's output);
the arithmetic is written out in the comments so that a reader can redo it.
"""
import numpy as np
import pytest

from helpers import assert_close
from minideeplab import nn
from minideeplab.errors import ArgumentError
from minideeplab.optim import SGD, make_schedule, poly_lr, step_lr, warmup_factor


class _Classifier(nn.Module):
    """A stand-in for fc8: weight lr x10, bias lr x20 and no decay on the bias (DeepLab's)."""

    def __init__(self, w, b):
        super().__init__()
        self.params = {"weight": w, "bias": b}
        self.lr_mult = {"weight": 10.0, "bias": 20.0}
        self.decay_mult = {"bias": 0.0}


class _Net(nn.Module):
    def __init__(self, head):
        super().__init__()
        self.head = head


def _net(on, w=(1.0, -1.0), b=(0.5,)):
    return _Net(_Classifier(on(np.array(w)), on(np.array(b))))


def _set_grads(net, on, gw=(0.1, 0.2), gb=(0.3,)):
    net.head.grads = {"weight": on(np.array(gw)), "bias": on(np.array(gb))}


def test_three_steps_by_hand_with_lr_and_decay_multipliers(on):
    # lr 0.01, momentum 0.9, wd 0.1; weight: local lr 0.1, local decay 0.1;
    # bias: local lr 0.2, no decay. Gradients constant: gw = (0.1, 0.2), gb = 0.3.
    #
    # weight[0]: w=1      g'=0.1+0.1*1      =0.2      v=0.1*0.2            =0.02     w=0.98
    #            w=0.98   g'=0.1+0.098      =0.198    v=0.018+0.0198       =0.0378   w=0.9422
    #            w=0.9422 g'=0.1+0.09422    =0.19422  v=0.03402+0.019422   =0.053442 w=0.888758
    # weight[1]: w=-1     g'=0.2-0.1        =0.1      v=0.01                         w=-1.01
    #            w=-1.01  g'=0.2-0.101      =0.099    v=0.009+0.0099       =0.0189   w=-1.0289
    #            w=-1.0289 g'=0.2-0.10289   =0.09711  v=0.01701+0.009711   =0.026721 w=-1.055621
    # bias:      g'=0.3 always; v=0.06, 0.054+0.06=0.114, 0.1026+0.06=0.1626
    #            b=0.5-0.06=0.44, 0.44-0.114=0.326, 0.326-0.1626=0.1634
    expected_w = [(0.98, -1.01), (0.9422, -1.0289), (0.888758, -1.055621)]
    expected_b = [0.44, 0.326, 0.1634]
    expected_vw = [(0.02, 0.01), (0.0378, 0.0189), (0.053442, 0.026721)]
    net = _net(on)
    w_array, b_array = net.head.params["weight"], net.head.params["bias"]
    opt = SGD(net, lr=0.01, momentum=0.9, weight_decay=0.1)
    for step in range(3):
        _set_grads(net, on)
        opt.step()
        assert_close(net.head.params["weight"], np.array(expected_w[step]), 1e-12, 1e-12,
                     f"weight after step {step + 1}")
        assert_close(net.head.params["bias"], np.array([expected_b[step]]), 1e-12, 1e-12,
                     f"bias after step {step + 1}")
        assert_close(opt.state_dict()["head.weight"], np.array(expected_vw[step]), 1e-12,
                     1e-12, f"velocity after step {step + 1}")
    # updated in place: the module still holds the very same arrays
    assert net.head.params["weight"] is w_array and net.head.params["bias"] is b_array


def test_caffe_update_differs_from_pytorch_when_lr_changes(on):
    # w = 1, g = 1, m = 0.9, no decay; lr 0.1 then 0.05.
    # Caffe:   v1 = 0.1, w = 0.9;  v2 = 0.9*0.1 + 0.05*1 = 0.14,  w = 0.76
    # PyTorch: v1 = 1,   w = 0.9;  v2 = 0.9*1 + 1 = 1.9,  w = 0.9 - 0.05*1.9 = 0.805
    net = _net(on, w=(1.0,), b=(0.0,))
    net.head.lr_mult = {}
    net.head.decay_mult = {}
    opt = SGD(net, momentum=0.9, weight_decay=0.0)
    for lr in (0.1, 0.05):
        net.head.grads = {"weight": on(np.array([1.0])), "bias": on(np.array([0.0]))}
        opt.step(lr)
    assert_close(net.head.params["weight"], np.array([0.76]), 1e-12, 1e-12)
    assert abs(float(net.head.params["weight"][0]) - 0.805) > 0.04


def test_float32_stays_float32(on):
    net = _net(on)
    net.head.params = {k: v.astype(np.float32) for k, v in net.head.params.items()}
    opt = SGD(net, lr=0.01, weight_decay=0.1)
    net.head.grads = {k: v.astype(np.float32) for k, v in
                      {"weight": on(np.array([0.1, 0.2])), "bias": on(np.array([0.3]))}.items()}
    opt.step(0.5)
    assert all(v.dtype == np.float32 for v in net.head.params.values())
    assert all(v.dtype == np.float32 for v in opt.state_dict().values())


def test_step_does_not_modify_the_gradients(on):
    net = _net(on)
    opt = SGD(net, lr=0.01, weight_decay=0.1)
    _set_grads(net, on)
    g = net.head.grads["weight"]
    opt.step()
    assert_close(g, np.array([0.1, 0.2]), 0, 0)


def test_lr_mult_zero_freezes_without_a_gradient(on):
    net = _net(on)
    net.head.lr_mult = {"weight": 0.0, "bias": 0.0}
    before = net.head.params["weight"].copy()
    SGD(net, lr=0.1).step()                       # no gradients at all: frozen, so fine
    assert_close(net.head.params["weight"], before, 0, 0)


def test_missing_gradient_is_an_error(on):
    net = _net(on)
    opt = SGD(net, lr=0.1)
    _set_grads(net, on)
    opt.zero_grad()
    assert net.head.grads == {}
    with pytest.raises(RuntimeError, match=r"'head.weight' \(2,\) has no gradient"):
        opt.step()


def test_bad_arguments():
    net = _net(lambda a: a)
    with pytest.raises(ValueError, match="momentum must be <= 1"):
        SGD(net, momentum=1.5)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        SGD(net, lr=-1)
    with pytest.raises(TypeError, match="model must be a minideeplab.nn.Module"):
        SGD({"w": np.zeros(2)})
    net.head.grads = {"weight": np.zeros(3), "bias": np.zeros(1)}
    with pytest.raises(ValueError, match=r"gradient of 'head.weight' has shape \(3,\)"):
        SGD(net).step()


def test_state_dict_round_trip_continues_exactly(on):
    def run(steps, opt, net):
        for _ in range(steps):
            _set_grads(net, on, gw=(0.1, -0.3), gb=(0.05,))
            opt.step()

    net_a = _net(on)
    opt_a = SGD(net_a, lr=0.01, weight_decay=0.1)
    run(4, opt_a, net_a)

    net_b = _net(on)
    opt_b = SGD(net_b, lr=0.01, weight_decay=0.1)
    run(2, opt_b, net_b)
    saved_model = {k: v.copy() for k, v in net_b.state_dict().items()}
    saved_opt = {k: v.copy() for k, v in opt_b.state_dict().items()}
    net_c = _net(on, w=(7.0, 7.0), b=(7.0,))
    opt_c = SGD(net_c, lr=0.01, weight_decay=0.1)
    net_c.load_state_dict(saved_model)
    opt_c.load_state_dict(saved_opt)
    run(2, opt_c, net_c)
    for k in net_a.state_dict():
        assert_close(net_c.state_dict()[k], net_a.state_dict()[k], 0, 0, k)

    with pytest.raises(ArgumentError, match=r"missing keys \['head.bias'\]"):
        opt_c.load_state_dict({"head.weight": saved_opt["head.weight"]})
    with pytest.raises(ValueError, match=r"'head.bias' has shape \(2,\)"):
        opt_c.load_state_dict({"head.weight": saved_opt["head.weight"],
                               "head.bias": np.zeros(2)})


def test_poly_lr_by_hand():
    assert poly_lr(0.01, 0, 100) == 0.01
    assert poly_lr(0.01, 100, 100) == 0.0
    assert poly_lr(1.0, 25, 100, power=2) == pytest.approx(0.5625, abs=1e-15)   # 0.75^2
    assert poly_lr(1.0, 50, 100, power=1) == pytest.approx(0.5, abs=1e-15)
    # 0.5^0.9 = exp(-0.9 ln 2) = exp(-0.6238324625) = 0.5358867313
    assert poly_lr(1e-3, 10000, 20000) == pytest.approx(5.358867313e-4, rel=1e-9)
    with pytest.raises(ValueError, match="it must be <= max_iter"):
        poly_lr(0.1, 101, 100)
    with pytest.raises(ValueError, match="max_iter must be >= 1"):
        poly_lr(0.1, 0, 0)


def test_step_lr_by_hand():
    assert step_lr(0.1, 0, 1000) == 0.1
    assert step_lr(0.1, 999, 1000) == 0.1
    assert step_lr(0.1, 1000, 1000) == pytest.approx(0.01, rel=1e-12)
    assert step_lr(0.1, 2500, 1000) == pytest.approx(0.001, rel=1e-12)
    assert step_lr(1.0, 3, 1, gamma=0.5) == 0.125
    with pytest.raises(ValueError, match="gamma must be <= 1"):
        step_lr(0.1, 0, 10, gamma=2)
    with pytest.raises(TypeError, match="it must be an integer"):
        step_lr(0.1, 1.5, 10)


def test_make_schedule():
    poly = make_schedule("poly", 1.0, 100, power=1)
    assert poly(50) == pytest.approx(0.5)
    step = make_schedule("step", 1.0, 90)         # step size 30 by default
    assert (step(29), step(30)) == (1.0, pytest.approx(0.1))
    with pytest.raises(ValueError, match="unknown policy 'cosine'"):
        make_schedule("cosine", 1.0, 10)


def test_warmup_by_hand():
    # linear over the first 4 iterations: 1/4, 2/4, 3/4, then 1
    assert [warmup_factor(it, 4) for it in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert warmup_factor(0, 0) == warmup_factor(7, 0) == 1.0          # no warm-up
    # poly with power 1 over 100 iterations, warm-up 10: it 4 -> (1 - 0.04) * 5/10 = 0.48
    warm = make_schedule("poly", 1.0, 100, power=1, warmup_iter=10)
    assert warm(4) == pytest.approx(0.48, abs=1e-15)
    assert warm(9) == pytest.approx(0.91, abs=1e-15)                  # (1 - 0.09) * 1
    assert warm(50) == pytest.approx(0.5, abs=1e-15)
    step = make_schedule("step", 0.1, 90, step_size=30, warmup_iter=3)  # 0.1 * 1/3 at it 0
    assert (step(0), step(2), step(30)) == (pytest.approx(0.1 / 3), 0.1, pytest.approx(0.01))
    # without warm-up the schedule is the plain policy, value for value
    assert all(make_schedule("poly", 0.01, 50, warmup_iter=0)(it) == poly_lr(0.01, it, 50)
               for it in range(51))
    with pytest.raises(ValueError, match="warmup_iter must be >= 0"):
        make_schedule("poly", 1.0, 10, warmup_iter=-1)
