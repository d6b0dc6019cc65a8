"""DeepLab networks: VGG-16 (LargeFOV, ASPP, Table 1), ResNet (v2 and v3 heads), multi-scale inputs.

- :func:`deeplab_vgg16`      DeepLab v2 on VGG-16, any fc6 (Table 1) or ASPP head (:mod:`.vgg`)
- :class:`DeepLabResNet`     ResNet backbone, output stride 8/16/32, v2 or v3 head (:mod:`.resnet`)
- :class:`MultiScale`        multi-scale inputs fused by max (:mod:`.msc`)
- :func:`build_model`        any of the above by name (:mod:`.factory`)
- :func:`table1`, :func:`format_table1`  the paper's Table 1 from the models (:mod:`.fov`)
- :func:`load_torchvision`, :func:`save_torchvision`  torchvision's DeepLabV3-ResNet50/101
  weights in and out (:mod:`.torchvision_deeplab`)
"""
from .factory import MODEL_NAMES, build_model
from .fov import format_table1, table1
from .msc import MSC_SCALES, MultiScale
from .resnet import DeepLabResNet, ResNetBackbone
from .vgg import DeepLabVGG16, deeplab_vgg16
from .torchvision_deeplab import (TORCHVISION_ARCHS, build_torchvision, load_torchvision,
                                  save_torchvision)
