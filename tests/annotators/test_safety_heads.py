import json
import random

import pytest

from annotators.bars import head_status
from annotators.fasttext_head import FastTextHead
from annotators.metrics import classification_metrics
from annotators.safety_heads import GridPoint, SafetyTrainConfig, best_threshold, page_figures, train_safety_head
from corpusforge.errors import ConfigError
from tests.annotators.tweets import write_tweets

HOSTILE = ["vermin", "scum", "filthy", "subhuman", "invaders", "disgusting"]
FRIENDLY = ["lovely", "match", "weekend", "coffee", "concert", "garden"]
FILLER = [f"word{i}" for i in range(200)]


def _tweets(folder, split: str, n: int, seed: int) -> None:
    write_tweets(folder, split, n, seed, HOSTILE, FRIENDLY, FILLER, 6)


def _reference(path, n: int = 40) -> None:
    rng = random.Random(1)
    rows = []
    for i in range(n):
        text = " ".join(rng.sample(FILLER, 30) + rng.sample(FRIENDLY, 3))
        rows.append({"page": f"p{i}.html", "lang": "en", "text": text, "topic": "politics", "format": "article",
                     "edu": 1, "toxic": i == 0})  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("safety")
    (root / "tweeteval" / "hate").mkdir(parents=True)
    _tweets(root / "tweeteval" / "hate", "train", 240, 0)
    _tweets(root / "tweeteval" / "hate", "val", 60, 1)
    _reference(root / "reference.jsonl")
    config = SafetyTrainConfig(grid=[GridPoint(word_ngrams=1, epoch=15, lr=0.3), GridPoint(word_ngrams=2)],
                               dim=8, bucket=1000, quantize=False, dev_fraction=0.25)  # fmt: skip
    card = train_safety_head("hate", root / "tweeteval", root / "models", root / "reference.jsonl", config)
    return root, card


def test_a_trained_head_writes_the_figures_it_earned_into_its_card(trained):
    root, card = trained
    on_disk = json.loads((root / "models" / "hate.card.json").read_text())
    assert on_disk["evaluations"] == card["evaluations"]
    val = card["evaluations"]["tweeteval_hate_val"]
    # recompute the validation figure from the saved model: the card holds what the model does
    head = FastTextHead("hate", str(root / "models" / "hate.ftz"))
    texts = (root / "tweeteval" / "hate" / "val_text.txt").read_text().splitlines()
    gold = ["hate" if x == "1" else "ok" for x in (root / "tweeteval" / "hate" / "val_labels.txt").read_text().split()]
    scores = head.annotate(texts)["hate"]
    predicted = ["hate" if s >= val["threshold"] else "ok" for s in scores]
    assert val["macro_f1"] == pytest.approx(classification_metrics(gold, predicted)["macro_f1"])
    assert val["macro_f1"] > 0.9 > val["baseline"]["macro_f1"]
    assert len(card["selection"]["tried"]) == 2 and card["selection"]["chosen_on"] == "train-internal dev split"
    page = card["evaluations"]["reference_heldout"]
    assert card["decision"]["page_threshold"] >= card["decision"]["tweet_threshold"]
    assert page["clean"] + page["positives"] == page["examples"] and 0 <= page["flagged_rate"] <= 1
    status = head_status("hate", root / "models" / "hate.ftz")
    assert [c["bar"].split(" ")[0] for c in status.checks] == ["tweeteval_hate_val.macro_f1", "reference_heldout.flagged_rate"]
    assert status.checks[0]["passed"]
    assert "## Evaluation: tweeteval_hate_val" in (root / "models" / "hate.md").read_text()


def test_threshold_and_page_figures():
    gold = ["hate", "ok", "ok", "hate"]
    f1, threshold = best_threshold(gold, [0.9, 0.2, 0.4, 0.6], "hate")
    assert f1 == 1.0 and 0.4 < threshold <= 0.6
    figures = page_figures([0.9, 0.1, 0.8], [True, False, False], 0.5)
    assert figures["flagged_clean"] == 1 and figures["flagged_rate"] == 0.5 and figures["positives_caught"] == 1


