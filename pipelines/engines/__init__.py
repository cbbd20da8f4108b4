"""Engines decide where tasks run; the stages and the task code are the same under each of them."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import yaml

from corpusforge.errors import ConfigError
from corpusforge.fs import exists, filesystem, join, makedirs, read_text, write_text
from corpusforge.ledger import Ledger


@dataclass
class JobResult:
    """Totals of a run: the merged ledger and the languages of kept documents."""

    ledger: Ledger
    languages: Counter = field(default_factory=Counter)
    tasks_run: int = 0
    tasks_skipped: int = 0
    then: dict[str, JobResult] = field(default_factory=dict)  # results of the stages chained after this one
    skipped_inputs: list[str] = field(default_factory=list)  # files of the input folders that are no input
    notes: list[str] = field(default_factory=list)  # decisions a user must see (e.g. cell keys a gate dropped)

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


def _defining(config: dict) -> dict:
    """The fields that decide outputs: where and how fast the job runs does not."""
    return {k: v for k, v in config.items() if k != "engine"}


def check_resumable(job, saved: dict) -> None:
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


def summarize(stage: str, summaries: list[dict]) -> JobResult:
    ledger = Ledger.total(stage, [Ledger.from_dict(s["ledger"]) for s in summaries]).check()
    languages: Counter = Counter()
    for s in summaries:
        languages.update(s.get("languages", {}))
    return JobResult(ledger=ledger, languages=languages)


def run_job(job, progress: bool = False, overwrite: bool = False) -> JobResult:
    """Validate inputs, save the resolved config beside the outputs, run on the configured engine.

    An output directory holding a run of a different config, or one written by another engine kind, is refused
    (its finished tasks would be skipped and mixed with new ones) unless ``overwrite`` clears it first.
    """
    files = job.input_files()  # fails before any work when nothing matches
    saved = join(job.output, "config.yaml")
    if overwrite and exists(job.output):
        fs, root = filesystem(job.output)
        fs.rm(root, recursive=True)
    elif exists(saved):
        check_resumable(job, yaml.safe_load(read_text(saved)) or {})
    makedirs(job.output)
    write_text(saved, job.to_yaml())
    result = job.execute(files, progress=progress)
    write_text(join(job.output, "funnel.json"), json.dumps(result.to_dict(), indent=2))
    return result


def run_engine(job, files: list[str], progress: bool = False) -> JobResult:
    """A per-document job on its configured engine."""
    kind = job.engine.kind
    if kind == "spark":
        from pipelines.engines.spark import run_spark

        return run_spark(job, files)
    if kind == "datatrove":
        from pipelines.engines.datatrove import run_datatrove

        return run_datatrove(job, files)
    from pipelines.engines.local import run_local

    return run_local(job, files, progress=progress)
