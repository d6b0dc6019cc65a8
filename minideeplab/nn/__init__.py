"""Layer classes: thin holders of ``params``/``grads`` around the functional ops."""
from . import init
from .conv import Conv2d
from .module import Module, ParamSlot, Sequential
