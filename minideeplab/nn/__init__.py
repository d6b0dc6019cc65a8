"""Layer classes: thin holders of ``params``/``grads`` around the functional ops."""
from . import init
from .conv import Conv2d
from .module import Module, ParamSlot, Sequential, caching, no_cache
from .activation import Dropout, ReLU
from .pooling import AvgPool2d, GlobalAvgPool, MaxPool2d
from .norm import BatchNorm2d
from .resize import ResizeBilinear
from .combine import Parallel
from .aspp import (ASPP_L_RATES, ASPP_S_RATES, ASPP_V3_RATES_OS8, ASPP_V3_RATES_OS16,
                   LARGEFOV_RATE, LARGEFOV_RATES, ASPPv2, ASPPv3, ImagePooling, aspp_v3_rates)
