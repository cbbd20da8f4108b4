"""Spark engine: stages run inside `mapInArrow` on executors; data never passes through the driver.

The driver builds a DataFrame of (task, path) rows, one partition per input file. Executors read their file,
run the stages and emit Arrow batches of outcomes; kept rows, audit rows and routed PDFs are written by
Spark's Parquet writer, and only per-task counts (aggregates) come back to the driver for the ledger.
The same function runs under `spark-submit` (see pipelines/spark_job.py).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter, defaultdict

import pyarrow as pa

from corpusforge.fs import join, write_text
from corpusforge.ledger import KEPT, NOTES_KEY
from corpusforge.record import RECORD_SCHEMA
from pipelines.engines import JobResult, summarize
from pipelines.stage import apply_stages

RECORD_COLUMNS = [f.name for f in RECORD_SCHEMA]
# Spark reads Arrow string (not large_string) unless told otherwise, so outcomes use the plain types
OUTCOME_SCHEMA = pa.schema(
    [pa.field(f.name, pa.string() if f.type == pa.large_string() else f.type, f.nullable) for f in RECORD_SCHEMA]
    + [
        pa.field("status", pa.string(), nullable=False),
        pa.field("stage", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("detail", pa.string()),
        pa.field("payload", pa.binary()),
        pa.field("task", pa.int32(), nullable=False),
    ]
)


def spark_session(options):
    """A session on ``options.master``, unless spark-submit already chose the master."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(options.app_name)
    if not SparkConf().contains("spark.master"):
        builder = builder.master(options.master)
        if options.master.startswith("local"):  # executors on this machine use this interpreter
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in {"spark.ui.showConsoleProgress": "false", **options.conf}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _outcome_batches(job, batch_rows: int):
    """The executor side: (task, path) batches in, Arrow outcome batches out."""

    def run(batches):
        source, stages = job.build_source(), job.build_stages()
        for stage in stages:
            stage.setup()
        for batch in batches:
            for task, path in zip(batch.column("task").to_pylist(), batch.column("path").to_pylist(), strict=True):
                rows = []
                for outcome in apply_stages(source.read(path), stages):
                    row = outcome.record.to_arrow_row()
                    row.update(
                        status=outcome.status,
                        stage=outcome.stage,
                        reason=outcome.reason,
                        detail=outcome.detail,
                        payload=outcome.payload,
                        task=task,
                    )
                    rows.append(row)
                    if len(rows) >= batch_rows:
                        yield pa.RecordBatch.from_pylist(rows, schema=OUTCOME_SCHEMA)
                        rows = []
                if rows:
                    yield pa.RecordBatch.from_pylist(rows, schema=OUTCOME_SCHEMA)

    return run


def run_spark(job, files: list[str], spark=None) -> JobResult:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    spark = spark or spark_session(job.engine.spark)
    tasks = spark.sparkContext.parallelize(list(enumerate(files)), numSlices=len(files)).toDF("task int, path string")
    from pyspark.sql.pandas.types import from_arrow_schema

    spark_schema = from_arrow_schema(OUTCOME_SCHEMA)
    outcomes = tasks.mapInArrow(_outcome_batches(job, job.write.batch_rows), spark_schema)
    outcomes = outcomes.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        compression = "uncompressed" if job.write.compression == "none" else job.write.compression
        writer = {"mode": "overwrite", "compression": compression}
        outcomes.where(F.col("status") == KEPT).select(*RECORD_COLUMNS).write.parquet(
            join(job.output, "documents"), **writer
        )
        outcomes.where(F.col("status") != KEPT).select(
            "id", "url", "source", "stage", "status", "reason", "detail", "task"
        ).write.parquet(join(job.output, "audit"), **writer)
        pdfs = outcomes.where(F.col("reason") == "pdf_routed").select(
            "id", "url", "meta", F.col("payload").alias("content")
        )
        pdfs.write.parquet(join(job.output, "pdfs"), **writer)
        counts = outcomes.groupBy("task", "status", "reason").count().collect()
        langs = outcomes.where(F.col("status") == KEPT).groupBy("task", "lang").count().collect()
        notes = (
            outcomes.where((F.col("status") == KEPT) & F.col("meta").getItem(NOTES_KEY).isNotNull())
            .select("task", F.explode(F.split(F.col("meta").getItem(NOTES_KEY), ",")).alias("note"))
            .where(F.col("note") != "")
            .groupBy("task", "note")
            .count()
            .collect()
        )
    finally:
        outcomes.unpersist()
    summaries = _task_summaries(job.name, counts, langs, notes, len(files))
    for task, summary in summaries.items():
        write_text(join(job.output, "ledger", f"part-{task:05d}.json"), json.dumps(summary, indent=2))
    result = summarize(job.name, list(summaries.values()))
    result.tasks_run = len(files)
    return result


def _task_summaries(stage: str, counts, langs, notes, n_tasks: int) -> dict[int, dict]:
    from corpusforge.ledger import Ledger

    ledgers = {t: Ledger(stage=stage, task=f"{t:05d}") for t in range(n_tasks)}
    for row in counts:
        ledgers[row["task"]].record(row["status"], row["reason"], n=row["count"])
    for row in notes:
        ledgers[row["task"]].notes[row["note"]] += row["count"]
    languages: dict[int, Counter] = defaultdict(Counter)
    for row in langs:
        languages[row["task"]][row["lang"] or "unknown"] += row["count"]
    return {
        t: {"ledger": led.check().to_dict(), "languages": dict(sorted(languages[t].items()))}
        for t, led in ledgers.items()
    }
