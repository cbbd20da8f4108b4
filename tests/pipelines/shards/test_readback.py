"""Megatron reads the shards as they are: IndexedDataset, and GPTDatasets from BlendedMegatronDatasetBuilder at
sequence lengths 4,096 and 32,768 over a blend of several cells, checked token by token against the documents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.engines import run_job
from pipelines.jobs.shard import ShardConfig, ShardJobConfig
from pipelines.shards.cells import CellsConfig
from pipelines.shards.manifest import blend, load_manifest
from pipelines.shards.tokenizer import Tokenizer
from tests.pipelines.shards import factory


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("readback")
    parts = [factory.records(seed, 80, long_every=40) for seed in (11, 12)]
    inputs = factory.write_parts(root / "in", parts)
    job = ShardJobConfig(
        inputs=[str(inputs)],
        output=str(root / "out"),
        engine={"kind": "local", "workers": 1},
        shard=ShardConfig(cells=CellsConfig(keys=["lang", "source"], min_documents=5)),
    )
    run_job(job)
    tok = Tokenizer.load()
    expected = {r.id: [*tok.encode(r.text).tolist(), tok.eod] for p in parts for r in p}
    return load_manifest(job.output), tok, expected, root


def _documents(prefix: str) -> list[list[int]]:
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    ds = IndexedDataset(prefix)
    return [np.array(ds[i]).tolist() for i in range(len(ds))]


def test_indexed_dataset_reads_every_shard(shards):
    import pyarrow.parquet as pq

    manifest, _, expected, _ = shards
    root = Path(manifest["root"])
    rows = pq.read_table(root / "index").to_pylist()
    docs = {s["path"]: _documents(str(root / s["path"])) for s in manifest["shards"] if s["kind"] == "cell"}
    assert len(docs) >= 3
    for row in rows:
        assert docs[row["shard"]][row["doc_index"]] == expected[row["id"]]
    assert sum(len(d) for d in docs.values()) == len(rows)


@pytest.mark.parametrize("seq_length", [4096, 32768])
def test_gpt_datasets_over_a_blend_of_cells(shards, seq_length):
    from pipelines.shards.megatron import gpt_datasets

    manifest, tok, expected, root = shards
    cells = sorted(manifest["cells"])[:3]
    prefixes, weights = blend(manifest, cells=cells)
    assert len({p.rsplit("/", 1)[0] for p in prefixes}) == 3
    # 4,096 with an index cache (a one-process gloo group), 32,768 with the indices in memory
    cache = str(root / f"cache-{seq_length}") if seq_length == 4096 else None
    try:
        dataset = gpt_datasets(prefixes, weights, tok, seq_length, num_samples=6, cache=cache)
    finally:
        import torch.distributed as dist

        if dist.is_initialized():  # leave no process group behind for other tests
            dist.destroy_process_group()
    assert len(dataset) >= 6
    streams = {p: _documents(p) for p in prefixes}
    for i in range(len(dataset)):
        sample = dataset[i]
        tokens, labels = sample["tokens"].numpy(), sample["labels"].numpy()
        assert tokens.shape == (seq_length,) and np.array_equal(tokens[1:], labels[:-1])
        # the sample is a window of the concatenation of the documents Megatron says it drew
        which, j = dataset.dataset_index[i], dataset.dataset_sample_index[i]
        gpt = dataset.datasets[which]
        raw, doc_ids = gpt._query_document_sample_shuffle_indices(j)
        docs = streams[gpt.dataset_path]
        stream = np.concatenate([docs[d] for d in doc_ids])
        window = np.concatenate([tokens, labels[-1:]])
        assert np.array_equal(raw, window)
        joined = stream.tolist()
        text = window.tolist()
        assert any(joined[k : k + len(text)] == text for k in range(len(joined) - len(text) + 1))
        assert all(any(docs[d] == e for e in expected.values()) for d in doc_ids[:3])


def test_long_shards_feed_a_32k_dataset(shards):
    from pipelines.shards.megatron import gpt_datasets

    manifest, tok, _, root = shards
    prefixes, weights = blend(manifest, kind="long")
    dataset = gpt_datasets(prefixes, weights, tok, 32768, num_samples=2)
    sample = dataset[0]["tokens"].numpy()
    assert (sample == tok.eod).sum() <= 2  # 16k-32k token documents: at most two boundaries in 32k tokens
