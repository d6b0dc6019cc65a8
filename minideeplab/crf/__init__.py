"""The fully connected CRF of DeepLab (paper Sec. 3.3): mean field with naive or lattice filtering.

- :func:`dense_crf`, :func:`crf_labels`   the public entry points
- :data:`CRF_SETTINGS`                   the parameter sets by name: DeepLab's released settings
  ("resnet": v2's ResNet-101 on VOC; "vgg": v1's VGG-16) and dense_crf's defaults ("default")
- :mod:`.meanfield`                      the mean-field loop and kernel normalisation (written once)
- :mod:`.naive`, :mod:`.lattice`         exact O(N^2) and permutohedral-lattice Gaussian filtering
- :func:`cross_validate`                 the paper's coarse-to-fine search of the CRF's parameters
- :func:`compare_methods`                naive vs lattice on one image: agreement and time
"""
from .compare import MethodComparison, compare_methods
from .crossval import PAPER_GRID, CrossValidationResult, cross_validate
from .dense import (CRF_METHODS, CRF_SETTINGS, PROB_FLOOR, crf_labels, dense_crf,
                    describe_crf_settings)
from .lattice import LatticeFilter
from .meanfield import NORMALIZATIONS, MeanFieldHistory, mean_field, normalized_filter
from .naive import NaiveFilter

__all__ = ["dense_crf", "crf_labels", "CRF_SETTINGS", "describe_crf_settings", "cross_validate",
           "CrossValidationResult", "PAPER_GRID", "CRF_METHODS", "NORMALIZATIONS",
           "PROB_FLOOR", "LatticeFilter", "NaiveFilter", "MeanFieldHistory", "mean_field",
           "normalized_filter", "compare_methods", "MethodComparison"]
