import json
import random
from pathlib import Path

import pytest

from annotators.recipe import AnnotatorRecipe, run_recipe
from annotators.student import StudentConfig, train_student
from corpusforge.errors import ConfigError, InputError

pytest.importorskip("fasttext")

REPO = Path(__file__).resolve().parents[2]
SPORT = "the striker scored a goal and the team won the match in the stadium league cup final"
FOOD = "bake the cake with flour sugar butter eggs in the oven recipe kitchen dinner soup"


def _sentences(vocabulary: str, n: int, rng: random.Random) -> list[str]:
    words = vocabulary.split(" ")
    return [" ".join(rng.choices(words, k=12)) for _ in range(n)]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def tiny(tmp_path) -> Path:
    rng = random.Random(0)
    rows = [{"text": t.upper(), "label": "sports"} for t in _sentences(SPORT, 60, rng)]
    rows += [{"text": t, "label": "food"} for t in _sentences(FOOD, 60, rng)]
    rows.append({"text": "a teacher answer that failed", "failures": {"label": "teacher_unparseable"}})
    return _write(tmp_path / "tiny.jsonl", rows)


def test_student_trains_quantizes_and_writes_its_card(tiny, tmp_path):
    import fasttext

    out = tmp_path / "models"
    card = train_student(
        tiny, "topic", out, StudentConfig(epoch=10, lr=0.1, bucket=10_000, cutoff=1000), source="unit test"
    )
    model_file = out / "topic.ftz"
    assert model_file.is_file() and card["size_bytes"] == model_file.stat().st_size
    saved = json.loads((out / "topic.card.json").read_text())
    assert saved["label_counts"].keys() == {"sports", "food"}
    assert sum(saved["label_counts"].values()) == saved["train_examples"]
    assert saved["train_examples"] + saved["validation"]["examples"] == 120  # the failed row is skipped
    assert saved["labels_from"] == "teacher" and saved["hyperparameters"]["dim"] == 64
    assert saved["validation"]["accuracy"] == 1.0  # disjoint vocabularies: a working loop separates them
    assert "| accuracy | 1.000 |" in (out / "topic.md").read_text()
    model = fasttext.load_model(str(model_file))
    labels, _ = model.predict("the goalkeeper saved the penalty in the cup final match")
    assert labels == ("__label__sports",)
    # train and predict both read normalize(): the upper-case training text taught these words
    from annotators.student import predict

    assert predict(model, ["STADIUM  League\nGOAL"], 3000)[0] == ["sports"]


def test_training_is_deterministic_within_one_process(tiny, tmp_path):
    # this fastText build reads uninitialised heap memory: without fasttext_guard the second run in a process
    # diverged ("Encountered NaN") or learned nothing, which made these tests flaky
    config = StudentConfig(epoch=10, lr=0.1, bucket=10_000, cutoff=1000)
    cards = [train_student(tiny, "topic", tmp_path / f"m{i}", config) for i in range(3)]
    files = {(tmp_path / f"m{i}" / "topic.ftz").read_bytes() for i in range(3)}
    assert len(files) == 1
    assert all(c["validation"] == cards[0]["validation"] and c["training"]["lr"] == 0.1 for c in cards)
    assert not cards[0]["training"]["retried_at_half_lr"]


def test_score_labels_get_spearman_and_mae(tmp_path):
    rng = random.Random(1)
    vocab = {k: [f"w{k}_{i}" for i in range(8)] for k in range(6)}
    rows = [{"text": " ".join(rng.choices(vocab[k], k=10)), "edu": k} for k in range(6) for _ in range(30)]
    data = _write(tmp_path / "edu.jsonl", rows)
    card = train_student(data, "edu", tmp_path / "m", StudentConfig(epoch=20, lr=0.1, bucket=10_000, cutoff=1000))
    v = card["validation"]
    assert card["kind"] == "score" and v["spearman"] > 0.9 and v["mae"] < 0.5


