"""A training run's settings: the one place their defaults live (the `deepnet train` options use them)."""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field

from ..augment import Augment
from ..backends.settings import default_dtype, parse_dtype
from ..errors import BadFile, InvalidValue
from ..validation import check, check_file, flag, names, real, text, whole
from . import recipes, schedules


MAX_EPOCHS = 100_000


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

    def __post_init__(self):
        self.recipe = str(self.recipe).strip().lower()
        for k, v in recipes.resolve(self.recipe, schedule=self.schedule, augment=self.augment).items():
            setattr(self, k, v)
        if self.out is None:
            self.out = f"runs/{self.model}-{self.dataset}"
        if self.dtype is None:
            self.dtype = default_dtype().name

    def validate(self) -> None:
        """Every setting checked together (FIELDS, then how they combine), before anything is loaded or written."""
        check(dataclasses.asdict(self), FIELDS)
        if self.patience is not None and not self.validation:
            raise InvalidValue("`patience` stops on the validation loss: it needs `validation` as well",
                               parameters=("patience", "validation"))
        if not str(self.out).strip():
            raise InvalidValue("`out` must name a directory; got an empty string", parameters=("out",))
        if self.reinit and not self.init_from:
            raise InvalidValue(f"`reinit` {','.join(self.reinit)} names layers not to copy from `init_from`, but "
                               f"no `init_from` was given", parameters=("reinit", "init_from"))
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
        """A config from saved JSON, each value checked against FIELDS (a hand-edited file gets a clear error)."""
        if not isinstance(raw, dict):
            raise BadFile(f"{source}: expected a JSON object of settings; got {type(raw).__name__}")
        values = {f.name: raw[f.name] for f in dataclasses.fields(cls) if f.name in raw}
        check_file(source, values, {k: v for k, v in FIELDS.items() if k in values})
        try:
            return cls(**values)
        except InvalidValue as exc:
            raise BadFile(f"{source}: {exc.render(repr)}") from None


#: What each setting must be (deepnet.validation): checked on the command line's values and a saved run's alike.
FIELDS = {
    "model": text(), "dataset": text(), "epochs": whole(1, MAX_EPOCHS), "batch_size": whole(1),
    "optimizer": text(), "lr": real(0, above=True), "recipe": text(), "schedule": text() | None, "seed": whole(0),
    "validation": whole(0), "limit": whole(1) | None, "patience": whole(1) | None, "dtype": text(),
    "out": text(), "data_dir": text() | None, "eval_test": flag(), "augment": text() | None,
    "init_from": text() | None, "freeze": names(), "reinit": names(), "distributed": flag(),
}
