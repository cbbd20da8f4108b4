"""A small shard folder in the shard job's format (manifest.json, index/ sidecar, Megatron .bin/.idx per cell),
written with Megatron's own ``IndexedDatasetBuilder``. Every document's tokens are one id unique to that
document (``BASE + row``), so a sampled batch tells which documents (hence groups) the trainer drew."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

BASE = 100
EOD = 3
CELLS = {  # cell -> (documents, source, lang, edu range)
    "source=web/lang=en": (60, "web", "en", (0.5, 3.5)),
    "source=math/lang=en": (60, "math", "en", (1.5, 4.0)),
    "source=code/lang=code": (40, "code", "code", (1.0, 2.5)),
}


def make_shards(root: Path, cells: dict = CELLS, seed: int = 0, zero_cell: bool = False) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows, shards, row = [], [], 0
    for cell, (n, source, lang, (lo, hi)) in cells.items():
        path = f"cells/{cell}/part-00000"
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        builder = IndexedDatasetBuilder(str(root / path) + ".bin", dtype=np.int32)
        total = 0
        for i in range(n):
            length = int(rng.integers(20, 120))
            doc = np.full(length, BASE + row, dtype=np.int32)
            doc[-1] = EOD
            import torch

            builder.add_document(torch.from_numpy(doc), [length])
            rows.append({"shard": path, "doc_index": i, "id": f"doc-{row:05d}", "cell": cell, "lang": lang,
                         "domain": "d", "doc_format": "f", "academic_field": None,
                         "edu_score": float(rng.uniform(lo, hi)), "source": source, "tokens": length,
                         "long_shard": None, "long_index": None})  # fmt: skip
            total += length
            row += 1
        builder.finalize(str(root / path) + ".idx")
        shards.append({"path": path, "kind": "cell", "cell": cell, "labels": {}, "task": 0, "documents": n,
                       "tokens": 0 if zero_cell and len(shards) == 0 else total, "tokenizer_hash": "h"})  # fmt: skip
    (root / "index").mkdir(exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), root / "index" / "part-00000.parquet")
    manifest = {
        "format": "corpusforge.shards/1",
        "tokenizer": {"name": "test", "hash": "h", "vocab_size": BASE + row + 1, "eod": "<eod>", "eod_id": EOD,
                      "dtype": "int32"},  # fmt: skip
        "shards": shards,
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture(scope="session")
def shards(tmp_path_factory) -> Path:
    return make_shards(tmp_path_factory.mktemp("mixture-shards"))


@pytest.fixture
def space(shards):
    from mixtures.space import FeatureBins, SpaceConfig, build_space

    return build_space(SpaceConfig(shards=str(shards), features=[FeatureBins(column="edu_score", bins=2)],
                                   holdout_fraction=0.15, min_target_documents=2))  # fmt: skip
