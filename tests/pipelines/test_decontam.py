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
