"""datatrove engine: our stages and task functions wrapped as `PipelineStep`s, run by the datatrove executor
``engine.datatrove.executor`` names: local (processes on this machine), slurm (an sbatch array; this process
waits for it) or ray (remote tasks on a Ray cluster, or a local one started here).

Decided outcomes (dropped, quarantined) travel down the step list marked in the document's metadata
rather than vanishing, so the last step (`OutcomeWriter`) files every record exactly as the local engine
does: same part files, same ledger, same markers.
"""

from __future__ import annotations

import time

from datatrove.data import Document, DocumentsPipeline, Media
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep

from corpusforge.errors import ConfigError, CorpusForgeError
from corpusforge.fs import exists, join
from corpusforge.ledger import KEPT
from corpusforge.record import Record
from pipelines.stage import Outcome, Stage, run_one
from pipelines.task import TaskWriter, completion_marker

OUTCOME_KEY = "corpusforge.outcome"


def to_document(outcome: Outcome) -> Document:
    doc = outcome.record.to_document()
    if outcome.status != KEPT:
        doc.metadata[OUTCOME_KEY] = {
            "status": outcome.status,
            "stage": outcome.stage,
            "reason": outcome.reason,
            "detail": outcome.detail,
        }
    if outcome.payload is not None:
        doc.media.append(Media(id=doc.id, type=3, url=outcome.record.url or "", media_bytes=outcome.payload))
    return doc


def from_document(doc: Document) -> Outcome:
    decided = doc.metadata.pop(OUTCOME_KEY, None)
    payload = doc.media[0].media_bytes if doc.media else None
    record = Record.from_document(doc)
    if decided is None:
        return Outcome(record, payload=payload)
    return Outcome(record, decided["status"], decided["stage"], decided["reason"], decided["detail"], payload)


class ArchiveReader(PipelineStep):
    """Task ``rank`` reads input file ``rank``, as the local engine's task of that number does."""

    name = "corpusforge read"
    type = "Reader"

    def __init__(self, job, files: list[str]):
        super().__init__()
        self.job, self.files = job, files

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        source = self.job.build_source()
        for task in range(rank, len(self.files), world_size):
            for outcome in source.read(self.files[task]):
                self.stat_update(outcome.status)
                yield to_document(outcome)


class StageStep(PipelineStep):
    """One of our stages as a datatrove step; documents already decided pass through untouched."""

    type = "CorpusForge"

    def __init__(self, stage: Stage):
        self.name = f"corpusforge {stage.name}"  # before super().__init__(), which names the stats
        super().__init__()
        self.stage = stage

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self.stage.setup()
        for doc in data:
            if OUTCOME_KEY not in doc.metadata:
                outcome = run_one(Record.from_document(doc), [self.stage])
                if outcome.status != KEPT:
                    self.stat_update(f"{outcome.status}_{outcome.reason}")
                doc = to_document(outcome)
            yield doc


class OutcomeWriter(PipelineStep):
    """Files every outcome with the same `TaskWriter` the local engine uses."""

    name = "corpusforge write"
    type = "Writer"

    def __init__(self, job):
        super().__init__()
        self.job = job

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        job = self.job
        writer = TaskWriter(job.output, rank, job.name, job.write.batch_rows, job.write.compression)
        try:
            for doc in data:
                writer.add(from_document(doc))
            writer.close()
        except BaseException:
            writer.abort()
            raise
        return
        yield


def build_pipeline(job, files: list[str]) -> list[PipelineStep]:
    return [ArchiveReader(job, files), *(StageStep(s) for s in job.build_stages()), OutcomeWriter(job)]


class TaskFunction(PipelineStep):
    """A job's per-file task function as a datatrove step: task ``rank`` runs ``fn(job, rank, files[rank])``."""

    name = "corpusforge task"
    type = "CorpusForge"

    def __init__(self, fn, job, files: list[str]):
        super().__init__()
        self.fn, self.job, self.files = fn, job, files

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for task in range(rank, len(self.files), world_size):
            if self.fn(self.job, task, self.files[task]):
                self.stat_update("ran")
        return
        yield


