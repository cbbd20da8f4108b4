"""`corpusforge annotate report` lists every head with its figures and verdict; training writes the figures."""

import json

from typer.testing import CliRunner

from annotators.cli import app
from annotators.student import StudentConfig, train_student


def test_training_writes_reference_figures_and_report_reads_them(tmp_path):
    words = {"politics": "election parliament minister vote", "food_dining": "recipe oven flour sugar"}
    rows, ref = [], []
    for i in range(80):
        topic = "politics" if i % 2 else "food_dining"
        text = f"{words[topic]} item{i} " * 3
        rows.append({"text": text, "label": topic})
        ref.append({"page": f"p{i}", "text": text, "topic": topic, "format": "article", "edu": 1, "toxic": False})
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "ref.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ref))
    models = tmp_path / "models"
    card = train_student(
        tmp_path / "train.jsonl", "domain", models, StudentConfig(epoch=10, lr=0.5, cutoff=0, dim=8),
        reference=tmp_path / "ref.jsonl",
    )
    entry = card["evaluations"]["reference_heldout"]
    assert entry["split"] == "heldout" and entry["accuracy"] == 1.0 and entry["baseline"]["accuracy"] < 0.7
    assert "reference_heldout" in (models / "domain.md").read_text()
    res = CliRunner().invoke(app, ["report", "--models", str(models), "--json", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    verdicts = {r["head"]: r["passed"] for r in json.loads((tmp_path / "r.json").read_text())}
    assert verdicts["domain"] is True and verdicts["edu"] is False  # edu: no card, so it fails
    assert "FAILS" in res.output and "PASSES" in res.output
    bars = tmp_path / "bars.yaml"
    bars.write_text("domain:\n  - {evaluation: reference_heldout, metric: accuracy, min: 1.01}\n")
    res = CliRunner().invoke(app, ["report", "--models", str(models), "--bars", str(bars)])
    assert res.exit_code == 0 and "1.000 < 1.01" in res.output
    bars.write_text("colour: []\n")
    res = CliRunner().invoke(app, ["report", "--models", str(models), "--bars", str(bars)])
    assert res.exit_code != 0 and "colour" in str(res.exception)
