"""Access to fixtures/layers_golden.npz (made by fixtures/make_layer_fixtures.py with PyTorch)."""
import os

import numpy as np

GOLDEN = os.path.join(os.path.dirname(__file__), "fixtures", "layers_golden.npz")


def golden_cases(group):
    """The case names stored under ``group`` ("resize", "maxpool", "avgpool", "bn", "ce")."""
    with np.load(GOLDEN, allow_pickle=False) as z:
        return sorted({k.split("/")[1] for k in z.files if k.startswith(group + "/")})


def golden(group, case):
    """dict name -> array for one case."""
    prefix = f"{group}/{case}/"
    with np.load(GOLDEN, allow_pickle=False) as z:
        return {k[len(prefix):]: z[k] for k in z.files if k.startswith(prefix)}
