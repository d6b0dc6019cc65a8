"""The functional API: every op is a pair ``y, cache = op(...)`` / ``grads = op_backward(dy, cache)``.

All ops take their array module (NumPy or CuPy) from their inputs and never modify them.
"""
from ._checks import conv_output_size, effective_kernel_size
from .conv import METHODS as CONV_METHODS, conv2d, conv2d_backward, col2im, im2col
from .deinterlace import batch_to_space, space_to_batch
