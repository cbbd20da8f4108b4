"""datatrove engine: our stages wrapped as `PipelineStep`s, so Local, Slurm and Ray executors run them.

Decided outcomes (dropped, quarantined) travel down the step list marked in the document's metadata
rather than vanishing, so the last step (`OutcomeWriter`) files every record exactly as the local engine
does: same part files, same ledger, same markers.
"""

from __future__ import annotations

from datatrove.data import Document, DocumentsPipeline, Media
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep

from corpusforge.fs import join
from corpusforge.ledger import KEPT
from corpusforge.record import Record
from pipelines.engines import JobResult, summarize
from pipelines.stage import Outcome, Stage, run_one
from pipelines.task import TaskWriter, clean_temporaries, completion_marker, read_summaries

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


def run_datatrove(job, files: list[str]) -> JobResult:
    clean_temporaries(job.output)
    from corpusforge.fs import exists

    done = sum(exists(completion_marker(job.output, t)) for t in range(len(files)))
    executor = LocalPipelineExecutor(
        pipeline=build_pipeline(job, files),
        tasks=len(files),
        workers=min(job.engine.workers, len(files)),
        logging_dir=join(job.output, "datatrove"),
        skip_completed=True,
        start_method="spawn",
    )
    executor.run()
    result = summarize(job.name, read_summaries(job.output))
    result.tasks_run, result.tasks_skipped = len(files) - done, done
    return result
