"""Engines run any job kind's tasks (`corpusforge.job`); what a run writes besides the kind's own outputs is
done here once for every kind: the refusal of another config's or engine's output, ``--overwrite``, the
resolved config, completion markers (of per-file tasks and global steps), the ledger check and ``funnel.json``.

Each engine module (local, spark, datatrove) has an engine class with ``run_stages`` (the kind's per-document
stages over every input file) and ``run_files`` (a task function per input file); both return how many tasks
ran (the others were finished by a previous run). The engine modules import nothing from this one.
"""

from __future__ import annotations

import json

import yaml

from corpusforge.errors import ConfigError
from corpusforge.fs import exists, filesystem, join, makedirs, read_text, write_text
from corpusforge.heap import system_allocator
from corpusforge.job import Job, JobResult, Once, PerFile, Stages, summarize
from corpusforge.ledger import Ledger
from pipelines.task import clean_temporaries, completion_marker, read_summaries


def _defining(config: dict) -> dict:
    """The fields that decide outputs: where and how fast the job runs does not."""
    return {k: v for k, v in config.items() if k != "engine"}


def check_resumable(job: Job, saved: dict) -> None:
    """An output is resumed only by the same config on the same engine kind: another engine's finished tasks
    would be mixed with this one's (the engine kind is recorded in the saved config)."""
    if _defining(saved) != _defining(job.model_dump(mode="json")):
        raise ConfigError("output", f"{job.output} holds a run of a different config; pass --overwrite or pick another")
    before = (saved.get("engine") or {}).get("kind", "local")
    if before != job.engine.kind:
        raise ConfigError(
            "engine.kind",
            f"{job.output} was written by the {before} engine, not {job.engine.kind}; pass --overwrite or pick another",
        )


def run_job(job: Job, progress: bool = False, overwrite: bool = False) -> JobResult:
    """Validate inputs, save the resolved config beside the outputs, run the tasks on the configured engine.

    An output directory holding a run of a different config, or one written by another engine kind, is refused
    (its finished tasks would be skipped and mixed with new ones) unless ``overwrite`` clears it first.
    """
    files = job.input_files()  # fails before any work when an input is missing or wrong
    if job.output is None:  # a job with no output of its own (a pipeline: its steps save theirs)
        return run_tasks(job, files, progress=progress, overwrite=overwrite)
    saved = join(job.output, "config.yaml")
    if overwrite and exists(job.output):
        fs, root = filesystem(job.output)
        fs.rm(root, recursive=True)
    elif exists(saved):
        check_resumable(job, yaml.safe_load(read_text(saved)) or {})
    makedirs(job.output)
    write_text(saved, job.to_yaml())
    result = run_tasks(job, files, progress=progress, overwrite=overwrite)
    if job.records:
        write_text(join(job.output, "funnel.json"), json.dumps(result.to_dict(), indent=2))
    return result


class MarkedTask:
    """A per-file task function with its completion marker kept by the engine (picklable: it travels to Spark
    executors and datatrove workers as it is)."""

    def __init__(self, fn, done: str):
        self.fn, self.done = fn, done
        self.__name__ = getattr(fn, "__name__", "task")

    def __call__(self, job: Job, task: int, path: str) -> bool:
        marker = completion_marker(join(job.output, self.done) if self.done else job.output, task)
        if exists(marker):
            return False
        system_allocator()  # a worker's Arrow buffers in the heap its trims reach (corpusforge.heap)
        self.fn(job, task, path)
        if not exists(marker):  # the standard writers (TaskWriter, ShardWriter) write it with their last file
            write_text(marker, "done\n")
        return True


def open_engine(job: Job, progress: bool = False, overwrite: bool = False):
    """The engine ``job.engine.kind`` names; ``progress`` and ``overwrite`` reach global steps that run jobs of
    their own (a pipeline's steps)."""
    kind = job.engine.kind
    if kind == "spark":
        from pipelines.engines.spark import SparkEngine as Engine
    elif kind == "datatrove":
        from pipelines.engines.datatrove import DatatroveEngine as Engine
    else:
        from pipelines.engines.local import LocalEngine as Engine
    engine = Engine(job, progress)
    engine.overwrite = overwrite
    return engine


def run_tasks(job: Job, files: list[str], progress: bool = False, overwrite: bool = False) -> JobResult:
    """The job's tasks in order on its engine, then its totals, the jobs chained after it (run into folders of
    its output, their totals under ``result.then``) and its ``finish``. No config is saved here."""
    system_allocator()  # the driver's too: a Once step (dedup's decision) runs here
    engine = open_engine(job, progress, overwrite)
    if job.output is not None:
        clean_temporaries(job.output)  # what a killed run left half-written
    job = job.prepare()
    ran, value = len(files), None
    for task in job.tasks(files):
        if isinstance(task, Stages):
            ran = engine.run_stages(job, files, task.label)
        elif isinstance(task, PerFile):
            fn = MarkedTask(task.fn, task.done)
            ran = engine.run_files(fn, job, files if task.files is None else list(task.files), task.label)
        elif isinstance(task, Once):
            marker = join(job.output, task.done) if task.done else None
            if marker is None or not exists(marker):
                value = task.fn(job, files, engine)
                if marker is not None:
                    write_text(marker, "done\n")
        else:
            raise TypeError(f"{type(job).__name__}.tasks() listed {task!r}, not a Stages, PerFile or Once")
    if job.records:
        result = summarize(job.name, read_summaries(job.output))
        result.tasks_run, result.tasks_skipped = ran, len(files) - ran
    else:
        result = JobResult(ledger=Ledger(stage=job.name), value=value, records=False)
    result.output = job.output
    for name, then in job.chained(files, result).items():
        result.then[name] = run_tasks(then, then.input_files(), progress=progress)
    job.finish(files, result)
    return result


__all__ = ["JobResult", "check_resumable", "open_engine", "run_job", "run_tasks", "summarize"]
