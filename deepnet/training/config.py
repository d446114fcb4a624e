"""A training run's settings: the one place their defaults live (the `deepnet train` options use them)."""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field

from ..augment import Augment
from ..backends.settings import default_dtype, parse_dtype
from ..errors import BadFile, InvalidValue
from . import recipes, schedules


@dataclass
class TrainConfig:
    model: str = "deepconvnet"
    dataset: str = "mnist"
    epochs: int = 20
    batch_size: int = 100
    optimizer: str = "adam"
    lr: float = 0.001
    recipe: str = "default"
    #: None takes the recipe's value (training/recipes.py); the saved config holds the value used
    schedule: str | None = None
    seed: int = 0
    validation: int = 0
    limit: int | None = None
    patience: int | None = None
    #: None: DEEPNET_DTYPE (float32 unless set)
    dtype: str | None = None
    #: None: runs/MODEL-DATASET
    out: str | None = None
    data_dir: str | None = None
    eval_test: bool = True
    augment: str | None = None
    init_from: str | None = None
    freeze: list = field(default_factory=list)
    reinit: list = field(default_factory=list)
    distributed: bool = False

    #: what `--resume` may change; every other setting must match the saved run
    RESUMABLE: typing.ClassVar[tuple] = ("epochs", "patience", "data_dir", "eval_test")

    @staticmethod
    def flag(name: str) -> str:
        """The `deepnet train` option that sets the field `name`."""
        return "--no-test-eval" if name == "eval_test" else "--" + name.replace("_", "-")

    def __post_init__(self):
        self.recipe = str(self.recipe).strip().lower()
        for k, v in recipes.resolve(self.recipe, schedule=self.schedule, augment=self.augment).items():
            setattr(self, k, v)
        if self.out is None:
            self.out = f"runs/{self.model}-{self.dataset}"
        if self.dtype is None:
            self.dtype = default_dtype().name

    def validate(self) -> None:
        """Every setting checked together, before anything is loaded or written."""
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise InvalidValue(f"{name} must be at least 1; got {getattr(self, name)}")
        if self.limit is not None and self.limit < 1:
            raise InvalidValue(f"limit must be at least 1; got {self.limit}")
        if self.validation < 0:
            raise InvalidValue(f"validation must be 0 or more samples; got {self.validation}")
        if self.patience is not None:
            if self.patience < 1:
                raise InvalidValue(f"patience must be at least 1; got {self.patience}")
            if not self.validation:
                raise InvalidValue("--patience stops on the validation loss: it needs --validation N as well")
        if self.seed < 0:
            raise InvalidValue(f"seed must be 0 or more; got {self.seed}")
        if not math.isfinite(self.lr) or self.lr <= 0:
            raise InvalidValue(f"lr must be a positive finite number; got {self.lr}")
        if not str(self.out).strip():
            raise InvalidValue("--out must name a directory; got an empty string")
        if self.reinit and not self.init_from:
            raise InvalidValue(f"--reinit {','.join(self.reinit)} names layers not to copy from --init-from, "
                               f"but no --init-from was given")
        try:
            parse_dtype(self.dtype)
        except ValueError as exc:
            raise InvalidValue(str(exc)) from None
        schedules.parse(self.schedule, self.lr, self.epochs)
        Augment.parse(self.augment)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw, source: str = "config") -> TrainConfig:
        """A config from saved JSON, each value's type checked (a hand-edited file gets a clear error)."""
        if not isinstance(raw, dict):
            raise BadFile(f"{source}: expected a JSON object of settings; got {type(raw).__name__}")
        hints = typing.get_type_hints(cls)
        values = {}
        for f in dataclasses.fields(cls):
            if f.name not in raw:
                continue
            value = raw[f.name]
            if not _is(value, hints[f.name]):
                raise BadFile(f"{source}: setting {f.name!r} should be {_type_name(hints[f.name])}; "
                              f"got {value!r}")
            values[f.name] = value
        try:
            return cls(**values)
        except InvalidValue as exc:
            raise BadFile(f"{source}: {exc}") from None


def _is(value, hint) -> bool:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(_is(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is list:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, hint)


def _type_name(hint) -> str:
    args = typing.get_args(hint)
    if args:
        return " or ".join(_type_name(a) for a in args)
    return {type(None): "null", list: "a list of names"}.get(hint, getattr(hint, "__name__", str(hint)))
