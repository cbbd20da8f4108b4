"""The decontamination stage that web, pdf and shard jobs can add: a hit is dropped naming the benchmark."""

from __future__ import annotations

import json

import pytest

from corpusforge.errors import ConfigError
from corpusforge.ledger import DROPPED, KEPT
from corpusforge.record import Record
from pipelines.decontam import DecontamConfig, DecontamStage
from pipelines.stage import Outcome, apply_stages


def test_stage_drops_planted_samples_with_the_benchmark_name(shared_data, tmp_path):
    mine = tmp_path / "quiz.jsonl"
    mine.write_text(json.dumps({"q": "name the longest river that flows through the city of vienna in austria"}) + "\n")
    stage = DecontamStage(DecontamConfig(shared_dir=str(shared_data), sets={"quiz": str(mine)}))
    stage.setup()
    with (shared_data / "math_code/humaneval/humaneval-python.jsonl").open() as f:
        item = json.loads(f.readline())
    records = [
        Record(id="clean", text="A short history of bridges over the Danube, with photographs and maps.", source="web"),
        Record(id="code", text="Solution:\n" + item["prompt"] + item["canonical_solution"], source="web"),
        Record(id="quiz", text="Q: Name the longest river that flows through the city of Vienna in Austria?", source="pdf"),
    ]
    out = {o.record.id: o for o in apply_stages((Outcome(r) for r in records), [stage])}
    assert out["clean"].status == KEPT
    assert (out["code"].status, out["code"].reason, out["code"].stage) == (DROPPED, "contaminated_humaneval", "decontam")
    assert out["quiz"].reason == "contaminated_quiz"


def test_saved_index_and_config_checks(tmp_path):
    with pytest.raises(ConfigError, match="decontam.sets.x"):
        DecontamConfig(defaults=False, sets={"x": str(tmp_path / "missing.jsonl")}).check()
    with pytest.raises(ConfigError, match="no evaluation set"):
        DecontamStage(DecontamConfig(defaults=False))
    path = tmp_path / "set.txt"
    path.write_text("one two three four five six seven eight nine ten eleven twelve thirteen fourteen\n")
    registry = DecontamConfig(defaults=False, sets={"s": str(path)}).build()
    registry.save(tmp_path / "index.npz")
    stage = DecontamStage(DecontamConfig(index=str(tmp_path / "index.npz")))
    assert stage.filter(Record(id="a", text="x one two three four five six seven eight nine ten eleven twelve thirteen", source="web")) == (False, "contaminated_s")


def _quiz_set(tmp_path):
    path = tmp_path / "quiz.jsonl"
    path.write_text(json.dumps({"q": "name the longest river that flows through the city of vienna in austria"}) + "\n")
    return DecontamConfig(defaults=False, sets={"quiz": str(path)})


def test_shard_job_drops_contaminated_documents_before_tokenizing(tmp_path):
    from pipelines.jobs.shard import ShardConfig, shard_records
    from pipelines.shards.cells import CellsConfig

    records = [
        Record(id="clean", text="A short history of bridges over the Danube, with photographs and maps.", source="web"),
        Record(id="quiz", text="Q: Name the longest river that flows through the city of Vienna in Austria?", source="web"),
    ]
    config = ShardConfig(cells=CellsConfig(keys=["source"], min_documents=0), decontam=_quiz_set(tmp_path))
    m = shard_records(records, str(tmp_path / "out"), config)
    assert m["ledger"]["dropped"] == {"contaminated_quiz": 1}
    assert m["ledger"]["kept"] == 1 and m["totals"]["documents"] == 1


def test_web_and_pdf_jobs_take_the_stage_and_check_sets_before_work(tmp_path):
    from pipelines.jobs.pdf import PdfJobConfig
    from pipelines.jobs.shard import ShardJobConfig
    from pipelines.jobs.web import WebJobConfig

    decontam = _quiz_set(tmp_path)
    web = WebJobConfig(inputs=[str(tmp_path)], output=str(tmp_path / "o"), decontam=decontam)
    assert "decontam" in [s.name for s in web.build_stages()]
    pdf = PdfJobConfig(inputs=[str(tmp_path)], output=str(tmp_path / "p"), decontam=decontam)
    assert pdf.build_stages()[-1].name == "decontam"
    missing = DecontamConfig(defaults=False, sets={"gone": str(tmp_path / "gone.jsonl")})
    for job in (
        WebJobConfig(inputs=[str(tmp_path)], output=str(tmp_path / "o2"), decontam=missing),
        PdfJobConfig(inputs=[str(tmp_path)], output=str(tmp_path / "p2"), decontam=missing),
        ShardJobConfig(inputs=[str(tmp_path)], output=str(tmp_path / "s2"), shard={"decontam": missing.model_dump()}),
    ):
        with pytest.raises(ConfigError, match="decontam.sets.gone"):
            job.input_files()
        assert not (tmp_path / "o2").exists() and not (tmp_path / "p2").exists() and not (tmp_path / "s2").exists()
