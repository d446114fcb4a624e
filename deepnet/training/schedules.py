"""Learning-rate schedules, named by a short string on the command line.

    none              constant
    step:E:G          multiply by G every E epochs (step:10:0.1)
    cosine            cosine decay from lr to 0 over the run
"""
from __future__ import annotations

import math

from ..errors import InvalidValue


def parse(spec: str | None, base_lr: float, epochs: int):
    """A function epoch (0-based) -> learning rate, or a ValueError saying what forms are accepted."""
    spec = (spec or "none").strip().lower()
    if spec == "none":
        return lambda epoch: base_lr
    if spec == "cosine":
        return lambda epoch: base_lr * 0.5 * (1 + math.cos(math.pi * epoch / max(epochs, 1)))
    if spec.startswith("step:"):
        try:
            _, every, gamma = spec.split(":")
            every, gamma = int(every), float(gamma)
            if every < 1 or gamma <= 0:
                raise ValueError
        except ValueError:
            raise InvalidValue(f"bad schedule {spec!r}; expected step:EPOCHS:FACTOR, e.g. step:10:0.1") from None
        return lambda epoch: base_lr * gamma ** (epoch // every)
    raise InvalidValue(f"unknown schedule {spec!r}; expected none, cosine or step:EPOCHS:FACTOR")
