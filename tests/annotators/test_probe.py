"""The probe teacher on the real local models (SmolLM2-135M-Instruct, Gemma 3 270M): features, cache, a probe that learns."""

import importlib.util

import numpy as np
import pytest

from annotators.probe import (
    DEFAULT_MODEL,
    MODELS,
    ProbeConfig,
    ProbeFeatures,
    ProbeTeacher,
    apply_probe,
    fit_probe,
    probe_layers,
    resolve_model,
    save_probe,
)
from corpusforge.errors import ConfigError


def needs(name: str):
    package = MODELS[name].package
    return pytest.mark.skipif(importlib.util.find_spec(package) is None, reason=f"needs the {package} package")

COOKING = [
    "Preheat the oven, whisk the eggs with sugar and fold in the flour before baking the cake.",
    "Simmer the onions in butter, add garlic and tomatoes, and season the sauce with basil.",
    "Knead the dough for ten minutes, let it rise, then bake the bread until golden.",
    "Marinate the chicken in lemon and herbs overnight and roast it with potatoes.",
]
FOOTBALL = [
    "The striker scored twice in the second half as the home team won the league match.",
    "The goalkeeper saved a penalty and the defenders held on for a draw away from home.",
    "After the referee's whistle the midfielder was sent off and the coach made a substitution.",
    "The club signed a new winger before the transfer deadline to push for the championship.",
]


@needs("smollm2-135m")
def test_probe_teacher_learns_from_few_labels(tmp_path):
    config = ProbeConfig(model="smollm2-135m", max_tokens=32, layers=[4, 30], cache=str(tmp_path / "f.sqlite"), folds=2)
    features = ProbeFeatures(config)
    X = features.features(COOKING + FOOTBALL)
    assert X.shape == (8, 2, 576) and X.dtype == np.float32 and features.computed == 8
    features.close()
    again = ProbeFeatures(config)  # a rerun reads every vector from the cache and never loads the model
    assert np.array_equal(again.features(COOKING + FOOTBALL), X) and again.cache_hits == 8
    assert again._model is None
    labels = ["food_dining"] * 4 + ["sports_fitness"] * 4
    probe = fit_probe(X, labels, "class", config.layers, folds=2)
    assert probe["cv"] >= 0.75 and probe["layers"] in ([4], [30], [4, 30])
    # the CV tried each layer and both layers side by side, with logistic (C grid) and shrinkage LDA
    tried = {(tuple(row["layers"]), row["estimator"]) for row in probe["cv_table"]}
    assert tried == {(view, est) for view in ((4,), (30,), (4, 30)) for est in ("logistic", "lda")}
    new = ["Stir the soup and add salt, pepper and fresh parsley.", "The team lost the cup final on penalties."]
    assert apply_probe(probe, again.features(new)) == ["food_dining", "sports_fitness"]
    score = fit_probe(X, [1.0] * 4 + [3.0] * 4, "score", config.layers, folds=2)
    cake, match = apply_probe(score, again.features(new))
    assert 0.0 <= cake < match <= 5.0
    again.close()
    saved = features.config.model_dump(exclude={"cache"})
    assert saved["model"] == "smollm2-135m"  # the name is kept, so a change of default never changes a saved probe
    save_probe(tmp_path / "probe.pkl", {"config": saved, "heads": {"domain": probe}})
    teacher = ProbeTeacher.load(tmp_path / "probe.pkl", cache=config.cache)
    assert teacher.label(new) == {"domain": ["food_dining", "sports_fitness"]}
    teacher.features.close()
    # minimal: only the probe's layer is pooled and the model runs no deeper, with the same states
    lean = ProbeTeacher.load(tmp_path / "probe.pkl", minimal=True)
    assert lean.features.config.layers == probe_layers(probe)
    assert lean.label(new) == {"domain": ["food_dining", "sports_fitness"]}
    row = lean.features.features(COOKING[:1])[0, 0]
    assert np.allclose(row, X[0, config.layers.index(probe_layers(probe)[0])], atol=1e-4)


