"""Fuzzy clusters from datatrove's own MinHash stages, for users who want datatrove's algorithm (or to compare).

Signatures (one task per input file, documents in row order, so datatrove's document index is our row),
buckets (one task per band), clustering (one task, as datatrove requires); its ``.clusters`` files become
(task, row, cluster) rows. Survivors, URL and exact phases, outputs and the ledger stay ours.
"""

from __future__ import annotations

import struct

import pyarrow as pa
from datatrove.data import DocumentsPipeline
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupSignature,
)

from corpusforge.fs import filesystem, join
from corpusforge.parquet import read_records

WORK = "_work/datatrove"


class RecordParts(PipelineStep):
    """Task ``rank`` reads input part ``rank`` in row order."""

    name = "corpusforge records"
    type = "Reader"

    def __init__(self, files: list[str]):
        super().__init__()
        self.files = files

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for records in read_records(self.files[rank]):
            for record in records:
                yield record.to_document()


def minhash_config(job) -> MinhashConfig:
    mh = job.dedup.fuzzy.minhash
    return MinhashConfig(n_grams=mh.ngram, num_buckets=mh.bands, hashes_per_bucket=mh.rows, seed=mh.seed)


def datatrove_clusters(job, files: list[str]) -> pa.Table:
    work = join(job.output, WORK)
    config = minhash_config(job)
    workers = job.engine.workers
    stages = [
        ([RecordParts(files), MinhashDedupSignature(join(work, "signatures"), config=config)], len(files)),
        ([MinhashDedupBuckets(join(work, "signatures"), join(work, "buckets"), config=config)], config.num_buckets),
        ([MinhashDedupCluster(join(work, "buckets"), join(work, "clusters"), config=config, save_cluster_id=True)], 1),
    ]
    for i, (pipeline, tasks) in enumerate(stages):
        LocalPipelineExecutor(
            pipeline=pipeline,
            tasks=tasks,
            workers=min(workers, tasks),
            logging_dir=join(work, f"logs-{i}"),
            skip_completed=True,
            start_method="spawn",
        ).run()
    rows: dict[str, list[int]] = {"task": [], "row": [], "cluster": []}
    fs, root = filesystem(join(work, "clusters"))
    for path in sorted(fs.glob(root + "/*.clusters")):
        task = int(path.rsplit("/", 1)[-1].split(".")[0])
        with fs.open(path, "rb") as f:
            data = f.read()
        for row, cluster in struct.iter_unpack("<II", data):
            rows["task"].append(task)
            rows["row"].append(row)
            rows["cluster"].append(cluster)
    return pa.table({k: pa.array(v, pa.int64()) for k, v in rows.items()})
