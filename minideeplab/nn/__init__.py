"""Layer classes: thin holders of ``params``/``grads`` around the functional ops."""
from . import init
from .conv import Conv2d
from .module import Module, ParamSlot, Sequential
from .activation import Dropout, ReLU
from .pooling import AvgPool2d, GlobalAvgPool, MaxPool2d
from .norm import BatchNorm2d
from .resize import ResizeBilinear
from .combine import Parallel
