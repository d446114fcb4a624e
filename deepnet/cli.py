"""The `deepnet` command: info, train, eval, predict, scan, describe, import-book-weights."""
from __future__ import annotations

import argparse
import os
import sys

from .errors import InvalidValue


def _widths(text: str) -> list:
    """W[,W...]: layer widths, for argparse (a malformed list is a usage error, in one line)."""
    try:
        widths = [int(t) for t in text.split(",")]
    except ValueError:
        widths = []
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"expected widths of at least 1 separated by commas, like 256,256; "
                                         f"got {text!r}")
    return widths


# `deepnet train` options: (flag, TrainConfig field, argparse settings). Defaults come from TrainConfig;
# an option left out is simply absent from the parsed arguments, so `--resume` and `--recipe` know
# which settings the user gave.
TRAIN_OPTIONS = (
    ("--model", "model", dict(help="deepconvnet (default), simpleconvnet, alexnet, vgg, resnetN, plainnetN, "
                                   "googlenet, binarynet, fcn or segnet (segmentation: with --dataset mnist-scenes), "
                                   "nic (captioning: with --dataset mnist-captions), fasterrcnn (detection: with "
                                   "--dataset mnist-boxes or mnist-clutter)")),
    ("--dataset", "dataset", dict(help="mnist (default), fashion_mnist, mnist-scenes (segmentation scenes), "
                                       "mnist-captions (captioned scenes), mnist-boxes and mnist-clutter (detection "
                                       "scenes)")),
    ("--recipe", "recipe", dict(help="default (cosine learning-rate decay and light augmentation: lands at the "
                                     "end) or book (the book's exact settings); --schedule and --augment "
                                     "override either")),
    ("--epochs", "epochs", dict(type=int)),
    ("--batch-size", "batch_size", dict(type=int)),
    ("--optimizer", "optimizer", dict(help="sgd, momentum, nesterov, adagrad, rmsprop, adam (default)")),
    ("--lr", "lr", dict(type=float)),
    ("--schedule", "schedule", dict(help="learning-rate schedule: none, cosine, step:EPOCHS:FACTOR (default: the "
                                         "recipe's)")),
    ("--seed", "seed", dict(type=int)),
    ("--validation", "validation", dict(type=int, metavar="N",
                                        help="hold out the last N training samples for validation")),
    ("--patience", "patience", dict(type=int, help="early stopping: epochs without val_loss improvement "
                                                   "(needs --validation)")),
    ("--limit", "limit", dict(type=int, metavar="N", help="train on the first N samples only")),
    ("--dtype", "dtype", dict(help="float32 (default, or DEEPNET_DTYPE), float64, float16")),
    ("--out", "out", dict(help="run directory (default runs/MODEL-DATASET); an existing run is refused: "
                               "see --resume and --overwrite")),
    ("--data-dir", "data_dir", dict(help="directory holding the dataset's four IDX .gz files")),
    ("--augment", "augment", dict(metavar="SPEC", help="training-time augmentation, e.g. shift=2,rotate=10,"
                                                       "scale=0.1 (also crop=N, flip, brightness=B, contrast=C); "
                                                       "'' for none (default: the recipe's)")),
    ("--init-from", "init_from", dict(metavar="RUN", help="start from the weights of a run or file "
                                                          "(transfer learning)")),
    ("--freeze", "freeze", dict(type=lambda text: _names(text), help="comma-separated layers the optimizer "
                                                                     "leaves alone, e.g. conv1,conv2")),
    ("--reinit", "reinit", dict(type=lambda text: _names(text), help="comma-separated layers not copied by "
                                                                     "--init-from (a new head)")),
    ("--distributed", "distributed", dict(action="store_true", help="data-parallel over MPI ranks: "
                                                                    "mpiexec -n N deepnet train --distributed")),
    ("--no-test-eval", "eval_test", dict(action="store_false", help="skip the test-set evaluation after each "
                                                                    "epoch")),
)