def build_executor(job, pipeline: list[PipelineStep], tasks: int, logging_dir: str):
    """The executor ``engine.datatrove.executor`` names, with its options."""
    options = job.engine.datatrove
    common = {
        "pipeline": pipeline,
        "tasks": tasks,
        "workers": min(job.engine.workers, tasks),
        "logging_dir": logging_dir,
        "skip_completed": True,
    }
    if options.executor == "slurm":
        from datatrove.executor import SlurmPipelineExecutor

        if options.slurm is None:
            raise ConfigError("engine.datatrove.slurm", "the slurm executor needs its options (at least partition)")
        slurm = options.slurm.model_dump()
        slurm["job_name"] = slurm["job_name"] or job.name
        slurm["qos"] = slurm["qos"] or "normal"
        return SlurmPipelineExecutor(**common, **slurm)
    if options.executor == "ray":
        try:
            from datatrove.executor import RayPipelineExecutor
        except ImportError as exc:  # ray itself is imported when the executor runs
            raise ConfigError("engine.datatrove.executor", f"ray: {exc}") from None
        ray = options.ray.model_dump(exclude={"address"})
        return RayPipelineExecutor(**common, **ray)
    return LocalPipelineExecutor(**common, start_method="spawn")


def _ray_started(options, workers: int) -> bool:
    """Connect to ``ray.address`` or start a one-machine Ray here (``workers`` tasks at once); True when this
    call started it or connected, so the engine stops it after the run."""
    try:
        import ray
    except ImportError:
        hint = "ray is not installed (the ray extra: pip install 'corpusforge[ray]')"
        raise ConfigError("engine.datatrove.executor", hint) from None
    if ray.is_initialized():
        return False
    if options.ray.address:
        ray.init(address=options.ray.address, log_to_driver=False)
    else:
        ray.init(num_cpus=options.ray.cpus_per_task * workers, include_dashboard=False, log_to_driver=False)
    return True


class DatatroveEngine:
    """Each run (the stages, or one task function) is one datatrove executor run with ``len(files)`` tasks."""

    kind = "datatrove"
    #: seconds between checks of a submitted Slurm array's completions
    POLL_S = 30

    def __init__(self, job, progress: bool = False):
        self.options, self.progress = job.engine.datatrove, progress

    def run_stages(self, job, files: list[str], label: str = "records") -> int:
        done = sum(exists(completion_marker(job.output, t)) for t in range(len(files)))
        self._run(job, build_pipeline(job, files), len(files), join(job.output, "datatrove"))
        return len(files) - done

    def run_files(self, fn, job, files: list[str], label: str = "files") -> int:
        logs = join(job.output, "_work", "datatrove", label)
        return self._run(job, [TaskFunction(fn, job, files)], len(files), logs)

    def _run(self, job, pipeline: list[PipelineStep], tasks: int, logging_dir: str) -> int:
        """Run (or submit and wait for) the executor; returns how many tasks it had to run."""
        if not tasks:
            return 0
        executor = build_executor(job, pipeline, tasks, logging_dir)
        done = sum(executor.is_rank_completed(rank) for rank in range(tasks))
        started = self.options.executor == "ray" and _ray_started(self.options, min(job.engine.workers, tasks))
        try:
            executor.run()
        finally:
            if started:
                import ray

                ray.shutdown()
        if self.options.executor == "slurm":
            self._wait(executor, tasks)
        missing = [r for r in range(tasks) if not executor.is_rank_completed(r)]
        if missing:
            raise CorpusForgeError(f"{job.name}: datatrove tasks {missing[:10]} did not complete; see {logging_dir}")
        return tasks - done

    def _wait(self, executor, tasks: int) -> None:
        """sbatch returns at submission: wait until every array task has left its completion file."""
        while not all(executor.is_rank_completed(r) for r in range(tasks)):
            time.sleep(self.POLL_S)
