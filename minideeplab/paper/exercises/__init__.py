"""Exercise checks for the tutorials: one function per coding exercise.

Each ``check_*`` runs the student's function against the library on random cases, including
the edge cases, and ends as nbgrader needs a test cell to end:

* right: it prints one line, ``[name] PASSED: ...``, and returns None;
* a stub (the function still raises ``NotImplementedError``): it prints ``[name] NOT
  IMPLEMENTED YET: ...`` and raises ``NotImplementedError``;
* wrong: it raises ``AssertionError`` naming the case, the first wrong entry (``your answer
  differs at [0, 2, 5, 1]: got ..., expected ...``) and, when the answer matches a known
  mistake or has its shape (an answer right only inside, or right up to a constant factor),
  which one. A crash of the student's function is reported the same way, its traceback
  chained. No check prints the answer it grades.

So a check cell fails exactly when the exercise is not done, and nbgrader's autograder scores
it (:mod:`.notebooks`). :func:`evaluate` (in ``_core``) gives the same verdict as a
:class:`CheckResult` without printing or raising.

============================  ========================================  ========
check                         the student writes                        notebook
============================  ========================================  ========
check_atrous_im2col           the columns of an atrous im2col           01
check_space_to_batch          deinterlacing's sub-images                02
check_receptive_field         the receptive-field recurrence            03
check_output_stride_plan      ResNet's strides and rates per block      03b
check_resize_backward         bilinear resizing's backward (PyTorch)    05
check_cross_entropy_backward  the loss's backward with an ignore label  06
check_caffe_sgd               Caffe's SGD under a schedule              06
check_mean_field_update       one naive mean-field update               07
check_trimap_band             the trimap band of Fig. 10                07
check_splat                   the splat of a 2-D permutohedral lattice  07b
check_softmax                 a softmax that runs on the input's device 08
check_sync_lines              which lines of a loop wait for the GPU    08
check_conv_intensity          a convolution's FLOPs per byte            08
============================  ========================================  ========

:mod:`.notebooks` makes the student notebooks from the solution notebooks, exactly as
nbgrader's ``generate_assignment`` does (``python -m minideeplab exercises``).
"""
from ._core import CheckResult, evaluate, first_mismatch
from .convolution import (atrous_im2col_reference, check_atrous_im2col, check_output_stride_plan,
                          check_receptive_field, check_space_to_batch)
from .crf import (check_mean_field_update, check_splat, check_trimap_band, normalized_kernel,
                  splat_inputs)
from .gpu import check_conv_intensity, check_softmax, check_sync_lines, measure_syncs
from .training import check_caffe_sgd, check_cross_entropy_backward, check_resize_backward

__all__ = ["CheckResult", "evaluate", "first_mismatch", "check_atrous_im2col",
           "check_space_to_batch", "check_receptive_field", "check_output_stride_plan", "check_resize_backward",
           "check_cross_entropy_backward",
           "check_caffe_sgd", "check_mean_field_update", "check_splat", "check_trimap_band",
           "check_softmax", "check_sync_lines", "check_conv_intensity", "measure_syncs",
           "atrous_im2col_reference", "normalized_kernel", "splat_inputs"]
