"""Models: the Sequential container, the chapter's networks, and the deeper designs."""
from .convnets import AlexNet, DeepConvNet, SimpleConvNet
from .deeper import VGG, VGG16, VGG_SMALL, GoogLeNetSmall, ResNet, vgg16
from . import limits
from .describe import describe, stacked_3x3_demo
from .binary import BinaryNet
from .segmentation import FCN
from .sequential import Sequential

MODELS = {"deepconvnet": DeepConvNet, "simpleconvnet": SimpleConvNet, "alexnet": AlexNet, "vgg": VGG,
          "resnet": ResNet, "plainnet": lambda **kw: ResNet(plain=True, **kw), "googlenet": GoogLeNetSmall,
          "fcn": FCN, "binarynet": BinaryNet}


def create(name: str, **kwargs) -> Sequential:
    """A model by name (one of MODELS); names like resnet32 or plainnet20 pick a depth."""
    key = limits.check_name(name)
    for prefix in ("resnet", "plainnet"):
        if key.startswith(prefix) and key[len(prefix):].isdigit():
            return MODELS[prefix](depth=int(key[len(prefix):]), **kwargs)
    return MODELS[key](**kwargs)


__all__ = ["Sequential", "SimpleConvNet", "DeepConvNet", "AlexNet", "VGG", "VGG16", "VGG_SMALL", "vgg16", "ResNet",
           "GoogLeNetSmall", "FCN", "BinaryNet", "MODELS", "create", "describe", "stacked_3x3_demo"]