# `deepnet gan` settings: (flag, gan.SETTINGS key, argparse settings); left out, an option is absent from the
# parsed arguments, so that --resume knows which the user gave.
# `deepnet dqn` options: (flag, DQNConfig field, argparse settings); left out, an option is absent (see --resume).
DQN_OPTIONS = (
    ("--game", "game", dict(help="breakout, asterix, freeway, seaquest, space_invaders (MinAtar) or cartpole")),
    ("--frames", "frames", dict(type=int, help="frames to play in all (the last episode is played to its end)")),
    ("--seed", "seed", dict(type=int, help="seed of the game, the network and the exploration")),
    ("--replay-size", "replay", dict(type=int, help="transitions the replay buffer holds; 0: no replay, each "
                                                    "transition learnt once as it happens")),
    ("--double", "double", dict(action="store_true", help="Double DQN targets")),
    ("--batch-size", "batch_size", dict(type=int, help="transitions a learning step")),
    ("--lr", "lr", dict(type=float, help="the optimizer's learning rate")),
    ("--optimizer", "optimizer", dict(choices=("rmsprop", "adam"), help="centered RMSprop with the MinAtar paper's "
                                                                         "settings, or Adam")),
    ("--hidden", "hidden", dict(type=_widths, metavar="W[,W...]", help="widths of the hidden affine layers "
                                                                       "(default: 128 on MinAtar, 64,64 on CartPole)")),
    ("--train-every", "train_every", dict(type=int, help="frames between learning rounds")),
    ("--gradient-steps", "gradient_steps", dict(type=int, help="updates a learning round, each on its own batch")),
    ("--max-grad-norm", "max_grad_norm", dict(type=float, help="clip the gradients' global norm to this (0: no "
                                                               "clipping)")),
    ("--replay-start", "replay_start", dict(type=int, help="random frames before learning starts")),
    ("--epsilon-frames", "epsilon_frames", dict(type=int, help="frames over which epsilon falls to its end")),
    ("--epsilon-end", "epsilon_end", dict(type=float, help="epsilon at the end of its fall (MinAtar 0.1; "
                                                           "Nature DQN evaluates, and Dopamine trains, at 0.01)")),
    ("--target-update", "target_update", dict(type=int, help="updates between target-network copies")),
    ("--eval-every", "eval_every", dict(type=int, help="frames between evaluations and checkpoints")),
    ("--eval-episodes", "eval_episodes", dict(type=int, help="episodes an evaluation")),
)
DQN_DESCRIPTION = ("DQN, by default with the MinAtar paper's settings: experience replay, a target network, "
                   "epsilon-greedy exploration, the Huber loss, centered RMSprop. The run directory follows deepnet "
                   "train's rules; --resume continues from the last checkpoint (only --frames may change). CartPole "
                   "learns fastest with RL Zoo's recipe: --game cartpole --optimizer adam --lr 0.0023 --hidden "
                   "256,256 --batch-size 64 --train-every 256 --gradient-steps 128 --target-update 128 "
                   "--replay-start 1000 --epsilon-frames 7000 --epsilon-end 0.04 --max-grad-norm 10.")
GAN_DESCRIPTION = ("DCGAN on MNIST with InfoGAN's networks. The run directory follows the same rules as deepnet "
                   "train's: an existing run is refused (see --resume and --overwrite), the directory is locked while "
                   "the run writes, and --resume continues with the run's own settings (only --epochs may change).")
GAN_OPTIONS = (
    ("--epochs", "epochs", dict(type=int, help="epochs to train to")),
    ("--batch-size", "batch_size", dict(type=int, help="digits a batch")),
    ("--seed", "seed", dict(type=int, help="seeds the weights, the batches and the pictures' noise")),
    ("--limit", "limit", dict(type=int, metavar="N", help="train on the first N training digits")),
    ("--width", "width", dict(type=int, help="the generator's channels at 7x7 (half as many at 14x14)")),
    ("--real-label", "real_label", dict(type=float, help="the discriminator's target on real digits: one-sided "
                                                         "label smoothing (1: none)")),
    ("--g-hidden", "g_hidden", dict(type=int, metavar="UNITS", help="the generator's affine layer between the "
                                                                    "noise and the 7x7 maps (InfoGAN's; 0: none, the "
                                                                    "plain DCGAN)")),
    ("--d-hidden", "d_hidden", dict(type=int, metavar="UNITS", help="the discriminator's affine layer before its "
                                                                    "logit (InfoGAN's; 0: none)")),
)


