"""The report's data, one function per section, from the stats files a job writes (funnel.json, ledger,
audit, summary.json, clusters.jsonl, manifest.json, the shard sidecar, TensorBoard events).

Per-document distributions read only the columns they plot, from evenly spaced row groups, at most
``max_rows`` rows: a report of a million-document run reads a sample, never the whole corpus.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.report.outputs import mixture_files

#: per-document stages in the order the jobs run them (web: pipelines/job.py, filters cheapest first); a stage
#: not listed sorts after these, by name
STAGE_ORDER = (
    "read", "extract", "trafilatura", "resiliparse", "langid", "url_blocklist", "gopher_quality",
    "gopher_repetition", "fineweb", "c4", "label", "ocr", "refine", "dedup", "shard",
)  # fmt: skip
CATEGORICAL = ("lang", "source", "domain", "doc_format", "academic_field")
SCORES = ("edu_score", "toxicity", "adult", "hate", "offensive", "lang_score")
#: quality signals plotted when present (annotators/quality.py)
QUALITY_KEYS = ("words", "mean_word_len", "line_punct_frac", "dup_line_frac", "stop_words", "symbol_word_ratio")


def _stage_key(stage: str | None) -> tuple:
    stage = stage or "unknown"
    return (STAGE_ORDER.index(stage), "") if stage in STAGE_ORDER else (len(STAGE_ORDER), stage)


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []


# -- funnel ----------------------------------------------------------------------------------------------------
def funnel(output: Path, samples_per_reason: int = 3, top_reasons: int = 6) -> dict:
    """Read, kept, dropped and quarantined per stage (stages in run order), with a few audited documents for
    each of the top drop reasons so a reader can judge whether a filter is wrong."""
    data = json.loads((output / "funnel.json").read_text()) if (output / "funnel.json").is_file() else {}
    ledger = data.get("ledger") or _ledger_total(output)
    by_stage: dict[str, Counter] = {}
    audit = _parts(output / "audit")
    for path in audit:  # counted part by part: memory stays flat however many records were dropped
        keys = ["stage", "status", "reason"]
        table = pq.read_table(path, columns=keys)
        for row in table.group_by(keys).aggregate([([], "count_all")]).to_pylist():
            key = f"{row['reason']}" if row["status"] == "dropped" else f"quarantined: {row['reason']}"
            by_stage.setdefault(row["stage"] or "unknown", Counter())[key] += row["count_all"]
    if not by_stage:  # no audit rows: file the ledger's reasons under one stage so the totals still show
        reasons = Counter(ledger.get("dropped", {})) + Counter(
            {f"quarantined: {k}": v for k, v in ledger.get("quarantined", {}).items()}
        )
        if reasons:
            by_stage[ledger.get("stage", "job")] = reasons
    stages, remaining = [], ledger.get("inputs", 0)
    for stage in sorted(by_stage, key=_stage_key):
        removed = sum(by_stage[stage].values())
        stages.append({"stage": stage, "inputs": remaining, "removed": removed, "reasons": dict(by_stage[stage])})
        remaining -= removed
    reasons = Counter()
    for counts in by_stage.values():
        reasons.update(counts)
    samples = {}
    top = [r for r, _ in reasons.most_common(top_reasons)] if audit else []
    if top:  # scanned part by part, stopping once every top reason has its rows
        import pyarrow.dataset as ds

        wanted = {r.removeprefix("quarantined: "): r for r in top}
        scanner = ds.dataset([str(p) for p in audit], format="parquet").scanner(
            columns=["id", "url", "stage", "reason", "detail"], filter=pc.field("reason").isin(list(wanted))
        )
        for batch in scanner.to_batches():
            for row in batch.to_pylist():
                got = samples.setdefault(wanted[row["reason"]], [])
                if len(got) < samples_per_reason:
                    got.append({k: row[k] for k in ("id", "url", "stage", "detail")})
            if len(samples) == len(wanted) and all(len(v) >= samples_per_reason for v in samples.values()):
                break
        samples = {r: samples[r] for r in top if r in samples}
    return {
        "inputs": ledger.get("inputs", 0),
        "kept": ledger.get("kept", 0),
        "quarantined": sum(ledger.get("quarantined", {}).values()),
        "notes": ledger.get("notes", {}),
        "languages": data.get("languages", {}),
        "stages": stages,
        "samples": samples,
    }


def _ledger_total(output: Path) -> dict:
    from corpusforge.ledger import Ledger

    parts = [json.loads(p.read_text())["ledger"] for p in sorted((output / "ledger").glob("part-*.json"))]
    return Ledger.total(output.name, [Ledger.from_dict(p) for p in parts]).to_dict() if parts else {}


# -- distributions ---------------------------------------------------------------------------------------------
def sample_columns(folder: Path, columns: list[str], max_rows: int) -> tuple[pa.Table | None, int]:
    """At most ``max_rows`` rows of ``columns`` from evenly spaced row groups of the part files, and the total
    row count (from the footers)."""
    groups = []
    for path in _parts(folder):
        meta = pq.ParquetFile(path).metadata
        groups += [(path, i, meta.row_group(i).num_rows) for i in range(meta.num_row_groups)]
    total = sum(n for *_, n in groups)
    if not groups:
        return None, 0
    chosen = groups
    if total > max_rows:  # evenly spaced groups holding at least max_rows rows, a slice of each
        count = max(1, math.ceil(max_rows / (total / len(groups))))
        while True:
            chosen = [groups[i * len(groups) // count] for i in range(count)]
            if sum(n for *_, n in chosen) >= max_rows or count >= len(groups):
                break
            count += 1
    rows = sum(n for *_, n in chosen)
    tables = []
    for path, i, n in chosen:
        pf = pq.ParquetFile(path)
        have = [c for c in columns if c in pf.schema_arrow.names]
        tables.append(pf.read_row_group(i, columns=have).slice(0, math.ceil(n * max_rows / rows)))
    return pa.concat_tables(tables, promote_options="default").slice(0, max_rows), total


def distributions(output: Path, max_rows: int = 20_000) -> dict:
    """Label and length distributions of the kept documents, from a sample of at most ``max_rows``."""
    quality_has_length = True
    table, total = sample_columns(output / "documents", [*CATEGORICAL, *SCORES, "quality", "pii"], max_rows)
    if table is None or not table.num_rows:
        return {"documents": total, "sampled": 0}
    out: dict = {"documents": total, "sampled": table.num_rows, "categorical": {}, "scores": {}, "quality": {}}
    for column in CATEGORICAL:
        if column in table.column_names and table[column].null_count < table.num_rows:
            counts = Counter(v if v is not None else "(none)" for v in table[column].to_pylist())
            out["categorical"][column] = dict(counts.most_common())
    for column in SCORES:
        if column in table.column_names and table[column].null_count < table.num_rows:
            out["scores"][column] = [v for v in table[column].to_pylist() if v is not None]
    if "pii" in table.column_names and table["pii"].null_count < table.num_rows:
        kinds = Counter(k for v in table["pii"].to_pylist() if v for k in v.split(","))
        kinds["(none)"] = sum(1 for v in table["pii"].to_pylist() if v == "")
        out["categorical"]["pii"] = dict(kinds.most_common())
    signals: dict[str, list[float]] = {}
    if "quality" in table.column_names:
        for pairs in table["quality"].to_pylist():
            for key, value in pairs or []:
                if key in (*QUALITY_KEYS, "chars") and value is not None:
                    signals.setdefault(key, []).append(value)
    lengths = signals.pop("chars", None)
    if lengths is None:  # no quality signals: measure the sampled rows' text
        quality_has_length = False
        text, _ = sample_columns(output / "documents", ["text"], max_rows)
        lengths = pc.utf8_length(text["text"]).to_pylist() if text is not None else []
    out["quality"] = {k: signals[k] for k in QUALITY_KEYS if k in signals}
    out["length_chars"] = lengths
    out["length_from"] = "quality.chars" if quality_has_length else "text"
    return out


# -- dedup -----------------------------------------------------------------------------------------------------
def dedup(output: Path, clusters: int = 3) -> dict:
    """Removed by kind, survivors by cluster size, and a few sampled clusters with their pairwise Jaccard."""
    summary = json.loads((output / "summary.json").read_text())
    sample = []
    with (output / "clusters.jsonl").open() as f:
        for line in f:
            if line.strip():
                sample.append(json.loads(line))
            if len(sample) >= clusters:
                break
    return {
        "removed": summary.get("removed", {}),
        "cluster_sizes": summary.get("survivors_by_cluster_size", {}),
        "shingling": summary.get("survivors_by_shingling", {}),
        "clusters": sample,
    }


# -- shards ----------------------------------------------------------------------------------------------------
def shards(output: Path, max_rows: int = 20_000) -> dict:
    """Documents and tokens per cell, the long-document share (manifest.json), and document lengths in tokens
    from a sample of the sidecar."""
    manifest = json.loads((output / "manifest.json").read_text())
    totals = manifest.get("totals", {})
    cells = [
        {
            "cell": name,
            "documents": c["documents"],
            "tokens": c["tokens"],
            "long_documents": c.get("long_documents", 0),
            "long_tokens": c.get("long_tokens", 0),
        }
        for name, c in manifest.get("cells", {}).items()
    ]
    cells.sort(key=lambda c: -c["tokens"])
    side, _ = sample_columns(output / "index", ["tokens"], max_rows)
    tokens = totals.get("tokens", 0)
    return {
        "totals": totals,
        "tokenizer": manifest.get("tokenizer", {}).get("name"),
        "cells": cells,
        "long_share": (totals.get("long_tokens", 0) / tokens) if tokens else 0.0,
        "doc_tokens": side["tokens"].to_pylist() if side is not None and "tokens" in side.column_names else [],
    }


# -- training --------------------------------------------------------------------------------------------------
TRAIN_KEYS = ("loss", "lr", "tokens_per_s", "mfu", "grad_norm", "valid_loss")


def training(output: Path, max_points: int = 400) -> dict:
    """Per pretraining stage (in the recipe's order): loss, learning rate, tokens/s and MFU by step, from the
    TensorBoard event files (``metrics.jsonl`` where a stage logged no events)."""
    order = _stage_names(output)
    stages = {}
    for stage_dir in sorted((p.parent for p in output.glob("*/tensorboard")), key=lambda p: order(p.name)):
        stages[stage_dir.name] = _tensorboard(stage_dir / "tensorboard")
    for path in sorted(output.glob("*/metrics.jsonl"), key=lambda p: order(p.parent.name)):
        if not stages.get(path.parent.name):
            stages[path.parent.name] = _metrics_jsonl(path)
    stages = {k: stages[k] for k in sorted(stages, key=order)}
    return {"stages": {name: _thin(series, max_points) for name, series in stages.items()}}


def _stage_names(output: Path):
    names: list[str] = []
    if (output / "config.yaml").is_file():
        import yaml

        cfg = yaml.safe_load((output / "config.yaml").read_text()) or {}
        names = [s.get("name") for s in cfg.get("stages", []) if isinstance(s, dict)]
    return lambda name: (names.index(name), "") if name in names else (len(names), name)


def _tensorboard(folder: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    series = {}
    for tag in acc.Tags().get("scalars", []):
        key = tag.split("/", 1)[-1]
        if key in TRAIN_KEYS:
            points = {e.step: e.value for e in acc.Scalars(tag)}  # a resumed run may log a step twice
            series[key] = sorted(points.items())
    return series


def _metrics_jsonl(path: Path) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, dict] = {}
    for line in path.read_text().splitlines():
        m = json.loads(line) if line.strip() else {}
        for key in TRAIN_KEYS:
            if key in m and "step" in m:
                series.setdefault(key, {})[m["step"]] = m[key]
    return {k: sorted(v.items()) for k, v in series.items()}


def _thin(series: dict, max_points: int) -> dict:
    return {k: v[:: max(1, math.ceil(len(v) / max_points))] for k, v in series.items()}


# -- mixture ---------------------------------------------------------------------------------------------------
def mixture(output: Path, top: int = 15) -> dict:
    """Weights per pretraining stage (blend files, or an optimum's groups and weights beside the natural shares),
    and predicted vs measured losses where a fit or a validation wrote them."""
    weights, natural, fits = {}, {}, []
    for path in mixture_files(output):
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            continue
        name = data.get("stage") or (path.parent.name if path.name == "optimum.json" else path.stem)
        groups, values = data.get("groups"), data.get("weights")
        if isinstance(groups, list) and isinstance(values, list) and len(groups) == len(values):
            weights[name] = {str(g): float(v) for g, v in zip(groups, values, strict=True) if _number(v)}
            if isinstance(data.get("natural"), list) and len(data["natural"]) == len(groups):
                natural[name] = {str(g): float(v) for g, v in zip(groups, data["natural"], strict=True) if _number(v)}
        elif _blend_weights(data):
            weights[name] = _blend_weights(data)
        held = data.get("spearman_heldout")
        if isinstance(held, dict):
            fits.append({"name": f"{path.stem}: held-out mixtures", **_pred_measured(held)})
        elif isinstance(data.get("predicted"), list | dict):
            fits.append({"name": path.stem, **_pred_measured(data)})
    weights = {k: dict(sorted(w.items(), key=lambda kv: -kv[1])[:top]) for k, w in weights.items()}
    natural = {k: {g: natural[k].get(g, 0.0) for g in weights[k]} for k in natural if k in weights}
    return {"weights": weights, "natural": natural, "fits": [f for f in fits if f["predicted"]]}


def _blend_weights(data: dict) -> dict[str, float]:
    weights = data.get("weights")
    return {str(k): float(v) for k, v in weights.items() if _number(v)} if isinstance(weights, dict) else {}


def _pred_measured(data: dict) -> dict:
    pred, meas = data.get("predicted"), data.get("measured")
    if isinstance(pred, dict) and isinstance(meas, dict):
        keys = [k for k in pred if k in meas and _number(pred[k]) and _number(meas[k])]
        return {"predicted": [pred[k] for k in keys], "measured": [meas[k] for k in keys]}
    if isinstance(pred, list) and isinstance(meas, list):
        pairs = [(p, m) for p, m in zip(pred, meas, strict=False) if _number(p) and _number(m)]
        return {"predicted": [p for p, _ in pairs], "measured": [m for _, m in pairs]}
    return {"predicted": [], "measured": []}


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
