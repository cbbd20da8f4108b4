"""``kind: pipeline``: several job recipes run in order, each reading what the one before wrote.

Every step's config is loaded and validated before the first step starts, so a typo in the last step fails
the run before hours of work. ``--set`` overrides apply to every step (only ``engine.*``: ``engine.kind``,
``engine.workers``); ``--overwrite`` applies to every step. Each step is run as `corpusforge run` runs a
job (its own config, resume and funnel); the run ends with one report page over all the steps' outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import ConfigError
from corpusforge.job import EngineConfig, Job, JobResult, Once, Task, load_job


class Step(Config):
    recipe: str = Field(description="A job recipe (YAML), relative to the working directory.")
    set: dict[str, Any] = Field(default_factory=dict, description="Dotted overrides for this step only.")


class PipelineConfig(Job):
    records: ClassVar[bool] = False

    kind: Literal["pipeline"] = "pipeline"
    name: str = "pipeline"
    steps: list[Step | str] = Field(min_length=1, description="Recipes to run in order.")
    output: str | None = Field(None, description="None: nothing of its own (each step names its output).")
    engine: EngineConfig = EngineConfig()
    overrides: dict[str, Any] = Field(default_factory=dict, description="engine.* overrides for every step.")

    @classmethod
    def load(cls, path, overrides: dict[str, Any] | None = None) -> PipelineConfig:
        """The file as it is; the overrides go to the steps, so only ``engine.*`` is taken."""
        overrides = dict(overrides or {})
        if "output" in overrides:
            raise ConfigError("output", "each step of a pipeline names its own output")
        if other := [k for k in overrides if k.split(".")[0] != "engine"]:
            raise ConfigError(other[0], "a pipeline takes only engine.* overrides; put others in a step's `set:`")
        job = super().load(path)
        return job.model_copy(update={"overrides": overrides})

    def resolved_steps(self) -> list[Step]:
        return [Step(recipe=s) if isinstance(s, str) else s for s in self.steps]

    def build(self) -> list[Job]:
        """Every step's job config, validated, with the shared overrides and then the step's own."""
        jobs = []
        for i, step in enumerate(self.resolved_steps()):
            path = Path(step.recipe)
            if not path.is_file():
                raise ConfigError(f"steps.{i}.recipe", f"{step.recipe} is not a file")
            try:
                jobs.append(load_job(path, {**self.overrides, **step.set}))
            except ConfigError as exc:
                raise ConfigError(exc.field, exc.problem, source=f"step {i} of the pipeline, {step.recipe}") from None
        return jobs

    def input_files(self) -> list[str]:
        self.build()  # every step validated before the first runs
        return []

    def tasks(self, files: list[str]) -> list[Task]:
        return [Once(run_steps)]

    def finish(self, files: list[str], result: JobResult) -> None:
        """The run's report: funnel, labels, dedup, shards, training in one page."""
        from pipelines.report.cli import pipeline_report

        result.then.update(result.value)
        pipeline_report([r.output for r in result.then.values()], title=f"CorpusForge report: {self.name}")


def run_steps(job: PipelineConfig, files: list[str], engine) -> dict[str, JobResult]:
    """Each step as its own run (config saved, resumed or overwritten), by step number and name."""
    from pipelines.engines import run_job

    return {
        f"{i}:{step.name}": run_job(step, progress=engine.progress, overwrite=engine.overwrite)
        for i, step in enumerate(job.build())
    }
