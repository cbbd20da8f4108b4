"""`kind: pipeline`: several job recipes run in order, each reading what the one before wrote.

Every step's config is loaded and validated before the first step starts, so a typo in the last step fails
the run before hours of work. ``--set`` overrides apply to every step that has the field (``engine.kind``,
``engine.workers``); ``--overwrite`` applies to every step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import ConfigError


class Step(Config):
    recipe: str = Field(description="A job recipe (YAML), relative to the working directory.")
    set: dict[str, Any] = Field(default_factory=dict, description="Dotted overrides for this step only.")


class PipelineConfig(Config):
    kind: Literal["pipeline"] = "pipeline"
    name: str = "pipeline"
    steps: list[Step | str] = Field(min_length=1, description="Recipes to run in order.")

    def resolved_steps(self) -> list[Step]:
        return [Step(recipe=s) if isinstance(s, str) else s for s in self.steps]

    def build(self, overrides: dict[str, Any] | None = None) -> list:
        """Load every step's job config (validated), applying the shared overrides where the step has the field."""
        from pipelines.cli import load_job

        overrides = overrides or {}
        if other := [k for k in overrides if k.split(".")[0] != "engine"]:
            raise ConfigError(other[0], "a pipeline takes only engine.* overrides; put others in a step's `set:`")
        jobs = []
        for i, step in enumerate(self.resolved_steps()):
            path = Path(step.recipe)
            if not path.is_file():
                raise ConfigError(f"steps.{i}.recipe", f"{step.recipe} is not a file")
            try:
                jobs.append(load_job(path, {**overrides, **step.set}))
            except ConfigError as exc:
                raise ConfigError(exc.field, exc.problem, source=f"step {i} of the pipeline, {step.recipe}") from None
        return jobs
