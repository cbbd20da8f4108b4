"""Job outputs as the tools people use read them, as they are: DuckDB and Polars over documents/, audit/ and
the shard sidecar; ``meta`` and ``quality`` as maps (Parquet MAP: DuckDB's MAP, Polars' Map)."""

import duckdb
import polars as pl
import pyarrow.parquet as pq


def test_duckdb_reads_documents_with_meta_as_a_map(run_dir):
    docs = run_dir / "web" / "dedup" / "documents"
    con = duckdb.connect()
    rows = con.execute(
        f"""SELECT id, lang, edu_score, meta['dedup_cluster_size'] AS size, quality['words'] AS words,
                   typeof(meta) AS meta_type
            FROM read_parquet('{docs}/*.parquet') ORDER BY id"""
    ).fetchall()
    expected = pq.read_table(docs, columns=["id", "meta"]).to_pylist()
    assert len(rows) == len(expected) > 0
    assert rows[0][5] == "MAP(VARCHAR, VARCHAR)"
    sizes = {r["id"]: dict(r["meta"])["dedup_cluster_size"] for r in expected}
    assert {r[0]: r[3] for r in rows} == sizes
    assert all(r[1] == "en" and r[4] > 0 for r in rows)
    # the funnel in SQL: audit rows by stage and reason
    audit = con.execute(
        f"SELECT reason, count(*) FROM read_parquet('{run_dir}/web/audit/*.parquet') GROUP BY reason"
    ).fetchall()
    assert dict(audit)["gopher_short_doc"] == 3


def test_polars_reads_documents_and_the_shard_sidecar(run_dir):
    docs = pl.read_parquet(run_dir / "web" / "dedup" / "documents" / "*.parquet")
    assert docs.schema["text"] == pl.String and docs.schema["edu_score"] == pl.Float64
    assert docs.schema["meta"] == pl.Map(pl.String, pl.String)
    assert docs.schema["quality"] == pl.Map(pl.String, pl.Float64)
    sizes = docs.select(pl.col("id"), pl.col("meta").map.get("dedup_cluster_size").cast(pl.Int64).alias("size"))
    assert docs.select(pl.col("quality").map.get("words").min()).item() > 0
    assert sizes["size"].sum() == pq.read_metadata(run_dir / "web" / "documents" / "part-00000.parquet").num_rows
    side = pl.scan_parquet(run_dir / "shards" / "index" / "*.parquet").select(pl.col("tokens").sum()).collect()
    import json

    assert side.item() == json.loads((run_dir / "shards" / "manifest.json").read_text())["totals"]["tokens"]
