"""The job contract: every kind (web, pdf, label, dedup, shard, synth, crawl, pipeline, mixture, pretrain, the
post-training recipes, the annotator recipe) is one typed config that lists its tasks; the engine runs them.

A kind implements:

- ``input_files()``: the inputs, validated before any work (a missing or wrong input fails here, naming it);
  one per-file task per entry;
- ``tasks(files)``: what runs, in order: `Stages` (the kind's source and per-document stages over every input
  file), `PerFile` (a task function per input file, writing its own outputs) or `Once` (a global step on the
  driver, e.g. the dedup decision or a training run);
- optionally ``prepare()`` (decisions taken once per output before the tasks), ``chained(files, result)``
  (jobs that run after its tasks, into folders of its output, e.g. the web job's dedup) and
  ``finish(files, result)`` (what a kind writes from the totals: manifest, review, notes).

The engine (``pipelines/engines``) does the rest, the same for every kind: refuses an output written by
another config or engine, clears it on ``--overwrite``, saves the resolved config, skips tasks with a
completion marker, checks and sums the per-task ledgers into ``funnel.json``. A kind whose tasks file no
records (``records = False``: training, mixture search) gets everything but the ledger.

This module lives in ``corpusforge`` so that ``training`` and ``mixtures`` implement the contract without
importing ``pipelines``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import Field

from corpusforge.config import Config
from corpusforge.ledger import Ledger


class SparkOptions(Config):
    master: str = Field("local[*]", description="Ignored under spark-submit, which sets the master itself.")
    app_name: str = "corpusforge"
    conf: dict[str, str] = Field(default_factory=dict, description="Extra Spark settings, e.g. executor memory.")
    log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = Field(
        "WARN", description="Spark's log level once the session is up (INFO prints a line per task)."
    )


class SlurmOptions(Config):
    """datatrove's `SlurmPipelineExecutor` settings: the job is submitted with sbatch and its tasks run as an array."""

    partition: str = Field(description="The Slurm partition.")
    time: str = Field("24:00:00", description="Time limit per array task (sbatch --time).")
    cpus_per_task: int = Field(1, ge=1)
    mem_per_cpu_gb: int = Field(2, ge=1)
    qos: str | None = None
    job_name: str | None = Field(None, description="Default: the job's name.")
    sbatch_args: dict[str, str] = Field(default_factory=dict, description="More #SBATCH options (name: value).")
    env_command: str | None = Field(None, description="A shell line run before the task, e.g. activating a venv.")
    max_array_launch_parallel: bool = False
    stagger_max_array_jobs: int = Field(0, ge=0)


class RayOptions(Config):
    """datatrove's `RayPipelineExecutor` settings: tasks run as Ray remote functions on the connected cluster."""

    address: str | None = Field(None, description="A running cluster (ray://host:10001 or auto); None: start one here.")
    cpus_per_task: int = Field(1, ge=1)
    mem_per_cpu_gb: float = Field(2, gt=0)
    tasks_per_job: int = Field(1, ge=1)


class DatatroveOptions(Config):
    executor: Literal["local", "slurm", "ray"] = Field("local", description="Which datatrove executor runs the tasks.")
    slurm: SlurmOptions | None = None
    ray: RayOptions = RayOptions()


class EngineConfig(Config):
    kind: Literal["local", "spark", "datatrove"] = "local"
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    spark: SparkOptions = SparkOptions()
    datatrove: DatatroveOptions = DatatroveOptions()


class OutputConfig(Config):
    batch_rows: int = Field(1000, gt=0, description="Rows buffered per Parquet row group.")
    compression: Literal["zstd", "snappy", "gzip", "none"] = "zstd"


# -- tasks ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stages:
    """The kind's ``build_source()`` and ``build_stages()`` over every input file, one task per file: outcomes
    filed by the standard writer (documents/, audit/, ledger/, a completion marker). Every engine runs it."""

    label: str = "records"


@dataclass(frozen=True)
class PerFile:
    """``fn(job, task, path)`` once per input file; it writes its outputs. The engine keeps each task's
    completion marker under ``done`` (a folder of the output; "" = the output itself): a task whose marker exists
    is skipped, and the marker is written after ``fn`` returns unless the kind's writer wrote it. Every engine
    runs it."""

    fn: Callable[[Any, int, str], Any]
    label: str = "files"
    files: tuple[str, ...] | None = None  # its own file list (e.g. inputs and references); None: the inputs
    done: str = ""


@dataclass(frozen=True)
class Once:
    """``fn(job, files, engine)`` once, on the driver (``engine.kind`` and, on Spark, ``engine.session`` let it
    pick its implementation). With ``done``, a path under the output: skipped when that marker exists,
    which the engine writes after ``fn`` returns."""

    fn: Callable[[Any, list[str], Any], Any]
    done: str | None = None


Task = Stages | PerFile | Once


