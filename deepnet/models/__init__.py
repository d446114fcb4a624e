"""Models: the Sequential container, the chapter's networks, and the deeper designs."""
from .convnets import AlexNet, DeepConvNet, SimpleConvNet
from .deeper import VGG, VGG16, VGG_SMALL, GoogLeNetSmall, ResNet, vgg16
from . import limits
from .registry import MODELS, check_name, create, parse_name, state_shapes
from .describe import describe, stacked_3x3_demo
from .binary import BinaryNet
from .captioning import NIC
from .detection import FasterRCNN
from .segmentation import FCN, SegNet
from .model import Model
from .sequential import Sequential

__all__ = ["Model", "Sequential", "SimpleConvNet", "DeepConvNet", "AlexNet", "VGG", "VGG16", "VGG_SMALL", "vgg16",
           "ResNet", "GoogLeNetSmall", "FCN", "SegNet", "FasterRCNN", "BinaryNet", "NIC", "MODELS", "check_name",
           "create", "parse_name", "state_shapes", "describe", "stacked_3x3_demo", "limits"]