@needs("smollm2-135m")
def test_lda_over_concatenated_layers_reads_the_layers_it_was_fitted_on(tmp_path):
    """A probe restricted to shrinkage LDA on both layers side by side labels through a teacher pooling more."""
    config = ProbeConfig(model="smollm2-135m", max_tokens=32, layers=[4, 12, 30], cache=str(tmp_path / "f.sqlite"))
    features = ProbeFeatures(config)
    X = features.features(COOKING + FOOTBALL)
    labels = ["food_dining"] * 4 + ["sports_fitness"] * 4
    probe = fit_probe(X, labels, "class", config.layers, search=[4, 30], estimators=["lda"],
                      folds=4)
    assert probe["estimator"] == "lda" and probe["cv"] >= 0.75
    assert {tuple(row["layers"]) for row in probe["cv_table"]} == {(4,), (30,), (4, 30)}  # 12 was not searched
    new = ["Stir the soup and add salt, pepper and fresh parsley.", "The team lost the cup final on penalties."]
    assert apply_probe(probe, features.features(new)) == ["food_dining", "sports_fitness"]
    # a feature matrix of only the probe's own layers (what `minimal` pools) gives the same answer
    own = X[:, [config.layers.index(layer) for layer in probe_layers(probe)], :]
    assert apply_probe(probe, own, probe_layers(probe)) == apply_probe(probe, X[:, :, :], config.layers)
    features.close()
    with pytest.raises(ConfigError, match="estimators"):
        ProbeConfig.parse({"estimators": ["forest"]})


@needs(DEFAULT_MODEL)
@pytest.mark.slow
def test_default_model_separates_topics_in_german_and_english(tmp_path):
    """The default (Gemma 3 270M, multilingual) with its own layers; a probe fitted on English reads German."""
    features = ProbeFeatures(ProbeConfig(max_tokens=32, cache=str(tmp_path / "f.sqlite")))
    assert features.config.model == DEFAULT_MODEL and features.config.layers == list(MODELS[DEFAULT_MODEL].layers)
    X = features.features(COOKING + FOOTBALL)
    assert X.shape == (8, len(MODELS[DEFAULT_MODEL].layers), 640)
    probe = fit_probe(X, ["food_dining"] * 4 + ["sports_fitness"] * 4, "class", features.config.layers, folds=2)
    german = ["Den Teig zehn Minuten kneten, gehen lassen und das Brot goldbraun backen.",
              "Der Stürmer traf zweimal, und die Mannschaft gewann das Ligaspiel."]
    assert apply_probe(probe, features.features(german)) == ["food_dining", "sports_fitness"]
    features.close()


def test_unknown_model_name_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="neither a model name"):
        resolve_model("gemma-9000")


@needs("smollm2-135m")
def test_a_prompted_read_adds_last_token_and_topic_views_and_the_cv_fuses_them(tmp_path):
    """``prompt``: the page inside a topic question; each layer's last-token states and the topics' first-token
    log-probabilities join the mean-pooled views, the CV tries their fusion, and a lean teacher re-reads them."""
    from annotators.probe import OPTIONS, LateFusion
    from annotators.taxonomy import TOPICS

    config = ProbeConfig(model="smollm2-135m", max_tokens=32, layers=[4, 30], prompt=True, cache=str(tmp_path / "p.db"))
    features = ProbeFeatures(config)
    assert features.views == [4, 30, "last:4", "last:30", OPTIONS]
    X = features.features(COOKING + FOOTBALL)
    assert X.shape == (8, 5, 576)
    options = X[:, 4, :]
    assert (options[:, : len(TOPICS)] < 0).all() and not options[:, len(TOPICS) :].any()  # log-probabilities, padded
    assert not np.allclose(X[:, 1], X[:, 3])  # the last token's states are not the mean's
    plain = ProbeFeatures(ProbeConfig(model="smollm2-135m", max_tokens=32, layers=[4, 30]))
    assert not np.allclose(plain.features(COOKING[:1])[0, 0], X[0, 0], atol=1e-3)  # the page is read after the prefix
    labels = ["food_dining"] * 4 + ["sports_fitness"] * 4
    probe = fit_probe(X, labels, "class", features.views, folds=2, estimators=["lda"])
    fused = [row for row in probe["cv_table"] if row["estimator"] == "fusion"]
    assert len(fused) == 1 and fused[0]["layers"][0] in (4, 30) and fused[0]["layers"][1] in ("last:4", "last:30")
    assert fused[0]["layers"][2] == OPTIONS
    fusion = fit_probe(X, labels, "class", features.views, folds=2, estimators=["lda"], search=[30])
    fusion["model"] = LateFusion(3).fit(X[:, [1, 3, 4], :].reshape(8, -1), np.array(labels, dtype=object))
    fusion["layers"] = [30, "last:30", OPTIONS]
    new = ["Stir the soup and add salt, pepper and fresh parsley.", "The team lost the cup final on penalties."]
    assert apply_probe(fusion, features.features(new), features.views) == ["food_dining", "sports_fitness"]
    features.close()
    save_probe(tmp_path / "probe.pkl", {"config": features.config.model_dump(exclude={"cache"}), "heads": {"domain": fusion}})
    lean = ProbeTeacher.load(tmp_path / "probe.pkl", minimal=True)
    assert lean.features.config.layers == [30] and lean.features.views == [30, "last:30", OPTIONS]
    assert lean.label(new) == {"domain": ["food_dining", "sports_fitness"]}