def test_validation_file_replaces_the_split(tiny, tmp_path):
    rng = random.Random(2)
    valid = _write(tmp_path / "valid.jsonl", [{"text": t, "label": "food"} for t in _sentences(FOOD, 7, rng)])
    card = train_student(
        tiny,
        "topic",
        tmp_path / "m",
        StudentConfig(epoch=5, lr=0.1, bucket=10_000, cutoff=1000),
        valid=valid,
        human=True,
    )
    assert card["train_examples"] == 120 and card["validation"]["examples"] == 7
    assert card["labels_from"] == "human"


def test_divergence_names_the_learning_rate(tiny, tmp_path):
    with pytest.raises(ConfigError, match=r"lr=1000000.0 and lr=500000.0"):
        train_student(tiny, "topic", tmp_path / "m", StudentConfig(lr=1e6, bucket=1000))


def test_one_class_is_refused(tmp_path):
    data = _write(tmp_path / "one.jsonl", [{"text": "some words", "label": "a"}] * 5)
    with pytest.raises(InputError, match="two classes"):
        train_student(data, "x", tmp_path / "m", StudentConfig(valid_fraction=0.0))


def test_invalid_student_config_names_the_field():
    with pytest.raises(ConfigError, match="'dim'"):
        StudentConfig.parse({"dim": 0})
    with pytest.raises(ConfigError, match="'loss'"):
        StudentConfig.parse({"loss": "hinge"})


def test_shipped_recipe_validates():
    recipe = AnnotatorRecipe.load(REPO / "recipes" / "annotators.yaml")
    trained = {s.train.label for s in recipe.steps if s.train}
    assert trained == {"toxicity", "topic_agnews", "domain", "format", "field", "edu", "adult"}
    teach = next(s.teach for s in recipe.steps if s.teach)
    assert teach.teacher.mode == "score" and teach.teacher.llm.model is None  # the default local SmolLM2


def test_recipe_with_a_bad_step_fails_before_work(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(
        "kind: annotators\nsteps:\n  - name: a\n    train: {data: [x.jsonl], label: y, student: {epoch: 0}}\n"
    )
    with pytest.raises(ConfigError, match="epoch"):
        AnnotatorRecipe.load(path)
    path.write_text("kind: annotators\nsteps:\n  - name: a\n")
    with pytest.raises(ConfigError, match="exactly one of"):
        AnnotatorRecipe.load(path)


def test_recipe_runs_convert_and_train(tmp_path):
    rng = random.Random(3)
    task = tmp_path / "hate"
    task.mkdir()
    texts = _sentences(SPORT, 40, rng) + _sentences(FOOD, 40, rng)
    (task / "train_text.txt").write_text("\n".join(texts) + "\n")
    (task / "train_labels.txt").write_text("\n".join(["1"] * 40 + ["0"] * 40) + "\n")
    recipe = AnnotatorRecipe.parse(
        {
            "shared": str(tmp_path),
            "work": str(tmp_path / "work"),
            "models": str(tmp_path / "models"),
            "steps": [
                {"name": "conv", "convert": {"kind": "tweeteval", "src": "{shared}/hate", "out": "{work}/h.jsonl"}},
                {
                    "name": "tox",
                    "train": {
                        "data": ["{work}/h.jsonl"],
                        "label": "toxicity",
                        "human": True,
                        "student": {"bucket": 1000, "cutoff": 0, "lr": 0.1},
                    },
                },
            ],
        }
    )
    results = run_recipe(recipe, log=lambda *_: None)
    assert results["conv"]["rows"] == 80
    assert (tmp_path / "models" / "toxicity.ftz").is_file()
    assert results["tox"]["label_counts"].keys() == {"toxic", "ok"}
    assert results["tox"]["validation"]["accuracy"] == 1.0  # disjoint vocabularies per class
    with pytest.raises(ConfigError, match="only"):
        run_recipe(recipe, only=["nope"])


@pytest.mark.shared_data
def test_shipped_models_have_cards(shared_data):
    models = REPO / "annotators" / "models"
    for name in ("toxicity", "topic_agnews"):
        card = json.loads((models / f"{name}.card.json").read_text())
        assert card["labels_from"] == "human" and card["validation"]["accuracy"] > 0.6
        assert (models / f"{name}.ftz").stat().st_size < 5_000_000
