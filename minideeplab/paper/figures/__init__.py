"""Figures: every picture in figures/ and in the tutorials is drawn by a function here.

One module per topic; each function draws and returns a :class:`matplotlib.figure.Figure`
(and, where a notebook or test checks a claim, the numbers it drew). Measurements live in the
library (e.g. :func:`minideeplab.models.fov.impulse_receptive_field`) or in the book's
experiments (:mod:`minideeplab.paper.speed`); the figures only draw them. Nothing here calls
``plt.show()`` or uses pyplot's global state, so the same functions work in a notebook
(``%matplotlib inline``, then end a cell with ``fig``) and headless (:func:`save_figure`).

- :mod:`.atrous`       Fig. 2 (1-D) and Fig. 3 (2-D): sparse vs dense feature extraction
- :mod:`.deinterlace`  holes vs deinterlacing, step by step, and their times
- :mod:`.fov`          Table 1: fc6 taps, field of view, receptive field
- :mod:`.resize`       bilinear upsampling: align_corners, zoom by 8, gradient check
- :mod:`.device`       CPU vs GPU timings
- :mod:`.aspp`         Fig. 4: ASPP's sampling grids
- :mod:`.training`     learning curves (Tables 2, 3), prediction grids (Fig. 8), lr, augmentation
- :mod:`.crf`          Fig. 5 (mean-field maps), Fig. 6 (before/after), Fig. 10 (trimap)
- :mod:`.lattice`      the permutohedral lattice step by step; its kernel vs the Gaussian
- :mod:`.backbone`     ResNet at output stride 32/16/8; multi-scale inputs' max fusion
- :mod:`.pipeline`     Fig. 1: DCNN scores, bilinear x8, CRF; samples of the synthetic shapes
- :mod:`.common`       :func:`save_figure`, the style, the sample photo
"""
from .common import DPI, new_figure, sample_image, save_figure
from .atrous import fig2_atrous_1d, fig3_atrous_2d
from .deinterlace import fig_deinterlace_steps, fig_deinterlace_timing
from .device import fig_device_timing
from .fov import fig_table1_fov
from .resize import fig_align_corners, fig_gradient_check, fig_upsample_scores
from .aspp import aspp_taps, fig4_aspp_grids, fig_valid_taps
from .crf import fig5_meanfield, fig6_before_after, fig10_trimap, fig_naive_vs_lattice
from . import backbone, lattice, pipeline
from .training import (fig_augmentation, fig_lr_schedules, fig_predictions,
                       fig_training_curves)