def _add_train(sub):
    from .training.config import TrainConfig

    defaults = TrainConfig(dtype="float32")  # not DEEPNET_DTYPE's: a bad value there must not break --help
    p = _command(sub, cmd_train, "train", help="train a model (DeepConvNet on MNIST by default)",
                 description="Train a model. Defaults: the book's DeepConvNet on MNIST, Adam, lr 0.001, batch 100, 20 "
                             "epochs, with the default recipe (--recipe book for the book's exact settings). Set "
                             "DEEPNET_BACKEND=gpu to train on a CUDA GPU.")
    for flag, name, kwargs in TRAIN_OPTIONS:
        kwargs = dict(kwargs)
        if kwargs.get("action") is None and name != "dtype" and getattr(defaults, name) not in (None, [], ""):
            kwargs["help"] = (kwargs.get("help", "") + f" (default {getattr(defaults, name)})").strip()
        p.add_argument(flag, dest=name, default=argparse.SUPPRESS, **kwargs)
    p.add_argument("--resume", default=None, metavar="DIR",
                   help="continue the run in DIR from its last checkpoint (only --epochs, --patience, "
                        "--data-dir and --no-test-eval may change)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (its checkpoints and history are deleted)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG pictures at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (one log line per epoch only)")


def _names(text: str) -> list:
    return [t.strip() for t in text.split(",") if t.strip()]


def cmd_describe(args) -> int:
    from .models import check_name, create, describe, limits, stacked_3x3_demo, state_shapes

    from .initializers import shapes_only

    name = check_name(args.model, "model")
    given = {}  # what is not given is the model's own (FCN: 1x64x64 scenes and 11 classes)
    if args.input_shape is not None:
        given["input_shape"] = limits.parse_input_shape(args.input_shape, "--input-shape")
    if args.classes is not None:
        given["num_classes"] = limits.check_classes(args.classes, "--classes")
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


def cmd_info(args) -> int:
    from .commands.info import report

    print(report())
    return 0


def cmd_train(args) -> int:
    from .training import TrainConfig, Trainer

    given = {name: getattr(args, name) for _, name, _ in TRAIN_OPTIONS if hasattr(args, name)}
    progress = False if args.no_progress else None
    if args.resume:
        if args.overwrite:
            raise InvalidValue("--resume continues a run and --overwrite replaces one: give only one of them")
        trainer = Trainer.resume(args.resume, changes=given, progress=progress)
        print(f"Resuming {args.resume} after epoch {trainer.epoch}")
    else:
        trainer = Trainer.from_config(TrainConfig(**given), progress=progress, overwrite=args.overwrite)
    history = trainer.fit()
    if not trainer.is_root:
        return 0
    if getattr(trainer.model, "is_detector", False):
        return _detector_report(trainer, args)
    acc = history[-1].get("test_acc") if history else None
    if acc is None:
        acc = trainer.test_accuracy()
    captioner = getattr(trainer.model, "is_captioner", False)
    per_pixel = trainer.data.test.y.ndim > 1 and not captioner
    what = "captions exactly right (greedy decoding)" if captioner else "pixel accuracy" if per_pixel else "accuracy"
    print(f"Test {what}: {100 * acc:.2f}% on {len(trainer.t_test)} test "
          f"{'scenes' if per_pixel or captioner else 'images'}; run saved in {trainer.run_dir}")
    if captioner:
        print(f"Captions of test scenes, with beam search: deepnet caption {trainer.run_dir}")
    pred = None
    if per_pixel:  # pixel accuracy flatters a model that says "background" everywhere: IoU does not
        from .backends import current
        from .datasets.scenes import describe_iou

        pred = current().to_numpy(trainer.model.predict_labels(trainer.x_test, batch_size=100))
        print("IoU per class on the test scenes: " + describe_iou(pred, trainer.data.test.y, trainer.data.classes))
    if not args.no_plots:
        _pictures(trainer, pred)
    return 0


