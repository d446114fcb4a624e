"""Training recipes: named presets for the options that decide how a run ends, not what it trains.

    default  the book's DeepConvNet, optimizer, batch and 20 epochs, plus a cosine learning-rate
             decay to nearly 0 by the last epoch and light augmentation (shift 2 px, rotate 10
             degrees, scale 10%): the last epoch lands instead of wandering
             (benchmarks/results/mnist_recipes/ has every seed's result)
    book     exactly the book's settings: Adam at a constant 0.001, no augmentation

A recipe fills only the options the user did not give (`--schedule`, `--augment`).
"""
from __future__ import annotations

from ..errors import InvalidValue

RECIPES = {
    "default": {"schedule": "cosine", "augment": "shift=2,rotate=10,scale=0.1"},
    "book": {"schedule": "none", "augment": ""},
}


def resolve(recipe: str, **given) -> dict:
    """The recipe's settings, overridden by every option in `given` that is not None."""
    key = (recipe or "").strip().lower()
    if key not in RECIPES:
        raise InvalidValue(f"unknown recipe {recipe!r}; choose one of: {', '.join(RECIPES)}")
    settings = dict(RECIPES[key])
    settings.update({k: v for k, v in given.items() if v is not None})
    return settings