# -- results ----------------------------------------------------------------------------------------------------
@dataclass
class JobResult:
    """Totals of a run: the merged ledger and the languages of kept documents."""

    ledger: Ledger
    languages: Counter = field(default_factory=Counter)
    tasks_run: int = 0
    tasks_skipped: int = 0
    then: dict[str, JobResult] = field(default_factory=dict)  # results of the jobs chained after this one
    skipped_inputs: list[str] = field(default_factory=list)  # files of the input folders that are no input
    notes: list[str] = field(default_factory=list)  # decisions a user must see (e.g. cell keys a gate dropped)
    value: Any = None  # what a job without records returned (a training run's summary)
    output: str | None = None  # the job's output directory
    records: bool = True  # whether the ledger is the job's (False: a training run, a pipeline)

    def to_dict(self) -> dict:
        return {
            "ledger": self.ledger.to_dict(),
            "languages": dict(self.languages.most_common()),
            "tasks_run": self.tasks_run,
            "tasks_skipped": self.tasks_skipped,
            **({"skipped_inputs": self.skipped_inputs} if self.skipped_inputs else {}),
            **{name: r.to_dict() for name, r in self.then.items()},
            **({"notes": self.notes} if self.notes else {}),
        }


def summarize(stage: str, summaries: list[dict]) -> JobResult:
    """The per-task ledger summaries merged and checked (inputs = kept + dropped + quarantined)."""
    ledger = Ledger.total(stage, [Ledger.from_dict(s["ledger"]) for s in summaries]).check()
    languages: Counter = Counter()
    for s in summaries:
        languages.update(s.get("languages", {}))
    return JobResult(ledger=ledger, languages=languages)


# -- the contract -----------------------------------------------------------------------------------------------
class Job(Config):
    """Base of every job kind's config (see the module docstring for what a kind implements).

    A kind declares the fields ``kind`` (a ``Literal`` of its name), ``name``, ``output`` and ``engine``
    (`EngineConfig`), in the order its saved config shows them; a class with a ``kind`` field that lacks one
    of the others fails when it is defined.
    """

    #: whether the tasks file records (a ledger part per task); False for training and mixture search
    records: ClassVar[bool] = True
    REQUIRED: ClassVar[tuple[str, ...]] = ("kind", "name", "output", "engine")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "kind" in cls.model_fields and (missing := [f for f in cls.REQUIRED if f not in cls.model_fields]):
            raise TypeError(f"job kind {cls.__name__} lacks the field(s) {', '.join(missing)}")

    def input_files(self) -> list[str]:
        """The inputs, one per-file task each, validated before any work."""
        return []

    def tasks(self, files: list[str]) -> list[Task]:
        raise NotImplementedError(f"{type(self).__name__} lists no tasks")

    def prepare(self) -> Job:
        """Decisions taken once per output, before the tasks (saved in the output, so a restart takes the same);
        returns the job the tasks run with."""
        return self

    def finish(self, files: list[str], result: JobResult) -> None:
        """What the kind writes from the totals (manifest, review), and notes for the funnel."""

    def chained(self, files: list[str], result: JobResult) -> dict[str, Job]:
        """Jobs run after this one's tasks (before its ``finish``), by name; their results go to
        ``result.then[name]``."""
        return {}


def run_driver_step(job: Any, files: list[str], engine: Any) -> Any:
    """The one task of a kind whose run is a single driver step with its own resume (training, mixture search):
    its ``run_step``. The engine has validated its inputs, cleared or checked the output and saved the config."""
    return job.run_step(progress=engine.progress)


class DriverJob(Job):
    """A kind that is one global step on the driver (a training run, the mixture search), with its own resume:
    it implements ``run_step``. ``engine`` is accepted (a pipeline's ``--engine`` reaches every step) and
    not used: the step runs in this process."""

    records: ClassVar[bool] = False

    engine: EngineConfig = EngineConfig()

    def tasks(self, files: list[str]) -> list[Task]:
        return [Once(run_driver_step)]

    def run_step(self, progress: bool = True, overwrite: bool = False) -> Any:
        raise NotImplementedError


# -- loading ----------------------------------------------------------------------------------------------------
JOBS_GROUP = "corpusforge.jobs"


def job_kinds() -> dict[str, str]:
    """Job kinds by name → ``module:Class``, from the ``corpusforge.jobs`` entry points: each package registers
    its own (pipelines, training, mixtures, annotators), so nothing here imports them."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=JOBS_GROUP)}


def load_job(path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> Job:
    """The job config class is chosen by the file's ``kind`` field (default ``web``); ``overrides`` are dotted
    ``field=value`` pairs (a kind may take them its own way: a pipeline hands them to its steps)."""
    import importlib
    from pathlib import Path

    import yaml

    from corpusforge.errors import ConfigError

    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError:
        data = None  # the config class reports the YAML error with its position
    kind = data.get("kind", "web") if isinstance(data, dict) else "web"
    kinds = job_kinds()
    if kind not in kinds:
        raise ConfigError("kind", f"{kind!r} is not one of {', '.join(sorted(kinds))}", source=str(path))
    module, name = kinds[kind].split(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:  # an extra not installed, or an install older than the code
        raise ConfigError("kind", f"{kind!r} cannot load ({kinds[kind]}: {exc}); is its extra installed?") from None
    return cls.load(path, overrides)
