"""What the exporter and the importer share: the onnx package (the `onnx` extra) and a graph being built."""
from __future__ import annotations

import numpy as np

from ..backends import current
from ..errors import MissingDependency

OPSET = 17
IR_VERSION = 8  # ONNX 1.13's: read by every ONNX Runtime release of the last years


def onnx_modules():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise MissingDependency("ONNX export needs the onnx package: pip install 'deepnet[onnx]'") from None
    return onnx, helper, numpy_helper



class Graph:
    """Nodes and initialisers being built, with fresh names."""

    def __init__(self, helper, numpy_helper, dtype):
        self.helper, self.numpy_helper, self.dtype = helper, numpy_helper, np.dtype(dtype)
        self.nodes, self.inits, self.count = [], [], 0
        self.pools = {}  # id(Pooling) -> (its indices' tensor, its input's tensor), for MaxUnpooling

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}_{self.count}"

    def const(self, array, base: str) -> str:
        name = self.name(base)
        self.inits.append(self.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def weight(self, array, base: str) -> str:
        return self.const(current().to_numpy(array).astype(self.dtype), base)

    def node(self, op: str, inputs, base: str | None = None, **attrs) -> str:
        out = self.name(base or op.lower())
        self.nodes.append(self.helper.make_node(op, list(inputs), [out], name=out, **attrs))
        return out
