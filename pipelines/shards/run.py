"""The shard job: labelled documents (record Parquet) → Megatron indexed datasets per label cell + manifest.

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
import os
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field, model_validator

from corpusforge.config import Config
from corpusforge.errors import ConfigError, InputError
from corpusforge.fs import atomic_open, exists, filesystem, join, open_input, read_text, write_text
from corpusforge.ledger import DROPPED, KEPT, Ledger
from corpusforge.record import Record
from pipelines.decontam import REASON as CONTAMINATED
from pipelines.decontam import DecontamConfig
from pipelines.engines import JobResult, summarize
from pipelines.job import DocumentsJobConfig
from pipelines.shards.cells import (
    CellsConfig,
    cell_labels,
    cell_name,
    cell_values,
    gate_keys,
    merge_cells,
    needed_columns,
)
from pipelines.shards.manifest import CELL, LONG, MANIFEST, build_manifest
from pipelines.shards.tokenizer import Tokenizer, TokenizerConfig
from pipelines.task import AUDIT_SCHEMA, clean_temporaries, completion_marker, part_name, read_summaries

STAGE = "shard"
WORK = "_work"
# drop reasons (the ledger's named reasons for documents that get no tokens)
EMPTY, TOO_LONG, INVALID_UNICODE, ZERO_TOKENS = "empty", "too_long", "invalid_unicode", "zero_tokens"
SIDECAR_LABELS = ("lang", "domain", "doc_format", "academic_field", "edu_score", "source")

SIDECAR_SCHEMA = pa.schema(
    [
        pa.field("shard", pa.string(), nullable=False),  # the shard's path prefix, relative to the output
        pa.field("doc_index", pa.int64(), nullable=False),  # the document's sequence index in that shard
        pa.field("id", pa.string(), nullable=False),
        pa.field("cell", pa.string(), nullable=False),
        pa.field("lang", pa.string()),
        pa.field("domain", pa.string()),
        pa.field("doc_format", pa.string()),
        pa.field("academic_field", pa.string()),
        pa.field("edu_score", pa.float64()),
        pa.field("source", pa.string()),
        pa.field("tokens", pa.int64(), nullable=False),  # tokens in the shard, end-of-document token included
        pa.field("long_shard", pa.string()),  # set when the document is also in a long-context shard
        pa.field("long_index", pa.int64()),
    ]
)


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

    def execute(self, files: list[str], progress: bool = False) -> JobResult:
        return run_shard(self, files, progress=progress)


@lru_cache(maxsize=4)
def _tokenizer(config_json: str) -> Tokenizer:
    """One tokenizer per worker process and config (loading the Qwen3 files takes about a second)."""
    return TokenizerConfig.model_validate_json(config_json).build()


@lru_cache(maxsize=2)
def _registry(config_json: str):
    """One decontamination registry per worker process and config (the default sets take a few seconds)."""
    return DecontamConfig.model_validate_json(config_json).build()


def job_tokenizer(config: ShardConfig) -> Tokenizer:
    return _tokenizer(config.tokenizer.model_dump_json())


# -- reading ----------------------------------------------------------------------------------------------------
def _batches(path: str, columns: list[str], batch_rows: int) -> Iterable[dict[str, list]]:
    with open_input(path) as f:
        parquet = pq.ParquetFile(f)
        names = parquet.schema_arrow.names
        missing = [c for c in ("id", "text", "source") if c not in names]
        if missing and "text" in columns:
            raise InputError(path, f"not in the record schema: no column {', '.join(missing)}")
        present = [c for c in columns if c in names]
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=present):
            data = batch.to_pydict()
            n = batch.num_rows
            yield {c: data[c] if c in data else [None] * n for c in columns}


# -- pass 1: cell counts ----------------------------------------------------------------------------------------
def _counts_path(output: str, task: int) -> str:
    return join(output, WORK, "counts", part_name(task, "json"))


def count_task(job: ShardJobConfig, task: int, path: str) -> bool:
    out = _counts_path(job.output, task)
    if exists(out):
        return False
    keys = job.shard.cells.keys
    counts: Counter = Counter()
    for cols in _batches(path, needed_columns(keys), 65536):
        counts.update(cell_values(keys, cols))
    write_text(out, json.dumps({"cells": sorted([list(c), n] for c, n in counts.items())}))
    return True


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


# -- pass 2: tokenize and write ---------------------------------------------------------------------------------
class _Staging:
    """Local temporary files published under their final names at the end (a rename for local outputs, an
    upload for object stores), so a killed task leaves only ``.tmp-`` files behind."""

    def __init__(self, output: str):
        fs, root = filesystem(output)
        protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
        self.local = "file" in protocols or "local" in protocols
        self.fs, self.root = fs, root
        self.scratch = None if self.local else tempfile.mkdtemp(prefix="corpusforge-shards-")
        self.pending: list[tuple[str, str]] = []

    def path(self, relative: str) -> str:
        """A local temporary file for OUTPUT/relative."""
        name = relative.rsplit("/", 1)[-1]
        tmp_dir = join(self.root, relative.rsplit("/", 1)[0]) if self.local else self.scratch
        os.makedirs(tmp_dir, exist_ok=True)
        tmp = f"{tmp_dir}/.tmp-{uuid.uuid4().hex}-{name}"
        self.pending.append((tmp, join(self.root, relative)))
        return tmp

    def publish(self) -> None:
        for tmp, final in self.pending:
            if self.local:
                os.replace(tmp, final)
            else:
                self.fs.put_file(tmp, final)
        self.pending = []
        self.abort()

    def abort(self) -> None:
        for tmp, _ in self.pending:
            if os.path.exists(tmp):
                os.remove(tmp)
        self.pending = []
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)


class _Shard:
    """One Megatron indexed dataset being written by a task, with its counts."""

    def __init__(self, staging: _Staging, relative: str, kind: str, cell: tuple, keys: list[str], tokenizer):
        from pipelines.shards.megatron import ShardBuilder

        self.relative, self.kind, self.cell, self.keys = relative, kind, cell, keys
        self.bin_tmp = staging.path(relative + ".bin")
        self.idx_tmp = staging.path(relative + ".idx")
        self.builder = ShardBuilder(self.bin_tmp, dtype=tokenizer.dtype.type)
        self.documents = self.tokens = 0
        self.sources: dict[str, list[int]] = {}

    def add(self, tokens: np.ndarray, lengths: list[int], sources: list[str]) -> int:
        """Append documents; returns the index of the first."""
        first = self.documents
        self.builder.add_documents(tokens, np.asarray(lengths, dtype=np.int64))
        self.documents += len(lengths)
        self.tokens += int(sum(lengths))
        for src, n in zip(sources, lengths, strict=True):
            st = self.sources.setdefault(src, [0, 0])
            st[0] += 1
            st[1] += n
        return first

    def finalize(self, tokenizer_hash: str) -> dict:
        self.builder.finalize(self.idx_tmp)
        bin_bytes, idx_bytes = os.path.getsize(self.bin_tmp), os.path.getsize(self.idx_tmp)
        return {
            "path": self.relative,
            "kind": self.kind,
            "cell": cell_name(self.keys, self.cell),
            "labels": cell_labels(self.keys, self.cell),
            "task": int(self.relative.rsplit("part-", 1)[-1]),
            "documents": self.documents,
            "tokens": self.tokens,
            "bin_bytes": bin_bytes,
            "idx_bytes": idx_bytes,
            "bytes": bin_bytes + idx_bytes,
            "tokenizer_hash": tokenizer_hash,
            "sources": {s: {"documents": d, "tokens": t} for s, (d, t) in sorted(self.sources.items())},
        }

    def close_quietly(self) -> None:
        import contextlib

        with contextlib.suppress(Exception):
            self.builder.data_file.close()


def _valid_unicode(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: not text, and Parquet could not hold it
        return False
    return True


class ShardWriter:
    """Writes one task's documents: shards per final cell, the sidecar, the audit, the ledger and the metadata.

    ``add(columns)`` takes a batch as column lists (``id``, ``text``, ``source``, ``url`` and label columns);
    ``close()`` publishes every file and returns the task metadata; ``abort()`` leaves only temporaries.
    """

    def __init__(self, job: ShardJobConfig, task: int, cells: dict[tuple, tuple], tokenizer: Tokenizer):
        self.job, self.task, self.cells, self.tok = job, task, cells, tokenizer
        self.config = job.shard
        self.keys = self.config.cells.keys
        self.staging = _Staging(job.output)
        self.shards: dict[tuple[str, tuple], _Shard] = {}
        self.ledger = Ledger(stage=job.name, task=f"{task:05d}")
        self.languages: Counter = Counter()
        self.sidecar: list[dict] = []
        self.audit: list[dict] = []
        compression = None if job.write.compression == "none" else job.write.compression
        self._sidecar_path = self.staging.path(f"index/{part_name(task)}")
        self._audit_path = self.staging.path(f"audit/{part_name(task)}")
        self._sidecar_writer = pq.ParquetWriter(self._sidecar_path, SIDECAR_SCHEMA, compression=compression)
        self._audit_writer = pq.ParquetWriter(self._audit_path, AUDIT_SCHEMA, compression=compression)
        self.encoded_tokens = 0  # tokens counted when encoding (EOD included): the accounting test compares it

    def _shard(self, kind: str, cell: tuple) -> _Shard:
        key = (kind, cell)
        if key not in self.shards:
            folder = "cells" if kind == CELL else "long"
            relative = f"{folder}/{cell_name(self.keys, cell)}/part-{self.task:05d}"
            self.shards[key] = _Shard(self.staging, relative, kind, cell, self.keys, self.tok)
        return self.shards[key]

    def _drop(self, cols: dict, i: int, reason: str, detail: str | None = None) -> None:
        self.ledger.record(DROPPED, reason)
        self.audit.append(
            {
                "id": cols["id"][i],
                "url": cols.get("url", [None] * (i + 1))[i],
                "source": cols["source"][i],
                "stage": STAGE,
                "status": DROPPED,
                "reason": reason,
                "detail": detail,
                "task": self.task,
            }
        )

    def add(self, cols: dict[str, list]) -> None:
        texts = cols["text"]
        keep: list[int] = []
        decontam = self.config.decontam
        registry = _registry(decontam.model_dump_json()) if decontam is not None and decontam.enabled else None
        for i, text in enumerate(texts):
            if text is None or not text or text.isspace():
                self._drop(cols, i, EMPTY)
            elif len(text) > self.config.max_chars:
                self._drop(cols, i, TOO_LONG, f"{len(text)} characters > max_chars {self.config.max_chars}")
            elif not _valid_unicode(text):
                self._drop(cols, i, INVALID_UNICODE, "lone surrogate code points")
            elif registry is not None and (hits := registry.hits(text)):
                self._drop(cols, i, CONTAMINATED.format(hits[0]), f"shares a {decontam.n}-gram with {', '.join(hits)}")
            else:
                keep.append(i)
        encoded = self.tok.encode_batch([texts[i] for i in keep])
        raw_cells = cell_values(self.keys, cols)
        groups: dict[tuple, list[tuple[int, list[int]]]] = {}
        for i, ids in zip(keep, encoded, strict=True):
            if not ids:
                self._drop(cols, i, ZERO_TOKENS)
                continue
            raw = raw_cells[i]
            if raw not in self.cells:
                raise InputError(self.job.inputs[0], f"document {cols['id'][i]} has cell {raw} unseen when counting")
            groups.setdefault(self.cells[raw], []).append((i, ids))
        placed: dict[int, tuple] = {}
        long_cfg = self.config.long_docs
        for cell, docs in sorted(groups.items()):
            placed.update(self._write(CELL, cell, cols, docs))
            if long_cfg.enabled:
                longs = [(i, ids) for i, ids in docs if long_cfg.min_tokens <= len(ids) <= long_cfg.max_tokens]
                if longs:
                    for i, where in self._write(LONG, cell, cols, longs).items():
                        placed[i] = (*placed[i], *where)
        for i in sorted(placed):
            shard, index, tokens, cell = placed[i][:4]
            long_shard, long_index = (placed[i][4], placed[i][5]) if len(placed[i]) > 4 else (None, None)
            self.ledger.record(KEPT)
            self.languages[cols["lang"][i] or "unknown"] += 1
            self.sidecar.append(
                {
                    "shard": shard,
                    "doc_index": index,
                    "id": cols["id"][i],
                    "cell": cell_name(self.keys, cell),
                    **{c: cols[c][i] for c in SIDECAR_LABELS},
                    "tokens": tokens,
                    "long_shard": long_shard,
                    "long_index": long_index,
                }
            )
        self._flush()

    def _write(self, kind: str, cell: tuple, cols: dict, docs: list[tuple[int, list[int]]]) -> dict[int, tuple]:
        lengths = [len(ids) + 1 for _, ids in docs]
        flat = np.empty(sum(lengths), dtype=self.tok.dtype)
        pos = 0
        for (_, ids), n in zip(docs, lengths, strict=True):
            flat[pos : pos + n - 1] = ids
            flat[pos + n - 1] = self.tok.eod
            pos += n
        shard = self._shard(kind, cell)
        first = shard.add(flat, lengths, [cols["source"][i] for i, _ in docs])
        if kind == CELL:
            self.encoded_tokens += int(flat.size)
            return {
                i: (shard.relative, first + k, n, cell) for k, ((i, _), n) in enumerate(zip(docs, lengths, strict=True))
            }
        return {i: (shard.relative, first + k) for k, (i, _) in enumerate(docs)}

    def _flush(self) -> None:
        if len(self.sidecar) >= self.job.write.batch_rows:
            self._sidecar_writer.write_table(pa.Table.from_pylist(self.sidecar, schema=SIDECAR_SCHEMA))
            self.sidecar = []
        if len(self.audit) >= self.job.write.batch_rows:
            self._audit_writer.write_table(pa.Table.from_pylist(self.audit, schema=AUDIT_SCHEMA))
            self.audit = []

    def close(self) -> dict:
        self.ledger.check()
        if self.sidecar:
            self._sidecar_writer.write_table(pa.Table.from_pylist(self.sidecar, schema=SIDECAR_SCHEMA))
        if self.audit:
            self._audit_writer.write_table(pa.Table.from_pylist(self.audit, schema=AUDIT_SCHEMA))
        self._sidecar_writer.close()
        self._audit_writer.close()
        shards = [s.finalize(self.tok.hash) for _, s in sorted(self.shards.items())]
        self.staging.publish()
        meta = {
            "task": self.task,
            "tokenizer_hash": self.tok.hash,
            "encoded_tokens": self.encoded_tokens,
            "shards": shards,
        }
        out = self.job.output
        write_text(join(out, WORK, "tasks", part_name(self.task, "json")), json.dumps(meta, indent=1))
        summary = {"ledger": self.ledger.to_dict(), "languages": dict(sorted(self.languages.items()))}
        write_text(join(out, "ledger", part_name(self.task, "json")), json.dumps(summary, indent=2))
        write_text(completion_marker(out, self.task), "done\n")
        return meta

    def abort(self) -> None:
        import contextlib

        for shard in self.shards.values():
            shard.close_quietly()
        for writer in (self._sidecar_writer, self._audit_writer):
            with contextlib.suppress(Exception):
                writer.close()
        self.staging.abort()


def read_columns(keys: list[str]) -> list[str]:
    return sorted({"id", "text", "source", "url", "lang", *SIDECAR_LABELS, *needed_columns(keys)})


def shard_task(job: ShardJobConfig, task: int, path: str) -> bool:
    """Pass 2 for one input file; False when a previous run finished it."""
    if exists(completion_marker(job.output, task)):
        return False
    cells = decide_cells_saved(job)
    writer = ShardWriter(job, task, cells, job_tokenizer(job.shard))
    try:
        for cols in _batches(path, read_columns(job.shard.cells.keys), job.shard.batch_docs):
            writer.add(cols)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return True


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


def run_shard(job: ShardJobConfig, files: list[str], progress: bool = False) -> JobResult:
    from pipelines.engines.local import run_tasks

    clean_temporaries(job.output)
    job_tokenizer(job.shard)  # a bad tokenizer fails here, before any task
    job, gate = gate_job(job)
    if job.engine.kind == "spark":
        from pipelines.engines.spark import run_tasks_spark, spark_session

        session = spark_session(job.engine.spark)

        def run(fn, label):
            return run_tasks_spark(session, fn, job, files)
    elif job.engine.kind == "local":

        def run(fn, label):
            return run_tasks(fn, job, files, progress=progress, label=label)
    else:
        raise ConfigError("engine.kind", f"the shard job runs on local or spark, not {job.engine.kind}")
    run(count_task, "cells")
    decide_cells(job, len(files))
    ran = run(shard_task, "shards")
    result = summarize(job.name, read_summaries(job.output))
    write_manifest(job, len(files), result.ledger)
    result.tasks_run, result.tasks_skipped = ran, len(files) - ran
    if gate.get("note"):
        result.notes.append(gate["note"])
    return result


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
