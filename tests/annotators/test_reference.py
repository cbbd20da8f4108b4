"""The reference split is fixed by id hash; every head is scored beside its majority baseline; figures reach cards."""

import json

import pytest

from annotators.bars import Bar, head_status, record_evaluation
from annotators.reference import HELDOUT_FRACTION, is_heldout, load_reference, split_reference
from annotators.reference_eval import evaluate_predictors, field_metrics
from corpusforge.errors import InputError

TOPICS = ["politics", "sports_fitness", "food_dining"]


def _reference(path, n=60):
    rows = [
        {"page": f"site{i}.example", "lang": "en", "text": f"page {i} about {TOPICS[i % 3]}",
         "topic": TOPICS[i % 3], "format": "article" if i % 4 else "tutorial", "edu": i % 4, "toxic": i == 7}
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_split_is_a_function_of_the_id(tmp_path):
    rows = load_reference(_reference(tmp_path / "ref.jsonl", 400))
    train, held = split_reference(rows)
    assert len(train) + len(held) == 400 and 0.2 < len(held) / 400 < 0.4
    assert all(is_heldout(r["id"]) for r in held) and not any(is_heldout(r["id"]) for r in train)
    again = split_reference(list(reversed(rows)))[1]  # order does not matter, only the id
    assert sorted(r["id"] for r in again) == sorted(r["id"] for r in held)
    assert is_heldout("x", 1.0) and not is_heldout("x", 0.0) and HELDOUT_FRACTION == 0.3


def test_bad_reference_rows_name_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"page": "a", "text": "t", "topic": "nonsense", "format": "article", "edu": 1}) + "\n")
    with pytest.raises(InputError, match="bad.jsonl:1.*topic"):
        load_reference(path)


def test_every_head_beside_its_baseline(tmp_path):
    ref = _reference(tmp_path / "ref.jsonl")
    rows = {r["text"]: r for r in load_reference(ref)}
    perfect = {
        "domain": lambda texts: [rows[t]["topic"] for t in texts],
        "format": lambda texts: [rows[t]["format"] for t in texts],
        "edu": lambda texts: [float(rows[t]["edu"]) for t in texts],
        "toxicity": lambda texts: [float(rows[t]["toxic"]) for t in texts],
    }
    result = evaluate_predictors(ref, perfect, "all")
    heads = result["heads"]
    assert heads["domain"]["metrics"]["accuracy"] == 1.0 and heads["domain"]["baseline"]["accuracy"] < 0.5
    assert heads["format"]["baseline"]["majority"] == "article"
    assert heads["edu"]["metrics"]["spearman"] == pytest.approx(1.0) and heads["edu"]["metrics"]["mae"] == 0
    assert heads["edu"]["metrics"]["f1_at_3"] == 1.0 and heads["edu"]["baseline"]["spearman"] is None
    assert heads["toxicity"]["metrics"]["f1_toxic"] == 1.0 and heads["toxicity"]["baseline"]["f1_toxic"] == 0.0
    constant = evaluate_predictors(ref, {"domain": lambda texts: ["politics"] * len(texts)}, "all")
    assert constant["heads"]["domain"]["metrics"]["accuracy"] == pytest.approx(1 / 3)
    with pytest.raises(InputError, match="field"):
        evaluate_predictors(ref, {"field": perfect["domain"]})
    assert field_metrics("edu", [0, 3, 4], [0.2, 2.6, 1.0])["f1_at_3"] == pytest.approx(2 / 3)


def test_bars_read_the_card(tmp_path):
    model = tmp_path / "domain.ftz"
    assert not head_status("domain", model).passed  # no card: not measured, not passing
    record_evaluation(model, "reference_heldout", {"accuracy": 0.75, "baseline": {"accuracy": 0.17}})
    assert head_status("domain", model).passed
    record_evaluation(model, "reference_heldout", {"accuracy": 0.60, "baseline": {"accuracy": 0.17}})
    status = head_status("domain", model)
    assert not status.passed and "0.600 < 0.7" in status.reason()
    bars = {"domain": [Bar(evaluation="reference_heldout", metric="accuracy", min=0.5)]}
    assert head_status("domain", model, bars).passed
    record_evaluation(model, "reference_heldout", {"accuracy": 0.60, "baseline": {"accuracy": 0.65}})
    assert "does not beat the baseline" in head_status("domain", model, bars).reason()
    with pytest.raises(ValueError, match="min or max"):
        Bar(evaluation="x", metric="y")
