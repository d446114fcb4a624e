"""One validation style for every run's settings and every file's metadata: a value is declared once (what it
must be) and checked by the same code, whether it came from the command line, a config file or a checkpoint.

    SETTINGS = {"epochs": whole(1, 100_000), "lr": real(0, above=True), "game": choice("breakout", ...)}
    check(values, SETTINGS)       # InvalidValue: "`epochs` must be a whole number from 1 to 100,000; got 0"

The library's messages name its parameters, written `name`; a command spells them as its flags
(errors.UserError.render), and a file's checker as the file's keys.
"""
from __future__ import annotations

import math

from .errors import BadFile, InvalidValue


class Field:
    """What one value must be: `expected` says it in words, `test` decides; `optional` also admits None."""

    def __init__(self, expected: str, test, optional: bool = False):
        self.expected, self.test, self.optional = expected, test, optional

    def check(self, name: str, value):
        if value is None and self.optional:
            return value
        if not self.test(value):
            what = self.expected + (" (or none)" if self.optional else "")
            raise InvalidValue(f"`{name}` must be {what}; got {_short(value)}", parameters=(name,))
        return value

    def __or__(self, other):  # none admitted: whole(1) | None
        if other is None:
            return Field(self.expected, self.test, optional=True)
        return NotImplemented


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def is_whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def whole(low: int = 0, high: int | None = None) -> Field:
    span = f"from {low:,} to {high:,}" if high is not None else f"at least {low:,}"
    return Field(f"a whole number {span}", lambda v: is_whole(v) and v >= low and (high is None or v <= high))


def real(low: float | None = None, high: float | None = None, above: bool = False) -> Field:
    """A finite number in [low, high] (`above`: low itself excluded)."""
    if low is None and high is None:
        words = "a finite number"
    elif high is None:
        words = f"a finite number {'above' if above else 'at least'} {low:g}"
    else:
        words = f"a number in {'(' if above else '['}{low:g}, {high:g}]"
    return Field(words, lambda v: is_real(v) and (low is None or (v > low if above else v >= low))
                 and (high is None or v <= high))


def flag() -> Field:
    return Field("true or false", lambda v: isinstance(v, bool))


def choice(*options) -> Field:
    return Field(f"one of {', '.join(map(str, options))}", lambda v: v in options)


def text() -> Field:
    return Field("a string", lambda v: isinstance(v, str))


def names() -> Field:
    return Field("a list of names", lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v))


def widths(count: int, high: int) -> Field:
    return Field(f"1 to {count} widths, each from 1 to {high:,}",
                 lambda v: isinstance(v, (list, tuple)) and 1 <= len(v) <= count
                 and all(is_whole(w) and 1 <= w <= high for w in v))


def records(count: int | None = None, what: str = "records") -> Field:
    """A list of dicts (`count` of them, when given)."""
    return Field(f"a list of {'' if count is None else f'{count} '}{what}",
                 lambda v: isinstance(v, list) and all(isinstance(r, dict) for r in v)
                 and (count is None or len(v) == count))


def obj() -> Field:
    return Field("an object", lambda v: isinstance(v, dict))


def generator_state(*types) -> Field:
    """A random generator's saved state: a dict (NumPy's), or what `types` admit (a game's own)."""
    types = types or (dict,)
    return Field("a random generator's state", lambda v: isinstance(v, types))


def check(values: dict, fields: dict) -> dict:
    """Every declared value of `values` checked (a missing one is None); returns `values`."""
    for name, field in fields.items():
        field.check(name, values.get(name))
    return values


def check_file(path, values: dict, fields: dict) -> dict:
    """check() of a file's metadata: a value out of its declaration is the file's fault (BadFile), named by key."""
    try:
        return check(values, fields)
    except InvalidValue as exc:
        raise BadFile(f"{path}: {exc.render(repr)}") from None
