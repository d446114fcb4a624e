"""Dynamic loss scaling for float16 training (Micikevicius et al., "Mixed Precision Training", 2018).

float16 gradients of a well-trained network are small: many fall below float16's smallest subnormal
(about 6e-8) and become 0. Multiplying the loss by a scale S before backward multiplies every gradient by
S, lifting them into range; the optimizer divides by S again in float32 (its master weights) before
stepping. S is chosen dynamically: if any gradient overflowed to Inf or NaN, the step is skipped and S
halves; after `growth_interval` clean steps in a row, S doubles, to stay as high as the range allows.
"""
from __future__ import annotations

from ..backends import current
from ..errors import InvalidValue


class DynamicLossScale:
    def __init__(self, scale: float = 2.0 ** 15, growth_interval: int = 1000, factor: float = 2.0,
                 min_scale: float = 1.0, max_scale: float = 2.0 ** 24):
        if not (min_scale <= scale <= max_scale) or factor <= 1 or growth_interval < 1:
            raise InvalidValue(f"loss scale {scale} must lie in [{min_scale}, {max_scale}], factor > 1 and "
                               f"growth_interval >= 1")
        self.scale, self.growth_interval, self.factor = float(scale), int(growth_interval), float(factor)
        self.min_scale, self.max_scale = float(min_scale), float(max_scale)
        self.good_steps = 0
        self.skipped = 0  # steps skipped since the caller last read and reset it

    def gradients_finite(self, grads: dict) -> bool:
        """Whether every gradient is finite: one reduction per array on the device, one host read in all."""
        xp = current().xp
        flags = [xp.isfinite(g).all() for g in grads.values() if g is not None]
        return bool(current().item(xp.stack(flags).all())) if flags else True  # the step's one read

    def update(self, finite: bool) -> None:
        """After a step: back off on overflow (the step was skipped), grow after a run of clean steps."""
        if not finite:
            self.scale = max(self.scale / self.factor, self.min_scale)
            self.good_steps = 0
            self.skipped += 1
            return
        self.good_steps += 1
        if self.good_steps >= self.growth_interval:
            self.scale = min(self.scale * self.factor, self.max_scale)
            self.good_steps = 0

    def state(self) -> dict:
        return {"scale": self.scale, "good_steps": self.good_steps}

    def load_state(self, state: dict) -> None:
        scale, good = state.get("scale"), state.get("good_steps", 0)
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not (
                self.min_scale <= scale <= self.max_scale):
            raise InvalidValue(f"checkpoint has a bad loss scale {scale!r}")
        if not isinstance(good, int) or isinstance(good, bool) or good < 0:
            raise InvalidValue(f"checkpoint has a bad loss-scale step count {good!r}")
        self.scale, self.good_steps = float(scale), good
