"""A mixture (share of a stage's tokens per group) as a ``corpusforge.blend/1`` file with per-document rates.

A training document of group g gets rate ``r = w_g * tokens / T_g`` (its expected number of passes in a stage
of ``tokens``); held-out documents get 0, so targets stay unseen. A shard's weight is the tokens its documents
bring, ``sum(r_d * t_d)``, so the trainer's shard sampling and the rates agree. Within a shard the trainer only
uses rates relatively (Megatron loops over a shard's expanded documents as often as its weight asks), so when
a shard's largest rate is below 1 its rates are scaled up to make it 1 (written as ``rate_scale``): a shard
sampled at a small rate still keeps its documents in proportion instead of expanding to nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from mixtures.space import Space
from training.data import BLEND_FORMAT

LONG = "long"


def document_rates(space: Space, weights: np.ndarray, tokens: float) -> np.ndarray:
    """Expected passes per sidecar row for a stage of ``tokens`` (0 for held-out documents)."""
    per_group = np.where(space.group_tokens > 0, weights * tokens / np.maximum(space.group_tokens, 1), 0.0)
    ok = (space.doc_group >= 0) & ~space.holdout
    return np.where(ok, per_group[np.maximum(space.doc_group, 0)], 0.0)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_blend(space: Space, weights: np.ndarray, tokens: float, out: str | Path, kind: str = "cell",
                meta: dict | None = None) -> Path:  # fmt: skip
    """``out/blend.yaml`` and ``out/rates/*.npy``; returns the blend path. ``kind: long`` writes the long-context
    shards' rates (documents also present in ``long/``), with the same per-group rates."""
    out = Path(out)
    (out / "rates").mkdir(parents=True, exist_ok=True)
    rates = document_rates(space, weights, tokens)
    col_shard, col_index = ("long_shard", "long_index") if kind == LONG else ("shard", "doc_index")
    shard_of = np.array(space.docs.column(col_shard).to_pylist(), dtype=object)
    index_of = space.docs.column(col_index).to_pylist()
    toks = np.array(space.docs.column("tokens").to_pylist(), dtype=float)
    shards = {s.path: s for s in space.manifest.shards if s.kind == kind}
    weights_out, rate_files, scales = {}, {}, {}
    for path, shard in sorted(shards.items()):
        rows = np.flatnonzero(shard_of == path)
        r = np.zeros(shard.documents)
        for row in rows:
            r[int(index_of[row])] = rates[row]
        w = float((rates[rows] * toks[rows]).sum())
        if w <= 0:
            continue
        top = r.max()
        if top < 1:
            scales[path] = round(float(1 / top), 6)
            r = r / top
        name = path.replace("/", "__") + ".npy"
        buf = out / "rates" / name
        with buf.open("wb") as f:
            np.save(f, r.astype(np.float32))
        weights_out[path] = round(w / tokens, 9)
        rate_files[path] = f"rates/{name}"
    if not weights_out:
        raise ValueError(f"the mixture selects no {kind} document")
    blend = {
        "format": BLEND_FORMAT,
        "kind": kind,
        "tokens": float(tokens),
        "weights": weights_out,
        "document_rates": rate_files,
        "rate_scale": scales,
        "groups": {g: round(float(w), 9) for g, w in zip(space.groups, weights, strict=True) if w > 0},
        **({"meta": meta} if meta else {}),
    }
    path = out / "blend.yaml"
    _atomic_write(path, yaml.safe_dump(blend, sort_keys=False).encode())
    return path


def read_groups(path: str | Path) -> dict[str, float]:
    data = yaml.safe_load(Path(path).read_text()) if str(path).endswith(".yaml") else json.loads(Path(path).read_text())
    return data.get("groups", {})
