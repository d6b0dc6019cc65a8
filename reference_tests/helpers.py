"""Small helpers shared by the tests (importable as ``from helpers import ...``)."""
import numpy as np

from minideeplab import backend


def assert_close(actual, expected, rtol, atol, name=""):
    """np.testing.assert_allclose on host copies of (possibly CuPy) arrays."""
    np.testing.assert_allclose(backend.asnumpy(actual), backend.asnumpy(expected),
                               rtol=rtol, atol=atol, err_msg=name)


def tolerances(dtype):
    """(rtol, atol) for comparing two exact computations that only differ in summation order."""
    return (1e-10, 1e-10) if np.dtype(dtype) == np.float64 else (2e-4, 2e-4)


def cli_files(tmp):
    """A one-iteration checkpoint of a tiny LargeFOV, a 17x17 image and uniform probabilities
    (6 labels) in folder ``tmp``: the inputs of the command-line tests. Returns ``tmp``."""
    from PIL import Image

    from minideeplab.data import SyntheticShapes
    from minideeplab.train import TrainConfig, Trainer
    config = TrainConfig(model="largefov", image_size=17, crop_size=17, num_train=2,
                         num_val=2, batch_size=2, max_iter=1, loss_at="stride8")
    trainer = Trainer(config, progress=False)
    trainer.run(log=None)
    trainer.save(str(tmp / "checkpoint.npz"))
    image, _ = SyntheticShapes("val", 1, size=17)[0]
    Image.fromarray(image).save(tmp / "image.png")
    np.save(tmp / "probs.npy", np.full((6, 17, 17), 1 / 6, np.float32))
    return tmp
