"""One task = one input file: read, run the stages, write kept/audit/side outputs, the ledger, a marker.

Every file is written under a temporary name and renamed; the completion marker is written last, so a task
without a marker is redone from scratch on restart and its outputs come out byte-identical.
"""

from __future__ import annotations

import functools
import json
from collections import Counter

import pyarrow as pa

from corpusforge.errors import StorageError
from corpusforge.fs import exists, filesystem, join, write_text
from corpusforge.heap import system_allocator, trim_heap
from corpusforge.ledger import KEPT, Ledger, record_notes
from corpusforge.parquet import ParquetSink
from corpusforge.record import RECORD_SCHEMA
from pipelines.stage import Outcome, apply_stages

AUDIT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("source", pa.string()),
        pa.field("stage", pa.string()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("reason", pa.string()),
        pa.field("detail", pa.string()),
        pa.field("task", pa.int32()),
    ]
)
SIDE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("meta", pa.map_(pa.string(), pa.string())),
        pa.field("content", pa.large_binary()),
    ]
)
PDF_REASON = "pdf_routed"
#: records between two trims of the C heap (`corpusforge.heap`): a big page's parse leaves free holes that stay
#: resident until trimmed; every 64 records bounds that at a cost of well under 1% of the time
TRIM_EVERY = 64


def part_name(task: int, suffix: str = "parquet") -> str:
    return f"part-{task:05d}.{suffix}"


def completion_marker(output: str, task: int) -> str:
    return join(output, "_completions", f"{task:05d}")


class TaskWriter:
    """Takes outcomes in order and files them: documents/, audit/, pdfs/, ledger/ and the marker."""

    def __init__(self, output: str, task: int, stage: str, batch_rows: int = 1000, compression: str = "zstd"):
        self.output, self.task = output, task
        self.ledger = Ledger(stage=stage, task=f"{task:05d}")
        self.languages: Counter = Counter()
        name = part_name(task)
        self.documents = ParquetSink(join(output, "documents", name), RECORD_SCHEMA, batch_rows, compression)
        self.audit = ParquetSink(join(output, "audit", name), AUDIT_SCHEMA, batch_rows, compression)
        self.pdfs = ParquetSink(join(output, "pdfs", name), SIDE_SCHEMA, 64, compression)

    def add(self, outcome: Outcome) -> None:
        rec = outcome.record
        self.ledger.record(outcome.status, outcome.reason)
        if outcome.status == KEPT:
            self.ledger.notes.update(record_notes(rec.meta))
            self.documents.add(rec)
            self.languages[rec.lang or "unknown"] += 1
            return
        self.audit.add(
            {
                "id": rec.id,
                "url": rec.url,
                "source": rec.source,
                "stage": outcome.stage,
                "status": outcome.status,
                "reason": outcome.reason,
                "detail": outcome.detail,
                "task": self.task,
            }
        )
        if outcome.reason == PDF_REASON and outcome.payload is not None:
            self.pdfs.add({"id": rec.id, "url": rec.url, "meta": sorted(rec.meta.items()), "content": outcome.payload})

    def close(self) -> Ledger:
        self.ledger.check()
        self.documents.close()
        self.audit.close()
        self.pdfs.close(keep_empty=False)
        summary = {"ledger": self.ledger.to_dict(), "languages": dict(sorted(self.languages.items()))}
        write_text(join(self.output, "ledger", part_name(self.task, "json")), json.dumps(summary, indent=2))
        write_text(completion_marker(self.output, self.task), "done\n")
        return self.ledger

    def abort(self) -> None:
        for sink in (self.documents, self.audit, self.pdfs):
            sink.abort()


class _JobKey:
    """A job config as a cache key: equal when the resolved configs are equal."""

    def __init__(self, job):
        self.job, self.key = job, job.model_dump_json()

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other) -> bool:
        return isinstance(other, _JobKey) and other.key == self.key


@functools.lru_cache(maxsize=1)
def worker_stages(key: _JobKey):
    """The source and set-up stages of a job, built once per worker process: models (an LLM, an OCR engine,
    fastText heads) load once, not once per task."""
    source, stages = key.job.build_source(), key.job.build_stages()
    for stage in stages:
        stage.setup()
    return source, stages


def run_task(job, task: int, path: str) -> dict | None:
    """Run one task unless its marker exists; returns the task summary, or None when it was already done."""
    if exists(completion_marker(job.output, task)):
        return None
    system_allocator()
    source, stages = worker_stages(_JobKey(job))
    writer = TaskWriter(job.output, task, job.name, job.write.batch_rows, job.write.compression)
    try:
        for i, outcome in enumerate(apply_stages(source.read(path), stages), 1):
            writer.add(outcome)
            if i % TRIM_EVERY == 0:
                trim_heap()
        ledger = writer.close()
    except BaseException as exc:
        writer.abort()  # no partial part file stays behind
        if isinstance(exc, OSError) and exc.errno in StorageError.NO_SPACE:
            name = path.rsplit("/", 1)[-1]
            raise StorageError(
                f"task {task} ({name}): cannot write its output under {job.output}: {exc.strerror}; "
                "its partial files were removed, a rerun redoes it"
            ) from None
        raise
    return {"ledger": ledger.to_dict(), "languages": dict(writer.languages)}


def clean_temporaries(output: str) -> None:
    """Remove half-written files a killed run left behind."""
    fs, root = filesystem(output)
    if not fs.exists(root):
        return
    for path in fs.find(root):
        if path.rsplit("/", 1)[-1].startswith(".tmp-"):
            fs.rm(path)


def read_summaries(output: str) -> list[dict]:
    fs, root = filesystem(output)
    paths = sorted(fs.glob(root.rstrip("/") + "/ledger/part-*.json"))
    out = []
    for p in paths:
        with fs.open(p, "r") as f:
            out.append(json.load(f))
    return out
