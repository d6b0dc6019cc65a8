"""The fully connected CRF of DeepLab (paper Sec. 3.3): mean field with naive or lattice filtering.

- :func:`dense_crf`                  the public entry point
- :mod:`.meanfield`                  the mean-field loop and kernel normalisation (written once)
- :mod:`.naive`, :mod:`.lattice`     exact O(N^2) and permutohedral-lattice Gaussian filtering
- :func:`cross_validate`             the paper's coarse-to-fine search of the CRF's parameters
- :func:`compare_methods`            naive vs lattice on one image: agreement and time
"""
from .compare import MethodComparison, compare_methods
from .crossval import PAPER_GRID, CrossValidationResult, cross_validate
from .dense import METHODS, PROB_FLOOR, dense_crf
from .lattice import LatticeFilter
from .meanfield import NORMALIZATIONS, MeanFieldHistory, mean_field, normalized_filter
from .naive import NaiveFilter

__all__ = ["dense_crf", "cross_validate", "CrossValidationResult", "PAPER_GRID", "METHODS",
           "NORMALIZATIONS", "PROB_FLOOR", "LatticeFilter", "NaiveFilter", "MeanFieldHistory",
           "mean_field", "normalized_filter", "compare_methods", "MethodComparison"]
