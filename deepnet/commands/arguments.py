"""What several commands share: list-valued options, a run command's settings table, the arguments of the
commands that run a trained model on test scenes or the user's pictures, and the check that a command's output
file overwrites nothing it reads."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InvalidValue
from ..training.rundir import RUN_FILES


def widths(text: str) -> list:
    """W[,W...]: layer widths, for argparse (a malformed list is a usage error, in one line)."""
    try:
        values = [int(t) for t in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected widths of at least 1 separated by commas, like 256,256; "
                                         f"got {text!r}")
    return values


def names(text: str) -> list:
    """NAME[,NAME...]: comma-separated names, blanks dropped."""
    return [t.strip() for t in text.split(",") if t.strip()]


def given(args, options) -> dict:
    """The settings of an options table ((flag, name, argparse settings)) that the user gave: an option left out
    is absent from the parsed arguments (see run_settings)."""
    return {name: getattr(args, name) for _, name, _ in options if hasattr(args, name)}


def run_settings(p, out: str, options, default_of, resume_help: str, overwrite_help: str) -> None:
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


def scenes_or_images(p, model: str, images_help: str, count_help: str, count: int, picture: str) -> None:
    """What caption and detect both take: a trained run of `model`, the user's images or the first --count test
    scenes, the picture to draw (--out) and --data-dir."""
    p.add_argument("weights", help=f"run directory or weights file of a model trained with --model {model}")
    p.add_argument("images", nargs="*", help=images_help)
    p.add_argument("--count", type=int, default=count, help=count_help)
    p.add_argument("--out", default=picture, help=f"the picture (default {picture}; '' for none)")
    p.add_argument("--data-dir", default=None)


def check_output(out, *inputs) -> Path:
    """`out` as a path a command may write: not one of its `inputs` (files, or run directories, whose
    checkpoints, settings and pictures are theirs), and not a directory. Raises InvalidValue."""
    out = Path(out)
    if not str(out).strip():
        raise InvalidValue("--out must name a file; got an empty string")
    if out.is_dir():
        raise InvalidValue(f"--out {out} is a directory; name a file to write")
    target = out.resolve()
    for given in map(Path, inputs):
        source = given.resolve()
        if target == source or (given.is_dir() and target.parent == source and target.name in RUN_FILES):
            what = given if target == source else f"{out.name} of the run in {given}"
            raise InvalidValue(f"--out {out} would overwrite {what}, which this command reads; choose another file")
    return out
