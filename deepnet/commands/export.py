"""`deepnet export`: a trained model written as ONNX, its description in the file's metadata."""
from __future__ import annotations

from pathlib import Path

from ..errors import InvalidValue
from ..io import check_output
from ..loading import load_model


def export(run, out, softmax: bool = False, log=print) -> Path:
    out = Path(out)
    if out.suffix != ".onnx":
        raise InvalidValue(f"deepnet export writes ONNX files (name ending .onnx); got {out}")
    check_output(out, run)
    from .. import onnx as donnx

    model, meta = load_model(run)
    history = meta.get("history") if isinstance(meta.get("history"), list) else []
    info = {"dataset": meta["dataset"], "epochs": meta.get("epoch", "")}
    accuracy = history[-1].get("test_acc") if history and isinstance(history[-1], dict) else None
    if accuracy is not None:
        info["test_accuracy"] = f"{accuracy:.6f}"
    donnx.export(model, out, softmax=softmax, metadata=info)
    shape = "x".join(map(str, model.input_shape))
    log(f"Wrote {out}: {type(model).__name__}, input 'input' (batch, {shape.replace('x', ', ')}), output "
        f"'{'probabilities' if softmax else 'logits'}', ONNX opset {donnx.OPSET}")
    return out
