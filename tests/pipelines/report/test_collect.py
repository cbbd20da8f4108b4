"""Each report section's data, computed from the stats files of a real small run."""

import json

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.report import collect
from pipelines.report.outputs import DEDUP, MIXTURE, RECORDS, SHARDS, TRAINING, resolve


def test_outputs_are_found_with_their_kinds_and_a_web_jobs_dedup(run_dir):
    found = resolve([run_dir / "web", run_dir / "shards", run_dir / "train", run_dir / "mix"])
    assert [o.path.name for o in found] == ["web", "dedup", "shards", "train", "mix"]
    assert [sorted(o.kinds) for o in found] == [[RECORDS], sorted([DEDUP, RECORDS]), [SHARDS], [TRAINING], [MIXTURE]]
    assert [o.path for o in resolve([run_dir / "main.yaml"])] == [run_dir / "web", run_dir / "web/dedup", run_dir / "shards"]


def test_funnel_balances_per_stage_in_run_order_with_samples_of_the_top_reasons(run_dir):
    f = collect.funnel(run_dir / "web")
    ledger = json.loads((run_dir / "web" / "funnel.json").read_text())["ledger"]
    assert (f["inputs"], f["kept"]) == (ledger["inputs"], ledger["kept"])
    assert f["inputs"] == f["kept"] + sum(s["removed"] for s in f["stages"])
    for before, after in zip(f["stages"], f["stages"][1:], strict=False):
        assert after["inputs"] == before["inputs"] - before["removed"]  # each stage sees what the last one kept
    stages = [s["stage"] for s in f["stages"]]
    assert stages[0] == "read" and stages.index("read") < stages.index("gopher_quality")
    reasons = {r: n for s in f["stages"] for r, n in s["reasons"].items()}
    assert reasons == ledger["dropped"]
    assert reasons["not_html"] == 1 and reasons["gopher_short_doc"] == 3
    stubs = f["samples"]["gopher_short_doc"]
    assert len(stubs) == 3 and all(s["url"].startswith("https://example.org/stub/") for s in stubs)


def test_dedup_funnel_and_clusters_with_their_jaccard(run_dir):
    f = collect.funnel(run_dir / "web" / "dedup")
    assert [s["stage"] for s in f["stages"]] == ["dedup"]
    d = collect.dedup(run_dir / "web" / "dedup")
    assert d["removed"] == f["stages"][0]["reasons"]
    assert d["removed"]["duplicate_exact"] == 3 and d["removed"]["duplicate_fuzzy"] >= 1
    assert sum(int(k.split("-")[0]) > 1 for k in d["cluster_sizes"])  # some survivor stands for a cluster
    big = max(d["clusters"], key=lambda c: c["size"])
    assert big["size"] == 4 and len(big["members"]) == 4 and sum(m["kept"] for m in big["members"]) == 1
    assert {p["jaccard"] for p in big["pairwise_jaccard"]} == {1.0}  # exact copies
    near = [c for c in d["clusters"] if c["size"] == 3]
    assert near and all(0.5 <= p["jaccard"] < 1 for p in near[0]["pairwise_jaccard"])


def test_distributions_come_from_a_bounded_sample_of_the_needed_columns(run_dir):
    docs = run_dir / "web" / "dedup"
    full = collect.distributions(docs)
    kept = pq.read_table(docs / "documents", columns=["lang", "domain", "quality"])
    assert full["documents"] == full["sampled"] == kept.num_rows
    assert full["categorical"]["lang"] == {"en": kept.num_rows}
    assert sum(full["categorical"]["domain"].values()) == kept.num_rows
    assert set(full["scores"]) >= {"edu_score", "toxicity"}
    assert full["length_from"] == "quality.chars" and len(full["length_chars"]) == kept.num_rows
    assert set(full["quality"]) >= {"words", "stop_words"}
    small = collect.distributions(docs, max_rows=5)
    assert small["documents"] == kept.num_rows and small["sampled"] == 5


def test_sampling_spreads_over_row_groups(tmp_path):
    (tmp_path / "documents").mkdir()
    ids = pa.table({"id": [f"{i:04d}" for i in range(1000)]})
    pq.write_table(ids, tmp_path / "documents" / "part-00000.parquet", row_group_size=10)
    table, total = collect.sample_columns(tmp_path / "documents", ["id", "absent"], max_rows=50)
    assert total == 1000 and table.num_rows == 50 and table.column_names == ["id"]
    assert len({i[:2] for i in table["id"].to_pylist()}) == 5  # five groups spread over the file, not its head


def test_shards_per_cell_and_long_share_from_the_manifest(run_dir):
    s = collect.shards(run_dir / "shards")
    manifest = json.loads((run_dir / "shards" / "manifest.json").read_text())
    assert s["totals"] == manifest["totals"]
    assert sum(c["tokens"] for c in s["cells"]) == manifest["totals"]["tokens"] > 0
    assert [c["tokens"] for c in s["cells"]] == sorted((c["tokens"] for c in s["cells"]), reverse=True)
    assert len(s["doc_tokens"]) == manifest["totals"]["documents"]
    assert sum(s["doc_tokens"]) == manifest["totals"]["tokens"]
    assert s["long_share"] == 0.0


def test_training_series_per_stage_in_recipe_order_from_tensorboard(run_dir):
    t = collect.training(run_dir / "train")
    assert list(t["stages"]) == ["warmup", "anneal"]
    warm = t["stages"]["warmup"]
    assert [s for s, _ in warm["loss"]] == list(range(1, 13))
    assert abs(warm["loss"][0][1] - 11.0) < 1e-4 and abs(warm["lr"][-1][1] - 3e-3) < 1e-9
    assert set(warm) == {"loss", "lr", "tokens_per_s", "mfu"}
    assert len(collect.training(run_dir / "train", max_points=4)["stages"]["warmup"]["loss"]) == 4


def test_mixture_weights_and_predicted_vs_measured(run_dir):
    m = collect.mixture(run_dir / "mix")
    assert abs(sum(m["weights"]["s1.blend"].values()) - 1) < 1e-4
    assert {"name": "fit", "predicted": [2.1, 2.3, 2.0], "measured": [2.15, 2.25, 2.05]} in m["fits"]
    held = next(f for f in m["fits"] if "held-out" in f["name"])
    assert (held["predicted"], held["measured"]) == ([2.0, 2.4], [2.1, 2.5])
    s2 = m["weights"]["s2-reasoning"]
    assert next(iter(s2.values())) == 0.7 and abs(sum(s2.values()) - 1) < 1e-9
    assert set(m["natural"]["s2-reasoning"]) == set(s2)


def test_a_synth_steps_output_is_not_taken_for_the_corpus(tmp_path):
    """A pipeline with a synth step (the main job): its samples join the corpus, they are not it, so the report's
    label distributions come from the last non-synthetic output."""
    from pipelines.report.outputs import Output, is_synthetic

    (tmp_path / "synth" / "dedup").mkdir(parents=True)
    (tmp_path / "synth" / "config.yaml").write_text("kind: synth\nname: s\n")
    (tmp_path / "web" / "dedup").mkdir(parents=True)
    (tmp_path / "web" / "config.yaml").write_text("name: web\n")
    assert is_synthetic(Output(tmp_path / "synth")) and is_synthetic(Output(tmp_path / "synth" / "dedup"))
    assert not is_synthetic(Output(tmp_path / "web" / "dedup")) and not is_synthetic(Output(tmp_path / "elsewhere"))
