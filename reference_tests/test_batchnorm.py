"""Batch normalisation: PyTorch golden values (train, eval, running statistics), gradients."""
import numpy as np
import pytest

from golden_layers import golden, golden_cases
from helpers import assert_close
from minideeplab import backend, functional as F
from minideeplab.gradcheck import check_gradients

PARAMS = ("gamma", "beta", "running_mean", "running_var")


@pytest.mark.parametrize("case", golden_cases("bn"))
def test_batch_norm_against_pytorch_golden(case, on):
    g = golden("bn", case)
    training, momentum, eps = g["meta"]
    args = on(*(g[k] for k in ("x",) + PARAMS))
    y, cache = F.batch_norm(*args, training=bool(training), momentum=float(momentum),
                            eps=float(eps))
    dx, dgamma, dbeta = F.batch_norm_backward(on(g["dy"]), cache)
    for name, a in dict(y=y, dx=dx, dgamma=dgamma, dbeta=dbeta,
                        new_running_mean=cache.running_mean,
                        new_running_var=cache.running_var).items():
        assert_close(a, g[name], 1e-10, 1e-10, f"{case}: {name} vs PyTorch")
    for name, a in zip(("x",) + PARAMS, args):               # inputs untouched
        assert_close(a, g[name], 0, 0, f"{case}: {name} modified")


def _inputs(rng, shape):
    C = shape[1]
    return dict(x=rng.standard_normal(shape) * 1.5 + 0.3, gamma=rng.standard_normal(C),
                beta=rng.standard_normal(C), running_mean=rng.standard_normal(C),
                running_var=rng.uniform(0.5, 2.0, C))


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(3, 2, 4, 5), (1, 3, 2, 3), (5, 2, 1, 1)])
def test_batch_norm_gradient(training, shape, on):
    inputs = {k: on(v) for k, v in _inputs(np.random.default_rng(sum(shape)), shape).items()}

    def forward(x, gamma, beta, running_mean, running_var):
        return F.batch_norm(x, gamma, beta, running_mean, running_var, training=training)[0]

    def backward(dy, **kw):
        dx, dg, db = F.batch_norm_backward(dy, F.batch_norm(**kw, training=training)[1])
        return dict(x=dx, gamma=dg, beta=db)

    check_gradients(forward, backward, inputs, max_checks=60)


def test_train_mode_normalises_each_channel(on):
    x = on(np.random.default_rng(1).standard_normal((4, 3, 5, 5)) * 3 + 2)
    ones, zeros = on(np.ones(3), np.zeros(3))
    y, _ = F.batch_norm(x, ones, zeros, zeros, ones, training=True, eps=1e-12)
    y = backend.asnumpy(y)
    assert_close(y.mean(axis=(0, 2, 3)), np.zeros(3), 0, 1e-12)
    assert_close(y.var(axis=(0, 2, 3)), np.ones(3), 1e-9, 0)


def test_running_statistics_converge_to_the_data_statistics(on):
    """Repeated batches of one distribution: running mean -> mean, running var -> variance."""
    rng = np.random.default_rng(2)
    mean, std = np.array([1.0, -2.0]), np.array([0.5, 3.0])
    rm, rv = on(np.zeros(2), np.ones(2))
    ones, zeros = on(np.ones(2), np.zeros(2))
    for _ in range(150):
        x = on(rng.standard_normal((8, 2, 6, 6)) * std[None, :, None, None]
               + mean[None, :, None, None])
        _, cache = F.batch_norm(x, ones, zeros, rm, rv, training=True, momentum=0.1)
        rm, rv = cache.running_mean, cache.running_var
    assert_close(rm, mean, 0, 0.1)
    assert_close(rv, std ** 2, 0.1, 0)


def test_eval_and_frozen_use_running_statistics(on):
    inputs = {k: on(v) for k, v in _inputs(np.random.default_rng(3), (2, 3, 4, 4)).items()}
    y, cache = F.batch_norm(**inputs, training=False)
    g = {k: backend.asnumpy(v).reshape(1, -1, 1, 1) for k, v in inputs.items() if k != "x"}
    g["x"] = backend.asnumpy(inputs["x"])
    expected = ((g["x"] - g["running_mean"]) / np.sqrt(g["running_var"] + 1e-5) * g["gamma"]
                + g["beta"])
    assert_close(y, expected, 1e-12, 1e-12)
    assert cache.running_mean is inputs["running_mean"]      # nothing updated
    dy = on(np.random.default_rng(4).standard_normal((2, 3, 4, 4)))
    dx, _, _ = F.batch_norm_backward(dy, cache)
    assert_close(dx, backend.asnumpy(dy) * g["gamma"] / np.sqrt(g["running_var"] + 1e-5),
                 1e-12, 1e-12)


