"""`deepnet describe`: a model's layers, output shapes, parameters and receptive fields, built from shapes only."""
from __future__ import annotations

from ..errors import InvalidValue
from ..initializers import shapes_only
from ..models import check_name, create, describe, limits, stacked_3x3_demo, state_shapes

NAME = "describe"
HELP = "each layer's output shape, parameters and receptive field"


def add_arguments(p) -> None:
    p.add_argument("model", nargs="?", default="deepconvnet")
    p.add_argument("--input-shape", default=None, help="CxHxW (default: the model's own, e.g. 1x28x28; FCN 1x64x64)")
    p.add_argument("--classes", type=int, default=None, help="default: the model's own (10; FCN 11, background "
                                                             "and ten digits)")


def run(args) -> int:
    name = check_name(args.model, "model")
    given = {}  # what is not given is the model's own (FCN: 1x64x64 scenes and 11 classes)
    if args.input_shape is not None:
        given["input_shape"] = limits.parse_input_shape(args.input_shape, "input_shape")
    if args.classes is not None:
        given["num_classes"] = limits.check_classes(args.classes, "classes")
    try:
        state_shapes(name, **given)  # refuses a model too large to list, before anything is built
        with shapes_only():  # shapes and counts only: no weight is allocated, whatever the input size
            table = describe(create(name, **given))
    except (ValueError, ZeroDivisionError) as exc:
        asked = [f"input {'x'.join(map(str, given['input_shape']))}" if "input_shape" in given else "",
                 f"{given['num_classes']} classes" if "num_classes" in given else ""]
        asked = " and ".join(a for a in asked if a) or "its defaults"
        raise InvalidValue(f"{name} cannot be built with {asked}: {exc}") from None
    print(table)
    print()
    print(stacked_3x3_demo())
    return 0
