"""The functional API: every op is a pair ``y, cache = op(...)`` / ``grads = op_backward(dy, cache)``.

All ops take their array module (NumPy or CuPy) from their inputs and never modify them.

Every cache names the op that made it (``type(cache).op``) and every backward refuses a
foreign cache; inputs, parameters and a backward's ``dy`` share one floating dtype (a mismatch
is a TypeError naming the argument), and float16 reductions run in float32; empty axes and
wrongly typed arguments are refused before any work (docs/conventions.md, "The functional API:
caches, dtypes and bad input").
"""
from ..checks import conv_output_size, effective_kernel_size
from .im2col import col2im, im2col
from .conv import CONV_METHODS, conv2d, conv2d_backward
from .deinterlace import batch_to_space, space_to_batch
from .activation import dropout, dropout_backward, relu, relu_backward
from .pooling import (avg_pool2d, avg_pool2d_backward, global_avg_pool, global_avg_pool_backward,
                      max_pool2d, max_pool2d_backward, pool_output_size)
from .batchnorm import batch_norm, batch_norm_backward
from .resize import (interp_matrix, interp_shrink_size, interp_zoom_size, linear_taps,
                     nearest_indices, resize_bilinear, resize_bilinear_backward,
                     resize_labels_nearest)
from .combine import add, add_backward, concat, concat_backward
from .loss import log_softmax, softmax, softmax_cross_entropy, softmax_cross_entropy_backward
