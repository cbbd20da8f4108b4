"""``kind: dedup``: fingerprint every input part, decide globally, then file every record by the decision.

Three steps with their own completion markers, so a killed run redoes only what is unfinished:

1. ``_work/fingerprints/part-NNNNN.parquet``: one task per input file (keys, band keys; no text);
2. ``_work/decisions/task=N/``: the global decision (local: numpy + union-find; Spark: DataFrames and
   large-star/small-star connected components), partitioned by input task;
3. ``documents/``, ``audit/``, ``ledger/``: one task per input file joins its records to its decisions.

Steps 1 and 3 are the same code under every engine; only step 2 differs.

``reference`` documents (e.g. the seed corpus of a synth job) are fingerprinted and decided with the inputs
but never written: they always survive their group (a first survivor key, ``meta.dedup_reference``), so an
input that duplicates one is dropped as ``<reason>_reference`` (names changed by ``reasons``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from functools import partial, update_wrapper
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from pydantic import Field, field_validator

from corpusforge.errors import ConfigError, InputError
from corpusforge.fs import atomic_open, expand, filesystem, join, write_text
from corpusforge.job import JobResult, Once, PerFile, Task
from corpusforge.ledger import KEPT
from corpusforge.parquet import ROW_GROUP_BYTES, check_record_parquet
from corpusforge.parquet import read_records as read_parquet_records
from corpusforge.record import Record
from pipelines.dedup.config import DedupConfig, SortKey
from pipelines.dedup.decide import DECISION_SCHEMA, DUP_EXACT, DUP_FUZZY, DUP_ID, DUP_URL, decide
from pipelines.dedup.keys import Fingerprinter, fingerprint_schema
from pipelines.dedup.minhash import MinHasher, jaccard
from pipelines.jobs.base import DocumentsJobConfig
from pipelines.stage import Outcome
from pipelines.task import TaskWriter, part_name

STAGE = "dedup"
WORK = "_work"
#: records read at a time (both passes): the batch, as Python records, is most of a worker's working memory
READ_ROWS = 256
#: fingerprint rows per row group of ``_work/fingerprints`` (several read batches; the files' layout is kept)
FINGERPRINT_ROWS = 2048
#: a fingerprint row group also closes at this many bytes of Arrow data: with ``verify`` a row holds its document's
#: shingle hashes (8 bytes per word), so 2,048 rows of long documents would hold tens of MB until written
FINGERPRINT_BYTES = ROW_GROUP_BYTES
REFERENCE_META = "dedup_reference"  # set on reference documents while they are fingerprinted, never written
REFERENCE_KEY = SortKey(field=f"meta.{REFERENCE_META}", order="desc")
#: decision reasons a ``reasons:`` mapping may rename (``<reason>_reference``: the kept copy is a reference)
REASONS = tuple(r + s for r in (DUP_ID, DUP_URL, DUP_EXACT, DUP_FUZZY) for s in ("", "_reference"))


class DedupJobConfig(DocumentsJobConfig):
    """Documents (Parquet in the record schema, e.g. a web job's documents/) → deduplicated documents."""

    kind: Literal["dedup"] = "dedup"
    name: str = "dedup"
    dedup: DedupConfig = DedupConfig()
    reference: list[str] = Field(
        default_factory=list,
        description="Record Parquet the inputs are deduplicated against but that is never written or dropped "
        "(e.g. the corpus a synth job was seeded from); a duplicate of it is dropped as <reason>_reference.",
    )
    reasons: dict[str, str] = Field(
        default_factory=dict, description="Drop reasons renamed in the ledger and audit, e.g. duplicate_exact: x."
    )

    @field_validator("reasons")
    @classmethod
    def _known_reasons(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key not in REASONS:
                raise ValueError(f"{key!r} is not one of {', '.join(REASONS)}")
        return value

    def input_files(self) -> list[str]:
        files = super().input_files()
        if same := set(files) & set(self.reference_files()):
            raise ConfigError("reference", f"{sorted(same)[0]} is both an input and a reference")
        return files

    def reference_files(self) -> list[str]:
        if not self.reference:
            return []
        files = [f for f in expand(self.reference) if f.endswith(".parquet")]
        if not files:
            raise ConfigError("reference", f"no Parquet file matches {self.reference}")
        for path in files:
            check_record_parquet(path)
        return files

    def reason(self, reason: str | None, kept_is_reference: bool) -> str | None:
        """The name a drop gets in the ledger: the decision's reason, marked when the kept copy is a reference."""
        if reason is None or reason not in (DUP_ID, DUP_URL, DUP_EXACT, DUP_FUZZY):
            return reason
        full = f"{reason}_reference" if kept_is_reference else reason
        return self.reasons.get(full, full)

    @classmethod
    def after(cls, job, **fields) -> DedupJobConfig:
        """The dedup of ``job``'s kept documents into OUTPUT/dedup, chained after a web or synth job."""
        return cls(
            name=f"{job.name}.dedup",
            inputs=[join(job.output, "documents")],
            output=join(job.output, "dedup"),
            engine=job.engine,
            dedup=job.dedup,
            write=job.write,
            **fields,
        )

    def prepare(self) -> DedupJobConfig:
        return with_reference_key(self)

    def tasks(self, files: list[str]) -> list[Task]:
        """Fingerprint the inputs and references, decide over all of them, then file the inputs' records. The
        step functions are looked up here, not bound at import, so a profiler can wrap them (benchmarks/dedup.py)."""
        every = files + self.reference_files()  # references are tasks len(files)...: fingerprinted, never written
        fingerprint = update_wrapper(partial(fingerprint_task, first_reference=len(files)), fingerprint_task)
        return [
            PerFile(fingerprint, "fingerprints", files=tuple(every), done=f"{WORK}/fingerprints"),
            Once(decide_step, done=f"{WORK}/decisions/_SUCCESS"),
            PerFile(apply_task, "dedup"),
        ]

    def finish(self, files: list[str], result: JobResult) -> None:
        write_review(self, files)


def read_records(path: str) -> Iterator[list[Record]]:
    """Batches of records from one Parquet part; a file in another schema is refused, naming the column."""
    return read_parquet_records(path, READ_ROWS)


def _fingerprint_dir(output: str) -> str:
    return join(output, WORK, "fingerprints")


def _decision_dir(output: str, task: int) -> str:
    return join(output, WORK, "decisions", f"task={task}")


def fingerprint_task(job: DedupJobConfig, task: int, path: str, first_reference: int | None = None) -> None:
    """Step 1 for one file (an input, or a reference from task ``first_reference`` on)."""
    out = _fingerprint_dir(job.output)
    fingerprinter = Fingerprinter(job.dedup)
    reference = first_reference is not None and task >= first_reference
    with atomic_open(join(out, part_name(task)), "wb") as f, pq.ParquetWriter(f, fingerprinter.schema) as writer:
        row, pending = 0, []  # fingerprint tables (no text) waiting for a full row group
        for records in read_records(path):
            for record in records:
                record.meta.pop(REFERENCE_META, None)
                if reference:
                    record.meta[REFERENCE_META] = "1"
            pending.append(fingerprinter.table(records, task, row))
            row += len(records)
            while sum(t.num_rows for t in pending) >= FINGERPRINT_ROWS:
                held = pa.concat_tables(pending).combine_chunks()
                writer.write_table(held.slice(0, FINGERPRINT_ROWS))
                pending = [held.slice(FINGERPRINT_ROWS)]
            if sum(t.nbytes for t in pending) >= FINGERPRINT_BYTES:  # fewer rows than a full group, long ones
                writer.write_table(pa.concat_tables(pending).combine_chunks())
                pending = []
        rest = pa.concat_tables(pending) if pending else None
        if rest is not None and rest.num_rows:
            writer.write_table(rest.combine_chunks())


def apply_task(job: DedupJobConfig, task: int, path: str) -> None:
    """Step 3 for one input file: every record kept (with its cluster) or dropped with the kept copy's id."""
    decisions = _read_decisions(job.output, task)
    references = reference_ids(job, {d[2] for d in decisions if d[0] != KEPT and d[2]})
    writer = TaskWriter(job.output, task, job.name, job.write.batch_rows, job.write.compression)
    try:
        row = 0
        for records in read_records(path):
            for record in records:
                status, reason, kept_id, cluster, size, shingles = decisions[row]
                reason = job.reason(reason, kept_id in references)
                row += 1
                if status == KEPT:
                    record.meta["dedup_cluster"] = cluster
                    record.meta["dedup_cluster_size"] = str(size)
                    if shingles:
                        record.meta["dedup_shingles"] = shingles
                    writer.add(Outcome(record))
                else:
                    writer.add(Outcome(record, status, STAGE, reason, kept_id))
        if row != len(decisions):
            raise InputError(path, f"has {row} records but was fingerprinted with {len(decisions)}; it changed mid-run")
        writer.close()
    except BaseException:
        writer.abort()
        raise


def reference_ids(job: DedupJobConfig, wanted: set[str]) -> set[str]:
    """Which of ``wanted`` (kept copies' ids) are reference documents: their fingerprint row carries the
    reference key (the first survivor key, ``k0``), so only the small fingerprint parts are read."""
    if not job.reference or not wanted:
        return set()
    fs, root = filesystem(_fingerprint_dir(job.output))
    found: set[str] = set()
    for path in sorted(fs.glob(root + "/part-*.parquet")):
        with fs.open(path, "rb") as f:
            table = pq.read_table(f, columns=["id", "k0"])
        for id_, flag in zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True):
            if flag is not None and id_ in wanted:
                found.add(id_)
    return found


def with_reference_key(job: DedupJobConfig) -> DedupJobConfig:
    """The job whose survivor keys start with the reference flag, so a reference always survives its group."""
    if not job.reference or (job.dedup.survivor and job.dedup.survivor[0] == REFERENCE_KEY):
        return job
    dedup = job.dedup.model_copy(update={"survivor": [REFERENCE_KEY, *job.dedup.survivor]})
    return job.model_copy(update={"dedup": dedup})


def _read_decisions(output: str, task: int) -> list[tuple]:
    fs, root = filesystem(_decision_dir(output, task))
    parts = sorted(p for p in fs.glob(root + "/*.parquet"))
    if not parts:
        return []
    table = pa.concat_tables(pq.read_table(p, filesystem=fs) for p in parts).sort_by("row")
    cols = [table.column(c).to_pylist() for c in ("status", "reason", "kept_id", "cluster", "cluster_size", "shingles")]
    return list(zip(*cols, strict=True))


def _write_decisions(output: str, decisions: pa.Table, n_tasks: int) -> None:
    tasks = decisions.column("task").to_numpy()
    for task in range(n_tasks):
        part = decisions.filter(pa.array(tasks == task)).sort_by("row")
        with atomic_open(join(_decision_dir(output, task), "part-00000.parquet"), "wb") as f:
            pq.write_table(part.drop(["task"]), f)


def _fingerprint_columns(job: DedupJobConfig) -> list[str]:
    return [f.name for f in fingerprint_schema(job.dedup) if f.name != "hashes"]


def shingle_loader(job: DedupJobConfig):
    """Stream the fingerprint parts and keep only the wanted documents' shingle sets (verification)."""

    def load(wanted: set[str]) -> dict[str, np.ndarray]:
        fs, root = filesystem(_fingerprint_dir(job.output))
        found: dict[str, np.ndarray] = {}
        for path in sorted(fs.glob(root + "/part-*.parquet")):
            with fs.open(path, "rb") as f:
                for batch in pq.ParquetFile(f).iter_batches(columns=["id", "hashes"]):
                    for id_, hashes in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
                        if id_ in wanted and id_ not in found:
                            found[id_] = np.asarray(hashes, dtype=np.int64)
        return found

    return load


def decide_local(job: DedupJobConfig, files: list[str]) -> dict:
    n_tasks = len(files)
    fs, root = filesystem(_fingerprint_dir(job.output))
    columns = _fingerprint_columns(job)
    parts = [pq.read_table(p, columns=columns, filesystem=fs) for p in sorted(fs.glob(root + "/part-*.parquet"))]
    schema = fingerprint_schema(job.dedup)
    table = pa.concat_tables(parts) if parts else schema.empty_table().select(columns)
    linked = None
    if job.dedup.fuzzy.enabled and job.dedup.fuzzy.backend == "datatrove":
        from pipelines.dedup.datatrove_backend import datatrove_clusters

        linked = datatrove_clusters(job, files)
    decisions, stats = decide(table, job.dedup, shingle_loader(job), linked=linked)
    _write_decisions(job.output, decisions, n_tasks)
    return stats


def decide_step(job: DedupJobConfig, files: list[str], engine) -> None:
    """Step 2, once, over the inputs and references: Spark DataFrames on Spark, numpy and union-find elsewhere."""
    every = files + job.reference_files()
    if engine.kind == "spark":
        from pipelines.dedup.spark import decide_spark

        stats = decide_spark(engine.session, job, len(every))
    else:
        stats = decide_local(job, every)
    write_text(join(job.output, WORK, "decide.json"), json.dumps(stats, indent=2, sort_keys=True))


# -- audit: a cluster sample for people, and the summary ------------------------------------------------------
def _size_bucket(size: int) -> str:
    if size <= 2:
        return str(size)
    upper = 1 << (size - 1).bit_length()
    return f"{upper // 2 + 1}-{upper}"


def write_review(job: DedupJobConfig, files: list[str]) -> None:
    """``summary.json`` (removed by kind, cluster-size histogram) and ``clusters.jsonl`` (a sample of clusters
    with members and their pairwise Jaccard), streamed from the decisions so memory stays small."""
    audit = job.dedup.audit
    removed: Counter = Counter()
    sizes: Counter = Counter()
    shingling: Counter = Counter()
    candidates: list[tuple] = []  # (sample key, survivor id, cluster, size, task, row)
    dropped: Counter = Counter()  # (reason, kept id): renamed once the reference ids among them are known
    for task, table in _decision_parts(
        job, files, ["id", "row", "status", "reason", "kept_id", "cluster", "cluster_size", "shingles"]
    ):
        for id_, row, status, reason, kept_id, cluster, size, shingles in zip(
            *(c.to_pylist() for c in table.columns), strict=True
        ):
            if status != KEPT:
                dropped[(reason, kept_id if job.reference else None)] += 1
                continue
            sizes[_size_bucket(size)] += 1
            shingling[shingles or "none"] += 1
            if size > 1 and audit.sample_clusters:
                candidates.append((xxhash.xxh3_64_hexdigest(id_.encode()), id_, cluster, size, task, row))
                if len(candidates) > 4 * audit.sample_clusters:
                    candidates = sorted(candidates)[: audit.sample_clusters]
    references = reference_ids(job, {kept for _, kept in dropped if kept})
    for (reason, kept), n in dropped.items():
        removed[job.reason(reason, kept in references)] += n
    sample = {c[1]: c[2:] for c in sorted(candidates)[: audit.sample_clusters]}
    summary = {
        "removed": dict(sorted(removed.items())),
        "survivors_by_cluster_size": dict(sorted(sizes.items(), key=lambda kv: int(kv[0].split("-")[0]))),
        "survivors_by_shingling": dict(sorted(shingling.items())),
    }
    write_text(join(job.output, "summary.json"), json.dumps(summary, indent=2))
    write_text(join(job.output, "clusters.jsonl"), "".join(json.dumps(c) + "\n" for c in _clusters(job, files, sample)))


def _decision_parts(job: DedupJobConfig, files: list[str], columns: list[str]):
    for task in range(len(files)):
        fs, root = filesystem(_decision_dir(job.output, task))
        for path in sorted(fs.glob(root + "/*.parquet")):
            yield task, pq.read_table(path, filesystem=fs, columns=columns)


def _clusters(job: DedupJobConfig, files: list[str], sample: dict[str, tuple]) -> list[dict]:
    """Members of the sampled clusters, read back by (task, row) from only the parts that hold them."""
    if not sample:
        return []
    limit = job.dedup.audit.max_members
    members = {sid: [(sid, None, task, row)] for sid, (_, _, task, row) in sample.items()}
    for task, table in _decision_parts(job, files, ["id", "row", "reason", "kept_id"]):
        for id_, row, reason, kept in zip(*(c.to_pylist() for c in table.columns), strict=True):
            if kept in members and len(members[kept]) < limit:
                members[kept].append((id_, reason, task, row))
    wanted: dict[int, set[int]] = {}
    for ms in members.values():
        for _, _, task, row in ms:
            wanted.setdefault(task, set()).add(row)
    found: dict[tuple[int, int], Record] = {}
    for task, rows in sorted(wanted.items()):
        start = 0
        for records in read_records(files[task]):
            found.update(((task, start + i), r) for i, r in enumerate(records) if start + i in rows)
            start += len(records)
    hasher = MinHasher(job.dedup.fuzzy.minhash)
    out = []
    for sid, (cluster, size, _, _) in sample.items():
        docs = [found[(t, r)] for _, _, t, r in members[sid] if (t, r) in found]
        reasons = [job.reason(why, False) for _, why, t, r in members[sid] if (t, r) in found]
        shingles = [hasher.shingles(d.text, d.lang) for d in docs]
        pairs = [
            {"a": docs[i].id, "b": docs[j].id, "jaccard": round(jaccard(shingles[i].hashes, shingles[j].hashes), 4)}
            for i in range(len(docs))
            for j in range(i + 1, len(docs))
            if shingles[i] is not None and shingles[j] is not None
        ]
        out.append(
            {
                "cluster": cluster,
                "survivor": sid,
                "size": size,
                "members": [
                    {"id": d.id, "url": d.url, "kept": why is None, "reason": why, "text": d.text[:500]}
                    for d, why in zip(docs, reasons, strict=True)
                ],
                "pairwise_jaccard": pairs,
            }
        )
    return out


__all__ = ["DUP_FUZZY", "DECISION_SCHEMA", "DedupJobConfig"]
