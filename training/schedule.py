"""Learning-rate schedule: warmup, stable, decay (WSD)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from corpusforge.config import Config
from corpusforge.errors import ConfigError


class ScheduleConfig(Config):
    """Linear warmup to ``peak``, constant, then decay to ``min`` over the last ``decay_fraction`` of steps."""

    peak: float = Field(3e-4, gt=0)
    min: float = Field(3e-5, ge=0)
    warmup_fraction: float = Field(0.01, ge=0, le=1)
    decay_fraction: float = Field(0.1, ge=0, le=1)
    decay: Literal["linear", "cosine", "1-sqrt"] = "linear"

    @model_validator(mode="after")
    def _check(self):
        if self.warmup_fraction + self.decay_fraction > 1:
            raise ConfigError("lr.decay_fraction", "warmup_fraction + decay_fraction exceed 1")
        if self.min > self.peak:
            raise ConfigError("lr.min", f"{self.min} is above the peak {self.peak}")
        return self

    def build(self, total_steps: int) -> WSDSchedule:
        return WSDSchedule(self, total_steps)


class WSDSchedule:
    def __init__(self, config: ScheduleConfig, total_steps: int):
        self.config, self.total = config, max(1, total_steps)
        self.warmup = round(config.warmup_fraction * self.total)
        self.decay = round(config.decay_fraction * self.total)

    def lr(self, step: int) -> float:
        """The learning rate for optimizer step ``step`` (0-based)."""
        c = self.config
        if step < self.warmup:
            return c.peak * (step + 1) / self.warmup
        start = self.total - self.decay
        if step < start or not self.decay:
            return c.peak
        t = min(1.0, (step - start + 1) / self.decay)
        if c.decay == "linear":
            f = 1 - t
        elif c.decay == "cosine":
            f = 0.5 * (1 + math.cos(math.pi * t))
        else:
            f = 1 - math.sqrt(t)
        return c.min + (c.peak - c.min) * f
