"""The shard job keys no cell on a head that fails its bar, falls back to coarser keys, and says so."""

import json

from annotators.bars import record_evaluation
from corpusforge.record import Record
from pipelines.engines import run_job
from pipelines.jobs.shard import ShardConfig, ShardJobConfig, shard_records
from pipelines.shards.cells import CellsConfig, gate_keys
from pipelines.shards.tokenizer import TokenizerConfig
from tests.pipelines.shards.test_tokenizer import tiny_tokenizer


def _cards(tmp_path, domain_accuracy, edu_spearman):
    models = {"domain": tmp_path / "domain.ftz", "edu": tmp_path / "edu.ftz"}
    record_evaluation(models["domain"], "reference_heldout", {"accuracy": domain_accuracy, "baseline": {"accuracy": 0.2}})
    record_evaluation(models["edu"], "reference_heldout", {"spearman": edu_spearman, "baseline": {"spearman": None}})
    return {h: str(p) for h, p in models.items()}


def _records():
    return [
        Record(id=f"d{i}", text="hello world", source="web", lang="en", domain=("politics", "games")[i % 2],
               edu_score=float(i % 4))
        for i in range(12)
    ]


def test_gate_drops_failing_heads_and_falls_back(tmp_path):
    models = _cards(tmp_path, 0.75, 0.40)
    keys, report = gate_keys(CellsConfig(keys=["lang", "domain", "edu", "source"], models=models))
    assert keys == ["lang", "domain", "source"] and list(report["dropped"]) == ["edu"]
    assert "0.400 < 0.7" in report["dropped"]["edu"] and "not keyed on edu" in report["note"]
    keys, report = gate_keys(CellsConfig(keys=["edu"], models=models))
    assert keys == ["lang", "source"] and "fallback" in report["note"]
    assert gate_keys(CellsConfig(keys=["edu"], models=models, gate=False))[0] == ["edu"]
    passing = _cards(tmp_path / "good", 0.9, 0.8)
    assert gate_keys(CellsConfig(models=passing))[0] == ["lang", "domain", "edu", "source"]


def test_shard_job_keys_cells_only_on_passing_heads(tmp_path):
    models = _cards(tmp_path, 0.55, 0.80)  # domain fails, edu passes
    tiny = tiny_tokenizer(tmp_path / "tiny")
    config = ShardConfig(
        tokenizer=TokenizerConfig(path=str(tiny), eod="<eod>"),
        cells=CellsConfig(keys=["lang", "domain", "edu", "source"], min_documents=0, models=models),
    )
    manifest = shard_records(_records(), str(tmp_path / "out"), config)
    assert manifest["cell_keys"] == ["lang", "edu", "source"]
    assert manifest["cell_gate"]["dropped"].keys() == {"domain"}
    assert all("domain=" not in cell for cell in manifest["cells"])
    assert any("edu=high" in cell for cell in manifest["cells"])
    # the job: same decision, in the manifest and the funnel
    import pyarrow.parquet as pq

    from corpusforge.record import to_table

    (tmp_path / "in").mkdir()
    pq.write_table(to_table(_records()), tmp_path / "in" / "part-00000.parquet")
    job = ShardJobConfig(inputs=[str(tmp_path / "in")], output=str(tmp_path / "job"), shard=config)
    run_job(job)
    funnel = json.loads((tmp_path / "job" / "funnel.json").read_text())
    assert any("not keyed on domain" in note for note in funnel["notes"])
    manifest = json.loads((tmp_path / "job" / "manifest.json").read_text())
    assert manifest["cell_keys"] == ["lang", "edu", "source"]
