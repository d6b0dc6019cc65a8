"""minideeplab: DeepLab (Chen et al., TPAMI 2017) from scratch in NumPy/CuPy, for reading and teaching.

Sub-modules (``import minideeplab`` loads the first four; the others on demand):

- :mod:`minideeplab.backend`     NumPy or CuPy, chosen by the arrays; device helpers
- :mod:`minideeplab.checks`      argument checks shared by the whole library
- :mod:`minideeplab.functional`  forward/backward pairs: atrous convolution and every layer
- :mod:`minideeplab.nn`          thin layer classes holding ``params`` and ``grads``; ASPP
- :mod:`minideeplab.gradcheck`   central-difference gradient checks
- :mod:`minideeplab.preprocess`  what a model expects of its input: mean, std, scale, channels
- :mod:`minideeplab.models`      DeepLab-VGG16 (Table 1), ResNet (v2/v3 heads), multi-scale
- :mod:`minideeplab.optim`       SGD in Caffe's form, "poly" and "step"
- :mod:`minideeplab.data`        synthetic shapes, PASCAL VOC, augmentation, palettes
- :mod:`minideeplab.metrics`     confusion matrix, mIoU, trimap
- :mod:`minideeplab.config`      the settings of a training run and the datasets they name
- :mod:`minideeplab.train`       the training loop
- :mod:`minideeplab.inference`   prediction, evaluation, models from checkpoints
- :mod:`minideeplab.checkpoint`  atomic .npz checkpoints read without pickle
- :mod:`minideeplab.crf`         the fully connected CRF: mean field, naive and lattice filters
- :mod:`minideeplab.cli`         the command line, ``python -m minideeplab COMMAND``
- :mod:`minideeplab.paper`       the book: the paper's tables and figures in miniature, the
  figure functions, ``python -m minideeplab reproduce`` and the tutorials' runner (the
  library never imports it)
"""
from . import backend, functional, gradcheck, nn  # noqa: F401

__version__ = "0.1.0"
