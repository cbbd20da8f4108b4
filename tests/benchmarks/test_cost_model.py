"""The data-side cost model's arithmetic, against figures worked out by hand."""

import pytest

from benchmarks.cost_model import model


def test_work_flows_back_from_tokens_through_the_keep_ratios():
    keep = {"page_keep": 0.5, "dedup_keep": 0.8}
    shard = {"tokens_per_doc": 1000, "bytes_per_token": 4.0}
    rates = {s: {"docs_per_cpu_s": r, "worker_rss_mb": 100} for s, r in
             {"extract": 100, "label": 1000, "dedup": 2000, "shard": 500}.items()}  # fmt: skip
    out = model(3.6e9, keep, shard, rates, warc_bytes_per_page=20_000, parquet_per_doc=3000)
    # 3.6e9 tokens / 1000 = 3.6e6 final docs; / 0.8 = 4.5e6 filtered; / 0.5 = 9e6 pages
    assert out["final_docs"] == pytest.approx(3.6e6)
    assert out["pages"] == pytest.approx(9e6)
    assert out["core_hours"]["extract"] == pytest.approx(9e6 / 100 / 3600)  # 25 core-hours
    assert out["core_hours"]["shard"] == pytest.approx(3.6e6 / 500 / 3600)
    assert max(out["share"], key=out["share"].get) == "extract"
    assert out["storage_bytes"]["shards"] == pytest.approx(3.6e9 * 4)
