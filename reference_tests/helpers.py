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
