"""`deepnet binarize`: a trained BinaryNet on packed bits, against its float simulation."""
from __future__ import annotations

from .. import datasets
from ..backends import current
from ..binary_inference import PackedBinaryNet, compare
from ..errors import InvalidValue
from ..layers.binary import BinaryAffine, BinaryConvolution
from ..loading import load_model
from .arguments import check_output


def report(weights, out=None, limit: int = 1000, data_dir=None, log=print) -> dict:
    """`deepnet binarize`: a trained BinaryNet's test accuracy in float, then on packed bits for the first
    `limit` test images (predictions compared one by one), the weights' sizes, and both speeds."""

    if limit < 1:
        raise InvalidValue(f"--limit must be at least 1 test image; got {limit}")
    if out:
        check_output(out, weights)
    model, meta = load_model(weights)
    if not any(isinstance(l, (BinaryConvolution, BinaryAffine)) for l in model.layers.values()):
        raise InvalidValue(f"{meta['path']} holds no binarized layers (train one with --model binarynet)")
    data = datasets.load(meta["dataset"], source_dir=data_dir)
    bk = current()
    x = datasets.to_model_input(data.test.x, model.dtype)
    acc = float((bk.to_numpy(model.predict_labels(x, 500)) == data.test.y).mean())
    n = min(limit, len(x))
    result = compare(model, x[:n])
    same = int((result["float_pred"] == result["packed_pred"]).sum())
    log(f"{meta['path']}: test accuracy {100 * acc:.2f}% (float simulation, {len(x)} images)")
    log(f"packed bits (XNOR and popcount) on the first {n} test images: {same} of {n} predictions equal the float "
        f"simulation's; {result['packed_images_per_s']:,.0f} images/s against {result['float_images_per_s']:,.0f} "
        f"in float32 on this CPU")
    log(f"binary layers' weights: {result['weights_packed_bytes']:,} bytes packed, "
        f"{result['weights_float32_bytes']:,} bytes as float32 "
        f"({result['weights_float32_bytes'] / result['weights_packed_bytes']:.0f}x)")
    if out:
        size = PackedBinaryNet(model).save(out)
        log(f"wrote {out} ({size:,} bytes, compressed; deepnet.binary_inference.load_packed reads it)")
    return {"test_acc": acc, "checked": n, "equal": same, **{k: v for k, v in result.items() if not k.endswith("pred")}}


NAME = "binarize"
HELP = ("a trained BinaryNet on packed bits: XNOR-popcount inference against the float simulation, and the weights' "
        "sizes")


def add_arguments(p) -> None:
    p.add_argument("weights", help="run directory or weights file of a model trained with --model binarynet")
    p.add_argument("--out", default=None, help="also write the packed binary weights to this .npz")
    p.add_argument("--limit", type=int, default=1000, help="test images run on packed bits (default 1000)")
    p.add_argument("--data-dir", default=None)


def run(args) -> int:
    report(args.weights, out=args.out, limit=args.limit, data_dir=args.data_dir)
    return 0
