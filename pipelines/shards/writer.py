"""Pass 2 of the shard job, for one task: tokenized documents into Megatron indexed datasets per final cell,
the per-document sidecar, the audit, the ledger and the task metadata, all published at close (a killed task
leaves only ``.tmp-`` files behind)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections import Counter
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.errors import InputError
from corpusforge.fs import filesystem, join, write_text
from corpusforge.ledger import DROPPED, KEPT, Ledger
from pipelines.decontam import REASON as CONTAMINATED
from pipelines.decontam import DecontamConfig
from pipelines.shards.cells import cell_labels, cell_name, cell_values
from pipelines.shards.manifest import CELL, LONG
from pipelines.shards.tokenizer import Tokenizer
from pipelines.task import AUDIT_SCHEMA, completion_marker, part_name

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


@lru_cache(maxsize=2)
def _registry(config_json: str):
    """One decontamination registry per worker process and config (the default sets take a few seconds)."""
    return DecontamConfig.model_validate_json(config_json).build()


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

    def __init__(self, job, task: int, cells: dict[tuple, tuple], tokenizer: Tokenizer):
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
