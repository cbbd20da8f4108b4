import pickle

import pytest

from annotators.fasttext_head import FastTextHead, normalize, resolve_model_path
from corpusforge.errors import InputError
from tests.annotators.tiny_heads import class_words, train_all, train_head


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return train_all(tmp_path_factory.mktemp("heads"))


def test_normalize_truncates_lowercases_and_collapses_whitespace():
    assert normalize("  Hello\n\tWORLD  again ", 100) == "hello world again"
    assert normalize("abcdef ghi", 4) == "abcd"
    assert normalize("x" * 10_000_000, 3000) == "x" * 3000


def test_label_head_writes_class_and_probability(models):
    head = FastTextHead("domain", models["domain"])
    words = class_words("domain")
    out = head.annotate([" ".join(words["food_dining"][:4]), " ".join(words["politics"][:4])])
    assert out["domain"] == ["food_dining", "politics"]
    assert all(0 < s <= 1 for s in out["domain_score"])
    assert head.version.startswith("domain-") and head.columns == ("domain", "domain_score")


def test_score_head_is_the_expected_class_value(models):
    head = FastTextHead("edu", models["edu"])
    words = class_words("edu")
    low, high = head.annotate([" ".join(words["0"][:4]), " ".join(words["5"][:4])])["edu_score"]
    assert 0 <= low < 1 and 4 < high <= 5
    # the expected value, not the argmax: recompute it from the full distribution
    labels, probs = head.predict([" ".join(words["2"][:2] + words["3"][:2])])
    expected = sum(int(lab) * p for lab, p in zip(labels[0], probs[0], strict=True)) / sum(probs[0])
    assert head.annotate([" ".join(words["2"][:2] + words["3"][:2])])["edu_score"][0] == pytest.approx(expected)


def test_binary_heads_report_the_positive_probability(models, tmp_path):
    ftz = train_head("toxicity", tmp_path / "toxicity.ftz", quantize=True)
    words = class_words("toxicity")
    for path in (models["toxicity"], str(ftz)):
        toxic, ok = FastTextHead("toxicity", path).annotate([" ".join(words["toxic"]), " ".join(words["ok"])])[
            "toxicity"
        ]
        assert toxic > 0.9 and ok < 0.1
    adult = FastTextHead("adult", models["adult"]).annotate([" ".join(class_words("adult")["adult"])])["adult"]
    assert adult[0] > 0.9


def test_batch_is_one_call_and_bad_text_does_not_crash(models):
    head = FastTextHead("toxicity", models["toxicity"])
    texts = ["", "\x00\x01\x02\xff binary", "x" * 10_000_000, "Привет мир 你好 مرحبا", "lone \ud800 surrogate"]
    out = head.annotate(texts)["toxicity"]
    assert len(out) == len(texts) and all(v is None or 0 <= v <= 1 for v in out)


def test_head_pickles_without_its_model_and_reloads(models):
    head = FastTextHead("adult", models["adult"])
    head.setup()
    clone = pickle.loads(pickle.dumps(head))
    assert clone._model is None
    assert clone.annotate(["hello"]) == head.annotate(["hello"])


def test_missing_default_model_names_the_path_and_how_to_make_it(tmp_path):
    with pytest.raises(InputError, match="annotate train"):
        resolve_model_path("domain", str(tmp_path / "nope.ftz"))


def test_a_model_with_the_wrong_labels_is_refused(models):
    head = FastTextHead("toxicity", models["adult"])  # labels adult/ok, not toxic/ok
    with pytest.raises(InputError, match="expects labels"):
        head.setup()
