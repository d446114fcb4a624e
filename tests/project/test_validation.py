"""One validation style (deepnet.validation) and library errors that name parameters, spelled as flags only by the
command line."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from deepnet.cli import main
from deepnet.errors import BadFile, InvalidValue
from deepnet.gan import check_settings
from deepnet.rl.dqn import DQNConfig
from deepnet.training import TrainConfig
from deepnet.validation import check, check_file, choice, flag, real, whole, widths

PACKAGE = Path(__file__).resolve().parents[2] / "deepnet"


@pytest.mark.parametrize("field, good, bad", [
    (whole(1, 10), [1, 10], [0, 11, 1.0, True, "3", None]),
    (whole(0) | None, [0, None, 10**9], [-1, 2.5]),
    (real(0, above=True), [1e-9, 3], [0, -1, float("nan"), float("inf"), False, "1"]),
    (real(0, 1), [0, 0.5, 1], [-0.1, 1.1]),
    (flag(), [True, False], [0, 1, "yes", None]),
    (choice("a", "b"), ["a"], ["c", None]),
    (widths(2, 5), [[1], (5, 5)], [[], [0], [1, 2, 3], [6], [True]]),
])
def test_a_field_admits_what_it_declares_and_nothing_else(field, good, bad):
    for v in good:
        assert field.check("x", v) == v
    for v in bad:
        with pytest.raises(InvalidValue, match=r"^`x` must be .*; got ") as caught:
            field.check("x", v)
        assert caught.value.parameters == ("x",)


def test_a_file_names_its_keys_and_is_the_files_fault():
    with pytest.raises(BadFile, match=r"^f.json: 'epochs' must be a whole number from 1 to 5; got -2$"):
        check_file("f.json", {"epochs": -2}, {"epochs": whole(1, 5)})
    assert check({"epochs": 3}, {"epochs": whole(1, 5)}) == {"epochs": 3}


@pytest.mark.parametrize("make, parameter, words", [
    (lambda: TrainConfig(epochs=0).validate(), "epochs", "`epochs` must be a whole number from 1"),
    (lambda: TrainConfig(patience=2).validate(), "validation", "`patience` stops on the validation loss"),
    (lambda: DQNConfig(replay=10).validate(), "replay", "`replay` 10 holds fewer transitions than a batch"),
    (lambda: DQNConfig(gamma=2).validate(), "gamma", "`gamma` must be a number in [0, 1]; got 2"),
    (lambda: check_settings({"width": 3}), "width", "`width` must be an even number of channels"),
])
def test_the_library_names_its_parameters(make, parameter, words):
    with pytest.raises(InvalidValue) as caught:
        make()
    assert str(caught.value).startswith(words) and parameter in caught.value.parameters
    assert "--" not in str(caught.value)


@pytest.mark.parametrize("argv, words", [
    (["train", "--epochs", "0"], "deepnet: error: --epochs must be a whole number from 1"),
    (["dqn", "--replay-size", "10", "--batch-size", "32"], "deepnet: error: --replay-size 10 holds fewer"),
    (["train", "--patience", "2"], "deepnet: error: --patience stops on the validation loss: it needs --validation"),
    (["gan", "--real-label", "2"], "deepnet: error: --real-label must be a number in (0.5, 1]"),
])
def test_the_command_line_spells_them_as_its_flags(tmp_path, capsys, argv, words):
    assert main([*argv, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(words) and "`" not in err, err


def _raised_text(node: ast.Raise) -> str:
    """The literal text of a raise statement's message, an f-string's values as {}."""
    parts, inside = [], set()
    for n in ast.walk(node):
        if isinstance(n, ast.JoinedStr):
            parts.append("".join(v.value if isinstance(v, ast.Constant) else "{}" for v in n.values))
            inside.update(id(v) for v in n.values)
        elif isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in inside:
            parts.append(n.value)
    return " ".join(parts)


def test_no_library_error_names_a_flag():
    """Outside the command layer (deepnet/commands, cli.py) a message names parameters; a flag appears only
    inside a whole command line the message advises (`deepnet gan --out R --resume`)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("commands/") or rel == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise):
                text = re.sub(r"deepnet [a-z_{}-]+[^;.`)]*", "", _raised_text(node))  # advised command lines
                if re.search(r"(?<![\w-])--[a-z]", text):
                    found.append(f"{rel}:{node.lineno}: {text[:80]}")
    assert not found, "\n".join(found)
