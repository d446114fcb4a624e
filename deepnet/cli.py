"""The `deepnet` command: parses the command line and dispatches to a subcommand (deepnet/commands/, one module
each with NAME, HELP, add_arguments and run); a user's mistake ends in one line and exit status 2, our bug in a
traceback."""
from __future__ import annotations

import argparse
import os
import sys
import traceback

from . import distributed
from .commands import (binarize, caption, describe, detect, dqn, evaluate, export, gan, import_book_weights, info,
                       predict, scan, style, train)
from .errors import describe as describe_error
from .errors import is_user_error

# in the order `deepnet --help` lists them
COMMANDS = (info, train, describe, evaluate, predict, scan, caption, detect, dqn, style, export, binarize, gan,
            import_book_weights)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepnet", description="Deep learning from scratch on NumPy and CuPy.")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        p = sub.add_parser(command.NAME, help=command.HELP, description=getattr(command, "DESCRIPTION", None))
        command.add_arguments(p)
        p.set_defaults(func=command.run, flags=_flags(p))
    return parser


def _flags(parser) -> dict:
    """{parameter: the flag that sets it}: how this command spells the parameters a library error names."""
    return {a.dest: max(a.option_strings, key=len) for a in parser._actions if a.option_strings}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            if getattr(args, "distributed", False):  # absent unless given (see train.TRAIN_OPTIONS)
                distributed.prepare_device()  # one GPU per rank, before the backend opens
            else:
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
        if not is_user_error(exc):
            _abort_ranks(exc)
            raise
        flags = args.flags  # a parameter the command has no flag for keeps its library name
        return _stop(f"error: {describe_error(exc, lambda name: flags.get(name, f'`{name}`'))}", 2)


def _stop(message: str, code: int) -> int:
    print(f"deepnet: {message}", file=sys.stderr, flush=True)
    _abort_ranks(None, code)
    return code


def _abort_ranks(exc, code: int = 1) -> None:
    """In a distributed run, one rank's failure ends every rank (they would wait for it forever): our bug's
    traceback is printed first, as the abort leaves no time to raise it."""
    if distributed.running():
        if exc is not None:
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
