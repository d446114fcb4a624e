"""`deepnet import-book-weights`: the book's DeepConvNet weights (a pickle, read by a restricted unpickler)
in deepnet's format."""
from __future__ import annotations

from ..book import import_book_weights

NAME = "import-book-weights"
HELP = "convert the book's deep_conv_net_params.pkl to deepnet's format"


def add_arguments(p) -> None:
    p.add_argument("pickle")
    p.add_argument("out")


def run(args) -> int:
    path = import_book_weights(args.pickle, args.out)
    print(f"Wrote {path}: DeepConvNet weights converted from {args.pickle}")
    return 0
