"""`deepnet export`: a trained model written as ONNX (`model.onnx`) or its weights as safetensors
(`weights.safetensors`), its description in the file's metadata."""
from __future__ import annotations

from pathlib import Path

from .. import __version__, io
from .. import onnx as donnx
from ..errors import InvalidValue
from ..loading import load_model
from ..models import registry
from .arguments import check_output


def export(run, out, softmax: bool = False, log=print) -> Path:
    out = Path(out)
    if out.suffix not in (".onnx", ".safetensors"):
        raise InvalidValue(f"deepnet export writes ONNX models (a name ending .onnx) or safetensors weights "
                           f"(.safetensors); got {out}")
    check_output(out, run)
    model, meta = load_model(run)
    if out.suffix == ".safetensors":
        return _weights(model, meta, out, log)
    history = meta.get("history") if isinstance(meta.get("history"), list) else []
    info = {"dataset": meta["dataset"], "epochs": meta.get("epoch", "")}
    accuracy = history[-1].get("test_acc") if history and isinstance(history[-1], dict) else None
    if accuracy is not None:
        info["test_accuracy"] = f"{accuracy:.6f}"
    donnx.export(model, out, softmax=softmax, metadata=info)
    log(f"Wrote {out}: {donnx.describe(model, softmax)}")
    return out


def _weights(model, meta, out: Path, log) -> Path:
    """The parameters and buffers under deepnet's names, with what load_model needs to rebuild the model."""
    cfg = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    name = cfg.get("model") or meta.get("model_name") or type(model).__name__.lower()
    if meta.get("onnx") is not None and name not in registry.MODELS:  # a graph from another exporter
        raise InvalidValue(f"{meta['path']} is an ONNX graph of no deepnet model (its metadata names {name!r}): "
                           f"safetensors weights are rebuilt by model name, so only a deepnet model's are written; "
                           f"export a deepnet run or weights file instead")
    registry.check_name(name)
    info = {"model_name": name, "input_shape": list(model.input_shape), "num_classes": model.num_classes,
            "config": {"model": name, "dataset": meta["dataset"]}, "deepnet_version": __version__}
    io.save_safetensors(out, model.state_numpy(), info)
    log(f"Wrote {out}: {len(model.state())} arrays of {type(model).__name__} ({model.num_params():,} parameters)")
    return out


NAME = "export"
HELP = "a trained model as ONNX (standard operators, opset 17; the onnx extra) or its weights as safetensors"
DESCRIPTION = HELP[0].upper() + HELP[1:] + "."


def add_arguments(p) -> None:
    p.add_argument("weights", help="run directory or weights file")
    p.add_argument("out", help="NAME.onnx (the model as an ONNX graph) or NAME.safetensors (its weights, which deepnet "
                               "eval, predict and --init-from read)")
    p.add_argument("--softmax", action="store_true", help="end with Softmax: output 'probabilities', not 'logits'")


def run(args) -> int:
    export(args.weights, args.out, softmax=args.softmax)
    return 0