def test_float32(on):
    inputs = {k: on(v.astype("float32"))
              for k, v in _inputs(np.random.default_rng(5), (2, 3, 4, 4)).items()}
    y, cache = F.batch_norm(**inputs, training=True)
    assert y.dtype == np.float32 and cache.running_var.dtype == np.float32
    assert F.batch_norm_backward(y, cache)[0].dtype == np.float32


def test_batch_norm_bad_input(on):
    inputs = {k: on(v) for k, v in _inputs(np.random.default_rng(6), (2, 3, 4, 4)).items()}
    bad = dict(inputs, gamma=on(np.ones(4)))
    with pytest.raises(ValueError, match=r"batch_norm: x has 3 channels but gamma has shape "
                                         r"\(4,\) \(x.shape=\(2, 3, 4, 4\)\)"):
        F.batch_norm(**bad, training=True)
    bad = dict(inputs, running_var=on(np.ones(2)))
    with pytest.raises(ValueError, match=r"x has 3 channels but running_var has shape \(2,\)"):
        F.batch_norm(**bad, training=False)
    with pytest.raises(ValueError, match=r"momentum must be <= 1.0, got 1.5"):
        F.batch_norm(**inputs, training=True, momentum=1.5)
    with pytest.raises(ValueError, match=r"eps must be > 0 and finite, got 0"):
        F.batch_norm(**inputs, training=True, eps=0)
    with pytest.raises(TypeError, match=r"beta has dtype float32 but x has dtype float64"):
        F.batch_norm(**dict(inputs, beta=inputs["beta"].astype("float32")), training=True)
    one = dict(inputs, x=inputs["x"][:1, :, :1, :1])
    with pytest.raises(ValueError,
                       match=r"more than one value per channel.*x.shape=\(1, 3, 1, 1\)"):
        F.batch_norm(**one, training=True)
    F.batch_norm(**one, training=False)                       # fine with running statistics
    _, cache = F.batch_norm(**inputs, training=True)
    with pytest.raises(ValueError, match=r"dy.shape=\(2, 3, 4, 3\) does not match"):
        F.batch_norm_backward(inputs["x"][..., :3], cache)


@pytest.mark.parametrize("training", [False, True])
def test_large_maps_by_groups_of_channels_match_the_definition(training, on):
    # 1x1030x33x33 (over 2^20 numbers): cut into groups of channels between the threads;
    # the reference is Alg. 1 in float64, channel by channel
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 1030, 33, 33)).astype("float32") * 3 + 1
    gamma, beta = (rng.standard_normal(1030).astype("float32") for _ in range(2))
    mean, var = rng.standard_normal(1030).astype("float32"), rng.random(1030).astype("float32")
    y, cache = F.batch_norm(*on(x, gamma, beta, mean, var), training=training)
    x64 = x.astype(np.float64)
    if training:
        mean, var = x64.mean(axis=(0, 2, 3)), x64.var(axis=(0, 2, 3))
    c = (None, slice(None), None, None)
    expected = (x64 - np.asarray(mean, np.float64)[c]) / np.sqrt(np.asarray(var, np.float64)[c]
                                                                + 1e-5) * gamma[c] + beta[c]
    assert_close(y, expected, 1e-4, 1e-4)
    # the gradients, cut the same way, against Sec. 3's formulas in float64 over whole channels
    dy = rng.standard_normal(x.shape).astype("float32")
    dx, dgamma, dbeta = F.batch_norm_backward(on(dy), cache)
    dy64 = dy.astype(np.float64)
    inv_std = 1 / np.sqrt(np.asarray(var, np.float64) + 1e-5)
    xhat = (x64 - np.asarray(mean, np.float64)[c]) * inv_std[c]
    assert_close(dbeta, dy64.sum(axis=(0, 2, 3)), 1e-3, 1e-3)
    assert_close(dgamma, (dy64 * xhat).sum(axis=(0, 2, 3)), 1e-3, 1e-3)
    if training:
        expected_dx = gamma[c] * inv_std[c] * (dy64 - dy64.mean(axis=(0, 2, 3))[c]
                                               - xhat * (dy64 * xhat).mean(axis=(0, 2, 3))[c])
    else:
        expected_dx = gamma[c] * inv_std[c] * dy64
    assert_close(dx, expected_dx, 1e-4, 1e-4)