def test_unknown_task_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="task"):
        train_safety_head("spam", tmp_path, tmp_path)  # type: ignore[arg-type]


def test_a_page_threshold_is_chosen_on_train_pages_and_recorded(trained):
    from annotators.safety_heads import calibrate_page_threshold

    root, card = trained
    model = str(root / "models" / "hate.ftz")
    again = calibrate_page_threshold("hate", root / "reference.jsonl", model, quantile=0.5, command="test")
    assert again["decision"]["page_quantile"] == 0.5
    assert again["decision"]["page_threshold"] >= card["decision"]["tweet_threshold"]  # never below the tweet one
    assert again["evaluations"]["reference_heldout"]["command"] == "test"
    assert again["evaluations"]["tweeteval_hate_val"] == card["evaluations"]["tweeteval_hate_val"]
    with pytest.raises(ConfigError, match="binary"):
        calibrate_page_threshold("domain", root / "reference.jsonl")


def test_real_pages_are_negatives_unless_they_share_text_with_the_reference(trained, tmp_path):
    from annotators.safety_heads import page_negatives

    root, _ = trained
    reference_text = json.loads((root / "reference.jsonl").read_text().splitlines()[3])["text"]
    other = " ".join(f"page{i}" for i in range(400))
    pages = tmp_path / "pages.jsonl"
    pages.write_text(json.dumps({"text": reference_text}) + "\n" + json.dumps({"text": other}) + "\n")
    rows = page_negatives([str(pages)], SafetyTrainConfig(max_chars=500, page_windows=3), root / "reference.jsonl")
    assert {r["label"] for r in rows} == {"ok"}
    assert rows[0]["text"] == other[:500] and len(rows) == 4  # the reading and three windows; the reference page skipped
    assert all("page" in r["text"] for r in rows)


def test_transfer_texts_soft_rows_and_perturbations(tmp_path):
    from annotators.safety_heads import DistillConfig, perturb, soft_rows, transfer_texts

    extra = tmp_path / "extra.txt"
    extra.write_text("a b c d e\nthe validation tweet\n\na b c d e\n")
    tweets = [" ".join(f"w{i}" for i in range(20)), "x y"]
    config = DistillConfig(teacher="t.ctx.npz", transfer=[str(extra)], augment=2)
    texts, owner = transfer_texts(tweets, config, {"the validation tweet"}, 1)
    assert texts[:3] == [*tweets, "a b c d e"] and owner == [0, 1, -1, 0, 0, 1, 1, -1, -1]
    assert texts[5] == texts[6] == "x y"  # too short to perturb
    assert set(texts[3].split()) < set(tweets[0].split())  # word dropout
    span = texts[4].split()
    assert 10 <= len(span) <= 18 and " ".join(span) in tweets[0]  # a contiguous sub-span
    rows = soft_rows(["p", "q"], [0.74, 0.1], "offensive", 4)
    assert [r["label"] for r in rows] == ["offensive"] * 3 + ["ok"] + ["ok"] * 4
    assert perturb("a b", 0, random.Random(0), 0.2) == "a b"


def test_distillation_without_a_teacher_is_refused(tmp_path):
    from annotators.safety_heads import DistillConfig

    (tmp_path / "tweeteval" / "hate").mkdir(parents=True)
    _tweets(tmp_path / "tweeteval" / "hate", "train", 30, 0)
    _tweets(tmp_path / "tweeteval" / "hate", "val", 10, 1)
    config = SafetyTrainConfig(distill=DistillConfig(teacher="t.ctx.npz"))
    with pytest.raises(ConfigError, match="distill.teacher"):
        train_safety_head("hate", tmp_path / "tweeteval", tmp_path / "m", config=config)
