"""``kind: shard``: labelled documents (record Parquet) → Megatron indexed datasets per label cell + manifest.

Two passes with their own completion files, so a killed run redoes only unfinished tasks:

1. ``_work/counts/part-NNNNN.json``: one task per input file counts its documents per raw cell (labels only);
   the driver merges the counts into ``_work/cells.json`` (raw cell → final cell, rule in ``cells.py``);
2. one task per input file tokenizes its documents (end-of-document token appended, never truncated) and writes
   ``cells/<cell>/part-NNNNN.{bin,idx}`` (and ``long/<cell>/...`` for documents of ``long_docs`` length),
   ``index/part-NNNNN.parquet`` (the per-document sidecar), ``audit/``, ``ledger/``, ``_work/tasks/`` (its
   metadata), then ``_completions/NNNNN``. Every file is written under a temporary name and renamed.

The driver merges the per-task metadata into ``manifest.json``. Both passes are the same code under the local
engine and Spark, so both write the same bytes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator

from corpusforge.config import Config
from corpusforge.fs import atomic_open, exists, join, read_text, write_text
from corpusforge.job import JobResult, Once, PerFile, Task, summarize
from corpusforge.ledger import Ledger
from corpusforge.parquet import read_batches
from corpusforge.record import Record
from pipelines.decontam import DecontamConfig
from pipelines.jobs.base import DocumentsJobConfig
from pipelines.shards.cells import CellsConfig, cell_values, gate_keys, merge_cells, needed_columns
from pipelines.shards.manifest import MANIFEST, build_manifest
from pipelines.shards.tokenizer import Tokenizer, TokenizerConfig
from pipelines.shards.writer import SIDECAR_LABELS, WORK, ShardWriter
from pipelines.task import part_name, read_summaries


class LongDocsConfig(Config):
    enabled: bool = True
    min_tokens: int = Field(16_384, ge=1, description="Documents with at least this many tokens (EOD excluded)...")
    max_tokens: int = Field(32_768, ge=1, description="...and at most this many also go to long/<cell>/ shards.")

    @model_validator(mode="after")
    def _order(self):
        if self.max_tokens < self.min_tokens:
            raise ValueError("long_docs.max_tokens is below long_docs.min_tokens")
        return self


class ShardConfig(Config):
    tokenizer: TokenizerConfig = TokenizerConfig()
    cells: CellsConfig = CellsConfig()
    long_docs: LongDocsConfig = LongDocsConfig()
    batch_docs: int = Field(1024, gt=0, description="Documents read and tokenized per batch.")
    max_chars: int = Field(
        16_000_000, gt=0, description="Longer documents are dropped as too_long (shorter ones are never truncated)."
    )
    decontam: DecontamConfig | None = Field(
        None, description="Drop documents sharing an n-gram with an evaluation set before tokenizing; null: off."
    )


class ShardJobConfig(DocumentsJobConfig):
    """Documents (Parquet in the record schema, e.g. a dedup job's documents/) → token shards per label cell."""

    kind: Literal["shard"] = "shard"
    name: str = "shard"
    shard: ShardConfig = ShardConfig()

    def input_files(self) -> list[str]:
        if self.shard.decontam is not None:
            self.shard.decontam.check()  # a missing evaluation set fails before any work
        return super().input_files()

    def prepare(self) -> ShardJobConfig:
        job_tokenizer(self.shard)  # a bad tokenizer fails here, before any task
        return gate_job(self)[0]

    def tasks(self, files: list[str]) -> list[Task]:
        return [PerFile(count_task, "cells", done=f"{WORK}/counts"), Once(decide_step), PerFile(shard_task, "shards")]

    def finish(self, files: list[str], result: JobResult) -> None:
        write_manifest(self, len(files), result.ledger)
        if (gate := _gate_report(self.output) or {}).get("note"):
            result.notes.append(gate["note"])


@lru_cache(maxsize=4)
def _tokenizer(config_json: str) -> Tokenizer:
    """One tokenizer per worker process and config (loading the Qwen3 files takes about a second)."""
    return TokenizerConfig.model_validate_json(config_json).build()


def job_tokenizer(config: ShardConfig) -> Tokenizer:
    return _tokenizer(config.tokenizer.model_dump_json())


# -- reading ----------------------------------------------------------------------------------------------------
def _batches(path: str, columns: list[str], batch_rows: int) -> Iterable[dict[str, list]]:
    """Column lists of ``columns``; a column the file lacks is all None (labels a job did not write)."""
    for batch in read_batches(path, columns, batch_rows):
        data = batch.to_pydict()
        n = batch.num_rows
        yield {c: data[c] if c in data else [None] * n for c in columns}


# -- pass 1: cell counts ----------------------------------------------------------------------------------------
def _counts_path(output: str, task: int) -> str:
    return join(output, WORK, "counts", part_name(task, "json"))


def count_task(job: ShardJobConfig, task: int, path: str) -> None:
    out = _counts_path(job.output, task)
    keys = job.shard.cells.keys
    counts: Counter = Counter()
    for cols in _batches(path, needed_columns(keys), 65536):
        counts.update(cell_values(keys, cols))
    write_text(out, json.dumps({"cells": sorted([list(c), n] for c, n in counts.items())}))


def decide_step(job: ShardJobConfig, files: list[str], engine) -> None:
    decide_cells(job, len(files))


def decide_cells(job: ShardJobConfig, n_tasks: int) -> dict[tuple, tuple]:
    """Raw cell → final cell, merged from the task counts once and saved (a restart reuses it)."""
    saved = join(job.output, WORK, "cells.json")
    if not exists(saved):
        counts: Counter = Counter()
        for task in range(n_tasks):
            for cell, n in json.loads(read_text(_counts_path(job.output, task)))["cells"]:
                counts[tuple(cell)] += n
        mapping = merge_cells(counts, job.shard.cells)
        rows = sorted([list(raw), list(final), counts[raw]] for raw, final in mapping.items())
        write_text(saved, json.dumps({"keys": job.shard.cells.keys, "cells": rows}, indent=1))
    data = json.loads(read_text(saved))
    return {tuple(raw): tuple(final) for raw, final, _ in data["cells"]}


def read_columns(keys: list[str]) -> list[str]:
    return sorted({"id", "text", "source", "url", "lang", *SIDECAR_LABELS, *needed_columns(keys)})


def shard_task(job: ShardJobConfig, task: int, path: str) -> None:
    """Pass 2 for one input file (the engine skips it when a previous run finished it)."""
    cells = decide_cells_saved(job)
    writer = ShardWriter(job, task, cells, job_tokenizer(job.shard))
    try:
        for cols in _batches(path, read_columns(job.shard.cells.keys), job.shard.batch_docs):
            writer.add(cols)
        writer.close()
    except BaseException:
        writer.abort()
        raise


def decide_cells_saved(job: ShardJobConfig) -> dict[tuple, tuple]:
    data = json.loads(read_text(join(job.output, WORK, "cells.json")))
    return {tuple(raw): tuple(final) for raw, final, _ in data["cells"]}


def gate_job(job: ShardJobConfig) -> tuple[ShardJobConfig, dict]:
    """The job with the cell keys that pass the gate (cells.py `gate_keys`); decided once per output and saved
    in ``_work/gate.json``, so a restart keys its cells as the first run did."""
    saved = join(job.output, WORK, "gate.json")
    if exists(saved):
        report = json.loads(read_text(saved))
    else:
        report = gate_keys(job.shard.cells)[1]
        write_text(saved, json.dumps(report, indent=1))
    keys = report.get("keys", job.shard.cells.keys)
    cells = job.shard.cells.model_copy(update={"keys": keys})
    return job.model_copy(update={"shard": job.shard.model_copy(update={"cells": cells})}), report


def _gate_report(output: str) -> dict | None:
    saved = join(output, WORK, "gate.json")
    return json.loads(read_text(saved)) if exists(saved) else None


def write_manifest(job: ShardJobConfig, n_tasks: int, ledger: Ledger) -> dict:
    tok = job_tokenizer(job.shard)
    metas = [json.loads(read_text(join(job.output, WORK, "tasks", part_name(t, "json")))) for t in range(n_tasks)]
    long = job.shard.long_docs
    header = {
        "tokenizer": tok.identity(),
        "cell_keys": job.shard.cells.keys,
        "cell_gate": _gate_report(job.output),
        "merge": {"min_documents": job.shard.cells.min_documents, "other": job.shard.cells.other},
        "long_docs": {"min_tokens": long.min_tokens, "max_tokens": long.max_tokens} if long.enabled else None,
    }
    manifest = build_manifest(header, metas, ledger.to_dict())
    write_text(join(job.output, MANIFEST), json.dumps(manifest, indent=1))
    return manifest


# -- Python API ---------------------------------------------------------------------------------------------------
def shard_documents(inputs: list[str] | str, output: str, config: ShardConfig | None = None, **job) -> JobResult:
    """Shard record Parquet files (files, globs or folders) into ``output``; ``job`` takes JobConfig fields."""
    from pipelines.engines import run_job

    inputs = [inputs] if isinstance(inputs, str) else list(inputs)
    overwrite = job.pop("overwrite", False)
    spec = ShardJobConfig(inputs=inputs, output=output, shard=config or ShardConfig(), **job)
    return run_job(spec, overwrite=overwrite)


def shard_records(records: Iterable[Record], output: str, config: ShardConfig | None = None, batch: int = 1024) -> dict:
    """Shard in-memory records as one task (no Parquet in between: text Parquet cannot hold, such as lone
    surrogates, is dropped with its reason); returns the manifest."""
    records = list(records)
    job = ShardJobConfig(inputs=["<records>"], output=output, shard=config or ShardConfig())
    job, _ = gate_job(job)
    keys = job.shard.cells.keys
    columns = read_columns(keys)

    def batches():
        for start in range(0, len(records), batch):
            rows = [r.to_row() for r in records[start : start + batch]]
            yield {c: [row.get(c) for row in rows] for c in columns}

    counts: Counter = Counter()
    for cols in batches():
        counts.update(cell_values(keys, cols))
    cells = merge_cells(counts, job.shard.cells)
    write_text(
        join(output, WORK, "cells.json"),
        json.dumps({"keys": keys, "cells": sorted([list(r), list(f), counts[r]] for r, f in cells.items())}),
    )
    writer = ShardWriter(job, 0, cells, job_tokenizer(job.shard))
    try:
        for cols in batches():
            writer.add(cols)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    with atomic_open(join(output, "config.yaml"), "wb") as f:
        f.write(job.to_yaml().encode())
    return write_manifest(job, 1, summarize(job.name, read_summaries(output)).ledger)
