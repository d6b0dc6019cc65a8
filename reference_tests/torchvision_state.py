"""A deterministic torchvision-style state dict from a seed and a list of (name, shape).

Shared by ``fixtures/make_torchvision_fixtures.py`` (which loads it into torchvision's model to
record outputs) and the tests (which load it into minideeplab's), so the fixtures store only
the names and shapes, not the 40-60 million numbers.

Each array is drawn in list order from one ``numpy.random.default_rng(seed)``:
convolution weights N(0, 1/fan_in); batch-norm weight U(0.5, 1.5) (U(0.1, 0.3) for the last
BN of each residual branch, so that 33 residual sums stay of moderate size), bias N(0, 0.1^2),
running_mean N(0, 0.1^2), running_var U(0.5, 1.5); classifier bias N(0, 0.1^2);
``num_batches_tracked`` int64 counts in [0, 1000).
"""
import numpy as np

__all__ = ["make_state"]


def make_state(names_shapes, seed):
    """dict name -> array (float32, int64 for ``num_batches_tracked``); see the module doc."""
    rng = np.random.default_rng(seed)
    state = {}
    for name, shape in names_shapes:
        shape = tuple(int(s) for s in shape)
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "num_batches_tracked":
            state[name] = np.asarray(rng.integers(0, 1000), dtype=np.int64).reshape(shape)
            continue
        if len(shape) == 4:
            a = rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))
        elif leaf == "weight":                          # batch-norm scale
            last = name.endswith(("bn3.weight", "downsample.1.weight"))
            a = rng.uniform(0.1, 0.3, shape) if last else rng.uniform(0.5, 1.5, shape)
        elif leaf == "running_var":
            a = rng.uniform(0.5, 1.5, shape)
        else:                                           # bias, running_mean
            a = 0.1 * rng.standard_normal(shape)
        state[name] = a.astype(np.float32)
    return state