def _detector_report(trainer, args) -> int:
    """After a detector's training: its hit rate, COCO's AP where pycocotools is installed, and a picture, from
    one detection pass over the test scenes."""
    from . import coco, plots
    from .datasets.detection import objects
    from .errors import MissingDependency
    from .models.detection import match_counts

    found = trainer.model.detect(trainer.x_test)
    truth = objects(trainer.data.test.y)
    hits, alarms = match_counts([d[d[:, 4] >= 0.5] for d in found], truth)
    acc = hits / max(sum(len(g) for g in truth) + alarms, 1)
    print(f"Test hit rate: {100 * acc:.2f}% (hits / (digits + false alarms), score >= 0.5, IoU >= 0.5) on "
          f"{len(trainer.t_test)} test scenes; run saved in {trainer.run_dir}")
    try:
        print(coco.describe(coco.evaluate(found, trainer.data.test.y, trainer.model.input_shape[1:])))
    except MissingDependency as exc:
        print(f"(no COCO AP: {exc})")
    print(f"Detections in test scenes, drawn: deepnet detect {trainer.run_dir}")
    if not args.no_plots:
        try:
            plots.training_curves(trainer.history, trainer.run_dir / "curves.png",
                                  title=f"{trainer.config.model} on {trainer.config.dataset}")
            keep = [d[d[:, 4] >= 0.5] for d in found[:8]]
            plots.detections(trainer.data.test.x[:8], objects(trainer.data.test.y[:8]), keep,
                             trainer.run_dir / "detections.png", trainer.data.classes)
            print(f"Pictures: {trainer.run_dir / 'curves.png'}, {trainer.run_dir / 'detections.png'}")
        except ImportError as exc:
            print(f"(no pictures: {exc})")
    return 0


def _pictures(trainer, pred=None) -> None:
    from . import plots
    from .backends import current

    try:
        plots.training_curves(trainer.history, trainer.run_dir / "curves.png",
                              title=f"{trainer.config.model} on {trainer.config.dataset}")
        if getattr(trainer.model, "is_captioner", False):
            print(f"Pictures: {trainer.run_dir / 'curves.png'}")
            return
        if pred is None:
            pred = current().to_numpy(trainer.model.predict_labels(trainer.x_test, batch_size=100))
        if pred.ndim == 3:  # per-pixel labels: segmentation
            plots.segmentation(trainer.data.test.x, trainer.data.test.y, pred, trainer.run_dir / "segmentation.png",
                               trainer.data.classes)
            print(f"Pictures: {trainer.run_dir / 'curves.png'}, {trainer.run_dir / 'segmentation.png'}")
            return
        plots.misclassified(trainer.data.test.x, trainer.data.test.y, pred, trainer.run_dir / "misclassified.png",
                            classes=trainer.data.classes if trainer.data.name != "mnist" else None)
        print(f"Pictures: {trainer.run_dir / 'curves.png'}, {trainer.run_dir / 'misclassified.png'}")
    except ImportError as exc:
        print(f"(no pictures: {exc})")


def cmd_eval(args) -> int:
    from .commands.evaluate import evaluate_runs

    return evaluate_runs(args.runs, dtype=args.dtype, dataset=args.dataset, batch_size=args.batch_size,
                         data_dir=args.data_dir)


def cmd_predict(args) -> int:
    from .commands.predict import predict_images

    return predict_images(args.images, args.weights)


def cmd_import_book_weights(args) -> int:
    from .book import import_book_weights

    path = import_book_weights(args.pickle, args.out)
    print(f"Wrote {path}: DeepConvNet weights converted from {args.pickle}")
    return 0


