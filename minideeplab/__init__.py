"""minideeplab: DeepLab (Chen et al., TPAMI 2017) from scratch in NumPy/CuPy, for reading and teaching.

Sub-modules (``import minideeplab`` loads backend, functional, nn and gradcheck; the others on
demand):

- :mod:`minideeplab.errors`      the user's mistakes: one family of exceptions (the rest are bugs)
- :mod:`minideeplab.backend`     NumPy or CuPy, chosen by the arrays; device helpers
- :mod:`minideeplab.io`          images, label maps, arrays and weights, read and written
- :mod:`minideeplab.checks`      argument checks shared by the whole library
- :mod:`minideeplab.functional`  forward/backward pairs: atrous convolution and every layer
- :mod:`minideeplab.nn`          thin layer classes holding ``params`` and ``grads``; ASPP
- :mod:`minideeplab.gradcheck`   central-difference gradient checks
- :mod:`minideeplab.preprocess`  what a model expects of its input: mean, std, scale, channels
- :mod:`minideeplab.models`      DeepLab-VGG16 (Table 1), ResNet (v2/v3 heads), multi-scale
- :mod:`minideeplab.optim`       SGD in Caffe's form, "poly" and "step"
- :mod:`minideeplab.data`        synthetic shapes, PASCAL VOC, augmentation, colours, datasets
- :mod:`minideeplab.metrics`     confusion matrix, mIoU, trimap
- :mod:`minideeplab.checkpoint`  checkpoints and network files: one reader, models rebuilt
- :mod:`minideeplab.config`      the settings of a training run
- :mod:`minideeplab.train`       the training loop
- :mod:`minideeplab.inference`   prediction and evaluation
- :mod:`minideeplab.crf`         the fully connected CRF: mean field, naive and lattice filters
- :mod:`minideeplab.timing`, :mod:`minideeplab.progress`   clocks; progress bars
- :mod:`minideeplab.cli`         the command line, ``python -m minideeplab COMMAND``
- :mod:`minideeplab.paper`       the book: the paper's tables and figures in miniature, the
  figure functions, ``python -m minideeplab reproduce`` and the tutorials' runner (the
  library never imports it)
"""
from . import backend, functional, gradcheck, nn  # noqa: F401

__version__ = "0.1.0"
