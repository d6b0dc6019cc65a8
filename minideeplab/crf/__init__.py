"""The fully connected CRF of DeepLab (paper Sec. 3.3): mean field with naive or lattice filtering.

- :func:`dense_crf`                  the public entry point
- :mod:`.meanfield`                  the mean-field loop and kernel normalisation (written once)
- :mod:`.naive`, :mod:`.lattice`     exact O(N^2) and permutohedral-lattice Gaussian filtering
- :func:`cross_validate`             the paper's coarse-to-fine search of the CRF's parameters
- :func:`compare_methods`            naive vs lattice on one image: agreement and time
- :data:`RESNET_CRF_PARAMS`          DeepLab v2's released CRF parameters for ResNet-101 on VOC
"""
from .compare import MethodComparison, compare_methods
from .crossval import PAPER_GRID, CrossValidationResult, cross_validate
from .dense import METHODS, PROB_FLOOR, dense_crf
from .lattice import LatticeFilter
from .meanfield import NORMALIZATIONS, MeanFieldHistory, mean_field, normalized_filter
from .naive import NaiveFilter

# DeepLab v2's released dense-CRF parameters for ResNet-101 on PASCAL VOC (the command line's
# "resnet" preset); used on top of torchvision's DeepLabV3 (v2's pipeline on the v3 network)
RESNET_CRF_PARAMS = dict(w1=4.0, theta_alpha=67.0, theta_beta=3.0, w2=3.0, theta_gamma=1.0)

__all__ = ["RESNET_CRF_PARAMS", "dense_crf", "cross_validate", "CrossValidationResult", "PAPER_GRID", "METHODS",
           "NORMALIZATIONS", "PROB_FLOOR", "LatticeFilter", "NaiveFilter", "MeanFieldHistory",
           "mean_field", "normalized_filter", "compare_methods", "MethodComparison"]
