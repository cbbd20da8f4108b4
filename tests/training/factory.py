"""Tiny token shards in the shard stage's format (Megatron .bin/.idx + manifest.json), written directly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HASH = "ab" * 32
EOD = 1


def write_shards(
    root: Path,
    cells=("en-web", "de-pdf", "code"),
    docs=40,
    vocab=512,
    long_docs=4,
    seed=0,
    tokenizer_hash=HASH,
    vocab_size=None,
) -> Path:
    """Documents are arithmetic token runs (learnable); each cell has one shard, plus one 'long' shard."""
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    shards = []

    def shard(path: str, kind: str, cell: str, lengths):
        prefix = root / path
        prefix.parent.mkdir(parents=True, exist_ok=True)
        b = IndexedDatasetBuilder(str(prefix) + ".bin", dtype=np.int32)
        total = 0
        for n in lengths:
            start, step = rng.integers(2, vocab), rng.integers(1, 4)
            doc = (start + step * np.arange(n - 1)) % (vocab - 2) + 2
            b.add_document(np.append(doc, EOD).astype(np.int32), [n])
            total += int(n)
        b.finalize(str(prefix) + ".idx")
        shards.append(
            {
                "path": path,
                "kind": kind,
                "cell": cell,
                "labels": {},
                "task": 0,
                "documents": int(len(lengths)),
                "tokens": total,
                "tokenizer_hash": tokenizer_hash,
                "sources": {},
            }
        )

    for cell in cells:
        shard(f"cells/{cell}/00000", "cell", cell, rng.integers(20, 200, size=docs))
    if long_docs:
        shard("long/en-web/00000", "long", "en-web", rng.integers(600, 1000, size=long_docs))
    manifest = {
        "format": "corpusforge.shards/1",
        "tokenizer": {
            "name": "test",
            "hash": tokenizer_hash,
            "vocab_size": vocab_size or vocab,
            "eod": "<eod>",
            "eod_id": EOD,
            "dtype": "int32",
        },
        "shards": shards,
        "cells": {},
        "totals": {},
        "ledger": {},
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


#: the shape of the tiny Hugging Face models the import and post-training tests build (2 layers, 4:2 GQA)
TINY_HF = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)


def perturb_norms(model, match: str = "norm", scale: float = 0.1) -> None:
    """Norm weights (parameters named with ``match``) moved off their all-ones start, so a conversion that drops
    or misplaces a norm shows."""
    import torch

    with torch.no_grad():
        for k, v in model.named_parameters():
            if match in k:
                v.add_(torch.randn_like(v) * scale)
