"""DeepLab networks: VGG-16 (LargeFOV, ASPP, Table 1), ResNet (v2 and v3 heads), multi-scale inputs."""
from .fov import format_table1, table1
from .vgg import DeepLabVGG16, deeplab_vgg16
