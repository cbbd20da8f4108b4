"""How long the report takes, and how big it is, over a run of N documents (default 1M): synthetic job outputs in
the record and audit schemas (documents/, audit/, ledger/, funnel.json) written with pyarrow, then
``corpusforge report`` over them. The page reads the stats files and a sample of at most --max-rows documents.

    python -m benchmarks.report_scale --docs 1000000 --out out/bench-report
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.record import RECORD_SCHEMA
from pipelines.task import AUDIT_SCHEMA

LANGS = np.array(["en", "de", "fr", "zh", "es", "ru", "ja", "pt"])
DOMAINS = np.array(["news", "science_tech", "sports", "health", "finance", "travel", "law", "education"])
REASONS = np.array(["gopher_short_doc", "fineweb_line_punct_ratio", "lang_low_score", "c4_too_few_sentences"])
STAGES = np.array(["gopher_quality", "fineweb", "langid", "c4"])


def _map(keys: list[str], values: np.ndarray, value_type) -> pa.Array:
    n = len(values)
    offsets = pa.array(np.arange(0, (n + 1) * len(keys), len(keys), dtype=np.int32))
    flat_keys = pa.array(np.tile(np.array(keys), n))
    return pa.MapArray.from_arrays(offsets, flat_keys, pa.array(values.reshape(-1), type=value_type))


def write_run(out: Path, docs: int, parts: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for sub in ("documents", "audit", "ledger"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    per = docs // parts
    dropped_total: dict[str, int] = {}
    for k in range(parts):
        n = per
        ids = np.char.add(f"doc-{k}-", np.arange(n).astype(str))
        text = np.char.multiply("lorem ipsum dolor ", rng.integers(2, 12, n))
        cols = {
            "id": pa.array(ids),
            "text": pa.array(text, type=pa.large_string()),
            "source": pa.array(np.full(n, "web")),
            "url": pa.array(np.char.add("https://example.org/", ids)),
            "lang": pa.array(LANGS[rng.integers(0, len(LANGS), n)]),
            "lang_score": pa.array(rng.uniform(0.6, 1, n)),
            "domain": pa.array(DOMAINS[rng.integers(0, len(DOMAINS), n)]),
            "domain_score": pa.array(rng.uniform(0, 1, n)),
            "doc_format": pa.array(np.full(n, "article")),
            "academic_field": pa.array(np.full(n, "none")),
            "edu_score": pa.array(rng.uniform(0, 5, n)),
            "toxicity": pa.array(rng.beta(1, 20, n)),
            "adult": pa.array(rng.beta(1, 20, n)),
            "pii": pa.array(np.full(n, "")),
            "quality": _map(["chars", "words", "stop_words"], rng.uniform(50, 5000, (n, 3)), pa.float64()),
            "meta": _map(["warc_file"], np.full((n, 1), f"file-{k}.warc.gz"), pa.string()),
        }
        pq.write_table(pa.table(cols, schema=RECORD_SCHEMA), out / "documents" / f"part-{k:05d}.parquet",
                       row_group_size=1000, compression="zstd")  # fmt: skip
        which = rng.integers(0, len(REASONS), n)
        audit = pa.table(
            {
                "id": pa.array(np.char.add("drop-", ids)),
                "url": pa.array(np.char.add("https://example.org/x/", ids)),
                "source": pa.array(np.full(n, "web")),
                "stage": pa.array(STAGES[which]),
                "status": pa.array(np.full(n, "dropped")),
                "reason": pa.array(REASONS[which]),
                "detail": pa.nulls(n, pa.string()),
                "task": pa.array(np.full(n, k, dtype=np.int32)),
            },
            schema=AUDIT_SCHEMA,
        )
        pq.write_table(audit, out / "audit" / f"part-{k:05d}.parquet", compression="zstd")
        dropped = {str(r): int(c) for r, c in zip(*np.unique(REASONS[which], return_counts=True), strict=True)}
        for r, c in dropped.items():
            dropped_total[r] = dropped_total.get(r, 0) + c
        ledger = {"stage": "web", "task": f"{k:05d}", "inputs": 2 * n, "kept": n, "dropped": dropped, "quarantined": {}}
        (out / "ledger" / f"part-{k:05d}.json").write_text(json.dumps({"ledger": ledger}))
    total = per * parts
    funnel = {"ledger": {"stage": "web", "task": "all", "inputs": 2 * total, "kept": total, "dropped": dropped_total,
                         "quarantined": {}}}  # fmt: skip
    (out / "funnel.json").write_text(json.dumps(funnel))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--parts", type=int, default=20)
    ap.add_argument("--max-rows", type=int, default=20_000)
    ap.add_argument("--out", type=Path, default=Path("out/bench-report"))
    args = ap.parse_args()
    run = args.out / "run"
    if not (run / "funnel.json").is_file():
        t0 = time.perf_counter()
        write_run(run, args.docs, args.parts)
        print(f"wrote {args.docs:,} documents and {args.docs:,} audit rows in {time.perf_counter() - t0:.1f} s")
    from pipelines.report.outputs import resolve
    from pipelines.report.page import write

    t0 = time.perf_counter()
    page = write(resolve([run]), args.out / "report.html", max_rows=args.max_rows)
    seconds = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in (run / "documents").glob("*.parquet"))
    result = {"documents": args.docs, "documents_bytes": size, "report_seconds": round(seconds, 2),
              "report_bytes": page.stat().st_size, "max_rows": args.max_rows}  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
