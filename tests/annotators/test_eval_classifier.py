import json
import random

import pytest
from typer.testing import CliRunner

from annotators.evaluate import classification_metrics, evaluate_classifier, score_metrics
from annotators.student import StudentConfig, train_student
from corpusforge.cli import build_app
from corpusforge.errors import InputError

pytest.importorskip("fasttext")


def test_class_metrics_on_a_hand_checked_case():
    m = classification_metrics(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    assert m["accuracy"] == 0.75
    assert m["classes"] == ["a", "b"] and m["confusion"] == [[1, 1], [0, 2]]
    # a: P 1, R 1/2, F1 2/3; b: P 2/3, R 1, F1 4/5; macro (2/3 + 4/5) / 2
    assert m["per_class"]["a"]["f1"] == pytest.approx(2 / 3)
    assert m["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)


def test_a_class_never_predicted_scores_zero_f1():
    m = classification_metrics(["a", "b", "c"], ["a", "b", "b"])
    assert m["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)


def test_score_metrics_on_a_hand_checked_case():
    m = score_metrics([0, 1, 2, 3], [0, 2, 1, 3])
    assert m["mae"] == 0.5
    assert m["spearman"] == pytest.approx(1 - 6 * (0 + 1 + 1 + 0) / (4 * 15))  # 0.8
    assert score_metrics([1, 1], [0, 2])["spearman"] is None  # undefined for constant gold


@pytest.fixture(scope="module")
def model_and_data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("eval")
    rng = random.Random(0)
    words = {
        "pos": ["good", "great", "fine", "lovely", "nice", "happy"],
        "neg": ["bad", "awful", "poor", "ugly", "sad", "angry"],
    }
    rows = [{"text": " ".join(rng.choices(words[k], k=8)), "label": k} for k in words for _ in range(50)]
    data = tmp / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    train_student(data, "sentiment", tmp, StudentConfig(epoch=20, bucket=1000, cutoff=500, lr=0.1))
    test = tmp / "test.jsonl"
    cases = [("good nice happy", "pos"), ("awful sad", "neg"), ("lovely great", "pos"), ("ugly poor", "pos")]
    test.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in cases))
    return tmp / "sentiment.ftz", test


def test_evaluate_a_model_file(model_and_data):
    model, test = model_and_data
    result = evaluate_classifier(str(model), test)
    # the last case is labelled "pos" on purpose while its words are negative: 3 of 4 right
    assert result["examples"] == 4 and result["accuracy"] == 0.75
    assert result["classes"] == ["neg", "pos"] and result["confusion"] == [[1, 0], [1, 2]]  # gold pos → neg once
    assert "spearman" not in result


def test_eval_classifier_command(model_and_data, tmp_path):
    model, test = model_and_data
    out = tmp_path / "r.json"
    res = CliRunner().invoke(
        build_app(), ["eval", "classifier", "--model", str(model), "--data", str(test), "--json", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "accuracy" in res.output and "confusion" in res.output
    assert json.loads(out.read_text())["accuracy"] == 0.75


def test_unknown_model_name_is_an_input_error(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "x", "label": "y"}\n')
    with pytest.raises(InputError, match="shipped"):
        evaluate_classifier("no_such_head", data)


def test_rows_without_a_label_are_refused(model_and_data, tmp_path):
    model, _ = model_and_data
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "good"}\n')
    with pytest.raises(InputError, match="label"):
        evaluate_classifier(str(model), data)


def test_shipped_topic_head_by_name(tmp_path):
    from annotators.fasttext_head import MODELS_DIR

    if not (MODELS_DIR / "topic_agnews.ftz").is_file():
        pytest.skip("the shipped topic_agnews model is not built here")
    data = tmp_path / "news.jsonl"
    rows = [
        ("Stocks fell as investors worried about interest rates and company earnings.", "Business"),
        ("The team won the championship after a dramatic overtime goal.", "Sports"),
    ]
    data.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows))
    result = evaluate_classifier("topic_agnews", data)
    assert result["examples"] == 2 and result["accuracy"] == 1.0
