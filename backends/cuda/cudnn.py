"""Convolution through cuDNN's graph API (NVIDIA's `nvidia-cudnn-frontend`, imported as `cudnn`), for the
CuPy backend when DEEPNET_CONV=cudnn (or auto, where it imports and runs). im2col stays the default and
the reference: tests compare the two on a GPU.

A graph per (kind, shapes, stride, pad, dtype): `fprop` (y = conv(x, W)), `dgrad` (dx from dy and W) and
`wgrad` (dW from x and dy), built once and kept. Building the graph and inferring its shapes needs no GPU
(tests/backends/test_cudnn_conv.py does it on the CPU machine); validating, planning and executing need the driver.
Arrays are passed to cuDNN as CuPy arrays (DLPack), C-contiguous NCHW. The bias is added and summed by
CuPy.
"""
from __future__ import annotations

import numpy as np

INSTALL_HINT = "pip install 'deepnet[cudnn]' (nvidia-cudnn-frontend and the cuDNN runtime)"


def import_cudnn():
    try:
        import cudnn
    except ImportError as exc:
        raise ImportError(f"DEEPNET_CONV=cudnn needs NVIDIA's cuDNN frontend: {INSTALL_HINT} ({exc})") from None
    return cudnn


def _strides(shape) -> list[int]:
    out, acc = [], 1
    for d in reversed(shape):
        out.append(acc)
        acc *= int(d)
    return out[::-1]


def build_graph(cudnn, kind: str, x_shape, w_shape, y_shape, stride: int, pad: int, dtype):
    """(graph, {name: tensor}) for one convolution pass; shapes are inferred or set, nothing runs."""
    dtype = np.dtype(dtype)
    dt = {np.dtype(np.float16): cudnn.data_type.HALF, np.dtype(np.float32): cudnn.data_type.FLOAT,
          np.dtype(np.float64): cudnn.data_type.DOUBLE}[dtype]
    compute = cudnn.data_type.DOUBLE if dtype == np.float64 else cudnn.data_type.FLOAT
    g = cudnn.pygraph(io_data_type=dt, intermediate_data_type=compute, compute_data_type=compute)
    geometry = dict(padding=[pad, pad], stride=[stride, stride], dilation=[1, 1])

    def tensor(name, shape):
        return g.tensor(name=name, dim=list(map(int, shape)), stride=_strides(shape), data_type=dt)

    if kind == "fprop":
        x, w = tensor("X", x_shape), tensor("W", w_shape)
        y = g.conv_fprop(image=x, weight=w, **geometry)
        y.set_output(True).set_data_type(dt)
        return g, {"X": x, "W": w, "Y": y}
    if kind == "dgrad":
        dy, w = tensor("DY", y_shape), tensor("W", w_shape)
        dx = g.conv_dgrad(loss=dy, filter=w, **geometry)
        dx.set_output(True).set_data_type(dt).set_dim(list(x_shape)).set_stride(_strides(x_shape))
        return g, {"DY": dy, "W": w, "DX": dx}
    if kind == "wgrad":
        x, dy = tensor("X", x_shape), tensor("DY", y_shape)
        dw = g.conv_wgrad(image=x, loss=dy, **geometry)
        dw.set_output(True).set_data_type(dt).set_dim(list(w_shape)).set_stride(_strides(w_shape))
        return g, {"X": x, "DY": dy, "DW": dw}
    raise ValueError(f"unknown convolution pass {kind!r}")


class CudnnConv:
    """The three passes for the CuPy backend, graphs cached by geometry."""

    def __init__(self, cupy):
        self.cudnn = import_cudnn()
        self.cp = cupy
        self.handle = self.cudnn.create_handle()
        self.graphs: dict = {}

    def _run(self, kind, x_shape, w_shape, y_shape, stride, pad, dtype, arrays: dict):
        key = (kind, tuple(x_shape), tuple(w_shape), tuple(y_shape), stride, pad, np.dtype(dtype).str)
        entry = self.graphs.get(key)
        if entry is None:
            g, tensors = build_graph(self.cudnn, kind, x_shape, w_shape, y_shape, stride, pad, dtype)
            g.validate()
            g.build_operation_graph()
            g.create_execution_plans([self.cudnn.heur_mode.A, self.cudnn.heur_mode.FALLBACK])
            g.check_support()
            g.build_plans()
            workspace = self.cp.empty(max(1, int(g.get_workspace_size())), dtype=self.cp.uint8)
            entry = self.graphs[key] = (g, tensors, workspace)
        g, tensors, workspace = entry
        g.execute({tensors[name]: a for name, a in arrays.items()}, workspace, handle=self.handle)

    def forward(self, x, w, b, stride, pad, y_shape):
        cp = self.cp
        x, w = cp.ascontiguousarray(x), cp.ascontiguousarray(w)
        y = cp.empty(y_shape, dtype=x.dtype)
        self._run("fprop", x.shape, w.shape, y.shape, stride, pad, x.dtype, {"X": x, "W": w, "Y": y})
        y += b.reshape(1, -1, 1, 1)
        return y

    def backward(self, dy, x, w, stride, pad, need_dx=True):
        cp = self.cp
        dy, w = cp.ascontiguousarray(dy), cp.ascontiguousarray(w)
        dw = cp.empty(w.shape, dtype=w.dtype)
        self._run("wgrad", x.shape, w.shape, dy.shape, stride, pad, x.dtype, {"X": x, "DY": dy, "DW": dw})
        dx = None
        if need_dx:
            dx = cp.empty(x.shape, dtype=x.dtype)
            self._run("dgrad", x.shape, w.shape, dy.shape, stride, pad, x.dtype, {"DY": dy, "W": w, "DX": dx})
        return dx, dw, dy.sum(axis=(0, 2, 3))