def cmd_scan(args) -> int:
    from .commands.scan import scan

    scan(args.weights, count=args.digits, seed=args.seed, out=args.out, data_dir=args.data_dir)
    return 0


def cmd_caption(args) -> int:
    from .commands.caption import caption

    caption(args.weights, args.images, beam=args.beam, count=args.count, out=args.out, data_dir=args.data_dir)
    return 0


def cmd_detect(args) -> int:
    from .commands.detect import detect

    detect(args.weights, args.images, count=args.count, score=args.score, nms=args.nms, out=args.out,
           data_dir=args.data_dir)
    return 0


def cmd_dqn(args) -> int:
    from .commands.dqn import run

    settings = {name: getattr(args, name) for _, name, _ in DQN_OPTIONS if hasattr(args, name)}
    if args.resume and args.overwrite:
        raise InvalidValue("--resume continues a run and --overwrite replaces one: give only one of them")
    run(args.out, settings, resume=args.resume, overwrite=args.overwrite,
        progress=False if args.no_progress else None)
    return 0


def cmd_style(args) -> int:
    from .commands.style import style

    style(args.content, args.style, weights=args.weights, steps=args.steps, out=args.out,
          content_weight=args.content_weight, style_weight=args.style_weight, method=args.method, size=args.size)
    return 0


def cmd_export(args) -> int:
    from .commands.export import export

    export(args.weights, args.out, softmax=args.softmax)
    return 0


def cmd_binarize(args) -> int:
    from .commands.binarize import report

    report(args.weights, out=args.out, limit=args.limit, data_dir=args.data_dir)
    return 0


def cmd_gan(args) -> int:
    from .commands.gan import run

    settings = {name: getattr(args, name) for _, name, _ in GAN_OPTIONS if hasattr(args, name)}
    run(args.out, settings, resume=args.resume, overwrite=args.overwrite, classifier=args.judge_with,
        judge_every=args.judge_every, progress=False if args.no_progress else None)
    return 0


def _settings(p, out: str, options, default_of, resume_help: str, overwrite_help: str) -> None:
    """A run command's --out (default `out`), its settings from its options table ((flag, name, argparse
    settings); left out, an option is absent from the parsed arguments, so that --resume knows which the user
    gave), each help ending in its default, then --resume and --overwrite."""
    p.add_argument("--out", default=out, help=f"run directory (default {out})")
    for flag, name, kwargs in options:
        p.add_argument(flag, dest=name, default=argparse.SUPPRESS,
                       **{**kwargs, "help": kwargs["help"] if default_of(name) is None
                          else f"{kwargs['help']} (default {default_of(name)})"})
    p.add_argument("--resume", action="store_true", help=resume_help)
    p.add_argument("--overwrite", action="store_true", help=overwrite_help)


def _scenes_or_images(p, model: str, images_help: str, count_help: str, count: int, picture: str) -> None:
    """What caption and detect both take: a trained run of `model`, the user's images or the first --count test
    scenes, the picture to draw (--out) and --data-dir."""
    p.add_argument("weights", help=f"run directory or weights file of a model trained with --model {model}")
    p.add_argument("images", nargs="*", help=images_help)
    p.add_argument("--count", type=int, default=count, help=count_help)
    p.add_argument("--out", default=picture, help=f"the picture (default {picture}; '' for none)")
    p.add_argument("--data-dir", default=None)


