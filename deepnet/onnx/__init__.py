"""deepnet models as ONNX graphs and back (the `onnx` extra).

    export.py    to_onnx / export: a model as standard operators at opset 17 (EXPORTERS: one entry per layer type),
                 the captioner's teacher-forced pass, greedy_captions with such a graph
    detector.py  Faster R-CNN as one graph, from the image to the detections
    importer.py  load / from_proto: a file read back into a Sequential (IMPORTERS: one entry per operator)
    graph.py     the onnx package and the graph being built
"""
from .export import DETECTION, EXPORTERS, GRAPHS, describe, export, greedy_captions, to_onnx
from .graph import IR_VERSION, OPSET
from .importer import IMPORTERS, MAX_FILE_BYTES, from_proto, load

__all__ = ["DETECTION", "EXPORTERS", "GRAPHS", "IMPORTERS", "IR_VERSION", "MAX_FILE_BYTES", "OPSET", "describe",
           "export", "from_proto", "greedy_captions", "load", "to_onnx"]
