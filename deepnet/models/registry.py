"""Models by name: the names `--model` takes, and building one, checked against the bounds of limits.py
before anything is allocated."""
from __future__ import annotations

import math

from .. import initializers
from ..errors import InvalidValue
from .binary import BinaryNet
from .captioning import NIC
from .convnets import AlexNet, DeepConvNet, SimpleConvNet
from .deeper import VGG, GoogLeNetSmall, ResNet
from .detection import FasterRCNN
from .limits import MAX_DEPTH, MAX_PARAMETERS
from .segmentation import FCN, SegNet
from .sequential import Sequential

MODELS = {"deepconvnet": DeepConvNet, "simpleconvnet": SimpleConvNet, "alexnet": AlexNet, "vgg": VGG,
          "resnet": ResNet, "plainnet": lambda **kw: ResNet(plain=True, **kw), "googlenet": GoogLeNetSmall,
          "fcn": FCN, "segnet": SegNet, "binarynet": BinaryNet, "nic": NIC,
          "fasterrcnn": FasterRCNN}
#: Names that take a depth after them: resnet20, plainnet32.
DEPTH_PREFIXES = ("resnet", "plainnet")


def parse_name(name, source: str = "model") -> tuple[str, int | None]:
    """(the MODELS key, the depth or None) for a model name, lower-cased; unknown names and depths above
    MAX_DEPTH are an InvalidValue."""
    key = str(name).lower()
    for prefix in DEPTH_PREFIXES:
        digits = key[len(prefix):]
        if key.startswith(prefix) and digits.isdigit():
            if len(digits) > 5 or int(digits) > MAX_DEPTH:
                raise InvalidValue(f"{source} {name!r}: depth above {MAX_DEPTH} (the deepest ResNet published)")
            return prefix, int(digits)
    if key not in MODELS:  # a bare resnet / plainnet is the class's default depth
        raise InvalidValue(f"unknown {source} {name!r}; choose one of: {', '.join(MODELS)} (or resnetN / plainnetN)")
    return key, None


def check_name(name, source: str = "model") -> str:
    """A model name deepnet knows (depths within MAX_DEPTH), lower-cased."""
    parse_name(name, source)
    return str(name).lower()


def create(name: str, **kwargs) -> Sequential:
    """A model by name (one of MODELS); names like resnet32 or plainnet20 pick a depth."""
    key, depth = parse_name(name)
    model = MODELS[key](**kwargs) if depth is None else MODELS[key](depth=depth, **kwargs)
    model.registry_name = str(name).lower()  # saved with the model, so that its file says what to build
    return model


def state_shapes(name: str, **kwargs) -> dict:
    """{parameter or buffer name: shape} of the model `name` would build, without allocating its weights."""
    with initializers.shapes_only():
        model = create(name, **kwargs)
    shapes = {k: tuple(a.shape) for k, a in model.state().items()}
    total = sum(math.prod(s) for s in shapes.values())
    if total > MAX_PARAMETERS:
        raise InvalidValue(f"{name} for input {kwargs.get('input_shape')} would have {total:,} parameters "
                           f"(at most {MAX_PARAMETERS:,} are built)")
    return shapes