def _command(sub, func, name: str, **kwargs) -> argparse.ArgumentParser:
    """A subcommand's parser, run by func(args)."""
    p = sub.add_parser(name, **kwargs)
    p.set_defaults(func=func)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepnet", description="Deep learning from scratch on NumPy and CuPy.")
    sub = parser.add_subparsers(dest="command", required=True)
    _command(sub, cmd_info, "info", help="backend, device, dtype, versions and BLAS")
    _add_train(sub)
    p = _command(sub, cmd_describe, "describe", help="each layer's output shape, parameters and receptive field")
    p.add_argument("model", nargs="?", default="deepconvnet")
    p.add_argument("--input-shape", default=None, help="CxHxW (default: the model's own, e.g. 1x28x28; FCN 1x64x64)")
    p.add_argument("--classes", type=int, default=None, help="default: the model's own (10; FCN 11, background "
                                                             "and ten digits)")
    p = _command(sub, cmd_eval, "eval", help="test accuracy of trained runs (several: their ensemble)")
    p.add_argument("runs", nargs="+", metavar="RUN_OR_WEIGHTS", help="run directories or weights/checkpoint files")
    p.add_argument("--dtype", default="float32", help="also evaluate in this dtype beside float32 (e.g. float16)")
    p.add_argument("--dataset", default=None, help="default: the run's dataset (mnist for a bare weights file)")
    p.add_argument("--batch-size", type=int, default=None, help="samples a forward pass (default 500; a detector's "
                                                                "100): memory grows with it")
    p.add_argument("--data-dir", default=None)
    p = _command(sub, cmd_predict, "predict", help="classify digit images (PNG/JPEG)")
    p.add_argument("images", nargs="+")
    p.add_argument("--weights", default="runs/deepconvnet-mnist", help="run directory or weights file")
    p = _command(sub, cmd_scan, "scan", help="a trained DeepConvNet made fully convolutional scores a strip of digits "
                                             "in one forward pass")
    p.add_argument("weights", help="run directory or weights file of a DeepConvNet trained on 28x28 MNIST")
    p.add_argument("--digits", type=int, default=5, help="MNIST test digits side by side (default 5)")
    p.add_argument("--seed", type=int, default=0, help="which test digits (default 0)")
    p.add_argument("--out", default="scan.png", help="the picture (default scan.png)")
    p.add_argument("--data-dir", default=None)
    p = _command(sub, cmd_caption, "caption",
                 help="a trained captioner (--model nic) describes test scenes or your images")
    _scenes_or_images(p, "nic", "PNG/JPEG images (default: the first --count test scenes)",
                      "test scenes to caption (default 16)", 16, "captions.png")
    p.add_argument("--beam", type=int, default=3, help="beam search width (default 3; 1: greedy)")
    p = _command(sub, cmd_detect, "detect",
                 help="a trained detector (--model fasterrcnn) finds digits in test scenes or your "
                      "images: boxes, classes and scores, printed and drawn")
    _scenes_or_images(p, "fasterrcnn", "PNG/JPEG images (default: the first --count test scenes of the run's "
                                       "data set)", "test scenes (default 8)", 8, "detections.png")
    p.add_argument("--score", type=float, default=0.5, help="the least class probability shown (default 0.5)")
    p.add_argument("--nms", type=float, default=0.5, help="NMS IoU threshold per class (default 0.5)")
    p = _command(sub, cmd_dqn, "dqn",
                 help="a Deep Q-Network learns a game by trial and error (MinAtar's games, CartPole; "
                      "the rl extra)",
                 description=DQN_DESCRIPTION)
    from .rl import DQNConfig

    defaults = DQNConfig()
    _settings(p, "runs/dqn", DQN_OPTIONS, lambda name: getattr(defaults, name), "continue the run in --out",
              "replace the run in --out")
    p.add_argument("--no-progress", action="store_true")
    p = _command(sub, cmd_style, "style",
                 help="neural style transfer: CONTENT painted in STYLE's manner (Gatys et al.)")
    p.add_argument("content", help="the content picture (PNG/JPEG, any mode)")
    p.add_argument("style", help="the style picture")
    p.add_argument("--weights", default=None, help="the feature network: a VGG-19 .safetensors file in "
                                                   "torchvision's layout, or a deepnet run of a convolutional "
                                                   "classifier (default: a random multi-scale network)")
    p.add_argument("--steps", type=int, default=300, help="optimisation steps (default 300)")
    p.add_argument("--method", default="lbfgs", help="lbfgs (SciPy, the paper's) or adam (default lbfgs)")
    p.add_argument("--content-weight", type=float, default=1.0, help="alpha (default 1)")
    p.add_argument("--style-weight", type=float, default=1e3, help="beta (default 1000)")
    p.add_argument("--size", type=int, default=None, help="the pictures' longer side in pixels (default: the "
                                                         "content's, at most 512)")
    p.add_argument("--out", default="stylised.png", help="the result (default stylised.png)")
    what = "a trained model as ONNX (standard operators, opset 17; the onnx extra) or its weights as safetensors"
    p = _command(sub, cmd_export, "export", help=what, description=what[0].upper() + what[1:] + ".")
    p.add_argument("weights", help="run directory or weights file")
    p.add_argument("out", help="NAME.onnx (the model as an ONNX graph) or NAME.safetensors (its weights, which deepnet "
                               "eval, predict and --init-from read)")
    p.add_argument("--softmax", action="store_true", help="end with Softmax: output 'probabilities', not 'logits'")
    p = _command(sub, cmd_binarize, "binarize",
                 help="a trained BinaryNet on packed bits: XNOR-popcount inference against the "
                      "float simulation, and the weights' sizes")
    p.add_argument("weights", help="run directory or weights file of a model trained with --model binarynet")
    p.add_argument("--out", default=None, help="also write the packed binary weights to this .npz")
    p.add_argument("--limit", type=int, default=1000, help="test images run on packed bits (default 1000)")
    p.add_argument("--data-dir", default=None)
    p = _command(sub, cmd_gan, "gan",
                 help="DCGAN on MNIST (InfoGAN's networks): a generator of digits, with sample pictures "
                      "per epoch",
                 description=GAN_DESCRIPTION)
    from .gan import SETTINGS

    _settings(p, "runs/dcgan-mnist", GAN_OPTIONS, lambda name: "all" if SETTINGS[name] is None else SETTINGS[name],
              "continue the run in --out with its own settings",
              "replace the run already in --out (its files are deleted)")
    p.add_argument("--judge-with", default=None, metavar="RUN",
                   help="a trained classifier of MNIST digits (a run or weights file): judge 10,000 samples with it "
                        "at the end")
    p.add_argument("--judge-every", type=int, default=0, metavar="N",
                   help="with --judge-with, also judge after every N epochs (kept in history.json)")
    p.add_argument("--no-progress", action="store_true")
    p = _command(sub, cmd_import_book_weights, "import-book-weights",
                 help="convert the book's deep_conv_net_params.pkl to deepnet's format")
    p.add_argument("pickle")
    p.add_argument("out")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "distributed", False):
            from . import distributed

            distributed.prepare_device()  # one GPU per rank, before the backend opens
        elif args.func is cmd_train:
            from . import distributed

            distributed.refuse_undeclared_launch()
        return args.func(args)
    except KeyboardInterrupt:
        return _stop("interrupted", 130)
    except BrokenPipeError:
        # the reader went away (`deepnet info | head -1`): say nothing more, as other tools do
        _silence_stdout()
        return 141
    except SystemError as exc:
        if _interrupted(exc):  # Ctrl-C while a compiled kernel ran surfaces as a SystemError around it
            return _stop("interrupted", 130)
        raise
    except Exception as exc:  # known failures read as one line, not a traceback
        from .errors import describe, is_user_error

        if not is_user_error(exc):
            _abort_ranks(exc)
            raise
        return _stop(f"error: {describe(exc)}", 2)


def _stop(message: str, code: int) -> int:
    print(f"deepnet: {message}", file=sys.stderr, flush=True)
    _abort_ranks(None, code)
    return code


def _abort_ranks(exc, code: int = 1) -> None:
    """In a distributed run, one rank's failure ends every rank (they would wait for it forever)."""
    distributed = sys.modules.get(f"{__package__}.distributed")
    if distributed is not None:
        if exc is not None:
            import traceback

            traceback.print_exception(exc)
        distributed.abort_all(code)


def _interrupted(exc: BaseException) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
