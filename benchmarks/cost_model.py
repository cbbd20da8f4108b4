"""Data-side cost model: core-hours, memory per worker and storage to produce N tokens of shards from web input.

Inputs, all measured (see docs/cost-model-data.md for the runs that wrote them):

- per-core throughput of each stage: the marginal docs per CPU second at the largest scale of
  ``python -m benchmarks.scaling --json out/bench-scaling/results.json`` (start-up cancelled), and the largest
  worker peak RSS of each stage over its scales;
- keep ratios: ``funnel.json`` of a web job (records in, HTML responses, kept after extraction, language ID and
  filters, kept after dedup) and the shard job's ``manifest.json`` (tokens per document, shard bytes per token);
- input bytes per page: the benchmark WARC (real pages, gzip per record) and the record Parquet bytes per document.

    python -m benchmarks.cost_model --scaling out/bench-scaling/results.json --web out/cost-web \\
        --shards out/cost-shard --warc out/bench-all/extract/warc-300/pages.warc.gz [--tokens 36e12]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NON_PAGE = ("warc_request", "warc_metadata", "warc_warcinfo")  # WARC records that are not a fetched page


def keep_ratios(web: Path) -> dict:
    funnel = json.loads((web / "funnel.json").read_text())
    ledger = funnel["ledger"]
    dropped = ledger["dropped"]
    pages = ledger["inputs"] - sum(dropped.get(k, 0) for k in NON_PAGE)
    kept = ledger["kept"]
    dedup = funnel["dedup"]["ledger"]
    return {
        "records": ledger["inputs"],
        "pages": pages,  # response records
        "filtered_kept": kept,
        "dedup_kept": dedup["kept"],
        "page_keep": kept / pages,  # of pages, kept through extraction, language ID, quality filters
        "dedup_keep": dedup["kept"] / dedup["inputs"],
    }


def shard_ratios(shards: Path) -> dict:
    totals = json.loads((shards / "manifest.json").read_text())["totals"]
    idx = sum(p.stat().st_size for p in shards.rglob("*.idx"))
    return {
        "documents": totals["documents"],
        "tokens": totals["tokens"],
        "tokens_per_doc": totals["tokens"] / totals["documents"],
        "bytes_per_token": (totals["bytes"] + idx) / totals["tokens"],
    }


def parquet_bytes_per_doc(folder: Path) -> float:
    import pyarrow.parquet as pq

    files = sorted(folder.rglob("*.parquet"))
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    return sum(f.stat().st_size for f in files) / rows


def throughputs(scaling: Path) -> dict:
    data = json.loads(scaling.read_text())
    out = {}
    for stage, points in data.items():
        last = points[-1]
        rate = last.get("marginal_units_per_cpu_s") or last["units_per_cpu_s"]["median"]
        out[stage] = {
            "docs_per_cpu_s": rate,
            "whole_run_docs_per_cpu_s": last["units_per_cpu_s"]["median"],
            "worker_rss_mb": max(p["worker_rss_mb"]["max"] for p in points),
            "unit_size": last["size"],
        }
    return out


def model(tokens: float, keep: dict, shard: dict, rates: dict, warc_bytes_per_page: float,
          parquet_per_doc: float) -> dict:  # fmt: skip
    final_docs = tokens / shard["tokens_per_doc"]
    filtered_docs = final_docs / keep["dedup_keep"]
    pages = filtered_docs / keep["page_keep"]
    # documents each stage reads: extraction every page; label and dedup the filtered documents; shard the survivors
    work = {"extract": pages, "label": filtered_docs, "dedup": filtered_docs, "shard": final_docs}
    hours = {s: work[s] / rates[s]["docs_per_cpu_s"] / 3600 for s in work}
    if rates["shard"].get("tokens_per_cpu_s"):  # tokenizing costs by the token, not by the document
        hours["shard"] = tokens / rates["shard"]["tokens_per_cpu_s"] / 3600
    total = sum(hours.values())
    return {
        "tokens": tokens,
        "pages": pages,
        "filtered_docs": filtered_docs,
        "final_docs": final_docs,
        "core_hours": hours,
        "core_hours_total": total,
        "share": {s: h / total for s, h in hours.items()},
        "storage_bytes": {
            "input_warc": pages * warc_bytes_per_page,
            "documents_parquet": filtered_docs * parquet_per_doc * 2,  # filtered documents, then the deduplicated copy
            "shards": tokens * shard["bytes_per_token"],
        },
        "worker_rss_mb": {s: rates[s]["worker_rss_mb"] for s in work},
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scaling", type=Path, required=True)
    ap.add_argument("--web", type=Path, required=True, help="A web job's output (funnel.json, documents/).")
    ap.add_argument("--shards", type=Path, required=True, help="A shard job's output (manifest.json, .bin/.idx).")
    ap.add_argument("--warc", type=Path, required=True, help="A WARC of real pages and its .json stamp (records).")
    ap.add_argument("--shard-run", type=Path, default=None,
                    help="The scaling run's shard output (manifest.json): its tokens per document turn the shard "
                         "stage's docs per CPU second into tokens per CPU second.")  # fmt: skip
    ap.add_argument("--tokens", type=float, default=36e12)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    keep = keep_ratios(args.web)
    shard = shard_ratios(args.shards)
    rates = throughputs(args.scaling)
    if args.shard_run:
        run = shard_ratios(args.shard_run)
        rates["shard"]["tokens_per_doc"] = run["tokens_per_doc"]
        rates["shard"]["tokens_per_cpu_s"] = rates["shard"]["docs_per_cpu_s"] * run["tokens_per_doc"]
    stamp = json.loads(args.warc.with_name(args.warc.name.removesuffix(".gz").removesuffix(".warc") + ".warc.json")
                       .read_text())  # fmt: skip
    warc_per_page = args.warc.stat().st_size / stamp["records"]
    parquet = parquet_bytes_per_doc(args.web / "documents")
    result = model(args.tokens, keep, shard, rates, warc_per_page, parquet)
    result.update(inputs={"keep": keep, "shard": shard, "rates": rates, "warc_bytes_per_page": warc_per_page,
                          "parquet_bytes_per_doc": parquet})  # fmt: skip
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
