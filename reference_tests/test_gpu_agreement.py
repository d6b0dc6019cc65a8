"""The same inputs on the CPU (NumPy) and the GPU (CuPy) give the same results.

Skipped, with the reason, where CuPy or a GPU is missing. Tolerances are float32's: the two
devices sum in different orders (cuBLAS vs OpenBLAS blocking), so results agree to about
1e-5 relative on single layers; after a whole network and a few SGD steps to about 1e-3.

    rtol / atol (relative to the largest value)    what
    1e-4                                            conv2d fwd+bwd, every method
    1e-4                                            each layer's forward and backward
    2e-3                                            a tiny DeepLab forward + backward
    2e-3                                            three SGD steps (dropout off: its masks
                                                    are drawn on each device)
    1e-4 (marginals), 99.9% of labels               the dense CRF, naive and lattice
"""
import numpy as np
import pytest

from minideeplab import backend, functional as F
from minideeplab.crf import dense_crf
from minideeplab.data import SyntheticShapes
from minideeplab.models import build_model
from minideeplab.optim import SGD

pytestmark = pytest.mark.skipif(not backend.gpu_available(),
                                reason="CPU-vs-GPU agreement needs CuPy with a CUDA device")


def _close(cpu, gpu, rtol, name=""):
    gpu = backend.asnumpy(gpu)
    scale = float(np.abs(cpu).max()) + 1e-12
    np.testing.assert_allclose(gpu, cpu, rtol=rtol, atol=rtol * scale, err_msg=name)


def _gpu(*arrays):
    return [backend.to_device(a, "gpu") for a in arrays]


@pytest.mark.parametrize("method", F.CONV_METHODS)
@pytest.mark.parametrize("rate", [1, 2, 12])
def test_conv2d(method, rate):
    rng = np.random.default_rng(rate)
    x = rng.standard_normal((2, 8, 25, 23)).astype("float32")
    w = rng.standard_normal((6, 8, 3, 3)).astype("float32")
    b = rng.standard_normal(6).astype("float32")
    y, cache = F.conv2d(x, w, b, padding=rate, rate=rate, method=method)
    dy = rng.standard_normal(y.shape).astype("float32")
    cpu = (y,) + F.conv2d_backward(dy, cache)
    xg, wg, bg, dyg = _gpu(x, w, b, dy)
    yg, cg = F.conv2d(xg, wg, bg, padding=rate, rate=rate, method=method)
    gpu = (yg,) + F.conv2d_backward(dyg, cg)
    for name, c, g in zip(("y", "dx", "dw", "db"), cpu, gpu):
        _close(c, g, 1e-4, name)


LAYERS = {
    "relu": (lambda x: F.relu(x), F.relu_backward),
    "max_pool": (lambda x: F.max_pool2d(x, 3, 2, 1), F.max_pool2d_backward),
    "avg_pool": (lambda x: F.avg_pool2d(x, 3, 1, 1), F.avg_pool2d_backward),
    "resize": (lambda x: F.resize_bilinear(x, (37, 29)), F.resize_bilinear_backward),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layers(name):
    forward, backward = LAYERS[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 17, 15)).astype("float32")
    y, cache = forward(x)
    dy = rng.standard_normal(y.shape).astype("float32")
    (xg, dyg) = _gpu(x, dy)
    yg, cg = forward(xg)
    _close(y, yg, 1e-4, "forward")
    _close(backward(dy, cache), backward(dyg, cg), 1e-4, "backward")


def test_loss():
    rng = np.random.default_rng(1)
    logits = (rng.standard_normal((2, 6, 9, 9)) * 3).astype("float32")
    labels = rng.integers(0, 6, size=(2, 9, 9))
    labels[0, :2] = 255
    loss, cache = F.softmax_cross_entropy(logits, labels)
    lg, cg = F.softmax_cross_entropy(*_gpu(logits, labels))
    _close(np.asarray(loss), lg, 1e-5, "loss")
    _close(F.softmax_cross_entropy_backward(cache), F.softmax_cross_entropy_backward(cg), 1e-4)


def _model(device):
    return build_model("aspp-l", 6, tiny=True, dropout=0.0, seed=3, device=device)


def test_tiny_deeplab_forward_backward_and_sgd_steps():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 49, 49)).astype("float32")
    labels = rng.integers(0, 6, size=(2, 7, 7))
    results = {}
    for device in ("cpu", "gpu"):
        model = _model(device)
        opt = SGD(model, lr=0.01)
        xd, ld = backend.to_device(x, device), backend.to_device(labels, device)
        for step in range(3):
            logits = model(xd)
            loss, cache = F.softmax_cross_entropy(logits, ld)
            opt.zero_grad()
            dx = model.backward(F.softmax_cross_entropy_backward(cache))
            if step == 0:
                results[device, "logits"], results[device, "dx"] = logits, dx
            opt.step()
        results[device, "weights"] = {k: backend.asnumpy(v)
                                      for k, v in model.state_dict().items()}
    _close(results["cpu", "logits"], results["gpu", "logits"], 2e-3, "logits")
    _close(results["cpu", "dx"], results["gpu", "dx"], 2e-3, "dx")
    for k, w in results["cpu", "weights"].items():
        _close(w, results["gpu", "weights"][k], 2e-3, k)


@pytest.mark.parametrize("method", ["naive", "lattice"])
def test_dense_crf(method):
    image, label = SyntheticShapes("val", 1, size=41)[0]
    rng = np.random.default_rng(4)
    logits = np.eye(6, dtype=np.float32)[label].transpose(2, 0, 1) * 2 \
        + rng.standard_normal((6, 41, 41)).astype("float32")
    probs = np.exp(logits) / np.exp(logits).sum(axis=0)
    q_cpu = dense_crf(image, probs, method=method)
    q_gpu = dense_crf(*_gpu(image, probs), method=method)
    _close(q_cpu, q_gpu, 1e-4, method)
    agree = (q_cpu.argmax(axis=0) == backend.asnumpy(q_gpu).argmax(axis=0)).mean()
    assert agree >= 0.999
