"""The `deepnet` command: info, train, eval, predict, import-book-weights."""
from __future__ import annotations

import argparse
import os
import sys


def _add_train(sub):
    p = sub.add_parser("train", help="train a model (DeepConvNet on MNIST by default)",
                       description="Train a model. Book defaults: DeepConvNet, MNIST, Adam, lr 0.001, batch 100, "
                                   "20 epochs. Set DEEPNET_BACKEND=gpu to train on a CUDA GPU.")
    p.add_argument("--model", default="deepconvnet",
                   help="deepconvnet (default), simpleconvnet, alexnet, vgg, resnetN, plainnetN, googlenet")
    p.add_argument("--dataset", default="mnist", help="mnist (default) or fashion_mnist")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--optimizer", default="adam", help="sgd, momentum, nesterov, adagrad, rmsprop, adam (default)")
    p.add_argument("--lr", type=float, default=0.001)
    p.add_argument("--schedule", default="none", help="learning-rate schedule: none, cosine, step:EPOCHS:FACTOR")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--validation", type=int, default=0, metavar="N",
                   help="hold out the last N training samples for validation (default 0)")
    p.add_argument("--patience", type=int, default=None, help="early stopping: epochs without val_loss improvement")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="train on the first N samples only")
    p.add_argument("--dtype", default=None, help="float32 (default, or DEEPNET_DTYPE), float64, float16")
    p.add_argument("--out", default=None, help="run directory (default runs/MODEL-DATASET)")
    p.add_argument("--resume", default=None, metavar="DIR", help="continue the run in DIR from its last checkpoint")
    p.add_argument("--data-dir", default=None, help="directory holding the dataset's four IDX .gz files")
    p.add_argument("--augment", default="", metavar="SPEC",
                   help="training-time augmentation, e.g. shift=2,rotate=10,scale=0.1 (also crop=N, flip, "
                        "brightness=B, contrast=C)")
    p.add_argument("--init-from", default=None, metavar="RUN", help="start from the weights of a run or file "
                                                                    "(transfer learning)")
    p.add_argument("--freeze", default="", help="comma-separated layers the optimizer leaves alone, e.g. conv1,conv2")
    p.add_argument("--reinit", default="", help="comma-separated layers not copied by --init-from (a new head)")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over MPI ranks: mpiexec -n N deepnet train --distributed")
    p.add_argument("--no-test-eval", action="store_true", help="skip the test-set evaluation after each epoch")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG pictures at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (one log line per epoch only)")
    p.set_defaults(func=cmd_train)


def _names(text: str) -> list:
    return [t.strip() for t in text.split(",") if t.strip()]


def cmd_describe(args) -> int:
    from .models import create, describe, stacked_3x3_demo

    shape = tuple(int(v) for v in args.input_shape.split("x"))
    print(describe(create(args.model, input_shape=shape, num_classes=args.classes)))
    print()
    print(stacked_3x3_demo())
    return 0


def cmd_info(args) -> int:
    from .info import report

    print(report())
    return 0


def cmd_train(args) -> int:
    from .backends import current
    from .training import TrainConfig, Trainer

    progress = False if args.no_progress else None
    if args.resume:
        trainer = Trainer.resume(args.resume, epochs=args.epochs if "--epochs" in sys.argv else None,
                                 progress=progress)
        print(f"Resuming {args.resume} after epoch {trainer.epoch}")
    else:
        config = TrainConfig(model=args.model, dataset=args.dataset, epochs=args.epochs, batch_size=args.batch_size,
                             optimizer=args.optimizer, lr=args.lr, schedule=args.schedule, seed=args.seed,
                             validation=args.validation, limit=args.limit, patience=args.patience,
                             dtype=(args.dtype or current().dtype.name),
                             out=args.out or f"runs/{args.model}-{args.dataset}", data_dir=args.data_dir,
                             eval_test=not args.no_test_eval, augment=args.augment, init_from=args.init_from,
                             freeze=_names(args.freeze), reinit=_names(args.reinit), distributed=args.distributed)
        trainer = Trainer.from_config(config, progress=progress)
    history = trainer.fit()
    if not trainer.is_root:
        return 0
    acc = history[-1].get("test_acc") if history else None
    if acc is None:
        acc = trainer.test_accuracy()
    print(f"Test accuracy: {100 * acc:.2f}% on {len(trainer.t_test)} test images; run saved in {trainer.run_dir}")
    if not args.no_plots:
        _pictures(trainer)
    return 0


def _pictures(trainer) -> None:
    from . import plots
    from .backends import current

    try:
        plots.training_curves(trainer.history, trainer.run_dir / "curves.png",
                              title=f"{trainer.config.model} on {trainer.config.dataset}")
        pred = current().to_numpy(trainer.model.predict(trainer.x_test).argmax(axis=1))
        plots.misclassified(trainer.data.test.x, trainer.data.test.y, pred, trainer.run_dir / "misclassified.png",
                            classes=trainer.data.classes if trainer.data.name != "mnist" else None)
        print(f"Pictures: {trainer.run_dir / 'curves.png'}, {trainer.run_dir / 'misclassified.png'}")
    except ImportError as exc:
        print(f"(no pictures: {exc})")


def cmd_eval(args) -> int:
    from .evaluation import evaluate_runs

    return evaluate_runs(args.runs, dtype=args.dtype, dataset=args.dataset, batch_size=args.batch_size,
                         data_dir=args.data_dir)


def cmd_predict(args) -> int:
    from .predict import predict_images

    return predict_images(args.images, args.weights)


def cmd_import_book_weights(args) -> int:
    from .book import import_book_weights

    path = import_book_weights(args.pickle, args.out)
    print(f"Wrote {path}: DeepConvNet weights converted from {args.pickle}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepnet", description="Deep learning from scratch on NumPy and CuPy.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="backend, device, dtype, versions and BLAS").set_defaults(func=cmd_info)
    _add_train(sub)
    p = sub.add_parser("describe", help="each layer's output shape, parameters and receptive field")
    p.add_argument("model", nargs="?", default="deepconvnet")
    p.add_argument("--input-shape", default="1x28x28", help="CxHxW (default 1x28x28)")
    p.add_argument("--classes", type=int, default=10)
    p.set_defaults(func=cmd_describe)
    p = sub.add_parser("eval", help="test accuracy of trained runs (several: their ensemble)")
    p.add_argument("runs", nargs="+", metavar="RUN_OR_WEIGHTS", help="run directories or weights/checkpoint files")
    p.add_argument("--dtype", default="float32", help="also evaluate in this dtype beside float32 (e.g. float16)")
    p.add_argument("--dataset", default=None, help="default: the run's dataset (mnist for a bare weights file)")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--data-dir", default=None)
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("predict", help="classify digit images (PNG/JPEG)")
    p.add_argument("images", nargs="+")
    p.add_argument("--weights", default="runs/deepconvnet-mnist", help="run directory or weights file")
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("import-book-weights", help="convert the book's deep_conv_net_params.pkl to deepnet's format")
    p.add_argument("pickle")
    p.add_argument("out")
    p.set_defaults(func=cmd_import_book_weights)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "distributed", False) and not os.environ.get("DEEPNET_DEVICE"):
        from .distributed import local_rank

        if local_rank() is not None:  # one GPU per rank on a multi-GPU machine, before the backend opens
            os.environ["DEEPNET_DEVICE"] = str(local_rank())
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # known failures read as one line, not a traceback
        from .errors import is_user_error

        if not is_user_error(exc):
            raise
        print(f"deepnet: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
