"""The shard manifest: merged on the driver from per-task metadata, read by the trainer and the mixture optimizer.

``manifest.json`` (paths relative to the folder that holds it)::

    format, tokenizer {name, hash, vocab_size, eod, eod_id, dtype}, cell_keys, merge, long_docs,
    shards: [{path, kind (cell | long), cell, labels, task, documents, tokens, bin_bytes, idx_bytes, bytes,
              tokenizer_hash, sources: {source: {documents, tokens}}}],
    cells: {cell: {labels, documents, tokens, bytes, shards, long_documents, long_tokens, sources}},
    totals: {documents, tokens, bytes, shards, cells, long_documents, long_tokens, long_shards}, ledger

``tokens`` count every token in the ``.bin`` (each document's end-of-document token included).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from corpusforge.fs import join
from corpusforge.shardfacts import MANIFEST as MANIFEST  # re-exported: the shard writer names its file by it
from corpusforge.shardfacts import MANIFEST_FORMAT, read_manifest
from pipelines.shards.tokenizer import TokenizerError

FORMAT = MANIFEST_FORMAT
CELL, LONG = "cell", "long"


def _sources(shards: list[dict]) -> dict:
    docs: Counter = Counter()
    toks: Counter = Counter()
    for s in shards:
        for src, st in s["sources"].items():
            docs[src] += st["documents"]
            toks[src] += st["tokens"]
    return {src: {"documents": docs[src], "tokens": toks[src]} for src in sorted(docs)}


def build_manifest(header: dict, task_metas: list[dict], ledger: dict) -> dict:
    """Merge per-task metadata (never data); every task must have used the same tokenizer."""
    expected = header["tokenizer"]["hash"]
    shards: list[dict] = []
    for meta in task_metas:
        if meta["tokenizer_hash"] != expected:
            raise TokenizerError(
                f"task {meta['task']} was written with tokenizer {meta['tokenizer_hash'][:12]}, this run uses "
                f"{expected[:12]}; shards of two tokenizers are not mixed (rerun with --overwrite)"
            )
        shards.extend(meta["shards"])
    shards.sort(key=lambda s: (s["kind"] != CELL, s["cell"], s["task"]))
    cells: dict[str, dict] = {}
    for name in sorted({s["cell"] for s in shards}):
        mine = [s for s in shards if s["cell"] == name and s["kind"] == CELL]
        long = [s for s in shards if s["cell"] == name and s["kind"] == LONG]
        labels = (mine or long)[0]["labels"]
        cells[name] = {
            "labels": labels,
            "documents": sum(s["documents"] for s in mine),
            "tokens": sum(s["tokens"] for s in mine),
            "bytes": sum(s["bytes"] for s in mine),
            "shards": len(mine),
            "long_documents": sum(s["documents"] for s in long),
            "long_tokens": sum(s["tokens"] for s in long),
            "sources": _sources(mine),
        }
    main = [s for s in shards if s["kind"] == CELL]
    long = [s for s in shards if s["kind"] == LONG]
    totals = {
        "documents": sum(s["documents"] for s in main),
        "tokens": sum(s["tokens"] for s in main),
        "bytes": sum(s["bytes"] for s in shards),
        "shards": len(main),
        "cells": len(cells),
        "long_documents": sum(s["documents"] for s in long),
        "long_tokens": sum(s["tokens"] for s in long),
        "long_shards": len(long),
    }
    return {"format": FORMAT, **header, "shards": shards, "cells": cells, "totals": totals, "ledger": ledger}


def load_manifest(path: str | Path) -> dict:
    """A manifest by its file or its folder; ``root`` is added: the folder its shard paths are relative to."""
    return read_manifest(path, "no shard manifest here (not a shard folder, or its shard job has not finished)")


def same_tokenizer(manifests: list[dict]) -> dict:
    """The tokenizer all the manifests share; mixing shards of two tokenizers is refused."""
    hashes = {m["tokenizer"]["hash"]: m for m in manifests}
    if len(hashes) > 1:
        names = ", ".join(f"{m['root']} ({h[:12]})" for h, m in hashes.items())
        raise TokenizerError(f"shards of different tokenizers cannot be mixed: {names}")
    return manifests[0]["tokenizer"]


def blend(
    manifests: list[dict] | dict,
    kind: str = CELL,
    cells: list[str] | None = None,
    weights: dict[str, float] | None = None,
) -> tuple[list[str], list[float]]:
    """Megatron's ``blend``: (shard prefixes, weights). A cell's weight (default: its tokens) is spread over its
    shards by their tokens, so documents within a cell are sampled evenly."""
    manifests = manifests if isinstance(manifests, list) else [manifests]
    same_tokenizer(manifests)
    prefixes, out = [], []
    for m in manifests:
        shards = [s for s in m["shards"] if s["kind"] == kind and (cells is None or s["cell"] in cells)]
        cell_tokens: Counter = Counter()
        for s in shards:
            cell_tokens[s["cell"]] += s["tokens"]
        for s in shards:
            if not s["tokens"]:
                continue
            share = s["tokens"] / cell_tokens[s["cell"]]
            cell_weight = weights.get(s["cell"], 0.0) if weights is not None else cell_tokens[s["cell"]]
            if cell_weight > 0:
                prefixes.append(join(m["root"], s["path"]))
                out.append(cell_weight * share)
    if not prefixes:
        raise ValueError("the blend selects no shard with tokens")
    return prefixes, out
